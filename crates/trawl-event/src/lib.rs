//! trawl's event model: what the sensor observed (login attempts and sessions), in one
//! place, with one faithful text form for raw credential bytes.
//!
//! Every sink (CSV, JSON lines, SQLite) and the report read these types. Credentials are
//! kept as the raw bytes the client sent; [`display_bytes`] gives the text form used in
//! text columns (valid UTF-8 unchanged, otherwise invalid bytes as `\xNN`), and the JSON
//! form carries a base64 copy of the exact bytes whenever that text form is not exact.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
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
    /// A plain user name + password dialog (FTP USER/PASS, Telnet prompts, POP3 USER/PASS,
    /// IMAP LOGIN).
    UserPass,
}

impl Mechanism {
    /// The name used in every output (`plain`, `login`, `cram-md5`, `apop`, `basic`,
    /// `form`, `user-pass`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Plain => "plain",
            Mechanism::Login => "login",
            Mechanism::CramMd5 => "cram-md5",
            Mechanism::Apop => "apop",
            Mechanism::Basic => "basic",
            Mechanism::Form => "form",
            Mechanism::UserPass => "user-pass",
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

    /// The JSON-lines form (see docs/sensor-outputs.md).
    pub fn to_json(&self) -> Value {
        match self {
            Event::AuthAttempt(attempt) => {
                let mut object = attempt_json(attempt);
                object.insert("type".into(), Value::from(self.kind()));
                Value::Object(object)
            }
            Event::Session(session) => {
                let mut object = session_json(session);
                object.insert("type".into(), Value::from(self.kind()));
                Value::Object(object)
            }
        }
    }
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

fn insert_bytes(object: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    object.insert(key.to_owned(), Value::from(display_bytes(bytes)));
    if is_escaped(bytes) {
        object.insert(format!("{key}_b64"), Value::from(base64_of(bytes)));
    }
}

fn endpoints_json(object: &mut Map<String, Value>, endpoints: &Endpoints) {
    object.insert(
        "source_ip".into(),
        Value::from(endpoints.source_ip().to_string()),
    );
    object.insert("source_port".into(), Value::from(endpoints.source.port()));
    object.insert(
        "destination_ip".into(),
        Value::from(endpoints.destination_ip().to_string()),
    );
    object.insert(
        "destination_port".into(),
        Value::from(endpoints.destination.port()),
    );
}

fn attempt_json(attempt: &AuthAttempt) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("timestamp".into(), Value::from(iso8601(&attempt.timestamp)));
    object.insert("auth_id".into(), Value::from(attempt.auth_id.to_string()));
    object.insert(
        "session_id".into(),
        Value::from(attempt.session_id.to_string()),
    );
    endpoints_json(&mut object, &attempt.endpoints);
    object.insert("protocol".into(), Value::from(attempt.protocol.clone()));
    insert_bytes(&mut object, "username", &attempt.credential.username);
    insert_bytes(&mut object, "password", &attempt.credential.password);
    object.insert(
        "password_hash".into(),
        json!(attempt.credential.password_hash),
    );
    object.insert(
        "mechanism".into(),
        Value::from(attempt.credential.mechanism.as_str()),
    );
    object
}

fn session_json(session: &Session) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("timestamp".into(), Value::from(iso8601(&session.start)));
    object.insert(
        "session_id".into(),
        Value::from(session.session_id.to_string()),
    );
    endpoints_json(&mut object, &session.endpoints);
    object.insert("protocol".into(), Value::from(session.protocol.clone()));
    object.insert("start".into(), Value::from(iso8601(&session.start)));
    object.insert("end".into(), Value::from(iso8601(&session.end)));
    object.insert("duration".into(), json!(session.duration_secs()));
    object.insert(
        "num_auth_attempts".into(),
        Value::from(session.num_auth_attempts()),
    );
    let attempts = session
        .auth_attempts
        .iter()
        .map(|attempt| Value::Object(attempt_json(attempt)))
        .collect();
    object.insert("auth_attempts".into(), Value::Array(attempts));
    object.insert(
        "end_reason".into(),
        Value::from(session.end_reason.as_str()),
    );
    object.insert(
        "auxiliary_data".into(),
        Value::Object(session.auxiliary_data.clone()),
    );
    object
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
