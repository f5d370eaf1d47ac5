//! The data tables under `data/`, compiled in with `include_str!` and parsed once on first use.
//! Where each file came from is written at its top and in `data/README.md`.

use std::collections::HashMap;
use std::sync::LazyLock;

/// A keyboard layout: rows (urlcrazy's left/right neighbours) and per-key neighbours (dnstwist).
#[derive(Debug)]
pub struct Keyboard {
    /// Layout name (`qwerty`, `qwertz`, `azerty`, `dvorak`).
    pub name: &'static str,
    /// Key rows, left to right.
    pub rows: Vec<Vec<char>>,
    /// Keys around each key.
    pub neighbours: HashMap<char, Vec<char>>,
}

impl Keyboard {
    /// The keys directly left and right of `c` in its row (urlcrazy's notion of a neighbour).
    pub fn left_right(&self, c: char) -> impl Iterator<Item = char> + '_ {
        self.rows
            .iter()
            .find_map(|row| row.iter().position(|k| *k == c).map(|i| (row, i)))
            .into_iter()
            .flat_map(|(row, i)| {
                let left = i.checked_sub(1).and_then(|j| row.get(j).copied());
                let right = row.get(i + 1).copied();
                left.into_iter().chain(right)
            })
    }
}

fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"))
}

fn parse_keyboard(name: &'static str, text: &'static str) -> Keyboard {
    let mut rows = Vec::new();
    let mut neighbours = HashMap::new();
    for line in lines(text) {
        if let Some(row) = line.strip_prefix("row ") {
            rows.push(row.chars().collect());
        } else if let Some((key, keys)) = line.split_once(' ')
            && let Some(k) = key.chars().next()
        {
            neighbours.insert(k, keys.chars().collect());
        }
    }
    Keyboard {
        name,
        rows,
        neighbours,
    }
}

/// The four keyboard layouts: QWERTY, QWERTZ, AZERTY (dnstwist's three) and Dvorak.
pub static KEYBOARDS: LazyLock<Vec<Keyboard>> = LazyLock::new(|| {
    vec![
        parse_keyboard("qwerty", include_str!("../data/keyboards/qwerty.txt")),
        parse_keyboard("qwertz", include_str!("../data/keyboards/qwertz.txt")),
        parse_keyboard("azerty", include_str!("../data/keyboards/azerty.txt")),
        parse_keyboard("dvorak", include_str!("../data/keyboards/dvorak.txt")),
    ]
});

/// A glyph table: source (one or two characters) to look-alike replacements.
pub type GlyphTable = HashMap<String, Vec<String>>;

fn parse_glyphs<'a>(lines: impl Iterator<Item = &'a str>) -> GlyphTable {
    let mut table = GlyphTable::new();
    for line in lines {
        let mut parts = line.split_whitespace();
        if let Some(source) = parts.next() {
            table
                .entry(source.to_string())
                .or_default()
                .extend(parts.map(str::to_string));
        }
    }
    table
}

/// dnstwist's ASCII homoglyphs.
pub static GLYPHS_ASCII: LazyLock<GlyphTable> =
    LazyLock::new(|| parse_glyphs(lines(include_str!("../data/homoglyphs-ascii.txt"))));

/// dnstwist's Unicode homoglyphs for suffixes without their own IDN table.
pub static GLYPHS_UNICODE: LazyLock<GlyphTable> =
    LazyLock::new(|| parse_glyphs(lines(include_str!("../data/homoglyphs-unicode.txt"))));

/// dnstwist's per-suffix IDN tables (what each registry accepts); empty table: no IDN at all.
pub static GLYPHS_BY_SUFFIX: LazyLock<HashMap<String, GlyphTable>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    let mut suffixes: Vec<String> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let mut flush = |suffixes: &mut Vec<String>, body: &mut Vec<&str>| {
        let table = parse_glyphs(body.drain(..));
        for s in suffixes.drain(..) {
            out.insert(s, table.clone());
        }
    };
    for line in lines(include_str!("../data/homoglyphs-idn-by-tld.txt")) {
        if let Some(list) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut suffixes, &mut body);
            suffixes = list.split_whitespace().map(str::to_string).collect();
        } else {
            body.push(line);
        }
    }
    flush(&mut suffixes, &mut body);
    out
});

/// The homoglyph table dnstwist uses for a suffix: ASCII glyphs merged with the suffix's IDN table.
pub fn glyphs_for_suffix(suffix: &str) -> GlyphTable {
    let mut table = GLYPHS_ASCII.clone();
    let idn = GLYPHS_BY_SUFFIX.get(suffix).unwrap_or(&GLYPHS_UNICODE);
    for (source, glyphs) in idn {
        let entry = table.entry(source.clone()).or_default();
        for g in glyphs {
            if !entry.contains(g) {
                entry.push(g.clone());
            }
        }
    }
    table
}

/// dnstwist's Latin to Cyrillic map.
pub static CYRILLIC: LazyLock<HashMap<char, char>> = LazyLock::new(|| {
    lines(include_str!("../data/cyrillic.txt"))
        .filter_map(|l| {
            let mut chars = l.split_whitespace().filter_map(|p| p.chars().next());
            Some((chars.next()?, chars.next()?))
        })
        .collect()
});

fn word_list(text: &'static str) -> Vec<&'static str> {
    lines(text).collect()
}

/// dnstwist's shipped English dictionary (52 words).
pub static DICTIONARY: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/dnstwist-english.dict")));
/// dnstwist's shipped common TLD dictionary (99 suffixes).
pub static COMMON_TLDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/dnstwist-common-tlds.dict")));
/// IANA root-zone TLDs (Unicode form for IDN TLDs).
pub static IANA_TLDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/tlds-iana.txt")));
/// TLDs most abused for phishing and malware.
pub static ABUSED_TLDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/tlds-abused.txt")));
/// urlcrazy's TLD list (its Wrong TLD typo).
/// Its IDN TLDs are kept in Unicode form like the other lists, so one name has one spelling.
pub static URLCRAZY_TLDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    word_list(include_str!("../data/urlcrazy-tlds.txt"))
        .into_iter()
        .map(unicode_tld)
        .collect()
});

fn unicode_tld(tld: &'static str) -> &'static str {
    if !tld.starts_with("xn--") {
        return tld;
    }
    match idna::domain_to_unicode(tld) {
        (unicode, Ok(())) => Box::leak(unicode.into_boxed_str()),
        _ => tld,
    }
}
/// urlcrazy's second-level domains (its Wrong SLD / All SLD typos).
pub static URLCRAZY_SLDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/urlcrazy-slds.txt")));
/// urlcrazy's domain prefixes.
pub static URLCRAZY_PREFIXES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/urlcrazy-prefixes.txt")));
/// urlcrazy's domain suffixes.
pub static URLCRAZY_SUFFIXES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/urlcrazy-suffixes.txt")));
/// Deceptive tokens (www, login, sslvpn, support, ...).
pub static TOKENS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| word_list(include_str!("../data/tokens.txt")));

/// Common misspellings: correct word to its misspellings.
pub static MISSPELLINGS: LazyLock<Vec<(&'static str, Vec<&'static str>)>> = LazyLock::new(|| {
    lines(include_str!("../data/misspellings.txt"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let correct = words.next()?;
            Some((correct, words.collect()))
        })
        .collect()
});

/// Words found inside labels by looking every substring of the label up (see
/// `permute::substrings`), with the length of the longest word to bound that search.
#[derive(Debug)]
pub struct WordIndex<V> {
    /// Word to what the technique needs about it.
    pub words: HashMap<&'static str, V, foldhash::fast::FixedState>,
    /// Length in bytes of the longest word.
    pub max_len: usize,
}

/// The misspellings list by correct word: the rest of each of its lines (the misspellings,
/// space-separated), in file order. Built straight from the text, one small `Vec` per word.
pub static MISSPELLING_INDEX: LazyLock<WordIndex<Vec<&'static str>>> = LazyLock::new(|| {
    let mut index: WordIndex<Vec<&'static str>> = WordIndex {
        words: HashMap::with_capacity_and_hasher(16384, Default::default()),
        max_len: 0,
    };
    for line in lines(include_str!("../data/misspellings.txt")) {
        let (correct, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        index.max_len = index.max_len.max(correct.len());
        index.words.entry(correct).or_default().push(rest);
    }
    index
});

/// Homophones of 3+ bytes to every `(group, position)` where they appear in [`HOMOPHONES`].
pub static HOMOPHONE_INDEX: LazyLock<WordIndex<Vec<(u32, u32)>>> = LazyLock::new(|| {
    let mut index = WordIndex {
        words: HashMap::with_hasher(Default::default()),
        max_len: 0,
    };
    for (g, group) in HOMOPHONES.iter().enumerate() {
        for (w, word) in group.iter().enumerate().filter(|(_, w)| w.len() >= 3) {
            index.max_len = index.max_len.max(word.len());
            index
                .words
                .entry(*word)
                .or_insert_with(Vec::new)
                .push((g as u32, w as u32));
        }
    }
    index
});

/// Homophone groups.
pub static HOMOPHONES: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
    lines(include_str!("../data/homophones.txt"))
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect()
});

/// TS #39 confusables: source character to prototype string.
pub static CONFUSABLES: LazyLock<HashMap<char, String>> = LazyLock::new(|| {
    lines(include_str!("../data/confusables.txt"))
        .filter_map(|l| {
            let (source, target) = l.split_once(';')?;
            let source = char::from_u32(u32::from_str_radix(source.trim(), 16).ok()?)?;
            let target: Option<String> = target
                .split_whitespace()
                .map(|h| u32::from_str_radix(h, 16).ok().and_then(char::from_u32))
                .collect();
            Some((source, target?))
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load_with_expected_sizes() {
        assert_eq!(KEYBOARDS.len(), 4);
        assert_eq!(DICTIONARY.len(), 52);
        assert_eq!(COMMON_TLDS.len(), 99);
        assert_eq!(URLCRAZY_TLDS.len(), 1513);
        assert_eq!(URLCRAZY_SLDS.len(), 487);
        assert!(IANA_TLDS.len() > 1400, "{}", IANA_TLDS.len());
        assert!(CONFUSABLES.len() > 6000);
        assert_eq!(CONFUSABLES.get(&'1').map(String::as_str), Some("l"));
        assert_eq!(CYRILLIC.get(&'a'), Some(&'а'));
        assert!(TOKENS.contains(&"sslvpn"));
        assert!(GLYPHS_BY_SUFFIX.get("co.uk").is_some_and(|t| t.is_empty()));
        assert!(
            MISSPELLINGS
                .iter()
                .any(|(c, m)| *c == "example" && m.contains(&"exmaple"))
        );
    }

    #[test]
    fn keyboard_neighbours() {
        let qwerty = &KEYBOARDS[0];
        assert_eq!(qwerty.left_right('s').collect::<Vec<_>>(), vec!['a', 'd']);
        assert_eq!(qwerty.left_right('q').collect::<Vec<_>>(), vec!['w']);
        assert_eq!(qwerty.neighbours.get(&'a').unwrap().len(), 4);
    }
}
