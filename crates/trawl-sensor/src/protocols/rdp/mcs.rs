//! The MCS (T.125) and GCC (T.124) PDUs of the RDP connection sequence
//! (MS-RDPBCGR 1.3.1.1, 2.2.1.3–2.2.1.9), as far as a TLS-security client goes before it
//! sends its Client Info PDU: Connect Initial (with the client data blocks) → Connect
//! Response (server core, security and network data), Erect Domain, Attach User →
//! Attach User Confirm, Channel Join → Channel Join Confirm, Send Data Request /
//! Indication, Disconnect Provider Ultimatum.
//!
//! Every PDU here has one fixed shape in every client (FreeRDP, mstsc, rdesktop), so the
//! BER/PER framing is written out field by field; every length is checked against the
//! bytes actually present.

use super::credssp::{der, der_tlv};

/// The MCS I/O channel (every server uses 1003).
pub(super) const IO_CHANNEL: u16 = 1003;
/// The server's own MCS user (initiator of its Send Data Indications).
const SERVER_CHANNEL: u16 = 1002;
/// PER-encoded channel and user ids are offsets from 1001 (T.125 `UserId`).
const MCS_BASE_CHANNEL: u16 = 1001;
/// Most static virtual channels a client may request (MS-RDPBCGR 2.2.1.3.4).
pub(super) const MAX_STATIC_CHANNELS: usize = 31;

const CS_CORE: u16 = 0xC001;
const CS_NET: u16 = 0xC003;
const SC_CORE: u16 = 0x0C01;
const SC_SECURITY: u16 = 0x0C02;
const SC_NET: u16 = 0x0C03;
/// RDP 5.0+ server (what Windows Server 2019 reports is 0x00080004 as well).
const RDP_VERSION_5_PLUS: u32 = 0x0008_0004;

/// T.124 `ConnectData` prefix: choice 0, object identifier { 0 0 20 124 0 1 }.
const T124_PREFIX: [u8; 7] = [0x00, 0x05, 0x00, 0x14, 0x7C, 0x00, 0x01];
/// H.221 non-standard key the client puts before its data blocks.
const CLIENT_H221_KEY: &[u8; 4] = b"Duca";
/// How far after the `ConnectData` length the client key may start (FreeRDP: 8 bytes).
const CLIENT_KEY_WINDOW: usize = 24;

/// What the client said about itself in the GCC Conference Create Request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct ClientData {
    /// Client Core Data (`CS_CORE`), when present and long enough.
    pub core: Option<ClientCore>,
    /// Names of the static virtual channels it asked for (`CS_NET`), at most 31.
    pub channels: Vec<String>,
}

/// The useful fields of Client Core Data (MS-RDPBCGR 2.2.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientCore {
    pub version: u32,
    pub desktop_width: u16,
    pub desktop_height: u16,
    pub keyboard_layout: u32,
    pub client_build: u32,
    pub client_name: String,
    pub keyboard_type: u32,
    /// `serverSelectedProtocol` echoed back by RDP 6+ clients.
    pub server_selected_protocol: Option<u32>,
}

/// A domain MCS PDU from the client (PER, T.125 `DomainMCSPDU`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DomainPdu<'a> {
    ErectDomain,
    DisconnectUltimatum,
    AttachUser,
    ChannelJoin { channel: u16 },
    SendData { channel: u16, data: &'a [u8] },
    Other(u8),
}

/// The payload of an X.224 Data TPDU (`02 F0 80`), i.e. an MCS PDU.
pub(super) fn x224_data(tpkt_payload: &[u8]) -> Option<&[u8]> {
    match tpkt_payload {
        [0x02, 0xF0, _eot, mcs @ ..] => Some(mcs),
        _ => None,
    }
}

/// Wraps an MCS PDU in TPKT + X.224 Data.
pub(super) fn tpkt_data(mcs: &[u8]) -> Vec<u8> {
    let length = u16::try_from(mcs.len() + 7).unwrap_or(u16::MAX);
    let mut out = vec![0x03, 0x00];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[0x02, 0xF0, 0x80]);
    out.extend_from_slice(mcs);
    out
}

/// Parses an MCS Connect Initial (BER application tag 101) down to the client data.
pub(super) fn parse_connect_initial(mcs: &[u8]) -> Option<ClientData> {
    let (tag, body, _) = der_tlv(mcs.strip_prefix(&[0x7F])?)?;
    if tag != 0x65 {
        return None;
    }
    let mut rest = body;
    let mut user_data = None;
    while !rest.is_empty() {
        let (tag, value, next) = der_tlv(rest)?;
        if tag == 0x04 {
            user_data = Some(value);
        }
        rest = next;
    }
    parse_client_blocks(conference_create_request_blocks(user_data?)?)
}

/// The client data blocks inside a GCC Conference Create Request (PER).
fn conference_create_request_blocks(user_data: &[u8]) -> Option<&[u8]> {
    let rest = user_data.strip_prefix(&T124_PREFIX)?;
    let (_, used) = per_length(rest)?;
    let rest = rest.get(used..)?;
    let window = rest.get(..CLIENT_KEY_WINDOW.min(rest.len()))?;
    let key_at = window
        .windows(CLIENT_H221_KEY.len())
        .position(|four| four == CLIENT_H221_KEY)?;
    let rest = rest.get(key_at + CLIENT_H221_KEY.len()..)?;
    let (length, used) = per_length(rest)?;
    rest.get(used..used.checked_add(length)?)
}

/// Walks the `TS_UD_HEADER`-framed client data blocks.
fn parse_client_blocks(mut blocks: &[u8]) -> Option<ClientData> {
    let mut data = ClientData::default();
    while blocks.len() >= 4 {
        let kind = le16(blocks, 0)?;
        let length = usize::from(le16(blocks, 2)?);
        let block = blocks.get(..length).filter(|_| length >= 4)?;
        match kind {
            CS_CORE => data.core = parse_client_core(block),
            CS_NET => data.channels = parse_client_network(block),
            _ => {}
        }
        blocks = blocks.get(length..)?;
    }
    Some(data)
}

/// Client Core Data; offsets count from the start of the block (header included).
fn parse_client_core(block: &[u8]) -> Option<ClientCore> {
    Some(ClientCore {
        version: le32(block, 4)?,
        desktop_width: le16(block, 8)?,
        desktop_height: le16(block, 10)?,
        keyboard_layout: le32(block, 16)?,
        client_build: le32(block, 20)?,
        client_name: utf16_until_nul(block.get(24..56)?),
        keyboard_type: le32(block, 56)?,
        server_selected_protocol: le32(block, 212),
    })
}

/// Client Network Data: `channelCount` then 12-byte `CHANNEL_DEF`s (8-byte ANSI name).
fn parse_client_network(block: &[u8]) -> Vec<String> {
    let count = le32(block, 4).map_or(0, |n| n as usize);
    (0..count.min(MAX_STATIC_CHANNELS))
        .map_while(|index| block.get(8 + index * 12..8 + index * 12 + 8))
        .map(|name| {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(name.get(..end).unwrap_or_default()).into_owned()
        })
        .collect()
}

/// The MCS user id given to the client: right after its static channels
/// (1007 for the usual three, as Windows does).
pub(super) fn user_id(channel_count: usize) -> u16 {
    let count = u16::try_from(channel_count.min(MAX_STATIC_CHANNELS)).unwrap_or(0);
    IO_CHANNEL + 1 + count
}

/// The channel id assigned to static channel `index` (1004, 1005, ...).
fn static_channel_id(index: usize) -> u16 {
    IO_CHANNEL + 1 + u16::try_from(index).unwrap_or(0)
}

/// MCS Connect Response carrying the GCC Conference Create Response (full TPKT).
pub(super) fn connect_response(requested_protocols: u32, channel_count: usize) -> Vec<u8> {
    let blocks = server_data_blocks(requested_protocols, channel_count);
    let mut create_response = vec![0x14, 0x76, 0x0A, 0x01, 0x01, 0x00, 0x01, 0xC0, 0x00];
    create_response.extend_from_slice(b"McDn");
    create_response.extend_from_slice(&encode_per_length(blocks.len()));
    create_response.extend_from_slice(&blocks);
    let mut gcc = T124_PREFIX.to_vec();
    gcc.extend_from_slice(&encode_per_length(create_response.len()));
    gcc.extend_from_slice(&create_response);

    // result rt-successful, calledConnectId 0, domainParameters, userData.
    let mut body = vec![0x0A, 0x01, 0x00, 0x02, 0x01, 0x00];
    body.extend_from_slice(&domain_parameters());
    body.extend_from_slice(&der(0x04, &gcc));
    let mut mcs = vec![0x7F];
    mcs.extend_from_slice(&der(0x66, &body));
    tpkt_data(&mcs)
}

/// DomainParameters as Windows answers: 34 channels, 3 users, 0 tokens, 1 priority,
/// throughput 0, height 1, PDU size 65528, protocol version 2.
fn domain_parameters() -> Vec<u8> {
    let mut body = Vec::new();
    for value in [
        &[34u8][..],
        &[3],
        &[0],
        &[1],
        &[0],
        &[1],
        &[0x00, 0xFF, 0xF8],
        &[2],
    ] {
        body.extend_from_slice(&der(0x02, value));
    }
    der(0x30, &body)
}

/// Server Core, Security (no RDP encryption: TLS protects the link) and Network Data.
fn server_data_blocks(requested_protocols: u32, channel_count: usize) -> Vec<u8> {
    let mut core = RDP_VERSION_5_PLUS.to_le_bytes().to_vec();
    core.extend_from_slice(&requested_protocols.to_le_bytes());
    core.extend_from_slice(&0u32.to_le_bytes());
    let security = [0u8; 8];
    let count = channel_count.min(MAX_STATIC_CHANNELS);
    let mut network = IO_CHANNEL.to_le_bytes().to_vec();
    network.extend_from_slice(&u16::try_from(count).unwrap_or(0).to_le_bytes());
    for index in 0..count {
        network.extend_from_slice(&static_channel_id(index).to_le_bytes());
    }
    if count % 2 == 1 {
        network.extend_from_slice(&[0, 0]);
    }
    let mut out = Vec::new();
    for (kind, body) in [
        (SC_CORE, &core[..]),
        (SC_SECURITY, &security),
        (SC_NET, &network),
    ] {
        let length = u16::try_from(body.len() + 4).unwrap_or(u16::MAX);
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// Parses a domain MCS PDU (the X.224 payload).
pub(super) fn parse_domain_pdu(mcs: &[u8]) -> Option<DomainPdu<'_>> {
    let choice = mcs.first()? >> 2;
    Some(match choice {
        1 => DomainPdu::ErectDomain,
        8 => DomainPdu::DisconnectUltimatum,
        10 => DomainPdu::AttachUser,
        14 => DomainPdu::ChannelJoin {
            channel: be16(mcs, 3)?,
        },
        25 => {
            let channel = be16(mcs, 3)?;
            let rest = mcs.get(6..)?;
            let (length, used) = per_length(rest)?;
            let data = rest.get(used..used.checked_add(length)?)?;
            DomainPdu::SendData { channel, data }
        }
        other => DomainPdu::Other(other),
    })
}

/// Attach User Confirm (result rt-successful, initiator = the new user).
pub(super) fn attach_user_confirm(user: u16) -> Vec<u8> {
    let mut mcs = vec![0x2E, 0x00];
    mcs.extend_from_slice(&user.saturating_sub(MCS_BASE_CHANNEL).to_be_bytes());
    tpkt_data(&mcs)
}

/// Channel Join Confirm (result rt-successful) granting `channel` as asked.
pub(super) fn channel_join_confirm(user: u16, channel: u16) -> Vec<u8> {
    let mut mcs = vec![0x3E, 0x00];
    mcs.extend_from_slice(&user.saturating_sub(MCS_BASE_CHANNEL).to_be_bytes());
    mcs.extend_from_slice(&channel.to_be_bytes());
    mcs.extend_from_slice(&channel.to_be_bytes());
    tpkt_data(&mcs)
}

/// Send Data Indication from the server on `channel` (priority high, begin + end).
pub(super) fn send_data_indication(channel: u16, data: &[u8]) -> Vec<u8> {
    let mut mcs = vec![0x68];
    mcs.extend_from_slice(&(SERVER_CHANNEL - MCS_BASE_CHANNEL).to_be_bytes());
    mcs.extend_from_slice(&channel.to_be_bytes());
    mcs.push(0x70);
    mcs.extend_from_slice(&encode_per_length(data.len()));
    mcs.extend_from_slice(data);
    tpkt_data(&mcs)
}

/// Disconnect Provider Ultimatum, reason `rn-provider-initiated`.
pub(super) fn disconnect_ultimatum() -> Vec<u8> {
    tpkt_data(&[0x20, 0x80])
}

/// A PER length determinant: (length, bytes used).
fn per_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first & 0x80 == 0 {
        return Some((usize::from(first), 1));
    }
    let second = *bytes.get(1)?;
    Some((usize::from(first & 0x7F) << 8 | usize::from(second), 2))
}

fn encode_per_length(length: usize) -> Vec<u8> {
    match u8::try_from(length) {
        Ok(short) if short < 0x80 => vec![short],
        _ => {
            let long = u16::try_from(length.min(0x3FFF)).unwrap_or(0x3FFF) | 0x8000;
            long.to_be_bytes().to_vec()
        }
    }
}

pub(super) fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// UTF-16LE text up to the first NUL (unpaired surrogates become U+FFFD).
pub(super) fn utf16_until_nul(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&unit| unit != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, size: usize) -> Vec<u8> {
        let mut out: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        out.resize(size, 0);
        out
    }

    fn client_core_block() -> Vec<u8> {
        let mut block = vec![0u8; 216];
        block[..4].copy_from_slice(&[0x01, 0xC0, 216, 0]);
        block[4..8].copy_from_slice(&0x0008_0004u32.to_le_bytes());
        block[8..10].copy_from_slice(&1024u16.to_le_bytes());
        block[10..12].copy_from_slice(&768u16.to_le_bytes());
        block[16..20].copy_from_slice(&0x409u32.to_le_bytes());
        block[20..24].copy_from_slice(&2600u32.to_le_bytes());
        block[24..56].copy_from_slice(&utf16("KALI", 32));
        block[56..60].copy_from_slice(&4u32.to_le_bytes());
        block[212..216].copy_from_slice(&1u32.to_le_bytes());
        block
    }

    fn client_network_block(names: &[&[u8]]) -> Vec<u8> {
        let mut block = vec![0x03, 0xC0, 0, 0];
        block.extend_from_slice(&(names.len() as u32).to_le_bytes());
        for name in names {
            let mut field = name.to_vec();
            field.resize(8, 0);
            block.extend_from_slice(&field);
            block.extend_from_slice(&0x8000_0000u32.to_le_bytes());
        }
        let length = block.len() as u16;
        block[2..4].copy_from_slice(&length.to_le_bytes());
        block
    }

    /// A Connect Initial shaped like FreeRDP's (BER around T.124 PER).
    fn connect_initial(blocks: &[u8]) -> Vec<u8> {
        let mut request = vec![0x00, 0x08, 0x00, 0x10, 0x00, 0x01, 0xC0, 0x00];
        request.extend_from_slice(b"Duca");
        request.extend_from_slice(&encode_per_length(blocks.len()));
        request.extend_from_slice(blocks);
        let mut gcc = T124_PREFIX.to_vec();
        gcc.extend_from_slice(&encode_per_length(request.len()));
        gcc.extend_from_slice(&request);
        let mut body = Vec::new();
        body.extend_from_slice(&der(0x04, &[1]));
        body.extend_from_slice(&der(0x04, &[1]));
        body.extend_from_slice(&der(0x01, &[0xFF]));
        for _ in 0..3 {
            body.extend_from_slice(&domain_parameters());
        }
        body.extend_from_slice(&der(0x04, &gcc));
        let mut mcs = vec![0x7F];
        mcs.extend_from_slice(&der(0x65, &body));
        mcs
    }

    #[test]
    fn connect_initial_gives_core_data_and_channels() {
        let mut blocks = client_core_block();
        blocks.extend_from_slice(&[0x02, 0xC0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        blocks.extend_from_slice(&client_network_block(&[b"rdpdr", b"cliprdr", b"rdpsnd"]));
        let data = parse_connect_initial(&connect_initial(&blocks)).unwrap_or_default();
        let core = data.core.unwrap_or_else(|| panic!("no core data"));
        assert_eq!(core.client_name, "KALI");
        assert_eq!((core.desktop_width, core.desktop_height), (1024, 768));
        assert_eq!((core.keyboard_layout, core.client_build), (0x409, 2600));
        assert_eq!(core.server_selected_protocol, Some(1));
        assert_eq!(data.channels, vec!["rdpdr", "cliprdr", "rdpsnd"]);
        assert_eq!(user_id(data.channels.len()), 1007);
    }

    #[test]
    fn connect_response_has_the_three_server_blocks() {
        let response = connect_response(1, 3);
        assert_eq!(
            usize::from(u16::from_be_bytes([response[2], response[3]])),
            response.len()
        );
        let mcs = x224_data(&response[4..]).unwrap_or_default();
        assert_eq!(&mcs[..2], &[0x7F, 0x66]);
        let key = mcs.windows(4).position(|w| w == b"McDn").unwrap_or(0);
        let blocks = &mcs[key + 4 + 1..];
        assert_eq!(le16(blocks, 0), Some(SC_CORE));
        assert_eq!(le32(blocks, 8), Some(1));
        assert_eq!(le16(blocks, 16), Some(SC_SECURITY));
        assert_eq!(le32(blocks, 20), Some(0));
        assert_eq!(le16(blocks, 28), Some(SC_NET));
        assert_eq!(le16(blocks, 32), Some(IO_CHANNEL));
        assert_eq!(le16(blocks, 34), Some(3));
        assert_eq!(le16(blocks, 40), Some(1006));
        assert_eq!(le16(blocks, 30), Some(4 + 4 + 6 + 2));
        assert_eq!(blocks.len(), 16 + 12 + 16);
    }

    #[test]
    fn domain_pdus_parse_and_confirms_encode() {
        assert_eq!(
            parse_domain_pdu(&[0x04, 1, 0, 1, 0]),
            Some(DomainPdu::ErectDomain)
        );
        assert_eq!(parse_domain_pdu(&[0x28]), Some(DomainPdu::AttachUser));
        assert_eq!(
            parse_domain_pdu(&[0x38, 0, 6, 0x03, 0xEB]),
            Some(DomainPdu::ChannelJoin { channel: 1003 })
        );
        assert_eq!(
            parse_domain_pdu(&[0x64, 0, 6, 0x03, 0xEB, 0x70, 3, 1, 2, 3]),
            Some(DomainPdu::SendData {
                channel: 1003,
                data: &[1, 2, 3]
            })
        );
        assert_eq!(
            parse_domain_pdu(&[0x64, 0, 6, 0x03, 0xEB, 0x70, 9, 1]),
            None
        );
        assert_eq!(parse_domain_pdu(&[0x38, 0, 6]), None);
        assert_eq!(&attach_user_confirm(1007)[7..], &[0x2E, 0, 0, 6]);
        assert_eq!(
            &channel_join_confirm(1007, 1003)[7..],
            &[0x3E, 0, 0, 6, 0x03, 0xEB, 0x03, 0xEB]
        );
        assert_eq!(
            disconnect_ultimatum(),
            vec![3, 0, 0, 9, 2, 0xF0, 0x80, 0x20, 0x80]
        );
        let long = send_data_indication(IO_CHANNEL, &[7; 300]);
        assert_eq!(&long[7..14], &[0x68, 0, 1, 0x03, 0xEB, 0x70, 0x81]);
    }

    #[test]
    fn truncated_connect_initials_are_refused() {
        let mut blocks = client_core_block();
        blocks.extend_from_slice(&client_network_block(&[b"rdpdr"]));
        let whole = connect_initial(&blocks);
        assert!(parse_connect_initial(&whole).is_some());
        for cut in 0..whole.len() {
            assert_eq!(parse_connect_initial(&whole[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn hostile_channel_counts_are_bounded() {
        let mut block = client_network_block(&[b"a"]);
        block[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_client_network(&block), vec!["a"]);
        assert_eq!(user_id(10_000), IO_CHANNEL + 1 + 31);
    }

    proptest::proptest! {
        #[test]
        fn hostile_mcs_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse_connect_initial(&bytes);
            let _ = parse_domain_pdu(&bytes);
            let _ = parse_client_blocks(&bytes);
            let _ = x224_data(&bytes);
        }

        #[test]
        fn hostile_gcc_inside_valid_ber_never_panics(blocks in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_connect_initial(&connect_initial(&blocks));
        }
    }
}
