#!/usr/bin/env bash
# Benchmark of `trawl report` (not a test): generates a realistic 10 M-row Heralding log
# (~1 M distinct sources, Zipf-like credentials, Mirai sessions with commands and tftp
# lines) and times, in one run on this machine:
#   - trawl report (release, every analysis, JSON output)
#   - the seed's csvkit pipeline per column (csvcut -c COL | sort | uniq -c | sort -nr) for
#     source_ip, username, password and the credential pair (csvcut -c 9,10), each timed
#   - xsv frequency for source_ip, username, password (it has no pair column)
#   - the floor (bench/report/floor): the same four tables and nothing else, checked
#     equal to trawl's, so the ratio shows what the counting alone allows here
# printing the ratios (wall and CPU seconds) and peak RSS. Targets: >= 50x csvkit, no slower than xsv, RSS < 1 GB.
#
# csvkit is timed twice: on the first CSVKIT_ROWS rows (beside trawl on the same rows,
# as runs 1-16 did) and on the whole log, the size the target is set for (about 100 s
# per column at 10 M rows here, so CSVKIT_BIG_REPEAT runs of it, 1 by default).
# Env: REPEAT (3: runs per command, alternating; the median is reported), ROWS (10000000), CSVKIT_ROWS (1000000),
# CSVKIT_BIG_REPEAT (1; 0 leaves out csvkit on the whole log),
# OUT (bench/out), PROFILE (release-lto), TRAWL_BIN (use this trawl binary instead of building one). Needs python3 with pip; installs csvkit (PyPI) and xsv (crates.io,
# built into $OUT/xsv, not into the repository) if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-10000000}
CSVKIT_ROWS=${CSVKIT_ROWS:-1000000}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
TARGET=${CARGO_TARGET_DIR:-target}

# The shipped build: the release-lto profile (root Cargo.toml); PROFILE=release for the
# quicker build.
PROFILE=${PROFILE:-release-lto}
echo "== building ($PROFILE)"
if [ -z "${TRAWL_BIN:-}" ]; then
  cargo build --profile "$PROFILE" -q -p trawl
fi
TRAWL=${TRAWL_BIN:-$TARGET/$PROFILE/trawl}
CARGO_TARGET_DIR="$TARGET/bench-gen" cargo build --release -q --manifest-path bench/report/gen/Cargo.toml
GEN="$TARGET/bench-gen/release/trawl-bench-report-gen"
# The floor: the seed's four tables and nothing else (bench/report/floor), timed beside
# trawl to show what the counting alone costs on this machine.
CARGO_TARGET_DIR="$TARGET/bench-floor" cargo build --release -q --manifest-path bench/report/floor/Cargo.toml
FLOOR="$TARGET/bench-floor/release/trawl-bench-report-floor"
command -v csvcut >/dev/null || python3 -m pip install -q csvkit
XSV="$OUT/xsv/bin/xsv"
[ -x "$XSV" ] || CARGO_TARGET_DIR="$TARGET/bench-xsv" cargo install -q xsv --version 0.13.0 --locked --root "$OUT/xsv"

BIG="$OUT/heralding_${ROWS}.csv"
SMALL="$OUT/heralding_${CSVKIT_ROWS}.csv"
[ -s "$BIG" ] || "$GEN" "$ROWS" 6000000 "$BIG"
# The small input is written once (not on every run: a file rewritten just before
# the first timed command was still being written back, which slowed that command).
[ -s "$SMALL" ] && [ "$SMALL" -nt "$BIG" ] || head -n $((CSVKIT_ROWS + 1)) "$BIG" > "$SMALL"
sync
echo "== inputs: $BIG ($(du -h "$BIG" | cut -f1)), $SMALL"

# The seed's pipelines, one per column: csvcut -c COL | sort | uniq -c | sort -nr. The
# seed runs them for source_ip, username and password (lines ~435-470) and for the
# credential pairs with `csvcut -c 9,10` (line ~81); trawl's report has all four tables.
CSVKIT_COLUMNS=(source_ip username password 9,10)
# Sets csvkit_args to measure.py's (label, command) pairs of the pipelines over file $1.
csvkit_pipelines() {
  csvkit_args=()
  for col in "${CSVKIT_COLUMNS[@]}"; do
    csvkit_args+=("csvkit $col" "csvcut -c $col $1 | sort | uniq -c | sort -nr > /dev/null")
  done
}
csvkit_pipelines "$SMALL"

# The floor must compute the same four tables as trawl, or its time means nothing.
"$TRAWL" report "$SMALL" --format json --out "$OUT/small-trawl.json"
"$FLOOR" "$SMALL" > "$OUT/small-floor.json"
python3 - "$OUT/small-trawl.json" "$OUT/small-floor.json" <<'PY'
import json, sys
trawl, floor = (json.load(open(p)) for p in sys.argv[1:])
def rows(table):
    return [(r.get("value"), r.get("username"), r.get("password"), r["count"]) for r in table]
for name, table in floor.items():
    if rows(table) != rows(trawl[name]):
        sys.exit(f"the floor's {name} differs from trawl's: {rows(table)} vs {rows(trawl[name])}")
print("== the floor's four top-10 tables equal trawl's")
PY

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $CSVKIT_ROWS rows"
python3 bench/report/measure.py \
  "trawl report" "$TRAWL report $SMALL --format json --out /dev/null" \
  "floor (4 tables only)" "$FLOOR $SMALL > /dev/null" \
  "${csvkit_args[@]}" \
  > "$OUT/small.txt"
grep -v '^{' "$OUT/small.txt"
echo "== $ROWS rows (load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 bench/report/measure.py \
  "trawl report" "$TRAWL report $BIG --format json --out /dev/null" \
  "floor (4 tables only)" "$FLOOR $BIG > /dev/null" \
  "xsv frequency (3 columns)" "$XSV frequency -s source_ip,username,password -l 10 $BIG > /dev/null" \
  > "$OUT/big.txt"
grep -v '^{' "$OUT/big.txt"
CSVKIT_BIG_REPEAT=${CSVKIT_BIG_REPEAT:-1}
echo '{}' > "$OUT/big-csvkit.txt"
if [ "$CSVKIT_BIG_REPEAT" -gt 0 ]; then
  echo "== csvkit on all $ROWS rows ($CSVKIT_BIG_REPEAT run each; load average $(cut -d' ' -f1-3 /proc/loadavg))"
  csvkit_pipelines "$BIG"
  REPEAT=$CSVKIT_BIG_REPEAT python3 bench/report/measure.py "${csvkit_args[@]}" > "$OUT/big-csvkit.txt"
  grep -v '^{' "$OUT/big-csvkit.txt"
fi

python3 - "$OUT/small.txt" "$OUT/big.txt" "$OUT/big-csvkit.txt" "$ROWS" "$CSVKIT_ROWS" <<'PY'
import json, sys
small = json.loads(open(sys.argv[1]).read().splitlines()[-1])
big = json.loads(open(sys.argv[2]).read().splitlines()[-1])
big_csvkit = json.loads(open(sys.argv[3]).read().splitlines()[-1])
rows, small_rows = int(sys.argv[4]), int(sys.argv[5])
trawl = small.pop("trawl report")
floor = small.pop("floor (4 tables only)")
csvkit = {k: v for k, v in small.items() if k.startswith("csvkit ")}
three = [k for k in csvkit if k != "csvkit 9,10"]
def total(keys, field):
    return sum(csvkit[k][field] for k in keys)
tb, x = big["trawl report"], big["xsv frequency (3 columns)"]
print(f"== ratios on the first {small_rows} rows (wall time: the targets; CPU time: steadier on a shared machine)")
for k, v in csvkit.items():
    print(f"  {k + ' / trawl':<34}{v['seconds'] / trawl['seconds']:8.1f}x wall  {v['cpu_seconds'] / trawl['cpu_seconds']:8.1f}x CPU")
for label, keys in (("csvkit, 3 columns / trawl", three), ("csvkit, 4 columns / trawl", list(csvkit))):
    w, c = total(keys, "seconds"), total(keys, "cpu_seconds")
    print(f"  {label:<34}{w / trawl['seconds']:8.1f}x wall  {c / trawl['cpu_seconds']:8.1f}x CPU   ({w:.2f} s wall, {c:.2f} s CPU; target >= 50x)")
w, c = total(list(csvkit), "seconds"), total(list(csvkit), "cpu_seconds")
print(f"  {'csvkit, 4 columns / floor':<34}{w / floor['seconds']:8.1f}x wall  {c / floor['cpu_seconds']:8.1f}x CPU   (the four tables alone, nothing else)")
print(f"  {'trawl / floor':<34}{trawl['seconds'] / floor['seconds']:8.2f}x wall  {trawl['cpu_seconds'] / floor['cpu_seconds']:8.2f}x CPU   (the cost of the rest of the analysis)")
bt, bf = big["trawl report"], big["floor (4 tables only)"]
print(f"== ratios on all {rows} rows, the size the targets are set for")
print(f"  {'trawl / floor':<34}{bt['seconds'] / bf['seconds']:8.2f}x wall  {bt['cpu_seconds'] / bf['cpu_seconds']:8.2f}x CPU")
if big_csvkit:
    w = sum(v["seconds"] for v in big_csvkit.values())
    c = sum(v["cpu_seconds"] for v in big_csvkit.values())
    print(f"  {'csvkit, 4 columns / trawl':<34}{w / bt['seconds']:8.1f}x wall  {c / bt['cpu_seconds']:8.1f}x CPU   ({w:.2f} s wall, {c:.2f} s CPU; target >= 50x)")
    print(f"  {'csvkit, 4 columns / floor':<34}{w / bf['seconds']:8.1f}x wall  {c / bf['cpu_seconds']:8.1f}x CPU")
print(f"  {'xsv frequency / trawl':<34}{x['seconds'] / tb['seconds']:8.2f}x wall  {x['cpu_seconds'] / tb['cpu_seconds']:8.2f}x CPU   (target >= 1.0x)")
print(f"  {'trawl peak RSS on big input':<34}{tb['peak_rss_mb']:8.1f} MB (target < 1024 MB)")
print(f"  {'load average after the run':<34}{open('/proc/loadavg').read().split()[0]}")
PY
