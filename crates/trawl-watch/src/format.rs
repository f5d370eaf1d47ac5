//! Source formats, sniffed from a file's first meaningful line, and what each line yields.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::scan::{self, OpenPort};

/// Columns of a Zeek TSV log (from its `#fields` header) that yield names and addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZeekColumns {
    /// `query` (dns.log) or `host` (http.log).
    pub name: Option<usize>,
    /// `referrer` (http.log): its host.
    pub referrer: Option<usize>,
    /// `uri` (http.log): its host when absolute (proxied requests).
    pub uri: Option<usize>,
    /// `id.orig_h`.
    pub orig_h: Option<usize>,
    /// `id.resp_h`.
    pub resp_h: Option<usize>,
    /// True once a `#fields` header was read.
    pub header: bool,
}

/// JSON fields that hold the text of a post, message or comment.
pub const TEXT_FIELDS: [&str; 5] = ["text", "body", "content", "message", "title"];

/// Known layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// One domain a line (first field; `#` comments).
    DomainList,
    /// CertStream JSON lines (`data.leaf_cert.all_domains`).
    Certstream,
    /// Zeek TSV log (`dns.log`, `http.log`) with the columns read.
    ZeekTsv(ZeekColumns),
    /// Zeek JSON log (`query`, `host`, `referrer`, `uri`, `id.orig_h`, `id.resp_h`).
    ZeekJson,
    /// BIND query log (`query: NAME IN TYPE`).
    BindQuery,
    /// Squid native `access.log` (URL in the seventh field).
    Squid,
    /// IP/CIDR lists: plain, FireHOL netsets, Spamhaus DROP (`; SBL...`).
    IpList,
    /// CSV with a header and an IP column (its index).
    CsvIp(usize),
    /// Heralding `log_auth.csv` / `log_session.csv` (`source_ip` column index).
    Heralding(usize),
    /// Cowrie JSON lines (`src_ip`).
    Cowrie,
    /// trawl's own `events.jsonl` (`source_ip`).
    TrawlEvents,
    /// Text for credential scanning only (combolists, CSV and SQL dumps).
    Dump,
    /// nmap `-oX` XML (one document, read as a stream, not as lines).
    NmapXml,
    /// masscan `-oJ` (records one a line inside `[` `]`) or `--ndjson`.
    MasscanJson,
    /// masscan `-oL` (`open tcp 80 192.0.2.1 1390000000`).
    MasscanList,
    /// Shodan banners, one JSON object a line (`ip_str`, `port`, `transport`).
    Shodan,
    /// Censys hosts, one JSON object a line (`ip`, `services[]`).
    Censys,
    /// Social or forum posts as JSON lines (`text`, `body`, `content`, `message`, `title`).
    SocialJson,
    /// Social or forum posts as plain text (each line is a text).
    SocialText,
}

impl Format {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Format::DomainList => "domain list",
            Format::Certstream => "certstream",
            Format::ZeekTsv(_) => "zeek tsv",
            Format::ZeekJson => "zeek json",
            Format::BindQuery => "bind query log",
            Format::Squid => "squid access.log",
            Format::IpList => "ip list",
            Format::CsvIp(_) => "csv with ip column",
            Format::Heralding(_) => "heralding csv",
            Format::Cowrie => "cowrie json",
            Format::TrawlEvents => "trawl events",
            Format::Dump => "credential dump",
            Format::NmapXml => "nmap xml",
            Format::MasscanJson => "masscan json",
            Format::MasscanList => "masscan list",
            Format::Shodan => "shodan json",
            Format::Censys => "censys json",
            Format::SocialJson => "social json",
            Format::SocialText => "social text",
        }
    }

    /// True for honeypot data (the address attacked someone).
    pub fn is_honeypot(&self) -> bool {
        matches!(
            self,
            Format::Heralding(_) | Format::Cowrie | Format::TrawlEvents
        )
    }
}

/// What a line contributes.
#[derive(Debug, Default)]
pub struct Items {
    /// Domain names to check for lookalikes.
    pub domains: Vec<String>,
    /// Addresses or ranges to check against the inventory.
    pub nets: Vec<IpNet>,
    /// Open ports from scan results.
    pub ports: Vec<OpenPort>,
    /// Texts to look for targeting mentions in.
    pub texts: Vec<String>,
}

impl Items {
    /// Empties every list (kept allocations are reused for the next line).
    pub fn clear(&mut self) {
        self.domains.clear();
        self.nets.clear();
        self.ports.clear();
        self.texts.clear();
    }
}

/// The result of looking at a line before the format is known.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniff {
    /// Not decisive (blank, comment); look at the next line.
    Undecided,
    /// The format; `true` when this line is a header to skip.
    Found(Format, bool),
    /// Nothing recognised.
    Unknown,
}

const IP_COLUMNS: &[&str] = &[
    "ip",
    "ip_address",
    "ipaddress",
    "src_ip",
    "source_ip",
    "srcip",
    "address",
    "addr",
    "ip_str",
    "host",
];

/// Guesses the format from a line (comments first: Zeek headers and netset comments).
pub fn sniff(line: &str) -> Sniff {
    let t = line.trim();
    if t.is_empty() {
        return Sniff::Undecided;
    }
    if t.starts_with("#separator") || t.starts_with("#fields") {
        return Sniff::Found(Format::ZeekTsv(ZeekColumns::default()), true);
    }
    if t.starts_with("<?xml") || t.starts_with("<nmaprun") || t.starts_with("<!DOCTYPE nmaprun") {
        return Sniff::Found(Format::NmapXml, true);
    }
    if t.starts_with("#masscan") {
        return Sniff::Found(Format::MasscanList, true);
    }
    if t.starts_with('#') || t.starts_with(';') || is_sql_preamble(t) || is_json_punctuation(t) {
        return Sniff::Undecided;
    }
    if t.starts_with('{') || t.starts_with(",{") || t.starts_with("[{") {
        return sniff_json(t);
    }
    if is_masscan_list(t) {
        return Sniff::Found(Format::MasscanList, false);
    }
    if t.contains(" query: ") && t.contains(" IN ") {
        return Sniff::Found(Format::BindQuery, false);
    }
    if looks_like_squid(t) {
        return Sniff::Found(Format::Squid, false);
    }
    if t.contains(',') && !t.contains('@') && !looks_like_prose_with_commas(t) {
        let cols: Vec<String> = t
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        if let Some(i) = cols.iter().position(|c| c == "source_ip")
            && cols.iter().any(|c| c == "session_id")
        {
            return Sniff::Found(Format::Heralding(i), true);
        }
        if let Some(i) = cols.iter().position(|c| IP_COLUMNS.contains(&c.as_str())) {
            return Sniff::Found(Format::CsvIp(i), true);
        }
        if cols
            .iter()
            .any(|c| c.contains("mail") || c.contains("pass"))
        {
            return Sniff::Found(Format::Dump, true);
        }
    }
    let first = first_token(t);
    if parse_net(first).is_some() {
        return Sniff::Found(Format::IpList, false);
    }
    if t.get(..11)
        .is_some_and(|s| s.eq_ignore_ascii_case("INSERT INTO"))
    {
        return Sniff::Found(Format::Dump, false);
    }
    if looks_like_prose(t) {
        return Sniff::Found(Format::SocialText, false);
    }
    if t.contains('@') {
        return Sniff::Found(Format::Dump, false);
    }
    if first.contains('.')
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'*' | b'_'))
    {
        return Sniff::Found(Format::DomainList, false);
    }
    if !first.is_ascii() && first.contains('.') && !first.contains('/') {
        return Sniff::Found(Format::DomainList, false);
    }
    Sniff::Unknown
}

/// Comments and statements that open a SQL dump before its first `INSERT`
/// (`-- MySQL dump`, `/*!40101 SET ...*/`, `CREATE TABLE`, `LOCK TABLES` ...).
fn is_sql_preamble(t: &str) -> bool {
    const STARTS: [&str; 8] = [
        "--", "/*", "SET ", "CREATE ", "DROP ", "LOCK ", "UNLOCK ", "USE ",
    ];
    let upper = t.get(..8).unwrap_or(t).to_ascii_uppercase();
    STARTS.iter().any(|start| upper.starts_with(start))
}

/// The lines of a JSON array written one record a line: `[`, `]`, `,`.
fn is_json_punctuation(t: &str) -> bool {
    matches!(t, "[" | "]" | "," | "],")
}

/// A masscan `-oL` record without the `#masscan` header: `open|closed PROTO PORT IP TIME`.
fn is_masscan_list(t: &str) -> bool {
    let f: Vec<&str> = t.split_ascii_whitespace().collect();
    f.len() == 5
        && matches!(f.first(), Some(&("open" | "closed")))
        && matches!(f.get(1), Some(&("tcp" | "udp" | "sctp")))
        && f.get(2).is_some_and(|p| p.parse::<u16>().is_ok())
        && f.get(3).is_some_and(|ip| ip.parse::<IpAddr>().is_ok())
}

/// Running text: at least four words, three of them made of letters only (so that `~~~ ???`
/// or a log line of numbers and symbols stays unknown), and not one field followed by a `#`
/// comment (`example.com  # seen on the 3rd, via the feed`).
fn looks_like_prose(t: &str) -> bool {
    let commented = t
        .split_once(char::is_whitespace)
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('#'));
    if commented {
        return false;
    }
    let tokens: Vec<&str> = t.split_whitespace().collect();
    let words = tokens
        .iter()
        .filter(|w| {
            let w = w.trim_matches(|c: char| c.is_ascii_punctuation());
            !w.is_empty() && w.chars().all(char::is_alphabetic)
        })
        .count();
    tokens.len() >= 4 && words >= 3
}

/// A comma-separated line whose cells are sentences, not header names (a header cell has at
/// most three words).
fn looks_like_prose_with_commas(t: &str) -> bool {
    t.split(',').any(|cell| cell.split_whitespace().count() > 3) && looks_like_prose(t)
}

/// A JSON record line without masscan's separators (`,` before or after the object).
fn json_record(t: &str) -> &str {
    t.trim()
        .trim_start_matches(',')
        .trim_end_matches(',')
        .trim()
}

fn sniff_json(t: &str) -> Sniff {
    let Ok(v) = serde_json::from_str::<Value>(json_record(t)) else {
        return Sniff::Unknown;
    };
    if let Some(first) = v.as_array().and_then(|a| a.first()) {
        return if first.get("ip").is_some() && first.get("services").is_some() {
            Sniff::Found(Format::Censys, false)
        } else {
            Sniff::Unknown
        };
    }
    if v.get("message_type").is_some() || v.pointer("/data/leaf_cert").is_some() {
        Sniff::Found(Format::Certstream, false)
    } else if v
        .get("eventid")
        .and_then(Value::as_str)
        .is_some_and(|e| e.starts_with("cowrie."))
    {
        Sniff::Found(Format::Cowrie, false)
    } else if v.get("source_ip").is_some() && v.get("type").is_some() {
        Sniff::Found(Format::TrawlEvents, false)
    } else if v.get("query").is_some() || (v.get("uid").is_some() && v.get("host").is_some()) {
        Sniff::Found(Format::ZeekJson, false)
    } else if v.get("ip_str").is_some() && v.get("port").is_some() {
        Sniff::Found(Format::Shodan, false)
    } else if v.get("ip").is_some() && v.get("services").is_some() {
        Sniff::Found(Format::Censys, false)
    } else if v.get("ip").is_some() && (v.get("ports").is_some() || v.get("rec_type").is_some()) {
        Sniff::Found(Format::MasscanJson, false)
    } else if TEXT_FIELDS
        .iter()
        .any(|k| v.get(*k).is_some_and(Value::is_string))
    {
        Sniff::Found(Format::SocialJson, false)
    } else {
        Sniff::Unknown
    }
}

fn looks_like_squid(t: &str) -> bool {
    let f: Vec<&str> = t.split_ascii_whitespace().collect();
    f.len() >= 7
        && f.first().is_some_and(|x| x.parse::<f64>().is_ok())
        && f.get(3).is_some_and(|x| x.contains('/'))
        && f.get(4).is_some_and(|x| x.parse::<u64>().is_ok())
}

fn first_token(t: &str) -> &str {
    t.split(|c: char| c.is_whitespace() || c == ';' || c == ',' || c == '#')
        .next()
        .unwrap_or_default()
}

/// An address or CIDR (an address becomes a host network).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim().trim_matches(['"', '[', ']']);
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Extracts the items of one line; `Err` says why the line is malformed.
pub fn extract(format: &mut Format, line: &str, items: &mut Items) -> Result<(), String> {
    let t = line.trim();
    if t.is_empty() {
        return Ok(());
    }
    match format {
        Format::Dump => Ok(()),
        // Whole documents go to `scan::Watcher::scan_nmap_xml`; lines only come here when a
        // source is followed (`--follow`), which cannot read a document.
        Format::NmapXml if t.contains("<host") => Err(
            "host skipped: nmap XML is read as a whole document, not followed; scan it without --follow"
                .into(),
        ),
        Format::NmapXml => Ok(()),
        Format::MasscanList => scan::masscan_list(t, items),
        Format::MasscanJson | Format::Shodan | Format::Censys | Format::SocialJson => {
            scan_json_line(format, t, items)
        }
        Format::SocialText => {
            items.texts.push(t.to_string());
            Ok(())
        }
        Format::DomainList => {
            if !t.starts_with('#') {
                items.domains.push(first_token(t).to_string());
            }
            Ok(())
        }
        Format::IpList => {
            if t.starts_with('#') || t.starts_with(';') {
                return Ok(());
            }
            let tok = first_token(t);
            let net = parse_net(tok).ok_or_else(|| format!("not an IP or CIDR: {tok:?}"))?;
            items.nets.push(net);
            Ok(())
        }
        Format::ZeekTsv(col) => zeek_tsv(col, t, items),
        Format::Certstream | Format::ZeekJson | Format::Cowrie | Format::TrawlEvents => {
            json_line(format, t, items)
        }
        Format::BindQuery => {
            let name = t
                .split_once(" query: ")
                .map(|(_, rest)| first_token(rest))
                .ok_or("no `query:` in BIND log line")?;
            items.domains.push(name.to_string());
            Ok(())
        }
        Format::Squid => {
            let url = t
                .split_ascii_whitespace()
                .nth(6)
                .ok_or("fewer than 7 fields")?;
            items.domains.push(url_host(url).to_string());
            Ok(())
        }
        Format::CsvIp(col) | Format::Heralding(col) => {
            let field = csv_field(t, *col).ok_or_else(|| format!("no column {}", *col + 1))?;
            let net = parse_net(&field).ok_or_else(|| format!("not an IP: {field:?}"))?;
            items.nets.push(net);
            Ok(())
        }
    }
}

fn zeek_tsv(cols: &mut ZeekColumns, t: &str, items: &mut Items) -> Result<(), String> {
    if let Some(fields) = t.strip_prefix("#fields") {
        let names: Vec<&str> = fields.split('\t').filter(|f| !f.is_empty()).collect();
        let find = |want: &[&str]| names.iter().position(|n| want.contains(n));
        *cols = ZeekColumns {
            name: find(&["query", "host"]),
            referrer: find(&["referrer"]),
            uri: find(&["uri"]),
            orig_h: find(&["id.orig_h"]),
            resp_h: find(&["id.resp_h"]),
            header: true,
        };
        return Ok(());
    }
    if t.starts_with('#') {
        return Ok(());
    }
    if !cols.header {
        return Err("no `#fields` header before the first record".into());
    }
    let fields: Vec<&str> = t.split('\t').collect();
    let get = |c: Option<usize>| {
        c.and_then(|c| fields.get(c))
            .copied()
            .filter(|v| *v != "-" && !v.is_empty() && *v != "(empty)")
    };
    if let Some(c) = cols.name
        && fields.get(c).is_none()
    {
        return Err("fewer fields than the header".into());
    }
    zeek_record(
        [get(cols.name), get(cols.referrer), get(cols.uri)],
        [get(cols.orig_h), get(cols.resp_h)],
        items,
    )
}

/// The items of one Zeek record: the name (`query`/`host`), the hosts of `referrer` and of an
/// absolute `uri`, and the connection's two addresses.
fn zeek_record(
    [name, referrer, uri]: [Option<&str>; 3],
    addrs: [Option<&str>; 2],
    items: &mut Items,
) -> Result<(), String> {
    if let Some(n) = name {
        items.domains.push(n.to_string());
    }
    for url in [referrer, uri].into_iter().flatten() {
        if url.contains("://") {
            let host = url_host(url);
            if !host.is_empty()
                && parse_net(host).is_none()
                && !items.domains.iter().any(|d| d == host)
            {
                items.domains.push(host.to_string());
            }
        }
    }
    for a in addrs.into_iter().flatten() {
        items
            .nets
            .push(parse_net(a).ok_or_else(|| format!("bad address {a:?}"))?);
    }
    Ok(())
}

fn scan_json_line(format: &Format, t: &str, items: &mut Items) -> Result<(), String> {
    let record = json_record(t);
    if record.is_empty() || is_json_punctuation(record) {
        return Ok(());
    }
    let v: Value = serde_json::from_str(record).map_err(|e| format!("bad JSON: {e}"))?;
    match format {
        Format::MasscanJson => scan::masscan_json(&v, items),
        Format::Shodan => scan::shodan(&v, items),
        Format::Censys => scan::censys(&v, items),
        _ => {
            for key in TEXT_FIELDS {
                if let Some(text) = v.get(key).and_then(Value::as_str) {
                    items.texts.push(text.to_string());
                }
            }
            Ok(())
        }
    }
}

fn json_line(format: &Format, t: &str, items: &mut Items) -> Result<(), String> {
    let v: Value = serde_json::from_str(t).map_err(|e| format!("bad JSON: {e}"))?;
    match format {
        Format::Certstream => {
            if let Some(all) = v
                .pointer("/data/leaf_cert/all_domains")
                .and_then(Value::as_array)
            {
                for d in all.iter().filter_map(Value::as_str) {
                    items.domains.push(d.trim_start_matches("*.").to_string());
                }
            }
        }
        Format::ZeekJson => {
            let get = |key: &str| v.get(key).and_then(Value::as_str);
            let name = get("query").or_else(|| get("host"));
            zeek_record(
                [name, get("referrer"), get("uri")],
                [get("id.orig_h"), get("id.resp_h")],
                items,
            )?;
        }
        _ => {
            let key = if *format == Format::Cowrie {
                "src_ip"
            } else {
                "source_ip"
            };
            if let Some(ip) = v.get(key).and_then(Value::as_str) {
                items
                    .nets
                    .push(parse_net(ip).ok_or_else(|| format!("bad {key}: {ip:?}"))?);
            }
        }
    }
    Ok(())
}

/// The host of a URL (`http://h:p/path`) or of a `CONNECT` target (`h:443`).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        return host;
    }
    host.split(':').next().unwrap_or_default()
}

fn csv_field(line: &str, col: usize) -> Option<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    let record = reader.records().next()?.ok()?;
    record.get(col).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(line: &str) -> Format {
        match sniff(line) {
            Sniff::Found(f, _) => f,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn sniffs_every_format() {
        assert_eq!(
            found("#separator \\x09"),
            Format::ZeekTsv(ZeekColumns::default())
        );
        assert_eq!(
            found("{\"message_type\":\"certificate_update\"}"),
            Format::Certstream
        );
        assert_eq!(
            found("{\"eventid\":\"cowrie.login.failed\",\"src_ip\":\"1.2.3.4\"}"),
            Format::Cowrie
        );
        assert_eq!(
            found("{\"type\":\"auth_attempt\",\"source_ip\":\"1.2.3.4\"}"),
            Format::TrawlEvents
        );
        assert_eq!(
            found("{\"ts\":1,\"uid\":\"C1\",\"query\":\"a.com\"}"),
            Format::ZeekJson
        );
        assert_eq!(
            found(
                "27-Nov-2026 03:00:00.000 queries: info: client @0x1 192.0.2.1#5300 (a.com): query: a.com IN A + (192.0.2.53)"
            ),
            Format::BindQuery
        );
        assert_eq!(
            found(
                "1700000000.123    120 192.0.2.10 TCP_MISS/200 1024 GET http://a.com/ - HIER_DIRECT/203.0.113.5 text/html"
            ),
            Format::Squid
        );
        assert_eq!(
            found("timestamp,auth_id,session_id,source_ip,source_port"),
            Format::Heralding(3)
        );
        assert_eq!(found("first_seen,ip,feed"), Format::CsvIp(1));
        assert_eq!(found("1.2.3.0/24 ; SBL123"), Format::IpList);
        assert_eq!(found("bob@acme.com:pw"), Format::Dump);
        assert_eq!(found("acme-login.com"), Format::DomainList);
        assert_eq!(sniff("\u{1}\u{2}garbage"), Sniff::Unknown);
    }

    #[test]
    fn sniffs_scan_and_social_formats() {
        assert_eq!(
            found("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            Format::NmapXml
        );
        assert_eq!(found("#masscan"), Format::MasscanList);
        assert_eq!(
            found("open tcp 80 192.0.2.1 1390000000"),
            Format::MasscanList
        );
        assert_eq!(sniff("["), Sniff::Undecided);
        assert_eq!(
            found(
                r#"{   "ip": "192.0.2.1",   "timestamp": "1", "ports": [ {"port": 80, "proto": "tcp", "status": "open"} ] },"#
            ),
            Format::MasscanJson
        );
        assert_eq!(
            found(r#"{"ip_str":"192.0.2.1","port":22,"transport":"tcp"}"#),
            Format::Shodan
        );
        assert_eq!(found(r#"{"ip":"192.0.2.1","services":[]}"#), Format::Censys);
        assert_eq!(
            found(r#"[{"ip":"192.0.2.1","services":[]}]"#),
            Format::Censys
        );
        assert_eq!(
            found(r#"{"id":1,"title":"x","body":"y"}"#),
            Format::SocialJson
        );
        assert_eq!(
            found("Planning a DDoS on acmebank.com, bring friends"),
            Format::SocialText
        );
        assert_eq!(found("@acme you were hacked, lol"), Format::SocialText);
        assert_eq!(
            found("INSERT INTO users VALUES (1,'a@b.example','x');"),
            Format::Dump
        );
        assert_eq!(sniff("~~~ ??? !!!"), Sniff::Unknown);
        assert_eq!(
            found("acmebank-login.com   # seen in the feed today"),
            Format::DomainList
        );
    }

    #[test]
    fn zeek_http_yields_referrer_absolute_uri_and_addresses() {
        let mut f = Format::ZeekTsv(ZeekColumns::default());
        let mut items = Items::default();
        extract(
            &mut f,
            "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\thost\turi\treferrer",
            &mut items,
        )
        .unwrap();
        extract(
            &mut f,
            "1.0\tC1\t192.0.2.1\t1\t2001:db8::1\t80\t-\thttp://a.example:8080/x\thttps://b.example/",
            &mut items,
        )
        .unwrap();
        assert_eq!(items.domains, ["b.example", "a.example"]);
        assert_eq!(items.nets.len(), 2);
        items.clear();
        extract(
            &mut f,
            "1.0\tC1\tnot-an-ip\t1\t-\t80\th.example\t/\t-",
            &mut items,
        )
        .unwrap_err();
        let mut j = Format::ZeekJson;
        items.clear();
        extract(
            &mut j,
            r#"{"uid":"C","host":"h.example","uri":"/p","referrer":"-","id.orig_h":"192.0.2.2"}"#,
            &mut items,
        )
        .unwrap();
        assert_eq!(items.domains, ["h.example"]);
        assert_eq!(items.nets[0].to_string(), "192.0.2.2/32");
    }

    #[test]
    fn squid_hosts() {
        assert_eq!(url_host("http://u:p@acme.com:8080/x"), "acme.com");
        assert_eq!(url_host("acme.com:443"), "acme.com");
    }
}
