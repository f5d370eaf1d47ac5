//! Frame → IP datagram → TCP/UDP segment, with IP fragment reassembly.
//!
//! Ethernet (with VLAN tags), IP and TCP/UDP headers are sliced by
//! `etherparse` (lax mode, so truncated frames still yield what they hold).
//! Fragments are reassembled with etherparse's `IpDefragBuf` inside a
//! bounded table (count and age limits) because etherparse's own pool is not
//! safe against memory exhaustion. The link headers etherparse does not know
//! (Linux SLL2, BSD null/loop) are a fixed handful of bytes and are read here.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::defrag::IpDefragBuf;
use etherparse::{
    EtherType, Ethernet2Slice, IpAuthHeaderSlice, IpFragOffset, IpNumber, Ipv4Slice,
    Ipv6ExtensionsSlice, Ipv6FragmentHeaderSlice, Ipv6RawExtHeaderSlice, LaxNetSlice,
    LaxSlicedPacket, TcpSlice, UdpSlice, ip_number,
};

use crate::capture::{Frame, dlt};

/// In-progress reassemblies kept at most (oldest evicted beyond this).
const MAX_REASSEMBLIES: usize = 1024;
/// A reassembly older than this is abandoned.
const REASSEMBLY_TIMEOUT_NS: i64 = 30 * 1_000_000_000;

/// TCP flags the analysis uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpFlags {
    /// SYN.
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN.
    pub fin: bool,
    /// RST.
    pub rst: bool,
}

/// The transport part of a datagram.
#[derive(Debug)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Sequence number.
        seq: u32,
        /// Flags.
        flags: TcpFlags,
        /// Segment payload (possibly cut short by the snap length).
        payload: &'a [u8],
    },
    /// A UDP datagram.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Payload.
        payload: &'a [u8],
    },
}

/// A decoded IP datagram carrying TCP or UDP.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// Capture time (ns since epoch).
    pub ts_ns: i64,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Bytes on the wire (all fragments for a reassembled datagram).
    pub wire_len: u64,
    /// TCP or UDP part.
    pub transport: Transport<'a>,
}

/// Why a frame gave no datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not IP (ARP, LLDP...) or not TCP/UDP: normal, not a problem.
    NotTcpUdp,
    /// A fragment kept for reassembly.
    FragmentHeld,
    /// A link type this decoder does not read.
    UnsupportedLinktype(i32),
    /// Header damage worth reporting.
    Malformed(String),
}

/// Decoder state (the fragment table) across frames.
#[derive(Default)]
pub struct Decoder {
    reassembly: HashMap<FragKey, Reassembly>,
    /// Reassemblies dropped by the bounds.
    pub fragments_dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
}

struct Reassembly {
    buf: IpDefragBuf,
    started_ns: i64,
    wire_len: u64,
}

/// The network layer of a frame: addresses plus the IP payload.
struct NetPart<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: IpNumber,
    payload: &'a [u8],
    fragment: Option<(u32, IpFragOffset, bool)>,
}

impl Decoder {
    /// Decodes one frame. `scratch` receives a reassembled payload when a
    /// fragment completes a datagram; the returned datagram borrows from it.
    pub fn decode<'a>(
        &mut self,
        frame: &'a Frame<'_>,
        scratch: &'a mut Vec<u8>,
    ) -> Result<Datagram<'a>, Skip> {
        let net = match ethernet_ipv4(frame.linktype, frame.data) {
            Some(net) => net,
            None => net_part(&slice_link(frame.linktype, frame.data)?)?,
        };
        let wire_len = u64::from(frame.orig_len.max(frame.data.len() as u32));
        let Some((id, offset, more)) = net.fragment else {
            let transport = parse_transport(net.proto, net.payload)?;
            return Ok(Datagram {
                ts_ns: frame.ts_ns,
                src: net.src,
                dst: net.dst,
                wire_len,
                transport,
            });
        };
        let key = FragKey {
            src: net.src,
            dst: net.dst,
            id,
            proto: net.proto.0,
        };
        let Some(total_wire) = self.add_fragment(key, frame.ts_ns, wire_len, offset, more, &net)?
        else {
            return Err(Skip::FragmentHeld);
        };
        *scratch = total_wire.1;
        let transport = parse_transport(net.proto, scratch)?;
        Ok(Datagram {
            ts_ns: frame.ts_ns,
            src: net.src,
            dst: net.dst,
            wire_len: total_wire.0,
            transport,
        })
    }

    fn add_fragment(
        &mut self,
        key: FragKey,
        ts_ns: i64,
        wire_len: u64,
        offset: IpFragOffset,
        more: bool,
        net: &NetPart<'_>,
    ) -> Result<Option<(u64, Vec<u8>)>, Skip> {
        self.expire(ts_ns);
        if !self.reassembly.contains_key(&key) && self.reassembly.len() >= MAX_REASSEMBLIES {
            self.evict_oldest();
        }
        let entry = self
            .reassembly
            .entry(key.clone())
            .or_insert_with(|| Reassembly {
                buf: IpDefragBuf::new(net.proto, Vec::new(), Vec::new()),
                started_ns: ts_ns,
                wire_len: 0,
            });
        entry.wire_len += wire_len;
        if let Err(err) = entry.buf.add(offset, more, net.payload) {
            self.reassembly.remove(&key);
            self.fragments_dropped += 1;
            return Err(Skip::Malformed(format!("bad IP fragment: {err}")));
        }
        if !entry.buf.is_complete() {
            return Ok(None);
        }
        let Some(done) = self.reassembly.remove(&key) else {
            return Ok(None);
        };
        let (data, _) = done.buf.take_bufs();
        Ok(Some((done.wire_len, data)))
    }

    fn expire(&mut self, now_ns: i64) {
        let before = self.reassembly.len();
        self.reassembly
            .retain(|_, r| now_ns.saturating_sub(r.started_ns) <= REASSEMBLY_TIMEOUT_NS);
        self.fragments_dropped += (before - self.reassembly.len()) as u64;
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .reassembly
            .iter()
            .min_by_key(|(_, r)| r.started_ns)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            self.reassembly.remove(&key);
            self.fragments_dropped += 1;
        }
    }
}

/// The common frame the quick way: Ethernet II straight to a whole,
/// unfragmented IPv4 TCP/UDP datagram, sliced by etherparse's strict
/// single-layer slicers, which skip building the full lax packet. Any other
/// frame (VLAN, IPv6, cut short, fragments, IP options parsed as
/// authentication headers...) returns `None` and takes the general path,
/// which gives the same result for the frames accepted here.
fn ethernet_ipv4(linktype: i32, data: &[u8]) -> Option<NetPart<'_>> {
    if linktype != dlt::ETHERNET {
        return None;
    }
    let ethernet = Ethernet2Slice::from_slice_without_fcs(data).ok()?;
    if ethernet.ether_type() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Slice::from_slice(ethernet.payload_slice()).ok()?;
    let header = ip.header();
    let proto = header.protocol();
    if ip.is_payload_fragmented() || (proto != IpNumber::TCP && proto != IpNumber::UDP) {
        return None;
    }
    Some(NetPart {
        src: IpAddr::V4(Ipv4Addr::from(header.source())),
        dst: IpAddr::V4(Ipv4Addr::from(header.destination())),
        proto,
        payload: ip.payload().payload,
        fragment: None,
    })
}

fn slice_link(linktype: i32, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    let malformed = |what: &str| Skip::Malformed(format!("{what} header cut short"));
    match linktype {
        dlt::ETHERNET => LaxSlicedPacket::from_ethernet(data).map_err(|_| malformed("Ethernet")),
        dlt::RAW | dlt::RAW_12 | dlt::RAW_14 | dlt::IPV4 | dlt::IPV6 => {
            LaxSlicedPacket::from_ip(data).map_err(|e| Skip::Malformed(format!("IP header: {e}")))
        }
        dlt::LINUX_SLL => {
            // SLL v1: 16-byte header, protocol (EtherType) in the last two bytes.
            let proto = data.get(14..16).ok_or_else(|| malformed("Linux SLL"))?;
            let payload = data.get(16..).unwrap_or_default();
            Ok(from_ether_type(
                u16::from_be_bytes([proto[0], proto[1]]),
                payload,
            ))
        }
        dlt::LINUX_SLL2 => {
            // SLL v2: 20-byte header, protocol (EtherType) in the first two bytes.
            let proto = data.get(0..2).ok_or_else(|| malformed("Linux SLL2"))?;
            let payload = data.get(20..).ok_or_else(|| malformed("Linux SLL2"))?;
            Ok(from_ether_type(
                u16::from_be_bytes([proto[0], proto[1]]),
                payload,
            ))
        }
        dlt::NULL | dlt::LOOP => {
            // 4-byte address family, host order (NULL) or network order (LOOP);
            // accept either order since the writer's host order is unknown.
            let family = data.get(0..4).ok_or_else(|| malformed("loopback"))?;
            let le = u32::from_le_bytes([family[0], family[1], family[2], family[3]]);
            let be = u32::from_be_bytes([family[0], family[1], family[2], family[3]]);
            let payload = data.get(4..).unwrap_or_default();
            let ether_type = if le == 2 || be == 2 {
                EtherType::IPV4
            } else if [10, 24, 28, 30].iter().any(|v| *v == le || *v == be) {
                EtherType::IPV6
            } else {
                return Err(Skip::NotTcpUdp);
            };
            Ok(LaxSlicedPacket::from_ether_type(ether_type, payload))
        }
        other => Err(Skip::UnsupportedLinktype(other)),
    }
}

fn from_ether_type(ether_type: u16, payload: &[u8]) -> LaxSlicedPacket<'_> {
    LaxSlicedPacket::from_ether_type(EtherType(ether_type), payload)
}

/// The fragmenting fragment header among an IPv6 packet's extension headers (the last
/// one, if a damaged packet has several), walked with etherparse's checked `from_slice`
/// constructors. Not with `Ipv6ExtensionsSlice::into_iter`: that iterator trusts its
/// slice to be fully validated, but after lax parsing stopped at a damaged or misplaced
/// header (a truncated routing header, hop-by-hop not first) it reads past the slice's
/// end with `get_unchecked` — undefined behaviour in a release build, found by
/// `tests/fuzz.rs` (etherparse 0.21.0, `ipv6_raw_ext_header_slice.rs:87`).
fn ipv6_fragment(extensions: &Ipv6ExtensionsSlice<'_>) -> Option<(u32, IpFragOffset, bool)> {
    let mut next = extensions.first_header()?;
    let mut rest = extensions.slice();
    let mut fragment = None;
    loop {
        let len = match next {
            ip_number::IPV6_FRAG => {
                let Ok(frag) = Ipv6FragmentHeaderSlice::from_slice(rest) else {
                    return fragment;
                };
                if frag.is_fragmenting_payload() {
                    fragment = Some((
                        frag.identification(),
                        frag.fragment_offset(),
                        frag.more_fragments(),
                    ));
                }
                next = frag.next_header();
                frag.slice().len()
            }
            ip_number::IPV6_HOP_BY_HOP | ip_number::IPV6_ROUTE | ip_number::IPV6_DEST_OPTIONS => {
                let Ok(raw) = Ipv6RawExtHeaderSlice::from_slice(rest) else {
                    return fragment;
                };
                next = raw.next_header();
                raw.slice().len()
            }
            ip_number::AUTH => {
                let Ok(auth) = IpAuthHeaderSlice::from_slice(rest) else {
                    return fragment;
                };
                next = auth.next_header();
                auth.slice().len()
            }
            _ => return fragment,
        };
        let Some(after) = rest.get(len..) else {
            return fragment;
        };
        rest = after;
    }
}

fn net_part<'a>(sliced: &LaxSlicedPacket<'a>) -> Result<NetPart<'a>, Skip> {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let header = ip.header();
            let payload = ip.payload();
            let fragment = header.is_fragmenting_payload().then(|| {
                (
                    u32::from(header.identification()),
                    header.fragments_offset(),
                    header.more_fragments(),
                )
            });
            Ok(NetPart {
                src: IpAddr::V4(Ipv4Addr::from(header.source())),
                dst: IpAddr::V4(Ipv4Addr::from(header.destination())),
                proto: payload.ip_number,
                payload: payload.payload,
                fragment,
            })
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let header = ip.header();
            let payload = ip.payload();
            let fragment = ipv6_fragment(ip.extensions());
            Ok(NetPart {
                src: IpAddr::V6(Ipv6Addr::from(header.source())),
                dst: IpAddr::V6(Ipv6Addr::from(header.destination())),
                proto: payload.ip_number,
                payload: payload.payload,
                fragment,
            })
        }
        Some(LaxNetSlice::Arp(_)) => Err(Skip::NotTcpUdp),
        None => match &sliced.stop_err {
            Some((err, _)) => Err(Skip::Malformed(err.to_string())),
            None => Err(Skip::NotTcpUdp),
        },
    }
}

fn parse_transport(proto: IpNumber, payload: &[u8]) -> Result<Transport<'_>, Skip> {
    match proto {
        IpNumber::TCP => {
            let tcp = TcpSlice::from_slice(payload)
                .map_err(|e| Skip::Malformed(format!("TCP header: {e}")))?;
            Ok(Transport::Tcp {
                sport: tcp.source_port(),
                dport: tcp.destination_port(),
                seq: tcp.sequence_number(),
                flags: TcpFlags {
                    syn: tcp.syn(),
                    ack: tcp.ack(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                },
                payload: tcp.payload(),
            })
        }
        IpNumber::UDP => {
            let udp = UdpSlice::from_slice_lax(payload)
                .map_err(|e| Skip::Malformed(format!("UDP header: {e}")))?;
            Ok(Transport::Udp {
                sport: udp.source_port(),
                dport: udp.destination_port(),
                payload: udp.payload(),
            })
        }
        _ => Err(Skip::NotTcpUdp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame(linktype: i32, data: &[u8]) -> Frame<'_> {
        Frame {
            index: 1,
            ts_ns: 0,
            linktype,
            data,
            orig_len: data.len() as u32,
        }
    }

    fn udp_ipv4() -> Vec<u8> {
        let builder = PacketBuilder::ipv4([10, 0, 0, 1], [8, 8, 8, 8], 64).udp(4000, 53);
        let mut out = Vec::new();
        builder.write(&mut out, b"hello").expect("write");
        out
    }

    /// An IPv6 header naming `first` as its next header, followed by `tail` (the
    /// extension headers and payload).
    fn ipv6_with(first: u8, tail: &[u8]) -> Vec<u8> {
        let mut packet = vec![0x60, 0, 0, 0];
        packet.extend((tail.len() as u16).to_be_bytes());
        packet.extend([first, 64]);
        packet.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 12]));
        packet.extend([0x20, 0x01, 0x0d, 0xb8].iter().chain(&[0; 11]).chain(&[1]));
        packet.extend(tail);
        packet
    }

    #[test]
    fn damaged_ipv6_extension_chains_are_walked_within_bounds() {
        // Fragment header (next: routing, offset 0, more fragments, id 7), then a
        // routing header cut off: lax parsing stops after the fragment header.
        let fragment_then_cut = [43, 0, 0, 1, 0, 0, 0, 7, 17];
        // Hop-by-hop (next: hop-by-hop again, not allowed after the first).
        let hop_by_hop_twice = [0, 0, 1, 4, 0, 0, 0, 0];
        for (first, tail, fragment) in [
            (44, &fragment_then_cut[..], Some(7)),
            (0, &hop_by_hop_twice[..], None),
            (0, &[][..], None),
        ] {
            let packet = ipv6_with(first, tail);
            let sliced = LaxSlicedPacket::from_ip(&packet).expect("an IPv6 header");
            let Some(LaxNetSlice::Ipv6(ip)) = &sliced.net else {
                panic!("not IPv6: {sliced:?}");
            };
            let found = ipv6_fragment(ip.extensions()).map(|(id, _, more)| {
                assert!(more);
                id
            });
            assert_eq!(found, fragment, "{tail:?}");
        }
    }

    #[test]
    fn null_loopback_in_either_byte_order() {
        for family in [2u32.to_le_bytes(), 2u32.to_be_bytes()] {
            let mut data = family.to_vec();
            data.extend(udp_ipv4());
            let f = frame(dlt::NULL, &data);
            let mut scratch = Vec::new();
            let d = Decoder::default()
                .decode(&f, &mut scratch)
                .expect("decodes");
            assert_eq!(d.dst, IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)));
            assert!(matches!(
                d.transport,
                Transport::Udp {
                    dport: 53,
                    payload: b"hello",
                    ..
                }
            ));
        }
    }

    #[test]
    fn quick_ethernet_path_equals_the_general_one() {
        let mut frames = Vec::new();
        for payload_len in [0usize, 1, 5, 40, 1400] {
            let payload = vec![0x5a; payload_len];
            let mut udp = Vec::new();
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [8, 8, 8, 8], 64)
                .udp(4000, 53)
                .write(&mut udp, &payload)
                .expect("write");
            let mut tcp = Vec::new();
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [93, 184, 216, 34], 64)
                .tcp(40000, 80, 7, 1024)
                .write(&mut tcp, &payload)
                .expect("write");
            frames.push(udp);
            frames.push(tcp);
        }
        // Cut short, longer than the IP total length, damaged lengths.
        let base = frames.last().cloned().expect("frame");
        for cut in [0, 10, 14, 20, 33, 34, 40, 54, 60, base.len() - 1] {
            frames.push(base[..cut].to_vec());
        }
        let mut padded = base.clone();
        padded.extend_from_slice(&[0; 30]);
        frames.push(padded);
        for (offset, value) in [(16, 0x00), (17, 0x00), (16, 0xff), (14, 0x46), (14, 0x55)] {
            let mut damaged = base.clone();
            damaged[offset] = value;
            frames.push(damaged);
        }
        for data in &frames {
            let quick = ethernet_ipv4(dlt::ETHERNET, data);
            let general = slice_link(dlt::ETHERNET, data).and_then(|s| {
                net_part(&s).map(|n| {
                    (
                        n.src,
                        n.dst,
                        n.proto,
                        n.payload.to_vec(),
                        n.fragment.is_some(),
                    )
                })
            });
            if let Some(quick) = quick {
                let quick = (
                    quick.src,
                    quick.dst,
                    quick.proto,
                    quick.payload.to_vec(),
                    false,
                );
                assert_eq!(Ok(quick), general, "{data:02x?}");
            }
        }
        assert!(ethernet_ipv4(dlt::ETHERNET, &base).is_some());
    }

    #[test]
    fn sll2_header_is_skipped() {
        let mut data = vec![0x08, 0x00];
        data.extend([0u8; 18]);
        data.extend(udp_ipv4());
        let f = frame(dlt::LINUX_SLL2, &data);
        let mut scratch = Vec::new();
        let d = Decoder::default()
            .decode(&f, &mut scratch)
            .expect("decodes");
        assert!(matches!(d.transport, Transport::Udp { sport: 4000, .. }));
    }

    #[test]
    fn short_and_unknown_frames_are_skips_not_panics() {
        let mut scratch = Vec::new();
        let mut decoder = Decoder::default();
        for linktype in [
            dlt::ETHERNET,
            dlt::LINUX_SLL,
            dlt::LINUX_SLL2,
            dlt::NULL,
            dlt::RAW,
        ] {
            for len in 0..30 {
                let data = vec![0x45; len];
                let f = frame(linktype, &data);
                assert!(decoder.decode(&f, &mut scratch).is_err());
            }
        }
        let f = frame(9999, b"x");
        assert_eq!(
            decoder.decode(&f, &mut scratch).err(),
            Some(Skip::UnsupportedLinktype(9999))
        );
    }
}
