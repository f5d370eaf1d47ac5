#!/usr/bin/env bash
# Benchmark of `trawl domains` (not a test), side by side with dnstwist in the same run.
#
# 1. Permutations of the 100 domains of domains100.txt: dnstwist (pip, in process, default
#    fuzzers) against `trawl domains permute --input` (whole process: start, parse, generate,
#    write), with 2 threads and with 1; ratio of wall times (target >= 100x) and names/s.
# 2. Matching: a generated feed (FEED_SIZE lines, default 10 M) with planted lookalikes of every
#    technique of the 100 brands; `trawl domains match` with 1 thread (per core, target
#    >= 2 M domains/s) and 2 threads; recall per technique and false alerts per 100 k.
#
# Env: CARGO_TARGET_DIR, BENCH_OUT (work dir, default /tmp/trawl-bench-domains),
# BENCH_VENV (dnstwist venv), FEED_SIZE. The match run shows a progress bar on a TTY.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-/tmp/trawl-bench-domains}
VENV=${BENCH_VENV:-$OUT/venv}
FEED_SIZE=${FEED_SIZE:-10000000}
DOMAINS=$ROOT/crates/trawl-domains/tests/fixtures/domains100.txt
mkdir -p "$OUT"

echo "== building (release)"
cargo build --release -q -p trawl
cargo build --release -q -p trawl-domains --example bench_feed
TRAWL=$TARGET/release/trawl
BENCH=$TARGET/release/examples/bench_feed

if ! "$VENV/bin/python" -c "import dnstwist" 2>/dev/null; then
  echo "== installing dnstwist into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'dnstwist==20250130'
fi

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

echo "== permutations: $(wc -l < "$DOMAINS") domains"
read -r dt_names dt_secs < <("$VENV/bin/python" "$ROOT/bench/domains/dnstwist_time.py" "$DOMAINS")
t0=$(now); "$TRAWL" domains permute --input "$DOMAINS" > "$OUT/permute.txt"; t1=$(now)
tr_secs=$(elapsed "$t0" "$t1"); tr_names=$(wc -l < "$OUT/permute.txt")
t0=$(now); RAYON_NUM_THREADS=1 "$TRAWL" domains permute --input "$DOMAINS" > "$OUT/permute1.txt"; t1=$(now)
tr1_secs=$(elapsed "$t0" "$t1")
inproc=$("$BENCH" permute "$DOMAINS")
python3 - "$dt_names" "$dt_secs" "$tr_names" "$tr_secs" "$tr1_secs" <<'PY'
import sys
dn, ds, tn, ts, t1 = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(f"dnstwist (in process)      {dn:>9} names {ds:8.3f} s {dn/ds:>12,.0f} names/s")
print(f"trawl permute, 2 threads   {tn:>9} names {ts:8.3f} s {tn/ts:>12,.0f} names/s  time ratio {ds/ts:6.1f}x  rate ratio {(tn/ts)/(dn/ds):6.1f}x")
print(f"trawl permute, 1 thread    {tn:>9} names {t1:8.3f} s {tn/t1:>12,.0f} names/s  time ratio {ds/t1:6.1f}x  rate ratio {(tn/t1)/(dn/ds):6.1f}x")
PY
echo "trawl in process: $inproc"

echo "== matching: $FEED_SIZE feed domains, 100 brands"
"$BENCH" gen "$OUT/match" "$FEED_SIZE" "$DOMAINS"
M=$OUT/match
: > "$M/empty.txt"
t0=$(now); "$TRAWL" domains match --inventory "$M/brands.toml" --feed-format list "$M/empty.txt" 2>/dev/null; t1=$(now)
build=$(elapsed "$t0" "$t1")
for threads in 1 2; do
  t0=$(now)
  RAYON_NUM_THREADS=$threads "$TRAWL" domains match --inventory "$M/brands.toml" --feed-format list --format csv "$M/feed.txt" > "$M/hits$threads.csv"
  t1=$(now)
  secs=$(elapsed "$t0" "$t1")
  python3 - "$FEED_SIZE" "$secs" "$build" "$threads" <<'PY'
import sys
n, s, b, t = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"trawl match, {t} thread(s): {s:.2f} s total ({b:.2f} s building the 100 brand indexes), "
      f"{n/s:,.0f} domains/s end to end, {n/(s-b):,.0f} domains/s matching, {n/(s-b)/t:,.0f} per core")
PY
done
"$BENCH" score "$M" "$M/hits1.csv"
