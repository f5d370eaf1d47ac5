//! MySQL client/server protocol login, answering like MySQL 8.0.39: Handshake v10 with a
//! fresh random 20-byte salt per connection, optional SSLRequest (TLS with the sensor
//! certificate), HandshakeResponse41, an AuthSwitchRequest when the client starts with a
//! different plugin, then `ERROR 1045 (28000): Access denied for user 'x'@'host' (using
//! password: YES)`. One attempt per connection, as with a real server.
//!
//! Option `auth` picks the plugin the server asks for:
//! - `mysql_native_password` (default): the 20-byte scramble
//!   `SHA1(pw) XOR SHA1(salt || SHA1(SHA1(pw)))` is kept as `$mysqlna$<salt hex>*<scramble hex>`
//!   (hashcat 11200 "MySQL CRAM (SHA1)", John `--format=mysqlna`).
//! - `caching_sha2_password`: the 32-byte scramble
//!   `SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || salt)` is kept as
//!   `$mysql-sha2$<salt hex>*<scramble hex>` (no stock hashcat/John mode reads a captured
//!   caching_sha2 scramble; docs/sensor-db.md has the Python check). The server then asks
//!   for full authentication, as a real server with a cold cache does: over TLS the client
//!   sends the password in clear; on a plain connection it asks for the server's RSA public
//!   key ([`rsa_key`], generated into `<data_dir>/mysql/` like MySQL's own) and sends the
//!   password RSA-OAEP-encrypted, which the sensor decrypts. Either way the clear password
//!   is recorded next to the scramble. A client that refuses to send it without TLS or a
//!   known key (the stock `mysql` client without `--get-server-public-key`) leaves the
//!   scramble only.
//!
//! An empty auth response means an empty password (`using password: NO`), recorded as such.
//! Client connect attributes (`_client_name`, `program_name`, ...), the database and the
//! client's plugin go to `auxiliary_data`.
//!
//! Hand-written: the handshake is four small packets, and server-side MySQL crates verify
//! against a user table instead of handing back the salt and scramble. Every length
//! (packet header, length-encoded integers and strings) is checked against what is left.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;
use serde_json::{Map, Value};
use trawl_event::{Credential, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::protocols::postgresql::{hex, random_bytes, take_cstring};
use crate::session::SessionCtx;

pub mod rsa_key;

use rsa_key::MysqlRsaKey;

/// Largest client packet accepted during the handshake.
pub const MAX_PACKET: usize = 64 * 1024;
/// Connect attributes kept.
const MAX_ATTRS: usize = 32;
/// Characters kept per attribute key or value.
const MAX_ATTR_TEXT: usize = 256;

const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
const CLIENT_COMPRESS: u32 = 0x0000_0020;
const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
const CLIENT_SSL: u32 = 0x0000_0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x0020_0000;
const CLIENT_ZSTD: u32 = 0x0400_0000;
/// What MySQL 8.0 advertises (0xdfffffff), minus compression this sensor does not speak.
const SERVER_CAPABILITIES: u32 = 0xdfff_ffff & !CLIENT_COMPRESS & !CLIENT_ZSTD;

/// caching_sha2 "perform full authentication" status byte (after the 0x01 marker).
const PERFORM_FULL_AUTHENTICATION: u8 = 0x04;
/// A client's request for the server's RSA public key.
const REQUEST_PUBLIC_KEY: u8 = 0x02;

const NATIVE: &str = "mysql_native_password";
const CACHING_SHA2: &str = "caching_sha2_password";

/// The authentication plugin the server asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MysqlAuth {
    /// `mysql_native_password`.
    #[default]
    MysqlNativePassword,
    /// `caching_sha2_password`.
    CachingSha2Password,
}

impl MysqlAuth {
    fn plugin(self) -> &'static str {
        match self {
            MysqlAuth::MysqlNativePassword => NATIVE,
            MysqlAuth::CachingSha2Password => CACHING_SHA2,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MysqlOptions {
    auth: MysqlAuth,
    ssl: bool,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        MysqlOptions {
            auth: MysqlAuth::MysqlNativePassword,
            ssl: true,
        }
    }
}

/// MySQL on 13306.
#[derive(Default)]
pub struct Mysql {
    options: OnceLock<MysqlOptions>,
    rsa_key: OnceLock<MysqlRsaKey>,
    connection_ids: AtomicU32,
}

impl Protocol for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }
    fn default_port(&self) -> u16 {
        13306
    }
    /// The server version in the handshake.
    fn default_banner(&self) -> &'static str {
        "8.0.39"
    }
    fn default_max_attempts(&self) -> u32 {
        1
    }
    fn default_options(&self) -> &'static str {
        "# auth = \"mysql_native_password\"   # mysql_native_password | caching_sha2_password\n\
         # ssl = true                         # advertise CLIENT_SSL and accept SSLRequest\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: MysqlOptions = env.parse_options()?;
        if options.auth == MysqlAuth::CachingSha2Password {
            let key = MysqlRsaKey::load_or_generate(&env.data_dir.join("mysql"))?;
            let _ = self.rsa_key.set(key);
        }
        let _ = self.options.set(options);
        let start = u32::from_le_bytes(random_bytes::<4>()) % 1000;
        self.connection_ids.store(start + 8, Ordering::Relaxed);
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(async move {
            let options = self.options.get().cloned().unwrap_or_default();
            // nmap's MySQL signatures want the connection id below 2^24.
            let id = self.connection_ids.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
            let handshake = Handshake {
                options: &options,
                connection_id: id,
                rsa_key: self.rsa_key.get(),
            };
            serve(&handshake, conn, ctx).await
        })
    }
}

/// 20 salt bytes as MySQL makes them: 7-bit, never NUL or `$`.
pub fn new_salt() -> [u8; 20] {
    let mut salt: [u8; 20] = random_bytes();
    for byte in &mut salt {
        *byte &= 0x7f;
        if *byte == 0 || *byte == b'$' {
            *byte += 1;
        }
    }
    salt
}

/// The Handshake v10 payload.
pub fn greeting(
    version: &str,
    connection_id: u32,
    salt: &[u8; 20],
    tls: bool,
    plugin: &str,
) -> Vec<u8> {
    let caps = if tls {
        SERVER_CAPABILITIES
    } else {
        SERVER_CAPABILITIES & !CLIENT_SSL
    };
    let mut out = vec![0x0a];
    out.extend_from_slice(version.as_bytes());
    out.push(0);
    out.extend_from_slice(&connection_id.to_le_bytes());
    out.extend_from_slice(salt.get(..8).unwrap_or_default());
    out.push(0);
    out.extend_from_slice(&(caps as u16).to_le_bytes());
    out.push(0xff); // utf8mb4_0900_ai_ci
    out.extend_from_slice(&0x0002u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    out.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    out.push(21);
    out.extend_from_slice(&[0; 10]);
    out.extend_from_slice(salt.get(8..).unwrap_or_default());
    out.push(0);
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out
}

/// A client's HandshakeResponse41 (or SSLRequest when `is_ssl_request`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeResponse {
    /// Client capability flags.
    pub capabilities: u32,
    /// True for the 32-byte SSLRequest that precedes TLS.
    pub is_ssl_request: bool,
    /// User name as sent.
    pub username: Vec<u8>,
    /// The auth response (scramble) as sent.
    pub auth_response: Vec<u8>,
    /// Database, when CLIENT_CONNECT_WITH_DB.
    pub database: Option<Vec<u8>>,
    /// The client's auth plugin, when CLIENT_PLUGIN_AUTH.
    pub plugin: Option<Vec<u8>>,
    /// Connect attributes (lossy text), at most [`MAX_ATTRS`].
    pub attributes: Vec<(String, String)>,
}

/// Parses a HandshakeResponse41 / SSLRequest payload; `None` if malformed or pre-4.1.
pub fn parse_handshake_response(payload: &[u8]) -> Option<HandshakeResponse> {
    let capabilities = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
    if capabilities & CLIENT_PROTOCOL_41 == 0 {
        return None;
    }
    let mut response = HandshakeResponse {
        capabilities,
        ..HandshakeResponse::default()
    };
    let rest = payload.get(32..)?;
    if rest.is_empty() {
        response.is_ssl_request = capabilities & CLIENT_SSL != 0;
        return response.is_ssl_request.then_some(response);
    }
    let (username, mut rest) = take_cstring(rest)?;
    response.username = username.to_vec();
    let (auth, after_auth) = if capabilities & CLIENT_PLUGIN_AUTH_LENENC != 0 {
        take_lenenc_bytes(rest)?
    } else if capabilities & CLIENT_SECURE_CONNECTION != 0 {
        let len = usize::from(*rest.first()?);
        (rest.get(1..1 + len)?, rest.get(1 + len..)?)
    } else {
        take_cstring(rest)?
    };
    response.auth_response = auth.to_vec();
    rest = after_auth;
    if capabilities & CLIENT_CONNECT_WITH_DB != 0
        && let Some((database, after)) = take_cstring(rest)
    {
        response.database = Some(database.to_vec());
        rest = after;
    }
    if capabilities & CLIENT_PLUGIN_AUTH != 0
        && let Some((plugin, after)) = take_cstring(rest)
    {
        response.plugin = Some(plugin.to_vec());
        rest = after;
    }
    if capabilities & CLIENT_CONNECT_ATTRS != 0 {
        response.attributes = parse_attributes(rest);
    }
    Some(response)
}

fn parse_attributes(bytes: &[u8]) -> Vec<(String, String)> {
    let Some((mut block, _)) = take_lenenc_bytes(bytes) else {
        return Vec::new();
    };
    let mut attributes = Vec::new();
    while attributes.len() < MAX_ATTRS && !block.is_empty() {
        let Some((key, after_key)) = take_lenenc_bytes(block) else {
            break;
        };
        let Some((value, after_value)) = take_lenenc_bytes(after_key) else {
            break;
        };
        let text = |bytes: &[u8]| display_bytes(bytes).chars().take(MAX_ATTR_TEXT).collect();
        attributes.push((text(key), text(value)));
        block = after_value;
    }
    attributes
}

/// A length-encoded integer: (value, rest).
pub fn take_lenenc_int(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let first = *bytes.first()?;
    let width = match first {
        0..=0xfa => return Some((u64::from(first), bytes.get(1..)?)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let raw = bytes.get(1..1 + width)?;
    let value = raw
        .iter()
        .rev()
        .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
    Some((value, bytes.get(1 + width..)?))
}

/// A length-encoded string: (bytes, rest); `None` if it runs past the end.
pub fn take_lenenc_bytes(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = take_lenenc_int(bytes)?;
    let len = usize::try_from(len).ok().filter(|len| *len <= rest.len())?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// One framed packet: 3-byte little-endian length, sequence id, payload.
fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .unwrap_or(0xff_ffff)
        .min(0xff_ffff);
    let mut out = len.to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// (payload length, sequence id) of a packet header, if within [`MAX_PACKET`].
pub fn parse_packet_header(header: &[u8]) -> Option<(usize, u8)> {
    let len = usize::from(*header.first()?)
        | usize::from(*header.get(1)?) << 8
        | usize::from(*header.get(2)?) << 16;
    (len <= MAX_PACKET).then_some((len, *header.get(3)?))
}

async fn read_packet(conn: &mut Conn) -> Result<(u8, Vec<u8>), ConnError> {
    let header = conn.read_exact_bytes(4).await?;
    let (len, seq) = parse_packet_header(&header)
        .ok_or_else(|| ConnError::Protocol("mysql packet too large".into()))?;
    Ok((seq, conn.read_exact_bytes(len).await?))
}

/// ERR packet 1045 / 28000 with MySQL's wording.
pub fn access_denied(user: &[u8], host: &str, with_password: bool) -> Vec<u8> {
    let mut out = vec![0xff];
    out.extend_from_slice(&1045u16.to_le_bytes());
    out.extend_from_slice(b"#28000");
    let using = if with_password { "YES" } else { "NO" };
    out.extend_from_slice(b"Access denied for user '");
    out.extend_from_slice(user);
    out.extend_from_slice(format!("'@'{host}' (using password: {using})").as_bytes());
    out
}

/// The crackable line for a scramble, or `None` for an empty (no password) response.
pub fn scramble_hash(plugin: &str, salt: &[u8; 20], scramble: &[u8]) -> Option<String> {
    match (plugin, scramble.len()) {
        (NATIVE, 20) => Some(format!("$mysqlna${}*{}", hex(salt), hex(scramble))),
        (CACHING_SHA2, 32) => Some(format!("$mysql-sha2${}*{}", hex(salt), hex(scramble))),
        _ => None,
    }
}

fn mechanism(plugin: &str) -> Mechanism {
    if plugin == CACHING_SHA2 {
        Mechanism::CachingSha2Password
    } else {
        Mechanism::MysqlNativePassword
    }
}

fn is_empty_response(scramble: &[u8]) -> bool {
    scramble.is_empty() || scramble == [0]
}

/// What one connection's handshake needs from the protocol's state.
struct Handshake<'a> {
    options: &'a MysqlOptions,
    connection_id: u32,
    rsa_key: Option<&'a MysqlRsaKey>,
}

async fn serve(
    handshake: &Handshake<'_>,
    conn: &mut Conn,
    ctx: &mut SessionCtx,
) -> Result<(), ConnError> {
    let options = handshake.options;
    let salt = new_salt();
    let tls = options.ssl && conn.tls_available();
    let wanted = options.auth.plugin();
    let id = handshake.connection_id;
    let hello = greeting(&ctx.settings().banner, id, &salt, tls, wanted);
    conn.write_all(&packet(0, &hello)).await?;
    let (mut seq, mut payload) = read_packet(conn).await?;
    let mut response = parse_handshake_response(&payload)
        .ok_or_else(|| ConnError::Protocol("bad handshake response".into()))?;
    if response.is_ssl_request {
        if !tls {
            return Err(ConnError::Protocol("SSL not offered".into()));
        }
        conn.start_tls().await?;
        (seq, payload) = read_packet(conn).await?;
        response = parse_handshake_response(&payload)
            .filter(|r| !r.is_ssl_request)
            .ok_or_else(|| ConnError::Protocol("bad handshake response".into()))?;
    }
    record_client_details(ctx, &response);
    let mut seq = seq.wrapping_add(1);
    let client_plugin = response.plugin.clone().unwrap_or_else(|| NATIVE.into());
    let scramble = if client_plugin == wanted.as_bytes() {
        response.auth_response.clone()
    } else {
        let mut switch = vec![0xfe];
        switch.extend_from_slice(wanted.as_bytes());
        switch.push(0);
        switch.extend_from_slice(&salt);
        switch.push(0);
        conn.write_all(&packet(seq, &switch)).await?;
        let (client_seq, data) = read_packet(conn).await?;
        seq = client_seq.wrapping_add(1);
        data
    };
    let user = response.username;
    let empty = is_empty_response(&scramble);
    let mut credential = Credential::new(user.clone(), Vec::new(), mechanism(wanted));
    credential.password_hash = scramble_hash(wanted, &salt, &scramble);
    if wanted == CACHING_SHA2 && !empty {
        conn.write_all(&packet(seq, &[0x01, PERFORM_FULL_AUTHENTICATION]))
            .await?;
        match full_authentication(conn, &mut seq, handshake.rsa_key, &salt).await {
            Ok(password) => credential.password = password.unwrap_or_default(),
            Err(err) => {
                ctx.record_auth(credential).await;
                return Err(err);
            }
        }
    }
    ctx.record_auth(credential).await;
    let host = ctx.endpoints().source_ip().to_string();
    conn.write_all(&packet(seq, &access_denied(&user, &host, !empty)))
        .await
}

/// The clear password a caching_sha2 client sends once told to perform full
/// authentication: as a NUL-terminated string over TLS, or RSA-sealed on a plain connection
/// after asking for the public key (or straight away, when it already has the key).
/// `None` when it sends nothing usable.
async fn full_authentication(
    conn: &mut Conn,
    seq: &mut u8,
    rsa_key: Option<&MysqlRsaKey>,
    salt: &[u8; 20],
) -> Result<Option<Vec<u8>>, ConnError> {
    let (client_seq, mut data) = read_packet(conn).await?;
    *seq = client_seq.wrapping_add(1);
    if conn.is_tls() {
        let password = take_cstring(&data).map_or_else(|| data.clone(), |(text, _)| text.to_vec());
        return Ok((data != [REQUEST_PUBLIC_KEY]).then_some(password));
    }
    let Some(key) = rsa_key else {
        return Ok(None);
    };
    if data == [REQUEST_PUBLIC_KEY] {
        let mut reply = vec![0x01];
        reply.extend_from_slice(key.public_pem().as_bytes());
        conn.write_all(&packet(*seq, &reply)).await?;
        let (client_seq, sealed) = read_packet(conn).await?;
        *seq = client_seq.wrapping_add(1);
        data = sealed;
    }
    Ok(key.decrypt_password(&data, salt))
}

fn record_client_details(ctx: &mut SessionCtx, response: &HandshakeResponse) {
    if let Some(database) = &response.database {
        ctx.set_aux("database", Value::from(display_bytes(database)));
    }
    if let Some(plugin) = &response.plugin {
        ctx.set_aux("client_plugin", Value::from(display_bytes(plugin)));
    }
    if !response.attributes.is_empty() {
        let attributes: Map<String, Value> = response
            .attributes
            .iter()
            .map(|(key, value)| (key.clone(), Value::from(value.clone())))
            .collect();
        ctx.set_aux("connect_attrs", Value::Object(attributes));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn response_bytes(caps: u32, user: &[u8], auth: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut out = caps.to_le_bytes().to_vec();
        out.extend_from_slice(&(16u32 << 20).to_le_bytes());
        out.push(0x2d);
        out.extend_from_slice(&[0; 23]);
        out.extend_from_slice(user);
        out.push(0);
        out.push(auth.len() as u8);
        out.extend_from_slice(auth);
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn handshake_response_fields_are_read() {
        let caps = CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH_LENENC
            | CLIENT_PLUGIN_AUTH
            | CLIENT_CONNECT_WITH_DB
            | CLIENT_CONNECT_ATTRS;
        let attrs = b"\x0e\x0c_client_name\x00";
        let tail = [b"db1\0mysql_native_password\0".as_slice(), attrs].concat();
        let parsed = parse_handshake_response(&response_bytes(caps, b"root", &[7; 20], &tail))
            .expect("parses");
        assert_eq!(parsed.username, b"root");
        assert_eq!(parsed.auth_response, vec![7; 20]);
        assert_eq!(parsed.database.as_deref(), Some(&b"db1"[..]));
        assert_eq!(parsed.plugin.as_deref(), Some(NATIVE.as_bytes()));
        assert_eq!(
            parsed.attributes,
            vec![("_client_name".into(), String::new())]
        );
    }

    #[test]
    fn ssl_request_is_recognised() {
        let mut bytes = (CLIENT_PROTOCOL_41 | CLIENT_SSL).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 28]);
        assert!(parse_handshake_response(&bytes).unwrap().is_ssl_request);
    }

    #[test]
    fn greeting_matches_nmap_mysql_8_signature() {
        let hello = greeting("8.0.39", 12, &[b'a'; 20], false, NATIVE);
        assert!(hello.starts_with(b"\x0a8.0.39\0\x0c\0\0\0"));
        assert_eq!(
            hello.len(),
            1 + 7 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13 + 22
        );
    }

    #[test]
    fn salt_has_no_nul_or_dollar() {
        for _ in 0..50 {
            assert!(new_salt().iter().all(|&b| b != 0 && b != b'$' && b < 0x80));
        }
    }

    #[test]
    fn error_is_1045_28000() {
        let err = access_denied(b"bob", "10.0.0.1", true);
        assert_eq!(&err[..9], b"\xff\x15\x04#28000");
        assert!(err.ends_with(b"Access denied for user 'bob'@'10.0.0.1' (using password: YES)"));
    }

    proptest! {
        /// Hostile bytes never panic the parsers; lengths stay within the input.
        #[test]
        fn parsers_survive_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            if let Some(parsed) = parse_handshake_response(&bytes) {
                prop_assert!(parsed.username.len() <= bytes.len());
                prop_assert!(parsed.auth_response.len() <= bytes.len());
                prop_assert!(parsed.attributes.len() <= MAX_ATTRS);
            }
            if let Some((len, _)) = parse_packet_header(&bytes) {
                prop_assert!(len <= MAX_PACKET);
            }
            if let Some((value, rest)) = take_lenenc_bytes(&bytes) {
                prop_assert!(value.len() + rest.len() < bytes.len());
            }
        }

        /// A response with arbitrary fields after the fixed part parses without panic.
        #[test]
        fn tails_survive(caps in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let bytes = response_bytes(caps | CLIENT_PROTOCOL_41, b"u", &[1; 20], &tail);
            let _ = parse_handshake_response(&bytes);
        }
    }
}
