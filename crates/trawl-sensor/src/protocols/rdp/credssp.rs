//! CredSSP (MS-CSSP) over the TLS stream, carrying NTLM: the client's NEGOTIATE is
//! answered with a CHALLENGE, its AUTHENTICATE is recorded as a NetNTLMv2 line (hashcat
//! 5600, see [`crate::ntlm`]) and answered with `STATUS_LOGON_FAILURE`. The DER framing
//! (a handful of TLVs) is hand-written and bounded.

use trawl_event::EndReason;

use crate::conn::{Conn, ConnError};
use crate::ntlm::{self, ClientMessage, ServerIdentity};
use crate::session::SessionCtx;

/// Largest CredSSP message accepted (an AUTHENTICATE with a long target info is ~1 KiB).
const MAX_TS_REQUEST: usize = 64 * 1024;
/// NTSTATUS the server puts in `TSRequest.errorCode` for a wrong password.
const STATUS_LOGON_FAILURE: i32 = 0xC000_006Du32 as i32;
/// CredSSP version this server speaks (Windows Server 2019 answers 6).
const CREDSSP_VERSION: u32 = 6;

/// The CredSSP exchange: NEGOTIATE → CHALLENGE, AUTHENTICATE → recorded, logon failure.
pub(super) async fn credssp(conn: &mut Conn, ctx: &mut SessionCtx) -> Result<(), ConnError> {
    let mut challenge: Option<[u8; 8]> = None;
    while let Some(message) = read_der_message(conn).await? {
        let Some(request) = parse_ts_request(&message) else {
            ctx.set_end_reason(EndReason::ProtocolError);
            return Ok(());
        };
        let version = request.version.clamp(2, CREDSSP_VERSION);
        let Some(token) = request.nego_token else {
            ctx.set_end_reason(EndReason::ProtocolError);
            return Ok(());
        };
        match ntlm::parse_client_message(&token) {
            Some(ClientMessage::Negotiate(negotiate)) => {
                let server_challenge = super::super::random_bytes::<8>();
                challenge = Some(server_challenge);
                let identity = ServerIdentity::from_hostname(ctx.hostname());
                let reply = ntlm::challenge_message(
                    negotiate,
                    server_challenge,
                    &identity,
                    ntlm::filetime_now(),
                );
                conn.write_all(&ts_request_with_token(version, &reply))
                    .await?;
            }
            Some(ClientMessage::Authenticate(auth)) => {
                ntlm::record_authenticate(ctx, &auth, challenge).await;
                if version >= 3 {
                    conn.write_all(&ts_request_error(version, STATUS_LOGON_FAILURE))
                        .await?;
                }
                ctx.set_end_reason(EndReason::MaxAttempts);
                return Ok(());
            }
            None => {
                ctx.set_end_reason(EndReason::ProtocolError);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One DER-encoded message from the TLS stream (CredSSP sends one TSRequest per write):
/// the SEQUENCE header is read first so exactly one message is consumed.
async fn read_der_message(conn: &mut Conn) -> Result<Option<Vec<u8>>, ConnError> {
    let Some(first) = conn.read_at_most(2).await? else {
        return Ok(None);
    };
    let mut header = first;
    if header.len() < 2 {
        header.extend_from_slice(&conn.read_exact_bytes(2 - header.len()).await?);
    }
    if header[0] != 0x30 {
        return Err(ConnError::Protocol("CredSSP: not a DER SEQUENCE".into()));
    }
    let length = match header[1] {
        short @ 0..=0x7f => usize::from(short),
        0x81 => usize::from(conn.read_exact_bytes(1).await?[0]),
        0x82 => {
            let bytes = conn.read_exact_bytes(2).await?;
            usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))
        }
        _ => return Err(ConnError::Protocol("CredSSP: length too large".into())),
    };
    if length > MAX_TS_REQUEST {
        return Err(ConnError::Protocol("CredSSP: message too large".into()));
    }
    Ok(Some(conn.read_exact_bytes(length).await?))
}

/// The parts of a TSRequest (MS-CSSP 2.2.1) the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TsRequest {
    version: u32,
    /// The first `negoTokens[0].negoToken`.
    nego_token: Option<Vec<u8>>,
}

/// Parses the contents of a TSRequest SEQUENCE (without its own header).
fn parse_ts_request(body: &[u8]) -> Option<TsRequest> {
    let mut request = TsRequest {
        version: 2,
        nego_token: None,
    };
    let mut rest = body;
    while !rest.is_empty() {
        let (tag, value, next) = der_tlv(rest)?;
        match tag {
            0xA0 => {
                let (_, integer, _) = der_tlv(value)?;
                request.version = integer
                    .iter()
                    .take(4)
                    .fold(0u32, |acc, &byte| (acc << 8) | u32::from(byte));
            }
            0xA1 => request.nego_token = first_nego_token(value),
            _ => {}
        }
        rest = next;
    }
    Some(request)
}

/// `[1] NegoData ::= SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }` → first token.
fn first_nego_token(value: &[u8]) -> Option<Vec<u8>> {
    let (_, sequence_of, _) = der_tlv(value)?;
    let (_, nego_data, _) = der_tlv(sequence_of)?;
    let (tag, explicit, _) = der_tlv(nego_data)?;
    if tag != 0xA0 {
        return None;
    }
    let (tag, octets, _) = der_tlv(explicit)?;
    (tag == 0x04).then(|| octets.to_vec())
}

/// Splits one DER TLV (definite lengths up to 4 bytes): (tag, value, rest).
pub(super) fn der_tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let length = bytes
            .get(2..2 + count)?
            .iter()
            .fold(0usize, |acc, &byte| (acc << 8) | usize::from(byte));
        (length, 2 + count)
    };
    let end = header.checked_add(length)?;
    Some((tag, bytes.get(header..end)?, bytes.get(end..)?))
}

pub(super) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else if length <= 0xff {
        out.extend_from_slice(&[0x81, length as u8]);
    } else {
        let length = u16::try_from(length).unwrap_or(u16::MAX);
        out.push(0x82);
        out.extend_from_slice(&length.to_be_bytes());
    }
    out.extend_from_slice(content);
    out
}

/// An INTEGER in minimal two's-complement form. NTSTATUS codes such as
/// `STATUS_LOGON_FAILURE` go out as the negative 32-bit number Windows sends (4 bytes,
/// `C0 00 00 6D`): FreeRDP reads no integer longer than 4 bytes.
fn der_integer(value: i32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 3 {
        let (byte, next) = (bytes[start], bytes[start + 1]);
        let redundant = (byte == 0 && next & 0x80 == 0) || (byte == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    der(0x02, &bytes[start..])
}

/// TSRequest { version, negoTokens: [ { negoToken } ] }.
fn ts_request_with_token(version: u32, token: &[u8]) -> Vec<u8> {
    let nego_data = der(0x30, &der(0x30, &der(0xA0, &der(0x04, token))));
    let mut body = der(0xA0, &der_integer(i32::try_from(version).unwrap_or(6)));
    body.extend_from_slice(&der(0xA1, &nego_data));
    der(0x30, &body)
}

/// TSRequest { version, errorCode } (CredSSP version 3 and later).
fn ts_request_error(version: u32, code: i32) -> Vec<u8> {
    let mut body = der(0xA0, &der_integer(i32::try_from(version).unwrap_or(6)));
    body.extend_from_slice(&der(0xA4, &der_integer(code)));
    der(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_requests_round_trip() {
        let token = vec![0x41; 300];
        let encoded = ts_request_with_token(6, &token);
        let (tag, body, rest) = der_tlv(&encoded).unwrap_or((0, &[], &[]));
        assert_eq!((tag, rest.len()), (0x30, 0));
        let parsed = parse_ts_request(body);
        assert_eq!(
            parsed,
            Some(TsRequest {
                version: 6,
                nego_token: Some(token),
            })
        );
        let error = ts_request_error(6, STATUS_LOGON_FAILURE);
        let (_, body, _) = der_tlv(&error).unwrap_or((0, &[], &[]));
        let (tag, code, _) =
            der_tlv(der_tlv(body).map(|t| t.2).unwrap_or_default()).unwrap_or((0, &[], &[]));
        assert_eq!(tag, 0xA4);
        assert_eq!(
            der_tlv(code).map(|t| t.1.to_vec()),
            Some(vec![0xC0, 0, 0, 0x6D])
        );
        assert_eq!(der_integer(6), vec![2, 1, 6]);
        assert_eq!(der_integer(128), vec![2, 2, 0, 128]);
        assert_eq!(der_integer(-1), vec![2, 1, 0xff]);
    }

    proptest::proptest! {
        #[test]
        fn hostile_ts_requests_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_ts_request(&bytes);
            let _ = der_tlv(&bytes);
        }
    }
}
