//! The report's big row lists (DNS rows, endpoints, HTTP requests) written
//! as pretty JSON directly, byte for byte what serde_json's pretty printer
//! writes for them, without serde's per-field machinery.
//!
//! Hand-written because those three lists are most of a large report and
//! serde_json cannot be told that a field needs no escaping: strings here
//! are checked once and copied whole, IP addresses and numbers are written
//! without going through `fmt` adapters. Anything unusual (a string that
//! needs escaping, a DGA verdict with its float score) is still handed to
//! serde_json, so the escaping rules stay serde_json's own. The unit tests
//! compare the output with serde_json's for the same rows.

use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use crate::analyzer::{Counter, HttpRecord, Proto};
use crate::proto::DnsAnswer;
use crate::render::Nested;
use crate::report::{DnsQuery, Endpoint};

const SPACES: &[u8] = b"                                                                ";

/// Writes one indentation level per `level` (two spaces each).
fn indent<W: Write>(out: &mut W, level: usize) -> io::Result<()> {
    let mut left = level * 2;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.write_all(&SPACES[..n])?;
        left -= n;
    }
    Ok(())
}

/// Starts an object member: `,\n` (or `\n` for the first), the
/// indentation, the quoted key and `: `.
fn key<W: Write>(out: &mut W, level: usize, first: bool, name: &str) -> io::Result<()> {
    out.write_all(if first { b"\n" } else { b",\n" })?;
    indent(out, level)?;
    out.write_all(b"\"")?;
    out.write_all(name.as_bytes())?;
    out.write_all(b"\": ")
}

/// Ends an object whose members were at `level + 1`.
fn close<W: Write>(out: &mut W, level: usize, bracket: &[u8]) -> io::Result<()> {
    out.write_all(b"\n")?;
    indent(out, level)?;
    out.write_all(bracket)
}

fn needs_escape(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

fn string<W: Write>(out: &mut W, text: &str) -> io::Result<()> {
    if needs_escape(text) {
        return serde_json::to_writer(&mut *out, text).map_err(io::Error::from);
    }
    out.write_all(b"\"")?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\"")
}

fn opt_string<W: Write>(out: &mut W, text: Option<&str>) -> io::Result<()> {
    match text {
        Some(text) => string(out, text),
        None => out.write_all(b"null"),
    }
}

fn number<W: Write, N: itoa::Integer>(out: &mut W, n: N) -> io::Result<()> {
    out.write_all(itoa::Buffer::new().format(n).as_bytes())
}

fn ip<W: Write>(out: &mut W, address: &IpAddr) -> io::Result<()> {
    // Digits, dots, hex letters and colons only: nothing to escape.
    match address {
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(17);
            text.push('"');
            crate::proto::push_ipv4(&mut text, *v4);
            text.push('"');
            out.write_all(text.as_bytes())
        }
        IpAddr::V6(v6) => write!(out, "\"{v6}\""),
    }
}

fn boolean<W: Write>(out: &mut W, value: bool) -> io::Result<()> {
    out.write_all(if value { b"true" } else { b"false" })
}

/// An array whose elements go one per line at `level + 1`.
fn array<W: Write, T>(
    out: &mut W,
    level: usize,
    items: &[T],
    mut element: impl FnMut(&mut W, &T) -> io::Result<()>,
) -> io::Result<()> {
    if items.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    for (i, item) in items.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        indent(out, level + 1)?;
        element(out, item)?;
    }
    close(out, level, b"]")
}

/// Any value through serde_json, as its pretty printer would nest it at `level`.
fn serde_value<W: Write, T: Serialize + ?Sized>(
    out: &mut W,
    level: usize,
    value: &T,
) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Nested::at(level));
    value.serialize(&mut serializer).map_err(io::Error::from)
}

fn counter<W: Write>(out: &mut W, level: usize, counter: &Counter) -> io::Result<()> {
    out.write_all(b"{")?;
    key(out, level + 1, true, "packets")?;
    number(out, counter.packets)?;
    key(out, level + 1, false, "bytes")?;
    number(out, counter.bytes)?;
    close(out, level, b"}")
}

fn answer<W: Write>(out: &mut W, level: usize, answer: &DnsAnswer) -> io::Result<()> {
    let inner = level + 1;
    out.write_all(b"{")?;
    key(out, inner, true, "name")?;
    string(out, &answer.name)?;
    key(out, inner, false, "type")?;
    string(out, &answer.rtype)?;
    key(out, inner, false, "value")?;
    string(out, &answer.value)?;
    key(out, inner, false, "ttl")?;
    number(out, answer.ttl)?;
    if let Some(preference) = answer.preference {
        key(out, inner, false, "preference")?;
        number(out, preference)?;
    }
    close(out, level, b"}")
}

/// One DNS row as an object whose `{` is at indentation `level`.
fn dns_query<W: Write>(out: &mut W, level: usize, q: &DnsQuery) -> io::Result<()> {
    let inner = level + 1;
    out.write_all(b"{")?;
    key(out, inner, true, "name")?;
    string(out, &q.name)?;
    key(out, inner, false, "type")?;
    string(out, &q.qtype)?;
    key(out, inner, false, "type_code")?;
    number(out, q.type_code)?;
    key(out, inner, false, "resolver")?;
    ip(out, &q.resolver)?;
    key(out, inner, false, "first_seen")?;
    string(out, &q.first_seen)?;
    key(out, inner, false, "last_seen")?;
    string(out, &q.last_seen)?;
    key(out, inner, false, "queries")?;
    number(out, q.queries)?;
    key(out, inner, false, "responses")?;
    number(out, q.responses)?;
    key(out, inner, false, "rcodes")?;
    array(out, inner, &q.rcodes, |out, r| string(out, r))?;
    key(out, inner, false, "answers")?;
    array(out, inner, &q.answers, |out, a| answer(out, inner + 1, a))?;
    key(out, inner, false, "clients")?;
    array(out, inner, &q.clients, |out, c| ip(out, c))?;
    if let Some(dga) = &q.dga {
        key(out, inner, false, "dga")?;
        serde_value(out, inner, dga)?;
    }
    close(out, level, b"}")
}

/// One endpoint as an object whose `{` is at indentation `level`.
fn endpoint<W: Write>(out: &mut W, level: usize, e: &Endpoint) -> io::Result<()> {
    let inner = level + 1;
    out.write_all(b"{")?;
    key(out, inner, true, "proto")?;
    string(
        out,
        match e.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        },
    )?;
    key(out, inner, false, "ip")?;
    ip(out, &e.ip)?;
    key(out, inner, false, "port")?;
    number(out, e.port)?;
    key(out, inner, false, "role")?;
    string(out, e.role)?;
    key(out, inner, false, "c2_candidate")?;
    boolean(out, e.c2_candidate)?;
    key(out, inner, false, "from_dns")?;
    array(out, inner, &e.from_dns, |out, n| string(out, n))?;
    key(out, inner, false, "flows")?;
    number(out, e.flows)?;
    key(out, inner, false, "state")?;
    string(out, e.state)?;
    key(out, inner, false, "established_flows")?;
    number(out, e.established_flows)?;
    key(out, inner, false, "syn_only_flows")?;
    number(out, e.syn_only_flows)?;
    key(out, inner, false, "reset_flows")?;
    number(out, e.reset_flows)?;
    key(out, inner, false, "sent")?;
    counter(out, inner, &e.sent)?;
    key(out, inner, false, "received")?;
    counter(out, inner, &e.received)?;
    key(out, inner, false, "clients")?;
    array(out, inner, &e.clients, |out, c| ip(out, c))?;
    key(out, inner, false, "first_seen")?;
    string(out, &e.first_seen)?;
    key(out, inner, false, "last_seen")?;
    string(out, &e.last_seen)?;
    close(out, level, b"}")
}

/// One HTTP request as an object whose `{` is at indentation `level`.
fn http<W: Write>(out: &mut W, level: usize, h: &HttpRecord) -> io::Result<()> {
    let inner = level + 1;
    out.write_all(b"{")?;
    key(out, inner, true, "client")?;
    ip(out, &h.client)?;
    key(out, inner, false, "server")?;
    ip(out, &h.server)?;
    key(out, inner, false, "port")?;
    number(out, h.port)?;
    key(out, inner, false, "method")?;
    string(out, &h.method)?;
    key(out, inner, false, "host")?;
    opt_string(out, h.host.as_deref())?;
    key(out, inner, false, "uri")?;
    string(out, &h.uri)?;
    key(out, inner, false, "user_agent")?;
    opt_string(out, h.user_agent.as_deref())?;
    key(out, inner, false, "status")?;
    match h.status {
        Some(status) => number(out, status)?,
        None => out.write_all(b"null")?,
    }
    close(out, level, b"}")
}

/// The DNS rows as a JSON array value starting at indentation `level`.
pub(crate) fn dns_rows<W: Write>(out: &mut W, level: usize, rows: &[DnsQuery]) -> io::Result<()> {
    array(out, level, rows, |out, q| dns_query(out, level + 1, q))
}

/// The endpoints as a JSON array value starting at indentation `level`.
pub(crate) fn endpoints<W: Write>(out: &mut W, level: usize, rows: &[Endpoint]) -> io::Result<()> {
    array(out, level, rows, |out, e| endpoint(out, level + 1, e))
}

/// The HTTP requests as a JSON array value starting at indentation `level`.
pub(crate) fn http_records<W: Write>(
    out: &mut W,
    level: usize,
    rows: &[HttpRecord],
) -> io::Result<()> {
    array(out, level, rows, |out, h| http(out, level + 1, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::DgaFlag;

    fn serde_form<T: Serialize>(rows: &T) -> String {
        let mut out = Vec::new();
        serde_value(&mut out, 1, rows).expect("serde");
        String::from_utf8(out).expect("utf-8")
    }

    fn mine(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    fn query(name: &str, answers: Vec<DnsAnswer>, dga: Option<DgaFlag>) -> DnsQuery {
        DnsQuery {
            name: name.to_string(),
            qtype: "A".into(),
            type_code: 1,
            resolver: "2001:db8::53".parse().expect("ip"),
            first_seen: "2026-11-27T01:02:03.5Z".into(),
            last_seen: "2026-11-27T01:02:04Z".into(),
            queries: 3,
            responses: u64::MAX,
            rcodes: vec!["NOERROR".into(), "NXDOMAIN".into()],
            answers,
            clients: vec!["10.0.0.1".parse().expect("ip")],
            dga,
        }
    }

    #[test]
    fn rows_equal_serde_json() {
        let answers = vec![
            DnsAnswer {
                name: "a\"b\\c\u{1}.example".into(),
                rtype: "MX".into(),
                value: "mail.example".into(),
                ttl: 0,
                preference: Some(10),
            },
            DnsAnswer {
                name: "caf\u{e9}.example".into(),
                rtype: "TXT".into(),
                value: "v=spf1\n\t\u{7f}".into(),
                ttl: 4_294_967_295,
                preference: None,
            },
        ];
        let dga = DgaFlag {
            name: "hrjlyymassqx.tech".into(),
            score: 0.875,
            mirai: true,
            reasons: vec!["12 letters".into()],
        };
        let rows = vec![
            query("example.com", answers, Some(dga)),
            query("", Vec::new(), None),
        ];
        assert_eq!(mine(|o| dns_rows(o, 1, &rows)), serde_form(&rows));
        assert_eq!(
            mine(|o| dns_rows(o, 1, &[])),
            serde_form(&Vec::<DnsQuery>::new())
        );

        let eps = vec![Endpoint {
            proto: Proto::Udp,
            ip: "::ffff:192.0.2.1".parse().expect("ip"),
            port: 0,
            role: "contact",
            c2_candidate: true,
            from_dns: vec!["x.example".into(), "q\"uote".into()],
            flows: 1,
            state: "two-way",
            established_flows: 0,
            syn_only_flows: 2,
            reset_flows: 3,
            sent: Counter {
                packets: 4,
                bytes: 5,
            },
            received: Counter::default(),
            clients: Vec::new(),
            first_seen: "1970-01-01T00:00:00Z".into(),
            last_seen: "x".into(),
        }];
        assert_eq!(mine(|o| endpoints(o, 1, &eps)), serde_form(&eps));

        let http = vec![
            HttpRecord {
                ts_ns: 0,
                client: "10.0.0.1".parse().expect("ip"),
                server: "10.0.0.2".parse().expect("ip"),
                port: 8080,
                method: "GET".into(),
                host: Some("h\u{0}st".into()),
                uri: "/a?b=\"c\"".into(),
                user_agent: None,
                status: Some(404),
            },
            HttpRecord {
                ts_ns: 0,
                client: "10.0.0.1".parse().expect("ip"),
                server: "10.0.0.2".parse().expect("ip"),
                port: 80,
                method: "POST".into(),
                host: None,
                uri: "/".into(),
                user_agent: Some("curl/8".into()),
                status: None,
            },
        ];
        assert_eq!(mine(|o| http_records(o, 1, &http)), serde_form(&http));
    }
}
