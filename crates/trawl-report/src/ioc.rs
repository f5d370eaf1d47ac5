//! Checks and normalisation for the indicator values honeypots record besides
//! credentials: payload SHA-256 digests, HASSH fingerprints, tunnel destinations
//! and the host an HTTP request sent into a tunnel asks for.
//!
//! Every value here comes from the attacker (a client chooses its tunnel
//! destination and the bytes it sends into it) or from a log file, so each is
//! checked for shape and cut to [`MAX_IOC_TEXT`] bytes before it is kept.
//! The HTTP request line is read by hand: only its first line and a `Host:`
//! header are wanted, from a Python `repr()` of the bytes (Cowrie's `data`),
//! which no HTTP parser crate accepts as input.

/// Bytes kept of a URL, file name, host name or requested host (as for client
/// versions: [`crate::agg::MAX_CLIENT_VERSION`]).
pub const MAX_IOC_TEXT: usize = 255;

/// Bytes of a tunnel's `data` looked at for an HTTP request.
const MAX_HTTP_PREFIX: usize = 4_096;

/// HTTP methods recognised at the start of tunnel data.
const HTTP_METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE",
];

/// `text` trimmed and cut to at most `max` bytes on a character boundary.
pub fn clip_text(text: &str, max: usize) -> &str {
    let text = text.trim();
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// `text` as a lowercase hex digest of exactly `digits` hex digits, or `None`.
fn hex_digest(text: &str, digits: usize) -> Option<String> {
    let text = text.trim();
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// A SHA-256 digest: exactly 64 hex digits, lowercased.
pub fn sha256_hex(text: &str) -> Option<String> {
    hex_digest(text, 64)
}

/// A HASSH (an MD5 digest): exactly 32 hex digits, lowercased.
pub fn hassh_hex(text: &str) -> Option<String> {
    hex_digest(text, 32)
}

/// A tunnel destination host as kept: trimmed, ASCII-lowercased, cut to
/// [`MAX_IOC_TEXT`] bytes; `None` if empty.
pub fn tunnel_host(host: &str) -> Option<String> {
    let host = clip_text(host, MAX_IOC_TEXT);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `host:port`, with an IPv6 address in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The host (with its port when the request names one) that an HTTP request at
/// the start of `data` asks for: the authority of `CONNECT host:port`, of an
/// absolute URL (`GET http://host/ HTTP/1.1`, a proxy request), or else of its
/// `Host:` header. `data` may be the raw text or Python's `repr()` of the bytes
/// (`b'GET / HTTP/1.1\r\nHost: ...'`, as Cowrie logs it), whose line breaks are
/// the two characters `\r` / `\n`. `None` when the data is not an HTTP request or
/// names no valid host.
pub fn http_request_host(data: &str) -> Option<String> {
    let data = clip_text(data, MAX_HTTP_PREFIX);
    let data = strip_python_repr(data);
    let mut lines = split_lines(data);
    let request = lines.next()?;
    let mut parts = request.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    if !HTTP_METHODS.contains(&method) {
        return None;
    }
    let version = parts.next();
    if method != "CONNECT" && !version.is_some_and(|v| v.starts_with("HTTP/")) {
        return None;
    }
    let authority = if method == "CONNECT" {
        Some(target)
    } else if let Some((scheme, rest)) = target.split_once("://") {
        scheme
            .chars()
            .all(|c| c.is_ascii_alphabetic())
            .then(|| rest.split(['/', '?', '#']).next().unwrap_or_default())
    } else {
        None
    };
    let authority = match authority {
        Some(a) => a,
        None => lines.find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("host")
                .then_some(value.trim())
        })?,
    };
    valid_authority(authority)
}

/// The text inside `b'...'`, `b"..."`, `'...'` or `"..."` (closing quote optional:
/// the text may have been cut); other text as it is.
fn strip_python_repr(data: &str) -> &str {
    let inner = data.strip_prefix('b').unwrap_or(data);
    for quote in ['\'', '"'] {
        if let Some(rest) = inner.strip_prefix(quote) {
            return rest.strip_suffix(quote).unwrap_or(rest);
        }
    }
    data
}

/// Lines of `data`, broken at real line feeds and at the two characters `\n`,
/// without their `\r` (real or escaped).
fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    data.split('\n').flat_map(|l| l.split("\\n")).map(|l| {
        let l = l.strip_suffix('\r').unwrap_or(l);
        l.strip_suffix("\\r").unwrap_or(l)
    })
}

/// `host[:port]` lowercased if it looks like a host name or address with an
/// optional port, else `None`.
fn valid_authority(authority: &str) -> Option<String> {
    // Userinfo (`user:pass@host`) is not the destination.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let ok = !authority.is_empty()
        && authority.len() <= MAX_IOC_TEXT
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b));
    ok.then(|| authority.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn digests_need_exactly_their_hex_digits() {
        assert_eq!(sha256_hex(SHA).as_deref(), Some(SHA));
        assert_eq!(
            sha256_hex(&SHA.to_ascii_uppercase()).as_deref(),
            Some(SHA),
            "lowercased"
        );
        assert_eq!(sha256_hex(&SHA[1..]), None, "63 digits");
        assert_eq!(sha256_hex(&format!("{SHA}0")), None, "65 digits");
        assert_eq!(sha256_hex(&SHA.replace('f', "g")), None, "not hex");
        assert_eq!(sha256_hex(""), None);
        assert_eq!(
            hassh_hex("EC7378C1A92F5A8DDE7E8B7A1DDF33D1").as_deref(),
            Some("ec7378c1a92f5a8dde7e8b7a1ddf33d1")
        );
        assert_eq!(hassh_hex(SHA), None);
        assert_eq!(hassh_hex("ec7378c1a92f5a8dde7e8b7a1ddf33d"), None);
        // Multi-byte characters of the right byte length are not hex.
        assert_eq!(hassh_hex(&"é".repeat(16)), None);
    }

    #[test]
    fn clip_text_cuts_on_a_character_boundary() {
        assert_eq!(clip_text("  abc  ", 10), "abc");
        assert_eq!(clip_text("aé", 2), "a");
        assert_eq!(
            clip_text(&"x".repeat(300), MAX_IOC_TEXT).len(),
            MAX_IOC_TEXT
        );
    }

    #[test]
    fn tunnel_hosts_and_host_ports() {
        assert_eq!(
            tunnel_host(" WWW.Example.COM ").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(tunnel_host("   "), None);
        assert_eq!(tunnel_host(&"a".repeat(1000)).map(|h| h.len()), Some(255));
        assert_eq!(host_port("192.0.2.1", 80), "192.0.2.1:80");
        assert_eq!(host_port("2001:db8::1", 443), "[2001:db8::1]:443");
    }

    #[test]
    fn http_request_hosts_in_cowrie_data() {
        let cases = [
            (
                r"b'GET http://Example.COM/ip HTTP/1.1\r\nHost: example.com\r\n\r\n'",
                Some("example.com"),
            ),
            (
                r"b'CONNECT mail.example.org:25 HTTP/1.1\r\n\r\n'",
                Some("mail.example.org:25"),
            ),
            (
                r"b'GET / HTTP/1.1\r\nUser-Agent: x\r\nhost: ip.example.net:8080\r\n\r\n'",
                Some("ip.example.net:8080"),
            ),
            (
                "GET http://user:pw@192.0.2.5:81/x?y HTTP/1.0\r\n\r\n",
                Some("192.0.2.5:81"),
            ),
            (
                r#"b"CONNECT [2001:db8::5]:443 HTTP/1.1""#,
                Some("[2001:db8::5]:443"),
            ),
            // No Host header, no absolute URL: nothing to record.
            (r"b'GET / HTTP/1.1\r\n\r\n'", None),
            // Not HTTP.
            (r"b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'", None),
            (r"b'SSH-2.0-Go\r\n'", None),
            ("get http://example.com/ HTTP/1.1", None),
            ("GET http://example.com/", None),
            (r"b'GET http://exa<mple.com/ HTTP/1.1'", None),
            ("", None),
        ];
        for (data, want) in cases {
            assert_eq!(http_request_host(data).as_deref(), want, "{data:?}");
        }
    }

    #[test]
    fn http_request_host_looks_only_at_the_start() {
        let late = format!(
            "GET / HTTP/1.1\r\n{}Host: example.com\r\n",
            "X: y\r\n".repeat(1_000)
        );
        assert_eq!(http_request_host(&late), None);
        let long_host = format!("CONNECT {}:443 HTTP/1.1", "a".repeat(300));
        assert_eq!(http_request_host(&long_host), None);
    }
}
