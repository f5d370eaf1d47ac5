//! PostgreSQL (frontend/backend protocol 3.0) login, answering like PostgreSQL 15 on
//! Debian 12: SSLRequest (TLS with the sensor certificate, or `N`), GSSENCRequest (`N`),
//! StartupMessage, then one password exchange per connection and the real
//! `FATAL 28P01 password authentication failed for user "x"`.
//!
//! Option `auth` picks what the sensor asks for:
//! - `cleartext` (default): AuthenticationCleartextPassword, the password arrives as sent.
//! - `md5`: AuthenticationMD5Password with a fresh 4-byte salt; `password_hash` is
//!   `$postgres$<user>*<salt hex>*<md5 hex>` (hashcat 11100 "PostgreSQL CRAM (MD5)",
//!   John `--format=postgres`).
//! - `scram-sha-256`: SASL SCRAM-SHA-256 (RFC 7677, no channel binding offered); the
//!   exchange is kept as `$scram-sha-256$<iterations>$<salt b64>$<AuthMessage b64>$<ClientProof b64>`
//!   (see [`scram_hash`]). hashcat 28600 takes the *stored* verifier
//!   (`SCRAM-SHA-256$<i>:<salt>$<StoredKey>:<ServerKey>`), which a network capture
//!   never contains, so no stock hashcat/John mode reads this line; docs/sensor-db.md has a
//!   15-line Python checker and the e2e test verifies it with hashlib/hmac.
//!
//! The salt for a user name is derived from a per-run key (like PostgreSQL's mock salt for
//! unknown roles), so one user sees the same salt on every connection.
//!
//! Startup parameters (user, database, application_name...) go to `auxiliary_data.startup`.
//! nmap's SMB probe (protocol 65363.19778) gets PostgreSQL 15's exact `0A000` error with
//! `postmaster.c` line 2194, which nmap's signatures map to "PostgreSQL DB 15".
//!
//! Hand-written: the wire format is a few length-prefixed messages, and no server-side
//! crate exposes the raw MD5/SCRAM material (they verify against a store). Every length is
//! checked against a cap before reading.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SystemRandom;
use serde::Deserialize;
use serde_json::{Map, Value};
use trawl_event::{Credential, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::session::SessionCtx;

/// Longest startup packet PostgreSQL accepts (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP: usize = 10_000;
/// Longest password/SASL message accepted (`PG_MAX_AUTH_TOKEN_LENGTH`).
pub const MAX_AUTH_MESSAGE: usize = 65_535;
/// Startup parameters kept.
const MAX_PARAMS: usize = 32;
/// Characters kept per startup parameter value in auxiliary data.
const MAX_PARAM_TEXT: usize = 256;
/// PostgreSQL's default SCRAM iteration count.
pub const PG_SCRAM_ITERATIONS: u32 = 4096;

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_3: u32 = 196_608;

/// Which password exchange the sensor asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgAuth {
    /// AuthenticationCleartextPassword.
    #[default]
    Cleartext,
    /// AuthenticationMD5Password.
    Md5,
    /// AuthenticationSASL with SCRAM-SHA-256.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PgOptions {
    auth: PgAuth,
    ssl: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            auth: PgAuth::Cleartext,
            ssl: true,
        }
    }
}

struct PgState {
    options: PgOptions,
    salt_key: ring::hmac::Key,
}

/// PostgreSQL on 15432.
#[derive(Default)]
pub struct Postgresql {
    state: OnceLock<PgState>,
}

impl Protocol for Postgresql {
    fn name(&self) -> &'static str {
        "postgresql"
    }
    fn default_port(&self) -> u16 {
        15432
    }
    /// The `server_version` a PostgreSQL 15 on Debian 12 reports (only sent after a
    /// successful login, which never happens; kept for the report).
    fn default_banner(&self) -> &'static str {
        "15.10 (Debian 15.10-0+deb12u1)"
    }
    fn default_max_attempts(&self) -> u32 {
        1
    }
    fn default_options(&self) -> &'static str {
        "# auth = \"cleartext\"   # cleartext | md5 | scram-sha-256\n\
         # ssl = true            # answer SSLRequest with S and TLS (false: N)\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: PgOptions = env.parse_options()?;
        let _ = self.state.set(PgState {
            options,
            salt_key: random_hmac_key()?,
        });
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(async move {
            let Some(state) = self.state.get() else {
                return Err(ConnError::Protocol("postgresql not prepared".into()));
            };
            serve(state, conn, ctx).await
        })
    }
}

/// A fresh HMAC key for deriving per-user salts.
pub(crate) fn random_hmac_key() -> Result<ring::hmac::Key, String> {
    let rng = SystemRandom::new();
    ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
        .map_err(|_| "no system randomness".to_owned())
}

/// `len` (≤ 32) salt bytes that depend only on the user name and the per-run key.
pub(crate) fn derive_salt(key: &ring::hmac::Key, user: &[u8], len: usize) -> Vec<u8> {
    let tag = ring::hmac::sign(key, user);
    tag.as_ref().iter().take(len).copied().collect()
}

pub(crate) use super::random_bytes;

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// What the first packet of a connection asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// SSLRequest.
    Ssl,
    /// GSSENCRequest.
    GssEnc,
    /// CancelRequest.
    Cancel,
    /// A protocol version this server does not speak (major, minor).
    Unsupported(u16, u16),
    /// StartupMessage 3.x with its parameters (name, value), at most [`MAX_PARAMS`].
    V3(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Classifies a startup packet body (everything after the 4-byte length).
pub fn parse_startup(body: &[u8]) -> Option<Startup> {
    let code = u32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    let rest = body.get(4..).unwrap_or_default();
    Some(match code {
        SSL_REQUEST => Startup::Ssl,
        GSSENC_REQUEST => Startup::GssEnc,
        CANCEL_REQUEST => Startup::Cancel,
        _ if code >> 16 == PROTOCOL_3 >> 16 => Startup::V3(parse_params(rest)),
        _ => Startup::Unsupported((code >> 16) as u16, (code & 0xffff) as u16),
    })
}

fn parse_params(mut rest: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut params = Vec::new();
    while params.len() < MAX_PARAMS {
        let Some((name, after_name)) = take_cstring(rest) else {
            break;
        };
        if name.is_empty() {
            break;
        }
        let Some((value, after_value)) = take_cstring(after_name) else {
            break;
        };
        params.push((name.to_vec(), value.to_vec()));
        rest = after_value;
    }
    params
}

/// Splits at the first NUL: (string, rest after the NUL).
pub(crate) fn take_cstring(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = memchr::memchr(0, bytes)?;
    Some((bytes.get(..end)?, bytes.get(end + 1..)?))
}

/// An ErrorResponse with PostgreSQL's field layout.
pub fn error_response(code: &str, message: &str, file: &str, line: u32, routine: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    let line = line.to_string();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
        (b'F', file),
        (b'L', line.as_str()),
        (b'R', routine),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    message_bytes(b'E', &fields)
}

fn message_bytes(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(kind);
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn auth_request(code: u32, extra: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(extra);
    message_bytes(b'R', &body)
}

async fn serve(state: &PgState, conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let mut negotiated = false;
    let params = loop {
        let body = read_startup(conn).await?;
        match parse_startup(&body) {
            Some(Startup::Ssl) if !negotiated && state.options.ssl && conn.tls_available() => {
                negotiated = true;
                conn.write_all(b"S").await?;
                conn.start_tls().await?;
            }
            Some(Startup::Ssl | Startup::GssEnc) if !negotiated => {
                negotiated = true;
                conn.write_all(b"N").await?;
            }
            Some(Startup::V3(params)) => break params,
            Some(Startup::Unsupported(major, minor)) => {
                let message = format!(
                    "unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0"
                );
                let reply = error_response(
                    "0A000",
                    &message,
                    "postmaster.c",
                    2194,
                    "ProcessStartupPacket",
                );
                conn.write_all(&reply).await?;
                return Ok(());
            }
            Some(Startup::Cancel) => return Ok(()),
            Some(Startup::Ssl | Startup::GssEnc) | None => {
                return Err(ConnError::Protocol("invalid startup packet".into()));
            }
        }
    };
    ctx.set_aux("startup", params_to_aux(&params));
    let Some(user) = params
        .iter()
        .find(|(name, _)| name == b"user")
        .map(|(_, value)| value.clone())
    else {
        let reply = error_response(
            "28000",
            "no PostgreSQL user name specified in startup packet",
            "postmaster.c",
            2262,
            "ProcessStartupPacket",
        );
        conn.write_all(&reply).await?;
        return Ok(());
    };
    let credential = match state.options.auth {
        PgAuth::Cleartext => cleartext_exchange(conn, &user).await?,
        PgAuth::Md5 => md5_exchange(conn, &user).await?,
        PgAuth::ScramSha256 => scram_exchange(state, conn, &user).await?,
    };
    let Some(credential) = credential else {
        return Ok(());
    };
    ctx.record_auth(credential).await;
    let message = format!(
        "password authentication failed for user \"{}\"",
        display_bytes(&user)
    );
    let reply = error_response("28P01", &message, "auth.c", 326, "auth_failed");
    conn.write_all(&reply).await
}

fn params_to_aux(params: &[(Vec<u8>, Vec<u8>)]) -> Value {
    let mut map = Map::new();
    for (name, value) in params {
        let text: String = display_bytes(value).chars().take(MAX_PARAM_TEXT).collect();
        let key: String = display_bytes(name).chars().take(64).collect();
        map.insert(key, Value::String(text));
    }
    Value::Object(map)
}

async fn read_startup(conn: &mut Conn) -> Result<Vec<u8>, ConnError> {
    let header = conn.read_exact_bytes(4).await?;
    let len = u32::from_be_bytes(header.try_into().unwrap_or([0; 4])) as usize;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(ConnError::Protocol(
            "invalid length of startup packet".into(),
        ));
    }
    conn.read_exact_bytes(len - 4).await
}

/// Reads one typed message; `None` unless it is a password message (`p`).
async fn read_password_message(conn: &mut Conn) -> Result<Option<Vec<u8>>, ConnError> {
    let header = conn.read_exact_bytes(5).await?;
    let (kind, len) = parse_message_header(&header)
        .ok_or_else(|| ConnError::Protocol("invalid message length".into()))?;
    let body = conn.read_exact_bytes(len).await?;
    Ok((kind == b'p').then_some(body))
}

/// (type, body length) of a 5-byte message header, if the length is within the cap.
pub fn parse_message_header(header: &[u8]) -> Option<(u8, usize)> {
    let kind = *header.first()?;
    let len = u32::from_be_bytes(header.get(1..5)?.try_into().ok()?) as usize;
    let body = len.checked_sub(4)?;
    (body <= MAX_AUTH_MESSAGE).then_some((kind, body))
}

fn strip_nul(bytes: &[u8]) -> &[u8] {
    match take_cstring(bytes) {
        Some((text, _)) => text,
        None => bytes,
    }
}

async fn cleartext_exchange(conn: &mut Conn, user: &[u8]) -> Result<Option<Credential>, ConnError> {
    conn.write_all(&auth_request(3, &[])).await?;
    let Some(body) = read_password_message(conn).await? else {
        return Ok(None);
    };
    Ok(Some(Credential::new(
        user,
        strip_nul(&body),
        Mechanism::UserPass,
    )))
}

async fn md5_exchange(conn: &mut Conn, user: &[u8]) -> Result<Option<Credential>, ConnError> {
    let salt: [u8; 4] = random_bytes();
    conn.write_all(&auth_request(5, &salt)).await?;
    let Some(body) = read_password_message(conn).await? else {
        return Ok(None);
    };
    Ok(Some(md5_credential(user, &salt, strip_nul(&body))))
}

/// The credential for an MD5 password message (`md5` + 32 hex digits); anything else is
/// kept as a cleartext password.
pub fn md5_credential(user: &[u8], salt: &[u8; 4], sent: &[u8]) -> Credential {
    let digest = sent
        .strip_prefix(b"md5")
        .filter(|digest| digest.len() == 32 && digest.iter().all(|b| b.is_ascii_hexdigit()));
    match digest {
        Some(digest) => {
            let mut credential = Credential::new(user, Vec::new(), Mechanism::PgMd5);
            credential.password_hash = Some(format!(
                "$postgres${}*{}*{}",
                display_bytes(user),
                hex(salt),
                String::from_utf8_lossy(digest).to_ascii_lowercase()
            ));
            credential
        }
        None => Credential::new(user, sent, Mechanism::UserPass),
    }
}

async fn scram_exchange(
    state: &PgState,
    conn: &mut Conn,
    user: &[u8],
) -> Result<Option<Credential>, ConnError> {
    conn.write_all(&auth_request(10, b"SCRAM-SHA-256\0\0"))
        .await?;
    let Some(body) = read_password_message(conn).await? else {
        return Ok(None);
    };
    let Some(first) = parse_sasl_initial(&body).and_then(parse_client_first) else {
        return Ok(Some(Credential::new(
            user,
            Vec::new(),
            Mechanism::ScramSha256,
        )));
    };
    let salt = B64.encode(derive_salt(&state.salt_key, user, 16));
    let server_nonce = B64.encode(random_bytes::<18>());
    let server_first = format!(
        "r={}{server_nonce},s={salt},i={PG_SCRAM_ITERATIONS}",
        first.nonce
    );
    conn.write_all(&auth_request(11, server_first.as_bytes()))
        .await?;
    let Some(body) = read_password_message(conn).await? else {
        return Ok(None);
    };
    let mut credential = Credential::new(user, Vec::new(), Mechanism::ScramSha256);
    if let Some(last) = parse_client_final(&body) {
        credential.password_hash = Some(scram_hash(
            "scram-sha-256",
            PG_SCRAM_ITERATIONS,
            &salt,
            &first,
            &server_first,
            &last,
        ));
    }
    Ok(Some(credential))
}

/// The data of a SASLInitialResponse if its mechanism is SCRAM-SHA-256.
pub fn parse_sasl_initial(body: &[u8]) -> Option<&[u8]> {
    let (mechanism, rest) = take_cstring(body)?;
    if mechanism != b"SCRAM-SHA-256" {
        return None;
    }
    let len = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    rest.get(4..4 + len)
}

/// A SCRAM client-first-message (RFC 5802 §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// `client-first-message-bare` (`n=...,r=...`), part of the AuthMessage.
    pub bare: String,
    /// The user name, with `=2C` / `=3D` decoded.
    pub username: Vec<u8>,
    /// The client nonce.
    pub nonce: String,
}

/// Parses `gs2-header client-first-message-bare`; `None` if it is not one.
pub fn parse_client_first(data: &[u8]) -> Option<ClientFirst> {
    let text = std::str::from_utf8(data).ok()?;
    let mut gs2 = text.splitn(3, ',');
    let flag = gs2.next()?;
    if !(flag == "n" || flag == "y" || flag.starts_with("p=")) {
        return None;
    }
    let _authzid = gs2.next()?;
    let bare = gs2.next()?;
    let mut username = None;
    let mut nonce = None;
    for attribute in bare.split(',') {
        if let Some(name) = attribute.strip_prefix("n=") {
            username = Some(name.replace("=2C", ",").replace("=3D", "=").into_bytes());
        } else if let Some(value) = attribute.strip_prefix("r=") {
            nonce = Some(value.to_owned());
        }
    }
    Some(ClientFirst {
        bare: bare.to_owned(),
        username: username?,
        nonce: nonce.filter(|n| !n.is_empty())?,
    })
}

/// A SCRAM client-final-message split at the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// `client-final-message-without-proof`, part of the AuthMessage.
    pub without_proof: String,
    /// The base64 ClientProof.
    pub proof: String,
}

/// Parses `c=...,r=...,p=<proof>`; `None` if there is no proof.
pub fn parse_client_final(data: &[u8]) -> Option<ClientFinal> {
    let text = std::str::from_utf8(data).ok()?;
    let cut = text.rfind(",p=")?;
    let proof = text.get(cut + 3..)?;
    B64.decode(proof).ok()?;
    Some(ClientFinal {
        without_proof: text.get(..cut)?.to_owned(),
        proof: proof.to_owned(),
    })
}

/// The stored SCRAM line: `$<tag>$<iterations>$<salt b64>$<AuthMessage b64>$<ClientProof b64>`,
/// where AuthMessage = client-first-bare `,` server-first `,` client-final-without-proof
/// (RFC 5802 §3). A candidate password `P` is right when
/// `ClientKey = HMAC(PBKDF2(P, salt, i), "Client Key")` satisfies
/// `ClientKey XOR HMAC(H(ClientKey), AuthMessage) == ClientProof`.
pub fn scram_hash(
    tag: &str,
    iterations: u32,
    salt_b64: &str,
    first: &ClientFirst,
    server_first: &str,
    last: &ClientFinal,
) -> String {
    let auth_message = format!("{},{server_first},{}", first.bare, last.without_proof);
    format!(
        "${tag}${iterations}${salt_b64}${}${}",
        B64.encode(auth_message),
        last.proof
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn startup_codes_are_classified() {
        assert_eq!(
            parse_startup(&SSL_REQUEST.to_be_bytes()),
            Some(Startup::Ssl)
        );
        assert_eq!(
            parse_startup(&GSSENC_REQUEST.to_be_bytes()),
            Some(Startup::GssEnc)
        );
        let smb = [0xff, 0x53, 0x4d, 0x42, 0x72];
        assert_eq!(
            parse_startup(&smb),
            Some(Startup::Unsupported(65363, 19778))
        );
        let mut v3 = PROTOCOL_3.to_be_bytes().to_vec();
        v3.extend_from_slice(b"user\0bob\0database\0db\0\0");
        assert_eq!(
            parse_startup(&v3),
            Some(Startup::V3(vec![
                (b"user".to_vec(), b"bob".to_vec()),
                (b"database".to_vec(), b"db".to_vec())
            ]))
        );
    }

    #[test]
    fn md5_message_becomes_hashcat_11100_line() {
        let credential = md5_credential(
            b"postgres",
            &[0xf0, 0x78, 0x4e, 0xa5],
            b"md52091bb7d4725d1ca85e8de6ec349baf6",
        );
        assert_eq!(
            credential.password_hash.as_deref(),
            Some("$postgres$postgres*f0784ea5*2091bb7d4725d1ca85e8de6ec349baf6")
        );
        assert_eq!(credential.mechanism, Mechanism::PgMd5);
    }

    #[test]
    fn scram_messages_parse_per_rfc_5802() {
        let first = parse_client_first(b"n,,n=us=2Cer,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
        assert_eq!(first.username, b"us,er");
        assert_eq!(first.bare, "n=us=2Cer,r=fyko+d2lbbFgONRv9qkxdawL");
        let last = parse_client_final(b"c=biws,r=abc,p=AQID").unwrap();
        assert_eq!(last.without_proof, "c=biws,r=abc");
        assert!(parse_client_first(b"x,,n=a,r=b").is_none());
        assert!(parse_client_final(b"c=biws,r=abc").is_none());
    }

    #[test]
    fn error_response_has_postgres_fields() {
        let reply = error_response("28P01", "m", "auth.c", 326, "auth_failed");
        assert_eq!(reply.first(), Some(&b'E'));
        let text = String::from_utf8_lossy(&reply);
        assert!(text.contains("SFATAL\0VFATAL\0C28P01\0Mm\0Fauth.c\0L326\0Rauth_failed\0\0"));
    }

    proptest! {
        /// Hostile bytes never panic any parser, and what comes out is bounded.
        #[test]
        fn parsers_survive_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Some(Startup::V3(params)) = parse_startup(&bytes) {
                prop_assert!(params.len() <= MAX_PARAMS);
            }
            if let Some((_, len)) = parse_message_header(&bytes) {
                prop_assert!(len <= MAX_AUTH_MESSAGE);
            }
            let _ = parse_sasl_initial(&bytes);
            let _ = parse_client_first(&bytes);
            let _ = parse_client_final(&bytes);
            let salt = [1, 2, 3, 4];
            let _ = md5_credential(&bytes, &salt, &bytes);
        }
    }
}
