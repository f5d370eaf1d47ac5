//! Permutation engine: every dnstwist fuzzer with its rules, every urlcrazy typo, and the seed's
//! token, dot and TLD tricks, deduplicated with the first technique kept.
//!
//! Hand-written because no crate generates lookalike domains; the tables it uses are data files
//! (see `data.rs`). Label techniques work on the Unicode label (as dnstwist does, so IDN input
//! gets Unicode edits); for IDN input the ASCII typos are also applied to the `xn--` form (as
//! urlcrazy does) and kept when they decode to a valid label.

use std::collections::{HashMap, HashSet};
use std::fmt;

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use serde::Serialize;
use std::hash::BuildHasher;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::DomainError;
use crate::data;
use crate::name::{self, DomainName};

macro_rules! techniques {
    ($($variant:ident => $name:literal: $doc:literal,)*) => {
        /// A way of making a lookalike name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Technique {
            $(#[doc = $doc] $variant,)*
        }

        impl Technique {
            /// Every technique, in generation order.
            pub const ALL: &'static [Technique] = &[$(Technique::$variant,)*];

            /// The technique's name as printed (dnstwist's names where dnstwist has it).
            pub fn name(self) -> &'static str {
                match self {
                    $(Technique::$variant => $name,)*
                }
            }

            /// Looks a technique up by its printed name.
            pub fn from_name(name: &str) -> Option<Technique> {
                match name {
                    $($name => Some(Technique::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

techniques! {
    Original => "*original": "The input itself.",
    Addition => "addition": "A letter or digit appended (dnstwist).",
    Bitsquatting => "bitsquatting": "One bit flipped in one character.",
    Cyrillic => "cyrillic": "Every Latin letter swapped for its Cyrillic twin.",
    Homoglyph => "homoglyph": "Look-alike characters (ASCII, per-suffix Unicode, urlcrazy's pairs).",
    Hyphenation => "hyphenation": "A hyphen inserted.",
    Insertion => "insertion": "A neighbouring key inserted (four keyboards).",
    Omission => "omission": "A character left out.",
    Plural => "plural": "dnstwist's inner plural (an `s`/`es` inserted).",
    Repetition => "repetition": "A character doubled.",
    Replacement => "replacement": "A character replaced by a neighbouring key (four keyboards).",
    Subdomain => "subdomain": "A dot inserted inside the label.",
    Transposition => "transposition": "Two neighbouring characters swapped.",
    VowelSwap => "vowel-swap": "A vowel replaced by another vowel.",
    Dictionary => "dictionary": "A dictionary word glued on (dnstwist's english.dict).",
    TldSwap => "tld-swap": "Another suffix (dnstwist's, urlcrazy's, IANA and abused TLD lists).",
    Various => "various": "dnstwist's suffix and subdomain tricks.",
    DoubleReplacement => "double-replacement": "A character replaced by a neighbouring key, twice (urlcrazy).",
    StripDashes => "strip-dashes": "Hyphens removed (urlcrazy).",
    SingularPlural => "singular-plural": "Singular or plural of the label (urlcrazy).",
    Misspelling => "misspelling": "A word inside the label replaced by a common misspelling.",
    Homophone => "homophone": "A word inside the label replaced by a homophone.",
    WrongSld => "wrong-sld": "Another second-level domain of the same country (urlcrazy).",
    AllSld => "all-sld": "Any country's second-level domain (urlcrazy).",
    Prefix => "prefix": "A deceptive token before the label (with or without hyphen).",
    Suffix => "suffix": "A deceptive token after the label (with or without hyphen).",
    MissingDot => "missing-dot": "A dot dropped between labels (wwwexample.com).",
    DotToDash => "dot-to-dash": "A dot turned into a hyphen, then another TLD.",
    TldGlue => "tld-glue": "The TLD glued onto the label, then another TLD (examplecom.us).",
    DotShift => "dot-shift": "The dot shifted into the TLD (examplec.om).",
    AceTypo => "ace-typo": "A typo in the xn-- form of an IDN label (urlcrazy's view).",
}

impl fmt::Display for Technique {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Technique {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Techniques that edit the label one character at a time; `--depth 2` chains two of them.
pub const EDIT_TECHNIQUES: &[Technique] = &[
    Technique::Addition,
    Technique::Bitsquatting,
    Technique::Hyphenation,
    Technique::Insertion,
    Technique::Omission,
    Technique::Repetition,
    Technique::Replacement,
    Technique::Transposition,
    Technique::VowelSwap,
];

/// One generated name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permutation {
    /// The technique that made it (the first one, when several did).
    pub technique: Technique,
    /// With `--depth 2`, the second edit applied on top of `technique`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second: Option<Technique>,
    /// ASCII (punycode) form.
    pub domain: String,
    /// Unicode form.
    pub unicode: String,
}

impl Permutation {
    /// The technique name, `first+second` for depth-2 names.
    pub fn technique_name(&self) -> String {
        technique_label(self.technique, self.second).into_owned()
    }
}

/// `first` or `first+second`, borrowed when there is no second technique.
pub fn technique_label(
    first: Technique,
    second: Option<Technique>,
) -> std::borrow::Cow<'static, str> {
    match second {
        Some(second) => format!("{first}+{second}").into(),
        None => first.name().into(),
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// 1: single techniques; 2: also two chained edits (`EDIT_TECHNIQUES`).
    pub depth: u8,
    /// Restrict to these techniques (`None`: all).
    pub only: Option<Vec<Technique>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            depth: 1,
            only: None,
        }
    }
}

impl Options {
    fn wants(&self, t: Technique) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&t))
    }
}

/// Generates every permutation of `domain` (the original first).
pub fn permute(domain: &str, options: &Options) -> Result<Vec<Permutation>, DomainError> {
    let names = permute_domain(domain, options)?;
    Ok(names.iter().map(NameRef::to_permutation).collect())
}

/// [`permute`] into the compact [`Names`] (no allocation per name).
pub fn permute_domain(domain: &str, options: &Options) -> Result<Names, DomainError> {
    if options.depth == 0 || options.depth > 2 {
        return Err(DomainError::Depth(options.depth));
    }
    let parsed = name::parse_domain(domain)?;
    Ok(permute_names(&parsed, options))
}

/// Generates every permutation of an already parsed domain.
pub fn permute_parsed(d: &DomainName, options: &Options) -> Vec<Permutation> {
    permute_names(d, options)
        .iter()
        .map(NameRef::to_permutation)
        .collect()
}

/// Generates every permutation of an already parsed domain into one compact list (no
/// allocation per name); [`Names::iter`] yields them in the order of [`permute_parsed`].
pub fn permute_names(d: &DomainName, options: &Options) -> Names {
    let mut out = Collector::new(d);
    out.push_name(Technique::Original, &d.unicode);
    let label: Vec<char> = d.label.chars().collect();
    let glyphs = Glyphs::for_suffix(&d.suffix);
    let depth2 = options.depth == 2;
    let mut edits: Vec<(Technique, String)> = Vec::new();
    for &t in Technique::ALL {
        if t == Technique::Original || !options.wants(t) {
            continue;
        }
        let keep = depth2 && EDIT_TECHNIQUES.contains(&t);
        let mut emit = |l: &str| {
            if keep {
                edits.push((t, l.to_string()));
            }
            out.push_label(t, None, l);
        };
        label_variants(t, d, &label, &glyphs, &mut emit);
        whole_name_variants(t, d, &mut out);
    }
    let mut chars = Vec::new();
    for (first, l) in &edits {
        chars.clear();
        chars.extend(l.chars());
        for &second in EDIT_TECHNIQUES {
            edit_variants(second, &chars, &mut |l2| {
                out.push_label(*first, Some(second), l2)
            });
        }
    }
    out.names
}

/// One generated name, borrowed from [`Names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRef<'a> {
    /// The technique that made it (the first one, when several did).
    pub technique: Technique,
    /// With `--depth 2`, the second edit applied on top of `technique`.
    pub second: Option<Technique>,
    /// ASCII (punycode) form.
    pub domain: &'a str,
    /// Unicode form.
    pub unicode: &'a str,
}

impl NameRef<'_> {
    /// The owned [`Permutation`].
    pub fn to_permutation(self) -> Permutation {
        Permutation {
            technique: self.technique,
            second: self.second,
            domain: self.domain.to_string(),
            unicode: self.unicode.to_string(),
        }
    }
}

/// Where one name lives in [`Names`]' text: the Unicode form, then (for IDN) the ASCII form.
#[derive(Debug, Clone, Copy)]
struct Entry {
    technique: Technique,
    second: Option<Technique>,
    start: u32,
    unicode_len: u16,
    /// 0 when the ASCII form equals the Unicode form.
    ascii_len: u16,
}

/// Generated names stored in one string, in generation order.
#[derive(Debug, Default)]
pub struct Names {
    text: String,
    entries: Vec<Entry>,
}

impl Names {
    /// How many names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no name (never for a successful permutation: the original is first).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn unicode_of(&self, e: &Entry) -> &str {
        let start = e.start as usize;
        self.text
            .get(start..start + e.unicode_len as usize)
            .unwrap_or_default()
    }

    fn get(&self, e: &Entry) -> NameRef<'_> {
        let unicode = self.unicode_of(e);
        let domain = if e.ascii_len == 0 {
            unicode
        } else {
            let start = e.start as usize + e.unicode_len as usize;
            self.text
                .get(start..start + e.ascii_len as usize)
                .unwrap_or_default()
        };
        NameRef {
            technique: e.technique,
            second: e.second,
            domain,
            unicode,
        }
    }

    /// The names in generation order (the original first).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = NameRef<'_>> + '_ {
        self.entries.iter().map(|e| self.get(e))
    }
}

/// Collects names in order, deduplicated on the Unicode name (the Unicode to ASCII mapping of
/// generated names is one-to-one), so a duplicate costs one hash and no punycode.
struct Collector<'a> {
    d: &'a DomainName,
    names: Names,
    index: HashTable<u32>,
    /// Hashes of names found invalid (a 64-bit hash collision could hide one name: accepted).
    rejected: hashbrown::HashSet<u64, FixedState>,
    state: FixedState,
    buf: String,
}

impl<'a> Collector<'a> {
    fn new(d: &'a DomainName) -> Self {
        Collector {
            d,
            names: Names {
                text: String::with_capacity(1 << 18),
                entries: Vec::with_capacity(8192),
            },
            index: HashTable::with_capacity(8192),
            rejected: hashbrown::HashSet::with_hasher(FixedState::default()),
            state: FixedState::default(),
            buf: String::with_capacity(128),
        }
    }

    fn push_full(&mut self, technique: Technique, second: Option<Technique>, unicode: &str) {
        let h = self.state.hash_one(unicode);
        let names = &self.names;
        if self
            .index
            .find(h, |&i| {
                names.unicode_of(&names.entries[i as usize]) == unicode
            })
            .is_some()
            || self.rejected.contains(&h)
        {
            return;
        }
        let text = &mut self.names.text;
        let start = text.len();
        text.push_str(unicode);
        let ascii_len = if unicode.is_ascii() {
            name::ascii_name_ok(unicode).then_some(0)
        } else {
            name::name_to_ascii_into(unicode, text).then(|| text.len() - start - unicode.len())
        };
        let (Some(ascii_len), Ok(start32)) = (ascii_len, u32::try_from(start)) else {
            text.truncate(start);
            self.rejected.insert(h);
            return;
        };
        let idx = self.names.entries.len() as u32;
        self.names.entries.push(Entry {
            technique,
            second,
            start: start32,
            unicode_len: unicode.len() as u16,
            ascii_len: ascii_len as u16,
        });
        let (names, state) = (&self.names, &self.state);
        self.index.insert_unique(h, idx, |&i| {
            state.hash_one(names.unicode_of(&names.entries[i as usize]))
        });
    }

    fn push_name(&mut self, technique: Technique, unicode: &str) {
        self.push_full(technique, None, unicode);
    }

    fn push_composed(
        &mut self,
        technique: Technique,
        second: Option<Technique>,
        label: &str,
        suffix: &str,
    ) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if !self.d.subdomain.is_empty() {
            buf.push_str(&self.d.subdomain);
            buf.push('.');
        }
        buf.push_str(label);
        if !suffix.is_empty() {
            buf.push('.');
            buf.push_str(suffix);
        }
        self.push_full(technique, second, &buf);
        self.buf = buf;
    }

    fn push_label(&mut self, technique: Technique, second: Option<Technique>, label: &str) {
        let suffix = self.d.suffix.as_str();
        self.push_composed(technique, second, label, suffix);
    }

    fn push_with_suffix(&mut self, technique: Technique, label: &str, suffix: &str) {
        self.push_composed(technique, None, label, suffix);
    }
}

/// Receives each generated label.
type Emit<'e> = &'e mut dyn FnMut(&str);

fn s(chars: &[char]) -> String {
    chars.iter().collect()
}

/// Emits `d[..start] + middle + d[end..]` through a reused buffer.
fn emit_splice(
    buf: &mut String,
    d: &[char],
    start: usize,
    end: usize,
    middle: &str,
    emit: Emit<'_>,
) {
    buf.clear();
    buf.extend(&d[..start]);
    buf.push_str(middle);
    buf.extend(&d[end..]);
    emit(buf);
}

fn emit_all(v: Vec<String>, emit: Emit<'_>) {
    for x in &v {
        emit(x);
    }
}

const ALNUM: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u'];

/// A homoglyph table keyed by character and by character pair.
struct Glyphs {
    single: HashMap<char, Vec<String>, FixedState>,
    pair: HashMap<(char, char), Vec<String>, FixedState>,
}

impl Glyphs {
    fn for_suffix(suffix: &str) -> Glyphs {
        let mut g = Glyphs {
            single: HashMap::with_hasher(FixedState::default()),
            pair: HashMap::with_hasher(FixedState::default()),
        };
        for (source, glyphs) in data::glyphs_for_suffix(suffix) {
            let mut chars = source.chars();
            match (chars.next(), chars.next(), chars.next()) {
                (Some(a), None, _) => {
                    g.single.insert(a, glyphs);
                }
                (Some(a), Some(b), None) => {
                    g.pair.insert((a, b), glyphs);
                }
                _ => {}
            }
        }
        g
    }
}

/// Label-level variants of technique `t` (nothing for whole-name techniques).
fn label_variants(t: Technique, d: &DomainName, label: &[char], glyphs: &Glyphs, emit: Emit<'_>) {
    match t {
        Technique::Addition
        | Technique::Bitsquatting
        | Technique::Hyphenation
        | Technique::Insertion
        | Technique::Omission
        | Technique::Repetition
        | Technique::Replacement
        | Technique::Transposition
        | Technique::VowelSwap => edit_variants(t, label, emit),
        Technique::Cyrillic => emit_all(cyrillic(label), emit),
        Technique::Homoglyph => {
            homoglyph_dnstwist(label, glyphs, emit);
            emit_all(homoglyph_urlcrazy(&s(label)), emit);
        }
        Technique::Plural => emit_all(plural_dnstwist(label), emit),
        Technique::Subdomain => emit_all(subdomain(label), emit),
        Technique::Dictionary => emit_all(dictionary(&s(label)), emit),
        Technique::DoubleReplacement => double_replacement(label, emit),
        Technique::StripDashes => {
            let l = s(label);
            if l.contains('-') {
                emit(&l.replace('-', ""));
            }
        }
        Technique::SingularPlural => emit_all(singular_plural(&s(label)), emit),
        Technique::Misspelling => emit_all(misspellings(&s(label)), emit),
        Technique::Homophone => emit_all(homophones(&s(label)), emit),
        Technique::Prefix => emit_all(prefixes(&s(label)), emit),
        Technique::Suffix => emit_all(suffixes(&s(label)), emit),
        Technique::AceTypo => emit_all(ace_typos(d), emit),
        _ => {}
    }
}

/// The single-character edits (used at depth 1 and chained at depth 2).
fn edit_variants(t: Technique, label: &[char], emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.len() * 2 + 4);
    let mut tmp = [0u8; 4];
    match t {
        Technique::Addition => addition(label, emit),
        Technique::Bitsquatting => bitsquatting(label, emit),
        Technique::Hyphenation => {
            for i in 1..label.len() {
                emit_splice(&mut buf, label, i, i, "-", emit);
            }
        }
        Technique::Insertion => insertion(label, emit),
        Technique::Omission => {
            for i in 0..label.len() {
                emit_splice(&mut buf, label, i, i + 1, "", emit);
            }
        }
        Technique::Repetition => {
            for i in 0..label.len() {
                let c = label[i].encode_utf8(&mut tmp);
                emit_splice(&mut buf, label, i, i, c, emit);
            }
        }
        Technique::Replacement => replacement(label, emit),
        Technique::Transposition => {
            for i in 0..label.len().saturating_sub(1) {
                buf.clear();
                buf.extend(&label[..i]);
                buf.push(label[i + 1]);
                buf.push(label[i]);
                buf.extend(&label[i + 2..]);
                emit(&buf);
            }
        }
        Technique::VowelSwap => {
            for (i, c) in label.iter().enumerate() {
                if VOWELS.contains(c) {
                    for v in VOWELS.iter().filter(|v| *v != c) {
                        let v = v.encode_utf8(&mut tmp);
                        emit_splice(&mut buf, label, i, i + 1, v, emit);
                    }
                }
            }
        }
        _ => {}
    }
}

fn addition(label: &[char], emit: Emit<'_>) {
    let l = s(label);
    if l.contains('-') {
        let parts: Vec<&str> = l.split('-').collect();
        for p in 1..parts.len() {
            let (left, right) = (parts[..p].join("-"), parts[p..].join("-"));
            for c in ALNUM.chars() {
                emit(&format!("{left}{c}-{right}"));
            }
        }
    }
    let mut buf = String::with_capacity(l.len() + 1);
    for c in ALNUM.chars() {
        buf.clear();
        buf.push_str(&l);
        buf.push(c);
        emit(&buf);
    }
}

fn bitsquatting(label: &[char], emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.len() + 4);
    let mut tmp = [0u8; 4];
    for (i, &c) in label.iter().enumerate() {
        for bit in 0..8 {
            if let Some(b) = char::from_u32((c as u32) ^ (1 << bit))
                && (b.is_ascii_lowercase() || b.is_ascii_digit() || b == '-')
            {
                emit_splice(&mut buf, label, i, i + 1, b.encode_utf8(&mut tmp), emit);
            }
        }
    }
}

fn cyrillic(label: &[char]) -> Vec<String> {
    let mapped: Vec<char> = label
        .iter()
        .map(|c| data::CYRILLIC.get(c).copied().unwrap_or(*c))
        .collect();
    if mapped.iter().zip(label).any(|(a, b)| a == b) {
        Vec::new()
    } else {
        vec![s(&mapped)]
    }
}

/// dnstwist's homoglyph fuzzer: two rounds of single-character and two-character-window swaps.
fn homoglyph_dnstwist(label: &[char], glyphs: &Glyphs, emit: Emit<'_>) {
    let mut round1: Vec<String> = Vec::new();
    homoglyph_mix(label, glyphs, &mut |x| round1.push(x.to_string()));
    round1.sort_unstable();
    round1.dedup();
    for r in &round1 {
        emit(r);
    }
    let mut chars = Vec::new();
    for r in &round1 {
        chars.clear();
        chars.extend(r.chars());
        homoglyph_mix(&chars, glyphs, emit);
    }
}

/// One dnstwist `mix` round: each character swapped, then each two-character window with
/// `win.replace(c, glyph)` for c in {win[0], win[1], win} (a doubled letter changes twice).
fn homoglyph_mix(d: &[char], g: &Glyphs, emit: Emit<'_>) {
    let mut buf = String::with_capacity(d.len() * 4);
    for (i, c) in d.iter().enumerate() {
        if let Some(gs) = g.single.get(c) {
            for gl in gs {
                emit_splice(&mut buf, d, i, i + 1, gl, emit);
            }
        }
    }
    for i in 0..d.len().saturating_sub(1) {
        let (a, b) = (d[i], d[i + 1]);
        // With two different characters, replacing one of them is a single swap already
        // emitted above; only a doubled letter (changed twice) is new.
        if b == a
            && let Some(gs) = g.single.get(&a)
        {
            for gl in gs {
                buf.clear();
                buf.extend(&d[..i]);
                buf.push_str(gl);
                buf.push_str(gl);
                buf.extend(&d[i + 2..]);
                emit(&buf);
            }
        }
        if let Some(gs) = g.pair.get(&(a, b)) {
            for gl in gs {
                emit_splice(&mut buf, d, i, i + 2, gl, emit);
            }
        }
    }
}

/// urlcrazy's homoglyphs: every combination of replacing occurrences of each pair.
fn homoglyph_urlcrazy(label: &str) -> Vec<String> {
    const PAIRS: &[(&str, &str)] = &[
        ("0", "o"),
        ("1", "l"),
        ("l", "1"),
        ("rn", "m"),
        ("cl", "d"),
        ("vv", "w"),
        ("o", "0"),
        ("i", "l"),
        ("m", "rn"),
        ("d", "cl"),
        ("w", "vv"),
    ];
    let mut out = Vec::new();
    for (pattern, repl) in PAIRS {
        let pieces: Vec<&str> = label.split(pattern).collect();
        let n = pieces.len() - 1;
        if n == 0 || n > 10 {
            continue;
        }
        for mask in 1u32..(1 << n) {
            let mut v = String::with_capacity(label.len() + n);
            for (i, piece) in pieces.iter().enumerate() {
                v.push_str(piece);
                if i < n {
                    v.push_str(if mask & (1 << i) != 0 { repl } else { pattern });
                }
            }
            out.push(v);
        }
    }
    out
}

fn insertion(label: &[char], emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.len() * 2 + 4);
    for (i, orig) in label.iter().enumerate() {
        for kb in data::KEYBOARDS.iter() {
            if let Some(ns) = kb.neighbours.get(orig) {
                for n in ns {
                    buf.clear();
                    buf.extend(&label[..i]);
                    buf.push(*n);
                    buf.push(*orig);
                    buf.extend(&label[i + 1..]);
                    emit(&buf);
                    buf.clear();
                    buf.extend(&label[..i]);
                    buf.push(*orig);
                    buf.push(*n);
                    buf.extend(&label[i + 1..]);
                    emit(&buf);
                }
            }
            for n in kb.left_right(*orig) {
                buf.clear();
                buf.extend(&label[..i]);
                buf.push(n);
                buf.extend(&label[i..]);
                emit(&buf);
            }
        }
    }
}

fn replacement(label: &[char], emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.len() * 2 + 4);
    let mut tmp = [0u8; 4];
    for (i, orig) in label.iter().enumerate() {
        for kb in data::KEYBOARDS.iter() {
            if let Some(ns) = kb.neighbours.get(orig) {
                for n in ns {
                    emit_splice(&mut buf, label, i, i + 1, n.encode_utf8(&mut tmp), emit);
                }
            }
            for n in kb.left_right(*orig) {
                emit_splice(&mut buf, label, i, i + 1, n.encode_utf8(&mut tmp), emit);
            }
        }
    }
}

fn double_replacement(label: &[char], emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.len() * 2 + 4);
    for (i, orig) in label.iter().enumerate() {
        for kb in data::KEYBOARDS.iter() {
            for n in kb.left_right(*orig) {
                buf.clear();
                buf.extend(&label[..i]);
                buf.push(n);
                buf.push(n);
                buf.extend(&label[i + 1..]);
                emit(&buf);
            }
        }
    }
}

fn plural_dnstwist(label: &[char]) -> Vec<String> {
    let end = label.len().saturating_sub(2);
    let mut buf = String::new();
    let mut out = Vec::new();
    for i in 2..end {
        let add = if matches!(label[i], 's' | 'x' | 'z') {
            "es"
        } else {
            "s"
        };
        emit_splice(&mut buf, label, i + 1, i + 1, add, &mut |x| {
            out.push(x.to_string())
        });
    }
    out
}

fn subdomain(label: &[char]) -> Vec<String> {
    let end = label.len().saturating_sub(1);
    let mut buf = String::new();
    let mut out = Vec::new();
    for i in
        (1..end).filter(|&i| !matches!(label[i], '-' | '.') && !matches!(label[i - 1], '-' | '.'))
    {
        emit_splice(&mut buf, label, i, i, ".", &mut |x| out.push(x.to_string()));
    }
    out
}

fn dictionary(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in data::DICTIONARY.iter() {
        if !(l.starts_with(word) && l.ends_with(word)) {
            out.push(format!("{l}-{word}"));
            out.push(format!("{l}{word}"));
            out.push(format!("{word}-{l}"));
            out.push(format!("{word}{l}"));
        }
    }
    if l.contains('-') {
        let parts: Vec<&str> = l.split('-').collect();
        let head = parts[..parts.len() - 1].join("-");
        let tail = parts[1..].join("-");
        for word in data::DICTIONARY.iter() {
            out.push(format!("{head}-{word}"));
            out.push(format!("{word}-{tail}"));
        }
    }
    out
}

/// Singular and plural of the label with the common English inflection rules.
fn singular_plural(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    let plural = if l.ends_with('s')
        || l.ends_with('x')
        || l.ends_with('z')
        || l.ends_with("ch")
        || l.ends_with("sh")
    {
        format!("{l}es")
    } else if let Some(stem) = l.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
        && !stem.is_empty()
    {
        format!("{stem}ies")
    } else {
        format!("{l}s")
    };
    out.push(plural);
    if let Some(stem) = l.strip_suffix("ies") {
        out.push(format!("{stem}y"));
    }
    if let Some(stem) = l.strip_suffix("es") {
        out.push(stem.to_string());
    }
    if let Some(stem) = l.strip_suffix('s')
        && !stem.ends_with('s')
    {
        out.push(stem.to_string());
    }
    out
}

/// At most this many misspellings per correct word, so long labels stay bounded.
const MAX_MISSPELLINGS_PER_WORD: usize = 8;

static MISSPELLING_WORDS: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    // The non-contiguous NFA skips the conversion step: built once per process, searched
    // only over short labels.
    AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::NoncontiguousNFA))
        .build(data::MISSPELLINGS.iter().map(|(correct, _)| correct))
        .ok()
});

/// Every correct word inside the label (Aho-Corasick over 13 k words) swapped for its misspellings.
fn misspellings(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(words) = MISSPELLING_WORDS.as_ref() else {
        return out;
    };
    let mut done = HashSet::new();
    for m in words.find_overlapping_iter(l) {
        let idx = m.pattern().as_usize();
        if !done.insert(idx) {
            continue;
        }
        let Some((correct, wrong)) = data::MISSPELLINGS.get(idx) else {
            continue;
        };
        for w in wrong.iter().take(MAX_MISSPELLINGS_PER_WORD) {
            out.push(l.replace(correct, w));
        }
    }
    out
}

fn homophones(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    for group in data::HOMOPHONES.iter() {
        for word in group.iter().filter(|w| w.len() >= 3 && l.contains(**w)) {
            for other in group.iter().filter(|o| *o != word) {
                out.push(l.replace(word, other));
            }
        }
    }
    out
}

fn prefixes(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in data::URLCRAZY_PREFIXES.iter() {
        out.push(format!("{p}-{l}"));
    }
    for t in data::TOKENS.iter() {
        out.push(format!("{t}-{l}"));
        out.push(format!("{t}{l}"));
    }
    out
}

fn suffixes(l: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in data::URLCRAZY_SUFFIXES.iter() {
        out.push(format!("{l}-{p}"));
    }
    for t in data::TOKENS.iter() {
        out.push(format!("{l}-{t}"));
        out.push(format!("{l}{t}"));
    }
    out
}

/// urlcrazy's typos on the ASCII (`xn--`) form of an IDN label.
fn ace_typos(d: &DomainName) -> Vec<String> {
    if d.label.is_ascii() {
        return Vec::new();
    }
    let Some(ace) = name::label_to_ascii(&d.label) else {
        return Vec::new();
    };
    let chars: Vec<char> = ace.chars().collect();
    let mut out = Vec::new();
    for &t in EDIT_TECHNIQUES {
        edit_variants(t, &chars, &mut |x| out.push(x.to_string()));
    }
    double_replacement(&chars, &mut |x| out.push(x.to_string()));
    out.extend(homoglyph_urlcrazy(&ace));
    out.extend(singular_plural(&ace));
    if ace.contains('-') {
        out.push(ace.replace('-', ""));
    }
    out.extend(prefixes(&ace));
    out.extend(suffixes(&ace));
    // Keep only names that are still ASCII-valid; `xn--` ones must decode (checked on push).
    out.retain(|l| l.is_ascii());
    out
}

/// Every suffix of the TLD-swap lists (dnstwist's, IANA, abused, urlcrazy's), first seen kept.
static SWAP_TLDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    unique(
        data::COMMON_TLDS
            .iter()
            .chain(data::IANA_TLDS.iter())
            .chain(data::ABUSED_TLDS.iter())
            .chain(data::URLCRAZY_TLDS.iter()),
    )
});

/// The TLDs a glued label is put under (dnstwist's, abused, IANA).
static GLUE_TLDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    unique(
        data::COMMON_TLDS
            .iter()
            .chain(data::ABUSED_TLDS.iter())
            .chain(data::IANA_TLDS.iter()),
    )
});

static IANA_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| data::IANA_TLDS.iter().copied().collect());

fn unique<'a>(items: impl Iterator<Item = &'a &'static str>) -> Vec<&'static str> {
    let mut seen = HashSet::new();
    items.copied().filter(|t| seen.insert(*t)).collect()
}

/// Techniques that change the suffix or the whole name.
fn whole_name_variants(t: Technique, d: &DomainName, out: &mut Collector<'_>) {
    let label = d.label.as_str();
    let suffix = d.suffix.as_str();
    let sub = d.subdomain.as_str();
    match t {
        Technique::TldSwap => {
            for &tld in SWAP_TLDS.iter() {
                if tld != suffix {
                    out.push_with_suffix(t, label, tld);
                }
            }
        }
        Technique::Various => various(d, out),
        Technique::WrongSld => {
            if let Some((_, last)) = suffix.rsplit_once('.') {
                let tail = format!(".{last}");
                for sld in data::URLCRAZY_SLDS.iter().filter(|s| s.ends_with(&tail)) {
                    out.push_with_suffix(t, label, sld);
                }
            }
        }
        Technique::AllSld => {
            for sld in data::URLCRAZY_SLDS.iter() {
                out.push_with_suffix(t, label, sld);
            }
        }
        Technique::MissingDot => {
            if !sub.is_empty() {
                out.push_name(t, &format!("{}{label}.{suffix}", sub.replace('.', "")));
            }
            out.push_name(t, &format!("www{label}.{suffix}"));
        }
        Technique::DotToDash => {
            if !sub.is_empty() {
                out.push_name(t, &format!("{}-{label}.{suffix}", sub.replace('.', "-")));
            }
            let dashed = suffix.replace('.', "-");
            for tld in data::COMMON_TLDS.iter().chain(data::ABUSED_TLDS.iter()) {
                out.push_with_suffix(t, &format!("{label}-{dashed}"), tld);
            }
        }
        Technique::TldGlue => {
            let glued = format!("{label}{}", suffix.replace('.', ""));
            for tld in GLUE_TLDS.iter() {
                out.push_with_suffix(t, &glued, tld);
            }
        }
        Technique::DotShift => dot_shift(d, out),
        _ => {}
    }
}

/// dnstwist's `various` fuzzer, rule for rule.
fn various(d: &DomainName, out: &mut Collector<'_>) {
    let t = Technique::Various;
    let (sub, label, suffix) = (d.subdomain.as_str(), d.label.as_str(), d.suffix.as_str());
    let join = |parts: &[&str]| -> String {
        parts
            .iter()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(".")
    };
    if let Some((_, last)) = suffix.rsplit_once('.') {
        out.push_name(t, &join(&[sub, label, last]));
        out.push_name(t, &join(&[sub, &format!("{label}{suffix}")]));
    } else {
        out.push_name(t, &join(&[sub, &format!("{label}{suffix}"), suffix]));
        if suffix != "com" {
            out.push_name(t, &join(&[sub, &format!("{label}-{suffix}"), "com"]));
            out.push_name(t, &join(&[sub, &format!("{label}{suffix}"), "com"]));
        }
    }
    if !sub.is_empty() {
        out.push_name(t, &format!("{sub}{label}.{suffix}"));
        out.push_name(t, &format!("{}{label}.{suffix}", sub.replace('.', "")));
        out.push_name(t, &format!("{sub}-{label}.{suffix}"));
        out.push_name(t, &format!("{}-{label}.{suffix}", sub.replace('.', "-")));
    }
}

/// The dot shifted one or two characters into the TLD or out of it, kept when the new TLD exists.
fn dot_shift(d: &DomainName, out: &mut Collector<'_>) {
    let t = Technique::DotShift;
    if d.suffix.contains('.') {
        return;
    }
    let tlds = &*IANA_SET;
    let label: Vec<char> = d.label.chars().collect();
    let suffix: Vec<char> = d.suffix.chars().collect();
    for k in 1..=2usize {
        if k < suffix.len() {
            let new_label = format!("{}{}", d.label, s(&suffix[..k]));
            let new_tld = s(&suffix[k..]);
            if tlds.contains(new_tld.as_str()) {
                out.push_with_suffix(t, &new_label, &new_tld);
            }
        }
        if k < label.len() {
            let new_label = s(&label[..label.len() - k]);
            let new_tld = format!("{}{}", s(&label[label.len() - k..]), d.suffix);
            if tlds.contains(new_tld.as_str()) {
                out.push_with_suffix(t, &new_label, &new_tld);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(domain: &str) -> HashSet<String> {
        permute(domain, &Options::default())
            .unwrap()
            .into_iter()
            .map(|p| p.domain)
            .collect()
    }

    #[test]
    fn names_match_permute_and_share_the_ascii_form() {
        let d = name::parse_domain("www.bücher.de").unwrap();
        let names = permute_names(&d, &Options::default());
        let owned = permute("www.bücher.de", &Options::default()).unwrap();
        assert_eq!(names.len(), owned.len());
        assert!(
            names
                .iter()
                .map(NameRef::to_permutation)
                .eq(owned.into_iter())
        );
        let first = names.iter().next().unwrap();
        assert_eq!(
            (first.domain, first.unicode),
            ("www.xn--bcher-kva.de", "www.bücher.de")
        );
        // A doubled letter gets the double homoglyph swap (dnstwist's window rule).
        let g = permute("google.com", &Options::default()).unwrap();
        assert!(
            g.iter()
                .any(|p| p.unicode == "g00gle.com" && p.technique == Technique::Homoglyph)
        );
    }

    #[test]
    fn technique_names_round_trip() {
        for t in Technique::ALL {
            assert_eq!(Technique::from_name(t.name()), Some(*t));
        }
    }

    #[test]
    fn original_first_and_no_duplicates() {
        let perms = permute("paypal.com", &Options::default()).unwrap();
        assert_eq!(perms[0].technique, Technique::Original);
        assert_eq!(perms[0].domain, "paypal.com");
        let unique: HashSet<&String> = perms.iter().map(|p| &p.domain).collect();
        assert_eq!(unique.len(), perms.len());
    }

    #[test]
    fn first_technique_is_kept() {
        let perms = permute("paypal.com", &Options::default()).unwrap();
        // "paypal0.com" is both an addition and a (dvorak) insertion: addition comes first.
        let p = perms.iter().find(|p| p.domain == "paypal0.com").unwrap();
        assert_eq!(p.technique, Technique::Addition);
    }

    #[test]
    fn urlcrazy_homoglyph_combinations() {
        let v = homoglyph_urlcrazy("google");
        for want in ["g00gle", "g0ogle", "go0gle", "goog1e"] {
            assert!(v.iter().any(|x| x == want), "{want}");
        }
    }

    #[test]
    fn dot_shift_and_glue() {
        let n = names("threatstream.com");
        assert!(n.contains("threatstreamc.om"));
        assert!(n.contains("threatstreamcom.us"));
        assert!(!n.contains("threatstrea.mcom"));
    }

    #[test]
    fn depth_two_adds_chained_edits() {
        let one = permute("paypal.com", &Options::default()).unwrap();
        let two = permute(
            "paypal.com",
            &Options {
                depth: 2,
                only: None,
            },
        )
        .unwrap();
        assert!(two.len() > one.len());
        let p = two.iter().find(|p| p.domain == "pyapl.com").unwrap();
        assert!(p.second.is_some(), "{p:?}");
        assert!(
            permute(
                "paypal.com",
                &Options {
                    depth: 3,
                    only: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn idn_per_suffix_tables() {
        // .co.uk registries take no IDN: dnstwist's table for it is empty, only ASCII glyphs.
        let n = permute("example.co.uk", &Options::default()).unwrap();
        assert!(
            n.iter()
                .filter(|p| p.technique == Technique::Homoglyph)
                .all(|p| p.domain.is_ascii() && !p.domain.contains("xn--"))
        );
        let n = names("example.de");
        assert!(n.contains("xn--exmple-cua.de"), "ä for a under .de");
    }
}
