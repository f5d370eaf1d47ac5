//! SSH public keys as indicators: keys a client offered at a login (trawl's
//! `publickey` attempts, Cowrie's `cowrie.client.fingerprint`) and keys a command
//! wrote into `authorized_keys` (the persistence step of SSH worms such as the
//! Outlaw botnet's `mdrfckr` key), named by the fingerprint `ssh-keygen -l` prints:
//! the algorithm and `SHA256:` with the unpadded base64 of the SHA-256 of the key
//! blob, so a key offered to one honeypot and planted on another is one row.
//!
//! The one-line OpenSSH key format (`algorithm base64 [comment]`) is split by hand:
//! only the blob's bytes are hashed (`base64` and `sha2` do the work), and a key
//! crate would reject the malformed keys attackers send, which are still worth
//! naming. Every value is attacker text: keys are looked for only in lines that
//! name `authorized_keys`, at most [`MAX_KEYS_PER_LINE`] per line, blobs of at most
//! [`MAX_BLOB_TEXT`] characters, comments of at most [`MAX_COMMENT`] bytes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};

/// Key algorithms recognised in command lines (the names OpenSSH writes first).
const ALGORITHMS: [&str; 8] = [
    "ssh-rsa",
    "ssh-ed25519",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Keys read from one command line at most.
pub const MAX_KEYS_PER_LINE: usize = 4;
/// Base64 characters of a key blob at most (a 16384-bit RSA key is about 2,800).
pub const MAX_BLOB_TEXT: usize = 4_096;
/// Bytes of a key comment kept.
pub const MAX_COMMENT: usize = 64;
/// Bytes of an algorithm name at most.
const MAX_ALGORITHM: usize = 64;

/// A key found in a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedKey {
    /// `algorithm SHA256:...`.
    pub print: String,
    /// The comment after the key, if any (often the botnet's tag).
    pub comment: Option<String>,
}

/// Whether `name` could be a key algorithm (letters, digits, `-@._`, at most 64 bytes).
pub fn is_algorithm_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ALGORITHM
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'@' | b'.' | b'_'))
}

/// The fingerprint of a key given as its algorithm and base64 blob; `None` when
/// the blob is not base64 or does not name `algorithm` (the first field of every
/// SSH key blob is its algorithm).
pub fn print_of_blob(algorithm: &str, blob: &str) -> Option<String> {
    let blob = blob.trim();
    if !is_algorithm_name(algorithm) || blob.is_empty() || blob.len() > MAX_BLOB_TEXT {
        return None;
    }
    let bytes = STANDARD
        .decode(blob)
        .or_else(|_| STANDARD_NO_PAD.decode(blob))
        .ok()?;
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let name = std::str::from_utf8(rest.get(..u32::from_be_bytes(*len) as usize)?).ok()?;
    // RSA keys signed with SHA-2 are offered as `rsa-sha2-256/512`; their blob says `ssh-rsa`.
    let rsa = algorithm.starts_with("rsa-sha2-") && name == "ssh-rsa";
    if name != algorithm && !rsa {
        return None;
    }
    let digest = Sha256::digest(&bytes);
    Some(format!("{name} SHA256:{}", STANDARD_NO_PAD.encode(digest)))
}

/// The fingerprint of a key in OpenSSH's one-line form (`algorithm base64
/// [comment]`), or of a bare base64 blob of type `algorithm`.
pub fn print_of_key(key: &str, algorithm: Option<&str>) -> Option<String> {
    let mut words = key.split_whitespace();
    let first = words.next()?;
    match words.next() {
        Some(blob) => print_of_blob(first, blob),
        None => print_of_blob(algorithm?, first),
    }
}

/// A fingerprint as logged (`algorithm SHA256:...`, as trawl's sensor records a
/// key it was offered), checked for shape; `None` for anything else.
pub fn logged_print(text: &str) -> Option<String> {
    let (algorithm, print) = text.trim().split_once(' ')?;
    let digest = print.strip_prefix("SHA256:")?;
    let base64ish = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    // An RSA key offered for SHA-2 signatures is still an `ssh-rsa` key.
    let algorithm = if algorithm.starts_with("rsa-sha2-") {
        "ssh-rsa"
    } else {
        algorithm
    };
    (is_algorithm_name(algorithm) && digest.len() == 43 && digest.bytes().all(base64ish))
        .then(|| format!("{algorithm} SHA256:{digest}"))
}

/// Keys written by a command line: public keys in a line that names
/// `authorized_keys` (`echo "ssh-rsa AAAA... tag" >> ~/.ssh/authorized_keys`).
pub fn planted_keys(line: &str) -> Vec<PlantedKey> {
    let mut keys = Vec::new();
    if !line.contains("authorized_keys") {
        return keys;
    }
    let stop = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '>' | ';' | '|' | '&' | '<');
    // A key is an algorithm name, a space and a blob starting `AAAA`. Bounded in tries
    // as well as in keys: a line of many broken keys costs at most this many.
    for (at, _) in line.match_indices(" AAAA").take(MAX_KEYS_PER_LINE * 4) {
        if keys.len() == MAX_KEYS_PER_LINE {
            break;
        }
        let before = line.get(..at).unwrap_or_default();
        let Some(&algorithm) = ALGORITHMS.iter().find(|a| before.ends_with(**a)) else {
            continue;
        };
        let after = line.get(at + 1..).unwrap_or_default();
        let blob_end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            .unwrap_or(after.len());
        let blob = after.get(..blob_end).unwrap_or_default();
        if let Some(print) = print_of_blob(algorithm, blob) {
            let comment = after
                .get(blob_end..)
                .and_then(|tail| tail.strip_prefix(' '))
                .map(|t| t.split(stop).next().unwrap_or_default())
                .filter(|c| !c.is_empty())
                .map(|c| crate::ioc::clip_text(c, MAX_COMMENT).to_string());
            keys.push(PlantedKey { print, comment });
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated for this test with `ssh-keygen -t ed25519 -C mdrfckr`; `ssh-keygen
    /// -lf` prints `256 SHA256:zPutkjZe6sumQbLB17vvE1TmSs51i2VrWLaEXolsn/o mdrfckr (ED25519)`.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMYWY+5U84z7ZQcPapGLgVQgBzzd78UZBv724BjK6uHf mdrfckr";
    const ED25519_PRINT: &str = "ssh-ed25519 SHA256:zPutkjZe6sumQbLB17vvE1TmSs51i2VrWLaEXolsn/o";

    /// `ssh-keygen -t rsa -b 2048 -C rsatag`; `ssh-keygen -lf` prints `2048
    /// SHA256:TuBG6Kqq7elkzB53D1KAcb7g0E1CdLQakVzhVnc4Ofk rsatag (RSA)`.
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCqkxyTJL1rE6sL+8WkSePJUZjP1WJhxjkBsBxdYwKOMR7qKIUzKBAsCjW9WZZ6Z3SnbBmY5vmi79vLhJ70X4xNTevTpvY+Lv1C6OI3xNa5iroVgJ8DbsAw8awUWjKX2HVFVcps1TLHXmqYbIiJMXCZPtBpMCFfFjU988FvIMCFKL54WekJqXWhHNlp5Tf77qC/54Mvl8UlNWoowvBl5i06mAWus4s+5mcS2BZC3+1Ci/DXfbP1jlAJLmdTwHn1mY2kxrdIhrAMU/fizusLdXCmXCJHz8ETTHjJJJL1d8NhCqnkrzo/56TlJkA5/yKxkjepYHFGfP+NXcInmC+nlMCT rsatag";

    #[test]
    fn an_rsa_key_offered_for_sha2_signatures_is_named_ssh_rsa() {
        let blob = RSA.split(' ').nth(1).unwrap();
        let print = "ssh-rsa SHA256:TuBG6Kqq7elkzB53D1KAcb7g0E1CdLQakVzhVnc4Ofk";
        assert_eq!(print_of_key(RSA, None).as_deref(), Some(print));
        assert_eq!(print_of_blob("rsa-sha2-512", blob).as_deref(), Some(print));
        assert_eq!(print_of_blob("ssh-ed25519", blob), None);
        let logged = print.replace("ssh-rsa", "rsa-sha2-512");
        assert_eq!(logged_print(&logged).as_deref(), Some(print));
    }

    #[test]
    fn prints_as_ssh_keygen_does() {
        assert_eq!(print_of_key(ED25519, None).as_deref(), Some(ED25519_PRINT));
        let blob = ED25519.split(' ').nth(1).unwrap();
        assert_eq!(
            print_of_key(blob, Some("ssh-ed25519")).as_deref(),
            Some(ED25519_PRINT)
        );
        assert_eq!(
            print_of_key(blob, Some("ssh-rsa")),
            None,
            "the blob names its algorithm"
        );
        assert_eq!(print_of_key("ssh-ed25519 not*base64", None), None);
        assert_eq!(print_of_key("", None), None);
        assert_eq!(logged_print(ED25519_PRINT).as_deref(), Some(ED25519_PRINT));
        assert_eq!(logged_print("ssh-ed25519 SHA256:short"), None);
        assert_eq!(logged_print("$postgres$md5hash"), None);
    }

    #[test]
    fn keys_planted_by_commands() {
        let line = format!(
            "cd ~ && rm -rf .ssh && mkdir .ssh && echo \"{ED25519}\">>.ssh/authorized_keys && chmod -R go= ~/.ssh"
        );
        assert_eq!(
            planted_keys(&line),
            vec![PlantedKey {
                print: ED25519_PRINT.to_string(),
                comment: Some("mdrfckr".to_string())
            }]
        );
        assert!(planted_keys(&format!("echo \"{ED25519}\" > key.pub")).is_empty());
        let bare = ED25519.trim_end_matches(" mdrfckr");
        let two = format!("echo '{bare}' >> authorized_keys; echo {bare}>>authorized_keys");
        let keys = planted_keys(&two);
        assert_eq!(keys.len(), 2);
        assert!(
            keys.iter()
                .all(|k| k.comment.is_none() && k.print == ED25519_PRINT)
        );
        let many = format!("{} authorized_keys", format!("{bare} x ").repeat(20));
        assert_eq!(planted_keys(&many).len(), MAX_KEYS_PER_LINE);
        assert!(planted_keys("ssh-rsa AAAA!!!! >> authorized_keys").is_empty());
        let broken = format!("{}{bare} authorized_keys", "ssh-rsa AAAA! ".repeat(1_000));
        assert!(
            planted_keys(&broken).is_empty(),
            "only the first tries of a line are searched"
        );
    }
}
