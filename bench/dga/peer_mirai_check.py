#!/usr/bin/env python3
"""Peer for the Mirai brute-force benchmark: the straightforward way analysts
brute-force the seed in Python (as in the GovCERT.ch / Netlab 360 write-ups:
regenerate every (seed, date) label and compare). Written for this benchmark
from the algorithm description in docs/dga.md."""
import datetime
import sys
import time

M = 0xFFFFFFFF


def label(day, month, year, seed):
    d, m, y, s = day, month, year, seed
    out = []
    for _ in range(12):
        d = ((d >> 15) ^ (16 * ((d & 0x1FFF) ^ (4 * (s ^ d))))) & M
        y = ((((y & 0xFFFFFFF0) << 17) & M) ^ (((y ^ (7 * y)) & M) >> 11)) & M
        m = ((14 * (m & 0xFFFFFFFE)) ^ (((m ^ (4 * m)) & M) >> 8)) & M
        s = ((s >> 6) ^ (((d + 8 * s) << 8) & 0x3FFFF00)) & M
        out.append(chr(ord("a") + (d ^ m ^ y) % 25))
    return "".join(out)


def main():
    target = sys.argv[1].split(".")[0]
    start, end = datetime.date(2016, 1, 1), datetime.date(2025, 12, 31)
    t = time.perf_counter()
    hits = []
    day = start
    while day <= end:
        for seed in range(256):
            if label(day.day, day.month, day.year, seed) == target:
                hits.append((seed, day.isoformat()))
        day += datetime.timedelta(days=1)
    print(f"peer_seconds {time.perf_counter() - t:.3f} s ({len(hits)} hits, first {hits[:1]})")


if __name__ == "__main__":
    main()
