#!/usr/bin/env bash
# SSH sensor benchmark (not a test): `trawl sensor` (ssh) vs Heralding 1.0.7 on this
# machine, same run, same load generator, same load shape.
#
# Load generator: `trawl-loadgen ssh` (crates/trawl-loadgen/src/ssh.rs), a russh client
# in one tokio process: CONC concurrent connections, each a full key exchange followed by
# PER_CONN password attempts, every credential tagged (TAGuNNNN / TAGpNNNN) and every
# answered attempt written in hydra's -V format, so the Heralding kit's bench_count.py
# checks each one against the honeypot's log (lost = answered but not logged).
#
# Measured per honeypot: answered attempts/s (logins/s), CPU seconds of the honeypot
# process (utime+stime from /proc/PID/stat around the flood), CPU % of one core over the
# flood, CPU seconds per 1000 logins, peak RSS, lost attempts; then the trawl/Heralding
# ratios. Loopback only; every loop bounded by TOTAL/HTOTAL attempts and MAXSEC seconds.
#
# env: TRAWL_BIN, LOADGEN_BIN  prebuilt binaries (default: cargo build --release)
#      KIT  Heralding kit (default: ../shared/peers/heralding next to the repo)
#      TOTAL=30000 HTOTAL=6000  attempts (trawl / Heralding)
#      CONC=64 PER_CONN=3 MAXSEC=30 GEN_THREADS=2  flood shape (same for both)
#      HPORT_SHIFT=300  added to every port of the kit's map (other runs may hold them)
#      SKIP_HERALDING=1  trawl only
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
KIT="${KIT:-$(cd "$repo/.." && pwd)/shared/peers/heralding}"
OUT="${OUT:-/tmp/trawl-bench-ssh/$(date +%Y%m%d-%H%M%S)}"
TOTAL="${TOTAL:-30000}"; HTOTAL="${HTOTAL:-6000}"
CONC="${CONC:-64}"; PER_CONN="${PER_CONN:-3}"; MAXSEC="${MAXSEC:-30}"; GEN_THREADS="${GEN_THREADS:-2}"
TPORT="${TPORT:-16022}"
mkdir -p "$OUT"
results="$OUT/results.jsonl"; : > "$results"
log() { printf '[bench-ssh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

if [ -z "${TRAWL_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  log "building release binaries (trawl, trawl-loadgen)"
  (cd "$repo" && nice -n 5 cargo build --release -q -p trawl -p trawl-loadgen)
  target="${CARGO_TARGET_DIR:-$repo/target}"
  TRAWL_BIN="${TRAWL_BIN:-$target/release/trawl}"; LOADGEN_BIN="${LOADGEN_BIN:-$target/release/trawl-loadgen}"
fi
[ -x "$TRAWL_BIN" ] && [ -x "$LOADGEN_BIN" ] || { echo "missing $TRAWL_BIN or $LOADGEN_BIN" >&2; exit 1; }
python3 -c 'import json,os,sys; print(json.dumps({"kind":"machine","cpus":os.cpu_count(),"loadavg":open("/proc/loadavg").read().split()[:3]}))' >> "$results"
log "machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT"

# One flood against PID listening on PORT. Args: NAME PID PORT TOTAL
flood() {
  local name="$1" pid="$2" port="$3" total="$4"
  local tag="s$(date +%s)${name:0:1}" run="$OUT/$name-ssh"
  mkdir -p "$run"
  echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true
  local t0; t0=$(ticks "$pid")
  "$LOADGEN_BIN" --threads "$GEN_THREADS" ssh "$port" --total "$total" --concurrency "$CONC" \
    --per-conn "$PER_CONN" --max-seconds "$MAXSEC" --tag "$tag" --attempts-file "$run/attempts.txt" \
    > "$run/flood.json"
  local t1; t1=$(ticks "$pid")
  local hwm; hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
  python3 - "$name" "$run" "$((t1 - t0))" "$(getconf CLK_TCK)" "$hwm" <<'P' >> "$results"
import json, sys
name, run, ticks, hz, hwm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
flood = json.load(open(run + "/flood.json"))
gen = flood.get("generator_cpu_ticks")
flood["generator_cpu_seconds"] = round(gen / hz, 2) if gen is not None else None
print(json.dumps({"kind": "flood", "honeypot": name, "run_dir": run, **flood,
                  "proc": {"cpu_seconds": round(ticks / hz, 2), "peak_rss_kb_vmhwm": hwm}}))
P
  log "$name: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["answered"], "answered,", d["answered_per_s"], "/s, errors", d["attempt_errors"], d["connect_errors"], d["greeting_errors"])' "$run/flood.json")"
}

count_logged() {
  local name="$1"; shift
  local run="$OUT/$name-ssh"
  local tag; tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' "$run/flood.json")
  python3 - "$name" "$(python3 "$KIT/bench_count.py" "$tag" "$run/attempts.txt" "$@")" <<'P' >> "$results"
import json, sys
print(json.dumps({"kind": "logged", "honeypot": sys.argv[1], **json.loads(sys.argv[2])}))
P
}

# ---------------------------------------------------------------- trawl
tdir="$OUT/trawl-run"; mkdir -p "$tdir"
cat > "$tdir/sensor.toml" <<EOF
bind = "127.0.0.1"
[protocols.ssh]
port = $TPORT
EOF
log "starting trawl sensor (ssh on $TPORT; host keys are generated on first start)"
"$TRAWL_BIN" sensor --config "$tdir/sensor.toml" --data-dir "$tdir/data" --only ssh \
  > "$tdir/stdout.log" 2> "$tdir/stderr.log" & tpid=$!
trap 'kill -TERM "$tpid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q "ssh listening" "$tdir/stderr.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ssh listening" "$tdir/stderr.log" || { cat "$tdir/stderr.log" >&2; exit 1; }
flood trawl "$tpid" "$TPORT" "$TOTAL"
log "stopping trawl (SIGTERM: flush everything)"
kill -TERM "$tpid"; wait "$tpid" || echo "trawl exited non-zero" >&2
trap - EXIT
count_logged trawl "$tdir/data/log_auth.csv"
python3 - "$tdir/data" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' "$OUT/trawl-ssh/flood.json")" <<'P' >> "$results"
import json, sqlite3, sys
data, tag = sys.argv[1], sys.argv[2]
db = sqlite3.connect("file:%s/trawl.db?mode=ro" % data, uri=True)
rows = db.execute("SELECT COUNT(*) FROM auth_attempts WHERE username LIKE ?", (tag + "u%",)).fetchone()[0]
jsonl = sum(1 for l in open(data + "/events.jsonl", errors="replace") if '"type":"auth_attempt"' in l and '"username":"%su' % tag in l)
print(json.dumps({"kind": "stores", "honeypot": "trawl", "sqlite_rows": rows, "jsonl_rows": jsonl}))
P

# ---------------------------------------------------------------- Heralding
if [ "${SKIP_HERALDING:-0}" != 1 ]; then
  . "$KIT/ports.env"
  hbin="${HERALDING_BIN:-/tmp/peers/heralding-venv38/bin/heralding}"
  if [ ! -x "$hbin" ]; then
    log "installing Heralding 1.0.7 with the kit"
    "$KIT/install_heralding.sh" "$(dirname "$(dirname "$hbin")")" > "$OUT/heralding-install.log" 2>&1 \
      || { log "Heralding install failed, see $OUT/heralding-install.log"; exit 3; }
  fi
  # Other benchmarks on this shared machine may hold the kit's ports: shift the whole map.
  for var in PORT_FTP PORT_SSH PORT_TELNET PORT_SMTP PORT_HTTP PORT_POP3 PORT_IMAP PORT_HTTPS \
             PORT_SMTPS PORT_IMAPS PORT_POP3S PORT_SOCKS5 PORT_MYSQL PORT_RDP PORT_POSTGRESQL PORT_VNC; do
    export "$var=$(( ${!var} + ${HPORT_SHIFT:-300} ))"
  done
  hdir="$OUT/heralding-run"
  HERALDING_BIN="$hbin" "$KIT/start_heralding.sh" "$hdir" >&2
  hpid=$(cat "$hdir/heralding.pid")
  trap '"$KIT/stop_heralding.sh" "$hdir" >/dev/null 2>&1 || true' EXIT
  flood heralding "$hpid" "$PORT_SSH" "$HTOTAL"
  "$KIT/stop_heralding.sh" "$hdir" >&2
  trap - EXIT
  count_logged heralding "$hdir/log_auth.csv"
fi

python3 - "$results" <<'P'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
floods = {r["honeypot"]: r for r in rows if r["kind"] == "flood"}
logged = {r["honeypot"]: r for r in rows if r["kind"] == "logged"}
stores = {r["honeypot"]: r for r in rows if r["kind"] == "stores"}
machine = next(r for r in rows if r["kind"] == "machine")
print(f"\nSSH logins, {machine['cpus']} CPUs, load average at start {' '.join(machine['loadavg'])}")
print(f"generator: {next(iter(floods.values()))['generator']}\n")
print("| honeypot | answered | logins/s | honeypot CPU s | CPU % (one core = 100) | CPU s per 1000 logins | peak RSS MB | lost | generator CPU s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
summary = {}
for name, f in floods.items():
    cpu = f["proc"]["cpu_seconds"]; wall = f["wall_s"]; n = f["answered"]
    lg = logged.get(name, {})
    lost = lg.get("tried_but_not_logged")
    dup = lg.get("logged_duplicate_rows")
    summary[name] = (f["answered_per_s"], 100 * cpu / max(wall, 1e-9), 1000 * cpu / max(n, 1), lost)
    print(f"| {name} | {n} | {f['answered_per_s']:.0f} | {cpu:.2f} | {100 * cpu / max(wall, 1e-9):.0f} | "
          f"{1000 * cpu / max(n, 1):.2f} | {f['proc']['peak_rss_kb_vmhwm'] / 1024:.1f} | {lost} (dup {dup}) | {f['generator_cpu_seconds']} |")
if "trawl" in stores:
    s = stores["trawl"]
    print(f"\ntrawl stores: csv {logged['trawl']['logged_rows']} rows, sqlite {s['sqlite_rows']}, jsonl {s['jsonl_rows']} "
          f"(answered {floods['trawl']['answered']})")
if "trawl" in summary and "heralding" in summary:
    t, h = summary["trawl"], summary["heralding"]
    print(f"\nratio trawl/Heralding: logins/s {t[0] / max(h[0], 1e-9):.1f}x (target >= 5x), "
          f"CPU % {t[1] / max(h[1], 1e-9):.2f}x, CPU s per login {t[2] / max(h[2], 1e-9):.3f}x (target <= 1)")
    print(f"lost: trawl {t[3]}, Heralding {h[3]} (target 0)")
P
log "results: $results"
