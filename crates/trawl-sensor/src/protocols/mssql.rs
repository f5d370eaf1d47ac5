//! Microsoft SQL Server login over TDS 7.x (MS-TDS), answering like SQL Server 2019
//! (15.0.2000) with a certificate: PRELOGIN negotiates encryption as a stock server does
//! (a client offering ENCRYPT_OFF gets ENCRYPT_OFF, i.e. only the LOGIN7 packet is
//! encrypted; a client asking ENCRYPT_ON gets the whole session encrypted), the TLS
//! handshake runs inside TDS PRELOGIN packets (see [`tds_tls`]), LOGIN7 is parsed and
//! its password de-obfuscated (each byte XOR 0xA5, then nibbles swapped back), then
//! error 18456 `Login failed for user 'x'.` (class 14, state 1) and a DONE token with the
//! error bit. With login-only encryption the error goes back in clear after TLS is
//! dropped, as SQL Server does. The `encryption` option (`off | login | required`)
//! changes the server's side of the negotiation. A client that was offered TLS but sends
//! LOGIN7 in clear anyway (scanners without TLS) is still read (`tls_skipped_by_client`).
//! One attempt per connection.
//!
//! Windows integrated authentication: a LOGIN7 carrying an NTLM NEGOTIATE in its SSPI
//! field is answered with an SSPI token (0xED) holding the NTLM CHALLENGE; the client's
//! AUTHENTICATE (TDS packet 0x11) is recorded as a NetNTLMv2 line (hashcat 5600, see
//! [`crate::ntlm`]) and answered with error 18456. Kerberos/SPNEGO blobs are noted in
//! `auxiliary_data.sspi` and not answered.
//!
//! The client's host name, application name, client library, server name, database,
//! language, TDS version, process id and the encryption both sides chose go to
//! `auxiliary_data`.
//!
//! The PRELOGIN reply lists exactly VERSION, ENCRYPTION, INSTOPT and THREADID (plus MARS
//! when the client asked), which nmap's signatures map to "Microsoft SQL Server 2019".
//!
//! Hand-written: the Rust TDS crates (tiberius) are clients; a honeypot only needs to
//! read a few messages and write a few. Packets are reassembled up to [`MAX_MESSAGE`]
//! bytes and every offset/length pair in LOGIN7 is checked against the message.

pub mod tds_tls;

use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::server::TlsStream;
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::ntlm::{self, ClientMessage, ServerIdentity};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::session::SessionCtx;
use tds_tls::TdsTlsIo;

/// Largest reassembled client message.
pub const MAX_MESSAGE: usize = 32 * 1024;
/// Most PRELOGIN options read.
const MAX_OPTIONS: usize = 16;
/// Characters kept per LOGIN7 string.
const MAX_FIELD_CHARS: usize = 256;

const PACKET_PRELOGIN: u8 = 0x12;
const PACKET_LOGIN7: u8 = 0x10;
const PACKET_SSPI: u8 = 0x11;
const PACKET_REPLY: u8 = 0x04;
const STATUS_EOM: u8 = 0x01;

const OPTION_VERSION: u8 = 0x00;
const OPTION_ENCRYPTION: u8 = 0x01;
const OPTION_INSTOPT: u8 = 0x02;
const OPTION_THREADID: u8 = 0x03;
const OPTION_MARS: u8 = 0x04;
const ENCRYPT_OFF: u8 = 0x00;
const ENCRYPT_ON: u8 = 0x01;
const ENCRYPT_NOT_SUP: u8 = 0x02;
const ENCRYPT_REQ: u8 = 0x03;

/// LOGIN7 OptionFlags2 bit: Windows integrated security (SSPI) is used.
const F_INT_SECURITY: u8 = 0x80;
/// TDS token carrying an SSPI blob from the server.
const TOKEN_SSPI: u8 = 0xed;

/// SQL Server 2019 RTM: 15.0.2000, sub-build 5.
const SERVER_VERSION: [u8; 6] = [0x0f, 0x00, 0x07, 0xd0, 0x00, 0x05];

/// The server's side of the PRELOGIN encryption negotiation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// No certificate: ENCRYPT_NOT_SUP, everything in clear (clients that require
    /// encryption give up).
    Off,
    /// A stock server with a certificate (SQL Server's default): login-only encryption
    /// for clients offering ENCRYPT_OFF, full encryption for clients asking for it, clear
    /// for clients without TLS.
    #[default]
    Login,
    /// "Force encryption": every session encrypted; clients without TLS are told
    /// ENCRYPT_REQ.
    Required,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MssqlOptions {
    encryption: Encryption,
}

/// MSSQL on 11433.
#[derive(Default)]
pub struct Mssql {
    encryption: OnceLock<Encryption>,
    /// The TLS 1.2 configuration derived from the sensor's (built on first use).
    tls: OnceLock<Option<Arc<rustls::ServerConfig>>>,
}

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
    fn default_options(&self) -> &'static str {
        "# encryption = \"login\"   # off | login (SQL Server's default) | required\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: MssqlOptions = env.parse_options()?;
        let _ = self.encryption.set(options.encryption);
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        Box::pin(serve(self, conn, ctx))
    }
}

impl Mssql {
    fn encryption(&self) -> Encryption {
        self.encryption.get().copied().unwrap_or_default()
    }

    /// The sensor's certificate with SQL Server 2019's TLS: version 1.2 only (TLS 1.3
    /// needs TDS 8), and no session tickets, which would otherwise follow the handshake
    /// outside the TDS framing the client still expects.
    fn tls_config(&self, conn: &Conn) -> Option<Arc<rustls::ServerConfig>> {
        self.tls
            .get_or_init(|| {
                let base = conn.tls_config()?;
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_protocol_versions(&[&rustls::version::TLS12])
                    .ok()?
                    .with_no_client_auth()
                    .with_cert_resolver(Arc::clone(&base.cert_resolver));
                config.send_tls13_tickets = 0;
                Some(Arc::new(config))
            })
            .clone()
    }
}

/// The ENCRYPTION value the server answers to the client's (`None`: option absent).
pub fn encryption_answer(mode: Encryption, client: Option<u8>, tls_available: bool) -> u8 {
    if !tls_available || mode == Encryption::Off {
        return ENCRYPT_NOT_SUP;
    }
    match (mode, client) {
        (Encryption::Required, Some(ENCRYPT_OFF | ENCRYPT_ON | ENCRYPT_REQ)) => ENCRYPT_ON,
        (Encryption::Required, _) => ENCRYPT_REQ,
        (_, Some(ENCRYPT_OFF)) => ENCRYPT_OFF,
        (_, Some(ENCRYPT_ON | ENCRYPT_REQ)) => ENCRYPT_ON,
        _ => ENCRYPT_NOT_SUP,
    }
}

fn encryption_name(value: u8) -> &'static str {
    match value {
        ENCRYPT_OFF => "off",
        ENCRYPT_ON => "on",
        ENCRYPT_NOT_SUP => "not-supported",
        ENCRYPT_REQ => "required",
        _ => "other",
    }
}

/// The connection as TDS sees it: the sensor's [`Conn`], or TLS on the socket taken
/// from it (TLS inside TDS during the handshake, raw records afterwards).
struct Link<'a> {
    conn: &'a mut Conn,
    tls: Option<Box<TlsStream<TdsTlsIo>>>,
    /// Clear bytes already read by [`Link::peek_clear`] (at most one).
    unread: Vec<u8>,
}

impl Link<'_> {
    async fn read_exact(&mut self, len: usize) -> Result<Vec<u8>, ConnError> {
        let Some(tls) = self.tls.as_mut() else {
            let take = len.min(self.unread.len());
            let mut bytes: Vec<u8> = self.unread.drain(..take).collect();
            if bytes.len() < len {
                bytes.extend(self.conn.read_exact_bytes(len - bytes.len()).await?);
            }
            return Ok(bytes);
        };
        let mut bytes = vec![0u8; len];
        match tokio::time::timeout(self.conn.limits().idle_timeout, tls.read_exact(&mut bytes))
            .await
        {
            Err(_) => Err(ConnError::Idle),
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err(ConnError::Closed)
            }
            Ok(Err(err)) => Err(ConnError::Io(err)),
            Ok(Ok(_)) => Ok(bytes),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), ConnError> {
        let Some(tls) = self.tls.as_mut() else {
            return self.conn.write_all(bytes).await;
        };
        let write = async {
            tls.write_all(bytes).await?;
            tls.flush().await
        };
        match tokio::time::timeout(self.conn.limits().idle_timeout, write).await {
            Err(_) => Err(ConnError::Idle),
            Ok(result) => result.map_err(ConnError::from),
        }
    }

    /// The client's next byte in clear, left to be read again.
    async fn peek_clear(&mut self) -> Result<u8, ConnError> {
        if self.unread.is_empty() {
            self.unread = self.conn.read_exact_bytes(1).await?;
        }
        self.unread.first().copied().ok_or(ConnError::Closed)
    }

    /// Takes the socket from the [`Conn`] and runs the TLS handshake inside TDS.
    async fn start_tls(
        &mut self,
        config: Arc<rustls::ServerConfig>,
        ctx: &mut SessionCtx,
    ) -> Result<(), ConnError> {
        let (tcp, buffered) = self
            .conn
            .take_tcp()
            .ok_or_else(|| ConnError::Tls("connection already taken".into()))?;
        let mut prefix = std::mem::take(&mut self.unread);
        prefix.extend(buffered);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let handshake = acceptor.accept(TdsTlsIo::new(tcp, prefix));
        let mut stream = tokio::time::timeout(self.conn.limits().idle_timeout, handshake)
            .await
            .map_err(|_| ConnError::Idle)?
            .map_err(|err| ConnError::Tls(err.to_string()))?;
        let (io, connection) = stream.get_mut();
        io.unwrap_records();
        ctx.set_aux(
            "tls",
            json!({
                "sni": connection.server_name(),
                "version": connection.protocol_version().map(|v| format!("{v:?}")),
                "cipher_suite": connection.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())),
            }),
        );
        self.tls = Some(Box::new(stream));
        Ok(())
    }

    /// Login-only encryption: back to clear TDS on the same socket (the client drops its
    /// TLS state without a close_notify, and so does SQL Server).
    fn leave_tls(&mut self) {
        if let Some(tls) = self.tls.take() {
            let (io, _) = tls.into_inner();
            let (tcp, _) = io.into_parts();
            *self.conn = Conn::new(tcp, self.conn.peer(), self.conn.limits(), None);
        }
    }

    /// A polite TLS close when the whole session was encrypted.
    async fn close(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), tls.shutdown()).await;
        }
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
async fn read_message(link: &mut Link<'_>) -> Result<(u8, Vec<u8>), ConnError> {
    let mut payload = Vec::new();
    let mut first_kind = None;
    loop {
        let mut header = link.read_exact(1).await?;
        if !header.first().copied().is_some_and(known_packet_type) {
            // SQL Server drops a connection whose first byte is no TDS packet type at
            // once; waiting for a full header would hold scanners' text probes
            return Err(ConnError::Protocol("not a TDS packet".into()));
        }
        header.extend(link.read_exact(7).await?);
        let (kind, status, len) = parse_packet_header(&header)
            .ok_or_else(|| ConnError::Protocol("bad TDS packet header".into()))?;
        if payload.len() + len - 8 > MAX_MESSAGE {
            return Err(ConnError::Protocol("TDS message too large".into()));
        }
        payload.extend(link.read_exact(len - 8).await?);
        let kind = *first_kind.get_or_insert(kind);
        if status & STATUS_EOM != 0 {
            return Ok((kind, payload));
        }
    }
}

/// TDS packet types a client sends (MS-TDS 2.2.3.1.1): SQL batch, pre-7 login, RPC,
/// attention, bulk load, federated auth token, transaction manager, LOGIN7, SSPI, PRELOGIN.
fn known_packet_type(kind: u8) -> bool {
    matches!(
        kind,
        0x01 | 0x02 | 0x03 | 0x06 | 0x07 | 0x08 | 0x0e | 0x10 | 0x11 | 0x12
    )
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

/// The PRELOGIN reply: version, the server's `encryption` answer, instance OK, empty
/// thread id, and MARS off when the client sent a MARS option.
pub fn prelogin_reply(client_sent_mars: bool, encryption: u8) -> Vec<u8> {
    let encryption = [encryption];
    let mut options: Vec<(u8, &[u8])> = vec![
        (OPTION_VERSION, &SERVER_VERSION),
        (OPTION_ENCRYPTION, &encryption),
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
    /// OptionFlags2 fIntSecurity: Windows integrated authentication.
    pub integrated_security: bool,
    /// The SSPI blob (an NTLM NEGOTIATE or SPNEGO token), empty for a SQL login.
    pub sspi: Vec<u8>,
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
    let u16_at = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(
            payload.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let sspi_offset = u16_at(78)?;
    let mut sspi_len = u16_at(80)?;
    if sspi_len == usize::from(u16::MAX) {
        // cbSSPILong (TDS 7.2+) carries lengths of 64 KiB and more
        sspi_len = usize::try_from(u32_at(90).unwrap_or(0)).unwrap_or(usize::MAX);
    }
    let sspi = payload
        .get(sspi_offset..sspi_offset.checked_add(sspi_len)?)?
        .to_vec();
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
        integrated_security: payload.get(25)? & F_INT_SECURITY != 0,
        sspi,
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

async fn serve(protocol: &Mssql, conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let tls_config = match protocol.encryption() {
        Encryption::Off => None,
        _ => protocol.tls_config(conn),
    };
    let mut link = Link {
        conn,
        tls: None,
        unread: Vec::new(),
    };
    let (mut kind, mut payload) = read_message(&mut link).await?;
    let mut login_only_tls = false;
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
        let client = options
            .iter()
            .find(|(token, _)| *token == OPTION_ENCRYPTION)
            .and_then(|(_, value)| value.first().copied());
        let answer = encryption_answer(protocol.encryption(), client, tls_config.is_some());
        ctx.set_aux(
            "encryption",
            json!({
                "client": client.map(encryption_name),
                "server": encryption_name(answer),
            }),
        );
        link.write_all(&prelogin_reply(mars, answer)).await?;
        if let (Some(config), ENCRYPT_OFF | ENCRYPT_ON) = (tls_config, answer) {
            if link.peek_clear().await? == PACKET_PRELOGIN {
                link.start_tls(config, ctx).await?;
                login_only_tls = answer == ENCRYPT_OFF;
            } else {
                // offered encryption, then went on in clear (nmap's mssql.lua, some
                // brute-forcers): SQL Server would fail the handshake; the sensor reads on
                ctx.set_aux("tls_skipped_by_client", Value::Bool(true));
            }
        }
        (kind, payload) = read_message(&mut link).await?;
    }
    if kind != PACKET_LOGIN7 {
        return Err(ConnError::Protocol(format!(
            "unexpected TDS packet type {kind:#04x}"
        )));
    }
    if login_only_tls {
        link.leave_tls();
    }
    let login = parse_login7(&payload).ok_or_else(|| ConnError::Protocol("bad LOGIN7".into()))?;
    record_client_details(ctx, &login);
    let server = ctx
        .hostname()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if !login.sspi.is_empty() {
        integrated_login(&mut link, ctx, &login, &server).await?;
    } else {
        let credential = Credential::new(
            login.username.as_bytes(),
            login.password.as_bytes(),
            Mechanism::TdsLogin7,
        );
        ctx.record_auth(credential).await;
        link.write_all(&login_failed(&login.username, &server, login.tds_version))
            .await?;
    }
    link.close().await;
    Ok(())
}

/// Windows integrated authentication with NTLM: NEGOTIATE (in LOGIN7) → CHALLENGE (SSPI
/// token) → AUTHENTICATE (SSPI packet), recorded, then error 18456.
async fn integrated_login(
    link: &mut Link<'_>,
    ctx: &mut SessionCtx,
    login: &Login7,
    server: &str,
) -> Result<(), ConnError> {
    let Some(ClientMessage::Negotiate(negotiate)) = ntlm::parse_client_message(&login.sspi) else {
        ctx.set_aux("sspi", json!({ "bytes": login.sspi.len(), "ntlm": false }));
        ctx.set_end_reason(EndReason::ProtocolError);
        return Ok(());
    };
    let challenge = super::random_bytes::<8>();
    let identity = ServerIdentity::from_hostname(ctx.hostname());
    let message = ntlm::challenge_message(negotiate, challenge, &identity, ntlm::filetime_now());
    link.write_all(&packet(PACKET_REPLY, &sspi_token(&message)))
        .await?;
    let (kind, payload) = read_message(link).await?;
    let auth = match (kind, ntlm::parse_client_message(&payload)) {
        (PACKET_SSPI, Some(ClientMessage::Authenticate(auth))) => auth,
        _ => {
            ctx.set_end_reason(EndReason::ProtocolError);
            return Ok(());
        }
    };
    ntlm::record_authenticate(ctx, &auth, Some(challenge)).await;
    let user = format!(
        "{}\\{}",
        display_bytes(&auth.domain),
        display_bytes(&auth.user)
    );
    link.write_all(&login_failed(&user, server, login.tds_version))
        .await
}

/// The SSPI token (0xED) carrying `blob`.
pub fn sspi_token(blob: &[u8]) -> Vec<u8> {
    let len = u16::try_from(blob.len()).unwrap_or(u16::MAX);
    let mut token = vec![TOKEN_SSPI];
    token.extend_from_slice(&len.to_le_bytes());
    token.extend_from_slice(blob.get(..usize::from(len)).unwrap_or_default());
    token
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
        let reply = prelogin_reply(false, ENCRYPT_NOT_SUP);
        let expected_start = b"\x04\x01\x00\x25\x00\x00\x01\x00\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x01\x03\x00\x1d\x00\x00\xff\x0f\x00";
        assert!(reply.starts_with(expected_start), "{reply:02x?}");
        let options = parse_prelogin(&reply[8..]).unwrap();
        assert_eq!(options.len(), 4);
        assert_eq!(options[1], (OPTION_ENCRYPTION, &[ENCRYPT_NOT_SUP][..]));
    }

    #[test]
    fn encryption_is_negotiated_like_sql_server() {
        use Encryption::*;
        let cases = [
            (Login, Some(ENCRYPT_OFF), ENCRYPT_OFF),
            (Login, Some(ENCRYPT_ON), ENCRYPT_ON),
            (Login, Some(ENCRYPT_REQ), ENCRYPT_ON),
            (Login, Some(ENCRYPT_NOT_SUP), ENCRYPT_NOT_SUP),
            (Login, None, ENCRYPT_NOT_SUP),
            (Required, Some(ENCRYPT_OFF), ENCRYPT_ON),
            (Required, Some(ENCRYPT_NOT_SUP), ENCRYPT_REQ),
            (Off, Some(ENCRYPT_ON), ENCRYPT_NOT_SUP),
        ];
        for (mode, client, expected) in cases {
            assert_eq!(
                encryption_answer(mode, client, true),
                expected,
                "{mode:?} {client:?}"
            );
        }
        assert_eq!(
            encryption_answer(Required, Some(ENCRYPT_ON), false),
            ENCRYPT_NOT_SUP,
            "no certificate, no TLS"
        );
    }

    #[test]
    fn options_parse_and_unknown_keys_are_refused() {
        let parse = |text: &str| -> Result<MssqlOptions, toml::de::Error> {
            toml::from_str::<toml::Table>(text)?.try_into()
        };
        assert_eq!(
            parse("encryption = \"required\"")
                .map(|o| o.encryption)
                .ok(),
            Some(Encryption::Required)
        );
        assert_eq!(
            parse("").map(|o| o.encryption).ok(),
            Some(Encryption::Login)
        );
        assert!(parse("encryption = \"maybe\"").is_err());
        assert!(parse("tls = true").is_err());
    }

    #[test]
    fn login7_sspi_blob_and_integrated_flag_are_read() {
        let mut payload = login7("", "", "box", "tsql");
        let blob = b"NTLMSSP\0\x01\0\0\0\x05\x82\x08\xa2";
        let offset = payload.len() as u16;
        payload[25] |= F_INT_SECURITY;
        payload[78..80].copy_from_slice(&offset.to_le_bytes());
        payload[80..82].copy_from_slice(&(blob.len() as u16).to_le_bytes());
        payload.extend_from_slice(blob);
        let parsed = parse_login7(&payload).unwrap();
        assert!(parsed.integrated_security);
        assert_eq!(parsed.sspi, blob);
        payload[80..82].copy_from_slice(&(blob.len() as u16 + 1).to_le_bytes());
        assert!(parse_login7(&payload).is_none(), "blob past the end");
        let token = sspi_token(blob);
        assert_eq!(token[0], TOKEN_SSPI);
        assert_eq!(&token[1..3], &(blob.len() as u16).to_le_bytes());
        assert_eq!(&token[3..], blob);
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
