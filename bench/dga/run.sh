#!/usr/bin/env bash
# Mirai DGA brute force (256 seeds x 10 years) and scorer throughput.
# Peer: the plain-Python brute force analysts use (bench/dga/peer_mirai_check.py).
# Usage: bench/dga/run.sh   (needs python3 and /usr/share/dict/words from wamerican)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/targets/whois-dga}"
cargo build -q --release -p trawl-dga --example bench
ours=$("$CARGO_TARGET_DIR/release/examples/bench")
echo "$ours"
peer=$(python3 bench/dga/peer_mirai_check.py hrjlyymassqx.tech)
echo "$peer"
o=$(echo "$ours" | awk '/^mirai_check_seconds/ {print $2}')
p=$(echo "$peer" | awk '/^peer_seconds/ {print $2}')
awk -v o="$o" -v p="$p" 'BEGIN { printf "ratio peer/trawl %.0fx (trawl %.4f s, python peer %.2f s)\n", p / o, o, p }'
