//! Reimplementations of other published DGAs, used to build the labelled
//! evaluation set of [`crate::eval`] (not for hunting those families).
//!
//! Both follow Johannes Bader's public write-ups of the algorithms
//! (github.com/baderj/domain_generation_algorithms, `necurs/` and `dircrypt/`);
//! they are re-written here from those descriptions.

use chrono::{Datelike, NaiveDate};

/// Necurs' 64-bit mixing function: `(v & 0x7F) + 21` rounds of
/// `v += ((7v) ^ (v << 15)) + 8i - (v >> 5)` on wrapping 64-bit values.
fn necurs_mix(mut v: u64) -> u64 {
    let rounds = (v & 0x7F) + 21;
    for i in 0..rounds {
        let term = (v.wrapping_mul(7) ^ (v << 15))
            .wrapping_add(8u64.wrapping_mul(i))
            .wrapping_sub(v >> 5);
        v = v.wrapping_add(term);
    }
    v
}

const NECURS_TLDS: [&str; 43] = [
    "tj", "in", "jp", "tw", "ac", "cm", "la", "mn", "so", "sh", "sc", "nu", "nf", "mu", "ms", "mx",
    "ki", "im", "cx", "cc", "tv", "bz", "me", "eu", "de", "ru", "co", "su", "pw", "kz", "sx", "us",
    "ug", "ir", "to", "ga", "com", "net", "org", "biz", "xxx", "pro", "bit",
];

/// The Necurs domain number `sequence` for a date and a sample's magic
/// number: 7–21 letters `a`–`y` and one of 43 TLDs.
pub fn necurs(sequence: u64, magic: u64, date: NaiveDate) -> String {
    let mut n = necurs_mix(date.year() as u64);
    n = necurs_mix(n.wrapping_add(u64::from(date.month())).wrapping_add(43_690));
    n = necurs_mix(n.wrapping_add(u64::from(date.day() >> 2)));
    n = necurs_mix(n.wrapping_add(sequence));
    n = necurs_mix(n.wrapping_add(magic));
    let len = n % 15 + 7;
    let mut name = String::new();
    for i in 0..len {
        n = necurs_mix(n.wrapping_add(i));
        name.push(char::from(b'a' + (n % 25) as u8));
        n = necurs_mix(n.wrapping_add(0xAB_BEDF));
    }
    // `n % 43` is below the table's length.
    let tld = NECURS_TLDS[(n % 43) as usize];
    format!("{name}.{tld}")
}

/// DirCrypt's generator: a Park–Miller style `16807 (x mod 127773) -
/// 2836 (x / 127773)` step, names of 8–20 letters `a`–`z` under `.com`.
pub struct Dircrypt {
    state: u32,
}

impl Dircrypt {
    /// Starts the sequence from a sample's seed.
    pub fn new(seed: u32) -> Self {
        Self { state: seed }
    }

    fn next_below(&mut self, modulus: u32) -> u32 {
        let x = self.state;
        self.state = 16_807u32
            .wrapping_mul(x % 127_773)
            .wrapping_sub(2_836u32.wrapping_mul(x / 127_773));
        self.state % modulus
    }
}

impl Iterator for Dircrypt {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let len = self.next_below(13) + 8;
        let mut name: String = (0..len)
            .map(|_| char::from(b'a' + self.next_below(26) as u8))
            .collect();
        name.push_str(".com");
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn necurs_names_have_the_published_shape() {
        let date = NaiveDate::from_ymd_opt(2016, 5, 1).expect("date");
        for seq in 0..200 {
            let name = necurs(seq, 9, date);
            let (label, tld) = name.split_once('.').expect("dot");
            assert!((7..=21).contains(&label.len()), "{name}");
            assert!(label.bytes().all(|b| (b'a'..=b'y').contains(&b)), "{name}");
            assert!(NECURS_TLDS.contains(&tld), "{name}");
        }
    }

    #[test]
    fn dircrypt_names_have_the_published_shape() {
        for name in Dircrypt::new(0x1234_5678).take(200) {
            let label = name.strip_suffix(".com").expect(".com");
            assert!((8..=20).contains(&label.len()), "{name}");
            assert!(label.bytes().all(|b| b.is_ascii_lowercase()), "{name}");
        }
    }
}
