//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), plus SOCKS4/4a
//! on the same port. The sensor **never connects anywhere**: there is no code path that
//! opens an outbound socket, whatever the client asks.
//!
//! - Method negotiation: only `0x02` (username/password) is ever chosen. A client that
//!   offers it gets `05 02`, sends its credentials, and gets the RFC 1929 failure
//!   `01 FF` before the connection closes (RFC 1929: a server MUST close after a
//!   failure), so each connection carries one attempt. A client that offers only other
//!   methods (no-auth, GSSAPI) gets `05 FF`; if it sends a request anyway, the requested
//!   destination is kept in `auxiliary_data.socks_requests` and the connection closes.
//!   A request pipelined in place of the credentials (nmap's SOCKS probe does this) is
//!   kept the same way.
//! - SOCKS4/4a: the USERID is recorded as an attempt (`socks4-userid`, no password)
//!   when it is not empty, the destination goes to `socks_requests`, and the reply is
//!   `00 5B` (request rejected or failed).
//!
//! The framing is hand-written: every message is a few fixed fields and
//! length-prefixed strings of at most 255 bytes, so reads are bounded by construction.
//! Proxy crates (fast-socks5) are built to connect out, which is exactly what must
//! never happen here.

use std::time::Duration;

use serde_json::{Value, json};
use trawl_event::{Credential, EndReason, Mechanism, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, Protocol};
use crate::session::SessionCtx;

/// How long to wait for a request a refused client might still send.
const LATE_REQUEST_WAIT: Duration = Duration::from_secs(3);
/// Longest SOCKS4 USERID or 4a host name kept (they are NUL-terminated).
const MAX_SOCKS4_STRING: usize = 255;
const METHOD_USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE_METHOD: u8 = 0xFF;
/// RFC 1929 status: any non-zero value is a failure; 0xFF is what Hydra expects (with
/// 0x01 it probes further on the closed socket and loses attempts).
const AUTH_FAILURE: u8 = 0xFF;
/// SOCKS4 "request rejected or failed".
const SOCKS4_REJECTED: u8 = 0x5B;

/// SOCKS5 (and 4/4a) on 11080 (standard 1080).
pub struct Socks5;

impl Protocol for Socks5 {
    fn name(&self) -> &'static str {
        "socks5"
    }
    fn default_port(&self) -> u16 {
        11080
    }
    /// SOCKS has no greeting; the banner is not sent.
    fn default_banner(&self) -> &'static str {
        ""
    }
    /// RFC 1929: the server closes the connection after a failed authentication.
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

/// What a client asked the proxy to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// SOCKS version of the request (4 or 5).
    pub version: u8,
    /// 1 CONNECT, 2 BIND, 3 UDP ASSOCIATE.
    pub command: u8,
    /// IP address or host name, as text.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Destination {
    fn to_json(&self) -> Value {
        let command = match self.command {
            1 => "connect",
            2 => "bind",
            3 => "udp-associate",
            _ => "unknown",
        };
        json!({
            "version": self.version,
            "command": command,
            "host": self.host,
            "port": self.port,
        })
    }
}

async fn serve(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let version = read_u8(conn).await?;
    match version {
        5 => serve_socks5(conn, ctx).await,
        4 => serve_socks4(conn, ctx).await,
        other => {
            ctx.set_aux("socks_first_byte", Value::from(other));
            ctx.set_end_reason(EndReason::ProtocolError);
            Ok(())
        }
    }
}

async fn serve_socks5(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let count = usize::from(read_u8(conn).await?);
    let methods = conn.read_exact_bytes(count).await?;
    ctx.set_aux("socks5_methods", Value::from(methods.clone()));
    if !methods.contains(&METHOD_USER_PASS) {
        conn.write_all(&[5, NO_ACCEPTABLE_METHOD]).await?;
        keep_late_request(conn, ctx).await;
        ctx.set_end_reason(EndReason::ProtocolError);
        return Ok(());
    }
    conn.write_all(&[5, METHOD_USER_PASS]).await?;
    match read_u8(conn).await? {
        1 => {}
        5 => {
            if let Ok(Some(destination)) = read_socks5_request(conn).await {
                ctx.push_aux("socks_requests", destination.to_json());
            }
            ctx.set_end_reason(EndReason::ProtocolError);
            return Ok(());
        }
        _ => {
            ctx.set_end_reason(EndReason::ProtocolError);
            return Ok(());
        }
    }
    let username = read_short_string(conn).await?;
    let password = read_short_string(conn).await?;
    ctx.record_auth(Credential::new(
        username,
        password,
        Mechanism::Socks5UserPass,
    ))
    .await;
    conn.write_all(&[1, AUTH_FAILURE]).await?;
    ctx.set_end_reason(EndReason::MaxAttempts);
    Ok(())
}

/// After `05 FF` some clients send their request anyway: keep where they wanted to go.
async fn keep_late_request(conn: &mut Conn, ctx: &mut SessionCtx) {
    let request = async {
        if read_u8(conn).await? != 5 {
            return Ok(None);
        }
        read_socks5_request(conn).await
    };
    if let Ok(Ok(Some(destination))) = tokio::time::timeout(LATE_REQUEST_WAIT, request).await {
        ctx.push_aux("socks_requests", destination.to_json());
    }
}

/// The rest of a SOCKS5 request after its version byte: CMD RSV ATYP DST.ADDR DST.PORT.
/// `None` when the address type is unknown.
async fn read_socks5_request(conn: &mut Conn) -> Result<Option<Destination>, ConnError> {
    let header = conn.read_exact_bytes(3).await?;
    let (command, address_type) = match header.as_slice() {
        [command, _reserved, address_type] => (*command, *address_type),
        _ => return Err(ConnError::Closed),
    };
    let host = match address_type {
        1 => std::net::Ipv4Addr::from(read_array::<4>(conn).await?).to_string(),
        4 => std::net::Ipv6Addr::from(read_array::<16>(conn).await?).to_string(),
        3 => display_bytes(&read_short_string(conn).await?),
        _ => return Ok(None),
    };
    let port = u16::from_be_bytes(read_array::<2>(conn).await?);
    Ok(Some(Destination {
        version: 5,
        command,
        host,
        port,
    }))
}

async fn serve_socks4(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let header = read_array::<7>(conn).await?;
    let [command, port_high, port_low, a, b, c, d] = header;
    let userid = read_nul_terminated(conn).await?;
    // SOCKS4a: 0.0.0.x (x != 0) means "the host name follows the USERID".
    let host = if [a, b, c] == [0, 0, 0] && d != 0 {
        display_bytes(&read_nul_terminated(conn).await?)
    } else {
        std::net::Ipv4Addr::new(a, b, c, d).to_string()
    };
    let destination = Destination {
        version: 4,
        command,
        host,
        port: u16::from_be_bytes([port_high, port_low]),
    };
    ctx.push_aux("socks_requests", destination.to_json());
    if !userid.is_empty() {
        ctx.record_auth(Credential::new(userid, Vec::new(), Mechanism::Socks4UserId))
            .await;
    }
    conn.write_all(&[0, SOCKS4_REJECTED, 0, 0, 0, 0, 0, 0])
        .await?;
    ctx.set_end_reason(EndReason::ProtocolError);
    Ok(())
}

async fn read_u8(conn: &mut Conn) -> Result<u8, ConnError> {
    let [byte] = read_array::<1>(conn).await?;
    Ok(byte)
}

async fn read_array<const N: usize>(conn: &mut Conn) -> Result<[u8; N], ConnError> {
    conn.read_exact_bytes(N)
        .await?
        .try_into()
        .map_err(|_| ConnError::Closed)
}

/// A length byte followed by that many bytes (RFC 1929 fields, RFC 1928 domain names).
async fn read_short_string(conn: &mut Conn) -> Result<Vec<u8>, ConnError> {
    let length = usize::from(read_u8(conn).await?);
    conn.read_exact_bytes(length).await
}

/// Bytes up to a NUL (not included); more than [`MAX_SOCKS4_STRING`] is a protocol error.
async fn read_nul_terminated(conn: &mut Conn) -> Result<Vec<u8>, ConnError> {
    let mut text = Vec::new();
    loop {
        match read_u8(conn).await? {
            0 => return Ok(text),
            byte if text.len() < MAX_SOCKS4_STRING => text.push(byte),
            _ => return Err(ConnError::Protocol("SOCKS4 string too long".into())),
        }
    }
}

/// Test support shared by the binary-protocol modules (vnc, socks5, redis, ldap): runs a
/// protocol's real `serve` against bytes a client sends over loopback, for fuzzing the
/// whole dialog (parsers included) with arbitrary input.
#[cfg(test)]
pub(crate) mod replay {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use trawl_event::{EndReason, Endpoints, Session};

    use crate::config::ProtocolSettings;
    use crate::conn::{Conn, ConnLimits};
    use crate::protocol::{PrepareEnv, Protocol};
    use crate::session::SessionCtx;

    /// The protocol's default settings with short timeouts.
    pub(crate) fn settings(protocol: &dyn Protocol) -> ProtocolSettings {
        ProtocolSettings {
            enabled: true,
            port: protocol.default_port(),
            banner: protocol.default_banner().to_owned(),
            idle_timeout: Duration::from_secs(2),
            session_timeout: Duration::from_secs(5),
            max_attempts: protocol.default_max_attempts(),
            hostname: "host.example.com".into(),
        }
    }

    /// Prepares `protocol` with `options`, sends `input` then half-closes, and returns
    /// everything the sensor answered plus the finished session.
    pub(crate) fn replay(
        protocol: &dyn Protocol,
        options: &toml::Table,
        input: &[u8],
    ) -> (Vec<u8>, Session) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(protocol, options, input))
    }

    async fn run(
        protocol: &dyn Protocol,
        options: &toml::Table,
        input: &[u8],
    ) -> (Vec<u8>, Session) {
        let settings = settings(protocol);
        let data_dir = std::env::temp_dir();
        let env = PrepareEnv {
            data_dir: &data_dir,
            settings: &settings,
            options,
        };
        protocol.prepare(&env).expect("prepare");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut client = TcpStream::connect(address).await.expect("connect");
        let (server, peer) = listener.accept().await.expect("accept");
        client.write_all(input).await.expect("send input");
        client.shutdown().await.expect("half-close");
        let limits = ConnLimits {
            max_line: 8192,
            idle_timeout: settings.idle_timeout,
        };
        let mut conn = Conn::new(server, peer, limits, None);
        let (_hub, events) = trawl_sinks::SinkHub::start(Vec::new(), 64, 16).expect("hub");
        let endpoints = Endpoints {
            source: peer,
            destination: address,
        };
        let mut ctx = SessionCtx::new(protocol.name(), endpoints, Arc::new(settings), events);
        let served =
            tokio::time::timeout(Duration::from_secs(5), protocol.serve(&mut conn, &mut ctx)).await;
        assert!(
            served.is_ok(),
            "serve did not finish on a half-closed connection"
        );
        conn.close().await;
        drop(conn);
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(count) = client.read(&mut chunk).await {
            if count == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..count]);
        }
        let (session, _) = ctx.into_session(EndReason::ClientClosed);
        (reply, session)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::replay::replay;
    use super::*;

    fn run(input: &[u8]) -> (Vec<u8>, trawl_event::Session) {
        replay(&Socks5, &toml::Table::new(), input)
    }

    #[test]
    fn user_pass_is_captured_and_refused_with_rfc1929_failure() {
        let (reply, session) = run(b"\x05\x02\x00\x02\x01\x04root\x06hunter");
        assert_eq!(reply, [5, 2, 1, 0xFF]);
        let [attempt] = session.auth_attempts.as_slice() else {
            panic!("one attempt expected: {session:?}");
        };
        assert_eq!(attempt.credential.username, b"root");
        assert_eq!(attempt.credential.password, b"hunter");
        assert_eq!(attempt.credential.mechanism, Mechanism::Socks5UserPass);
        assert_eq!(session.end_reason, EndReason::MaxAttempts);
    }

    #[test]
    fn no_auth_only_gets_ff_and_a_late_connect_is_only_recorded() {
        let connect = b"\x05\x01\x00\x03\x0fexample.invalid\x00\x50";
        let (reply, session) = run(&[&b"\x05\x01\x00"[..], connect].concat());
        assert_eq!(reply, [5, 0xFF]);
        assert!(session.auth_attempts.is_empty());
        assert_eq!(
            session.auxiliary_data["socks_requests"],
            json!([{"version": 5, "command": "connect", "host": "example.invalid", "port": 80}])
        );
    }

    #[test]
    fn nmap_style_pipelined_request_is_recorded() {
        let probe =
            b"\x05\x04\x00\x01\x02\x80\x05\x01\x00\x03\x0agoogle.com\x00\x50GET / HTTP/1.0\r\n\r\n";
        let (reply, session) = run(probe);
        assert_eq!(reply, [5, 2]);
        assert_eq!(
            session.auxiliary_data["socks_requests"][0]["host"],
            "google.com"
        );
    }

    #[test]
    fn socks4_and_4a_userids_are_recorded_and_refused() {
        let (reply, session) = run(b"\x04\x01\x00\x16\x7f\x00\x00\x01root\x00");
        assert_eq!(reply, [0, 0x5B, 0, 0, 0, 0, 0, 0]);
        assert_eq!(session.auth_attempts[0].credential.username, b"root");
        assert_eq!(
            session.auth_attempts[0].credential.mechanism,
            Mechanism::Socks4UserId
        );
        assert_eq!(
            session.auxiliary_data["socks_requests"][0]["host"],
            "127.0.0.1"
        );
        let (_, session) = run(b"\x04\x01\x01\xbb\x00\x00\x00\x07bob\x00example.org\x00");
        assert_eq!(
            session.auxiliary_data["socks_requests"][0]["host"],
            "example.org"
        );
        assert_eq!(session.auxiliary_data["socks_requests"][0]["port"], 443);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever a client sends (after a valid or random first byte), the dialog ends,
        /// answers only SOCKS replies, and records at most one attempt.
        #[test]
        fn hostile_input_is_survived(version in prop_oneof![Just(4u8), Just(5u8), any::<u8>()],
                                     body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (reply, session) = run(&[&[version][..], &body].concat());
            prop_assert!(session.auth_attempts.len() <= 1);
            prop_assert!(reply.len() <= 8);
        }
    }

    #[test]
    fn destinations_serialise_with_command_names() {
        let destination = Destination {
            version: 5,
            command: 1,
            host: "example.invalid".into(),
            port: 80,
        };
        assert_eq!(
            destination.to_json(),
            json!({"version": 5, "command": "connect", "host": "example.invalid", "port": 80})
        );
    }
}
