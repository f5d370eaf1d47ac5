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
use std::sync::{Arc, LazyLock, Mutex};

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
    let label = Spelled::new(&d.label);
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
    let mut spelled = Spelled::default();
    for (first, l) in &edits {
        spelled.set(l);
        for &second in EDIT_TECHNIQUES {
            edit_variants(second, &spelled, &mut |l2| {
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

/// A suffix (or any dot-separated tail of a name) checked once: its ASCII form and the ASCII
/// length of its last label, so names under it only check their own label.
#[derive(Debug, Default)]
struct SuffixForm<'s> {
    unicode: &'s str,
    /// `None` when one of its labels is not a valid label.
    ascii: Option<String>,
    last_len: usize,
}

impl<'s> SuffixForm<'s> {
    fn new(unicode: &'s str) -> Self {
        let mut ascii = String::with_capacity(unicode.len() + 8);
        let mut last_len = 0;
        let mut ok = !unicode.is_empty();
        for (i, label) in unicode.split('.').enumerate() {
            if i > 0 {
                ascii.push('.');
            }
            let before = ascii.len();
            if !ok || !name::label_to_ascii_into(label, &mut ascii) {
                ok = false;
                break;
            }
            last_len = ascii.len() - before;
        }
        SuffixForm {
            unicode,
            ascii: ok.then_some(ascii),
            last_len,
        }
    }

    fn list<'a>(items: impl Iterator<Item = &'a &'static str>) -> Vec<SuffixForm<'static>> {
        items.map(|s| SuffixForm::new(s)).collect()
    }
}

/// Collects names in order, deduplicated on the Unicode name (the Unicode to ASCII mapping of
/// generated names is one-to-one), so a duplicate costs one hash and no punycode.
///
/// Names made of the domain's subdomain, a generated label and a suffix are checked label by
/// label like [`name::name_to_ascii`] does, but the subdomain and the suffix are checked (and
/// converted to ASCII) once, not once per name.
struct Collector<'a> {
    names: Names,
    /// `(start, length)` of each kept Unicode name in `names.text`.
    index: HashTable<(u32, u32)>,
    /// Hashes of names found invalid (a 64-bit hash collision could hide one name: accepted).
    rejected: hashbrown::HashSet<u64, FixedState>,
    state: FixedState,
    /// `subdomain.` in Unicode (empty without a subdomain).
    sub_unicode: String,
    /// `subdomain.` in ASCII; `None` when the subdomain is not valid.
    sub_ascii: Option<String>,
    own_suffix: SuffixForm<'a>,
}

impl<'a> Collector<'a> {
    fn new(d: &'a DomainName) -> Self {
        let (sub_unicode, sub_ascii) = if d.subdomain.is_empty() {
            (String::new(), Some(String::new()))
        } else {
            let form = SuffixForm::new(&d.subdomain);
            (
                format!("{}.", d.subdomain),
                form.ascii.map(|mut a| {
                    a.push('.');
                    a
                }),
            )
        };
        Collector {
            names: Names {
                text: String::with_capacity(1 << 18),
                entries: Vec::with_capacity(8192),
            },
            index: HashTable::with_capacity(8192),
            rejected: hashbrown::HashSet::with_hasher(FixedState::default()),
            state: FixedState::default(),
            sub_unicode,
            sub_ascii,
            own_suffix: SuffixForm::new(&d.suffix),
        }
    }

    /// The hash of `unicode` when it is neither kept nor rejected yet.
    fn fresh(&self, unicode: &str) -> Option<u64> {
        let h = self.state.hash_one(unicode);
        let text = &self.names.text;
        let kept = self
            .index
            .find(h, |&(start, len)| {
                text.get(start as usize..(start + len) as usize) == Some(unicode)
            })
            .is_some();
        (!kept && !self.rejected.contains(&h)).then_some(h)
    }

    /// Records the Unicode name just appended to the text at `start` (with `ascii_len` bytes of
    /// ASCII form after it, 0 when it is ASCII itself), or rejects it (`None`).
    fn record(
        &mut self,
        technique: Technique,
        second: Option<Technique>,
        h: u64,
        start: usize,
        unicode_len: usize,
        ascii_len: Option<usize>,
    ) {
        let fits = |n: usize| u16::try_from(n).ok();
        let parts = (
            ascii_len.and_then(fits),
            fits(unicode_len),
            u32::try_from(start).ok(),
        );
        let (Some(ascii_len), Some(unicode_len), Some(start32)) = parts else {
            self.names.text.truncate(start);
            self.rejected.insert(h);
            return;
        };
        self.names.entries.push(Entry {
            technique,
            second,
            start: start32,
            unicode_len,
            ascii_len,
        });
        let (text, state) = (&self.names.text, &self.state);
        self.index
            .insert_unique(h, (start32, u32::from(unicode_len)), |&(s, l)| {
                state.hash_one(text.get(s as usize..(s + l) as usize).unwrap_or_default())
            });
    }

    /// Any whole name (checked with [`name::name_to_ascii_into`]).
    fn push_full(&mut self, technique: Technique, second: Option<Technique>, unicode: &str) {
        let Some(h) = self.fresh(unicode) else {
            return;
        };
        let text = &mut self.names.text;
        let start = text.len();
        text.push_str(unicode);
        let ascii_len = if unicode.is_ascii() {
            name::ascii_name_ok(unicode).then_some(0)
        } else {
            name::name_to_ascii_into(unicode, text).then(|| text.len() - start - unicode.len())
        };
        self.record(technique, second, h, start, unicode.len(), ascii_len);
    }

    fn push_name(&mut self, technique: Technique, unicode: &str) {
        self.push_full(technique, None, unicode);
    }

    /// `subdomain.label.suffix`, the label generated (it may contain dots). The name is written
    /// straight into the text and taken back out when it is a duplicate or invalid; a new name
    /// is inserted into the slot its lookup found.
    fn push_parts(
        &mut self,
        technique: Technique,
        second: Option<Technique>,
        label: &str,
        suffix: &SuffixForm<'_>,
    ) {
        let Collector {
            names,
            index,
            rejected,
            state,
            sub_unicode,
            sub_ascii,
            ..
        } = self;
        let text = &mut names.text;
        let start = text.len();
        if !sub_unicode.is_empty() {
            text.push_str(sub_unicode);
        }
        text.push_str(label);
        text.push('.');
        text.push_str(suffix.unicode);
        let name = text.get(start..).unwrap_or_default();
        let (unicode_len, is_ascii) = (name.len(), name.is_ascii());
        let h = state.hash_one(name);
        let slot = index.entry(
            h,
            |&(s, l)| text.get(s as usize..(s + l) as usize) == Some(name),
            |&(s, l)| state.hash_one(text.get(s as usize..(s + l) as usize).unwrap_or_default()),
        );
        let hashbrown::hash_table::Entry::Vacant(slot) = slot else {
            text.truncate(start);
            return;
        };
        if rejected.contains(&h) {
            text.truncate(start);
            return;
        }
        let ascii_len = ascii_form(
            text,
            sub_ascii.as_deref(),
            unicode_len,
            is_ascii,
            label,
            suffix,
        );
        let fits = |n: usize| u16::try_from(n).ok();
        let parts = (
            ascii_len.and_then(fits),
            fits(unicode_len),
            u32::try_from(start).ok(),
        );
        let (Some(ascii_len), Some(unicode_len16), Some(start32)) = parts else {
            text.truncate(start);
            rejected.insert(h);
            return;
        };
        names.entries.push(Entry {
            technique,
            second,
            start: start32,
            unicode_len: unicode_len16,
            ascii_len,
        });
        slot.insert((start32, u32::from(unicode_len16)));
    }

    fn push_label(&mut self, technique: Technique, second: Option<Technique>, label: &str) {
        let suffix = std::mem::take(&mut self.own_suffix);
        self.push_parts(technique, second, label, &suffix);
        self.own_suffix = suffix;
    }

    fn push_with_suffix(&mut self, technique: Technique, label: &str, suffix: &SuffixForm<'_>) {
        self.push_parts(technique, None, label, suffix);
    }
}

/// Checks the name just written at the end of `text` (`sub + label + "." + suffix`,
/// `unicode_len` bytes) like [`name::name_to_ascii_into`], with the subdomain's and suffix's
/// ASCII forms computed beforehand, and appends its ASCII form unless it is ASCII itself: the
/// ASCII length (0 for an ASCII name), or `None` when the name is not valid.
fn ascii_form(
    text: &mut String,
    sub_ascii: Option<&str>,
    unicode_len: usize,
    is_ascii: bool,
    label: &str,
    suffix: &SuffixForm<'_>,
) -> Option<usize> {
    let (Some(sub_ascii), Some(suffix_ascii)) = (sub_ascii, &suffix.ascii) else {
        return None;
    };
    if suffix.last_len < 2 {
        return None;
    }
    // A label with a dot (the subdomain technique) fails as one label, then is checked piece
    // by piece; other labels skip the splitting.
    if is_ascii {
        let ok = (4..=name::MAX_NAME_LEN).contains(&unicode_len)
            && (name::ascii_label_ok(label)
                || (label.contains('.') && label.split('.').all(name::ascii_label_ok)));
        return ok.then_some(0);
    }
    let start = text.len();
    text.push_str(sub_ascii);
    let label_start = text.len();
    if !name::label_to_ascii_into(label, text) {
        if !label.contains('.') {
            return None;
        }
        text.truncate(label_start);
        for (i, piece) in label.split('.').enumerate() {
            if i > 0 {
                text.push('.');
            }
            if !name::label_to_ascii_into(piece, text) {
                return None;
            }
        }
    }
    text.push('.');
    text.push_str(suffix_ascii);
    let len = text.len() - start;
    (4..=name::MAX_NAME_LEN).contains(&len).then_some(len)
}

/// Receives each generated label.
type Emit<'e> = &'e mut dyn FnMut(&str);

/// A label with its characters and their byte offsets, so edits splice bytes, not characters.
#[derive(Debug, Default)]
struct Spelled {
    text: String,
    chars: Vec<char>,
    /// Byte offset of each character, then the text length.
    offs: Vec<usize>,
}

impl Spelled {
    fn new(s: &str) -> Self {
        let mut spelled = Spelled::default();
        spelled.set(s);
        spelled
    }

    fn set(&mut self, s: &str) {
        self.text.clear();
        self.text.push_str(s);
        self.chars.clear();
        self.offs.clear();
        for (i, c) in s.char_indices() {
            self.chars.push(c);
            self.offs.push(i);
        }
        self.offs.push(s.len());
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    /// The characters before index `i`.
    fn head(&self, i: usize) -> &str {
        self.offs
            .get(i)
            .and_then(|&o| self.text.get(..o))
            .unwrap_or_default()
    }

    /// The characters from index `i` on.
    fn tail(&self, i: usize) -> &str {
        self.offs
            .get(i)
            .and_then(|&o| self.text.get(o..))
            .unwrap_or_default()
    }
}

/// Emits `parts` joined, through a reused buffer.
fn emit_join(buf: &mut String, parts: &[&str], emit: Emit<'_>) {
    buf.clear();
    for p in parts {
        buf.push_str(p);
    }
    emit(buf);
}

/// Emits the label with characters `start..end` replaced by `middle`, through a reused buffer.
fn emit_splice(
    buf: &mut String,
    d: &Spelled,
    start: usize,
    end: usize,
    middle: &str,
    emit: Emit<'_>,
) {
    emit_join(buf, &[d.head(start), middle, d.tail(end)], emit);
}

const ALNUM: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u'];

/// A homoglyph table keyed by character and by character pair.
struct Glyphs {
    single: HashMap<char, Vec<String>, FixedState>,
    pair: HashMap<(char, char), Vec<String>, FixedState>,
}

/// Built glyph tables, keyed by the per-suffix table used (`""`: the default Unicode table);
/// a handful of entries at most.
static GLYPH_TABLES: LazyLock<Mutex<HashMap<&'static str, Arc<Glyphs>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Glyphs {
    /// dnstwist's table for `suffix` (ASCII glyphs merged with the suffix's IDN table), built
    /// once per process and table.
    fn for_suffix(suffix: &str) -> Arc<Glyphs> {
        let key = data::GLYPHS_BY_SUFFIX
            .get_key_value(suffix)
            .map_or("", |(k, _)| k.as_str());
        let mut tables = GLYPH_TABLES.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .entry(key)
            .or_insert_with(|| Arc::new(Glyphs::build(suffix)))
            .clone()
    }

    fn build(suffix: &str) -> Glyphs {
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
fn label_variants(t: Technique, d: &DomainName, label: &Spelled, glyphs: &Glyphs, emit: Emit<'_>) {
    let l = label.text.as_str();
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
        Technique::Cyrillic => cyrillic(label, emit),
        Technique::Homoglyph => {
            homoglyph_dnstwist(label, glyphs, emit);
            homoglyph_urlcrazy(l, emit);
        }
        Technique::Plural => plural_dnstwist(label, emit),
        Technique::Subdomain => subdomain(label, emit),
        Technique::Dictionary => dictionary(l, emit),
        Technique::DoubleReplacement => double_replacement(label, emit),
        Technique::StripDashes if l.contains('-') => emit(&l.replace('-', "")),
        Technique::SingularPlural => {
            for x in singular_plural(l) {
                emit(&x);
            }
        }
        Technique::Misspelling => misspellings(l, emit),
        Technique::Homophone => homophones(l, emit),
        Technique::Prefix => prefixes(l, emit),
        Technique::Suffix => suffixes(l, emit),
        Technique::AceTypo => ace_typos(d, emit),
        _ => {}
    }
}

/// The single-character edits (used at depth 1 and chained at depth 2).
fn edit_variants(t: Technique, label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.text.len() + 8);
    let mut tmp = [0u8; 4];
    let chars = &label.chars;
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
            for (i, c) in chars.iter().enumerate() {
                let c = c.encode_utf8(&mut tmp);
                emit_splice(&mut buf, label, i, i, c, emit);
            }
        }
        Technique::Replacement => replacement(label, emit),
        Technique::Transposition => {
            let mut t2 = [0u8; 4];
            for (i, pair) in chars.windows(2).enumerate() {
                let (a, b) = (pair[1].encode_utf8(&mut tmp), pair[0].encode_utf8(&mut t2));
                emit_join(&mut buf, &[label.head(i), a, b, label.tail(i + 2)], emit);
            }
        }
        Technique::VowelSwap => {
            for (i, c) in chars.iter().enumerate() {
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

fn addition(label: &Spelled, emit: Emit<'_>) {
    let l = label.text.as_str();
    let mut buf = String::with_capacity(l.len() + 2);
    let mut tmp = [0u8; 4];
    if l.contains('-') {
        let parts: Vec<&str> = l.split('-').collect();
        for p in 1..parts.len() {
            let (left, right) = (parts[..p].join("-"), parts[p..].join("-"));
            for c in ALNUM.chars() {
                emit_join(
                    &mut buf,
                    &[&left, c.encode_utf8(&mut tmp), "-", &right],
                    emit,
                );
            }
        }
    }
    for c in ALNUM.chars() {
        emit_join(&mut buf, &[l, c.encode_utf8(&mut tmp)], emit);
    }
}

fn bitsquatting(label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.text.len() + 4);
    let mut tmp = [0u8; 4];
    for (i, &c) in label.chars.iter().enumerate() {
        for bit in 0..8 {
            if let Some(b) = char::from_u32((c as u32) ^ (1 << bit))
                && (b.is_ascii_lowercase() || b.is_ascii_digit() || b == '-')
            {
                emit_splice(&mut buf, label, i, i + 1, b.encode_utf8(&mut tmp), emit);
            }
        }
    }
}

fn cyrillic(label: &Spelled, emit: Emit<'_>) {
    let mapped: String = label
        .chars
        .iter()
        .map(|c| data::CYRILLIC.get(c).copied().unwrap_or(*c))
        .collect();
    if !mapped.chars().zip(&label.chars).any(|(a, b)| a == *b) {
        emit(&mapped);
    }
}

/// dnstwist's homoglyph fuzzer: two rounds of single-character and two-character-window swaps.
fn homoglyph_dnstwist(label: &Spelled, glyphs: &Glyphs, emit: Emit<'_>) {
    let mut round1: Vec<String> = Vec::new();
    homoglyph_mix(label, glyphs, &mut |x| round1.push(x.to_string()));
    round1.sort_unstable();
    round1.dedup();
    for r in &round1 {
        emit(r);
    }
    let mut spelled = Spelled::default();
    for r in &round1 {
        spelled.set(r);
        homoglyph_mix(&spelled, glyphs, emit);
    }
}

/// One dnstwist `mix` round: each character swapped, then each two-character window with
/// `win.replace(c, glyph)` for c in {win[0], win[1], win} (a doubled letter changes twice).
fn homoglyph_mix(d: &Spelled, g: &Glyphs, emit: Emit<'_>) {
    let mut buf = String::with_capacity(d.text.len() + 16);
    for (i, c) in d.chars.iter().enumerate() {
        if let Some(gs) = g.single.get(c) {
            for gl in gs {
                emit_splice(&mut buf, d, i, i + 1, gl, emit);
            }
        }
    }
    for (i, pair) in d.chars.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        // With two different characters, replacing one of them is a single swap already
        // emitted above; only a doubled letter (changed twice) is new.
        if b == a
            && let Some(gs) = g.single.get(&a)
        {
            for gl in gs {
                emit_join(&mut buf, &[d.head(i), gl, gl, d.tail(i + 2)], emit);
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
fn homoglyph_urlcrazy(label: &str, emit: Emit<'_>) {
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
    let mut pieces: Vec<&str> = Vec::new();
    let mut v = String::with_capacity(label.len() * 2);
    for (pattern, repl) in PAIRS {
        if !label.contains(pattern) {
            continue;
        }
        pieces.clear();
        pieces.extend(label.split(pattern));
        let n = pieces.len() - 1;
        if n == 0 || n > 10 {
            continue;
        }
        for mask in 1u32..(1 << n) {
            v.clear();
            for (i, piece) in pieces.iter().enumerate() {
                v.push_str(piece);
                if i < n {
                    v.push_str(if mask & (1 << i) != 0 { repl } else { pattern });
                }
            }
            emit(&v);
        }
    }
}

fn insertion(label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.text.len() + 8);
    let (mut t1, mut t2) = ([0u8; 4], [0u8; 4]);
    for (i, orig) in label.chars.iter().enumerate() {
        let o = orig.encode_utf8(&mut t1);
        let (head, tail) = (label.head(i), label.tail(i + 1));
        for kb in data::KEYBOARDS.iter() {
            if let Some(ns) = kb.neighbours.get(orig) {
                for n in ns {
                    let n = n.encode_utf8(&mut t2);
                    emit_join(&mut buf, &[head, n, o, tail], emit);
                    emit_join(&mut buf, &[head, o, n, tail], emit);
                }
            }
            for n in kb.left_right(*orig) {
                emit_join(&mut buf, &[head, n.encode_utf8(&mut t2), o, tail], emit);
            }
        }
    }
}

fn replacement(label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.text.len() + 8);
    let mut tmp = [0u8; 4];
    for (i, orig) in label.chars.iter().enumerate() {
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

fn double_replacement(label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::with_capacity(label.text.len() + 8);
    let mut tmp = [0u8; 4];
    for i in 0..label.len() {
        let (head, tail) = (label.head(i), label.tail(i + 1));
        for kb in data::KEYBOARDS.iter() {
            for n in kb.left_right(label.chars[i]) {
                let n = n.encode_utf8(&mut tmp);
                emit_join(&mut buf, &[head, n, n, tail], emit);
            }
        }
    }
}

fn plural_dnstwist(label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::new();
    for i in 2..label.len().saturating_sub(2) {
        let add = if matches!(label.chars[i], 's' | 'x' | 'z') {
            "es"
        } else {
            "s"
        };
        emit_splice(&mut buf, label, i + 1, i + 1, add, emit);
    }
}

fn subdomain(label: &Spelled, emit: Emit<'_>) {
    let mut buf = String::new();
    let c = &label.chars;
    for i in (1..label.len().saturating_sub(1))
        .filter(|&i| !matches!(c[i], '-' | '.') && !matches!(c[i - 1], '-' | '.'))
    {
        emit_splice(&mut buf, label, i, i, ".", emit);
    }
}

fn dictionary(l: &str, emit: Emit<'_>) {
    let mut buf = String::with_capacity(l.len() + 32);
    for word in data::DICTIONARY.iter() {
        if !(l.starts_with(word) && l.ends_with(word)) {
            emit_join(&mut buf, &[l, "-", word], emit);
            emit_join(&mut buf, &[l, word], emit);
            emit_join(&mut buf, &[word, "-", l], emit);
            emit_join(&mut buf, &[word, l], emit);
        }
    }
    if l.contains('-') {
        let parts: Vec<&str> = l.split('-').collect();
        let head = parts[..parts.len() - 1].join("-");
        let tail = parts[1..].join("-");
        for word in data::DICTIONARY.iter() {
            emit_join(&mut buf, &[&head, "-", word], emit);
            emit_join(&mut buf, &[word, "-", &tail], emit);
        }
    }
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

/// Calls `found(start, end)` for every substring of `l` of 1 to `max_len` bytes on character
/// boundaries, by end position and then longest first: the order in which an Aho-Corasick
/// overlapping search reports matches. Labels are at most a few dozen bytes, so looking every
/// substring up in a hash map beats building an automaton over thousands of words.
fn substrings(l: &str, max_len: usize, mut found: impl FnMut(&str)) {
    for end in 1..=l.len() {
        if !l.is_char_boundary(end) {
            continue;
        }
        for start in end.saturating_sub(max_len)..end {
            if let Some(s) = l.get(start..end) {
                found(s);
            }
        }
    }
}

/// Every correct word inside the label (13 k words) swapped for its misspellings, in the
/// order of the words' first appearance (by end position, longest first).
fn misspellings(l: &str, emit: Emit<'_>) {
    let index = &*data::MISSPELLING_INDEX;
    let mut done: Vec<&str> = Vec::new();
    let mut hits: Vec<(&str, &[&'static str])> = Vec::new();
    substrings(l, index.max_len, |s| {
        if let Some((word, lists)) = index.words.get_key_value(s)
            && !done.contains(word)
        {
            done.push(word);
            hits.push((word, lists));
        }
    });
    for (correct, lists) in hits {
        for wrong in lists.iter() {
            for w in wrong.split_whitespace().take(MAX_MISSPELLINGS_PER_WORD) {
                emit(&l.replace(correct, w));
            }
        }
    }
}

/// Each homophone (3+ letters) inside the label replaced by the other words of its group, in
/// the order of the groups.
fn homophones(l: &str, emit: Emit<'_>) {
    let index = &*data::HOMOPHONE_INDEX;
    let mut hits: Vec<(u32, u32)> = Vec::new();
    substrings(l, index.max_len, |s| {
        if let Some(places) = index.words.get(s) {
            hits.extend_from_slice(places);
        }
    });
    hits.sort_unstable();
    hits.dedup();
    for (g, w) in hits {
        let Some(group) = data::HOMOPHONES.get(g as usize) else {
            continue;
        };
        let Some(word) = group.get(w as usize) else {
            continue;
        };
        for other in group.iter().filter(|o| *o != word) {
            emit(&l.replace(word, other));
        }
    }
}

fn prefixes(l: &str, emit: Emit<'_>) {
    let mut buf = String::with_capacity(l.len() + 32);
    for p in data::URLCRAZY_PREFIXES.iter() {
        emit_join(&mut buf, &[p, "-", l], emit);
    }
    for t in data::TOKENS.iter() {
        emit_join(&mut buf, &[t, "-", l], emit);
        emit_join(&mut buf, &[t, l], emit);
    }
}

fn suffixes(l: &str, emit: Emit<'_>) {
    let mut buf = String::with_capacity(l.len() + 32);
    for p in data::URLCRAZY_SUFFIXES.iter() {
        emit_join(&mut buf, &[l, "-", p], emit);
    }
    for t in data::TOKENS.iter() {
        emit_join(&mut buf, &[l, "-", t], emit);
        emit_join(&mut buf, &[l, t], emit);
    }
}

/// urlcrazy's typos on the ASCII (`xn--`) form of an IDN label.
fn ace_typos(d: &DomainName, emit: Emit<'_>) {
    if d.label.is_ascii() {
        return;
    }
    let Some(ace) = name::label_to_ascii(&d.label) else {
        return;
    };
    // Keep only names that are still ASCII-valid; `xn--` ones must decode (checked on push).
    let mut keep = |l: &str| {
        if l.is_ascii() {
            emit(l);
        }
    };
    let spelled = Spelled::new(&ace);
    for &t in EDIT_TECHNIQUES {
        edit_variants(t, &spelled, &mut keep);
    }
    double_replacement(&spelled, &mut keep);
    homoglyph_urlcrazy(&ace, &mut keep);
    for x in singular_plural(&ace) {
        keep(&x);
    }
    if ace.contains('-') {
        keep(&ace.replace('-', ""));
    }
    prefixes(&ace, &mut keep);
    suffixes(&ace, &mut keep);
}

/// Every suffix of the TLD-swap lists (dnstwist's, IANA, abused, urlcrazy's), first seen kept.
static SWAP_SUFFIXES: LazyLock<Vec<SuffixForm<'static>>> = LazyLock::new(|| {
    SuffixForm::list(
        unique(
            data::COMMON_TLDS
                .iter()
                .chain(data::IANA_TLDS.iter())
                .chain(data::ABUSED_TLDS.iter())
                .chain(data::URLCRAZY_TLDS.iter()),
        )
        .iter(),
    )
});

/// The TLDs a glued label is put under (dnstwist's, abused, IANA).
static GLUE_SUFFIXES: LazyLock<Vec<SuffixForm<'static>>> = LazyLock::new(|| {
    SuffixForm::list(
        unique(
            data::COMMON_TLDS
                .iter()
                .chain(data::ABUSED_TLDS.iter())
                .chain(data::IANA_TLDS.iter()),
        )
        .iter(),
    )
});

/// The TLDs a dot-to-dash label is put under (dnstwist's, then abused; repeats kept).
static DASH_SUFFIXES: LazyLock<Vec<SuffixForm<'static>>> =
    LazyLock::new(|| SuffixForm::list(data::COMMON_TLDS.iter().chain(data::ABUSED_TLDS.iter())));

/// urlcrazy's second-level domains.
static SLD_SUFFIXES: LazyLock<Vec<SuffixForm<'static>>> =
    LazyLock::new(|| SuffixForm::list(data::URLCRAZY_SLDS.iter()));

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
            for tld in SWAP_SUFFIXES.iter() {
                if tld.unicode != suffix {
                    out.push_with_suffix(t, label, tld);
                }
            }
        }
        Technique::Various => various(d, out),
        Technique::WrongSld => {
            if let Some((_, last)) = suffix.rsplit_once('.') {
                let tail = format!(".{last}");
                for sld in SLD_SUFFIXES.iter().filter(|s| s.unicode.ends_with(&tail)) {
                    out.push_with_suffix(t, label, sld);
                }
            }
        }
        Technique::AllSld => {
            for sld in SLD_SUFFIXES.iter() {
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
            let dashed = format!("{label}-{}", suffix.replace('.', "-"));
            for tld in DASH_SUFFIXES.iter() {
                out.push_with_suffix(t, &dashed, tld);
            }
        }
        Technique::TldGlue => {
            let glued = format!("{label}{}", suffix.replace('.', ""));
            for tld in GLUE_SUFFIXES.iter() {
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
    let s = |chars: &[char]| -> String { chars.iter().collect() };
    for k in 1..=2usize {
        if k < suffix.len() {
            let new_label = format!("{}{}", d.label, s(&suffix[..k]));
            let new_tld = s(&suffix[k..]);
            if tlds.contains(new_tld.as_str()) {
                out.push_with_suffix(t, &new_label, &SuffixForm::new(&new_tld));
            }
        }
        if k < label.len() {
            let new_label = s(&label[..label.len() - k]);
            let new_tld = format!("{}{}", s(&label[label.len() - k..]), d.suffix);
            if tlds.contains(new_tld.as_str()) {
                out.push_with_suffix(t, &new_label, &SuffixForm::new(&new_tld));
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
        let mut v = Vec::new();
        homoglyph_urlcrazy("google", &mut |x| v.push(x.to_string()));
        for want in ["g00gle", "g0ogle", "go0gle", "goog1e"] {
            assert!(v.iter().any(|x| x == want), "{want}");
        }
    }

    /// The order urlcrazy-style word swaps had with an Aho-Corasick overlapping search.
    fn misspellings_by_automaton(words: &aho_corasick::AhoCorasick, l: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut done = HashSet::new();
        for m in words.find_overlapping_iter(l) {
            let idx = m.pattern().as_usize();
            if done.insert(idx) {
                let (correct, wrong) = &data::MISSPELLINGS[idx];
                for w in wrong.iter().take(MAX_MISSPELLINGS_PER_WORD) {
                    out.push(l.replace(correct, w));
                }
            }
        }
        out
    }

    #[test]
    fn misspellings_keep_the_automaton_order() {
        let words: Vec<&str> = data::MISSPELLINGS.iter().map(|(c, _)| *c).collect();
        let mut labels: Vec<String> = include_str!("../tests/fixtures/domains100.txt")
            .lines()
            .filter_map(|l| l.split('.').next())
            .map(String::from)
            .collect();
        for pair in words.chunks(2).step_by(40) {
            labels.push(pair.concat());
            labels.push(format!("x{}-{}y", pair[0], pair[pair.len() - 1]));
        }
        labels.extend(
            [
                "accessibility",
                "examplecommunications",
                "threatstream",
                "internationalbusiness",
                "bücherexample",
            ]
            .map(String::from),
        );
        let automaton = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
            .build(words.iter())
            .unwrap();
        let mut with_hits = 0;
        for l in &labels {
            let mut ours = Vec::new();
            misspellings(l, &mut |x| ours.push(x.to_string()));
            assert_eq!(ours, misspellings_by_automaton(&automaton, l), "{l}");
            with_hits += usize::from(!ours.is_empty());
        }
        assert!(with_hits > 100, "{with_hits}");
    }

    #[test]
    fn homophones_in_group_order() {
        let mut out = Vec::new();
        homophones("mailboxsale", &mut |x| out.push(x.to_string()));
        // Every group with a word inside, in file order; each word swapped for the others.
        let mut want = Vec::new();
        for group in data::HOMOPHONES.iter() {
            for word in group
                .iter()
                .filter(|w| w.len() >= 3 && "mailboxsale".contains(**w))
            {
                for other in group.iter().filter(|o| *o != word) {
                    want.push("mailboxsale".replace(word, other));
                }
            }
        }
        assert!(want.len() >= 2, "{want:?}");
        assert_eq!(out, want);
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
