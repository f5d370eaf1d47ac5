//! trawl's event model: what the sensor observed (login attempts and sessions), in one
//! place, with one faithful text form for raw credential bytes.
//!
//! Every sink (CSV, JSON lines, SQLite) and the report read these types. Credentials are
//! kept as the raw bytes the client sent; [`display_bytes`] gives the text form used in
//! text columns (valid UTF-8 unchanged, otherwise invalid bytes as `\xNN`), and the JSON
//! form carries a base64 copy of the exact bytes whenever that text form is not exact.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// How a credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Mechanism {
    /// SASL PLAIN (RFC 4616).
    Plain,
    /// SASL LOGIN (base64 user, then base64 password).
    Login,
    /// SASL CRAM-MD5 (RFC 2195): only challenge + response are known.
    CramMd5,
    /// POP3 APOP (RFC 1939): only timestamp + digest are known.
    Apop,
    /// HTTP Basic (RFC 7617).
    Basic,
    /// An HTML login form POSTed over HTTP(S).
    Form,
    /// NTLM (MS-NLMP): no password, the NetNTLMv1/v2 response is in `password_hash`.
    Ntlm,
    /// A plain user name + password dialog (FTP USER/PASS, Telnet prompts, POP3 USER/PASS,
    /// IMAP LOGIN).
    UserPass,
    /// SSH `publickey` (RFC 4252 §7): no password; `password_hash` holds
    /// `<key algorithm> SHA256:<fingerprint>` as `ssh-keygen -lf` prints it.
    #[serde(rename = "publickey")]
    PublicKey,
    /// SSH `keyboard-interactive` (RFC 4256): the answer to the password prompt, raw bytes.
    KeyboardInteractive,
    /// PostgreSQL MD5 password message: `password_hash` is `$postgres$user*salt*hash`
    /// (hashcat 11100, John `postgres`).
    PgMd5,
    /// SCRAM-SHA-256 (RFC 7677; PostgreSQL, MongoDB): the exchange is in `password_hash`.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802; MongoDB): the exchange is in `password_hash`.
    #[serde(rename = "scram-sha-1")]
    ScramSha1,
    /// MySQL `mysql_native_password`: `password_hash` is `$mysqlna$salt*scramble`
    /// (hashcat 11200, John `mysqlna`).
    MysqlNativePassword,
    /// MySQL `caching_sha2_password`: the scramble is in `password_hash`; the password
    /// too when the client sent it in full over TLS.
    #[serde(rename = "caching-sha2-password")]
    CachingSha2Password,
    /// MSSQL TDS LOGIN7 (SQL Server authentication), password de-obfuscated.
    #[serde(rename = "tds-login7")]
    TdsLogin7,
    /// VNC authentication (RFB 3.x, DES challenge/response): `password_hash` is John's
    /// `$vnc$*<challenge hex>*<response hex>`; the password only when the sensor's wordlist
    /// cracked it.
    VncAuth,
    /// SOCKS5 username/password sub-negotiation (RFC 1929).
    #[serde(rename = "socks5-userpass")]
    Socks5UserPass,
    /// SOCKS4/4a request: the USERID field only (no password exists in SOCKS4).
    #[serde(rename = "socks4-userid")]
    Socks4UserId,
    /// Redis `AUTH [username] password` (RESP or inline).
    RedisAuth,
    /// Redis `HELLO <protover> AUTH username password`.
    RedisHello,
    /// LDAP simple bind (RFC 4511 §4.2): bind DN as username, password.
    LdapSimple,
    /// RDP Client Info PDU (MS-RDPBCGR 2.2.1.11, TLS-only security): the password in
    /// clear; the domain is in `auxiliary_data.rdp_logon`.
    RdpClientInfo,
}

impl Mechanism {
    /// The name used in every output (`plain`, `login`, `cram-md5`, `apop`, `basic`,
    /// `form`, `ntlm`, `user-pass`, `publickey`, `keyboard-interactive`, `pg-md5`,
    /// `scram-sha-256`, `scram-sha-1`, `mysql-native-password`, `caching-sha2-password`,
    /// `tds-login7`, `vnc-auth`, `socks5-userpass`, `socks4-userid`, `redis-auth`,
    /// `redis-hello`, `ldap-simple`, `rdp-client-info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "plain",
            Mechanism::Login => "login",
            Mechanism::CramMd5 => "cram-md5",
            Mechanism::Apop => "apop",
            Mechanism::Basic => "basic",
            Mechanism::Form => "form",
            Mechanism::Ntlm => "ntlm",
            Mechanism::UserPass => "user-pass",
            Mechanism::PublicKey => "publickey",
            Mechanism::KeyboardInteractive => "keyboard-interactive",
            Mechanism::PgMd5 => "pg-md5",
            Mechanism::ScramSha256 => "scram-sha-256",
            Mechanism::ScramSha1 => "scram-sha-1",
            Mechanism::MysqlNativePassword => "mysql-native-password",
            Mechanism::CachingSha2Password => "caching-sha2-password",
            Mechanism::TdsLogin7 => "tds-login7",
            Mechanism::VncAuth => "vnc-auth",
            Mechanism::Socks5UserPass => "socks5-userpass",
            Mechanism::Socks4UserId => "socks4-userid",
            Mechanism::RedisAuth => "redis-auth",
            Mechanism::RedisHello => "redis-hello",
            Mechanism::LdapSimple => "ldap-simple",
            Mechanism::RdpClientInfo => "rdp-client-info",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a protocol hands the session when a client tries to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Raw bytes as received (may be non-UTF-8).
    pub username: Vec<u8>,
    /// Raw bytes as received; empty when only a hash/response is known.
    pub password: Vec<u8>,
    /// Crackable material (hashcat/John format), e.g. for CRAM-MD5 and APOP.
    pub password_hash: Option<String>,
    /// How the credential was presented.
    pub mechanism: Mechanism,
}

impl Credential {
    /// A cleartext user name + password pair.
    pub fn new(
        username: impl Into<Vec<u8>>,
        password: impl Into<Vec<u8>>,
        mechanism: Mechanism,
    ) -> Self {
        Credential {
            username: username.into(),
            password: password.into(),
            password_hash: None,
            mechanism,
        }
    }
}

/// The two ends of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The client (attacker) side.
    pub source: SocketAddr,
    /// The sensor side (listening address and port).
    pub destination: SocketAddr,
}

impl Endpoints {
    /// Source IP with IPv4-mapped IPv6 addresses shown as IPv4.
    pub fn source_ip(&self) -> IpAddr {
        self.source.ip().to_canonical()
    }
    /// Destination IP with IPv4-mapped IPv6 addresses shown as IPv4.
    pub fn destination_ip(&self) -> IpAddr {
        self.destination.ip().to_canonical()
    }
}

/// One login attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthAttempt {
    /// When the attempt was received (UTC).
    pub timestamp: DateTime<Utc>,
    /// Unique id of this attempt (UUID v4).
    pub auth_id: Uuid,
    /// Session the attempt belongs to (UUID v4).
    pub session_id: Uuid,
    /// Client and sensor addresses.
    pub endpoints: Endpoints,
    /// Protocol name (`ftp`, `telnet`, `http`, `https`, `pop3`, ...).
    pub protocol: String,
    /// The credential as received.
    pub credential: Credential,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// The client closed the connection (or said QUIT/LOGOUT).
    ClientClosed,
    /// No data from the client within the idle timeout.
    IdleTimeout,
    /// The whole-session timeout was reached.
    SessionTimeout,
    /// The per-session attempt limit was reached and the sensor hung up.
    MaxAttempts,
    /// The sensor closed the connection after a protocol error (bad TLS, bad request...).
    ProtocolError,
    /// A network error (reset, broken pipe).
    NetworkError,
    /// The sensor was shutting down.
    Shutdown,
}

impl EndReason {
    /// The name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ClientClosed => "client_closed",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::SessionTimeout => "session_timeout",
            EndReason::MaxAttempts => "max_attempts",
            EndReason::ProtocolError => "protocol_error",
            EndReason::NetworkError => "network_error",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// One finished connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Session id (UUID v4), shared with its attempts.
    pub session_id: Uuid,
    /// Protocol name.
    pub protocol: String,
    /// Client and sensor addresses.
    pub endpoints: Endpoints,
    /// Connection accepted.
    pub start: DateTime<Utc>,
    /// Connection closed.
    pub end: DateTime<Utc>,
    /// The attempts made in this session, in order.
    pub auth_attempts: Vec<AuthAttempt>,
    /// Protocol-specific extras: client banner/version, HTTP headers, TLS SNI/ALPN, ...
    pub auxiliary_data: Map<String, Value>,
    /// How the session ended.
    pub end_reason: EndReason,
}

impl Session {
    /// Session length.
    pub fn duration(&self) -> chrono::Duration {
        self.end - self.start
    }
    /// Session length in seconds (fractional).
    pub fn duration_secs(&self) -> f64 {
        self.duration()
            .num_microseconds()
            .map_or(0.0, |us| us as f64 / 1e6)
    }
    /// Number of login attempts.
    pub fn num_auth_attempts(&self) -> usize {
        self.auth_attempts.len()
    }
}

/// Everything the sensor reports. Later kinds (commands typed in a shell, downloads) get
/// their own variant; sinks ignore kinds they do not store.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A login attempt, emitted the moment it is received.
    AuthAttempt(AuthAttempt),
    /// A session, emitted when the connection ends (carries its attempts again).
    Session(Session),
}

impl Event {
    /// The `type` field of the JSON form.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AuthAttempt(_) => "auth_attempt",
            Event::Session(_) => "session",
        }
    }

    /// The JSON-lines form (see docs/sensor-outputs.md) as a value.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.json_view()).unwrap_or(Value::Null)
    }

    /// Writes the JSON-lines form (one object, no newline) without building a value.
    pub fn write_json(&self, out: &mut impl std::io::Write) -> serde_json::Result<()> {
        serde_json::to_writer(out, &self.json_view())
    }

    fn json_view(&self) -> JsonView<'_> {
        match self {
            Event::AuthAttempt(attempt) => {
                JsonView::Attempt(AttemptView::new(attempt, Some(self.kind())))
            }
            Event::Session(session) => JsonView::Session(SessionView::new(session, self.kind())),
        }
    }
}

/// A fresh id for a session or an attempt: a UUIDv7 (RFC 9562), random but ordered by
/// creation time, so the SQLite and PostgreSQL indexes on ids grow at the end instead of
/// being updated at random places (the same 36-character text form Heralding's UUIDv4s have).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// ISO-8601 UTC with microseconds, e.g. `2026-11-26T23:32:24.123456Z`.
pub fn iso8601(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Heralding's timestamp form: `%Y-%m-%d %H:%M:%S.%6f` (UTC, no zone suffix).
pub fn heralding_timestamp(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Text form of raw bytes: valid UTF-8 is returned unchanged (NUL, CR, LF included);
/// otherwise every byte that is not part of a valid UTF-8 sequence becomes `\xNN`
/// (lowercase hex) and every literal backslash becomes `\\`, so the escaped form can be
/// decoded back with [`undisplay_bytes`]. Whether escaping was applied is given by
/// [`is_escaped`] (JSON carries `*_b64` fields then; SQLite always keeps a BLOB copy).
pub fn display_bytes(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(ch);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// True when [`display_bytes`] had to escape (the bytes are not valid UTF-8).
pub fn is_escaped(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_err()
}

/// Inverse of the escaped form of [`display_bytes`] (`\\` and `\xNN`); other text is kept.
pub fn undisplay_bytes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match (bytes.get(index), bytes.get(index + 1)) {
            (Some(b'\\'), Some(b'\\')) => {
                out.push(b'\\');
                index += 2;
            }
            (Some(b'\\'), Some(b'x')) => {
                match bytes.get(index + 2..index + 4).and_then(parse_hex_pair) {
                    Some(value) => {
                        out.push(value);
                        index += 4;
                    }
                    None => {
                        out.push(b'\\');
                        index += 1;
                    }
                }
            }
            (Some(&byte), _) => {
                out.push(byte);
                index += 1;
            }
            (None, _) => break,
        }
    }
    out
}

fn parse_hex_pair(pair: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(pair).ok()?;
    u8::from_str_radix(text, 16).ok()
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
#[serde(untagged)]
enum JsonView<'a> {
    Attempt(AttemptView<'a>),
    Session(SessionView<'a>),
}

/// Borrowed JSON form of an attempt (field order = output order).
#[derive(Serialize)]
struct AttemptView<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    timestamp: String,
    auth_id: &'a Uuid,
    session_id: &'a Uuid,
    source_ip: IpAddr,
    source_port: u16,
    destination_ip: IpAddr,
    destination_port: u16,
    protocol: &'a str,
    username: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username_b64: Option<String>,
    password: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_b64: Option<String>,
    password_hash: &'a Option<String>,
    mechanism: &'static str,
}

impl<'a> AttemptView<'a> {
    fn new(attempt: &'a AuthAttempt, kind: Option<&'static str>) -> Self {
        let credential = &attempt.credential;
        AttemptView {
            kind,
            timestamp: iso8601(&attempt.timestamp),
            auth_id: &attempt.auth_id,
            session_id: &attempt.session_id,
            source_ip: attempt.endpoints.source_ip(),
            source_port: attempt.endpoints.source.port(),
            destination_ip: attempt.endpoints.destination_ip(),
            destination_port: attempt.endpoints.destination.port(),
            protocol: &attempt.protocol,
            username: display_cow(&credential.username),
            username_b64: escaped_b64(&credential.username),
            password: display_cow(&credential.password),
            password_b64: escaped_b64(&credential.password),
            password_hash: &credential.password_hash,
            mechanism: credential.mechanism.as_str(),
        }
    }
}

/// Borrowed JSON form of a session.
#[derive(Serialize)]
struct SessionView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    session_id: &'a Uuid,
    source_ip: IpAddr,
    source_port: u16,
    destination_ip: IpAddr,
    destination_port: u16,
    protocol: &'a str,
    start: String,
    end: String,
    duration: f64,
    num_auth_attempts: usize,
    auth_attempts: Vec<AttemptView<'a>>,
    end_reason: &'static str,
    auxiliary_data: &'a Map<String, Value>,
}

impl<'a> SessionView<'a> {
    fn new(session: &'a Session, kind: &'static str) -> Self {
        SessionView {
            kind,
            timestamp: iso8601(&session.start),
            session_id: &session.session_id,
            source_ip: session.endpoints.source_ip(),
            source_port: session.endpoints.source.port(),
            destination_ip: session.endpoints.destination_ip(),
            destination_port: session.endpoints.destination.port(),
            protocol: &session.protocol,
            start: iso8601(&session.start),
            end: iso8601(&session.end),
            duration: session.duration_secs(),
            num_auth_attempts: session.num_auth_attempts(),
            auth_attempts: session
                .auth_attempts
                .iter()
                .map(|attempt| AttemptView::new(attempt, None))
                .collect(),
            end_reason: session.end_reason.as_str(),
            auxiliary_data: &session.auxiliary_data,
        }
    }
}

fn display_cow(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(display_bytes(bytes)),
    }
}

fn escaped_b64(bytes: &[u8]) -> Option<String> {
    is_escaped(bytes).then(|| base64_of(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_kept_verbatim_including_controls() {
        let raw = "a,b\"c\r\n\0ü\\x41".as_bytes();
        assert_eq!(display_bytes(raw), "a,b\"c\r\n\0ü\\x41");
        assert!(!is_escaped(raw));
    }

    #[test]
    fn invalid_utf8_is_escaped_and_round_trips() {
        let raw = b"p\xff\\\xfeq\xc3\xa9";
        let shown = display_bytes(raw);
        assert_eq!(shown, "p\\xff\\\\\\xfeqé");
        assert!(is_escaped(raw));
        assert_eq!(undisplay_bytes(&shown), raw.to_vec());
    }

    #[test]
    fn timestamps_match_heralding_and_iso() {
        let time =
            DateTime::parse_from_rfc3339("2026-11-26T23:32:24.5Z").map(|t| t.with_timezone(&Utc));
        let time = time.unwrap_or_default();
        assert_eq!(heralding_timestamp(&time), "2026-11-26 23:32:24.500000");
        assert_eq!(iso8601(&time), "2026-11-26T23:32:24.500000Z");
    }

    #[test]
    fn attempt_json_has_type_and_b64_only_when_escaped() {
        let endpoints = Endpoints {
            source: "[::ffff:10.0.0.1]:4000"
                .parse()
                .unwrap_or(([0, 0, 0, 0], 0).into()),
            destination: ([127, 0, 0, 1], 10021).into(),
        };
        let attempt = AuthAttempt {
            timestamp: Utc::now(),
            auth_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
            endpoints,
            protocol: "ftp".into(),
            credential: Credential::new(b"root".to_vec(), b"\xff".to_vec(), Mechanism::UserPass),
        };
        let value = Event::AuthAttempt(attempt).to_json();
        assert_eq!(value["type"], "auth_attempt");
        assert_eq!(value["source_ip"], "10.0.0.1");
        assert_eq!(value["username"], "root");
        assert!(value.get("username_b64").is_none());
        assert_eq!(value["password"], "\\xff");
        assert_eq!(value["password_b64"], "/w==");
        assert_eq!(value["mechanism"], "user-pass");
    }
}
