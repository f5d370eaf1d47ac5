#!/usr/bin/env bash
# Benchmark of `trawl domains` (not a test), side by side with dnstwist in the same run.
#
# 1. Permutations of the 100 domains of domains100.txt: dnstwist (pip, in process, default
#    fuzzers) against `trawl domains permute --input` (whole process: start, parse, generate,
#    write) with 2 threads and with 1; ratios of wall time and of CPU time (target >= 100x).
# 2. Matching: a generated feed (FEED_SIZE lines, default 10 M) with planted lookalikes of every
#    technique of the 100 brands; `trawl domains match` with 1 and 2 threads, throughput per
#    core = domains / CPU seconds (target >= 2 M/s), both after subtracting the CPU of a run on
#    an empty feed (start-up and the brand indexes) and of the whole process; recall per
#    technique, false alerts per 100 k.
#    Also the library alone (`Matcher::check` on a feed held in memory).
#
# CPU time is reported next to wall time because the machine is shared: per-core throughput is
# domains per CPU-second. Env: CARGO_TARGET_DIR, BENCH_OUT (default /tmp/trawl-bench-domains),
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

# measure OUTFILE CMD...: runs CMD with stdout to OUTFILE; sets WALL and CPU (user+sys).
measure() {
  local out=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$OUT/time.txt" "$@" > "$out"
  read -r WALL user sys < "$OUT/time.txt"
  CPU=$(python3 -c "print(f'{$user + $sys:.3f}')")
}

echo "== permutations: $(wc -l < "$DOMAINS") domains"
read -r dt_names dt_wall dt_cpu < <("$VENV/bin/python" "$ROOT/bench/domains/dnstwist_time.py" "$DOMAINS")
# trawl's run is ~0.1 s, at the edge of /usr/bin/time's resolution: median of REPEAT runs,
# CPU from wait4's rusage (dnstwist's 9 s run is timed once, in process, without start-up).
REPEAT=${REPEAT:-15}
read -r tr_wall tr_cpu < <(python3 "$ROOT/bench/domains/repeat.py" "$REPEAT" "$OUT/permute.txt" "$TRAWL" domains permute --input "$DOMAINS")
tr_names=$(wc -l < "$OUT/permute.txt")
read -r tr1_wall tr1_cpu < <(python3 "$ROOT/bench/domains/repeat.py" "$REPEAT" "$OUT/permute1.txt" env RAYON_NUM_THREADS=1 "$TRAWL" domains permute --input "$DOMAINS")
echo "(trawl: median of $REPEAT runs each)"
python3 - "$dt_names" "$dt_wall" "$dt_cpu" "$tr_names" "$tr_wall" "$tr_cpu" "$tr1_wall" "$tr1_cpu" <<'PY'
import sys
dn, dw, dc, tn, tw, tc, t1w, t1c = (float(x) for x in sys.argv[1:])
print(f"{'':28}{'names':>9} {'wall s':>8} {'CPU s':>8} {'names/CPU-s':>12}  ratio wall / CPU")
print(f"{'dnstwist (in process)':28}{dn:>9.0f} {dw:>8.3f} {dc:>8.3f} {dn/dc:>12,.0f}")
print(f"{'trawl permute, 2 threads':28}{tn:>9.0f} {tw:>8.3f} {tc:>8.3f} {tn/tc:>12,.0f}  {dw/tw:6.1f}x / {dc/tc:6.1f}x")
print(f"{'trawl permute, 1 thread':28}{tn:>9.0f} {t1w:>8.3f} {t1c:>8.3f} {tn/t1c:>12,.0f}  {dw/t1w:6.1f}x / {dc/t1c:6.1f}x")
print(f"(trawl generates {tn/dn:.1f}x as many names; names/s ratio on CPU: {(tn/tc)/(dn/dc):.0f}x)")
PY
echo "library, in process: $("$BENCH" permute "$DOMAINS")"

echo "== matching: $FEED_SIZE feed domains, 100 brands"
M=$OUT/match
"$BENCH" gen "$M" "$FEED_SIZE" "$DOMAINS"
: > "$M/empty.txt"
measure /dev/null "$TRAWL" domains match --inventory "$M/brands.toml" --feed-format list "$M/empty.txt"
build_wall=$WALL build_cpu=$CPU
for threads in 1 2; do
  measure "$M/hits$threads.csv" env RAYON_NUM_THREADS=$threads "$TRAWL" domains match \
    --inventory "$M/brands.toml" --feed-format list --format csv "$M/feed.txt"
  python3 - "$FEED_SIZE" "$WALL" "$CPU" "$build_wall" "$build_cpu" "$threads" <<'PY'
import sys
n, w, c, bw, bc, t = (float(x) for x in sys.argv[1:])
print(f"trawl match, {t:.0f} thread(s): {w:.2f} s wall, {c:.2f} s CPU (of which {bc:.2f} s CPU building the "
      f"100 brand indexes); {n/(c-bc):,.0f} domains per CPU-second (per core) after the build, "
      f"{n/c:,.0f} whole process; {n/(w-bw):,.0f} domains/s wall")
PY
done
echo "library, in process: $("$BENCH" check "$M")"
"$BENCH" score "$M" "$M/hits1.csv"
