#!/usr/bin/env bash
# Benchmark of `trawl report` (not a test): generates a realistic 10 M-row Heralding log
# (~1 M distinct sources, Zipf-like credentials, Mirai sessions with commands and tftp
# lines) and times, in one run on this machine:
#   - trawl report (release, every analysis, JSON output)
#   - the seed's csvkit pipeline per column (csvcut -c COL | sort | uniq -c | sort -nr)
#   - xsv frequency for the same three columns (source_ip, username, password)
# printing the ratios (wall and CPU seconds) and peak RSS. Targets: >= 50x csvkit, no slower than xsv, RSS < 1 GB.
#
# Env: ROWS (10000000), CSVKIT_ROWS (1000000: csvkit is measured on the first N rows
# because it needs minutes per column at 10 M; the ratio compares equal row counts),
# OUT (bench/out), TRAWL_BIN (use this trawl binary instead of building one). Needs python3 with pip; installs csvkit (PyPI) and xsv (crates.io,
# built into $OUT/xsv, not into the repository) if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-10000000}
CSVKIT_ROWS=${CSVKIT_ROWS:-1000000}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
TARGET=${CARGO_TARGET_DIR:-target}

echo "== building (release)"
if [ -z "${TRAWL_BIN:-}" ]; then
  cargo build --release -q -p trawl
fi
TRAWL=${TRAWL_BIN:-$TARGET/release/trawl}
CARGO_TARGET_DIR="$TARGET/bench-gen" cargo build --release -q --manifest-path bench/report/gen/Cargo.toml
GEN="$TARGET/bench-gen/release/trawl-bench-report-gen"
command -v csvcut >/dev/null || python3 -m pip install -q csvkit
XSV="$OUT/xsv/bin/xsv"
[ -x "$XSV" ] || CARGO_TARGET_DIR="$TARGET/bench-xsv" cargo install -q xsv --version 0.13.0 --locked --root "$OUT/xsv"

BIG="$OUT/heralding_${ROWS}.csv"
SMALL="$OUT/heralding_${CSVKIT_ROWS}.csv"
[ -s "$BIG" ] || "$GEN" "$ROWS" 6000000 "$BIG"
head -n $((CSVKIT_ROWS + 1)) "$BIG" > "$SMALL"
echo "== inputs: $BIG ($(du -h "$BIG" | cut -f1)), $SMALL"

csvkit_pipeline() { # file
  local f=$1 cmd=""
  for col in source_ip username password; do
    cmd+="csvcut -c $col $f | sort | uniq -c | sort -nr > /dev/null; "
  done
  echo "$cmd"
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $CSVKIT_ROWS rows"
python3 bench/report/measure.py \
  "trawl report" "$TRAWL report $SMALL --format json --out /dev/null" \
  "csvkit pipeline (3 columns)" "$(csvkit_pipeline "$SMALL")" \
  > "$OUT/small.txt"
cat "$OUT/small.txt" | grep -v '^{'
echo "== $ROWS rows"
python3 bench/report/measure.py \
  "trawl report" "$TRAWL report $BIG --format json --out /dev/null" \
  "xsv frequency (3 columns)" "$XSV frequency -s source_ip,username,password -l 10 $BIG > /dev/null" \
  > "$OUT/big.txt"
cat "$OUT/big.txt" | grep -v '^{'

python3 - "$OUT/small.txt" "$OUT/big.txt" <<'PY'
import json, sys
small = json.loads(open(sys.argv[1]).read().splitlines()[-1])
big = json.loads(open(sys.argv[2]).read().splitlines()[-1])
t, c = small["trawl report"]["seconds"], small["csvkit pipeline (3 columns)"]["seconds"]
tb, x = big["trawl report"]["seconds"], big["xsv frequency (3 columns)"]["seconds"]
tc, cc = small["trawl report"]["cpu_seconds"], small["csvkit pipeline (3 columns)"]["cpu_seconds"]
tbc, xc = big["trawl report"]["cpu_seconds"], big["xsv frequency (3 columns)"]["cpu_seconds"]
rss = big["trawl report"]["peak_rss_mb"]
print("== ratios (wall time: the targets; CPU time: steadier on a shared machine)")
print(f"  csvkit / trawl (same rows):   {c / t:8.1f}x wall  {cc / tc:8.1f}x CPU   (target >= 50x)")
print(f"  xsv frequency / trawl:        {x / tb:8.2f}x wall  {xc / tbc:8.2f}x CPU   (target >= 1.0x)")
print(f"  trawl peak RSS on big input:  {rss:8.1f} MB (target < 1024 MB)")
print(f"  load average after the run:   {open('/proc/loadavg').read().split()[0]}")
PY
