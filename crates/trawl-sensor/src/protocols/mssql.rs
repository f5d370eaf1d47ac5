//! Microsoft SQL Server login over TDS 7.x (MS-TDS), answering like SQL Server 2019
//! (15.0.2000): PRELOGIN answered with encryption not supported (so LOGIN7 arrives in
//! clear), LOGIN7 parsed and its password de-obfuscated (each byte XOR 0xA5, then nibbles
//! swapped back), then error 18456 `Login failed for user 'x'.` (class 14, state 1) and a
//! DONE token with the error bit. One attempt per connection.
//!
//! The client's host name, application name, client library, server name, database,
//! language, TDS version and process id go to `auxiliary_data`. A LOGIN7 carrying SSPI
//! (Windows integrated authentication) instead of a SQL login is noted as `sspi` and no
//! attempt is recorded (see docs/sensor-db.md, gaps).
//!
//! The PRELOGIN reply lists exactly VERSION, ENCRYPTION, INSTOPT and THREADID (plus MARS
//! when the client asked), which nmap's signatures map to "Microsoft SQL Server 2019".
//!
//! Hand-written: the Rust TDS crates (tiberius) are clients; a honeypot only needs to
//! read two messages and write two. Packets are reassembled up to [`MAX_MESSAGE`] bytes
//! and every offset/length pair in LOGIN7 is checked against the message.

use serde_json::Value;
use trawl_event::{Credential, Mechanism};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// Largest reassembled client message.
pub const MAX_MESSAGE: usize = 32 * 1024;
/// Most PRELOGIN options read.
const MAX_OPTIONS: usize = 16;
/// Characters kept per LOGIN7 string.
const MAX_FIELD_CHARS: usize = 256;

const PACKET_PRELOGIN: u8 = 0x12;
const PACKET_LOGIN7: u8 = 0x10;
const PACKET_REPLY: u8 = 0x04;
const STATUS_EOM: u8 = 0x01;

const OPTION_VERSION: u8 = 0x00;
const OPTION_ENCRYPTION: u8 = 0x01;
const OPTION_INSTOPT: u8 = 0x02;
const OPTION_THREADID: u8 = 0x03;
const OPTION_MARS: u8 = 0x04;
const ENCRYPT_NOT_SUP: u8 = 0x02;

/// SQL Server 2019 RTM: 15.0.2000, sub-build 5.
const SERVER_VERSION: [u8; 6] = [0x0f, 0x00, 0x07, 0xd0, 0x00, 0x05];

/// MSSQL on 11433.
pub struct Mssql;

impl Protocol for Mssql {
    fn name(&self) -> &'static str {
        "mssql"
    }
    fn default_port(&self) -> u16 {
        11433
    }
    /// The product the PRELOGIN version stands for.
    fn default_banner(&self) -> &'static str {
        "Microsoft SQL Server 2019 15.0.2000.5"
    }
    fn default_max_attempts(&self) -> u32 {
        1
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(conn, ctx))
    }
}

/// A TDS packet header: (type, status, total length including the 8-byte header).
pub fn parse_packet_header(header: &[u8]) -> Option<(u8, u8, usize)> {
    let kind = *header.first()?;
    let status = *header.get(1)?;
    let len = usize::from(u16::from_be_bytes(header.get(2..4)?.try_into().ok()?));
    (len >= 8).then_some((kind, status, len))
}

/// Reads packets until end-of-message; returns (type of the first packet, payload).
async fn read_message(conn: &mut Conn) -> Result<(u8, Vec<u8>), ConnError> {
    let mut payload = Vec::new();
    let mut first_kind = None;
    loop {
        let header = conn.read_exact_bytes(8).await?;
        let (kind, status, len) = parse_packet_header(&header)
            .ok_or_else(|| ConnError::Protocol("bad TDS packet header".into()))?;
        if payload.len() + len - 8 > MAX_MESSAGE {
            return Err(ConnError::Protocol("TDS message too large".into()));
        }
        payload.extend(conn.read_exact_bytes(len - 8).await?);
        let kind = *first_kind.get_or_insert(kind);
        if status & STATUS_EOM != 0 {
            return Ok((kind, payload));
        }
    }
}

fn packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 8).unwrap_or(u16::MAX);
    let mut out = vec![kind, STATUS_EOM];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(payload);
    out
}

/// PRELOGIN options as (token, data), at most [`MAX_OPTIONS`]; `None` if an option
/// points outside the payload.
pub fn parse_prelogin(payload: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut options = Vec::new();
    let mut at = 0usize;
    loop {
        let token = *payload.get(at)?;
        if token == 0xff {
            return Some(options);
        }
        let entry = payload.get(at + 1..at + 5)?;
        let offset = usize::from(u16::from_be_bytes([entry[0], entry[1]]));
        let len = usize::from(u16::from_be_bytes([entry[2], entry[3]]));
        let data = payload.get(offset..offset.checked_add(len)?)?;
        if options.len() == MAX_OPTIONS {
            return None;
        }
        options.push((token, data));
        at += 5;
    }
}

/// The PRELOGIN reply: version, encryption not supported, instance OK, empty thread
/// id, and MARS off when the client sent a MARS option.
pub fn prelogin_reply(client_sent_mars: bool) -> Vec<u8> {
    let mut options: Vec<(u8, &[u8])> = vec![
        (OPTION_VERSION, &SERVER_VERSION),
        (OPTION_ENCRYPTION, &[ENCRYPT_NOT_SUP]),
        (OPTION_INSTOPT, &[0]),
        (OPTION_THREADID, &[]),
    ];
    if client_sent_mars {
        options.push((OPTION_MARS, &[0]));
    }
    let mut table = Vec::new();
    let mut data = Vec::new();
    let mut offset = options.len() * 5 + 1;
    for (token, value) in options {
        table.push(token);
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
        offset += value.len();
    }
    table.push(0xff);
    table.extend(data);
    packet(PACKET_REPLY, &table)
}

/// The fields of a LOGIN7 message this sensor keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login7 {
    /// TDS version the client asked for (e.g. 0x74000004 for 7.4).
    pub tds_version: u32,
    /// Client process id.
    pub client_pid: u32,
    /// Client host name.
    pub hostname: String,
    /// SQL login name.
    pub username: String,
    /// De-obfuscated password.
    pub password: String,
    /// Application name.
    pub app_name: String,
    /// Server name the client connected to.
    pub server_name: String,
    /// Client library (CltIntName).
    pub library: String,
    /// Language.
    pub language: String,
    /// Initial database.
    pub database: String,
    /// Length of the SSPI blob (integrated authentication), 0 for a SQL login.
    pub sspi_len: usize,
}

/// Parses a LOGIN7 payload; `None` if the fixed part is short or a field points outside.
pub fn parse_login7(payload: &[u8]) -> Option<Login7> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            payload.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let text_at = |at: usize, password: bool| -> Option<String> {
        let offset = usize::from(u16::from_le_bytes(
            payload.get(at..at + 2)?.try_into().ok()?,
        ));
        let chars = usize::from(u16::from_le_bytes(
            payload.get(at + 2..at + 4)?.try_into().ok()?,
        ));
        let raw = payload.get(offset..offset + chars * 2)?;
        Some(decode_ucs2(raw, password))
    };
    let sspi_len = usize::from(u16::from_le_bytes(payload.get(80..82)?.try_into().ok()?));
    Some(Login7 {
        tds_version: u32_at(4)?,
        client_pid: u32_at(16)?,
        hostname: text_at(36, false)?,
        username: text_at(40, false)?,
        password: text_at(44, true)?,
        app_name: text_at(48, false)?,
        server_name: text_at(52, false)?,
        library: text_at(60, false)?,
        language: text_at(64, false)?,
        database: text_at(68, false)?,
        sspi_len,
    })
}

/// Undoes LOGIN7's password obfuscation for one byte (MS-TDS 2.2.6.4: the client swaps
/// the nibbles, then XORs with 0xA5).
pub fn deobfuscate(byte: u8) -> u8 {
    (byte ^ 0xa5).rotate_left(4)
}

fn decode_ucs2(raw: &[u8], password: bool) -> String {
    let units = raw.chunks_exact(2).take(MAX_FIELD_CHARS).map(|pair| {
        let (low, high) = if password {
            (deobfuscate(pair[0]), deobfuscate(pair[1]))
        } else {
            (pair[0], pair[1])
        };
        u16::from_le_bytes([low, high])
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// ERROR 18456 + DONE(error), as SQL Server sends after a failed SQL login.
pub fn login_failed(user: &str, server: &str, tds_version: u32) -> Vec<u8> {
    let modern = tds_version >> 24 >= 0x72;
    let message = format!("Login failed for user '{user}'.");
    let message_units = message.encode_utf16().count().min(u16::MAX as usize) as u16;
    let server_units = server.encode_utf16().count().min(u8::MAX as usize) as u8;
    let mut body = Vec::new();
    body.extend_from_slice(&18456i32.to_le_bytes());
    body.push(1); // state
    body.push(14); // class
    body.extend_from_slice(&message_units.to_le_bytes());
    body.extend(
        ucs2(&message)
            .into_iter()
            .take(usize::from(message_units) * 2),
    );
    body.push(server_units);
    body.extend(ucs2(server).into_iter().take(usize::from(server_units) * 2));
    body.push(0); // procedure name
    if modern {
        body.extend_from_slice(&1i32.to_le_bytes());
    } else {
        body.extend_from_slice(&1u16.to_le_bytes());
    }
    let mut tokens = vec![0xaa];
    tokens.extend_from_slice(&(body.len().min(u16::MAX as usize) as u16).to_le_bytes());
    tokens.extend(body);
    tokens.push(0xfd);
    tokens.extend_from_slice(&0x0002u16.to_le_bytes()); // DONE_ERROR
    tokens.extend_from_slice(&0u16.to_le_bytes());
    if modern {
        tokens.extend_from_slice(&0u64.to_le_bytes());
    } else {
        tokens.extend_from_slice(&0u32.to_le_bytes());
    }
    packet(PACKET_REPLY, &tokens)
}

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let (mut kind, mut payload) = read_message(conn).await?;
    if kind == PACKET_PRELOGIN {
        let options =
            parse_prelogin(&payload).ok_or_else(|| ConnError::Protocol("bad PRELOGIN".into()))?;
        let mars = options.iter().any(|(token, _)| *token == OPTION_MARS);
        if let Some((_, version)) = options.iter().find(|(token, _)| *token == OPTION_VERSION) {
            ctx.set_aux(
                "client_version",
                Value::from(crate::protocols::postgresql::hex(version)),
            );
        }
        conn.write_all(&prelogin_reply(mars)).await?;
        (kind, payload) = read_message(conn).await?;
    }
    if kind != PACKET_LOGIN7 {
        return Err(ConnError::Protocol(format!(
            "unexpected TDS packet type {kind:#04x}"
        )));
    }
    let login = parse_login7(&payload).ok_or_else(|| ConnError::Protocol("bad LOGIN7".into()))?;
    record_client_details(ctx, &login);
    if login.sspi_len > 0 && login.username.is_empty() {
        ctx.set_aux("sspi", Value::Bool(true));
        return Ok(());
    }
    let credential = Credential::new(
        login.username.as_bytes(),
        login.password.as_bytes(),
        Mechanism::TdsLogin7,
    );
    ctx.record_auth(credential).await;
    let server = ctx
        .hostname()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    conn.write_all(&login_failed(&login.username, &server, login.tds_version))
        .await
}

fn record_client_details(ctx: &mut SessionCtx, login: &Login7) {
    ctx.set_aux("client_hostname", Value::from(login.hostname.clone()));
    ctx.set_aux("app_name", Value::from(login.app_name.clone()));
    ctx.set_aux("client_library", Value::from(login.library.clone()));
    ctx.set_aux("server_name", Value::from(login.server_name.clone()));
    ctx.set_aux("database", Value::from(login.database.clone()));
    ctx.set_aux("language", Value::from(login.language.clone()));
    ctx.set_aux(
        "tds_version",
        Value::from(format!("{:#010x}", login.tds_version)),
    );
    ctx.set_aux("client_pid", Value::from(login.client_pid));
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn obfuscate(byte: u8) -> u8 {
        byte.rotate_left(4) ^ 0xa5
    }

    /// A LOGIN7 payload with the given strings (password obfuscated as a client does).
    fn login7(user: &str, password: &str, host: &str, app: &str) -> Vec<u8> {
        let fields = [host, user, "", app, "srv", "", "FreeTDS", "", "master"];
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        let mut data = Vec::new();
        for (index, text) in fields.iter().enumerate() {
            let offset = 94 + data.len();
            let mut bytes = ucs2(if index == 2 { password } else { text });
            if index == 2 {
                bytes = bytes.into_iter().map(obfuscate).collect();
            }
            let chars = bytes.len() / 2;
            let at = 36 + index * 4;
            fixed[at..at + 2].copy_from_slice(&(offset as u16).to_le_bytes());
            fixed[at + 2..at + 4].copy_from_slice(&(chars as u16).to_le_bytes());
            data.extend(bytes);
        }
        let total = (fixed.len() + data.len()) as u32;
        fixed[..4].copy_from_slice(&total.to_le_bytes());
        fixed.extend(data);
        fixed
    }

    #[test]
    fn login7_password_is_deobfuscated() {
        let parsed = parse_login7(&login7("sa", "Pässw0rd!", "box", "tsql")).unwrap();
        assert_eq!(parsed.username, "sa");
        assert_eq!(parsed.password, "Pässw0rd!");
        assert_eq!(parsed.hostname, "box");
        assert_eq!(parsed.app_name, "tsql");
        assert_eq!(parsed.library, "FreeTDS");
        assert_eq!(parsed.database, "master");
        assert_eq!(parsed.tds_version, 0x7400_0004);
    }

    #[test]
    fn prelogin_reply_matches_nmap_sql_server_2019_signature() {
        let reply = prelogin_reply(false);
        let expected_start = b"\x04\x01\x00\x25\x00\x00\x01\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x01\x03\x00\x1d\x00\x00\xff\x0f\x00";
        assert!(reply.starts_with(expected_start), "{reply:02x?}");
        let options = parse_prelogin(&reply[8..]).unwrap();
        assert_eq!(options.len(), 4);
        assert_eq!(options[1], (OPTION_ENCRYPTION, &[ENCRYPT_NOT_SUP][..]));
    }

    #[test]
    fn login_failed_carries_18456() {
        let reply = login_failed("sa", "SRV", 0x7400_0004);
        assert_eq!(reply[8], 0xaa);
        assert_eq!(&reply[11..15], &18456i32.to_le_bytes());
        let text: Vec<u8> = ucs2("Login failed for user 'sa'.");
        assert!(
            reply
                .windows(text.len())
                .any(|window| window == text.as_slice())
        );
    }

    proptest! {
        /// Hostile payloads never panic the parsers; strings stay bounded.
        #[test]
        fn parsers_survive_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Some(options) = parse_prelogin(&bytes) {
                prop_assert!(options.len() <= MAX_OPTIONS);
            }
            if let Some(login) = parse_login7(&bytes) {
                prop_assert!(login.username.chars().count() <= MAX_FIELD_CHARS);
                prop_assert!(login.password.chars().count() <= MAX_FIELD_CHARS);
            }
            let _ = parse_packet_header(&bytes);
        }

        /// Any password survives obfuscation and de-obfuscation.
        #[test]
        fn any_password_round_trips(password in "\\PC{0,40}") {
            let parsed = parse_login7(&login7("u", &password, "h", "a")).unwrap();
            prop_assert_eq!(parsed.password, password);
        }
    }
}
