//! Parsing whois text into a [`WhoisRecord`].
//!
//! Handles the ICANN gTLD `Key: Value` layout, older registry layouts with
//! no space after the colon (the .IN record in the fixtures), IANA's
//! `key:   value` answers, `%`/`#` comments, `>>> ... <<<` footers and
//! GDPR-redacted contacts. Unknown keys are ignored; a text with no known
//! key at all is an error, as is binary data or an overlong line.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::record::WhoisRecord;

/// Longest line accepted (bytes); whois lines are short, longer ones mean
/// the input is not whois text.
pub const MAX_LINE: usize = 8 * 1024;

const PRIVACY_MARKERS: &str = include_str!("../data/privacy-markers.txt");

/// Why a text is not a whois record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// NUL or other control bytes: not text.
    #[error("line {line}: binary data (control byte 0x{byte:02x}); not a whois record")]
    Binary {
        /// 1-based line.
        line: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A line longer than [`MAX_LINE`].
    #[error("line {line}: longer than {MAX_LINE} bytes; not a whois record")]
    LineTooLong {
        /// 1-based line.
        line: usize,
    },
    /// No known whois key anywhere.
    #[error("no whois fields recognised in {lines} lines (first line: {first:?})")]
    NoFields {
        /// Number of lines.
        lines: usize,
        /// The first non-empty line, cut to 60 chars.
        first: String,
    },
    /// The answer says the domain is not registered.
    #[error("line {line}: the server reports no such domain ({text:?})")]
    NotFound {
        /// 1-based line.
        line: usize,
        /// The line, cut to 80 chars.
        text: String,
    },
}

/// One `key: value` line.
struct Field<'a> {
    key: String,
    value: &'a str,
}

fn split_field(line: &str) -> Option<Field<'_>> {
    // JPRS-style `[Key]   value` lines.
    let bracketed = line.strip_prefix('[').and_then(|rest| rest.split_once(']'));
    let (key, value) = match bracketed {
        Some(kv) => kv,
        None => line.split_once(':')?,
    };
    let key = key.trim();
    // A key is short prose; URLs and sentences are not keys.
    if key.is_empty() || key.len() > 60 || key.contains("//") || key.starts_with('>') {
        return None;
    }
    let key = key.to_ascii_lowercase().replace(['_', '-'], " ");
    Some(Field {
        key,
        value: value.trim(),
    })
}

const NOT_FOUND: [&str; 6] = [
    "no match for",
    "not found",
    "no data found",
    "no entries found",
    "domain not found",
    "status: free",
];

fn check_line(n: usize, line: &str) -> Result<(), ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::LineTooLong { line: n });
    }
    if let Some(byte) = line
        .bytes()
        .find(|b| b.is_ascii_control() && *b != b'\t' && *b != b'\r')
    {
        return Err(ParseError::Binary { line: n, byte });
    }
    Ok(())
}

fn set(slot: &mut Option<String>, value: &str) {
    if slot.is_none() && !value.is_empty() {
        *slot = Some(value.to_owned());
    }
}

/// Parses one whois answer. `source` is recorded as given.
pub fn parse_record(text: &str, source: Option<&str>) -> Result<WhoisRecord, ParseError> {
    let mut rec = WhoisRecord {
        source: source.map(str::to_owned),
        ..Default::default()
    };
    let mut known = 0usize;
    let mut lines = 0usize;
    let mut first = None;
    let mut not_found = None;
    // `Key:` with no value opens a block whose more-indented lines are its
    // values (Nominet-style layouts).
    let mut block: Option<(usize, String)> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        lines = n;
        check_line(n, raw)?;
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('%')
            || line.starts_with('#')
            || line.starts_with(">>>")
        {
            continue;
        }
        first.get_or_insert_with(|| line.chars().take(60).collect::<String>());
        let lower = line.to_ascii_lowercase();
        if not_found.is_none() && NOT_FOUND.iter().any(|p| lower.starts_with(p)) {
            not_found = Some((n, line.chars().take(80).collect()));
        }
        let indent = raw.len() - raw.trim_start().len();
        if block.as_ref().is_some_and(|(open, _)| indent <= *open) {
            block = None;
        }
        let field = split_field(line);
        let applied = field.as_ref().is_some_and(|f| apply(&mut rec, f));
        if let (false, Some((_, key))) = (applied, &block) {
            let continued = Field {
                key: key.clone(),
                value: line,
            };
            known += usize::from(apply(&mut rec, &continued));
        }
        known += usize::from(applied);
        if let Some(f) = field.filter(|f| f.value.is_empty() && block.is_none()) {
            block = Some((indent, f.key));
        }
    }
    if known == 0 {
        if let Some((line, text)) = not_found {
            return Err(ParseError::NotFound { line, text });
        }
        return Err(ParseError::NoFields {
            lines,
            first: first.unwrap_or_default(),
        });
    }
    detect_privacy(&mut rec);
    Ok(rec)
}

/// Applies one field; returns whether the key was known.
fn apply(rec: &mut WhoisRecord, f: &Field<'_>) -> bool {
    let v = f.value;
    match f.key.as_str() {
        "domain name" | "domain" => set(&mut rec.domain, &v.to_ascii_lowercase()),
        "registrar" | "sponsoring registrar" | "registrar name" => set(&mut rec.registrar, v),
        "registrar iana id" | "sponsoring registrar iana id" => set(&mut rec.registrar_iana_id, v),
        "registrar whois server" | "whois server" | "whois" => {
            set(&mut rec.registrar_whois_server, v)
        }
        "refer" => set(&mut rec.refer, v),
        "creation date"
        | "created on"
        | "created"
        | "registered on"
        | "registration time"
        | "domain registration date"
        | "registered" => set(&mut rec.created, &iso_date(v)),
        "updated date" | "last updated on" | "last updated" | "last update" | "last modified"
        | "changed" | "modified" => set(&mut rec.updated, &iso_date(v)),
        "registry expiry date"
        | "registrar registration expiration date"
        | "expiration date"
        | "expiry date"
        | "expires on"
        | "expires"
        | "paid till"
        | "domain expiration date" => set(&mut rec.expires, &iso_date(v)),
        "domain status" | "status" => push_status(&mut rec.statuses, v),
        "name server" | "nameserver" | "nameservers" | "name servers" | "nserver" => {
            push_name_server(&mut rec.name_servers, v)
        }
        "dnssec" => set(&mut rec.dnssec, v),
        "owner" | "holder" => set(&mut rec.registrant.name, v),
        key => return apply_contact(rec, key, v),
    }
    true
}

fn apply_contact(rec: &mut WhoisRecord, key: &str, v: &str) -> bool {
    let (contact, rest) = if let Some(rest) = key.strip_prefix("registrant") {
        (&mut rec.registrant, rest)
    } else if let Some(rest) = key
        .strip_prefix("administrative contact")
        .or_else(|| key.strip_prefix("admin"))
    {
        (&mut rec.admin, rest)
    } else if let Some(rest) = key
        .strip_prefix("technical contact")
        .or_else(|| key.strip_prefix("tech"))
    {
        (&mut rec.tech, rest)
    } else {
        return false;
    };
    let slot = match rest.trim() {
        "" | "name" | "contact name" => &mut contact.name,
        "organization" | "organisation" | "org" | "contact organization" => {
            &mut contact.organization
        }
        "email" | "e mail" | "contact email" => &mut contact.email,
        "country" | "country code" | "contact country" => &mut contact.country,
        _ => return rest.trim().is_empty(),
    };
    set(slot, v);
    true
}

fn push_status(statuses: &mut Vec<String>, v: &str) {
    let status = match v.find(" http") {
        Some(cut) => v[..cut].trim(),
        None => v,
    };
    if !status.is_empty() && !statuses.iter().any(|s| s == status) {
        statuses.push(status.to_owned());
    }
}

fn push_name_server(servers: &mut Vec<String>, v: &str) {
    for host in v.split([' ', ',', '\t']).filter(|h| !h.is_empty()).take(1) {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !host.is_empty() && !servers.contains(&host) {
            servers.push(host);
        }
    }
}

/// Normalises a whois date to ISO 8601: `YYYY-MM-DDTHH:MM:SSZ` when a time is
/// given (converted to UTC), `YYYY-MM-DD` for dates alone. Unrecognised
/// values are returned as given, so nothing is lost.
pub fn iso_date(value: &str) -> String {
    let v = value.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(v) {
        return fmt_utc(dt.with_timezone(&Utc).naive_utc());
    }
    let no_zone = v
        .trim_end_matches(" UTC")
        .trim_end_matches(" GMT")
        .trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%d-%b-%Y %H:%M:%S",
        "%Y.%m.%d %H:%M:%S",
        "%Y/%m/%d %H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(no_zone, fmt) {
            return fmt_utc(dt);
        }
    }
    for fmt in [
        "%Y-%m-%d", "%d-%b-%Y", "%Y.%m.%d", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(no_zone, fmt) {
            return d.format("%Y-%m-%d").to_string();
        }
    }
    v.to_owned()
}

fn fmt_utc(dt: NaiveDateTime) -> String {
    Utc.from_utc_datetime(&dt)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `(lower-case marker, reported name)` pairs from the data file.
fn privacy_markers() -> impl Iterator<Item = (String, &'static str)> {
    PRIVACY_MARKERS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('\t') {
            Some((marker, name)) => (marker.trim().to_ascii_lowercase(), name.trim()),
            None => (l.trim().to_ascii_lowercase(), l.trim()),
        })
}

/// The privacy service a value names, if any.
pub fn privacy_marker(value: &str) -> Option<&'static str> {
    let lower = value.to_ascii_lowercase();
    privacy_markers()
        .find(|(marker, _)| lower.contains(marker.as_str()))
        .map(|(_, name)| name)
}

fn detect_privacy(rec: &mut WhoisRecord) {
    let contacts = [&rec.registrant, &rec.admin, &rec.tech];
    let found = contacts
        .iter()
        .flat_map(|c| [&c.name, &c.organization, &c.email])
        .flatten()
        .find_map(|v| privacy_marker(v));
    rec.privacy = found.is_some();
    rec.privacy_service = found.map(str::to_owned);
}

/// True for values that identify a privacy service or redaction rather than
/// a registrant (pivots skip them).
pub fn is_masked(value: &str) -> bool {
    privacy_marker(value).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_iso_8601() {
        assert_eq!(iso_date("2016-12-14T17:02:14.0Z"), "2016-12-14T17:02:14Z");
        assert_eq!(iso_date("2016-12-09T17:01:50Z"), "2016-12-09T17:01:50Z");
        assert_eq!(
            iso_date("2016-12-09T19:01:50+02:00"),
            "2016-12-09T17:01:50Z"
        );
        assert_eq!(iso_date("15-Dec-2016 14:41:33 UTC"), "2016-12-15T14:41:33Z");
        assert_eq!(iso_date("2016-12-09"), "2016-12-09");
        assert_eq!(iso_date("2016.12.09"), "2016-12-09");
        assert_eq!(iso_date("before 1995"), "before 1995");
    }

    #[test]
    fn garbage_is_an_error_naming_the_problem() {
        let err = parse_record("hello world\nthis is not whois\n", None).expect_err("garbage");
        assert!(err.to_string().contains("no whois fields"), "{err}");
        let err = parse_record("Domain Name: A.COM\n\u{0}\u{1}binary", None).expect_err("binary");
        assert_eq!(err, ParseError::Binary { line: 2, byte: 0 });
        let long = format!("Domain Name: a.com\n{}\n", "x".repeat(MAX_LINE + 1));
        assert_eq!(
            parse_record(&long, None),
            Err(ParseError::LineTooLong { line: 2 })
        );
    }

    #[test]
    fn not_found_answers_are_reported() {
        let err = parse_record(
            "No match for \"NOPE.COM\".\r\n>>> Last update <<<\r\n",
            None,
        )
        .expect_err("nf");
        assert!(matches!(err, ParseError::NotFound { line: 1, .. }), "{err}");
    }

    #[test]
    fn name_servers_drop_ips_dots_and_empties() {
        let rec = parse_record(
            "Domain: x.de\nnserver: NS1.X.DE. 192.0.2.1\nName Server:\nnserver: ns1.x.de\n",
            None,
        )
        .expect("parses");
        assert_eq!(rec.name_servers, vec!["ns1.x.de"]);
    }

    #[test]
    fn privacy_markers_are_found_case_insensitively() {
        assert_eq!(privacy_marker("WhoisGuard, Inc."), Some("WhoisGuard"));
        assert_eq!(
            privacy_marker("Domains By Proxy, LLC"),
            Some("Domains By Proxy")
        );
        assert_eq!(
            privacy_marker("REDACTED FOR PRIVACY"),
            Some("REDACTED FOR PRIVACY")
        );
        assert_eq!(privacy_marker("Kravitz Dlinch"), None);
    }
}
