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

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::hash_table::{Entry, HashTable};

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::DomainError;
use crate::name::{normalize_feed_domain, parse_domain};
use crate::permute::{NameRef, Names, Options, Technique, permute_names};
use crate::skeleton::{
    ASCII_SKELETON_BUF, is_own_skeleton, skeleton, skeleton_ascii, skeleton_into,
};

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

/// Byte classes for [`already_normal`]: 0 not allowed, 1 allowed, 2 `-`.
static NORMAL_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'_' {
            t[b] = 1;
        }
        b += 1;
    }
    t[b'-' as usize] = 2;
    t
};

/// True for names that need no normalisation: lowercase LDH (and `_`), no `xn--`.
fn already_normal(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > crate::name::MAX_NAME_LEN {
        return false;
    }
    let mut seen = 0u8;
    for &b in bytes {
        let class = NORMAL_BYTES[usize::from(b)];
        if class == 0 {
            return false;
        }
        seen |= class;
    }
    !bytes.ends_with(b".")
        && !bytes.starts_with(b"*.")
        // `xn--` needs a `-`: most names have none.
        && (seen & 2 == 0 || !bytes.windows(4).any(|w| w == b"xn--"))
}

/// `psl::domain_str` without its UTF-8 re-validation: the registrable domain is a suffix of
/// `ascii` (without the trailing dot of a fully qualified name).
fn registrable_domain(ascii: &str) -> Option<&str> {
    let len = psl::domain(ascii.as_bytes())?.trim().as_bytes().len();
    let end = ascii.len() - usize::from(ascii.ends_with('.'));
    ascii.get(end.checked_sub(len)?..end)
}

/// The offset of the first `.` (a byte loop: names are short, `str::find` sets up a searcher).
fn first_dot(s: &str) -> Option<usize> {
    s.bytes().position(|b| b == b'.')
}

/// The Unicode form of the first label of `registrable` (a suffix of `ascii`, the ASCII form
/// of `unicode`). When both forms are the same text it is sliced out directly; otherwise it
/// is found by counting labels.
fn registrable_label<'u>(ascii: &str, unicode: &'u str, registrable: &str) -> Option<&'u str> {
    if (std::ptr::eq(ascii, unicode) || ascii == unicode) && ascii.ends_with(registrable) {
        let start = ascii.len() - registrable.len();
        if start == 0 || ascii.as_bytes().get(start - 1) == Some(&b'.') {
            let own = unicode.get(start..)?;
            return own.get(..first_dot(own).unwrap_or(own.len()));
        }
    }
    let reg_labels = registrable.bytes().filter(|b| *b == b'.').count() + 1;
    let all_labels = ascii.bytes().filter(|b| *b == b'.').count() + 1;
    unicode.split('.').nth(all_labels.checked_sub(reg_labels)?)
}

/// The first `n` bytes of every keyword (`n`: the shortest keyword's length, at most 3) as a
/// 65,536-bit set of their hashes. A name none of whose `n`-byte windows is in the set contains
/// no keyword, so most names skip the Aho-Corasick search (it cost ~300 instructions a name).
#[derive(Default)]
struct KeywordStarts {
    n: usize,
    bits: Vec<u64>,
}

impl KeywordStarts {
    const BITS: usize = 1 << 16;

    fn new(keywords: &[Keyword]) -> KeywordStarts {
        let n = keywords
            .iter()
            .map(|k| k.text.len())
            .min()
            .unwrap_or(0)
            .min(3);
        let mut bits = vec![0u64; Self::BITS / 64];
        for k in keywords {
            if let Some(start) = k.text.as_bytes().get(..n) {
                let h = Self::hash(start);
                bits[h / 64] |= 1 << (h % 64);
            }
        }
        KeywordStarts { n, bits }
    }

    fn hash(window: &[u8]) -> usize {
        let x = window.iter().fold(0u32, |x, &b| (x << 8) | u32::from(b));
        (x.wrapping_mul(0x9e37_79b1) >> 16) as usize
    }

    /// False only when no keyword can occur in `bytes`.
    fn may_occur_in(&self, bytes: &[u8]) -> bool {
        if self.n == 0 {
            return true;
        }
        bytes.windows(self.n).any(|w| {
            let h = Self::hash(w);
            self.bits
                .get(h / 64)
                .is_some_and(|word| word & (1 << (h % 64)) != 0)
        })
    }
}

/// The brand domains with one edit-distance limit `k` that the scan compares a feed label of
/// one length with: their label [`signature`]s packed together (the loop over them is the
/// scan's inner loop) and their indexes into `Matcher::domains`.
#[derive(Debug, Clone, Default)]
struct DistanceGroup {
    k: usize,
    signatures: Vec<u64>,
    domains: Vec<u32>,
}

impl DistanceGroup {
    /// Calls `found(domain)` for each brand domain whose signature differs from `sig` in at
    /// most `2k` bits (labels within `k` edits always do).
    fn each_near(&self, sig: u64, mut found: impl FnMut(usize)) {
        let clear = |x: u64| x & x.wrapping_sub(1);
        // The automatic limits (k = 1, 2) unrolled; the match is outside the loop.
        match self.k {
            1 => self.each_passing(sig, |x| clear(clear(x)) == 0, &mut found),
            2 => self.each_passing(sig, |x| clear(clear(clear(clear(x)))) == 0, &mut found),
            k => {
                let n = u32::try_from(2 * k).unwrap_or(u32::MAX);
                self.each_passing(sig, |x| bits_at_most(x, n), &mut found)
            }
        }
    }

    fn each_passing(&self, sig: u64, pass: impl Fn(u64) -> bool, found: &mut impl FnMut(usize)) {
        for (&other, &domain) in self.signatures.iter().zip(&self.domains) {
            if pass(sig ^ other) {
                found(domain as usize);
            }
        }
    }
}

/// True when `x` has at most `n` bits set (clears the lowest set bit up to `n` times: cheaper
/// than `count_ones` without the `popcnt` instruction, which the baseline x86-64 target lacks).
fn bits_at_most(mut x: u64, n: u32) -> bool {
    for _ in 0..n {
        if x == 0 {
            return true;
        }
        x &= x - 1;
    }
    x == 0
}

/// One name of the permutation index: where its ASCII form is in the index text, the brand
/// domain it imitates and how it was made.
#[derive(Debug, Clone, Copy)]
struct PermutationName {
    start: u32,
    len: u32,
    domain: u32,
    technique: Technique,
    second: Option<Technique>,
}

/// Every brand domain's permutations (ASCII forms), for exact lookup: the names back to back
/// in one text, a hash table of offsets into it (no allocation per name: with a `String` key
/// per name, allocating and freeing 730 k of them was most of building the 100-brand matcher).
/// A name made for several brand domains belongs to the first.
#[derive(Default)]
struct PermutationIndex {
    text: String,
    table: HashTable<PermutationName>,
    filter: HashFilter,
    state: FixedState,
}

impl PermutationIndex {
    /// Indexes every name but the first (the original) of each brand domain's `Names`, the
    /// brand domains numbered in order.
    fn new(per_domain: &[Names]) -> Result<PermutationIndex, DomainError> {
        let total: usize = per_domain.iter().map(|n| n.len().saturating_sub(1)).sum();
        let mut index = PermutationIndex {
            text: String::with_capacity(total * 16),
            table: HashTable::with_capacity(total),
            filter: HashFilter::with_capacity(total),
            state: FixedState::default(),
        };
        for (domain, names) in per_domain.iter().enumerate() {
            for name in names.iter().skip(1) {
                index.insert(domain, name)?;
            }
        }
        Ok(index)
    }

    /// Adds `name` made for brand domain `domain` unless it is already there.
    fn insert(&mut self, domain: usize, name: NameRef<'_>) -> Result<(), DomainError> {
        let too_big = || DomainError::Inventory {
            path: "brands".into(),
            reason: "the permutation index exceeds 4 GiB".into(),
        };
        let h = self.state.hash_one(name.domain);
        let start = self.text.len();
        let entry = PermutationName {
            start: u32::try_from(start).map_err(|_| too_big())?,
            len: u32::try_from(name.domain.len()).map_err(|_| too_big())?,
            domain: u32::try_from(domain).map_err(|_| too_big())?,
            technique: name.technique,
            second: name.second,
        };
        u32::try_from(start + name.domain.len()).map_err(|_| too_big())?;
        let (text, state) = (&self.text, &self.state);
        if let Entry::Vacant(slot) = self.table.entry(
            h,
            |p| slice(text, p) == name.domain,
            |p| state.hash_one(slice(text, p)),
        ) {
            slot.insert(entry);
            self.text.push_str(name.domain);
            self.filter.insert(h);
        }
        Ok(())
    }

    /// The entry of `name`, if it is a permutation.
    fn get(&self, name: &str) -> Option<&PermutationName> {
        let h = self.state.hash_one(name);
        if !self.filter.may_contain(h) {
            return None;
        }
        // The length first: it is in the entry, the text is another cache miss.
        self.table.find(h, |p| {
            p.len as usize == name.len() && slice(&self.text, p).as_bytes() == name.as_bytes()
        })
    }

    fn len(&self) -> usize {
        self.table.len()
    }
}

/// A blocked Bloom filter over the permutation index's hashes: four bits in one 64-byte block
/// per name, about 11 bits per name. Most feed names are in no permutation set; this says so
/// for ~99 % of them from one cache line, where the hash table's 7-bit tags let ~10 % through to
/// a second, uncached load (the entry) that was a fifth of the check time. Hand-written (30
/// lines) because it reuses the hash the table needs anyway; Bloom filter crates hash again.
#[derive(Default)]
struct HashFilter {
    blocks: Vec<[u64; 8]>,
}

impl HashFilter {
    fn with_capacity(names: usize) -> HashFilter {
        HashFilter {
            blocks: vec![[0; 8]; (names * 8 / 512).max(1).next_power_of_two()],
        }
    }

    /// The block of `h` and its four bits in it (word, mask).
    fn probes(&self, h: u64) -> (usize, [(usize, u64); 4]) {
        let block = (h >> 24) as usize & (self.blocks.len().max(1) - 1);
        let g = h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 28;
        let bit = |i: u32| {
            let pos = (g >> (9 * i)) as usize & 511;
            (pos / 64, 1u64 << (pos % 64))
        };
        (block, [bit(0), bit(1), bit(2), bit(3)])
    }

    fn insert(&mut self, h: u64) {
        let (block, bits) = self.probes(h);
        if let Some(words) = self.blocks.get_mut(block) {
            for (word, mask) in bits {
                words[word] |= mask;
            }
        }
    }

    /// False only when `h` was never inserted.
    fn may_contain(&self, h: u64) -> bool {
        let (block, bits) = self.probes(h);
        self.blocks
            .get(block)
            .is_none_or(|words| bits.iter().all(|&(word, mask)| words[word] & mask != 0))
    }
}

/// The text of an index entry.
fn slice<'t>(text: &'t str, p: &PermutationName) -> &'t str {
    let start = p.start as usize;
    text.get(start..start + p.len as usize).unwrap_or_default()
}

/// Feed domains per rayon work item in [`Matcher::hits`].
const PIECE: usize = 1024;

/// The matcher. Build once, share across threads (`Sync`).
pub struct Matcher {
    brand_names: Vec<String>,
    domains: Vec<BrandDomain>,
    /// For each feed label length (in characters), the brand domains whose label length is
    /// within their k of it: the distance scan looks at nothing else.
    distance_candidates: Vec<Vec<DistanceGroup>>,
    /// Shortest and longest brand label with k >= 1: labels more than two characters outside
    /// skip the scan (also with a larger `--max-distance`, as always).
    min_label_len: usize,
    max_label_len: usize,
    own: FastSet<String>,
    allow: FastSet<String>,
    permutations: PermutationIndex,
    skeletons: FastMap<String, Vec<u32>>,
    keywords: Vec<Keyword>,
    keyword_automaton: Option<AhoCorasick>,
    keyword_starts: KeywordStarts,
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
            distance_candidates: Vec::new(),
            min_label_len: usize::MAX,
            max_label_len: 0,
            own: FastSet::default(),
            allow: FastSet::default(),
            permutations: PermutationIndex::default(),
            skeletons: FastMap::default(),
            keywords: Vec::new(),
            keyword_automaton: None,
            keyword_starts: KeywordStarts::default(),
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
        let perms: Vec<Names> = parsed
            .par_iter()
            .map(|(_, p)| permute_names(p, &options.permutations))
            .collect();
        m.permutations = PermutationIndex::new(&perms)?;
        drop(perms);
        for (bi, p) in &parsed {
            let idx = m.domains.len() as u32;
            let registrable = p.registrable_ascii();
            m.own.insert(registrable.clone());
            let chars: Vec<char> = p.label.chars().collect();
            let k = options
                .max_distance
                .unwrap_or_else(|| auto_distance(chars.len()));
            m.skeletons.entry(skeleton(&p.label)).or_default().push(idx);
            m.add_distance_candidate(idx, &chars, k);
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
                m.keywords.push(Keyword {
                    inside_words: Vec::new(),
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
        find_inside_words(&mut m.keywords)?;
        if !m.keywords.is_empty() {
            let automaton = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(m.keywords.iter().map(|k| k.text.as_str()))
                .map_err(|e| DomainError::Inventory {
                    path: "keywords".into(),
                    reason: e.to_string(),
                })?;
            m.keyword_automaton = Some(automaton);
            m.keyword_starts = KeywordStarts::new(&m.keywords);
        }
        Ok(m)
    }

    /// Lists brand domain `idx` (label `chars`, limit `k`) under every feed label length
    /// within `k` of its own (none when `k` is 0).
    fn add_distance_candidate(&mut self, idx: u32, chars: &[char], k: usize) {
        if k == 0 {
            return;
        }
        self.min_label_len = self.min_label_len.min(chars.len());
        self.max_label_len = self.max_label_len.max(chars.len());
        // No label is longer than a name.
        let longest = (chars.len() + k).min(crate::name::MAX_NAME_LEN);
        if self.distance_candidates.len() <= longest {
            self.distance_candidates.resize(longest + 1, Vec::new());
        }
        let sig = signature(chars);
        for len in chars.len().saturating_sub(k)..=longest {
            let Some(groups) = self.distance_candidates.get_mut(len) else {
                continue;
            };
            if !groups.iter().any(|g| g.k == k) {
                groups.push(DistanceGroup {
                    k,
                    ..DistanceGroup::default()
                });
            }
            if let Some(group) = groups.iter_mut().find(|g| g.k == k) {
                group.signatures.push(sig);
                group.domains.push(idx);
            }
        }
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
        let registrable = registrable_domain(ascii).unwrap_or(ascii);
        if self.own.contains(registrable)
            || (!self.allow.is_empty()
                && (self.allow.contains(registrable) || self.allow.contains(ascii)))
        {
            return None;
        }
        let label = registrable_label(ascii, unicode, registrable)?;
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
        let suffix_len = registrable.len() - first_dot(registrable).unwrap_or(0);
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
            if let Some(&PermutationName {
                domain: idx,
                technique: t,
                second,
                ..
            }) = self.permutations.get(name)
            {
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
            name = &name[first_dot(name)? + 1..];
        }
    }

    fn by_skeleton(&self, ascii: &str, unicode: &str, label: &str) -> Option<Hit> {
        thread_local! {
            static SKELETON: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let found = if is_own_skeleton(label) {
            self.skeletons.get(label)
        } else {
            let mut buf = [0u8; ASCII_SKELETON_BUF];
            match skeleton_ascii(label, &mut buf) {
                Some(skel) => self.skeletons.get(skel),
                None => SKELETON.with_borrow_mut(|skel| {
                    skeleton_into(label, skel);
                    self.skeletons.get(skel.as_str())
                }),
            }
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
        let groups = self.distance_candidates.get(len)?;
        if groups.is_empty() {
            return None;
        }
        let sig = signature(chars);
        // The closest brand domain; among equally close ones the first in inventory order.
        let mut best: Option<(usize, usize)> = None;
        for group in groups {
            group.each_near(sig, |idx| {
                let bd = &self.domains[idx];
                if let Some(d) = osa_within(chars, &bd.label_chars, group.k)
                    && d > 0
                    && best.is_none_or(|(best_idx, best_d)| (d, idx) < (best_d, best_idx))
                {
                    best = Some((idx, d));
                }
            });
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
        if !self.keyword_starts.may_occur_in(bytes) {
            return None;
        }
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
    // Three rows of bytes (every value is at most MAX), rotated by swapping references
    // (copying two 512-byte rows per row was a visible share of the scan).
    let mut rows = [[0u8; MAX]; 3];
    let [prev2, prev, cur] = &mut rows;
    let (mut prev2, mut prev, mut cur) = (prev2, prev, cur);
    for (j, slot) in (0u8..).zip(prev.iter_mut()).take(m + 1) {
        *slot = j;
    }
    let k8 = u8::try_from(k).unwrap_or(u8::MAX);
    for (i, row) in (1..=n).zip(1u8..) {
        cur[0] = row;
        let mut row_min = row;
        for j in 1..=m {
            let cost = u8::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > k8 {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= k8).then_some(usize::from(prev[m]))
}

/// Fills each anywhere-keyword's `inside_words`: the English words containing it, with the
/// offset of its first occurrence. One Aho-Corasick pass over the word list (searching each
/// keyword in each of the 13.6 k words was a tenth of building the matcher).
fn find_inside_words(keywords: &mut [Keyword]) -> Result<(), DomainError> {
    let mut texts: Vec<&str> = Vec::new();
    let mut users: Vec<Vec<usize>> = Vec::new();
    for (i, kw) in keywords.iter().enumerate().filter(|(_, k)| k.anywhere) {
        match texts.iter().position(|t| *t == kw.text) {
            Some(p) => users[p].push(i),
            None => {
                texts.push(&kw.text);
                users.push(vec![i]);
            }
        }
    }
    if texts.is_empty() {
        return Ok(());
    }
    let automaton = AhoCorasick::new(&texts).map_err(|e| DomainError::Inventory {
        path: "keywords".into(),
        reason: e.to_string(),
    })?;
    let mut found: Vec<(&'static str, usize, usize)> = Vec::new();
    for word in ENGLISH.iter() {
        let first_in_word = found.len();
        // Overlapping matches come by end offset: a pattern's first report is its first
        // occurrence (what `str::find` gives).
        for m in automaton.find_overlapping_iter(*word) {
            let p = m.pattern().as_usize();
            if !found[first_in_word..].iter().any(|f| f.2 == p) {
                found.push((word, m.start(), p));
            }
        }
    }
    for (word, offset, p) in found {
        for &i in &users[p] {
            keywords[i].inside_words.push((word, offset));
        }
    }
    Ok(())
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
        // Agrees with strsim's OSA distance wherever that is within k.
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "paypal",
            "pyapal",
            "paypa1",
            "threatstream",
            "thretstrem",
            "ca",
            "abc",
            "acb",
            "microsoft",
            "rnicrosoft",
            "xn--pypal-4ve",
            "аррӏе",
        ];
        for a in words {
            for b in words {
                let d = strsim::osa_distance(a, b);
                for k in 0..4 {
                    let want = (d <= k).then_some(d);
                    assert_eq!(osa_within(&c(a), &c(b), k), want, "{a} {b} {k}");
                }
            }
        }
    }

    /// Labels from names of the shapes feeds carry, for the helpers below.
    const SAMPLE_NAMES: &[&str] = &[
        "paypal.com",
        "www.paypal.com",
        "a.b.c.paypal.co.uk",
        "barclays.sch.uk",
        "cn.com",
        "com",
        "paypal.com.",
        "x..com",
        ".com",
        "xn--80ak6aa92e.com",
        "login-xn--secure.net",
        "my_host.example.org",
        "*.wild.example.com",
        "UPPER.example.com",
        "a-b-c.d-e.f",
        "blogspot.com",
        "foo.blogspot.com",
    ];

    #[test]
    fn registrable_domain_is_psl_domain_str() {
        for name in SAMPLE_NAMES {
            assert_eq!(registrable_domain(name), psl::domain_str(name), "{name}");
        }
    }

    #[test]
    fn registrable_label_counts_labels_like_before() {
        let by_counting = |ascii: &str, unicode: &str, registrable: &str| {
            let reg_labels = registrable.bytes().filter(|b| *b == b'.').count() + 1;
            let all_labels = ascii.bytes().filter(|b| *b == b'.').count() + 1;
            unicode
                .split('.')
                .nth(all_labels.checked_sub(reg_labels)?)
                .map(str::to_string)
        };
        for name in SAMPLE_NAMES {
            let registrable = psl::domain_str(name).unwrap_or(name);
            assert_eq!(
                registrable_label(name, name, registrable).map(str::to_string),
                by_counting(name, name, registrable),
                "{name}"
            );
        }
        let (ascii, unicode) = ("www.xn--80ak6aa92e.com", "www.аррӏе.com");
        assert_eq!(
            registrable_label(ascii, unicode, "xn--80ak6aa92e.com"),
            Some("аррӏе")
        );
    }

    #[test]
    fn already_normal_is_the_plain_definition() {
        let plain = |name: &str| {
            !name.is_empty()
                && name.len() <= crate::name::MAX_NAME_LEN
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
                })
                && !name.ends_with('.')
                && !name.starts_with("*.")
                && !name.contains("xn--")
        };
        let long = "a".repeat(254);
        for name in SAMPLE_NAMES
            .iter()
            .copied()
            .chain(["", "é.com", long.as_str(), "a-.com"])
        {
            assert_eq!(already_normal(name), plain(name), "{name}");
        }
    }

    #[test]
    fn bit_limits_agree_with_count_ones() {
        for x in [
            0u64,
            1,
            3,
            7,
            15,
            31,
            0x8000_0000_0000_0001,
            u64::MAX,
            0b1010_1000,
        ] {
            for n in 0..8 {
                assert_eq!(bits_at_most(x, n), x.count_ones() <= n, "{x:#x} {n}");
            }
        }
    }

    #[test]
    fn prefilters_never_drop_a_present_key() {
        let mut filter = HashFilter::with_capacity(1000);
        let state = FixedState::default();
        let names: Vec<String> = (0..1000).map(|i| format!("name{i}.com")).collect();
        for n in &names {
            filter.insert(state.hash_one(n.as_str()));
        }
        assert!(
            names
                .iter()
                .all(|n| filter.may_contain(state.hash_one(n.as_str())))
        );
        let absent = (0..1000)
            .filter(|i| filter.may_contain(state.hash_one(format!("other{i}.net").as_str())))
            .count();
        assert!(absent < 100, "{absent} false positives of 1000");

        let m = matcher(&["paypal.com", "ups.com", "x.com"]);
        for head in ["paypal", "my-ups", "xyz", "ox", "securepaypallogin"] {
            assert!(m.keyword_starts.may_occur_in(head.as_bytes()), "{head}");
        }
        assert!(!m.keyword_starts.may_occur_in(b""));
        let m = matcher(&["paypal.com", "ups.com"]);
        assert!(!m.keyword_starts.may_occur_in(b"groq"));
        assert!(
            !m.keyword_starts.may_occur_in(b"up"),
            "shorter than every keyword"
        );
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
