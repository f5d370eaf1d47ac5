//! RDP answering like a Windows Server 2019 terminal server, in two ways depending on
//! the security the client offers in its X.224 Connection Request (the `mstshash` cookie,
//! which carries the user name or the scanner's tag, goes to `auxiliary_data.rdp`):
//!
//! - CredSSP / Network Level Authentication (`PROTOCOL_HYBRID`, [`credssp`]): TLS with
//!   the sensor certificate, then NTLM inside CredSSP; the AUTHENTICATE is recorded as a
//!   NetNTLMv2 line (hashcat 5600, see [`crate::ntlm`]) and answered with
//!   `STATUS_LOGON_FAILURE`, which clients (FreeRDP, mstsc, hydra) report as a failed login.
//! - TLS only (`PROTOCOL_SSL`, [`connect`]): TLS, then the MCS/GCC connection sequence up
//!   to the Client Info PDU, whose user name and clear-text password are recorded
//!   (mechanism `rdp-client-info`); the session ends with a "bad password" logon error
//!   and a disconnect.
//!
//! Which one is picked is the `security` option (`negotiate`: NLA when offered, else
//! TLS; `nla`: NLA or refuse; `tls`: TLS whenever offered, even to NLA clients). Standard
//! RDP security (RSA key exchange + RC4) is not spoken: such clients get a negotiation
//! failure. The X.224, MCS/GCC and CredSSP framing (TPKT, BER/PER headers, a few DER TLVs)
//! is hand-written and bounded: the RDP crates (ironrdp) implement full clients/servers
//! around a display, not a logon-only honeypot, and would hide the NTLM exchange and the
//! Client Info PDU this protocol exists to keep.

mod connect;
mod credssp;
mod info;
mod mcs;

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::json;
use trawl_event::{EndReason, display_bytes};

use crate::conn::{Conn, ConnError};
use crate::protocol::{BoxFuture, PrepareEnv, Protocol};
use crate::session::SessionCtx;

/// Which security protocol the server selects (`[protocols.rdp.options] security`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Security {
    /// NLA when the client offers it, else TLS (the Client Info PDU), else refuse.
    #[default]
    Negotiate,
    /// NLA only: other clients get `HYBRID_REQUIRED_BY_SERVER`.
    Nla,
    /// TLS whenever offered (NLA clients too, so their clear password is seen).
    Tls,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RdpOptions {
    security: Security,
}

/// RDP on 13389 (standard 3389).
#[derive(Default)]
pub struct Rdp {
    options: OnceLock<RdpOptions>,
}

impl Protocol for Rdp {
    fn name(&self) -> &'static str {
        "rdp"
    }
    fn default_port(&self) -> u16 {
        13389
    }
    /// Not sent on the wire (RDP has no banner); names the product in docs and logs.
    fn default_banner(&self) -> &'static str {
        "Microsoft Terminal Services (Windows Server 2019)"
    }
    fn default_max_attempts(&self) -> u32 {
        1
    }
    fn default_options(&self) -> &'static str {
        "# security = \"negotiate\"   # negotiate (NLA if offered, else TLS) | nla | tls\n"
    }
    fn prepare(&self, env: &PrepareEnv<'_>) -> Result<(), String> {
        let options: RdpOptions = env.parse_options()?;
        let _ = self.options.set(options);
        Ok(())
    }
    fn serve<'a>(
        &'a self,
        conn: &'a mut Conn,
        ctx: &'a mut SessionCtx,
    ) -> BoxFuture<'a, Result<(), ConnError>> {
        let security = self.options.get().map(|o| o.security).unwrap_or_default();
        Box::pin(serve(security, conn, ctx))
    }
}

/// Largest TPKT accepted before TLS (a connection request is well under 300 bytes).
const MAX_TPKT: usize = 4096;

/// Standard RDP security (no TLS), the value of an absent RDP_NEG_REQ.
const PROTOCOL_RDP: u32 = 0x0;
const PROTOCOL_SSL: u32 = 0x1;
const PROTOCOL_HYBRID: u32 = 0x2;
const PROTOCOL_HYBRID_EX: u32 = 0x8;
const SSL_REQUIRED_BY_SERVER: u32 = 0x1;
const HYBRID_REQUIRED_BY_SERVER: u32 = 0x5;

/// The server's answer to the client's offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    Hybrid,
    Ssl,
    /// RDP_NEG_FAILURE with this code.
    Refuse(u32),
}

fn select(security: Security, requested: u32) -> Selection {
    let nla = requested & (PROTOCOL_HYBRID | PROTOCOL_HYBRID_EX) != 0;
    let ssl = requested & PROTOCOL_SSL != 0;
    match security {
        Security::Nla if nla => Selection::Hybrid,
        Security::Nla => Selection::Refuse(HYBRID_REQUIRED_BY_SERVER),
        Security::Negotiate if nla => Selection::Hybrid,
        Security::Negotiate | Security::Tls if ssl => Selection::Ssl,
        Security::Negotiate | Security::Tls => Selection::Refuse(SSL_REQUIRED_BY_SERVER),
    }
}

async fn serve(security: Security, conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let Some(tpkt) = read_tpkt(conn, 11, MAX_TPKT).await? else {
        return Ok(());
    };
    let Some(request) = parse_connection_request(&tpkt) else {
        ctx.set_end_reason(EndReason::ProtocolError);
        return Ok(());
    };
    let requested = request.requested_protocols.unwrap_or(PROTOCOL_RDP);
    let selection = select(security, requested);
    ctx.set_aux(
        "rdp",
        json!({
            "cookie": request.cookie.as_deref().map(display_bytes),
            "requested_protocols": request.requested_protocols,
            "selected": match selection {
                Selection::Hybrid => "hybrid",
                Selection::Ssl => "ssl",
                Selection::Refuse(_) => "refused",
            },
        }),
    );
    match selection {
        Selection::Hybrid => {
            conn.write_all(&connection_confirm(PROTOCOL_HYBRID)).await?;
            conn.start_tls().await?;
            credssp::credssp(conn, ctx).await
        }
        Selection::Ssl => {
            conn.write_all(&connection_confirm(PROTOCOL_SSL)).await?;
            conn.start_tls().await?;
            connect::tls_security(conn, ctx, requested).await
        }
        Selection::Refuse(code) => {
            conn.write_all(&negotiation_failure(code)).await?;
            ctx.set_end_reason(EndReason::ProtocolError);
            Ok(())
        }
    }
}

/// One TPKT (RFC 1006: version 3, reserved, big-endian length including the header,
/// which must lie in `min..=max`); `None` on a clean EOF before the first byte.
async fn read_tpkt(conn: &mut Conn, min: usize, max: usize) -> Result<Option<Vec<u8>>, ConnError> {
    let Some(first) = conn.read_at_most(4).await? else {
        return Ok(None);
    };
    let mut header = first;
    if header.len() < 4 {
        header.extend_from_slice(&conn.read_exact_bytes(4 - header.len()).await?);
    }
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if header[0] != 3 || !(min.max(4)..=max).contains(&length) {
        return Err(ConnError::Protocol("not a TPKT".into()));
    }
    Ok(Some(conn.read_exact_bytes(length - 4).await?))
}

/// What an X.224 Connection Request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ConnectionRequest {
    /// `Cookie: mstshash=` value (or a routing token), without the prefix and CRLF.
    cookie: Option<Vec<u8>>,
    /// `RDP_NEG_REQ.requestedProtocols`, when the client sent one.
    requested_protocols: Option<u32>,
}

/// Parses the X.224 part (after the TPKT header): LI, CR code 0xE0, refs and class,
/// then the optional cookie line and the optional 8-byte RDP_NEG_REQ.
fn parse_connection_request(x224: &[u8]) -> Option<ConnectionRequest> {
    let li = usize::from(*x224.first()?);
    if x224.get(1)? & 0xF0 != 0xE0 || li + 1 > x224.len() || li < 6 {
        return None;
    }
    let mut rest = x224.get(7..li + 1)?;
    let mut cookie = None;
    if rest.starts_with(b"Cookie: ") || rest.starts_with(b"Cookie:") {
        let end = rest.windows(2).position(|pair| pair == b"\r\n")?;
        let line = rest.get(..end)?;
        let value = line.strip_prefix(b"Cookie: mstshash=").unwrap_or(line);
        cookie = Some(value.to_vec());
        rest = rest.get(end + 2..)?;
    }
    let requested_protocols = match rest {
        [0x01, _flags, 8, 0, a, b, c, d, ..] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    };
    Some(ConnectionRequest {
        cookie,
        requested_protocols,
    })
}

/// X.224 Connection Confirm with RDP_NEG_RSP selecting `protocol`.
fn connection_confirm(protocol: u32) -> Vec<u8> {
    // EXTENDED_CLIENT_DATA_SUPPORTED | DYNVC_GFX_PROTOCOL_SUPPORTED | RESTRICTED_ADMIN |
    // REDIRECTED_AUTHENTICATION, as Windows Server 2019 answers.
    let flags = 0x1f;
    x224_confirm(&[0x02, flags, 8, 0], protocol)
}

/// X.224 Connection Confirm with RDP_NEG_FAILURE carrying `code`.
fn negotiation_failure(code: u32) -> Vec<u8> {
    x224_confirm(&[0x03, 0, 8, 0], code)
}

fn x224_confirm(neg_header: &[u8; 4], value: u32) -> Vec<u8> {
    let mut message = vec![0x03, 0x00, 0x00, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0];
    message.extend_from_slice(neg_header);
    message.extend_from_slice(&value.to_le_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection_request(cookie: &[u8], protocols: Option<u32>) -> Vec<u8> {
        let mut variable = cookie.to_vec();
        if let Some(protocols) = protocols {
            variable.extend_from_slice(&[1, 0, 8, 0]);
            variable.extend_from_slice(&protocols.to_le_bytes());
        }
        let mut x224 = vec![(6 + variable.len()) as u8, 0xE0, 0, 0, 0, 0, 0];
        x224.extend_from_slice(&variable);
        x224
    }

    #[test]
    fn connection_requests_give_cookie_and_protocols() {
        let request =
            parse_connection_request(&connection_request(b"Cookie: mstshash=alice\r\n", Some(3)));
        assert_eq!(
            request,
            Some(ConnectionRequest {
                cookie: Some(b"alice".to_vec()),
                requested_protocols: Some(3),
            })
        );
        let bare = parse_connection_request(&connection_request(b"", None));
        assert_eq!(bare.map(|r| r.requested_protocols), Some(None));
        assert!(parse_connection_request(&[14, 0xD0, 0, 0, 0, 0, 0]).is_none());
        assert!(parse_connection_request(&[200, 0xE0]).is_none());
    }

    #[test]
    fn selection_follows_the_security_option() {
        use Security::*;
        assert_eq!(select(Negotiate, 0xB), Selection::Hybrid);
        assert_eq!(select(Negotiate, PROTOCOL_SSL), Selection::Ssl);
        assert_eq!(
            select(Negotiate, PROTOCOL_RDP),
            Selection::Refuse(SSL_REQUIRED_BY_SERVER)
        );
        assert_eq!(
            select(Nla, PROTOCOL_SSL),
            Selection::Refuse(HYBRID_REQUIRED_BY_SERVER)
        );
        assert_eq!(select(Nla, 0x3), Selection::Hybrid);
        assert_eq!(select(Tls, 0x3), Selection::Ssl);
        assert_eq!(
            select(Tls, PROTOCOL_RDP),
            Selection::Refuse(SSL_REQUIRED_BY_SERVER)
        );
    }

    #[test]
    fn options_parse_and_refuse_unknown_keys() {
        let parse = |text: &str| -> Result<RdpOptions, String> {
            let table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
            table.try_into().map_err(|e| format!("{e}"))
        };
        assert_eq!(parse("").map(|o| o.security), Ok(Security::Negotiate));
        assert_eq!(
            parse("security = \"tls\"").map(|o| o.security),
            Ok(Security::Tls)
        );
        assert!(parse("security = \"rc4\"").is_err());
        assert!(parse("secure = \"tls\"").is_err());
    }

    #[test]
    fn confirm_and_failure_are_19_byte_tpkts() {
        let confirm = connection_confirm(PROTOCOL_HYBRID);
        assert_eq!(confirm.len(), 19);
        assert_eq!(&confirm[11..], &[2, 0x1f, 8, 0, 2, 0, 0, 0]);
        let failure = negotiation_failure(HYBRID_REQUIRED_BY_SERVER);
        assert_eq!(&failure[11..], &[3, 0, 8, 0, 5, 0, 0, 0]);
    }

    proptest::proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_connection_request(&bytes);
        }
    }
}
