//! NTLM (MS-NLMP) from the server's side, kept to what a honeypot needs: read the
//! client's NEGOTIATE, answer with a CHALLENGE that looks like a Windows Server 2019
//! domain member, and turn the client's AUTHENTICATE into a crackable line — NetNTLMv2
//! for hashcat mode 5600 / John `netntlmv2`, NetNTLMv1 for mode 5500 / John `netntlm`.
//!
//! Used by HTTP (`Authorization: NTLM`); RDP's CredSSP and MSSQL carry the same messages.
//! Hand-written because the NTLM crates (sspi, ntlmclient) are clients or full SSPI
//! acceptors that verify against a known password; here the exchange itself is the
//! product, and the parsing is three fixed layouts with offset/length fields, every one
//! of which is bounds-checked (hostile input returns `None`, never panics).

use std::fmt::Write as _;

use serde_json::json;
use trawl_event::{Credential, Mechanism, display_bytes};

use crate::session::SessionCtx;

/// `NTLMSSP\0`.
const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
const NEGOTIATE_OEM: u32 = 0x0000_0002;
const REQUEST_TARGET: u32 = 0x0000_0004;
const NEGOTIATE_SIGN: u32 = 0x0000_0010;
const NEGOTIATE_SEAL: u32 = 0x0000_0020;
const NEGOTIATE_NTLM: u32 = 0x0000_0200;
const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
const NEGOTIATE_VERSION: u32 = 0x0200_0000;
const NEGOTIATE_128: u32 = 0x2000_0000;
const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
const NEGOTIATE_56: u32 = 0x8000_0000;

/// Flags echoed from the client's NEGOTIATE when it asks for them.
const ECHOED: u32 = NEGOTIATE_UNICODE
    | NEGOTIATE_SIGN
    | NEGOTIATE_SEAL
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_128
    | NEGOTIATE_KEY_EXCH
    | NEGOTIATE_56;

/// Windows Server 2019 (10.0, build 17763), NTLM revision 15.
const VERSION: [u8; 8] = [10, 0, 0x63, 0x45, 0, 0, 0, 15];

/// Names the server claims in its CHALLENGE (target info AV pairs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// NetBIOS domain, e.g. `CORP`.
    pub netbios_domain: String,
    /// NetBIOS computer name, e.g. `MAIL01`.
    pub netbios_computer: String,
    /// DNS domain, e.g. `corp.local`.
    pub dns_domain: String,
}

impl ServerIdentity {
    /// Derives the names from a host name like `mail01.corp.local` (or `mail01`).
    pub fn from_hostname(hostname: &str) -> Self {
        let (host, domain) = hostname.split_once('.').unwrap_or((hostname, "local"));
        let first = domain.split('.').next().unwrap_or("WORKGROUP");
        let netbios = |name: &str| -> String {
            name.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(15)
                .collect::<String>()
                .to_ascii_uppercase()
        };
        ServerIdentity {
            netbios_domain: netbios(first),
            netbios_computer: netbios(host),
            dns_domain: domain.to_ascii_lowercase(),
        }
    }

    fn dns_computer(&self) -> String {
        format!(
            "{}.{}",
            self.netbios_computer.to_ascii_lowercase(),
            self.dns_domain
        )
    }
}

/// What the client's NEGOTIATE (type 1) asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiate {
    /// The client's flags.
    pub flags: u32,
}

/// The client's AUTHENTICATE (type 3), decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// User name as sent (UTF-16LE decoded to UTF-8 when the client negotiated Unicode).
    pub user: Vec<u8>,
    /// Domain as sent.
    pub domain: Vec<u8>,
    /// Client computer name as sent.
    pub workstation: Vec<u8>,
    /// LmChallengeResponse.
    pub lm_response: Vec<u8>,
    /// NtChallengeResponse (24 bytes for NTLMv1, longer for NTLMv2, empty for anonymous).
    pub nt_response: Vec<u8>,
}

/// A decoded NTLM message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// Type 1.
    Negotiate(Negotiate),
    /// Type 3.
    Authenticate(Authenticate),
}

/// Reads a client message (type 1 or 3); `None` for anything else or anything malformed.
pub fn parse_client_message(bytes: &[u8]) -> Option<ClientMessage> {
    if bytes.get(..8)? != SIGNATURE {
        return None;
    }
    match u32_at(bytes, 8)? {
        1 => Some(ClientMessage::Negotiate(Negotiate {
            flags: u32_at(bytes, 12)?,
        })),
        3 => parse_authenticate(bytes).map(ClientMessage::Authenticate),
        _ => None,
    }
}

fn parse_authenticate(bytes: &[u8]) -> Option<Authenticate> {
    let flags = u32_at(bytes, 60).unwrap_or(NEGOTIATE_UNICODE);
    let text = |offset: usize| -> Option<Vec<u8>> {
        let raw = field(bytes, offset)?;
        Some(if flags & NEGOTIATE_UNICODE != 0 {
            utf16le_to_utf8(raw)
        } else {
            raw.to_vec()
        })
    };
    Some(Authenticate {
        lm_response: field(bytes, 12)?.to_vec(),
        nt_response: field(bytes, 20)?.to_vec(),
        domain: text(28)?,
        user: text(36)?,
        workstation: text(44)?,
    })
}

/// A `len u16, maxlen u16, offset u32` field descriptor at `at`, resolved in `bytes`.
fn field(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let len = usize::from(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let offset = usize::try_from(u32_at(bytes, at + 4)?).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    bytes.get(offset..offset.checked_add(len)?)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// UTF-16LE to UTF-8; unpaired surrogates become U+FFFD, an odd last byte is dropped.
fn utf16le_to_utf8(raw: &[u8]) -> Vec<u8> {
    let units = raw
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect::<String>()
        .into_bytes()
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Builds the CHALLENGE (type 2) answering `negotiate`, with `server_challenge` and the
/// time as a Windows FILETIME (100 ns since 1601) in the target info.
pub fn challenge_message(
    negotiate: Negotiate,
    server_challenge: [u8; 8],
    identity: &ServerIdentity,
    filetime: u64,
) -> Vec<u8> {
    let mut flags = (negotiate.flags & ECHOED)
        | REQUEST_TARGET
        | NEGOTIATE_NTLM
        | TARGET_TYPE_DOMAIN
        | NEGOTIATE_TARGET_INFO
        | NEGOTIATE_VERSION;
    if flags & NEGOTIATE_UNICODE == 0 {
        flags |= NEGOTIATE_OEM;
    }
    let target_name = if flags & NEGOTIATE_UNICODE != 0 {
        utf16le(&identity.netbios_domain)
    } else {
        identity.netbios_domain.as_bytes().to_vec()
    };
    let target_info = target_info(identity, filetime);
    const HEADER: usize = 56;
    let info_offset = HEADER + target_name.len();
    let mut message = Vec::with_capacity(info_offset + target_info.len());
    message.extend_from_slice(SIGNATURE);
    message.extend_from_slice(&2u32.to_le_bytes());
    push_field(&mut message, target_name.len(), HEADER);
    message.extend_from_slice(&flags.to_le_bytes());
    message.extend_from_slice(&server_challenge);
    message.extend_from_slice(&[0; 8]);
    push_field(&mut message, target_info.len(), info_offset);
    message.extend_from_slice(&VERSION);
    message.extend_from_slice(&target_name);
    message.extend_from_slice(&target_info);
    message
}

fn push_field(message: &mut Vec<u8>, len: usize, offset: usize) {
    let len = u16::try_from(len).unwrap_or(u16::MAX);
    message.extend_from_slice(&len.to_le_bytes());
    message.extend_from_slice(&len.to_le_bytes());
    message.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
}

/// AV pairs: NetBIOS domain/computer, DNS computer/domain/tree, timestamp, end.
fn target_info(identity: &ServerIdentity, filetime: u64) -> Vec<u8> {
    let mut info = Vec::new();
    let mut pair = |id: u16, value: &[u8]| {
        info.extend_from_slice(&id.to_le_bytes());
        let len = u16::try_from(value.len()).unwrap_or(0);
        info.extend_from_slice(&len.to_le_bytes());
        info.extend_from_slice(&value[..usize::from(len)]);
    };
    pair(2, &utf16le(&identity.netbios_domain));
    pair(1, &utf16le(&identity.netbios_computer));
    pair(4, &utf16le(&identity.dns_domain));
    pair(3, &utf16le(&identity.dns_computer()));
    pair(5, &utf16le(&identity.dns_domain));
    pair(7, &filetime.to_le_bytes());
    pair(0, &[]);
    info
}

/// Now as a Windows FILETIME.
pub fn filetime_now() -> u64 {
    const UNIX_EPOCH_AS_FILETIME: u64 = 116_444_736_000_000_000;
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ticks = u64::try_from(since_unix.as_nanos() / 100).unwrap_or(0);
    UNIX_EPOCH_AS_FILETIME + ticks
}

/// The crackable form of an AUTHENTICATE answered to `server_challenge`:
/// NetNTLMv2 `user::domain:challenge:ntproofstr:blob` (hashcat 5600) when the NT
/// response is longer than 24 bytes, NetNTLMv1 `user::domain:lm:nt:challenge` (hashcat
/// 5500) when it is 24 bytes; `None` for anonymous or malformed responses.
pub fn crackable_hash(auth: &Authenticate, server_challenge: [u8; 8]) -> Option<String> {
    let user = String::from_utf8_lossy(&auth.user);
    let domain = String::from_utf8_lossy(&auth.domain);
    if user.contains(':') || domain.contains(':') {
        return None;
    }
    let challenge = hex(&server_challenge);
    match auth.nt_response.len() {
        24 => Some(format!(
            "{user}::{domain}:{}:{}:{challenge}",
            hex(&auth.lm_response),
            hex(&auth.nt_response)
        )),
        len if len > 24 => {
            let (proof, blob) = auth.nt_response.split_at(16);
            Some(format!(
                "{user}::{domain}:{challenge}:{}:{}",
                hex(proof),
                hex(blob)
            ))
        }
        _ => None,
    }
}

/// Records a client's AUTHENTICATE as one attempt: the user name, no password, the
/// crackable line (when the challenge it answers is known) in `password_hash`, and the
/// domain and workstation in `auxiliary_data.ntlm`. Shared by every protocol carrying NTLM.
pub async fn record_authenticate(
    ctx: &mut SessionCtx,
    auth: &Authenticate,
    server_challenge: Option<[u8; 8]>,
) {
    let mut credential = Credential::new(auth.user.clone(), Vec::new(), Mechanism::Ntlm);
    credential.password_hash = server_challenge.and_then(|c| crackable_hash(auth, c));
    ctx.push_aux(
        "ntlm",
        json!({
            "domain": display_bytes(&auth.domain),
            "workstation": display_bytes(&auth.workstation),
            "nt_response_bytes": auth.nt_response.len(),
        }),
    );
    ctx.record_auth(credential).await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NEGOTIATE as curl 7.88 sends it (flags 0xa2088207 with OEM domain fields empty).
    fn negotiate_bytes(flags: u32) -> Vec<u8> {
        let mut message = SIGNATURE.to_vec();
        message.extend_from_slice(&1u32.to_le_bytes());
        message.extend_from_slice(&flags.to_le_bytes());
        message.extend_from_slice(&[0; 16]);
        message
    }

    fn authenticate_bytes(user: &str, domain: &str, nt: &[u8], lm: &[u8]) -> Vec<u8> {
        let fields: [Vec<u8>; 5] = [
            lm.to_vec(),
            nt.to_vec(),
            utf16le(domain),
            utf16le(user),
            utf16le("WKS"),
        ];
        let mut message = SIGNATURE.to_vec();
        message.extend_from_slice(&3u32.to_le_bytes());
        let mut offset = 64;
        let mut payload = Vec::new();
        for value in &fields {
            push_field(&mut message, value.len(), offset);
            offset += value.len();
            payload.extend_from_slice(value);
        }
        push_field(&mut message, 0, offset);
        message.extend_from_slice(&(NEGOTIATE_UNICODE | NEGOTIATE_NTLM).to_le_bytes());
        message.extend_from_slice(&payload);
        message
    }

    #[test]
    fn negotiate_is_answered_with_a_parseable_challenge() {
        let Some(ClientMessage::Negotiate(negotiate)) =
            parse_client_message(&negotiate_bytes(0xa208_8207))
        else {
            panic!("negotiate not parsed");
        };
        let identity = ServerIdentity::from_hostname("mail01.corp.local");
        assert_eq!(identity.netbios_domain, "CORP");
        let message = challenge_message(negotiate, [1, 2, 3, 4, 5, 6, 7, 8], &identity, 42);
        assert_eq!(&message[..8], SIGNATURE);
        assert_eq!(u32_at(&message, 8), Some(2));
        assert_eq!(&message[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let flags = u32_at(&message, 20).unwrap_or(0);
        assert_ne!(flags & NEGOTIATE_UNICODE, 0);
        assert_ne!(flags & NEGOTIATE_TARGET_INFO, 0);
        assert_eq!(field(&message, 12), Some(&utf16le("CORP")[..]));
        let info = field(&message, 40).unwrap_or_default();
        assert!(info.ends_with(&[0, 0, 0, 0]), "ends with MsvAvEOL");
    }

    #[test]
    fn ntlmv2_and_v1_become_hashcat_lines() {
        let nt: Vec<u8> = (0..40).collect();
        let message = authenticate_bytes("Administrator", "CORP", &nt, &[0; 24]);
        let Some(ClientMessage::Authenticate(auth)) = parse_client_message(&message) else {
            panic!("authenticate not parsed");
        };
        assert_eq!(auth.user, b"Administrator");
        assert_eq!(auth.workstation, b"WKS");
        let line = crackable_hash(&auth, [0xaa; 8]).unwrap_or_default();
        assert_eq!(
            line,
            format!(
                "Administrator::CORP:aaaaaaaaaaaaaaaa:{}:{}",
                hex(&nt[..16]),
                hex(&nt[16..])
            )
        );
        let v1 = authenticate_bytes("bob", "", &[7; 24], &[9; 24]);
        let Some(ClientMessage::Authenticate(auth)) = parse_client_message(&v1) else {
            panic!("v1 not parsed");
        };
        assert_eq!(
            crackable_hash(&auth, [0xbb; 8]).unwrap_or_default(),
            format!("bob:::{}:{}:bbbbbbbbbbbbbbbb", hex(&[9; 24]), hex(&[7; 24]))
        );
    }

    #[test]
    fn hostile_messages_are_refused_without_panicking() {
        assert!(parse_client_message(b"").is_none());
        assert!(parse_client_message(b"NTLMSSP\0\x03\0\0\0").is_none());
        let mut bad = authenticate_bytes("u", "d", &[1; 30], &[]);
        bad[20..24].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(parse_client_message(&bad).is_none());
        for cut in 0..bad.len() {
            let _ = parse_client_message(&bad[..cut]);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_after_the_signature_never_panic(
            kind in 0u32..5,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            let mut message = SIGNATURE.to_vec();
            message.extend_from_slice(&kind.to_le_bytes());
            message.extend_from_slice(&body);
            if let Some(ClientMessage::Authenticate(auth)) = parse_client_message(&message) {
                let _ = crackable_hash(&auth, [0; 8]);
            }
        }
    }
}
