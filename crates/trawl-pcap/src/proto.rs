//! Application-layer parsers: DNS (simple-dns), HTTP/1 headers (httparse),
//! TLS ClientHello (tls-parser) and TFTP requests.
//!
//! Each parser looks at untrusted bytes and returns a small owned record or
//! nothing. TFTP RRQ/WRQ is two NUL-terminated strings after a 2-byte opcode
//! (RFC 1350) and has no maintained crate, so it is read here; the JA3 string
//! is assembled here from tls-parser's fields (no JA3 crate is maintained).

use std::collections::HashMap;
use std::sync::OnceLock;

use md5::{Digest, Md5};
use simple_dns::rdata::RData;
use tls_parser::{TlsExtension, parse_tls_extensions, parse_tls_handshake_client_hello};

/// One answer record of a DNS response.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DnsAnswer {
    /// Owner name (lower case, no trailing dot).
    pub name: String,
    /// Record type mnemonic (`A`, `AAAA`, `CNAME`, `MX`, `NS`, `TXT`).
    #[serde(rename = "type")]
    pub rtype: String,
    /// Address, target name or text.
    pub value: String,
    /// Time to live, seconds.
    pub ttl: u32,
    /// MX preference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preference: Option<u16>,
}

/// The parts of a DNS message the report uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// QR bit.
    pub response: bool,
    /// Response code (0 NOERROR, 3 NXDOMAIN...).
    pub rcode: u16,
    /// Questions as (name, qtype code).
    pub questions: Vec<(String, u16)>,
    /// A/AAAA/CNAME/MX/NS/TXT answers.
    pub answers: Vec<DnsAnswer>,
}

/// Parses a DNS message (no TCP length prefix).
pub fn parse_dns(bytes: &[u8]) -> Option<DnsMessage> {
    if !plausible_dns_counts(bytes) {
        return None;
    }
    let packet = simple_dns::Packet::parse(bytes).ok()?;
    let response = packet.has_flags(simple_dns::PacketFlag::RESPONSE);
    let questions = packet
        .questions
        .iter()
        .map(|q| (name_text(&q.qname), u16::from(q.qtype)))
        .collect();
    let answers = packet.answers.iter().filter_map(answer_of).collect();
    Some(DnsMessage {
        response,
        rcode: bytes.get(3).map_or(0, |b| u16::from(b & 0x0f)),
        questions,
        answers,
    })
}

/// Rejects headers whose section counts cannot fit the message, before the
/// parser preallocates for them.
fn plausible_dns_counts(bytes: &[u8]) -> bool {
    let Some(header) = bytes.get(..12) else {
        return false;
    };
    let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
    let minimum = count(4) * 5 + (count(6) + count(8) + count(10)) * 11;
    minimum <= bytes.len().saturating_sub(12) && count(4) > 0
}

fn answer_of(rr: &simple_dns::ResourceRecord<'_>) -> Option<DnsAnswer> {
    let (rtype, value, preference) = match &rr.rdata {
        RData::A(a) => ("A", ipv4_text(std::net::Ipv4Addr::from(a.address)), None),
        RData::AAAA(a) => (
            "AAAA",
            std::net::Ipv6Addr::from(a.address).to_string(),
            None,
        ),
        RData::CNAME(n) => ("CNAME", name_text(&n.0), None),
        RData::NS(n) => ("NS", name_text(&n.0), None),
        RData::MX(mx) => ("MX", name_text(&mx.exchange), Some(mx.preference)),
        RData::TXT(txt) => ("TXT", String::try_from(txt.clone()).ok()?, None),
        _ => return None,
    };
    Some(DnsAnswer {
        name: name_text(&rr.name),
        rtype: rtype.to_string(),
        value,
        ttl: rr.ttl,
        preference,
    })
}

/// A name as text: its `Display` form (labels joined by dots, a dot or
/// backslash inside a label escaped), normalised. Plain ASCII labels, nearly
/// all of them, are copied whole instead of a character at a time.
fn name_text(name: &simple_dns::Name<'_>) -> String {
    let mut text = String::new();
    for (i, label) in name.as_bytes().enumerate() {
        if i > 0 {
            text.push('.');
        }
        let plain = label
            .iter()
            .all(|b| b.is_ascii() && *b != b'.' && *b != b'\\');
        match std::str::from_utf8(label) {
            Ok(ascii) if plain => text.push_str(ascii),
            _ => {
                for c in String::from_utf8_lossy(label).chars() {
                    match c {
                        '.' => text.push_str("\\."),
                        '\\' => text.push_str("\\\\"),
                        _ => text.push(c),
                    }
                }
            }
        }
    }
    normalise_name(text)
}

/// Dotted-quad text of an IPv4 address, as `Display` writes it, with
/// `itoa` instead of the formatting machinery (many times faster, and a
/// large report prints hundreds of thousands of addresses).
pub(crate) fn ipv4_text(address: std::net::Ipv4Addr) -> String {
    let mut text = String::with_capacity(15);
    push_ipv4(&mut text, address);
    text
}

/// Appends the dotted-quad text of `address` (see [`ipv4_text`]).
pub(crate) fn push_ipv4(text: &mut String, address: std::net::Ipv4Addr) {
    let mut digits = itoa::Buffer::new();
    for (i, octet) in address.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
}

/// Text of an IP address, as `Display` writes it (IPv4 the fast way).
pub(crate) fn ip_text(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => ipv4_text(v4),
        std::net::IpAddr::V6(v6) => v6.to_string(),
    }
}

/// Lower case without the trailing dot, in place (no second allocation).
fn normalise_name(mut name: String) -> String {
    let len = name.trim_end_matches('.').len();
    name.truncate(len);
    name.make_ascii_lowercase();
    name
}

/// Mnemonic of a DNS type code (`TYPE123` when unknown).
pub fn dns_type_name(code: u16) -> String {
    static TABLE: OnceLock<HashMap<u16, &'static str>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        include_str!("../data/dns_types.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (code, name) = l.split_once('\t')?;
                Some((code.parse().ok()?, name.trim()))
            })
            .collect()
    });
    table
        .get(&code)
        .map_or_else(|| format!("TYPE{code}"), |n| (*n).to_string())
}

/// Mnemonic of a DNS response code.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => format!("RCODE{other}"),
    }
}

/// Outcome of parsing a growing stream buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A message and the bytes it used.
    Done(T, usize),
    /// Not enough bytes yet.
    NeedMore,
    /// Not this protocol (or damaged): stop looking at this stream.
    Invalid,
}

/// HTTP request line and the headers the report keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method.
    pub method: String,
    /// Request target.
    pub uri: String,
    /// Host header.
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Content-Length of the body (0 when absent).
    pub body_len: usize,
}

/// Methods recognised at the start of a client stream.
const HTTP_METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
];
/// Header block larger than this is not parsed.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// True when the client's first bytes start like an HTTP/1 request.
pub fn looks_like_http_request(buf: &[u8]) -> bool {
    HTTP_METHODS
        .iter()
        .any(|m| buf.starts_with(m) || (buf.len() < m.len() && m.starts_with(buf)))
}

/// Parses one HTTP/1 request head.
pub fn parse_http_request(buf: &[u8]) -> Parsed<HttpRequest> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(used)) => {
            let header = |name: &str| {
                request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let body_len = header("content-length")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            Parsed::Done(
                HttpRequest {
                    method: request.method.unwrap_or_default().to_string(),
                    uri: request.path.unwrap_or_default().to_string(),
                    host: header("host"),
                    user_agent: header("user-agent"),
                    body_len,
                },
                used,
            )
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEADER_BYTES => Parsed::NeedMore,
        _ => Parsed::Invalid,
    }
}

/// Body framing of a response, as far as skipping it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    /// Exactly this many bytes follow.
    Known(usize),
    /// Chunked or until close: the stream cannot be followed further.
    Unknown,
}

/// Parses one HTTP/1 response head: status code and body framing.
pub fn parse_http_response(buf: &[u8], request_was_head: bool) -> Parsed<(u16, BodyLen)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(used)) => {
            let code = response.code.unwrap_or(0);
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
            let no_body = request_was_head || code == 204 || code == 304 || code < 200;
            let body = match (no_body, length) {
                (true, _) => BodyLen::Known(0),
                (false, Some(n)) => BodyLen::Known(n),
                (false, None) => BodyLen::Unknown,
            };
            Parsed::Done((code, body), used)
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEADER_BYTES => Parsed::NeedMore,
        _ => Parsed::Invalid,
    }
}

/// What a TLS ClientHello tells about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// Server Name Indication.
    pub sni: Option<String>,
    /// ALPN protocols offered, in order.
    pub alpn: Vec<String>,
    /// JA3 string (`version,ciphers,extensions,groups,point formats`).
    pub ja3_string: String,
    /// MD5 of the JA3 string, lower-case hex.
    pub ja3: String,
}

/// Largest handshake message accepted.
const MAX_HANDSHAKE: usize = 60 * 1024;

/// Parses a ClientHello from the start of a client stream; the handshake
/// message may span several TLS records.
pub fn parse_client_hello(buf: &[u8]) -> Parsed<ClientHello> {
    let mut handshake = Vec::new();
    let mut offset = 0;
    loop {
        if let Some(total) = handshake_len(&handshake) {
            if total > MAX_HANDSHAKE || handshake.first() != Some(&1) {
                return Parsed::Invalid;
            }
            if handshake.len() >= total {
                return match client_hello_of(&handshake[4..total]) {
                    Some(hello) => Parsed::Done(hello, offset),
                    None => Parsed::Invalid,
                };
            }
        }
        let Some(header) = buf.get(offset..offset + 5) else {
            return Parsed::NeedMore;
        };
        if header[0] != 22 || header[1] != 3 {
            return Parsed::Invalid;
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let Some(body) = buf.get(offset + 5..offset + 5 + len) else {
            return Parsed::NeedMore;
        };
        handshake.extend_from_slice(body);
        offset += 5 + len;
    }
}

/// True when the client's first bytes start like a TLS handshake record.
pub fn looks_like_tls(buf: &[u8]) -> bool {
    matches!(buf, [22, 3, ..] | [22])
}

fn handshake_len(handshake: &[u8]) -> Option<usize> {
    let header = handshake.get(..4)?;
    Some(4 + (usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3])))
}

fn is_grease(value: u16) -> bool {
    value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
}

fn client_hello_of(body: &[u8]) -> Option<ClientHello> {
    let (_, hello) = parse_tls_handshake_client_hello(body).ok()?;
    let ciphers: Vec<u16> = hello
        .ciphers
        .iter()
        .map(|c| c.0)
        .filter(|c| !is_grease(*c))
        .collect();
    let raw_ext = hello.ext.unwrap_or_default();
    let extension_types = raw_extension_types(raw_ext);
    let mut sni = None;
    let mut alpn = Vec::new();
    let mut groups = Vec::new();
    let mut point_formats = Vec::new();
    let extensions = parse_tls_extensions(raw_ext)
        .map(|(_, e)| e)
        .unwrap_or_default();
    for extension in extensions {
        match extension {
            TlsExtension::SNI(names) => {
                sni = names
                    .first()
                    .map(|(_, name)| String::from_utf8_lossy(name).to_ascii_lowercase());
            }
            TlsExtension::ALPN(protocols) => {
                alpn = protocols
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
            }
            TlsExtension::EllipticCurves(list) => {
                groups = list
                    .iter()
                    .map(|g| g.0)
                    .filter(|g| !is_grease(*g))
                    .collect();
            }
            TlsExtension::EcPointFormats(list) => {
                point_formats = list.iter().map(|p| u16::from(*p)).collect();
            }
            _ => {}
        }
    }
    let ja3_string = format!(
        "{},{},{},{},{}",
        hello.version.0,
        join(&ciphers),
        join(&extension_types),
        join(&groups),
        join(&point_formats)
    );
    let ja3 = Md5::digest(ja3_string.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(ClientHello {
        sni,
        alpn,
        ja3_string,
        ja3,
    })
}

/// Extension types in wire order, GREASE removed (the JA3 definition).
fn raw_extension_types(mut raw: &[u8]) -> Vec<u16> {
    let mut types = Vec::new();
    while let [t0, t1, l0, l1, rest @ ..] = raw {
        let kind = u16::from_be_bytes([*t0, *t1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        if !is_grease(kind) {
            types.push(kind);
        }
        raw = rest.get(len..).unwrap_or_default();
    }
    types
}

fn join(values: &[u16]) -> String {
    values
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// A TFTP read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpRequest {
    /// `RRQ` or `WRQ`.
    pub op: &'static str,
    /// File name requested.
    pub file: String,
    /// Transfer mode (`octet`, `netascii`, `mail`).
    pub mode: String,
}

/// Recognises a TFTP RRQ/WRQ by content: opcode 1 or 2, a printable file
/// name, NUL, a known mode, NUL.
pub fn parse_tftp_request(payload: &[u8]) -> Option<TftpRequest> {
    let op = match payload.get(..2)? {
        [0, 1] => "RRQ",
        [0, 2] => "WRQ",
        _ => return None,
    };
    let rest = payload.get(2..)?;
    let mut parts = rest.splitn(3, |b| *b == 0);
    let file = parts.next()?;
    let mode = parts.next()?;
    parts.next()?; // the mode's terminating NUL must be present
    if file.is_empty() || file.len() > 512 || !file.iter().all(|b| (0x20..0x7f).contains(b)) {
        return None;
    }
    let mode = std::str::from_utf8(mode).ok()?.to_ascii_lowercase();
    if !["octet", "netascii", "mail"].contains(&mode.as_str()) {
        return None;
    }
    Some(TftpRequest {
        op,
        file: String::from_utf8_lossy(file).into_owned(),
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_equals_display() {
        for text in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.100.255",
            "255.255.255.255",
            "::1",
            "fe80::1",
        ] {
            let ip: std::net::IpAddr = text.parse().expect("ip");
            assert_eq!(ip_text(ip), ip.to_string());
        }
        for n in (0..=u32::MAX).step_by(65_537) {
            let ip = std::net::Ipv4Addr::from(n);
            assert_eq!(ipv4_text(ip), ip.to_string());
        }
    }

    #[test]
    fn name_text_equals_the_display_form() {
        let labels: [&[u8]; 9] = [
            b"WWW",
            b"Example",
            b"a.b",
            b"back\\slash",
            b"\xff\xfe",
            "caf\u{e9}".as_bytes(),
            b"x-y_z",
            b".",
            b"",
        ];
        for first in 0..labels.len() {
            for second in 0..labels.len() {
                let mut packet = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
                for label in [labels[first], labels[second], b"com".as_slice()] {
                    if label.is_empty() {
                        continue;
                    }
                    packet.push(label.len() as u8);
                    packet.extend_from_slice(label);
                }
                packet.extend_from_slice(&[0, 0, 1, 0, 1]);
                let parsed = simple_dns::Packet::parse(&packet).expect("packet");
                let name = &parsed.questions[0].qname;
                assert_eq!(
                    name_text(name),
                    normalise_name(name.to_string()),
                    "{first} {second}"
                );
            }
        }
    }

    #[test]
    fn tftp_requests() {
        let rrq = b"\x00\x017up\x00octet\x00";
        assert_eq!(
            parse_tftp_request(rrq),
            Some(TftpRequest {
                op: "RRQ",
                file: "7up".into(),
                mode: "octet".into()
            })
        );
        assert_eq!(parse_tftp_request(b"\x00\x027up\x00octet"), None);
        assert_eq!(parse_tftp_request(b"\x00\x03data"), None);
        assert_eq!(parse_tftp_request(b"\x00\x01\x00octet\x00"), None);
        assert_eq!(parse_tftp_request(b"\x00\x01a\x00bogus\x00"), None);
    }

    #[test]
    fn http_request_across_partial_buffers() {
        let full = b"GET /x.sh HTTP/1.1\r\nHost: evil.tld\r\nUser-Agent: Wget\r\n\r\n";
        assert_eq!(parse_http_request(&full[..20]), Parsed::NeedMore);
        let Parsed::Done(req, used) = parse_http_request(full) else {
            panic!("complete request")
        };
        assert_eq!(used, full.len());
        assert_eq!(req.host.as_deref(), Some("evil.tld"));
        assert_eq!(req.user_agent.as_deref(), Some("Wget"));
        assert!(looks_like_http_request(b"GE"));
        assert!(!looks_like_http_request(b"\x16\x03\x01"));
    }

    #[test]
    fn http_response_status_and_body() {
        let resp = b"HTTP/1.0 404 Not Found\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(
            parse_http_response(resp, false),
            Parsed::Done((404, BodyLen::Known(3)), resp.len() - 3)
        );
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0a1a));
        assert!(!is_grease(0x1301));
    }

    #[test]
    fn dns_rejects_impossible_counts() {
        let mut header = vec![0u8; 12];
        header[4] = 0xff;
        header[5] = 0xff;
        assert!(parse_dns(&header).is_none());
        assert!(parse_dns(b"short").is_none());
    }

    #[test]
    fn dns_query_and_nxdomain_response() {
        // Query: id 0x1234, RD, one question hrjlyymassqx.tech A IN.
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["hrjlyymassqx", "tech"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let query = parse_dns(&q).expect("query parses");
        assert!(!query.response);
        assert_eq!(query.questions, vec![("hrjlyymassqx.tech".to_string(), 1)]);
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x83;
        let response = parse_dns(&r).expect("response parses");
        assert!(response.response);
        assert_eq!(rcode_name(response.rcode), "NXDOMAIN");
        assert_eq!(dns_type_name(28), "AAAA");
        assert_eq!(dns_type_name(4242), "TYPE4242");
    }
}
