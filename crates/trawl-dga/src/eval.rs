//! A labelled set of DGA and benign-looking names, and the scorer's
//! precision and recall on it (`trawl dga eval`, docs/dga.md).
//!
//! * DGA names: Mirai (seeds 0 and 0x91 over 2016–2017 plus eight other
//!   seeds), Necurs and DirCrypt (see [`crate::families`]).
//! * Benign names: words from the word list's *held-out* split (words the
//!   trigram model never saw, [`crate::ngram::is_training_word`]), as single
//!   words, two-word compounds, hyphenated pairs and word+number names under
//!   common TLDs.
//!
//! Picks are driven by a fixed SplitMix64 sequence so the set is the same on
//! every run; a five-line mixer is enough and keeps `rand` out of the build.

use chrono::NaiveDate;
use serde::Serialize;

use crate::{families, mirai, ngram, score};

/// What generated a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    /// Mirai DGA.
    Mirai,
    /// Necurs DGA.
    Necurs,
    /// DirCrypt DGA.
    Dircrypt,
    /// A word-list name (the negative class).
    Benign,
}

impl Family {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Mirai => "mirai",
            Family::Necurs => "necurs",
            Family::Dircrypt => "dircrypt",
            Family::Benign => "benign",
        }
    }
}

/// One labelled name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// The domain name.
    pub name: String,
    /// Where it came from.
    pub family: Family,
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BENIGN_TLDS: [&str; 8] = ["com", "net", "org", "io", "de", "co.uk", "info", "online"];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn mirai_samples(seeds: &[u32]) -> Vec<Sample> {
    let mut out = Vec::new();
    for (i, &seed) in seeds.iter().enumerate() {
        for day in mirai::generate(seed, date(2016, 1, 1), date(2016, 12, 31))
            .into_iter()
            .step_by(4)
        {
            let tld = mirai::TLDS[(i + day.label.len()) % mirai::TLDS.len()];
            out.push(Sample {
                name: format!("{}.{tld}", day.label),
                family: Family::Mirai,
            });
        }
    }
    out
}

fn necurs_samples(magic: u64, day: NaiveDate) -> Vec<Sample> {
    (0..1000)
        .map(|seq| Sample {
            name: families::necurs(seq, magic, day),
            family: Family::Necurs,
        })
        .collect()
}

fn dircrypt_samples(seed: u32) -> Vec<Sample> {
    families::Dircrypt::new(seed)
        .take(1000)
        .map(|name| Sample {
            name,
            family: Family::Dircrypt,
        })
        .collect()
}

fn benign_samples(word_list: &str, count: usize, rng_seed: u64) -> Vec<Sample> {
    let words: Vec<String> = ngram::clean_words(word_list)
        .into_iter()
        .filter(|w| !ngram::is_training_word(w) && (3..=10).contains(&w.len()))
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let mut rng = SplitMix(rng_seed);
    let mut out = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::new();
    while out.len() < count && seen.len() < count * 4 {
        let a = &words[rng.below(words.len())];
        let b = &words[rng.below(words.len())];
        let label = match rng.below(10) {
            0..=3 => a.clone(),
            4..=6 => format!("{a}{b}"),
            7 => format!("{a}-{b}"),
            _ => format!("{a}{}", rng.below(100)),
        };
        let tld = BENIGN_TLDS[rng.below(BENIGN_TLDS.len())];
        let name = format!("{label}.{tld}");
        if label.len() <= 24 && seen.insert(name.clone()) {
            out.push(Sample {
                name,
                family: Family::Benign,
            });
        }
    }
    out
}

/// The labelled set: about 900 Mirai, 1000 Necurs, 1000 DirCrypt and 3000
/// benign names built from `word_list` (the text of /usr/share/dict/words).
pub fn labelled_set(word_list: &str) -> Vec<Sample> {
    let mut set = mirai_samples(&[0, 0x91, 1, 7, 0x20, 0x42, 0x77, 0xA5, 0xC3, 0xFF]);
    set.extend(necurs_samples(9, date(2016, 12, 20)));
    set.extend(dircrypt_samples(0x5A3C_0F17));
    set.extend(benign_samples(word_list, 3000, 0x7472_6177_6C21));
    set
}

/// A second set from other seeds, dates and word picks: the scorer's weights
/// were fitted on this one, so [`labelled_set`] measures unseen names.
pub fn tuning_set(word_list: &str) -> Vec<Sample> {
    let mut set = mirai_samples(&[2, 3, 0x10, 0x33, 0x55, 0x80, 0x99, 0xB0, 0xD7, 0xEE]);
    set.extend(necurs_samples(3, date(2015, 6, 1)));
    set.extend(dircrypt_samples(0x0BAD_F00D));
    set.extend(benign_samples(word_list, 3000, 0x5EED));
    set
}

/// Detection counts for one family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyResult {
    /// The family.
    pub family: Family,
    /// Names of this family in the set.
    pub total: usize,
    /// How many the scorer called DGA.
    pub flagged: usize,
}

/// The scorer's quality on a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Per family (benign: `flagged` are the false positives).
    pub families: Vec<FamilyResult>,
    /// True positives / all flagged.
    pub precision: f64,
    /// True positives / all DGA names.
    pub recall: f64,
    /// False positives / all benign names.
    pub false_positive_rate: f64,
    /// The benign names that were flagged (at most 20), for inspection.
    pub false_positives: Vec<String>,
    /// The DGA names that were missed (at most 20).
    pub false_negatives: Vec<String>,
}

/// Scores every sample and summarises.
pub fn evaluate(samples: &[Sample]) -> Report {
    let mut per: std::collections::BTreeMap<Family, (usize, usize)> = Default::default();
    let (mut fps, mut fns) = (Vec::new(), Vec::new());
    for s in samples {
        let flagged = score::score_domain(&s.name).is_dga;
        let entry = per.entry(s.family).or_default();
        entry.0 += 1;
        entry.1 += usize::from(flagged);
        match (s.family == Family::Benign, flagged) {
            (true, true) if fps.len() < 20 => fps.push(s.name.clone()),
            (false, false) if fns.len() < 20 => fns.push(s.name.clone()),
            _ => {}
        }
    }
    let (benign_total, fp) = per.get(&Family::Benign).copied().unwrap_or_default();
    let (dga_total, tp) = per
        .iter()
        .filter(|(f, _)| **f != Family::Benign)
        .fold((0, 0), |acc, (_, v)| (acc.0 + v.0, acc.1 + v.1));
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Report {
        families: per
            .into_iter()
            .map(|(family, (total, flagged))| FamilyResult {
                family,
                total,
                flagged,
            })
            .collect(),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, dga_total),
        false_positive_rate: ratio(fp, benign_total),
        false_positives: fps,
        false_negatives: fns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benign_names_come_from_held_out_words_only() {
        let words = [
            "apple", "banana", "cherry", "damson", "elder", "grape", "honeydew", "lemon", "mango",
            "melon", "olive", "peach",
        ];
        let training: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| ngram::is_training_word(w))
            .collect();
        let held_out: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !ngram::is_training_word(w))
            .collect();
        assert!(
            !training.is_empty() && !held_out.is_empty(),
            "pick other words for this test"
        );
        assert!(benign_samples(&training.join("\n"), 10, 1).is_empty());
        for s in benign_samples(&words.join("\n"), 30, 1) {
            assert!(held_out.iter().any(|w| s.name.starts_with(w)), "{}", s.name);
            assert!(
                !training.iter().any(|w| s.name.starts_with(w)),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn set_is_deterministic_and_labelled() {
        let list = "apple\nbanana\ncherry\ndamson\nelder\n";
        assert_eq!(labelled_set(list), labelled_set(list));
        assert!(labelled_set(list).iter().any(|s| s.family == Family::Mirai));
    }
}
