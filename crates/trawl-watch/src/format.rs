//! Source formats, sniffed from a file's first meaningful line, and what each line yields.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

/// Known layouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// One domain a line (first field; `#` comments).
    DomainList,
    /// CertStream JSON lines (`data.leaf_cert.all_domains`).
    Certstream,
    /// Zeek TSV log; the column holding the name (`query` of dns.log, `host` of http.log).
    ZeekTsv(Option<usize>),
    /// Zeek JSON log (`query` or `host`).
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
        return Sniff::Found(Format::ZeekTsv(None), true);
    }
    if t.starts_with('#') || t.starts_with(';') || is_sql_preamble(t) {
        return Sniff::Undecided;
    }
    if t.starts_with('{') {
        return sniff_json(t);
    }
    if t.contains(" query: ") && t.contains(" IN ") {
        return Sniff::Found(Format::BindQuery, false);
    }
    if looks_like_squid(t) {
        return Sniff::Found(Format::Squid, false);
    }
    if t.contains(',') && !t.contains('@') {
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
    if t.contains('@') || t.to_ascii_uppercase().starts_with("INSERT INTO") {
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

fn sniff_json(t: &str) -> Sniff {
    let Ok(v) = serde_json::from_str::<Value>(t) else {
        return Sniff::Unknown;
    };
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

fn zeek_tsv(col: &mut Option<usize>, t: &str, items: &mut Items) -> Result<(), String> {
    if let Some(fields) = t.strip_prefix("#fields") {
        let names: Vec<&str> = fields.split('\t').filter(|f| !f.is_empty()).collect();
        *col = names.iter().position(|n| *n == "query" || *n == "host");
        return Ok(());
    }
    if t.starts_with('#') {
        return Ok(());
    }
    let c = col.ok_or("no `#fields` header with a query or host column")?;
    let v = t.split('\t').nth(c).ok_or("fewer fields than the header")?;
    if v != "-" && !v.is_empty() {
        items.domains.push(v.to_string());
    }
    Ok(())
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
            for key in ["query", "host"] {
                if let Some(d) = v.get(key).and_then(Value::as_str) {
                    items.domains.push(d.to_string());
                }
            }
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
        assert_eq!(found("#separator \\x09"), Format::ZeekTsv(None));
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
    fn squid_hosts() {
        assert_eq!(url_host("http://u:p@acme.com:8080/x"), "acme.com");
        assert_eq!(url_host("acme.com:443"), "acme.com");
    }
}
