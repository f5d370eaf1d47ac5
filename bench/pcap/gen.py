#!/usr/bin/env python3
"""Fast, scapy-free generator of a large benchmark capture (pcap, Ethernet).

Usage: gen.py OUT.pcap SIZE_MB

Each "session" is what a busy honeypot host sees from a bot: DNS lookups
(UDP/53, ~1 in 6 NXDOMAIN, some Mirai-DGA-shaped names), a TCP connection
with an HTTP GET and a download of ~10 full-size segments, and every 50th
session a burst of telnet SYNs (scan). Headers are packed with struct;
checksums are left zero (neither trawl nor tshark verifies them by default).
Addresses are documentation/benchmark ranges: the file is never replayed.
"""

import random
import struct
import sys

ETH = bytes.fromhex("02426b2a0101" "0242ac110002") + b"\x08\x00"
ETH_BACK = bytes.fromhex("0242ac110002" "02426b2a0101") + b"\x08\x00"
BODY = bytes(range(256)) * 6  # 1536 bytes to slice from


def ip4(src, dst, proto, payload_len, ident):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0x4000, 64, proto, 0, src, dst)


def udp(sport, dport, payload):
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport, dport, seq, ack, flags, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0) + payload


def qname(name):
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def dns_query(ident, name, qtype):
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", qtype, 1)


def dns_response(ident, name, qtype, rcode, answers):
    body = struct.pack(">HHHHHH", ident, 0x8180 | rcode, 1, len(answers), 0, 0) + qname(name) + struct.pack(">HH", qtype, 1)
    for rtype, ttl, rdata in answers:
        body += struct.pack(">HHHIH", 0xC00C, rtype, 1, ttl, len(rdata)) + rdata
    return body


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=8 << 20)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.size = 24
        self.ts_us = 1_700_000_000 * 1_000_000

    def frame(self, eth, ip_header, l4):
        self.ts_us += 37
        n = 14 + len(ip_header) + len(l4)
        self.f.write(struct.pack("<IIII", self.ts_us // 1_000_000, self.ts_us % 1_000_000, n, n))
        self.f.write(eth)
        self.f.write(ip_header)
        self.f.write(l4)
        self.size += 16 + n


def main():
    path, size_mb = sys.argv[1], int(sys.argv[2])
    target = size_mb * 1024 * 1024
    rng = random.Random(20161220)
    w = Writer(path)
    bot = bytes([198, 18, 0, 2])
    resolvers = [bytes([8, 8, 8, 8]), bytes([198, 18, 0, 1])]
    words = ["update", "cdn", "api", "files", "mirror", "static", "dl", "bins", "cnc", "panel"]
    tlds = ["com", "net", "org", "in", "ru", "xyz"]
    session = 0
    while w.size < target:
        session += 1
        ident = session & 0xFFFF
        if session % 7 == 0:
            name = "".join(rng.choice("abcdefghijklmnopqrstuvwxy") for _ in range(12)) + rng.choice([".online", ".tech", ".support"])
        else:
            name = "%s%d.%s.%s" % (rng.choice(words), session % 5000, rng.choice(words), rng.choice(tlds))
        server = bytes([198, 19, (session >> 8) & 0xFF, session & 0xFF])
        resolver = resolvers[session % 2]
        sport = 1024 + session % 60000
        q = udp(sport, 53, dns_query(ident, name, 1))
        w.frame(ETH, ip4(bot, resolver, 17, len(q), session), q)
        if session % 6 == 0:
            r = udp(53, sport, dns_response(ident, name, 1, 3, []))
        else:
            r = udp(53, sport, dns_response(ident, name, 1, 0, [(1, 60 + session % 600, server)]))
        w.frame(ETH_BACK, ip4(resolver, bot, 17, len(r), session), r)
        if session % 6 == 0:
            continue
        cport = 20000 + session % 40000
        seq, sseq = session * 1000, session * 7000
        for src, dst, seg in (
            (bot, server, tcp(cport, 80, seq, 0, 0x02)),
            (server, bot, tcp(80, cport, sseq, seq + 1, 0x12)),
            (bot, server, tcp(cport, 80, seq + 1, sseq + 1, 0x10)),
        ):
            w.frame(ETH if src == bot else ETH_BACK, ip4(src, dst, 6, len(seg), session), seg)
        req = ("GET /bins/%s.mips HTTP/1.1\r\nHost: %s\r\nUser-Agent: Wget/1.%d\r\n\r\n" % (name[:8], name, session % 20)).encode()
        seg = tcp(cport, 80, seq + 1, sseq + 1, 0x18, req)
        w.frame(ETH, ip4(bot, server, 6, len(seg), session), seg)
        data_seq = sseq + 1
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 14000\r\n\r\n"
        for k in range(10):
            payload = (head + BODY[: 1400 - len(head)]) if k == 0 else BODY[k : k + 1400]
            seg = tcp(80, cport, data_seq, seq + 1 + len(req), 0x10, payload)
            data_seq += len(payload)
            w.frame(ETH_BACK, ip4(server, bot, 6, len(seg), session), seg)
        if session % 50 == 0:
            for t in range(20):
                target_ip = bytes([198, 18, 100 + t % 50, (session + t) & 0xFF])
                seg = tcp(40000 + t, 23, t, 0, 0x02)
                w.frame(ETH, ip4(bot, target_ip, 6, len(seg), t), seg)
    w.f.close()
    print("%s: %d sessions, %.1f MB" % (path, session, w.size / 1048576.0))


if __name__ == "__main__":
    main()
