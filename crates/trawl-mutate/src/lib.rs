//! Fuzzer-style mutations of seed inputs, as proptest strategies: the one job of this
//! crate is to let the file parsers' tests (pcap captures, whois records, watch sources,
//! hash lists) be fuzzed on stable Rust inside `cargo test`, so CI runs them on every
//! change.
//!
//! cargo-fuzz needs a nightly compiler and runs outside the test suite; proptest gives
//! random inputs and shrinking but no mutation of real files. What is hand-written here is
//! the small part in between: the mutations a coverage-guided fuzzer applies to a corpus
//! (bit flips, random runs, "interesting" integers written over length fields, cuts,
//! inserted and deleted runs, splices of two seeds, duplicated lines), applied to seed
//! files the test supplies.
//!
//! ```
//! use proptest::prelude::*;
//! let seeds = vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()];
//! proptest!(|(input in trawl_mutate::mutated(seeds.clone(), 4))| {
//!     let _ = std::str::from_utf8(&input); // the parser under test goes here
//! });
//! ```

use proptest::prelude::*;

/// One edit of a byte string. Positions are taken modulo the current length, so every
/// edit applies to any input.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flips one bit.
    FlipBit { at: usize, bit: u8 },
    /// Overwrites a run with random bytes.
    Overwrite { at: usize, bytes: Vec<u8> },
    /// Writes an "interesting" 16- or 32-bit value (0, 1, -1, max, a huge length) in
    /// either byte order, as fuzzers do to length and count fields.
    Interesting {
        at: usize,
        value: u32,
        width: u8,
        big_endian: bool,
    },
    /// Inserts random bytes.
    Insert { at: usize, bytes: Vec<u8> },
    /// Deletes a run.
    Delete { at: usize, len: usize },
    /// Cuts the input short.
    Truncate { keep: usize },
    /// Replaces the tail from `at` with the tail of another seed from `from`.
    Splice { seed: usize, at: usize, from: usize },
    /// Repeats a run (a line or a record) in place.
    Duplicate { at: usize, len: usize, times: u8 },
}

const INTERESTING: [u32; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x1_0000,
    0x00ff_ffff,
    0x7fff_ffff,
    0x8000_0000,
    u32::MAX,
];

fn any_mutation() -> impl Strategy<Value = Mutation> {
    let run = prop::collection::vec(any::<u8>(), 1..24);
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), run.clone()).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        (
            any::<usize>(),
            prop_oneof![prop::sample::select(INTERESTING.to_vec()), any::<u32>()],
            prop_oneof![Just(2u8), Just(4u8)],
            any::<bool>()
        )
            .prop_map(|(at, value, width, big_endian)| Mutation::Interesting {
                at,
                value,
                width,
                big_endian
            }),
        (any::<usize>(), run).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(seed, at, from)| Mutation::Splice { seed, at, from }),
        (any::<usize>(), 1usize..256, 1u8..8).prop_map(|(at, len, times)| Mutation::Duplicate {
            at,
            len,
            times
        }),
    ]
}

/// Applies `mutation` to `data`; `seeds` are the splice partners.
pub fn apply(data: &mut Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>]) {
    let at = |pos: usize, data: &Vec<u8>| pos.checked_rem(data.len()).unwrap_or(0);
    match mutation {
        Mutation::FlipBit { at: pos, bit } => {
            let i = at(*pos, data);
            if let Some(byte) = data.get_mut(i) {
                *byte ^= 1 << (bit % 8);
            }
        }
        Mutation::Overwrite { at: pos, bytes } => {
            let i = at(*pos, data);
            for (slot, byte) in data.iter_mut().skip(i).zip(bytes) {
                *slot = *byte;
            }
        }
        Mutation::Interesting {
            at: pos,
            value,
            width,
            big_endian,
        } => {
            let i = at(*pos, data);
            let bytes = match (width, big_endian) {
                (2, true) => (*value as u16).to_be_bytes().to_vec(),
                (2, false) => (*value as u16).to_le_bytes().to_vec(),
                (_, true) => value.to_be_bytes().to_vec(),
                (_, false) => value.to_le_bytes().to_vec(),
            };
            for (slot, byte) in data.iter_mut().skip(i).zip(bytes) {
                *slot = byte;
            }
        }
        Mutation::Insert { at: pos, bytes } => {
            let i = if data.is_empty() {
                0
            } else {
                pos % (data.len() + 1)
            };
            data.splice(i..i, bytes.iter().copied());
        }
        Mutation::Delete { at: pos, len } => {
            let i = at(*pos, data);
            let end = (i + len).min(data.len());
            data.drain(i..end);
        }
        Mutation::Truncate { keep } => {
            let keep = keep.checked_rem(data.len() + 1).unwrap_or(0);
            data.truncate(keep);
        }
        Mutation::Splice {
            seed,
            at: pos,
            from,
        } => {
            let Some(other) = seed.checked_rem(seeds.len()).and_then(|s| seeds.get(s)) else {
                return;
            };
            let i = at(*pos, data);
            let from = from.checked_rem(other.len()).unwrap_or(0);
            data.truncate(i);
            data.extend_from_slice(other.get(from..).unwrap_or_default());
        }
        Mutation::Duplicate {
            at: pos,
            len,
            times,
        } => {
            let i = at(*pos, data);
            let end = (i + len).min(data.len());
            let run = data.get(i..end).unwrap_or_default().to_vec();
            for _ in 0..*times {
                data.splice(end..end, run.iter().copied());
            }
        }
    }
}

/// One of `seeds`, changed by 1 to `max_edits` random mutations (0 edits now and then,
/// so the unmodified seeds are covered too). Panics if `seeds` is empty: a test bug.
pub fn mutated(seeds: Vec<Vec<u8>>, max_edits: usize) -> impl Strategy<Value = Vec<u8>> {
    assert!(!seeds.is_empty(), "mutated() needs at least one seed");
    let count = seeds.len();
    (
        0..count,
        prop::collection::vec(any_mutation(), 0..=max_edits.max(1)),
    )
        .prop_map(move |(index, edits)| {
            let mut data = seeds.get(index).cloned().unwrap_or_default();
            for edit in &edits {
                apply(&mut data, edit, &seeds);
            }
            data
        })
}

/// Every file directly in `dir` that `keep` accepts, read whole, in name order: a corpus of
/// seeds. Panics (a broken test setup, not a finding) when the directory or a file cannot
/// be read or fewer than `at_least` files are kept.
pub fn corpus(
    dir: &std::path::Path,
    keep: impl Fn(&std::path::Path) -> bool,
    at_least: usize,
) -> Vec<Vec<u8>> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|err| panic!("corpus {}: {err}", dir.display()));
    let mut files: Vec<_> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file() && keep(path))
        .collect();
    files.sort();
    assert!(
        files.len() >= at_least,
        "corpus {}: {} files, expected at least {at_least}",
        dir.display(),
        files.len()
    );
    files
        .iter()
        .map(|path| {
            std::fs::read(path).unwrap_or_else(|err| panic!("corpus {}: {err}", path.display()))
        })
        .collect()
}

/// Random bytes, biased towards the bytes text formats and binary headers are made of
/// (ASCII, separators, NUL, 0xff), up to `max_len` long.
pub fn noise(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => any::<u8>(),
        3 => 0x20u8..0x7f,
        1 => prop::sample::select(b"\n\r\t,;:|\"'{}[]<>=/\\ \0\xff".to_vec()),
    ];
    prop::collection::vec(byte, 0..max_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds() -> Vec<Vec<u8>> {
        vec![b"abcdef".to_vec(), b"0123456789".to_vec()]
    }

    #[test]
    fn every_mutation_applies_to_empty_and_short_inputs() {
        let all = [
            Mutation::FlipBit { at: 99, bit: 9 },
            Mutation::Overwrite {
                at: 5,
                bytes: vec![1, 2, 3],
            },
            Mutation::Interesting {
                at: 3,
                value: u32::MAX,
                width: 4,
                big_endian: true,
            },
            Mutation::Insert {
                at: usize::MAX,
                bytes: vec![9],
            },
            Mutation::Delete { at: 4, len: 100 },
            Mutation::Truncate { keep: usize::MAX },
            Mutation::Splice {
                seed: 7,
                at: 2,
                from: 3,
            },
            Mutation::Duplicate {
                at: 1,
                len: 2,
                times: 3,
            },
        ];
        for mutation in &all {
            for start in [Vec::new(), b"x".to_vec(), b"abcdef".to_vec()] {
                let mut data = start.clone();
                apply(&mut data, mutation, &seeds());
            }
        }
    }

    #[test]
    fn edits_do_what_they_say() {
        let mut data = b"abcdef".to_vec();
        apply(&mut data, &Mutation::FlipBit { at: 0, bit: 0 }, &seeds());
        assert_eq!(data, b"`bcdef");
        apply(
            &mut data,
            &Mutation::Interesting {
                at: 1,
                value: 0x0102,
                width: 2,
                big_endian: true,
            },
            &seeds(),
        );
        assert_eq!(data, b"`\x01\x02def");
        apply(
            &mut data,
            &Mutation::Splice {
                seed: 1,
                at: 3,
                from: 8,
            },
            &seeds(),
        );
        assert_eq!(data, b"`\x01\x0289");
        apply(
            &mut data,
            &Mutation::Duplicate {
                at: 3,
                len: 2,
                times: 2,
            },
            &seeds(),
        );
        assert_eq!(data, b"`\x01\x02898989");
        apply(&mut data, &Mutation::Truncate { keep: 2 }, &seeds());
        assert_eq!(data, b"`\x01");
    }

    proptest! {
        #[test]
        fn mutated_inputs_stay_near_their_seeds(data in mutated(seeds(), 3)) {
            // Three edits of at most 255 * 7 duplicated bytes each, plus a splice.
            prop_assert!(data.len() <= 10 + 3 * 255 * 7 + 3 * 24);
        }
    }
}
