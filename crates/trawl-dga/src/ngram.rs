//! A character trigram model of English spelling, used to tell pronounceable
//! names from random-looking ones.
//!
//! The table is trained from Debian `wamerican`'s `/usr/share/dict/words`
//! (see [`train`]) and compiled in from `data/en-trigrams.tsv`, so scoring needs no
//! file at run time; `cargo run -p trawl-dga --example train-ngrams` rebuilds it.
//! Only "training" words (see [`is_training_word`]) are counted, so the
//! held-out words can serve as unseen benign names in the evaluation.

use std::sync::OnceLock;

/// Symbols: 0 is the word boundary, 1..=26 are `a`..=`z`.
const SYMBOLS: usize = 27;
const TABLE: &str = include_str!("../data/en-trigrams.tsv");

/// Trigram counts with the derived bigram and unigram counts.
#[derive(Debug, Clone)]
pub struct Model {
    tri: Vec<u32>,
    bi: Vec<u32>,
    bi_ctx: Vec<u32>,
    uni: Vec<u32>,
    tri_ctx: Vec<u32>,
    total: u64,
}

/// Errors reading a trigram table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A line is not `TRIGRAM<TAB>COUNT`.
    #[error("trigram table line {line}: expected TRIGRAM<TAB>COUNT, got {text:?}")]
    BadLine {
        /// 1-based line number.
        line: usize,
        /// The offending line (cut to 80 chars).
        text: String,
    },
}

fn symbol(c: char) -> Option<usize> {
    match c {
        '^' | '$' => Some(0),
        'a'..='z' => Some(c as usize - 'a' as usize + 1),
        _ => None,
    }
}

fn symbol_char(s: usize) -> char {
    if s == 0 {
        '^'
    } else {
        (b'a' + (s as u8 - 1)) as char
    }
}

/// Whether a word is in the training split (4 of 5 words, chosen by a stable
/// FNV-1a hash so the split does not depend on the word list's order).
pub fn is_training_word(word: &str) -> bool {
    let mut h: u32 = 0x811c_9dc5;
    for b in word.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    !h.is_multiple_of(5)
}

/// Lower-cased ASCII-letter words of a word list (possessives, accented and
/// one-letter entries dropped), in list order, deduplicated.
pub fn clean_words(list: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.lines()
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_lowercase()))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

fn index(a: usize, b: usize, c: usize) -> usize {
    (a * SYMBOLS + b) * SYMBOLS + c
}

/// Counts trigrams (with boundaries) over the training split of a word list.
pub fn train(list: &str) -> Model {
    let mut tri = vec![0u32; SYMBOLS * SYMBOLS * SYMBOLS];
    for word in clean_words(list).iter().filter(|w| is_training_word(w)) {
        let syms: Vec<usize> = std::iter::once(0)
            .chain(std::iter::once(0))
            .chain(word.chars().filter_map(symbol))
            .chain(std::iter::once(0))
            .collect();
        for w in syms.windows(3) {
            tri[index(w[0], w[1], w[2])] += 1;
        }
    }
    Model::from_counts(tri)
}

impl Model {
    fn from_counts(tri: Vec<u32>) -> Self {
        let mut bi = vec![0u32; SYMBOLS * SYMBOLS];
        let mut bi_ctx = vec![0u32; SYMBOLS];
        let mut uni = vec![0u32; SYMBOLS];
        let mut tri_ctx = vec![0u32; SYMBOLS * SYMBOLS];
        for a in 0..SYMBOLS {
            for b in 0..SYMBOLS {
                for c in 0..SYMBOLS {
                    let n = tri[index(a, b, c)];
                    bi[b * SYMBOLS + c] += n;
                    bi_ctx[b] += n;
                    uni[c] += n;
                    tri_ctx[a * SYMBOLS + b] += n;
                }
            }
        }
        let total = uni.iter().map(|&n| u64::from(n)).sum();
        Self {
            tri,
            bi,
            bi_ctx,
            uni,
            tri_ctx,
            total,
        }
    }

    /// Parses a table written by [`Model::to_tsv`] (`#` lines are comments).
    pub fn from_tsv(text: &str) -> Result<Self, TableError> {
        let mut tri = vec![0u32; SYMBOLS * SYMBOLS * SYMBOLS];
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || TableError::BadLine {
                line: n + 1,
                text: line.chars().take(80).collect(),
            };
            let (gram, count) = line.split_once('\t').ok_or_else(bad)?;
            let syms: Vec<usize> = gram
                .chars()
                .map(symbol)
                .collect::<Option<_>>()
                .ok_or_else(bad)?;
            let [a, b, c] = syms[..] else {
                return Err(bad());
            };
            tri[index(a, b, c)] = count.parse().map_err(|_| bad())?;
        }
        Ok(Self::from_counts(tri))
    }

    /// The table as `TRIGRAM<TAB>COUNT` lines (non-zero counts only).
    pub fn to_tsv(&self) -> String {
        let mut out = String::new();
        for a in 0..SYMBOLS {
            for b in 0..SYMBOLS {
                for c in 0..SYMBOLS {
                    let n = self.tri[index(a, b, c)];
                    if n > 0 {
                        let gram: String = [a, b, c].iter().map(|&s| symbol_char(s)).collect();
                        out.push_str(&format!("{gram}\t{n}\n"));
                    }
                }
            }
        }
        out
    }

    /// Interpolated probability of symbol `c` after `a b`.
    fn prob(&self, a: usize, b: usize, c: usize) -> f64 {
        let ratio = |num: u32, den: u32| {
            if den == 0 {
                0.0
            } else {
                f64::from(num) / f64::from(den)
            }
        };
        let p3 = ratio(self.tri[index(a, b, c)], self.tri_ctx[a * SYMBOLS + b]);
        let p2 = ratio(self.bi[b * SYMBOLS + c], self.bi_ctx[b]);
        let p1 = if self.total == 0 {
            0.0
        } else {
            f64::from(self.uni[c]) / self.total as f64
        };
        0.6 * p3 + 0.3 * p2 + 0.09 * p1 + 0.01 / SYMBOLS as f64
    }

    /// Mean log2 probability per symbol of the letter runs in `label`
    /// (digits and hyphens split runs). `None` when there are no letters.
    pub fn mean_log2_prob(&self, label: &str) -> Option<f64> {
        let mut sum = 0.0;
        let mut n = 0usize;
        for run in label
            .split(|c: char| !c.is_ascii_lowercase())
            .filter(|r| !r.is_empty())
        {
            let syms: Vec<usize> = [0, 0]
                .into_iter()
                .chain(run.chars().filter_map(symbol))
                .chain(std::iter::once(0))
                .collect();
            for w in syms.windows(3) {
                sum += self.prob(w[0], w[1], w[2]).log2();
                n += 1;
            }
        }
        (n > 0).then(|| sum / n as f64)
    }
}

/// The compiled-in model.
pub fn english() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        // The table is part of the source tree and checked by the tests below;
        // an unreadable one is a build defect, so fall back to an empty model
        // (every name then looks unlikely) rather than panic in a library.
        Model::from_tsv(TABLE)
            .unwrap_or_else(|_| Model::from_counts(vec![0; SYMBOLS * SYMBOLS * SYMBOLS]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_table_parses_and_is_not_empty() {
        let model = Model::from_tsv(TABLE).expect("compiled-in table parses");
        assert!(model.total > 100_000, "table has {} trigrams", model.total);
    }

    #[test]
    fn english_words_beat_random_letters() {
        let m = english();
        let word = m.mean_log2_prob("thunderstorm").expect("letters");
        let random = m.mean_log2_prob("hrjlyymassqx").expect("letters");
        assert!(word > random + 1.0, "word {word} random {random}");
    }

    #[test]
    fn tsv_round_trips() {
        let model = train("apple\nbanana\ncherry\n");
        let again = Model::from_tsv(&model.to_tsv()).expect("parses");
        assert_eq!(model.tri, again.tri);
    }

    #[test]
    fn bad_table_lines_name_the_line() {
        let err = Model::from_tsv("# c\nabc\t1\nab\t2\n").expect_err("bad line");
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
