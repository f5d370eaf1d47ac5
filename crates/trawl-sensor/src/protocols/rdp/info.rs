//! The Client Info PDU (MS-RDPBCGR 2.2.1.11) that carries the logon credentials of a
//! client using TLS (or standard RDP) security, and the server PDUs that end such a
//! session as a failed logon: a Save Session Info PDU with `LOGON_FAILED_BAD_PASSWORD`
//! (2.2.10.1) then a Disconnect Provider Ultimatum.

use super::mcs::{self, le16, le32, utf16_until_nul};

/// Security header flag: this is the Client Info PDU.
const SEC_INFO_PKT: u16 = 0x0040;
/// Security header flag: the payload is RC4-encrypted (standard RDP security).
const SEC_ENCRYPT: u16 = 0x0008;
/// `TS_INFO_PACKET.flags`: the strings are UTF-16LE (else ANSI in `CodePage`).
pub(super) const INFO_UNICODE: u32 = 0x0000_0010;
/// `TS_INFO_PACKET.flags`: the client asks to be logged on with the sent password.
pub(super) const INFO_AUTOLOGON: u32 = 0x0000_0008;
/// Longest string field kept (the spec allows 512 bytes for the longest).
const MAX_FIELD: usize = 1024;

/// What a Send Data Request on the I/O channel turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SecurityPdu {
    /// A readable Client Info PDU.
    Info(ClientInfo),
    /// A Client Info PDU encrypted with standard RDP security (not readable here).
    EncryptedInfo,
    /// Something else (e.g. a licensing or auto-detect PDU).
    Other,
}

/// The logon fields of `TS_INFO_PACKET`, as raw bytes (UTF-16 decoded to UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ClientInfo {
    pub code_page: u32,
    pub flags: u32,
    pub domain: Vec<u8>,
    pub user: Vec<u8>,
    pub password: Vec<u8>,
    pub alternate_shell: Vec<u8>,
    pub working_dir: Vec<u8>,
    /// `TS_EXTENDED_INFO_PACKET.clientAddress` (RDP 5+ clients), when present.
    pub client_address: Option<Vec<u8>>,
    /// `TS_EXTENDED_INFO_PACKET.clientDir` (the client binary's path), when present.
    pub client_dir: Option<Vec<u8>>,
}

/// Classifies the user data of a Send Data Request (basic security header first).
pub(super) fn parse_security_pdu(data: &[u8]) -> Option<SecurityPdu> {
    let flags = le16(data, 0)?;
    if flags & SEC_INFO_PKT == 0 {
        return Some(SecurityPdu::Other);
    }
    if flags & SEC_ENCRYPT != 0 {
        return Some(SecurityPdu::EncryptedInfo);
    }
    parse_info_packet(data.get(4..)?).map(SecurityPdu::Info)
}

/// `TS_INFO_PACKET`: code page, flags, five sizes, then the five strings, each followed
/// by a terminator the size does not count (two bytes in Unicode, one in ANSI).
fn parse_info_packet(packet: &[u8]) -> Option<ClientInfo> {
    let code_page = le32(packet, 0)?;
    let flags = le32(packet, 4)?;
    let unicode = flags & INFO_UNICODE != 0;
    let mut sizes = [0usize; 5];
    for (index, size) in sizes.iter_mut().enumerate() {
        *size = usize::from(le16(packet, 8 + index * 2)?);
    }
    let mut reader = FieldReader {
        rest: packet.get(18..)?,
        unicode,
    };
    let [domain, user, password, alternate_shell, working_dir] = sizes;
    let mut info = ClientInfo {
        code_page,
        flags,
        domain: reader.terminated(domain)?,
        user: reader.terminated(user)?,
        password: reader.terminated(password)?,
        alternate_shell: reader.terminated(alternate_shell)?,
        working_dir: reader.terminated(working_dir)?,
        ..ClientInfo::default()
    };
    // Optional: clients before RDP 5 end here, and a cut-short tail loses only these.
    let _ = reader.extended(&mut info);
    Some(info)
}

/// Reads the consecutive string fields of the info packet.
struct FieldReader<'a> {
    rest: &'a [u8],
    unicode: bool,
}

impl FieldReader<'_> {
    /// A field of `size` bytes plus its terminator.
    fn terminated(&mut self, size: usize) -> Option<Vec<u8>> {
        let terminator = if self.unicode { 2 } else { 1 };
        let value = self.rest.get(..size)?;
        self.rest = self.rest.get(size + terminator..)?;
        Some(self.decode(value))
    }

    /// A field of `size` bytes whose terminator is included in the size.
    fn counted(&mut self, size: usize) -> Option<Vec<u8>> {
        let value = self.rest.get(..size)?;
        self.rest = self.rest.get(size..)?;
        Some(self.decode(value))
    }

    fn u16(&mut self) -> Option<usize> {
        let value = le16(self.rest, 0)?;
        self.rest = self.rest.get(2..)?;
        Some(usize::from(value))
    }

    /// `TS_EXTENDED_INFO_PACKET`: address family, client address, client directory.
    fn extended(&mut self, info: &mut ClientInfo) -> Option<()> {
        let _family = self.u16()?;
        let address_size = self.u16()?;
        info.client_address = Some(self.counted(address_size)?).filter(|a| !a.is_empty());
        let dir_size = self.u16()?;
        info.client_dir = Some(self.counted(dir_size)?).filter(|dir| !dir.is_empty());
        Some(())
    }

    fn decode(&self, value: &[u8]) -> Vec<u8> {
        let value = value.get(..MAX_FIELD.min(value.len())).unwrap_or_default();
        if self.unicode {
            return utf16_until_nul(value).into_bytes();
        }
        let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
        value.get(..end).unwrap_or_default().to_vec()
    }
}

/// `PDUTYPE_DATAPDU` with protocol version 1 in the high bits.
const PDUTYPE_DATAPDU: u16 = 0x0017;
const PDUTYPE2_SAVE_SESSION_INFO: u8 = 0x26;
/// Share id Windows hands out (0x000103EA: 0x10000 + the server channel).
const SHARE_ID: u32 = 0x0001_03EA;
const SERVER_CHANNEL: u16 = 1002;
const INFOTYPE_LOGON_EXTENDED_INFO: u32 = 3;
const LOGON_EX_LOGONERRORS: u32 = 0x2;
/// `TS_LOGON_ERRORS_INFO.ErrorNotificationType`: the session ends.
const LOGON_MSG_SESSION_TERMINATE: u32 = 0xFFFF_FFFD;
/// `TS_LOGON_ERRORS_INFO.ErrorNotificationData`: Winlogon refused a bad password.
const LOGON_FAILED_BAD_PASSWORD: u32 = 0;
/// `TS_LOGON_INFO_EXTENDED` ends with 570 bytes of padding.
const LOGON_EXTENDED_PADDING: usize = 570;

/// The server's answer to a Client Info PDU: "bad password", then the disconnect.
pub(super) fn logon_failure() -> Vec<u8> {
    let mut out = mcs::send_data_indication(mcs::IO_CHANNEL, &save_session_info_bad_password());
    out.extend_from_slice(&mcs::disconnect_ultimatum());
    out
}

/// Save Session Info PDU with the logon error `LOGON_FAILED_BAD_PASSWORD`. TLS security
/// means no security header on this data PDU.
fn save_session_info_bad_password() -> Vec<u8> {
    let mut errors = Vec::new();
    errors.extend_from_slice(&8u32.to_le_bytes());
    errors.extend_from_slice(&LOGON_MSG_SESSION_TERMINATE.to_le_bytes());
    errors.extend_from_slice(&LOGON_FAILED_BAD_PASSWORD.to_le_bytes());
    let mut payload = INFOTYPE_LOGON_EXTENDED_INFO.to_le_bytes().to_vec();
    let length = u16::try_from(2 + 4 + errors.len()).unwrap_or(0);
    payload.extend_from_slice(&length.to_le_bytes());
    payload.extend_from_slice(&LOGON_EX_LOGONERRORS.to_le_bytes());
    payload.extend_from_slice(&errors);
    payload.resize(payload.len() + LOGON_EXTENDED_PADDING, 0);
    share_data_pdu(PDUTYPE2_SAVE_SESSION_INFO, &payload)
}

/// Share Control Header + Share Data Header (MS-RDPBCGR 2.2.8.1.1.1) around `payload`.
fn share_data_pdu(pdu_type2: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(18 + payload.len()).unwrap_or(u16::MAX);
    let uncompressed = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(usize::from(total));
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&PDUTYPE_DATAPDU.to_le_bytes());
    out.extend_from_slice(&SERVER_CHANNEL.to_le_bytes());
    out.extend_from_slice(&SHARE_ID.to_le_bytes());
    out.extend_from_slice(&[0, 1]); // pad, STREAM_LOW
    out.extend_from_slice(&uncompressed.to_le_bytes());
    out.extend_from_slice(&[pdu_type2, 0, 0, 0]); // no compression
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16z(text: &str) -> Vec<u8> {
        let mut out: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        out.extend_from_slice(&[0, 0]);
        out
    }

    /// A Client Info PDU as FreeRDP sends it over TLS (Unicode, with extended info).
    fn info_pdu(domain: &str, user: &str, password: &str) -> Vec<u8> {
        let fields = [domain, user, password, "", ""];
        let mut pdu = vec![0x40, 0x00, 0x00, 0x00];
        pdu.extend_from_slice(&0u32.to_le_bytes());
        pdu.extend_from_slice(&(INFO_UNICODE | INFO_AUTOLOGON).to_le_bytes());
        for field in fields {
            let size = (utf16z(field).len() - 2) as u16;
            pdu.extend_from_slice(&size.to_le_bytes());
        }
        for field in fields {
            pdu.extend_from_slice(&utf16z(field));
        }
        let address = utf16z("10.0.0.5");
        pdu.extend_from_slice(&2u16.to_le_bytes());
        pdu.extend_from_slice(&(address.len() as u16).to_le_bytes());
        pdu.extend_from_slice(&address);
        let dir = utf16z("C:\\Windows\\System32\\mstscax.dll");
        pdu.extend_from_slice(&(dir.len() as u16).to_le_bytes());
        pdu.extend_from_slice(&dir);
        pdu.extend_from_slice(&[0; 180]);
        pdu
    }

    #[test]
    fn unicode_client_info_gives_credentials() {
        let parsed = parse_security_pdu(&info_pdu("CORP", "bob", "Pässw0rd"));
        let Some(SecurityPdu::Info(info)) = parsed else {
            panic!("not parsed: {parsed:?}");
        };
        assert_eq!(info.domain, b"CORP");
        assert_eq!(info.user, b"bob");
        assert_eq!(info.password, "Pässw0rd".as_bytes());
        assert_eq!(info.alternate_shell, b"");
        assert_eq!(info.client_address.as_deref(), Some(&b"10.0.0.5"[..]));
        assert_eq!(
            info.client_dir.as_deref(),
            Some(&b"C:\\Windows\\System32\\mstscax.dll"[..])
        );
        assert_ne!(info.flags & INFO_AUTOLOGON, 0);
    }

    #[test]
    fn ansi_client_info_and_other_pdus() {
        let mut pdu = vec![0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for size in [0u16, 4, 2, 0, 0] {
            pdu.extend_from_slice(&size.to_le_bytes());
        }
        pdu.extend_from_slice(b"\0root\0pw\0\0\0");
        let Some(SecurityPdu::Info(info)) = parse_security_pdu(&pdu) else {
            panic!("ANSI info not parsed");
        };
        assert_eq!(
            (info.user, info.password),
            (b"root".to_vec(), b"pw".to_vec())
        );
        assert_eq!(info.client_address, None);
        assert_eq!(
            parse_security_pdu(&[0x48, 0, 0, 0, 1, 2]),
            Some(SecurityPdu::EncryptedInfo)
        );
        assert_eq!(
            parse_security_pdu(&[0x80, 0, 0, 0]),
            Some(SecurityPdu::Other)
        );
        assert_eq!(parse_security_pdu(&[0x40]), None);
    }

    #[test]
    fn truncated_client_info_is_refused_not_misread() {
        let whole = info_pdu("CORP", "alice", "Secret1");
        // 4-byte security header + 18 fixed bytes + the five strings with terminators.
        let mandatory = 4 + 18 + (8 + 2) + (10 + 2) + (14 + 2) + 2 + 2;
        for cut in 0..whole.len() {
            let parsed = parse_security_pdu(&whole[..cut]);
            assert_eq!(parsed.is_some(), cut >= mandatory, "cut at {cut}");
        }
        let mut oversized = whole.clone();
        oversized[14..16].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(parse_security_pdu(&oversized), None);
    }

    #[test]
    fn logon_failure_is_a_save_session_info_then_a_disconnect() {
        let bytes = logon_failure();
        let first = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        let (indication, ultimatum) = bytes.split_at(first);
        assert_eq!(ultimatum, mcs::disconnect_ultimatum().as_slice());
        let data = &indication[indication.len() - 610..];
        assert_eq!(le16(data, 0), Some(610));
        assert_eq!(le16(data, 2), Some(PDUTYPE_DATAPDU));
        assert_eq!(data[14], PDUTYPE2_SAVE_SESSION_INFO);
        assert_eq!(le32(data, 18), Some(INFOTYPE_LOGON_EXTENDED_INFO));
        assert_eq!(le16(data, 22), Some(18));
        assert_eq!(le32(data, 28), Some(8));
        assert_eq!(le32(data, 32), Some(LOGON_MSG_SESSION_TERMINATE));
    }

    proptest::proptest! {
        #[test]
        fn hostile_info_pdus_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let _ = parse_security_pdu(&bytes);
            let mut forced = vec![0x40, 0, 0, 0];
            forced.extend_from_slice(&bytes);
            let _ = parse_security_pdu(&forced);
        }
    }
}
