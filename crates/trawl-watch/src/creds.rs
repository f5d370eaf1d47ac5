//! Credential exposure in dumps: combolists (`email:password`, `email;password`), CSV dumps
//! and SQL `INSERT` dumps. One Aho-Corasick automaton over `@domain` and the executives'
//! full addresses finds candidate positions; only those are parsed.
//!
//! Whole buffers (a dump read in megabyte blocks) are searched with [`CredScanner::candidate_lines`]:
//! the block is ASCII-lower-cased into a scratch copy and searched with a second, case-sensitive
//! leftmost automaton over the lower-cased patterns. That one gets aho-corasick's SIMD
//! (`Teddy`) prefilter, which the case-insensitive overlapping automaton cannot use, and only
//! the lines around its hits are parsed, with exactly the per-line logic of [`CredScanner::scan_line`].

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind, Span, packed};
use sha1::{Digest, Sha1};

use crate::inventory::Entity;

#[derive(Debug, Clone)]
struct Target {
    entity: usize,
    executive: Option<String>,
    /// The lower-case address for executives' personal addresses; `None` for a domain.
    address: Option<String>,
    /// Offset of `@` inside the pattern.
    at: usize,
}

/// An address of the inventory found in a dump line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredHit {
    /// Index of the entity.
    pub entity: usize,
    /// The executive, for a personal address.
    pub executive: Option<String>,
    /// The address, lower-case.
    pub email: String,
    /// The password next to it, when the line has one.
    pub password: Option<Vec<u8>>,
}

/// The scanner, built once from the inventory.
#[derive(Debug)]
pub struct CredScanner {
    automaton: AhoCorasick,
    /// The lower-cased patterns, case-sensitive, leftmost-first: for lower-cased buffers.
    folded: AhoCorasick,
    /// The same as a packed (SIMD Teddy) searcher, when the patterns allow one (up to about
    /// a hundred): the automaton's own prefilter choice picks `memchr('@')` for these
    /// patterns, which fires on every line of a combolist.
    folded_packed: Option<packed::Searcher>,
    targets: Vec<Target>,
    allow: Vec<String>,
}

fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'' | b'!')
}

fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

impl CredScanner {
    /// Builds the scanner; `None` when the inventory has no mail domains or addresses.
    pub fn new(entities: &[Entity]) -> Option<CredScanner> {
        let (mut patterns, mut targets, mut allow) = (Vec::new(), Vec::new(), Vec::new());
        for (i, e) in entities.iter().enumerate() {
            for d in &e.email_domains {
                let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
                if d.is_empty() {
                    continue;
                }
                patterns.push(format!("@{d}"));
                targets.push(Target {
                    entity: i,
                    executive: None,
                    address: None,
                    at: 0,
                });
            }
            for x in &e.executives {
                for a in &x.emails {
                    let a = a.trim().to_ascii_lowercase();
                    let at = a.find('@').unwrap_or(0);
                    patterns.push(a.clone());
                    targets.push(Target {
                        entity: i,
                        executive: Some(x.name.clone()),
                        address: Some(a),
                        at,
                    });
                }
            }
            allow.extend(e.allow.emails.iter().map(|a| a.to_ascii_lowercase()));
        }
        if patterns.is_empty() {
            return None;
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok()?;
        let lower: Vec<String> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        let folded = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&lower)
            .ok()?;
        let folded_packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&lower)
            .build();
        Some(CredScanner {
            automaton,
            folded,
            folded_packed,
            targets,
            allow,
        })
    }

    /// Cheap pre-check: does the line contain any pattern?
    pub fn is_candidate(&self, line: &[u8]) -> bool {
        self.automaton.is_match(line)
    }

    /// Calls `found(start, end)` once for every line of `buf` holding a pattern (any ASCII
    /// case), in order; `end` is the line's `\n` (or the end of `buf`). `scratch` is reused.
    pub fn candidate_lines(
        &self,
        buf: &[u8],
        scratch: &mut Vec<u8>,
        mut found: impl FnMut(usize, usize),
    ) {
        const BLOCK: usize = 1 << 18;
        let mut block_start = 0;
        while block_start < buf.len() {
            let rest = buf.get(block_start..).unwrap_or_default();
            let block_len = match rest.get(BLOCK..).and_then(|r| memchr::memchr(b'\n', r)) {
                Some(i) => BLOCK + i + 1,
                None => rest.len(),
            };
            let block = rest.get(..block_len).unwrap_or_default();
            scratch.clear();
            scratch.extend(block.iter().map(u8::to_ascii_lowercase));
            let mut at = 0;
            while at < scratch.len() {
                let found_at = match &self.folded_packed {
                    Some(p) => p.find_in(scratch.as_slice(), Span::from(at..scratch.len())),
                    None => self
                        .folded
                        .find(Input::new(scratch.as_slice()).span(at..scratch.len())),
                };
                let Some(m) = found_at else {
                    break;
                };
                let head = scratch.get(..m.start()).unwrap_or_default();
                let start = memchr::memrchr(b'\n', head).map_or(0, |i| i + 1);
                let tail = scratch.get(m.end()..).unwrap_or_default();
                let end = memchr::memchr(b'\n', tail).map_or(scratch.len(), |i| m.end() + i);
                found(block_start + start, block_start + end);
                at = end + 1;
            }
            block_start += block_len;
        }
    }

    /// Appends every inventory address found in `line` (one per `@`, personal addresses first).
    pub fn scan_line(&self, line: &[u8], out: &mut Vec<CredHit>) {
        let mut last_at = usize::MAX;
        for m in self.automaton.find_overlapping_iter(line) {
            let Some(target) = self.targets.get(m.pattern().as_usize()) else {
                continue;
            };
            let at = m.start() + target.at;
            if let Some(hit) = self.parse_at(line, at, m.end(), target) {
                if at == last_at {
                    // Same address matched as domain and as personal address: keep the latter.
                    if let Some(prev) = out.last_mut()
                        && target.executive.is_some()
                    {
                        *prev = hit;
                    }
                    continue;
                }
                last_at = at;
                out.push(hit);
            }
        }
    }

    fn parse_at(&self, line: &[u8], at: usize, end: usize, target: &Target) -> Option<CredHit> {
        let mut start = at;
        while start > 0 && line.get(start - 1).copied().is_some_and(is_local_byte) {
            start -= 1;
        }
        // A quote directly before the local part belongs to the SQL/CSV value.
        while start < at && line.get(start) == Some(&b'\'') {
            start += 1;
        }
        if start == at || !domain_ends_at(line, end) {
            return None;
        }
        let email = String::from_utf8_lossy(line.get(start..end)?).to_ascii_lowercase();
        if let Some(address) = &target.address
            && *address != email
        {
            return None;
        }
        if self.allow.contains(&email) {
            return None;
        }
        let quote = start.checked_sub(1).and_then(|i| line.get(i)).copied();
        Some(CredHit {
            entity: target.entity,
            executive: target.executive.clone(),
            email,
            password: password_after(line, end, quote),
        })
    }
}

/// True when the domain really ends at `end` (`@acme.com` must not match `@acme.com.evil`).
fn domain_ends_at(line: &[u8], end: usize) -> bool {
    match line.get(end) {
        None => true,
        Some(b) if is_domain_byte(*b) => false,
        Some(b'.') => !line.get(end + 1).copied().is_some_and(is_domain_byte),
        Some(_) => true,
    }
}

/// The password after an address ending at `end`: the rest of the line for combolists,
/// the next field for CSV and SQL values.
fn password_after(line: &[u8], end: usize, quote: Option<u8>) -> Option<Vec<u8>> {
    let mut i = end;
    let quoted = matches!(quote, Some(b'\'' | b'"'));
    if quoted && line.get(i).copied() == quote {
        i += 1;
    }
    let sep = *line.get(i)?;
    let value = match sep {
        b':' | b';' | b'|' if !quoted => trim_end(line.get(i + 1..)?).to_vec(),
        b',' | b'\t' | b':' | b';' => next_field(line.get(i + 1..)?),
        _ => return None,
    };
    (!value.is_empty()).then_some(value)
}

fn trim_end(s: &[u8]) -> &[u8] {
    let mut e = s.len();
    while e > 0 && matches!(s.get(e - 1), Some(b'\r' | b'\n')) {
        e -= 1;
    }
    s.get(..e).unwrap_or_default()
}

/// A CSV/SQL value: quoted (`'..'` or `".."`, with `\'` and doubled quotes) or bare.
fn next_field(rest: &[u8]) -> Vec<u8> {
    let rest = match rest.iter().position(|b| *b != b' ') {
        Some(p) => rest.get(p..).unwrap_or_default(),
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    match rest.first() {
        Some(&q @ (b'\'' | b'"')) => {
            let mut i = 1;
            while let Some(&b) = rest.get(i) {
                if b == b'\\' {
                    if let Some(&n) = rest.get(i + 1) {
                        out.push(n);
                    }
                    i += 2;
                } else if b == q {
                    if rest.get(i + 1) == Some(&q) {
                        out.push(q);
                        i += 2;
                    } else {
                        break;
                    }
                } else {
                    out.push(b);
                    i += 1;
                }
            }
        }
        _ => {
            let end = rest
                .iter()
                .position(|b| matches!(b, b',' | b')' | b'\t' | b'\r'))
                .unwrap_or(rest.len());
            out.extend_from_slice(rest.get(..end).unwrap_or_default());
            if out.eq_ignore_ascii_case(b"null") {
                out.clear();
            }
        }
    }
    out
}

/// Lower-case hex SHA-1 of a password.
pub fn sha1_hex(password: &[u8]) -> String {
    Sha1::digest(password)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The masked form: length, first and last character, SHA-1 prefix.
pub fn mask(password: &[u8]) -> String {
    let text = String::from_utf8_lossy(password);
    let first = text.chars().next().unwrap_or(' ');
    let last = text.chars().last().unwrap_or(' ');
    let hash = sha1_hex(password);
    format!(
        "len={} first={first} last={last} sha1={}",
        text.chars().count(),
        hash.get(..10).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Executive, Inventory};

    fn scanner() -> CredScanner {
        let mut inv = Inventory::parse(
            "[[entity]]\nname = \"Acme\"\nemail_domains = [\"acme.com\"]\nallow = { emails = [\"test@acme.com\"] }\n",
        )
        .unwrap();
        inv.entities[0].executives.push(Executive {
            name: "Jane Roe".into(),
            emails: vec!["Jane.Roe@gmail.com".into()],
            home_ranges: vec![],
        });
        CredScanner::new(&inv.entities).unwrap()
    }

    fn scan(line: &str) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        scanner().scan_line(line.as_bytes(), &mut out);
        out.into_iter()
            .map(|h| (h.email, h.password.map(|p| String::from_utf8(p).unwrap())))
            .collect()
    }

    #[test]
    fn combolists_csv_and_sql() {
        assert_eq!(
            scan("bob@ACME.com:hunter2:x"),
            vec![("bob@acme.com".into(), Some("hunter2:x".into()))]
        );
        assert_eq!(
            scan("bob@acme.com;pa;ss\r"),
            vec![("bob@acme.com".into(), Some("pa;ss".into()))]
        );
        assert_eq!(
            scan("7,\"bob@acme.com\",\"p,w\",Bob"),
            vec![("bob@acme.com".into(), Some("p,w".into()))]
        );
        assert_eq!(
            scan("INSERT INTO u VALUES (1,'a@acme.com','it\\'s'),(2,'b@acme.com',NULL);"),
            vec![
                ("a@acme.com".into(), Some("it's".into())),
                ("b@acme.com".into(), None)
            ]
        );
        assert_eq!(
            scan("jane.roe@gmail.com:pw"),
            vec![("jane.roe@gmail.com".into(), Some("pw".into()))]
        );
    }

    #[test]
    fn near_misses_and_allowed_addresses_are_not_hits() {
        assert!(scan("bob@acme.com.evil.net:pw").is_empty());
        assert!(scan("bob@notacme.com:pw").is_empty());
        assert!(scan("bob@acme.community:pw").is_empty());
        assert!(scan("test@acme.com:pw").is_empty());
        assert!(scan("other@gmail.com:pw").is_empty());
        assert_eq!(
            scan("end of sentence bob@acme.com."),
            vec![("bob@acme.com".into(), None)]
        );
    }

    #[test]
    fn candidate_lines_match_the_per_line_check_in_any_case() {
        let s = scanner();
        let mut text = String::new();
        for i in 0..40_000 {
            text.push_str(&match i % 997 {
                0 => format!("u{i}@ACME.Com:pw{i}\n"),
                1 => format!("x,JANE.roe@gmail.com,{i}\r\n"),
                2 => format!("near{i}@acme.co:pw\n"),
                _ => format!("filler{i}@example.org:pw{i}\n"),
            });
        }
        text.push_str("last@acme.com:no-newline");
        let buf = text.as_bytes();
        let mut fast = Vec::new();
        s.candidate_lines(buf, &mut Vec::new(), |a, b| fast.push((a, b)));
        let mut slow = Vec::new();
        let mut start = 0;
        for line in buf.split(|b| *b == b'\n') {
            if s.is_candidate(line) {
                slow.push((start, start + line.len()));
            }
            start += line.len() + 1;
        }
        assert_eq!(fast, slow);
        assert_eq!(fast.len(), 2 * 41 + 1);
    }

    #[test]
    fn masking_keeps_length_ends_and_hash_prefix() {
        assert_eq!(mask(b"password"), "len=8 first=p last=d sha1=5baa61e4c9");
    }
}
