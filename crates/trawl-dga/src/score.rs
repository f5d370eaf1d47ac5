//! Generic DGA scoring: how machine-generated a domain name looks.
//!
//! The registrable label (the part left of the public suffix, found with the
//! `psl` crate) is measured for length, Shannon entropy, the longest
//! consonant run, the mix of digits and letters, and its likelihood under a
//! character trigram model of English ([`crate::ngram`]). The measures are
//! combined by a fixed logistic formula whose weights were fitted (logistic
//! regression, offline) on [`crate::eval::tuning_set`] and are checked on the
//! separate [`crate::eval::labelled_set`] (see docs/dga.md for the measured
//! precision and recall). Each measure that pushes the score up is named in
//! the reasons.

use serde::Serialize;

use crate::{mirai, ngram};

/// Intercept of the logistic formula (fitted with the weights below).
const BIAS: f64 = -1.85;

/// Score at or above which a name is called DGA-like.
pub const THRESHOLD: f64 = 0.5;

/// The verdict on one name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DgaScore {
    /// 0.0 (looks human-made) to 1.0 (looks machine-generated).
    pub score: f64,
    /// `score >= THRESHOLD`.
    pub is_dga: bool,
    /// Human-readable reasons, most telling first; empty for clean names.
    pub reasons: Vec<String>,
}

/// The measures the score is built from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Features {
    /// The label that was measured (lower-cased registrable label).
    pub label: String,
    /// Its length in bytes.
    pub length: usize,
    /// Shannon entropy in bits per character.
    pub entropy: f64,
    /// Longest run of consonants (`y` counts as a vowel).
    pub max_consonant_run: usize,
    /// Share of digits among its characters.
    pub digit_ratio: f64,
    /// Number of letter↔digit switches.
    pub digit_switches: usize,
    /// Mean log2 trigram probability under the English model (letters only).
    pub english_log2_prob: Option<f64>,
    /// Whether the whole name has the Mirai DGA shape.
    pub mirai_pattern: bool,
}

/// The lower-cased label a name is judged by: the label left of its public
/// suffix (`psl`), or the second-to-last label for unknown suffixes.
pub fn registrable_label(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let label = psl::domain_str(&name)
        .zip(psl::suffix_str(&name))
        .and_then(|(domain, suffix)| domain.strip_suffix(suffix)?.strip_suffix('.'))
        .filter(|label| !label.is_empty());
    if let Some(label) = label {
        return label.to_owned();
    }
    let labels: Vec<&str> = name.split('.').filter(|l| !l.is_empty()).collect();
    match labels.len() {
        0 => String::new(),
        1 => labels[0].to_owned(),
        n => labels[n - 2].to_owned(),
    }
}

fn entropy(label: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in label.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = label.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn max_consonant_run(label: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for b in label.bytes() {
        if b.is_ascii_lowercase() && !b"aeiouy".contains(&b) {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

fn digit_switches(label: &str) -> usize {
    let kinds: Vec<bool> = label
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| b.is_ascii_digit())
        .collect();
    kinds.windows(2).filter(|w| w[0] != w[1]).count()
}

/// The ASCII part of a punycode (`xn--`) label: the characters before the
/// last `-` are the original's basic letters; the rest encodes the others.
fn punycode_basic(label: &str) -> Option<&str> {
    let encoded = label.strip_prefix("xn--")?;
    Some(encoded.rsplit_once('-').map_or("", |(basic, _)| basic))
}

/// Measures a name.
pub fn features(name: &str) -> Features {
    let label = registrable_label(name);
    let label = punycode_basic(&label).map_or(label.clone(), str::to_owned);
    let length = label.len();
    let digits = label.bytes().filter(u8::is_ascii_digit).count();
    Features {
        entropy: if length == 0 { 0.0 } else { entropy(&label) },
        max_consonant_run: max_consonant_run(&label),
        digit_ratio: if length == 0 {
            0.0
        } else {
            digits as f64 / length as f64
        },
        digit_switches: digit_switches(&label),
        english_log2_prob: ngram::english().mean_log2_prob(&label),
        mirai_pattern: mirai::matches_mirai_pattern(name),
        length,
        label,
    }
}

/// One weighted contribution to the logit, with its reason when positive.
struct Term {
    weight: f64,
    reason: Option<String>,
}

fn terms(f: &Features) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut push = |weight: f64, reason: String| {
        terms.push(Term {
            weight,
            reason: (weight > 0.25).then_some(reason),
        });
    };
    if let Some(lp) = f.english_log2_prob {
        // English words sit around -3 bits/symbol, random letters near -5.
        push(
            3.3 * (-lp - 3.9),
            format!(
                "unlike English spelling ({lp:.2} bits/char under the word-list trigram model)"
            ),
        );
    }
    push(
        1.1 * (f.max_consonant_run as f64 - 3.5),
        format!("consonant run of {}", f.max_consonant_run),
    );
    let expected = (f.length.max(1) as f64).log2().min(4.2);
    // Fitted weight is small and negative: entropy mostly restates the
    // trigram term; it only names itself when it is unusually high.
    let surplus = f.entropy - 0.78 * expected;
    push(
        -0.3 * surplus,
        format!("high character entropy ({:.2} bits/char)", f.entropy),
    );
    if f.digit_ratio > 0.0 && f.digit_ratio < 1.0 {
        // Hand-set (the labelled set's DGAs are letters only): hex-like and
        // hash-like labels switch between digits and letters often.
        push(
            2.0 * f.digit_ratio + 0.4 * (f.digit_switches as f64 - 1.5),
            format!(
                "digits mixed with letters ({:.0}% digits, {} switches)",
                f.digit_ratio * 100.0,
                f.digit_switches
            ),
        );
    }
    if f.mirai_pattern {
        push(
            4.0,
            "matches the Mirai DGA pattern (12 letters a-y, .online/.tech/.support)".to_owned(),
        );
    }
    terms
}

/// Scores one name; empty or label-less names score 0.
pub fn score_domain(name: &str) -> DgaScore {
    let f = features(name);
    if f.length == 0 {
        return DgaScore {
            score: 0.0,
            is_dga: false,
            reasons: Vec::new(),
        };
    }
    let mut terms = terms(&f);
    let logit: f64 = BIAS + terms.iter().map(|t| t.weight).sum::<f64>();
    let score = 1.0 / (1.0 + (-logit).exp());
    terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let is_dga = score >= THRESHOLD;
    let reasons = if is_dga {
        terms.into_iter().filter_map(|t| t.reason).collect()
    } else {
        Vec::new()
    };
    DgaScore {
        score,
        is_dga,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_label_skips_public_suffix_and_subdomains() {
        assert_eq!(registrable_label("www.Example.co.uk."), "example");
        assert_eq!(registrable_label("hrjlyymassqx.tech"), "hrjlyymassqx");
        assert_eq!(registrable_label("localhost"), "localhost");
        assert_eq!(registrable_label(""), "");
    }

    #[test]
    fn mirai_name_is_dga_with_reasons() {
        let s = score_domain("hrjlyymassqx.tech");
        assert!(s.is_dga, "{s:?}");
        assert!(s.reasons.iter().any(|r| r.contains("Mirai")), "{s:?}");
        assert!(s.reasons.iter().any(|r| r.contains("English")), "{s:?}");
    }

    #[test]
    fn ordinary_names_are_not_dga() {
        for name in [
            "youtube.com",
            "google.com",
            "inandoutand.in",
            "weather.example.org",
            "bestbuy.com",
            "stackoverflow.com",
        ] {
            let s = score_domain(name);
            assert!(!s.is_dga, "{name}: {s:?}");
            assert!(s.reasons.is_empty(), "clean names carry no reasons: {s:?}");
        }
    }

    #[test]
    fn punycode_labels_are_judged_by_their_ascii_part() {
        assert_eq!(punycode_basic("xn--bcher-kva"), Some("bcher"));
        assert_eq!(punycode_basic("xn--mnchen-3ya"), Some("mnchen"));
        assert_eq!(punycode_basic("xn--80ak6aa92e"), Some(""));
        assert_eq!(punycode_basic("example"), None);
        assert!(!score_domain("xn--bcher-kva.de").is_dga);
        assert!(
            !score_domain("xn--80ak6aa92e.com").is_dga,
            "all-Cyrillic label has nothing to judge"
        );
    }

    #[test]
    fn empty_and_odd_input_does_not_panic() {
        for name in ["", ".", "..", "-", "1234567890", "é.com", "a.b.c.d.e.f"] {
            let s = score_domain(name);
            assert!((0.0..=1.0).contains(&s.score), "{name}: {s:?}");
        }
    }
}
