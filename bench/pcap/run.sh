#!/usr/bin/env bash
# Benchmark (not a test): trawl pcap vs tshark's DNS field extraction on a
# generated capture of at least 1 GB, in one run. Prints both times, the
# ratio (target: trawl >= 20x faster), peak memory of each, and checks that
# the DNS results are identical. trawl shows a progress bar when stderr is a
# terminal.
#
#   bench/pcap/run.sh            # 1100 MB capture
#   SIZE_MB=200 bench/pcap/run.sh
#   KEEP=1 WORK=/tmp/pcap-bench bench/pcap/run.sh   # keep the capture
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE_MB=${SIZE_MB:-1100}
WORK=${WORK:-$(mktemp -d /tmp/trawl-pcap-bench.XXXXXX)}
mkdir -p "$WORK"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
for tool in tshark python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 2; }
done

echo "== building trawl (release)"
cargo build --release -p trawl --quiet
TRAWL="$CARGO_TARGET_DIR/release/trawl"

CAP="$WORK/bench.pcap"
if [ ! -s "$CAP" ]; then
  echo "== generating ${SIZE_MB} MB capture"
  python3 bench/pcap/gen.py "$CAP" "$SIZE_MB"
fi
BYTES=$(stat -c %s "$CAP")
cat "$CAP" > /dev/null   # same page-cache state for both tools

echo "== trawl pcap"
/usr/bin/time -f "%e %M" -o "$WORK/trawl.time" \
  "$TRAWL" pcap "$CAP" --format json > "$WORK/trawl.json"
echo "== tshark -T fields (DNS)"
/usr/bin/time -f "%e %M" -o "$WORK/tshark.time" \
  tshark -r "$CAP" -n -Y dns -T fields -E separator=/t -E occurrence=a -E 'aggregator=|' \
    -e ip.src -e ip.dst -e dns.flags.response -e dns.flags.rcode -e dns.qry.name \
    -e dns.qry.type -e dns.count.answers -e dns.resp.name -e dns.resp.type -e dns.resp.ttl \
    -e dns.a -e dns.aaaa -e dns.cname -e dns.mx.mail_exchange -e dns.ns -e dns.txt \
    > "$WORK/tshark.tsv" 2>/dev/null

read -r T_TRAWL M_TRAWL < "$WORK/trawl.time"
read -r T_TSHARK M_TSHARK < "$WORK/tshark.time"
PACKETS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["stats"]["frames"])' "$WORK/trawl.json")
echo
echo "== results"
python3 - "$BYTES" "$PACKETS" "$T_TRAWL" "$M_TRAWL" "$T_TSHARK" "$M_TSHARK" <<'PY'
import sys
size, packets, tt, mt, ts, ms = sys.argv[1:]
size, packets, tt, ts = int(size), int(packets), max(float(tt), 0.01), float(ts)
mb = size / 1048576
print("  capture   %.0f MB, %d packets" % (mb, packets))
print("  trawl     %7.2f s  %7.0f MB/s  %9.0f pkt/s  peak RSS %5.0f MB" % (tt, mb / tt, packets / tt, int(mt) / 1024))
print("  tshark    %7.2f s  %7.0f MB/s  %9.0f pkt/s  peak RSS %5.0f MB" % (ts, mb / ts, packets / ts, int(ms) / 1024))
print("  ratio     trawl is %.1fx faster than tshark (target >= 20x)" % (ts / tt))
PY
python3 bench/pcap/compare.py "$WORK/trawl.json" "$WORK/tshark.tsv"
[ -n "${KEEP:-}" ] || rm -f "$CAP"
