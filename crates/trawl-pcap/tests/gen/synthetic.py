#!/usr/bin/env python3
"""Write the synthetic edge-case captures the trawl-pcap tests read.

Usage: synthetic.py OUTDIR

Packets are built with scapy; the pcap/pcapng containers are written here
with struct so every variant (byte order, ns resolution, several pcapng
interfaces with different resolutions, SLL2, truncation) is explicit.
Nothing is sent on any network: these are files.

Files written (the tests generate them at run time; none are checked in):
  seed_mirai.pcap      Ethernet, the seed's 7up run re-enacted: DNS to a hard-coded
                       8.8.8.8 (inandoutand.in, hrjlyymassqx.tech, an NXDOMAIN),
                       a telnet SYN scan, one established C2 flow, a TFTP RRQ "7up"
  multi_if.pcapng      pcapng, interface 0 Ethernet (us), interface 1 raw IP (ns)
  be_nano.pcap         big-endian, nanosecond pcap, Linux SLL (v1)
  sll2.pcap            Linux SLL2
  vlan.pcap            Ethernet with 802.1Q and QinQ tags
  ipv6.pcap            IPv6 DNS (AAAA, MX, NS, TXT, CNAME) and a TCP connection
  fragments.pcap       IPv4 and IPv6 fragmented DNS responses, out of order
  tcp_segments.pcap    HTTP headers across segments (one out of order), DNS over
                       TCP split mid-message, a TLS ClientHello in two segments
  null_loop.pcapng     BSD null (host order) and OpenBSD loop (network order)
  truncated.pcap       three good records, then a record cut short
"""

import os
import struct
import sys

from scapy.all import (  # noqa: F401  (scapy is the packet builder)
    DNS,
    DNSQR,
    DNSRR,
    Dot1Q,
    Ether,
    IP,
    IPv6,
    IPv6ExtHdrFragment,
    Raw,
    TCP,
    UDP,
    fragment,
    fragment6,
)
from scapy.layers.dns import DNSRRMX
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.extensions import (
    ServerName,
    TLS_Ext_ALPN,
    TLS_Ext_ServerName,
    TLS_Ext_SupportedGroups,
    TLS_Ext_SupportedPointFormat,
    ProtocolName,
)
from scapy.layers.tls.record import TLS

BASE_NS = 1482246251_691645000  # 2016-12-20 15:04:11.691645 UTC, the seed's first query
MAC_A = "02:42:ac:11:00:02"
MAC_B = "02:42:6b:2a:01:01"


def pad4(data):
    return data + b"\0" * (-len(data) % 4)


def write_pcap(path, linktype, frames, endian="<", nano=False, snaplen=262144, cut_last=0):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
    for i, (ts_ns, data) in enumerate(frames):
        sec, frac = divmod(ts_ns, 10**9)
        if not nano:
            frac //= 1000
        record = struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data
        if cut_last and i == len(frames) - 1:
            record = record[: len(record) - cut_last]
        out += record
    with open(path, "wb") as f:
        f.write(out)


def ng_block(btype, body):
    body = pad4(body)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def ng_option(code, value):
    return struct.pack("<HH", code, len(value)) + pad4(value)


def write_pcapng(path, interfaces, frames):
    """interfaces: [(linktype, tsresol)]; frames: [(if_id, ts_ns, data)]."""
    out = bytearray(ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
    for linktype, tsresol in interfaces:
        options = ng_option(9, bytes([tsresol])) + ng_option(2, b"if%d" % len(out)) + struct.pack("<HH", 0, 0)
        out += ng_block(1, struct.pack("<HHI", linktype, 0, 262144) + options)
    for if_id, ts_ns, data in frames:
        units = 10 ** interfaces[if_id][1]
        ts = ts_ns * units // 10**9
        body = struct.pack("<IIIII", if_id, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data
        out += ng_block(6, body)
    with open(path, "wb") as f:
        f.write(out)


def eth(pkt):
    return Ether(src=MAC_A, dst=MAC_B) / pkt


class Clock:
    def __init__(self, start=BASE_NS):
        self.now = start

    def tick(self, ms=1.0):
        self.now += int(ms * 1_000_000)
        return self.now


def dns_pair(client, resolver, sport, name, qtype, answers, rcode=0, qid=13078, v6=False):
    ip = IPv6 if v6 else IP
    query = ip(src=client, dst=resolver) / UDP(sport=sport, dport=53) / DNS(
        id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype)
    )
    response = ip(src=resolver, dst=client) / UDP(sport=53, dport=sport) / DNS(
        id=qid, qr=1, rd=1, ra=1, rcode=rcode, qd=DNSQR(qname=name, qtype=qtype), an=answers or None
    )
    return query, response


class TcpConn:
    """Builds a TCP conversation with correct sequence numbers."""

    def __init__(self, client, server, sport, dport, v6=False, cseq=1000, sseq=5000):
        self.ip = IPv6 if v6 else IP
        self.c, self.s, self.sport, self.dport = client, server, sport, dport
        self.cseq, self.sseq = cseq, sseq

    def handshake(self):
        syn = self.ip(src=self.c, dst=self.s) / TCP(sport=self.sport, dport=self.dport, flags="S", seq=self.cseq)
        synack = self.ip(src=self.s, dst=self.c) / TCP(
            sport=self.dport, dport=self.sport, flags="SA", seq=self.sseq, ack=self.cseq + 1
        )
        self.cseq += 1
        self.sseq += 1
        ack = self.ip(src=self.c, dst=self.s) / TCP(
            sport=self.sport, dport=self.dport, flags="A", seq=self.cseq, ack=self.sseq
        )
        return [syn, synack, ack]

    def client_data(self, data, advance=True, seq=None):
        pkt = self.ip(src=self.c, dst=self.s) / TCP(
            sport=self.sport, dport=self.dport, flags="PA", seq=self.cseq if seq is None else seq, ack=self.sseq
        ) / Raw(data)
        if advance:
            self.cseq += len(data)
        return pkt

    def server_data(self, data):
        pkt = self.ip(src=self.s, dst=self.c) / TCP(
            sport=self.dport, dport=self.sport, flags="PA", seq=self.sseq, ack=self.cseq
        ) / Raw(data)
        self.sseq += len(data)
        return pkt


def seed_mirai(out):
    clock = Clock()
    frames = []
    bot, google = "172.17.0.2", "8.8.8.8"
    for sport, name, ttl, addr in [
        (36522, "inandoutand.in", 599, "94.156.128.70"),
        (52278, "hrjlyymassqx.tech", 59, "94.156.128.73"),
    ]:
        q, r = dns_pair(bot, google, sport, name, "A", [DNSRR(rrname=name, type="A", ttl=ttl, rdata=addr)])
        frames += [(clock.tick(), eth(q)), (clock.tick(140), eth(r))]
    q, r = dns_pair(bot, google, 40000, "qqqqqqqqqqqq.online", "A", [], rcode=3, qid=777)
    frames += [(clock.tick(), eth(q)), (clock.tick(30), eth(r))]
    # C2: established TCP to the second resolved address.
    c2 = TcpConn(bot, "94.156.128.73", 41000, 23)
    for pkt in c2.handshake() + [c2.client_data(b"\x00\x00\x00\x01"), c2.server_data(b"\x00\x00")]:
        frames.append((clock.tick(5), eth(pkt)))
    # TFTP RRQ for the payload.
    rrq = IP(src=bot, dst="89.33.64.118") / UDP(sport=42000, dport=69) / Raw(b"\x00\x017up\x00octet\x00")
    frames.append((clock.tick(), eth(rrq)))
    # Telnet scan: 40 SYNs to distinct public addresses, none answered.
    for i in range(40):
        syn = IP(src=bot, dst="203.%d.%d.%d" % (i % 7 + 1, i, i * 3 % 250 + 1)) / TCP(
            sport=50000 + i, dport=23, flags="S", seq=i
        )
        frames.append((clock.tick(0.5), eth(syn)))
    write_pcap(os.path.join(out, "seed_mirai.pcap"), 1, [(t, bytes(p)) for t, p in frames])


def multi_if(out):
    clock = Clock()
    q1, r1 = dns_pair("10.0.0.5", "10.0.0.1", 3333, "eth.if0.example.com", "A",
                      [DNSRR(rrname="eth.if0.example.com", type="A", ttl=300, rdata="198.51.100.7")])
    q2, r2 = dns_pair("10.9.0.5", "10.9.0.1", 4444, "raw.if1.example.net", "A",
                      [DNSRR(rrname="raw.if1.example.net", type="A", ttl=60, rdata="192.0.2.99")], qid=2)
    frames = [
        (0, clock.tick(), bytes(eth(q1))),
        (1, clock.tick(), bytes(q2)),
        (1, clock.tick(), bytes(r2)),
        (0, clock.tick(), bytes(eth(r1))),
    ]
    write_pcapng(os.path.join(out, "multi_if.pcapng"), [(1, 6), (101, 9)], frames)


def sll_header_v1(proto):
    return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\x42\xac\x11\x00\x02\x00\x00", proto)


def sll_header_v2(proto):
    return struct.pack(">HHIHBB8s", proto, 0, 2, 1, 0, 6, b"\x02\x42\xac\x11\x00\x02\x00\x00")


def be_nano(out):
    clock = Clock()
    q, r = dns_pair("192.168.7.2", "192.168.7.1", 5353, "sll.v1.example.org", "A",
                    [DNSRR(rrname="sll.v1.example.org", type="A", ttl=42, rdata="203.0.113.5")])
    frames = [(clock.tick(), sll_header_v1(0x0800) + bytes(p)) for p in (q, r)]
    write_pcap(os.path.join(out, "be_nano.pcap"), 113, frames, endian=">", nano=True)


def sll2(out):
    clock = Clock()
    q, r = dns_pair("192.168.8.2", "192.168.8.1", 5454, "sll.v2.example.org", "A",
                    [DNSRR(rrname="sll.v2.example.org", type="A", ttl=43, rdata="203.0.113.6")])
    conn = TcpConn("192.168.8.2", "203.0.113.6", 40404, 8443)
    pkts = [q, r] + conn.handshake()
    frames = [(clock.tick(), sll_header_v2(0x0800) + bytes(p)) for p in pkts]
    write_pcap(os.path.join(out, "sll2.pcap"), 276, frames)


def vlan(out):
    clock = Clock()
    q, r = dns_pair("10.1.1.2", "10.1.1.1", 6000, "tagged.example.com", "A",
                    [DNSRR(rrname="tagged.example.com", type="A", ttl=77, rdata="198.51.100.77")])
    single = [Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=100) / p for p in (q, r)]
    q2, r2 = dns_pair("10.2.2.2", "10.2.2.1", 6001, "double.example.com", "A",
                      [DNSRR(rrname="double.example.com", type="A", ttl=78, rdata="198.51.100.78")], qid=9)
    double = [Ether(src=MAC_A, dst=MAC_B, type=0x88A8) / Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20) / p
              for p in (q2, r2)]
    frames = [(clock.tick(), bytes(p)) for p in single + double]
    write_pcap(os.path.join(out, "vlan.pcap"), 1, frames)


def ipv6(out):
    clock = Clock()
    client, resolver = "2001:db8::2", "2001:db8::53"
    frames = []
    name = "v6.example.com"
    cases = [
        ("AAAA", [DNSRR(rrname=name, type="CNAME", ttl=100, rdata="real.v6.example.com"),
                  DNSRR(rrname="real.v6.example.com", type="AAAA", ttl=200, rdata="2001:db8:beef::1")]),
        ("MX", [DNSRRMX(rrname=name, type="MX", ttl=300, preference=10, exchange="mx1.v6.example.com")]),
        ("NS", [DNSRR(rrname=name, type="NS", ttl=400, rdata="ns1.v6.example.com")]),
        ("TXT", [DNSRR(rrname=name, type="TXT", ttl=500, rdata=["v=spf1 -all"])]),
    ]
    for i, (qtype, answers) in enumerate(cases):
        q, r = dns_pair(client, resolver, 7000 + i, name, qtype, answers, qid=100 + i, v6=True)
        frames += [(clock.tick(), eth(q)), (clock.tick(), eth(r))]
    conn = TcpConn(client, "2001:db8:beef::1", 45000, 443, v6=True)
    for pkt in conn.handshake():
        frames.append((clock.tick(), eth(pkt)))
    write_pcap(os.path.join(out, "ipv6.pcap"), 1, [(t, bytes(p)) for t, p in frames])


def fragments(out):
    clock = Clock()
    frames = []
    txt = ["x" * 200, "y" * 200, "z" * 200, "w" * 200]
    q, r = dns_pair("10.3.3.2", "10.3.3.1", 8000, "big.example.com", "TXT",
                    [DNSRR(rrname="big.example.com", type="TXT", ttl=900, rdata=txt)], qid=55)
    frames.append((clock.tick(), eth(q)))
    r[IP].id = 4242
    frags = fragment(r, fragsize=296)
    assert len(frags) >= 3, len(frags)
    for frag in [frags[1], frags[0]] + frags[2:]:  # out of order
        frames.append((clock.tick(), eth(frag)))
    q6, r6 = dns_pair("2001:db8::2", "2001:db8::53", 8001, "big6.example.com", "TXT",
                      [DNSRR(rrname="big6.example.com", type="TXT", ttl=901, rdata=txt)], qid=56, v6=True)
    frames.append((clock.tick(), eth(q6)))
    frag6 = fragment6(IPv6(src=r6[IPv6].src, dst=r6[IPv6].dst) / IPv6ExtHdrFragment(id=777) / r6[UDP], 400)
    assert len(frag6) >= 3, len(frag6)
    for frag in reversed(frag6):
        frames.append((clock.tick(), eth(frag)))
    write_pcap(os.path.join(out, "fragments.pcap"), 1, [(t, bytes(p)) for t, p in frames])


def client_hello_bytes():
    hello = TLS(msg=[TLSClientHello(
        ciphers=[0x0A0A, 0x1301, 0x1302, 0xC02F],
        ext=[
            TLS_Ext_ServerName(servernames=[ServerName(servername=b"split.example.com")]),
            TLS_Ext_SupportedGroups(groups=[0x0A0A, 29, 23]),
            TLS_Ext_SupportedPointFormat(ecpl=[0]),
            TLS_Ext_ALPN(protocols=[ProtocolName(protocol=b"h2"), ProtocolName(protocol=b"http/1.1")]),
        ],
    )])
    return bytes(hello)


def tcp_segments(out):
    clock = Clock()
    frames = []
    http = TcpConn("10.4.4.2", "198.51.100.80", 46000, 8080)
    request = (b"GET /bins/7up.mips HTTP/1.1\r\nHost: dl.example.com:8080\r\n"
               b"User-Agent: Wget/1.20\r\nAccept: */*\r\n\r\n")
    a, b, c = request[:10], request[10:40], request[40:]
    pkts = http.handshake()
    seq_a = http.cseq
    pkts.append(http.client_data(a))
    seq_b = http.cseq
    http.cseq += len(b)
    pkts.append(http.client_data(c))  # arrives before b
    pkts.append(http.client_data(b, advance=False, seq=seq_b))
    assert seq_a < seq_b
    pkts.append(http.server_data(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nELF!"))
    dns = TcpConn("10.4.4.2", "10.4.4.53", 46001, 53)
    msg = bytes(DNS(id=7, rd=1, qd=DNSQR(qname="tcp.example.com", qtype="A")))
    wire = struct.pack(">H", len(msg)) + msg
    pkts += dns.handshake() + [dns.client_data(wire[:9]), dns.client_data(wire[9:])]
    resp = bytes(DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname="tcp.example.com", qtype="A"),
                     an=[DNSRR(rrname="tcp.example.com", type="A", ttl=1234, rdata="198.51.100.53")]))
    pkts.append(dns.server_data(struct.pack(">H", len(resp)) + resp))
    tls = TcpConn("10.4.4.2", "198.51.100.44", 46002, 443)
    hello = client_hello_bytes()
    pkts += tls.handshake() + [tls.client_data(hello[:60]), tls.client_data(hello[60:])]
    for pkt in pkts:
        frames.append((clock.tick(), eth(pkt)))
    write_pcap(os.path.join(out, "tcp_segments.pcap"), 1, [(t, bytes(p)) for t, p in frames])


def null_loop(out):
    clock = Clock()
    q, r = dns_pair("10.5.5.2", "10.5.5.1", 9000, "null.example.com", "A",
                    [DNSRR(rrname="null.example.com", type="A", ttl=11, rdata="198.51.100.11")])
    frames = [
        (0, clock.tick(), struct.pack("<I", 2) + bytes(q)),
        (1, clock.tick(), struct.pack(">I", 2) + bytes(r)),
    ]
    write_pcapng(os.path.join(out, "null_loop.pcapng"), [(0, 6), (108, 6)], frames)


def truncated(out):
    clock = Clock()
    q, r = dns_pair("10.6.6.2", "10.6.6.1", 9100, "cut.example.com", "A",
                    [DNSRR(rrname="cut.example.com", type="A", ttl=5, rdata="198.51.100.5")])
    syn = IP(src="10.6.6.2", dst="198.51.100.5") / TCP(sport=9200, dport=80, flags="S")
    frames = [(clock.tick(), bytes(eth(p))) for p in (q, r, syn, syn)]
    write_pcap(os.path.join(out, "truncated.pcap"), 1, frames, cut_last=20)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for build in (seed_mirai, multi_if, be_nano, sll2, vlan, ipv6, fragments, tcp_segments, null_loop, truncated):
        build(out)


if __name__ == "__main__":
    main()
