#!/usr/bin/env bash
# Benchmark of `trawl watch` (not a test), side by side with ripgrep in the same run.
#
# 1. Credential dumps: a generated combolist (COMBO_MB, default 2048 MB) with planted inventory
#    addresses (1 in 10,000 lines, 1 in 50 of them with an upper-case domain) and near misses.
#    `rg -F -f patterns.txt -c` merely counts the lines holding a pattern; `trawl watch` finds,
#    parses and reports every planted address with its password (--reveal, to check them).
#    Target: trawl's throughput >= 0.7x ripgrep's, 100 % recall.
# 2. IP feeds: a plain list of FEED_IPS (default 50 M) addresses against the inventory's 10,000
#    ranges (1 in 100,000 planted inside one). Target: >= 10 M feed IPs per CPU-second.
#
# The machine is shared: CPU seconds (user + sys) are steadier than wall time, so ratios are
# given for both, with the load average next to each measurement. Inputs are read once before
# timing (page cache warm for both tools). Env: CARGO_TARGET_DIR, OUT (bench/out/watch),
# COMBO_MB, FEED_IPS, TRAWL_BIN / LOADGEN_BIN (use these binaries instead of building).
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
OUT=${OUT:-bench/out/watch}
COMBO_MB=${COMBO_MB:-2048}
FEED_IPS=${FEED_IPS:-50000000}
DATA=$OUT/data-$COMBO_MB-$FEED_IPS
mkdir -p "$OUT"

if [ -z "${TRAWL_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  echo "== building (release)"
  nice -n 5 cargo build --release -q -p trawl -p trawl-loadgen
fi
TRAWL=${TRAWL_BIN:-$TARGET/release/trawl}
LOADGEN=${LOADGEN_BIN:-$TARGET/release/trawl-loadgen}
command -v rg >/dev/null || { apt-get update -q && apt-get install -y -q ripgrep; }
echo "== $(rg --version | head -1); machine: $(nproc) cores"

if [ ! -s "$DATA/feed.txt" ]; then
  echo "== generating $COMBO_MB MB combolist and $FEED_IPS feed addresses into $DATA"
  /usr/bin/time -f "   generated in %e s" "$LOADGEN" watch-data --out "$DATA" \
    --combo-mb "$COMBO_MB" --feed-ips "$FEED_IPS"
fi
cat "$DATA/combolist.txt" "$DATA/feed.txt" > /dev/null

# measure NAME OUTFILE CMD...: appends "NAME wall user sys rss_kb load1" to $OUT/times.txt
measure() {
  local name=$1 out=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$OUT/time.txt" "$@" > "$out" || [ $? -le 1 ]
  local t; t=$(tail -n1 "$OUT/time.txt") # exit 1 (new findings) adds a line before
  echo "$name $t $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/times.txt"
  echo "   $name: wall/user/sys/maxrss_kb $t, load $(cut -d' ' -f1-3 /proc/loadavg)"
}
: > "$OUT/times.txt"
fresh_state() { rm -rf "$OUT/state"; }

echo "== credential dump: $(du -h "$DATA/combolist.txt" | cut -f1)"
measure rg "$OUT/rg.count" rg -F -f "$DATA/patterns.txt" -c "$DATA/combolist.txt"
fresh_state
measure trawl-dump "$OUT/dump.jsonl" "$TRAWL" watch -q --reveal --format jsonl \
  --data-dir "$OUT/state" -i "$DATA/inventory.toml" "$DATA/combolist.txt"
echo "== IP feed: $FEED_IPS addresses"
fresh_state
measure trawl-feed "$OUT/feed.jsonl" "$TRAWL" watch -q --format jsonl \
  --data-dir "$OUT/state" -i "$DATA/inventory.toml" "$DATA/feed.txt"

python3 - "$OUT" "$DATA" "$FEED_IPS" <<'PY'
import json, os, sys
out, data, feed_ips = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = {}
for line in open(f"{out}/times.txt"):
    name, wall, user, sys_, rss, load = line.split()
    t[name] = dict(wall=float(wall), cpu=float(user) + float(sys_), rss=int(rss) / 1024, load=load)
size = os.path.getsize(f"{data}/combolist.txt") / 1e6
planted = {tuple(l.rstrip("\n").split("\t")) for l in open(f"{data}/planted.tsv")}
found = set()
for l in open(f"{out}/dump.jsonl"):
    a = json.loads(l)
    if a["category"] == "credential-exposure":
        pw = a["detail"].split('password "', 1)[1].rsplit('"', 1)[0]
        found.add((a["subject"].split(" ")[0], pw))
ips = {l.strip() + "/32" for l in open(f"{data}/planted_ips.txt")}
hit_ips = {json.loads(l)["subject"] for l in open(f"{out}/feed.jsonl")}
rg_lines = int(open(f"{out}/rg.count").read().strip() or 0)
rg, tr, fd = t["rg"], t["trawl-dump"], t["trawl-feed"]
print(f"{'':34}{'wall s':>8}{'CPU s':>8}{'MB/s wall':>11}{'MB/CPU-s':>10}{'RSS MB':>8}  load1")
for name, m in (("rg -F -f patterns -c", rg), ("trawl watch (dump)", tr)):
    print(f"{name:34}{m['wall']:8.2f}{m['cpu']:8.2f}{size / m['wall']:11.0f}{size / m['cpu']:10.0f}{m['rss']:8.1f}  {m['load']}")
print(f"{'trawl watch (IP feed)':34}{fd['wall']:8.2f}{fd['cpu']:8.2f}{'':21}{fd['rss']:8.1f}  {fd['load']}")
print(f"dump throughput trawl/rg: {rg['wall'] / tr['wall']:.2f}x wall, {rg['cpu'] / tr['cpu']:.2f}x CPU (target >= 0.7x)")
print(f"dump recall: {len(found & planted)}/{len(planted)} planted pairs = {100 * len(found & planted) / len(planted):.2f} %"
      f" (target 100 %); {len(found - planted)} reported pairs not planted; rg counted {rg_lines} lines")
print(f"IP feed: {feed_ips / fd['cpu'] / 1e6:.1f} M IPs per CPU-second, {feed_ips / fd['wall'] / 1e6:.1f} M IPs/s wall"
      f" (target >= 10 M/s per core); recall {len(ips & hit_ips)}/{len(ips)}, {len(hit_ips - ips)} not planted")
PY
