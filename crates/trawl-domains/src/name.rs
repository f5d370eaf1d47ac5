//! Domain names: parsing user input, splitting at the public suffix, and turning generated
//! Unicode labels into valid ASCII (punycode) names.
//!
//! Splitting uses the `psl` crate (Public Suffix List compiled in, private section included, so
//! `example.github.io` has the suffix `github.io`). IDNA2008 checks use the `idna` crate
//! (UTS #46 non-transitional with STD3 rules, hyphen checks and DNS lengths). Generated labels are
//! checked by a fast path: ASCII labels against the LDH rules, non-ASCII labels character by
//! character against a per-thread cache of `idna` verdicts, then punycode-encoded.

use std::cell::RefCell;
use std::collections::HashMap;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::DomainError;

/// Longest domain name in presentation form (RFC 1035, without the root dot).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// A parsed, valid domain split at its public suffix. All parts in Unicode (lowercase, NFC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName {
    /// Labels left of the registrable label, joined with dots (may be empty).
    pub subdomain: String,
    /// The registrable label (the one left of the public suffix).
    pub label: String,
    /// The public suffix, for example `com`, `co.uk`, `github.io`.
    pub suffix: String,
    /// The whole name in ASCII (punycode) form.
    pub ascii: String,
    /// The whole name in Unicode form.
    pub unicode: String,
}

impl DomainName {
    /// The registrable domain (`label.suffix`) in Unicode form.
    pub fn registrable(&self) -> String {
        format!("{}.{}", self.label, self.suffix)
    }

    /// The registrable domain in ASCII form.
    pub fn registrable_ascii(&self) -> String {
        let keep = self.suffix.split('.').count() + 1;
        let labels: Vec<&str> = self.ascii.split('.').collect();
        labels[labels.len().saturating_sub(keep)..].join(".")
    }
}

/// Parses user input: trims spaces and one trailing dot, lowercases, decodes `xn--` labels,
/// checks IDNA2008 validity and label/name lengths, and splits at the public suffix.
pub fn parse_domain(input: &str) -> Result<DomainName, DomainError> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let invalid = |reason: &str| DomainError::Invalid {
        input: input.trim().to_string(),
        reason: reason.to_string(),
    };
    if trimmed.is_empty() {
        return Err(invalid("empty name"));
    }
    if trimmed.len() > 4 * MAX_NAME_LEN {
        return Err(invalid("longer than 253 characters"));
    }
    if trimmed.contains("..") || trimmed.starts_with('.') {
        return Err(invalid("empty label"));
    }
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            trimmed.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Verify,
        )
        .map_err(|_| {
            invalid("not a valid IDNA2008 host name (letters, digits, hyphens; no leading/trailing hyphen; labels up to 63, name up to 253)")
        })?
        .into_owned();
    let (unicode, result) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    result.map_err(|_| invalid("contains an invalid punycode (xn--) label"))?;
    let unicode = unicode.into_owned();
    if !ascii.contains('.') {
        return Err(invalid("needs at least two labels, like example.com"));
    }
    let suffix_ascii = psl::suffix_str(&ascii).ok_or_else(|| invalid("no public suffix"))?;
    if suffix_ascii.len() >= ascii.len() {
        return Err(invalid(
            "is a public suffix itself; give a registrable name under it",
        ));
    }
    let suffix_labels = suffix_ascii.split('.').count();
    let labels: Vec<&str> = unicode.split('.').collect();
    let ascii_labels = ascii.split('.').count();
    if labels.len() != ascii_labels || labels.len() <= suffix_labels {
        return Err(invalid("label count changed in IDNA processing"));
    }
    let label_index = labels.len() - suffix_labels - 1;
    Ok(DomainName {
        subdomain: labels[..label_index].join("."),
        label: labels[label_index].to_string(),
        suffix: labels[label_index + 1..].join("."),
        ascii,
        unicode,
    })
}

/// Normalises a domain seen in a feed for lookups: trims, drops one trailing dot and a leading
/// `*.`, lowercases ASCII; non-ASCII names go through UTS #46 without hyphen checks. Returns
/// `(ascii, unicode)` or `None` when the name cannot be a DNS name.
pub fn normalize_feed_domain(raw: &str) -> Option<(String, String)> {
    let name = raw.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    let name = name.strip_prefix("*.").unwrap_or(name);
    if name.is_empty() || name.len() > 4 * MAX_NAME_LEN {
        return None;
    }
    if name.is_ascii() {
        let lower = name.to_ascii_lowercase();
        if !lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            || lower.len() > MAX_NAME_LEN
        {
            return None;
        }
        if lower.contains("xn--") {
            let (unicode, result) =
                Uts46::new().to_unicode(lower.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow);
            if result.is_ok() {
                let unicode = unicode.into_owned();
                return Some((lower, unicode));
            }
        }
        let unicode = lower.clone();
        return Some((lower, unicode));
    }
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            name.as_bytes(),
            AsciiDenyList::EMPTY,
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .ok()?
        .into_owned();
    let unicode = uts46
        .to_unicode(ascii.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow)
        .0
        .into_owned();
    Some((ascii, unicode))
}

/// True when an ASCII label obeys the LDH rules: 1-63 of `[a-z0-9-]`, no hyphen first or
/// last, and no `--` in positions 3-4 unless it is an `xn--` label that decodes validly.
pub fn ascii_label_ok(label: &str) -> bool {
    let bytes = label.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_LABEL_LEN {
        return false;
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return false;
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    {
        return false;
    }
    if bytes.len() >= 4 && &bytes[2..4] == b"--" {
        return label.starts_with("xn--") && ace_label_ok(label);
    }
    true
}

/// True when an `xn--` label decodes to a valid IDNA2008 Unicode label that re-encodes to itself.
fn ace_label_ok(label: &str) -> bool {
    let uts46 = Uts46::new();
    let (unicode, result) = uts46.to_unicode(label.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    if result.is_err() {
        return false;
    }
    match uts46.to_ascii(
        unicode.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::Check,
        DnsLength::Verify,
    ) {
        Ok(back) => back == label,
        Err(_) => false,
    }
}

/// Characters below this get an array slot in the verdict cache; others a hash map entry.
const DIRECT_CACHE: usize = 0x3000;

struct Verdicts {
    direct: Vec<u8>,
    other: HashMap<char, bool>,
}

thread_local! {
    static CHAR_VERDICTS: RefCell<Verdicts> = RefCell::new(Verdicts {
        direct: vec![0; DIRECT_CACHE],
        other: HashMap::new(),
    });
}

impl Verdicts {
    #[inline]
    fn get(&mut self, c: char) -> bool {
        if c.is_ascii() {
            return c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        }
        match self.direct.get(c as usize) {
            Some(1) => true,
            Some(2) => false,
            _ => self.learn(c),
        }
    }

    #[cold]
    fn learn(&mut self, c: char) -> bool {
        if let Some(known) = self.direct.get_mut(c as usize) {
            let verdict = char_verdict(c);
            *known = if verdict { 1 } else { 2 };
            return verdict;
        }
        *self.other.entry(c).or_insert_with(|| char_verdict(c))
    }
}

/// True when `c` may appear in an IDNA2008 label as itself (valid, not mapped or disallowed).
pub fn idna_char_ok(c: char) -> bool {
    CHAR_VERDICTS.with(|cache| cache.borrow_mut().get(c))
}

fn char_verdict(c: char) -> bool {
    let probe = format!("a{c}a");
    let uts46 = Uts46::new();
    let Ok(ascii) = uts46.to_ascii(
        probe.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::Check,
        DnsLength::Verify,
    ) else {
        return false;
    };
    let (back, result) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    result.is_ok() && back == probe
}

/// Converts one generated Unicode label to its ASCII form, or `None` when it is not a valid label.
pub fn label_to_ascii(label: &str) -> Option<String> {
    let mut out = String::with_capacity(label.len() + 8);
    label_to_ascii_into(label, &mut out).then_some(out)
}

/// [`label_to_ascii`] appending to `out`: true (and the ASCII form appended) when the label is
/// valid; false otherwise (`out` may be extended then).
///
/// Non-ASCII labels are punycode-encoded by [`punycode_into`] straight from the decoded
/// characters, without an allocation per label.
pub fn label_to_ascii_into(label: &str, out: &mut String) -> bool {
    if label.is_ascii() {
        if !ascii_label_ok(label) {
            return false;
        }
        out.push_str(label);
        return true;
    }
    if label.starts_with('-') || label.ends_with('-') {
        return false;
    }
    // More characters than fit after `xn--` cannot make a valid label (each one costs at least
    // one byte of punycode, and the full UTS #46 path below would produce the same encoding).
    let mut chars = ['\0'; PUNY_ROOM];
    let mut count = 0;
    let all_ok = CHAR_VERDICTS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let mut ok = true;
        for c in label.chars() {
            let slot = chars.get_mut(count)?;
            *slot = c;
            count += 1;
            ok &= cache.get(c);
        }
        Some(ok)
    });
    let chars = chars.get(..count).unwrap_or_default();
    match all_ok {
        None => false,
        // Characters that fail the in-context probe (right-to-left scripts, combining marks)
        // get the full UTS #46 check of the whole label.
        Some(false) => match full_label_to_ascii(label) {
            Some(ascii) => {
                out.push_str(&ascii);
                true
            }
            None => false,
        },
        Some(true) if chars.get(2) == Some(&'-') && chars.get(3) == Some(&'-') => false,
        Some(true) => {
            out.push_str("xn--");
            punycode_into(chars, out)
        }
    }
}

/// RFC 3492 punycode digits.
const PUNY_DIGITS: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Room for the punycode part of a label after `xn--`.
const PUNY_ROOM: usize = MAX_LABEL_LEN - 4;

/// Appends the RFC 3492 punycode encoding of `chars` to `out`; false (and `out` possibly
/// extended) when it is longer than the 59 bytes a label has after `xn--` (or on arithmetic
/// overflow, impossible at that length).
///
/// Hand-written instead of `idna::punycode::encode_str` because the generator encodes about
/// 3,000 new labels per input domain: the crate's encoder re-decodes the UTF-8 input once per
/// distinct non-ASCII character and returns a fresh `String`, which made it the largest single
/// cost of `trawl domains permute`. A unit test checks this encoder against the crate's.
fn punycode_into(chars: &[char], out: &mut String) -> bool {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    let mut buf = [0u8; PUNY_ROOM];
    let mut len = 0usize;
    let mut put = |b: u8| match buf.get_mut(len) {
        Some(slot) => {
            *slot = b;
            len += 1;
            true
        }
        None => false,
    };
    // Every character costs at least one output byte (a basic one itself, another one at
    // least one digit): longer inputs cannot fit, which also bounds `points`.
    if chars.len() > PUNY_ROOM {
        return false;
    }
    // The distinct non-basic code points, ascending (the encoder's rounds).
    let mut points = [0u32; PUNY_ROOM];
    let mut distinct = 0usize;
    let mut basic = 0u32;
    for &c in chars {
        if c.is_ascii() {
            put(c as u8);
            basic += 1;
            continue;
        }
        let c = c as u32;
        let known = &points[..distinct];
        let at = known.partition_point(|&p| p < c);
        if known.get(at) != Some(&c) {
            points.copy_within(at..distinct, at + 1);
            points[at] = c;
            distinct += 1;
        }
    }
    if basic > 0 {
        put(b'-');
    }
    let (mut n, mut delta, mut bias, mut handled) = (0x80u32, 0u32, 72u32, basic);
    for &m in &points[..distinct] {
        let Some(d) = (m - n)
            .checked_mul(handled + 1)
            .and_then(|x| x.checked_add(delta))
        else {
            return false;
        };
        delta = d;
        n = m;
        for &c in chars {
            let c = c as u32;
            if c < n {
                delta += 1;
            } else if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = k.saturating_sub(bias).clamp(T_MIN, T_MAX);
                    if q < t {
                        break;
                    }
                    if !put(PUNY_DIGITS[(t + (q - t) % (BASE - t)) as usize]) {
                        return false;
                    }
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                if !put(PUNY_DIGITS[q as usize]) {
                    return false;
                }
                bias = punycode_adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    match buf.get(..len).map(std::str::from_utf8) {
        Some(Ok(ascii)) => {
            out.push_str(ascii);
            true
        }
        _ => false,
    }
}

fn punycode_adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((36 - 1) * 26) / 2 {
        delta /= 36 - 1;
        k += 36;
    }
    k + (36 * delta) / (delta + 38)
}

fn full_label_to_ascii(label: &str) -> Option<String> {
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            label.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Verify,
        )
        .ok()?;
    let (back, result) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    (result.is_ok() && back == label && !ascii.contains('.')).then(|| ascii.into_owned())
}

/// Converts a generated Unicode name (dot-separated labels) to ASCII, checking every label and
/// the dnstwist rules for the whole name (4-253 characters, last label 2+ characters).
pub fn name_to_ascii(name: &str) -> Option<String> {
    if name.is_ascii() {
        return ascii_name_ok(name).then(|| name.to_string());
    }
    let mut out = String::with_capacity(name.len() + 8);
    name_to_ascii_into(name, &mut out).then_some(out)
}

/// [`name_to_ascii`] for a name that is all ASCII: true when it is valid as it is.
pub fn ascii_name_ok(name: &str) -> bool {
    let mut last_len = 0;
    for label in name.split('.') {
        if !ascii_label_ok(label) {
            return false;
        }
        last_len = label.len();
    }
    name.len() >= 4 && name.len() <= MAX_NAME_LEN && last_len >= 2 && name.contains('.')
}

/// [`name_to_ascii`] appending the ASCII form to `out`; false (and `out` possibly extended)
/// when the name is invalid.
pub fn name_to_ascii_into(name: &str, out: &mut String) -> bool {
    let start = out.len();
    let mut last_len = 0;
    for (i, label) in name.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        let before = out.len();
        if !label_to_ascii_into(label, out) {
            return false;
        }
        last_len = out.len() - before;
    }
    let len = out.len() - start;
    (4..=MAX_NAME_LEN).contains(&len) && last_len >= 2 && name.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_to_ascii_into_appends_and_checks() {
        let mut out = String::from("x|");
        assert!(name_to_ascii_into("www.bücher.de", &mut out));
        assert_eq!(out, "x|www.xn--bcher-kva.de");
        assert_eq!(
            name_to_ascii("bücher.de").as_deref(),
            Some("xn--bcher-kva.de")
        );
        assert!(!name_to_ascii_into("bü-.de", &mut String::new()));
        assert!(!name_to_ascii_into("bücher.d", &mut String::new()));
        assert!(ascii_name_ok("paypal.com"));
        assert!(!ascii_name_ok("paypal.c"));
        assert!(!ascii_name_ok("-paypal.com"));
    }

    #[test]
    fn splits_at_public_suffix() {
        let d = parse_domain("Login.Example.CO.UK.").unwrap();
        assert_eq!(
            (d.subdomain.as_str(), d.label.as_str(), d.suffix.as_str()),
            ("login", "example", "co.uk")
        );
        let d = parse_domain("example.github.io").unwrap();
        assert_eq!(
            (d.label.as_str(), d.suffix.as_str()),
            ("example", "github.io")
        );
        let d = parse_domain("example.me.uk").unwrap();
        assert_eq!((d.label.as_str(), d.suffix.as_str()), ("example", "me.uk"));
    }

    #[test]
    fn decodes_punycode_input() {
        let d = parse_domain("xn--80ak6aa92e.com").unwrap();
        assert_eq!(d.label, "аррӏе");
        assert_eq!(d.ascii, "xn--80ak6aa92e.com");
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        for bad in [
            "",
            "com",
            "co.uk",
            "-bad.com",
            "bad-.com",
            "ex ample.com",
            "a..b.com",
            "xn--zz.com",
            "ab--cd.com",
        ] {
            let err = parse_domain(bad).unwrap_err().to_string();
            assert!(err.contains("invalid domain"), "{bad}: {err}");
        }
    }

    #[test]
    fn punycode_matches_the_idna_crate() {
        // Every character of the glyph and Cyrillic tables, alone, doubled and between ASCII,
        // plus a few scripts and lengths around the 63-byte limit.
        let mut glyph_chars: Vec<char> = crate::data::GLYPHS_UNICODE
            .values()
            .chain(
                crate::data::GLYPHS_BY_SUFFIX
                    .values()
                    .flat_map(|t| t.values()),
            )
            .flatten()
            .flat_map(|g| g.chars())
            .chain(crate::data::CYRILLIC.values().copied())
            .filter(|c| !c.is_ascii())
            .collect();
        glyph_chars.sort_unstable();
        glyph_chars.dedup();
        assert!(glyph_chars.len() > 100, "{}", glyph_chars.len());
        let mut labels: Vec<String> = Vec::new();
        for &c in &glyph_chars {
            labels.push(format!("{c}"));
            labels.push(format!("g{c}{c}gle"));
            labels.push(format!("{c}xample-{c}"));
        }
        for w in glyph_chars.windows(3) {
            labels.push(format!("p{}y{}al{}", w[2], w[0], w[1]));
        }
        labels.extend(
            [
                "bücher",
                "москва",
                "中国",
                "日本語ドメイン",
                "ünïcödé-test",
                "straße",
                "\u{10fffd}a",
            ]
            .map(String::from),
        );
        for n in [50, 55, 56, 57, 58, 59, 60, 61] {
            labels.push(format!("{}é", "a".repeat(n)));
            labels.push("é".repeat(n / 4));
        }
        for label in &labels {
            let chars: Vec<char> = label.chars().collect();
            let mut ours = String::from("x");
            let ok = punycode_into(&chars, &mut ours);
            let theirs = idna::punycode::encode_str(label).filter(|p| p.len() <= PUNY_ROOM);
            assert_eq!(ok.then(|| ours[1..].to_string()), theirs, "{label:?}");
        }
    }

    #[test]
    fn label_rules() {
        assert!(ascii_label_ok("threat-stream"));
        assert!(!ascii_label_ok("-threat"));
        assert!(!ascii_label_ok("xb--80ak6aa92e"));
        assert!(ascii_label_ok("xn--80ak6aa92e"));
        assert!(!ascii_label_ok(&"a".repeat(64)));
        assert_eq!(label_to_ascii("аррӏе").as_deref(), Some("xn--80ak6aa92e"));
        assert_eq!(label_to_ascii("Paypal"), None);
        assert_eq!(
            label_to_ascii("pay\u{00df}al").as_deref(),
            Some("xn--payal-nqa")
        );
    }
}
