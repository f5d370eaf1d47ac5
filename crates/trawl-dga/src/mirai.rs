//! The Mirai DGA (Nov–Dec 2016 TR-069 variant).
//!
//! Public analyses (Netlab 360 "Now Mirai Has DGA Feature Built in" and
//! "New Mirai DGA Seed 0x91 Brute Forced"; GovCERT.ch "When Mirai meets
//! Ranbyus") describe it: one name per day, 12 letters `a`–`y`, TLDs
//! `.online`, `.tech`, `.support`, derived from the day of the month, the
//! month (1–12), the full year and a hard-coded seed (0 in the first samples,
//! 0x91 later). The per-character generator is the Ranbyus one on wrapping
//! 32-bit values. No crate implements it, so it is written here.
//!
//! Brute force ([`find_origins`]) is cheap because the three state words
//! evolve independently of each other: `y` depends only on the year, `m` only
//! on the month, and `d`/`s` only on the day and the seed. Each is precomputed
//! once, and a date then costs 12 XORs and a modulo per candidate seed.

use chrono::Datelike;
pub use chrono::NaiveDate;

/// Length of every Mirai DGA label.
pub const LABEL_LEN: usize = 12;
/// Top-level domains the Mirai DGA uses (the 0x91 series only used `online`).
pub const TLDS: [&str; 3] = ["online", "tech", "support"];
/// Seeds seen in the wild.
pub const KNOWN_SEEDS: [u32; 2] = [0, 0x91];

/// True when `name` looks like a Mirai DGA domain: a 12-letter label of
/// `a`–`y` under `.online`, `.tech` or `.support` (case-insensitive, a
/// trailing dot allowed). Subdomains do not match.
pub fn matches_mirai_pattern(name: &str) -> bool {
    split_mirai_name(name).is_some()
}

/// Splits a Mirai-shaped name into its lower-cased label and TLD.
pub fn split_mirai_name(name: &str) -> Option<(String, String)> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let (label, tld) = name.split_once('.')?;
    let label_ok = label.len() == LABEL_LEN && label.bytes().all(|b| (b'a'..=b'y').contains(&b));
    (label_ok && TLDS.contains(&tld)).then(|| (label.to_owned(), tld.to_owned()))
}

/// A date argument that is not `YYYY-MM-DD`.
#[derive(Debug, thiserror::Error)]
#[error("invalid date {0:?}: expected YYYY-MM-DD")]
pub struct DateError(pub String);

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, DateError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| DateError(text.to_owned()))
}

/// Today's date in UTC (the bots' clocks are assumed to be UTC).
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// First day the default brute-force range starts at (the DGA appeared in
/// November 2016).
pub fn default_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(2016, 1, 1).unwrap_or_default()
}

/// One Ranbyus round of the day/seed pair; returns the new `(d, s)`.
fn step_day_seed(d: u32, s: u32) -> (u32, u32) {
    let d = (d >> 15) ^ 16u32.wrapping_mul((d & 0x1FFF) ^ 4u32.wrapping_mul(s ^ d));
    let s = (s >> 6) ^ ((d.wrapping_add(8u32.wrapping_mul(s)) << 8) & 0x3FF_FF00);
    (d, s)
}

/// One Ranbyus round of the year word.
fn step_year(y: u32) -> u32 {
    ((y & 0xFFFF_FFF0) << 17) ^ ((y ^ 7u32.wrapping_mul(y)) >> 11)
}

/// One Ranbyus round of the month word.
fn step_month(m: u32) -> u32 {
    14u32.wrapping_mul(m & 0xFFFF_FFFE) ^ ((m ^ 4u32.wrapping_mul(m)) >> 8)
}

/// The 12 successive values of the day word for a day and a seed.
fn day_stream(day: u32, seed: u32) -> [u32; LABEL_LEN] {
    let mut out = [0; LABEL_LEN];
    let (mut d, mut s) = (day, seed);
    for slot in &mut out {
        (d, s) = step_day_seed(d, s);
        *slot = d;
    }
    out
}

fn word_stream(init: u32, step: fn(u32) -> u32) -> [u32; LABEL_LEN] {
    let mut out = [0; LABEL_LEN];
    let mut v = init;
    for slot in &mut out {
        v = step(v);
        *slot = v;
    }
    out
}

fn letters(d: &[u32; LABEL_LEN], m: &[u32; LABEL_LEN], y: &[u32; LABEL_LEN]) -> [u8; LABEL_LEN] {
    let mut out = [0; LABEL_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        // `% 25` keeps the value below 25, so the cast cannot truncate.
        *slot = b'a' + ((d[i] ^ m[i] ^ y[i]) % 25) as u8;
    }
    out
}

/// The 12-letter label for a seed and a calendar date.
pub fn label_for(seed: u32, date: NaiveDate) -> String {
    let d = day_stream(date.day(), seed);
    let m = word_stream(date.month(), step_month);
    let y = word_stream(date.year() as u32, step_year);
    String::from_utf8_lossy(&letters(&d, &m, &y)).into_owned()
}

/// One day's output of the generator for one seed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DayNames {
    /// The date the names are for.
    pub date: NaiveDate,
    /// The seed used.
    pub seed: u32,
    /// The 12-letter label.
    pub label: String,
    /// The label under every Mirai TLD.
    pub names: Vec<String>,
}

/// Every day's names from `from` to `to` inclusive (empty when `to < from`).
pub fn generate(seed: u32, from: NaiveDate, to: NaiveDate) -> Vec<DayNames> {
    from.iter_days()
        .take_while(|date| *date <= to)
        .map(|date| {
            let label = label_for(seed, date);
            let names = TLDS.iter().map(|tld| format!("{label}.{tld}")).collect();
            DayNames {
                date,
                seed,
                label,
                names,
            }
        })
        .collect()
}

/// A seed and date that generate a given label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// The seed.
    pub seed: u32,
    /// The date.
    pub date: NaiveDate,
}

/// Every `(seed, date)` with `seed` in `seeds` and `from <= date <= to` whose
/// label equals `label` (lower-cased; a TLD, if present, is ignored).
/// Results are ordered by date, then seed.
pub fn find_origins(
    label: &str,
    seeds: std::ops::RangeInclusive<u32>,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Origin> {
    let Some(target) = target_label(label) else {
        return Vec::new();
    };
    let seeds: Vec<u32> = seeds.collect();
    // d/s streams per (day of month, seed): at most 31 × |seeds| arrays.
    let day_streams: Vec<Vec<[u32; LABEL_LEN]>> = (1..=31)
        .map(|day| seeds.iter().map(|&seed| day_stream(day, seed)).collect())
        .collect();
    let month_streams: Vec<[u32; LABEL_LEN]> = (1..=12)
        .map(|month| word_stream(month, step_month))
        .collect();
    let mut found = Vec::new();
    let mut year_cache: Option<(i32, [u32; LABEL_LEN])> = None;
    for date in from.iter_days().take_while(|date| *date <= to) {
        let y = match year_cache {
            Some((year, stream)) if year == date.year() => stream,
            _ => {
                let stream = word_stream(date.year() as u32, step_year);
                year_cache = Some((date.year(), stream));
                stream
            }
        };
        let m = &month_streams[date.month0() as usize];
        let per_seed = &day_streams[date.day0() as usize];
        for (seed, d) in seeds.iter().zip(per_seed) {
            if matches_streams(&target, d, m, &y) {
                found.push(Origin { seed: *seed, date });
            }
        }
    }
    found
}

fn target_label(name: &str) -> Option<[u8; LABEL_LEN]> {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let label = name.split('.').next().unwrap_or_default();
    label.as_bytes().try_into().ok()
}

fn matches_streams(
    target: &[u8; LABEL_LEN],
    d: &[u32; LABEL_LEN],
    m: &[u32; LABEL_LEN],
    y: &[u32; LABEL_LEN],
) -> bool {
    (0..LABEL_LEN).all(|i| b'a' + ((d[i] ^ m[i] ^ y[i]) % 25) as u8 == target[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("2016-12-29").expect("ok"), date(2016, 12, 29));
        assert!(parse_date("2016-13-01").is_err());
        assert!(parse_date("29.12.2016").is_err());
    }

    #[test]
    fn pattern_accepts_mirai_shapes_only() {
        assert!(matches_mirai_pattern("hrjlyymassqx.tech"));
        assert!(matches_mirai_pattern("HRJLYYMASSQX.TECH."));
        assert!(matches_mirai_pattern("abcdefghijkl.online"));
        assert!(matches_mirai_pattern("abcdefghijkl.support"));
        assert!(
            !matches_mirai_pattern("abcdefghijkz.online"),
            "z is outside a-y"
        );
        assert!(!matches_mirai_pattern("abcdefghijk.online"), "11 letters");
        assert!(!matches_mirai_pattern("abcdefghijkl.com"));
        assert!(!matches_mirai_pattern("www.abcdefghijkl.online"));
        assert!(!matches_mirai_pattern("inandoutand.in"));
        assert!(!matches_mirai_pattern(""));
    }

    #[test]
    fn labels_are_twelve_letters_a_to_y() {
        for day in generate(0x91, date(2016, 1, 1), date(2016, 12, 31)) {
            assert_eq!(day.label.len(), LABEL_LEN);
            assert!(
                day.label.bytes().all(|b| (b'a'..=b'y').contains(&b)),
                "{}",
                day.label
            );
            assert!(matches_mirai_pattern(&day.names[0]));
        }
    }

    #[test]
    fn seed_0x91_explains_the_seed_c2_name() {
        // hrjlyymassqx.tech was a C2 of the "7up" Mirai sample (registered
        // 2016-12-09, queried 2016-12-20); Netlab 360 listed it in the 0x91 series.
        assert_eq!(label_for(0x91, date(2016, 12, 29)), "hrjlyymassqx");
        let hits = find_origins(
            "hrjlyymassqx.tech",
            0..=255,
            date(2016, 1, 1),
            date(2016, 12, 31),
        );
        assert_eq!(
            hits,
            vec![Origin {
                seed: 0x91,
                date: date(2016, 12, 29)
            }]
        );
    }

    #[test]
    fn year_only_matters_past_its_low_four_bits() {
        // The year word is masked with 0xFFFFFFF0 and shifted, so 2016..=2031
        // give the same stream: a name recurs on the same day each year.
        assert_eq!(
            label_for(0, date(2016, 12, 1)),
            label_for(0, date(2026, 12, 1))
        );
        assert_ne!(
            label_for(0, date(2016, 12, 1)),
            label_for(0, date(2032, 12, 1))
        );
    }

    #[test]
    fn brute_force_finds_the_generating_seed_and_date() {
        let label = label_for(0x37, date(2019, 7, 4));
        let hits = find_origins(&label, 0..=255, date(2016, 1, 1), date(2025, 12, 31));
        assert!(
            hits.contains(&Origin {
                seed: 0x37,
                date: date(2019, 7, 4)
            }),
            "{hits:?}"
        );
    }
}
