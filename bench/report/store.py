#!/usr/bin/env python3
"""Writes a trawl.db from a Heralding-format log, as the sensor would have stored it.

usage: store.py LOG.csv OUT.db

The schema is trawl's own (`SCHEMA` in crates/trawl-sinks/src/sqlite.rs, read from the
source so that it cannot drift). Attempts go to `auth_attempts` in log order; each
session gets its `sessions` row as the sensor writes it when the connection ends: end
time 0.4 s after its last attempt, rows in end-time order. Used to measure
`trawl report` on a store (docs/report.md, run 14); not a test.
"""
import csv
import os
import re
import sqlite3
import sys
from datetime import datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = os.path.join(HERE, "..", "..", "crates", "trawl-sinks", "src", "sqlite.rs")


def schema():
    text = open(SINK, encoding="utf-8").read()
    found = re.search(r'pub const SCHEMA: &str = "(.*?)";', text, re.S)
    if not found:
        sys.exit(f"{SINK}: no SCHEMA constant")
    return found.group(1)


def iso(ts):
    return ts.replace(" ", "T") + "Z"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    if os.path.exists(dst):
        os.remove(dst)
    db = sqlite3.connect(dst)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.executescript(schema())
    sessions = {}

    def attempts():
        with open(src, newline="") as f:
            rows = csv.reader(f)
            next(rows)
            for line, (ts, aid, sid, ip, sport, dip, dport, proto, user, pw) in enumerate(rows, 2):
                seen = sessions.get(sid)
                if seen is None:
                    sessions[sid] = [ts, ts, proto, ip, int(sport), dip, int(dport), 1]
                else:
                    seen[1] = ts
                    seen[7] += 1
                yield (aid, sid, iso(ts), proto, ip, int(sport), dip, int(dport), user, pw,
                       None, "password", user.encode(), pw.encode())

    db.executemany(
        "INSERT INTO auth_attempts (auth_id, session_id, timestamp, protocol, source_ip, "
        "source_port, destination_ip, destination_port, username, password, password_hash, "
        "mechanism, username_raw, password_raw) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        attempts(),
    )
    fmt = "%Y-%m-%d %H:%M:%S.%f"

    def ends():
        for sid, (first, last, proto, ip, sport, dip, dport, n) in sessions.items():
            start = datetime.strptime(first, fmt)
            end = datetime.strptime(last, fmt) + timedelta(seconds=0.4)
            yield (end, sid, start, proto, ip, sport, dip, dport, n)

    rows = sorted(ends())
    db.executemany(
        "INSERT INTO sessions (session_id, start_time, end_time, duration, protocol, source_ip, "
        "source_port, destination_ip, destination_port, num_auth_attempts, end_reason, "
        "auxiliary_data) VALUES (?,?,?,?,?,?,?,?,?,?,'client_closed','{}')",
        ((sid, iso(start.strftime(fmt)), iso(end.strftime(fmt)), (end - start).total_seconds(),
          proto, ip, sport, dip or "", dport, n) for end, sid, start, proto, ip, sport, dip, dport, n in rows),
    )
    db.commit()
    print(f"{dst}: {sum(s[7] for s in sessions.values())} attempts, {len(sessions)} sessions")


if __name__ == "__main__":
    main()
