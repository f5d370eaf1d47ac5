//! Offline cracking of the challenge/response material `trawl sensor` keeps in
//! `password_hash`, against a wordlist.
//!
//! hashcat and John read most of the sensor's formats (mysqlna, PostgreSQL md5, VNC,
//! CRAM-MD5, APOP, NetNTLMv2; the modes are in the README). No stock cracker reads a
//! *captured* SCRAM exchange (PostgreSQL/MongoDB) or a caching_sha2 scramble: their modes
//! take the server's stored verifier, which never crosses the network. This crate checks
//! every format, those two included, so nothing the sensor keeps is uncrackable.
//!
//! * [`formats`] parses hash lines into [`Target`]s that check a guess.
//! * [`input`] reads hash lines from the sensor's stores (trawl.db, log_auth.csv,
//!   events.jsonl) or plain lists, and words from a wordlist.
//! * [`crack`] tries every word against every target, on all cores (rayon).
//!
//! The algorithms are composed from RustCrypto's hash, HMAC, PBKDF2 and DES crates; only
//! the glue (which bytes go where, per format) is written here.

pub mod formats;
pub mod input;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;

pub use formats::Target;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum CrackError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A trawl.db could not be queried.
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// The error.
        source: rusqlite::Error,
    },
    /// A file is not what it claims to be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong (with the line number).
        reason: String,
    },
}

/// What cracking found: `found[i]` is the password of `targets[i]`, if any.
#[derive(Debug, Default)]
pub struct Cracked {
    /// Per target, the word that verified.
    pub found: Vec<Option<Vec<u8>>>,
    /// Words tried.
    pub words: u64,
}

/// Tries each batch of words from `batches` against every target not yet cracked, in
/// parallel; stops early once all are cracked. `progress` gets each finished batch's size.
pub fn crack(
    targets: &[Target],
    batches: impl Iterator<Item = Vec<Vec<u8>>>,
    progress: &(dyn Fn(usize) + Sync),
) -> Cracked {
    let solved: Vec<AtomicBool> = targets.iter().map(|_| AtomicBool::new(false)).collect();
    let found: Vec<Mutex<Option<Vec<u8>>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    let left = AtomicUsize::new(targets.len());
    let mut words = 0u64;
    for batch in batches {
        if left.load(Ordering::Relaxed) == 0 {
            break;
        }
        batch.par_iter().for_each(|word| {
            for (index, target) in targets.iter().enumerate() {
                if solved[index].load(Ordering::Relaxed) || !target.verifies(word) {
                    continue;
                }
                if !solved[index].swap(true, Ordering::AcqRel) {
                    if let Ok(mut slot) = found[index].lock() {
                        *slot = Some(word.clone());
                    }
                    left.fetch_sub(1, Ordering::Relaxed);
                }
            }
        });
        words += batch.len() as u64;
        progress(batch.len());
    }
    Cracked {
        found: found
            .into_iter()
            .map(|slot| slot.into_inner().unwrap_or_default())
            .collect(),
        words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_gets_its_word_and_the_rest_stay_open() {
        let salt = b"abcdefghijklmnopqrst";
        let line = |password: &[u8]| {
            format!(
                "$mysqlna${}*{}",
                formats::hex(salt),
                formats::hex(&formats::mysql_native(password, salt))
            )
        };
        let targets: Vec<Target> = ["alpha", "gamma", "not in the list"]
            .iter()
            .filter_map(|password| Target::parse(&line(password.as_bytes())))
            .collect();
        let words: Vec<Vec<u8>> = ["beta", "gamma", "alpha", "delta"]
            .iter()
            .map(|word| word.as_bytes().to_vec())
            .collect();
        let batches = words.chunks(2).map(<[Vec<u8>]>::to_vec);
        let seen = AtomicUsize::new(0);
        let cracked = crack(&targets, batches, &|n| {
            seen.fetch_add(n, Ordering::Relaxed);
        });
        assert_eq!(cracked.found[0].as_deref(), Some(&b"alpha"[..]));
        assert_eq!(cracked.found[1].as_deref(), Some(&b"gamma"[..]));
        assert_eq!(cracked.found[2], None);
        assert_eq!((cracked.words, seen.into_inner()), (4, 4));
    }
}
