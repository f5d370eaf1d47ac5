#!/usr/bin/env python3
"""Compare the DNS results of trawl (JSON report) and tshark (field output).

Usage: compare.py TRAWL.json TSHARK.tsv
Both are reduced to the same three sets: queries (name, qtype, resolver),
responses (name, qtype, resolver, rcode) and answers (question, owner,
type, value, ttl); prints the sizes and exits 1 when they differ.
The tshark columns are the -e list in run.sh, in that order.
"""

import json
import sys

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "MX": 15, "TXT": 16, "AAAA": 28}
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}


def cells(value):
    return [v for v in value.split("|") if v]


def trawl_sets(path):
    report = json.load(open(path))
    queries, responses, answers = set(), set(), set()
    for q in report["dns"]:
        key = (q["name"], q["type_code"], q["resolver"])
        if q["queries"]:
            queries.add(key)
        if q["responses"]:
            for rcode in q["rcodes"]:
                responses.add(key + (RCODES.get(rcode, rcode),))
        for a in q["answers"]:
            answers.add((q["name"], a["name"], TYPES[a["type"]], a["value"], a["ttl"]))
    return queries, responses, answers


def tshark_sets(path):
    queries, responses, answers = set(), set(), set()
    for line in open(path, encoding="utf-8", errors="replace"):
        row = line.rstrip("\n").split("\t")
        row += [""] * (16 - len(row))
        src, dst, resp, rcode, name, qtype, count = (cells(c)[0] if cells(c) else "" for c in row[:7])
        name = name.lower()
        qtype = int(qtype or 0)
        if resp not in ("1", "True"):
            queries.add((name, qtype, dst))
            continue
        responses.add((name, qtype, src, int(rcode or 0)))
        owners, types, ttls = cells(row[7]), cells(row[8]), cells(row[9])
        values = {1: cells(row[10]), 28: cells(row[11]), 5: cells(row[12]), 15: cells(row[13]), 2: cells(row[14])}
        txt = "".join(cells(row[15]))
        for i in range(int(count or 0)):
            rtype = int(types[i]) if i < len(types) else 0
            if rtype == 16:
                value = txt
            elif values.get(rtype):
                value = values[rtype].pop(0)
                if rtype not in (1, 28):
                    value = value.lower()
            else:
                continue
            owner = owners[i].lower() if i < len(owners) else ""
            ttl = int(ttls[i]) if i < len(ttls) else 0
            answers.add((name, owner, rtype, value, ttl))
    return queries, responses, answers


def main():
    ours = trawl_sets(sys.argv[1])
    theirs = tshark_sets(sys.argv[2])
    ok = True
    for label, a, b in zip(("queries", "responses", "answers"), ours, theirs):
        same = a == b
        ok &= same
        print("  DNS %-9s trawl %7d  tshark %7d  %s" % (label, len(a), len(b), "identical" if same else "DIFFERENT"))
        if not same:
            print("    only trawl: %s" % sorted(a - b)[:5])
            print("    only tshark: %s" % sorted(b - a)[:5])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
