//! Streaming lookalike matcher: built once from brands, then `check(domain)` per feed domain.
//!
//! A feed domain is a hit when (in this order):
//! 1. it, or a parent of it down to its registrable domain, is in a brand's permutation set;
//! 2. its registrable label has the same TS #39 confusable skeleton as a brand label;
//! 3. its registrable label is within Damerau-Levenshtein (optimal string alignment) `k` of a
//!    brand label (`k` grows with the label: 0 up to 5 characters, 1 up to 9, 2 beyond), brands
//!    pre-filtered by length and a character-set signature so a random name costs a few
//!    instructions per brand; a label that is itself an English word is not alerted (`applet`
//!    is not an `apple` lookalike worth an alert);
//! 4. it contains a brand keyword (Aho-Corasick): keywords of 6+ characters that are not English
//!    words anywhere, others only as a whole token (bounded by start/end, `.`, `-` or `_`), so
//!    `ups` matches `ups-tracking.com` but not `groups.com`, and `target` matches
//!    `target-giftcard.com` but not `targeting.com`.
//!
//! The brands' own domains (and their subdomains) and allow-listed names are never alerted.

use std::borrow::Cow;
use std::path::Path;
use std::sync::LazyLock;

use foldhash::fast::FixedState;

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::name::{normalize_feed_domain, parse_domain};
use crate::permute::{Options, Technique, permute_parsed};
use crate::skeleton::{is_own_skeleton, skeleton, skeleton_into};

/// A brand to protect: its domains and keywords.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    /// Display name (defaults to the first domain).
    #[serde(default)]
    pub name: String,
    /// Registrable domains of the brand.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Brand keywords (defaults to the domains' registrable labels).
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl Brand {
    /// A brand from one domain: its label becomes the keyword.
    pub fn from_domain(domain: &str) -> Brand {
        Brand {
            name: String::new(),
            domains: vec![domain.to_string()],
            keywords: Vec::new(),
        }
    }
}

/// An inventory file (TOML): `allow = [...]` and `[[brand]]` tables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Names never alerted (registrable domains or full names).
    #[serde(default)]
    pub allow: Vec<String>,
    /// The brands.
    #[serde(default, rename = "brand")]
    pub brands: Vec<Brand>,
}

impl Inventory {
    /// Reads and parses an inventory file.
    pub fn load(path: &Path) -> Result<Inventory, DomainError> {
        let text = std::fs::read_to_string(path).map_err(|source| DomainError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Inventory::parse(&text).map_err(|reason| DomainError::Inventory {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parses inventory TOML; the error names the line.
    pub fn parse(text: &str) -> Result<Inventory, String> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().to_string();
            match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            }
        })
    }
}

/// Matcher settings.
#[derive(Debug, Clone)]
pub struct MatchOptions {
    /// Fixed edit distance `k` (None: by label length, see the module doc).
    pub max_distance: Option<usize>,
    /// Keywords at least this long match anywhere; shorter ones only as whole tokens.
    pub keyword_anywhere_len: usize,
    /// Names never alerted.
    pub allow: Vec<String>,
    /// Permutation settings for the brand domains.
    pub permutations: Options,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            max_distance: None,
            keyword_anywhere_len: 6,
            allow: Vec::new(),
            permutations: Options::default(),
        }
    }
}

/// Why a feed domain matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchTechnique {
    /// In the brand's permutation set (technique, optional second edit).
    Permutation(Technique, Option<Technique>),
    /// Same confusable skeleton as the brand label.
    Confusable,
    /// Within the edit distance of the brand label.
    EditDistance,
    /// Contains a brand keyword.
    Keyword,
}

impl MatchTechnique {
    /// Printed name.
    pub fn name(&self) -> String {
        match self {
            MatchTechnique::Permutation(t, None) => t.name().to_string(),
            MatchTechnique::Permutation(t, Some(s)) => format!("{t}+{s}"),
            MatchTechnique::Confusable => "confusable".to_string(),
            MatchTechnique::EditDistance => "edit-distance".to_string(),
            MatchTechnique::Keyword => "keyword".to_string(),
        }
    }
}

impl Serialize for MatchTechnique {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// One alert.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The feed domain (ASCII form, lowercase).
    pub domain: String,
    /// Unicode form.
    pub unicode: String,
    /// Brand name.
    pub brand: String,
    /// The brand domain it imitates.
    pub brand_domain: String,
    /// Why it matched.
    pub technique: MatchTechnique,
    /// Damerau-Levenshtein distance between its registrable label and the brand label.
    pub distance: usize,
    /// 0-100, higher is more deceptive.
    pub score: u8,
    /// One sentence for humans.
    pub explanation: String,
}

struct BrandDomain {
    brand: usize,
    ascii: String,
    label: String,
    label_chars: Vec<char>,
    max_distance: usize,
}

struct Keyword {
    brand: usize,
    brand_domain: usize,
    text: String,
    /// Matches anywhere (long, not an English word) or only as a whole token.
    anywhere: bool,
    /// English words that contain the keyword, with the keyword's offset in them: an
    /// anywhere-match inside one of these (`anomali` in `anomalies`) is not a hit.
    inside_words: Vec<(&'static str, usize)>,
}

/// Which characters occur in a label, one bit per `a-z0-9-` (bit 37: anything else). One edit
/// changes at most two bits and a transposition none, so labels within `k` edits differ in at
/// most `2k` bits: a one-instruction filter before the distance itself.
fn signature(chars: &[char]) -> u64 {
    chars.iter().fold(0u64, |sig, &c| {
        let bit = match c {
            'a'..='z' => c as u32 - 'a' as u32,
            '0'..='9' => 26 + (c as u32 - '0' as u32),
            '-' => 36,
            _ => 37,
        };
        sig | (1 << bit)
    })
}

/// Common English words (the correct words of the misspellings list): a label that is such a
/// word is a poor lookalike signal, and a brand keyword that is one must stand as a whole token.
static ENGLISH: LazyLock<FastSet<&'static str>> = LazyLock::new(|| {
    crate::data::MISSPELLINGS
        .iter()
        .map(|(word, _)| *word)
        .collect()
});

fn is_english_word(s: &str) -> bool {
    ENGLISH.contains(s)
}

type FastMap<K, V> = std::collections::HashMap<K, V, FixedState>;
type FastSet<K> = std::collections::HashSet<K, FixedState>;

/// True for names that need no normalisation: lowercase LDH (and `_`), no `xn--`.
fn already_normal(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= crate::name::MAX_NAME_LEN
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
        })
        && !name.ends_with('.')
        && !name.starts_with("*.")
        && !name.contains("xn--")
}

/// Feed domains per rayon work item in [`Matcher::hits`].
const PIECE: usize = 1024;

/// The matcher. Build once, share across threads (`Sync`).
pub struct Matcher {
    brand_names: Vec<String>,
    domains: Vec<BrandDomain>,
    /// (signature, label length, k) per brand domain, packed for the distance scan.
    distance_filter: Vec<(u64, u8, u8)>,
    /// Brand domains with k >= 1 by label length, ascending: the distance scan looks only at
    /// lengths within the largest k of the feed label's.
    distance_by_len: Vec<Vec<u32>>,
    /// The largest k of any brand domain.
    max_k: usize,
    /// Shortest and longest brand label with k >= 1 (labels outside +-2 skip the scan).
    min_label_len: usize,
    max_label_len: usize,
    own: FastSet<String>,
    allow: FastSet<String>,
    permutations: FastMap<String, (u32, Technique, Option<Technique>)>,
    skeletons: FastMap<String, Vec<u32>>,
    keywords: Vec<Keyword>,
    keyword_automaton: Option<AhoCorasick>,
}

fn auto_distance(label_len: usize) -> usize {
    match label_len {
        0..=5 => 0,
        6..=9 => 1,
        _ => 2,
    }
}

impl Matcher {
    /// Builds the matcher: permutations of every brand domain, skeletons, bigram and keyword
    /// indexes. Errors on an invalid brand domain or when there is nothing to match.
    pub fn new(brands: &[Brand], options: &MatchOptions) -> Result<Matcher, DomainError> {
        let mut m = Matcher {
            brand_names: Vec::new(),
            domains: Vec::new(),
            distance_filter: Vec::new(),
            distance_by_len: Vec::new(),
            max_k: 0,
            min_label_len: usize::MAX,
            max_label_len: 0,
            own: FastSet::default(),
            allow: FastSet::default(),
            permutations: FastMap::default(),
            skeletons: FastMap::default(),
            keywords: Vec::new(),
            keyword_automaton: None,
        };
        for a in &options.allow {
            let n = normalize_feed_domain(a).map(|(ascii, _)| ascii);
            m.allow.insert(n.unwrap_or_else(|| a.to_lowercase()));
        }
        let parsed: Vec<_> = brands
            .iter()
            .enumerate()
            .flat_map(|(bi, b)| b.domains.iter().map(move |d| (bi, d)))
            .map(|(bi, d)| parse_domain(d).map(|p| (bi, p)))
            .collect::<Result<_, _>>()?;
        for b in brands {
            let name = if b.name.is_empty() {
                b.domains
                    .first()
                    .cloned()
                    .unwrap_or_else(|| b.keywords.join("/"))
            } else {
                b.name.clone()
            };
            m.brand_names.push(name);
        }
        let perms: Vec<_> = parsed
            .par_iter()
            .map(|(_, p)| permute_parsed(p, &options.permutations))
            .collect();
        for ((bi, p), perm_list) in parsed.iter().zip(perms) {
            let idx = m.domains.len() as u32;
            let registrable = p.registrable_ascii();
            m.own.insert(registrable.clone());
            let chars: Vec<char> = p.label.chars().collect();
            let k = options
                .max_distance
                .unwrap_or_else(|| auto_distance(chars.len()));
            m.skeletons.entry(skeleton(&p.label)).or_default().push(idx);
            for perm in perm_list.into_iter().skip(1) {
                m.permutations
                    .entry(perm.domain)
                    .or_insert((idx, perm.technique, perm.second));
            }
            if k > 0 {
                m.min_label_len = m.min_label_len.min(chars.len());
                m.max_label_len = m.max_label_len.max(chars.len());
                m.max_k = m.max_k.max(k);
                if m.distance_by_len.len() <= chars.len() {
                    m.distance_by_len.resize(chars.len() + 1, Vec::new());
                }
                m.distance_by_len[chars.len()].push(idx);
            }
            m.distance_filter.push((
                signature(&chars),
                u8::try_from(chars.len()).unwrap_or(u8::MAX),
                u8::try_from(k).unwrap_or(u8::MAX),
            ));
            m.domains.push(BrandDomain {
                brand: *bi,
                ascii: registrable,
                label: p.label.clone(),
                label_chars: chars,
                max_distance: k,
            });
        }
        for (bi, b) in brands.iter().enumerate() {
            let first_domain = m.domains.iter().position(|d| d.brand == bi);
            let mut words: Vec<String> = b.keywords.iter().map(|k| k.to_lowercase()).collect();
            if words.is_empty() {
                words = m
                    .domains
                    .iter()
                    .filter(|d| d.brand == bi)
                    .map(|d| d.label.clone())
                    .collect();
            }
            for w in words.into_iter().filter(|w| !w.is_empty()) {
                let anywhere =
                    w.chars().count() >= options.keyword_anywhere_len && !is_english_word(&w);
                let inside_words = if anywhere {
                    ENGLISH
                        .iter()
                        .filter_map(|e| e.find(w.as_str()).map(|off| (*e, off)))
                        .collect()
                } else {
                    Vec::new()
                };
                m.keywords.push(Keyword {
                    inside_words,
                    brand: bi,
                    brand_domain: first_domain.unwrap_or(usize::MAX),
                    text: w,
                    anywhere,
                });
            }
        }
        if m.domains.is_empty() && m.keywords.is_empty() {
            return Err(DomainError::NoBrands);
        }
        if !m.keywords.is_empty() {
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(m.keywords.iter().map(|k| k.text.as_str()))
                .map_err(|e| DomainError::Inventory {
                    path: "keywords".into(),
                    reason: e.to_string(),
                })?;
            m.keyword_automaton = Some(automaton);
        }
        Ok(m)
    }

    /// Number of names in the permutation index.
    pub fn permutation_count(&self) -> usize {
        self.permutations.len()
    }

    /// Checks many domains in parallel (rayon); only the hits, with their index, in input order.
    /// Work is handed to rayon in pieces of [`PIECE`] domains, checked sequentially inside a
    /// piece: per-domain rayon plumbing cost about 10 % of a run.
    pub fn hits<S: AsRef<str> + Sync>(&self, domains: &[S]) -> Vec<(usize, Hit)> {
        if rayon::current_num_threads() == 1 {
            return self.hits_in(domains, 0);
        }
        let pieces: Vec<Vec<(usize, Hit)>> = domains
            .par_chunks(PIECE)
            .enumerate()
            .map(|(piece, chunk)| self.hits_in(chunk, piece * PIECE))
            .collect();
        pieces.into_iter().flatten().collect()
    }

    /// The hits among `domains`, checked on this thread, indexed from `first`.
    fn hits_in<S: AsRef<str>>(&self, domains: &[S], first: usize) -> Vec<(usize, Hit)> {
        domains
            .iter()
            .enumerate()
            .filter_map(|(i, d)| self.check(d.as_ref()).map(|h| (first + i, h)))
            .collect()
    }

    /// Checks many domains in parallel (rayon), results in input order.
    pub fn check_batch<S: AsRef<str> + Sync>(&self, domains: &[S]) -> Vec<Option<Hit>> {
        domains.par_iter().map(|d| self.check(d.as_ref())).collect()
    }

    /// Checks one feed domain.
    pub fn check(&self, raw: &str) -> Option<Hit> {
        let raw = raw.trim();
        let (ascii, unicode): (Cow<'_, str>, Cow<'_, str>) = if already_normal(raw) {
            (Cow::Borrowed(raw), Cow::Borrowed(raw))
        } else {
            let (a, u) = normalize_feed_domain(raw)?;
            (Cow::Owned(a), Cow::Owned(u))
        };
        let ascii: &str = &ascii;
        let unicode: &str = &unicode;
        // A name that is itself a public suffix (`barclays.sch.uk` under `*.sch.uk`, `cn.com`)
        // is looked up whole.
        let registrable = psl::domain_str(ascii).unwrap_or(ascii);
        if self.own.contains(registrable)
            || (!self.allow.is_empty()
                && (self.allow.contains(registrable) || self.allow.contains(ascii)))
        {
            return None;
        }
        let reg_labels = registrable.bytes().filter(|b| *b == b'.').count() + 1;
        let all_labels = ascii.bytes().filter(|b| *b == b'.').count() + 1;
        let label = unicode.split('.').nth(all_labels - reg_labels)?;
        if let Some(hit) = self.by_permutation(ascii, registrable, unicode, label) {
            return Some(hit);
        }
        if let Some(hit) = self.by_skeleton(ascii, unicode, label) {
            return Some(hit);
        }
        let mut stack = ['\0'; 64];
        let heap: Vec<char>;
        let chars: &[char] = if label.len() <= stack.len() {
            let mut n = 0;
            for (slot, c) in stack.iter_mut().zip(label.chars()) {
                *slot = c;
                n += 1;
            }
            &stack[..n]
        } else {
            heap = label.chars().collect();
            &heap
        };
        if let Some(hit) = self.by_distance(ascii, unicode, chars) {
            return Some(hit);
        }
        let suffix_len = registrable.len() - registrable.find('.').unwrap_or(0);
        let head = &ascii[..ascii.len() - suffix_len];
        self.by_keyword(ascii, unicode, head, chars)
    }

    fn hit(
        &self,
        domain_idx: usize,
        ascii: &str,
        unicode: &str,
        technique: MatchTechnique,
        distance: usize,
        explanation: String,
    ) -> Hit {
        let bd = &self.domains[domain_idx];
        Hit {
            domain: ascii.to_string(),
            unicode: unicode.to_string(),
            brand: self.brand_names[bd.brand].clone(),
            brand_domain: bd.ascii.clone(),
            technique,
            distance,
            score: score(technique, distance),
            explanation,
        }
    }

    fn by_permutation(
        &self,
        ascii: &str,
        registrable: &str,
        unicode: &str,
        label: &str,
    ) -> Option<Hit> {
        let mut name = ascii;
        loop {
            if let Some(&(idx, t, second)) = self.permutations.get(name) {
                let bd = &self.domains[idx as usize];
                let chars: Vec<char> = label.chars().collect();
                let distance = strsim::generic_damerau_levenshtein(&chars, &bd.label_chars);
                let via = if name == ascii {
                    String::new()
                } else {
                    format!(" (its parent {name})")
                };
                let tech = MatchTechnique::Permutation(t, second);
                let explanation = format!(
                    "{unicode}{via} is a {} permutation of {}, edit distance {distance}",
                    tech.name(),
                    bd.ascii
                );
                return Some(self.hit(idx as usize, ascii, unicode, tech, distance, explanation));
            }
            if name.len() <= registrable.len() {
                return None;
            }
            name = &name[name.find('.')? + 1..];
        }
    }

    fn by_skeleton(&self, ascii: &str, unicode: &str, label: &str) -> Option<Hit> {
        thread_local! {
            static SKELETON: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let found = if is_own_skeleton(label) {
            self.skeletons.get(label)
        } else {
            SKELETON.with_borrow_mut(|skel| {
                skeleton_into(label, skel);
                self.skeletons.get(skel.as_str())
            })
        };
        let idx = *found?.first()? as usize;
        // Only for the explanation of a hit (rare).
        let skel = skeleton(label);
        let bd = &self.domains[idx];
        let chars: Vec<char> = label.chars().collect();
        let chars = chars.as_slice();
        let distance = strsim::generic_damerau_levenshtein(chars, &bd.label_chars);
        let tech = if distance == 0 {
            MatchTechnique::Permutation(Technique::TldSwap, None)
        } else {
            MatchTechnique::Confusable
        };
        let explanation = if distance == 0 {
            format!(
                "{unicode} uses the brand label {label:?} of {} under another suffix",
                bd.ascii
            )
        } else {
            format!(
                "{unicode}: label {label:?} looks like {:?} of {} (same TS #39 confusable skeleton {skel:?}), edit distance {distance}",
                bd.label, bd.ascii
            )
        };
        Some(self.hit(idx, ascii, unicode, tech, distance, explanation))
    }

    fn by_distance(&self, ascii: &str, unicode: &str, chars: &[char]) -> Option<Hit> {
        let len = chars.len();
        if len + 2 < self.min_label_len || len > self.max_label_len + 2 {
            return None;
        }
        let sig = signature(chars);
        // The closest brand domain; among equally close ones the first in inventory order.
        let mut best: Option<(usize, usize)> = None;
        let end = (len + self.max_k + 1).min(self.distance_by_len.len());
        let buckets = self
            .distance_by_len
            .get(len.saturating_sub(self.max_k)..end)
            .unwrap_or_default();
        for &idx in buckets.iter().flatten() {
            let idx = idx as usize;
            let Some(&(bsig, blen, k)) = self.distance_filter.get(idx) else {
                continue;
            };
            let k = usize::from(k);
            if len.abs_diff(usize::from(blen)) > k || (sig ^ bsig).count_ones() as usize > 2 * k {
                continue;
            }
            let bd = &self.domains[idx];
            if let Some(d) = osa_within(chars, &bd.label_chars, k)
                && d > 0
                && best.is_none_or(|(best_idx, best_d)| (d, idx) < (best_d, best_idx))
            {
                best = Some((idx, d));
            }
        }
        let (idx, d) = best?;
        let label: String = chars.iter().collect();
        if is_english_word(&label) {
            return None;
        }
        let bd = &self.domains[idx];
        let explanation = format!(
            "{unicode}: label {label:?} is {d} edit(s) from {:?} of {} (limit {})",
            bd.label, bd.ascii, bd.max_distance
        );
        Some(self.hit(
            idx,
            ascii,
            unicode,
            MatchTechnique::EditDistance,
            d,
            explanation,
        ))
    }

    fn by_keyword(&self, ascii: &str, unicode: &str, head: &str, chars: &[char]) -> Option<Hit> {
        let automaton = self.keyword_automaton.as_ref()?;
        let bytes = head.as_bytes();
        for m in automaton.find_overlapping_iter(head) {
            let kw = &self.keywords[m.pattern().as_usize()];
            let anchored = (kw.anywhere
                && !inside_english_word(bytes, m.start(), &kw.inside_words))
                || (is_boundary(bytes, m.start().checked_sub(1))
                    && is_boundary(bytes, Some(m.end())));
            if !anchored {
                continue;
            }
            let idx = if kw.brand_domain == usize::MAX {
                None
            } else {
                Some(kw.brand_domain)
            };
            let distance = idx
                .map(|i| strsim::generic_damerau_levenshtein(chars, &self.domains[i].label_chars))
                .unwrap_or(0);
            let rule = if kw.anywhere {
                "anywhere"
            } else {
                "as a whole token"
            };
            let explanation = format!(
                "{unicode} contains the brand keyword {:?} ({rule})",
                kw.text
            );
            return Some(match idx {
                Some(i) => self.hit(
                    i,
                    ascii,
                    unicode,
                    MatchTechnique::Keyword,
                    distance,
                    explanation,
                ),
                None => Hit {
                    domain: ascii.to_string(),
                    unicode: unicode.to_string(),
                    brand: self.brand_names[kw.brand].clone(),
                    brand_domain: String::new(),
                    technique: MatchTechnique::Keyword,
                    distance,
                    score: score(MatchTechnique::Keyword, distance),
                    explanation,
                },
            });
        }
        None
    }
}

/// Optimal-string-alignment distance (Damerau-Levenshtein with adjacent transpositions, no
/// edits inside a transposed pair) if it is at most `k`. Hand-written because strsim allocates
/// its rows and has no early exit; this runs on stack rows and stops when a row exceeds `k`.
fn osa_within(a: &[char], b: &[char], k: usize) -> Option<usize> {
    const MAX: usize = 64;
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > k {
        return None;
    }
    if n >= MAX || m >= MAX {
        let d = strsim::generic_damerau_levenshtein(a, b);
        return (d <= k).then_some(d);
    }
    let mut prev2 = [0usize; MAX];
    let mut prev = [0usize; MAX];
    let mut cur = [0usize; MAX];
    for (j, slot) in prev.iter_mut().enumerate().take(m + 1) {
        *slot = j;
    }
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > k {
            return None;
        }
        prev2 = prev;
        prev = cur;
    }
    (prev[m] <= k).then_some(prev[m])
}

/// True when the keyword found at `start` is part of one of the English words containing it.
fn inside_english_word(bytes: &[u8], start: usize, words: &[(&str, usize)]) -> bool {
    words.iter().any(|(word, off)| {
        start
            .checked_sub(*off)
            .and_then(|s| bytes.get(s..s + word.len()))
            .is_some_and(|slice| slice == word.as_bytes())
    })
}

fn is_boundary(bytes: &[u8], at: Option<usize>) -> bool {
    match at {
        None => true,
        Some(i) => bytes.get(i).is_none_or(|b| matches!(b, b'.' | b'-' | b'_')),
    }
}

/// How deceptive a hit is, 0-100.
fn score(t: MatchTechnique, distance: usize) -> u8 {
    let base: u8 = match t {
        MatchTechnique::Permutation(t, second) => {
            let b = match t {
                Technique::Homoglyph | Technique::Cyrillic => 95,
                Technique::Subdomain
                | Technique::MissingDot
                | Technique::DotToDash
                | Technique::DotShift
                | Technique::TldGlue
                | Technique::Various => 85,
                Technique::TldSwap | Technique::WrongSld | Technique::AllSld => 80,
                Technique::Prefix | Technique::Suffix | Technique::Dictionary => 75,
                _ => 90,
            };
            if second.is_some() { b - 10 } else { b }
        }
        MatchTechnique::Confusable => 95,
        MatchTechnique::EditDistance => 85,
        MatchTechnique::Keyword => 60,
    };
    let penalty = match t {
        MatchTechnique::EditDistance => (distance.saturating_sub(1) * 10) as u8,
        _ => 0,
    };
    base.saturating_sub(penalty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(domains: &[&str]) -> Matcher {
        let brands: Vec<Brand> = domains.iter().map(|d| Brand::from_domain(d)).collect();
        Matcher::new(&brands, &MatchOptions::default()).unwrap()
    }

    #[test]
    fn own_domains_and_allow_list_are_quiet() {
        let brands = vec![Brand::from_domain("paypal.com")];
        let m = Matcher::new(
            &brands,
            &MatchOptions {
                allow: vec!["paypal-community.com".into()],
                ..MatchOptions::default()
            },
        )
        .unwrap();
        assert!(m.check("paypal.com").is_none());
        assert!(m.check("www.PayPal.com.").is_none());
        assert!(m.check("paypal-community.com").is_none());
        assert!(m.check("example.org").is_none());
    }

    #[test]
    fn names_that_are_public_suffixes_are_looked_up_whole() {
        let m = matcher(&["barclays.co.uk", "bing.com"]);
        let h = m.check("barclays.sch.uk").unwrap();
        assert_eq!(
            h.technique,
            MatchTechnique::Permutation(Technique::WrongSld, None)
        );
        assert!(m.check("bing.jm").is_some());
    }

    #[test]
    fn each_rule_explains_itself() {
        let m = matcher(&["paypal.com", "ups.com", "threatstream.com"]);
        let h = m.check("paypa1.com").unwrap();
        assert_eq!(
            h.technique,
            MatchTechnique::Permutation(Technique::Homoglyph, None)
        );
        assert_eq!((h.brand_domain.as_str(), h.distance), ("paypal.com", 1));
        assert!(
            h.explanation
                .contains("homoglyph permutation of paypal.com"),
            "{}",
            h.explanation
        );

        let h = m.check("login.paypa1.com").unwrap();
        assert!(
            h.explanation.contains("its parent paypa1.com"),
            "{}",
            h.explanation
        );

        // Not generated (two edits in different places), but the skeleton is the same.
        let h = m.check("xn--pypl-53dc.net").unwrap();
        assert_eq!(h.technique, MatchTechnique::Confusable, "{h:?}");

        let h = m.check("my-threatstream-x.info").unwrap();
        assert_eq!(h.technique, MatchTechnique::Keyword, "{h:?}");
        let h = m.check("thretstrem.biz").unwrap();
        assert_eq!(h.technique, MatchTechnique::EditDistance, "{h:?}");
        assert_eq!(h.distance, 2);

        let h = m.check("ups-tracking.info").unwrap();
        assert_eq!(h.technique, MatchTechnique::Keyword);
        assert!(h.explanation.contains("whole token"), "{}", h.explanation);
        assert!(
            m.check("groups.info").is_none(),
            "short keyword must be anchored"
        );
        assert!(
            m.check("secure-threatstreamportal.net").is_some(),
            "long keyword anywhere"
        );
    }

    #[test]
    fn english_word_keywords_and_labels_need_more() {
        let m = matcher(&["target.com", "apple.com", "docusign.com"]);
        assert!(
            m.check("targeting.info").is_none(),
            "English keyword inside a word"
        );
        let h = m.check("target-giftcards.info").unwrap();
        assert_eq!(h.technique, MatchTechnique::Keyword);
        assert!(m.check("applet.ru").is_none(), "k is 0 for five letters");
        let m2 = matcher(&["anomali.com"]);
        assert!(
            m2.check("obviousanomalies.net").is_none(),
            "keyword inside an English word"
        );
        assert!(m2.check("anomali-login.net").is_some());
        assert!(m2.check("myanomaliportal.net").is_some());
        assert!(
            m.check("focusing.de").is_none(),
            "an English word is not a lookalike label"
        );
        let h = m.check("docus\u{456}gn.info").unwrap();
        assert_eq!(h.technique, MatchTechnique::Confusable, "{h:?}");
        let h = m.check("docusing.info").unwrap();
        assert_eq!(h.technique, MatchTechnique::EditDistance, "{h:?}");
    }

    #[test]
    fn bounded_osa_distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(osa_within(&c("threatstream"), &c("thretstrem"), 2), Some(2));
        assert_eq!(osa_within(&c("paypal"), &c("pyapal"), 1), Some(1));
        assert_eq!(osa_within(&c("paypal"), &c("google"), 2), None);
        assert_eq!(osa_within(&c("abc"), &c("abc"), 0), Some(0));
    }

    #[test]
    fn inventory_parses_and_reports_lines() {
        let inv = Inventory::parse(
            "allow = [\"a.com\"]\n[[brand]]\nname = \"Anomali\"\ndomains = [\"anomali.com\", \"threatstream.com\"]\nkeywords = [\"anomali\"]\n",
        )
        .unwrap();
        assert_eq!(inv.brands[0].domains.len(), 2);
        let err = Inventory::parse("[[brand]]\nname = \"x\"\ndomain = [\"a.com\"]\n").unwrap_err();
        assert!(err.starts_with("line 3"), "{err}");
    }
}
