#!/usr/bin/env python3
"""Turns bench/sensor/run.sh's results.jsonl into Markdown tables: per protocol, logged
attempts/s, loss, CPU and peak RSS for trawl and Heralding, and the ratio; then the idle
test. usage: summarize.py RESULTS_JSONL"""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
floods = {(r["honeypot"], r["proto"]): r for r in rows if r["kind"] == "flood"}
logged = {(r["honeypot"], r["proto"]): r for r in rows if r["kind"] == "logged"}
stores = {r["tag"]: r for r in rows if r["kind"] == "stores"}
machine = [r for r in rows if r["kind"] == "machine"]


def stats(name, proto):
    f, c = floods.get((name, proto)), logged.get((name, proto))
    if not f or not c:
        return None
    wall = max(f["wall_s"], 1e-9)
    p = f.get("proc", {})
    cpu = 100.0 * p.get("cpu_seconds", 0) / wall
    return {
        "rate": c["logged_rows"] / wall,
        "answered": f["answered"],
        "logged": c["logged_rows"],
        "loss": c["tried_but_not_logged"],
        "dupes": c["logged_duplicate_rows"],
        "cpu": cpu,
        "rss_mb": (p.get("peak_rss_kb_vmhwm") or p.get("max_sampled_rss_kb") or 0) / 1024,
        "errors": f["attempt_errors"] + f["connect_errors"] + f["greeting_errors"],
        "tag": f["tag"],
        "gen_cpu": 100.0 * (f.get("generator_cpu_seconds") or 0) / wall,
    }


print("Load average at start/end: %s" % " / ".join(" ".join(m["loadavg"]) for m in machine))
for m in machine:
    if m.get("uptime"):
        print("uptime (%s): %s" % (m["when"], m["uptime"]))
for name in ["trawl", "heralding"]:
    shapes = sorted({"%s, %s concurrent connections, %s attempts per connection" % (
        f["generator"], f["concurrency"], f["per_conn"]) for (h, _), f in floods.items() if h == name})
    if shapes:
        print("Floods against %s driven by: %s" % (name, "; ".join(shapes)))
print("Idle tests driven by: trawl — trawl-loadgen idle (2 processes); "
      "Heralding — the kit's idle_conns.py\n")
print("| protocol | trawl logged/s | trawl answered / logged / lost | trawl CPU % | trawl peak RSS MB "
      "| Heralding logged/s | Heralding lost | Heralding CPU % | ratio | generator CPU % (trawl / Heralding run) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for proto in ["ftp", "pop3", "imap", "smtp", "telnet"]:
    t, h = stats("trawl", proto), stats("heralding", proto)
    if not t:
        continue
    extra = stores.get(t["tag"], {})
    store = ""
    if extra:
        store = " (db %d, jsonl %d)" % (extra["sqlite_rows"], extra["jsonl_rows"])
    ratio = "%.1f×" % (t["rate"] / h["rate"]) if h and h["rate"] else "n/a"
    print("| %s | %.0f | %d / %d%s / %d | %.0f | %.0f | %s | %s | %s | %s | %.0f / %s |" % (
        proto, t["rate"], t["answered"], t["logged"], store, t["loss"], t["cpu"], t["rss_mb"],
        "%.0f" % h["rate"] if h else "n/a", h["loss"] if h else "n/a",
        "%.0f" % h["cpu"] if h else "n/a", ratio, t["gen_cpu"],
        "%.0f" % h["gen_cpu"] if h else "n/a"))

ceiling = [(proto, f) for (name, proto), f in sorted(floods.items()) if name == "ceiling"]
if ceiling:
    print("\nThe machine's ceiling: the same floods against a do-nothing server "
          "(`trawl-loadgen ceiling`: fixed replies, no logging, no state).\n")
    print("| protocol | do-nothing server answered/s | its CPU % | generator CPU % | "
          "CPU µs per attempt (server + generator) | ceiling ÷ Heralding | trawl ÷ ceiling |")
    print("|---|---|---|---|---|---|---|")
    for proto, f in ceiling:
        wall = max(f["wall_s"], 1e-9)
        rate = f["answered"] / wall
        cpu = 100.0 * f["proc"]["cpu_seconds"] / wall
        gen = 100.0 * (f.get("generator_cpu_seconds") or 0) / wall
        per = 1e6 * (f["proc"]["cpu_seconds"] + (f.get("generator_cpu_seconds") or 0)) / max(f["answered"], 1)
        t, h = stats("trawl", proto), stats("heralding", proto)
        print("| %s | %.0f | %.0f | %.0f | %.1f | %s | %s |" % (
            proto, rate, cpu, gen, per,
            "%.1f×" % (rate / h["rate"]) if h and h["rate"] else "n/a",
            "%.0f %%" % (100.0 * t["rate"] / rate) if t else "n/a"))

for r in rows:
    if r["kind"] == "threads":
        print("\ntrawl CPU seconds by thread over all floods: %s" % ", ".join(
            "%s %.1f" % item for item in sorted(r["cpu_seconds_by_thread"].items())))

print("\n| idle test | opened | held until release | closed by server | probes answered | "
      "probe ms: max / max once all open / median | peak RSS MB | fds before → after (leaked) |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    if r["kind"] != "idle":
        continue
    rss = (r.get("peak_rss_kb") or 0) / 1024
    lat = "%s / %s / %s" % (r.get("probe_max_ms", "n/a"), r.get("probe_max_ms_while_all_open", "n/a"),
                            r.get("probe_median_ms", "n/a"))
    extra = ""
    if r.get("close_wait_sockets") is not None:
        extra = ", %d CLOSE_WAIT" % r["close_wait_sockets"]
    print("| %s | %s | %s | %s | %s/%s | %s | %.0f | %s → %s (%s%s) |" % (
        r["honeypot"], r.get("opened"), r.get("held_until_release"), r.get("closed_by_server"),
        r.get("probes_answered"), r.get("probes"), lat, rss, r["fds_before"], r["fds_after"],
        r["leaked_fds"], extra))
