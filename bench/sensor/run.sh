#!/usr/bin/env bash
# Sensor benchmark (not a test): trawl sensor vs Heralding 1.0.7 on this machine, same run.
#
#  1. login floods (ftp, pop3, imap, smtp, telnet) from the Rust load generator
#     (crates/trawl-loadgen) against `trawl sensor`, then against Heralding; logged
#     attempts/s, loss (answered attempts missing from the honeypot's log), CPU, peak RSS,
#     and the trawl/Heralding ratio per protocol;
#  2. idle test: IDLE_N idle connections held while fresh logins are timed (trawl with
#     trawl-loadgen idle, Heralding with the kit's idle_conns.py), RSS and leaked fds;
#  3. the machine's ceiling: the same ftp and pop3 floods against `trawl-loadgen ceiling`,
#     a do-nothing server (fixed replies, no logging), i.e. the most logins/s any honeypot
#     could reach here with the generator on the same cores (SKIP_CEILING=1 skips it).
#
# Loopback only, every loop bounded in count and time. Heralding is installed with the
# kit's install_heralding.sh when missing. Results: $OUT (JSON lines) and a Markdown table
# on stdout.
#
# env: TRAWL_BIN, LOADGEN_BIN  prebuilt binaries (default: cargo build --release)
#      KIT       Heralding kit (default: ../shared/peers/heralding next to the repo)
#      TOTAL=300000 HTOTAL=30000 attempts per protocol (trawl / Heralding)
#      CONC=64 PER_CONN=3 MAXSEC=20  flood shape (same for both honeypots)
#      IDLE_N=19900 IDLE_HOLD=20  idle connections and hold seconds
#      TW_WAIT=65  most seconds to wait for TIME_WAIT sockets to drain before each idle test
#      SKIP_HERALDING=1  trawl only
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/bench/sensor"
KIT="${KIT:-$(cd "$repo/.." && pwd)/shared/peers/heralding}"
OUT="${OUT:-/tmp/trawl-bench/$(date +%Y%m%d-%H%M%S)}"
TOTAL="${TOTAL:-300000}"; HTOTAL="${HTOTAL:-30000}"
CONC="${CONC:-64}"; PER_CONN="${PER_CONN:-3}"; MAXSEC="${MAXSEC:-20}"
IDLE_N="${IDLE_N:-19900}"; IDLE_HOLD="${IDLE_HOLD:-20}"; TW_WAIT="${TW_WAIT:-65}"
PROTOS=(ftp pop3 imap smtp telnet)
mkdir -p "$OUT"
results="$OUT/results.jsonl"; : > "$results"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

if [ -z "${TRAWL_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  log "building release binaries (trawl, trawl-loadgen)"
  (cd "$repo" && cargo build --release -q -p trawl -p trawl-loadgen)
  target="${CARGO_TARGET_DIR:-$repo/target}"
  TRAWL_BIN="${TRAWL_BIN:-$target/release/trawl}"; LOADGEN_BIN="${LOADGEN_BIN:-$target/release/trawl-loadgen}"
fi
[ -x "$TRAWL_BIN" ] && [ -x "$LOADGEN_BIN" ] || { echo "missing $TRAWL_BIN or $LOADGEN_BIN" >&2; exit 1; }

machine() {
  python3 - "$1" "$(uptime)" <<'P'
import json, os, sys
print(json.dumps({"kind": "machine", "when": sys.argv[1], "cpus": os.cpu_count(),
                  "loadavg": open("/proc/loadavg").read().split()[:3], "uptime": sys.argv[2].strip()}))
P
}
machine start >> "$results"
log "machine: $(nproc) cpus, load average $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT"

# Waits (at most TW_WAIT s; TIME_WAIT lasts 60 s) until the floods' TIME_WAIT sockets are gone:
# with ~20,000 idle connections on top of them the client's ephemeral port range
# (28,000 ports) is nearly full and every connect() spends long in the kernel's port
# search, which would be timed as honeypot latency. Same treatment for both honeypots.
drain_time_wait() {
  local n
  for _ in $(seq 1 "$TW_WAIT"); do
    n=$(ss -tanH state time-wait | wc -l)
    [ "$n" -lt 2000 ] && break
    sleep 1
  done
  log "TIME_WAIT sockets before the idle test: $(ss -tanH state time-wait | wc -l)"
}

# CPU ticks (utime+stime) of a process.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One flood: CPU from /proc/PID/stat around the generator run, peak RSS from VmHWM after
# resetting it (clear_refs 5), then the generator's report. Args: NAME PID PROTO PORT TOTAL
flood() {
  local name="$1" pid="$2" proto="$3" port="$4" total="$5"
  local tag="b$(date +%s)${name:0:1}${proto}" run="$OUT/$name-$proto"
  mkdir -p "$run"
  echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true
  local t0; t0=$(ticks "$pid")
  "$LOADGEN_BIN" flood "$proto" "$port" --total "$total" --concurrency "$CONC" --per-conn "$PER_CONN" \
    --max-seconds "$MAXSEC" --tag "$tag" --attempts-file "$run/attempts.txt" > "$run/flood.json"
  local t1; t1=$(ticks "$pid")
  local hwm; hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
  python3 - "$name" "$run" "$((t1 - t0))" "$(getconf CLK_TCK)" "$hwm" <<'P' >> "$results"
import json, sys
name, run, ticks, hz, hwm = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
flood = json.load(open(run + "/flood.json"))
proc = {"cpu_seconds": round(ticks / hz, 2), "peak_rss_kb_vmhwm": hwm}
gen_ticks = flood.get("generator_cpu_ticks")
flood["generator_cpu_seconds"] = round(gen_ticks / hz, 2) if gen_ticks is not None else None
print(json.dumps({"kind": "flood", "honeypot": name, "run_dir": run, **flood, "proc": proc}))
P
  log "$name $proto: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["answered"], "answered,", d["answered_per_s"], "/s")' "$run/flood.json")"
}

# Counts every flood's answered attempts in the honeypot's logs (after it stopped).
count_logged() {
  local name="$1"; shift
  python3 - "$name" "$OUT" "$KIT/bench_count.py" "$@" <<'P' >> "$results"
import glob, json, os, subprocess, sys
name, out, counter, logs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
for run in sorted(glob.glob(os.path.join(out, name + "-*"))):
    try:
        flood = json.load(open(run + "/flood.json"))
    except (OSError, ValueError):
        continue
    counts = json.loads(subprocess.check_output(["python3", counter, flood["tag"], run + "/attempts.txt", *logs]))
    print(json.dumps({"kind": "logged", "honeypot": name, "proto": flood["proto"], "tag": flood["tag"], **counts}))
P
}

# Rows per flood tag in trawl.db and events.jsonl (the CSV is counted by bench_count.py).
count_trawl_stores() {
  python3 - "$OUT" "$1" <<'P' >> "$results"
import glob, json, os, sqlite3, sys
out, data = sys.argv[1], sys.argv[2]
db = sqlite3.connect("file:%s/trawl.db?mode=ro" % data, uri=True)
lines = [l for l in open(os.path.join(data, "events.jsonl"), errors="replace") if '"type":"auth_attempt"' in l]
for run in sorted(glob.glob(os.path.join(out, "trawl-*"))):
    try:
        tag = json.load(open(run + "/flood.json"))["tag"]
    except (OSError, ValueError):
        continue
    rows = db.execute("SELECT COUNT(*) FROM auth_attempts WHERE username LIKE ?", (tag + "u%",)).fetchone()[0]
    jsonl = sum(1 for l in lines if '"username":"%su' % tag in l)
    print(json.dumps({"kind": "stores", "tag": tag, "sqlite_rows": rows, "jsonl_rows": jsonl}))
P
}

# ---------------------------------------------------------------- trawl
tdir="$OUT/trawl-run"; mkdir -p "$tdir"
cat > "$tdir/sensor.toml" <<EOF
bind = "127.0.0.1"
idle_timeout_secs = 300
session_timeout_secs = 600
[protocols.ftp]
port = 16021
[protocols.telnet]
port = 16023
[protocols.pop3]
port = 16110
[protocols.imap]
port = 16143
[protocols.smtp]
port = 16025
EOF
declare -A TPORT=([ftp]=16021 [telnet]=16023 [pop3]=16110 [imap]=16143 [smtp]=16025)
log "starting trawl sensor"
"$TRAWL_BIN" sensor --config "$tdir/sensor.toml" --data-dir "$tdir/data" --only ftp,telnet,pop3,imap,smtp \
  > "$tdir/stdout.log" 2> "$tdir/stderr.log" & tpid=$!
trap 'kill -TERM "$tpid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do grep -q "telnet listening" "$tdir/stderr.log" 2>/dev/null && break; sleep 0.1; done
grep -q "smtp listening" "$tdir/stderr.log" || { cat "$tdir/stderr.log" >&2; exit 1; }
for proto in "${PROTOS[@]}"; do flood trawl "$tpid" "$proto" "${TPORT[$proto]}" "$TOTAL"; done

python3 - "$tpid" "$(getconf CLK_TCK)" <<'P' >> "$results"
import glob, json, sys
pid, hz = sys.argv[1], int(sys.argv[2])
threads = {}
for task in glob.glob("/proc/%s/task/*" % pid):
    try:
        name = open(task + "/comm").read().strip()
        fields = open(task + "/stat").read().rsplit(")", 1)[1].split()
        threads[name] = round(threads.get(name, 0) + (int(fields[11]) + int(fields[12])) / hz, 2)
    except (OSError, IndexError, ValueError):
        pass
print(json.dumps({"kind": "threads", "honeypot": "trawl", "cpu_seconds_by_thread": threads}))
P
log "stopping trawl (SIGTERM: flush everything)"
kill -TERM "$tpid"; wait "$tpid" || { echo "trawl exited non-zero" >&2; }
trap - EXIT
count_logged trawl "$tdir/data/log_auth.csv"
count_trawl_stores "$tdir/data"
drain_time_wait
log "trawl idle test on a fresh sensor: $IDLE_N idle connections on pop3 for ${IDLE_HOLD}s, probing fresh logins"
"$TRAWL_BIN" sensor --config "$tdir/sensor.toml" --data-dir "$tdir/idle-data" --only pop3 \
  > "$tdir/idle-stdout.log" 2> "$tdir/idle-stderr.log" & tpid=$!
trap 'kill -TERM "$tpid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do grep -q "pop3 listening" "$tdir/idle-stderr.log" 2>/dev/null && break; sleep 0.1; done
sleep 1
fd0=$(fds "$tpid")
python3 "$KIT/proc_sampler.py" "$tpid" --interval 0.5 --max-seconds 600 --stop-file "$OUT/idle-stop" \
  --reset-peak > "$OUT/trawl-idle-proc.json" & sampler=$!
half=$((IDLE_N / 2))
"$LOADGEN_BIN" --threads 1 idle --port 16110 --n "$half" --hold "$IDLE_HOLD" > "$OUT/trawl-idle-b.json" & other=$!
"$LOADGEN_BIN" --threads 1 idle --port 16110 --n $((IDLE_N - half)) --hold "$IDLE_HOLD" --probe-every 1 \
  --probe-proto pop3 --tag "idle$(date +%s)" > "$OUT/trawl-idle-a.json"
wait "$other"
touch "$OUT/idle-stop"; wait "$sampler" || true
sleep 3
fd1=$(fds "$tpid")
python3 - "$OUT" "$fd0" "$fd1" <<'P' >> "$results"
import json, sys
out, fd0, fd1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
a = json.load(open(out + "/trawl-idle-a.json")); b = json.load(open(out + "/trawl-idle-b.json"))
p = json.load(open(out + "/trawl-idle-proc.json"))
a.pop("probe_log", None)
print(json.dumps({"kind": "idle", "honeypot": "trawl", "opened": a["opened"] + b["opened"],
  "held_until_release": a["still_open_before_release"] + b["still_open_before_release"],
  "closed_by_server": a["closed_by_server"] + b["closed_by_server"],
  "connect_errors": a["connect_errors"] + b["connect_errors"],
  "probes": a["probes"], "probes_answered": a["probes_answered"], "probe_max_ms": a["probe_max_ms"],
  "probe_max_ms_while_all_open": a["probe_max_ms_while_all_open"],
  "probe_median_ms": a["probe_median_ms"], "peak_rss_kb": p.get("peak_rss_kb_vmhwm"),
  "max_open_fds": p.get("max_open_fds"), "fds_before": fd0, "fds_after": fd1, "leaked_fds": fd1 - fd0}))
P
kill -TERM "$tpid"; wait "$tpid" || { echo "trawl (idle) exited non-zero" >&2; }
trap - EXIT

# ---------------------------------------------------------------- Heralding
if [ "${SKIP_HERALDING:-0}" != 1 ]; then
  . "$KIT/ports.env"
  hbin="${HERALDING_BIN:-/tmp/peers/heralding-venv38/bin/heralding}"
  if [ ! -x "$hbin" ]; then
    log "installing Heralding 1.0.7 with the kit"
    "$KIT/install_heralding.sh" "$(dirname "$(dirname "$hbin")")" > "$OUT/heralding-install.log" 2>&1 \
      || { log "Heralding install failed, see $OUT/heralding-install.log"; tail -20 "$OUT/heralding-install.log" >&2; exit 3; }
  fi
  hdir="$OUT/heralding-run"
  HERALDING_BIN="$hbin" "$KIT/start_heralding.sh" "$hdir" >&2
  hpid=$(cat "$hdir/heralding.pid")
  trap '"$KIT/stop_heralding.sh" "$hdir" >/dev/null 2>&1 || true' EXIT
  declare -A HPORT=([ftp]=$PORT_FTP [telnet]=$PORT_TELNET [pop3]=$PORT_POP3 [imap]=$PORT_IMAP [smtp]=$PORT_SMTP)
  for proto in "${PROTOS[@]}"; do flood heralding "$hpid" "$proto" "${HPORT[$proto]}" "$HTOTAL"; done
  "$KIT/stop_heralding.sh" "$hdir" >&2
  count_logged heralding "$hdir/log_auth.csv"
  drain_time_wait
  log "Heralding idle test on a fresh instance (kit idle_conns.py): $IDLE_N idle connections on pop3"
  hdir="$OUT/heralding-idle-run"
  # Heralding binds without SO_REUSEADDR and one failed listener stops it all: the fresh
  # instance gets every port shifted by 100 so TIME_WAIT sockets of the floods cannot bite.
  for var in PORT_FTP PORT_SSH PORT_TELNET PORT_SMTP PORT_HTTP PORT_POP3 PORT_IMAP PORT_HTTPS \
             PORT_SMTPS PORT_IMAPS PORT_POP3S PORT_SOCKS5 PORT_MYSQL PORT_RDP PORT_POSTGRESQL PORT_VNC; do
    export "$var=$(( ${!var} + 100 ))"
  done
  HERALDING_BIN="$hbin" "$KIT/start_heralding.sh" "$hdir" >&2
  hpid=$(cat "$hdir/heralding.pid")
  sleep 2
  hfd0=$(fds "$hpid")
  python3 "$KIT/idle_conns.py" --port "$PORT_POP3" --n "$IDLE_N" --hold "$IDLE_HOLD" --probe-every 2 \
    --probe-proto pop3 --log "$hdir/log_auth.csv" --pid "$hpid" > "$OUT/heralding-idle.jsonl" || true
  sleep 3
  hfd1=$(fds "$hpid"); closewait=$(ss -tanH state close-wait "( sport = :$PORT_POP3 )" | wc -l)
  python3 - "$OUT" "$hfd0" "$hfd1" "$closewait" <<'P' >> "$results"
import json, sys
out, fd0, fd1, cw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(out + "/heralding-idle.jsonl") if l.strip()]
s = next((r for r in rows if r.get("summary")), {})
print(json.dumps({"kind": "idle", "honeypot": "heralding", "opened": s.get("opened"),
  "held_until_release": s.get("still_open_at_end"), "closed_by_server": s.get("closed_by_server"),
  "greeted": s.get("greeted"), "probes": s.get("probes"), "probes_answered": s.get("probes_answered"),
  "probes_logged": s.get("probes_logged"), "peak_rss_kb": s.get("rss_kb_peak_sampled"),
  "fds_before": fd0, "fds_after": fd1, "leaked_fds": fd1 - fd0, "close_wait_sockets": cw}))
P
  "$KIT/stop_heralding.sh" "$hdir" >&2
  trap - EXIT
fi

# ---------------------------------------------------------------- ceiling
# The same floods against `trawl-loadgen ceiling`: a server that answers the dialogs with
# fixed replies and logs nothing. Its logins/s is what this machine (its loopback TCP
# stack, with the generator on the same cores) allows any honeypot at all.
if [ "${SKIP_CEILING:-0}" != 1 ]; then
  for proto in ftp pop3; do
    cport=$((17000 + RANDOM % 1000))
    "$LOADGEN_BIN" ceiling "$proto" "$cport" --per-conn "$PER_CONN" --seconds $((MAXSEC + 15)) \
      > "$OUT/ceiling-$proto.json" &
    cpid=$!
    sleep 0.5
    flood ceiling "$cpid" "$proto" "$cport" "$TOTAL"
    kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null || true
  done
fi

machine end >> "$results"
python3 "$here/summarize.py" "$results"
