#!/usr/bin/env python3
"""Times shell commands and reports wall time, CPU time (user + system, the command
and every process it waited for) and peak RSS (largest process of the command), all
from wait4's rusage. usage: measure.py LABEL 'shell command' ...

Each command runs REPEAT times (env, default 3), the commands taking turns; the run
with the median wall time is reported (its CPU time with it), the largest RSS of all
runs, and every run's wall time is printed. A single run on a shared VM varies by
10-20 %."""
import os, subprocess, sys, time, json

def run(cmd):
    start = time.monotonic()
    proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", cmd], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"command failed ({status}): {cmd}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0

if __name__ == "__main__":
    args = sys.argv[1:]
    repeat = max(1, int(os.environ.get("REPEAT", "3")))
    commands = list(zip(args[::2], args[1::2]))
    runs = {label: [] for label, _ in commands}
    for _ in range(repeat):
        for label, cmd in commands:
            runs[label].append(run(cmd))
    results = {}
    for label, _ in commands:
        ordered = sorted(runs[label])
        wall, cpu, _ = ordered[len(ordered) // 2]
        rss = max(r[2] for r in runs[label])
        results[label] = {
            "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(rss, 1),
            "runs_seconds": [round(r[0], 2) for r in runs[label]],
        }
        every = " ".join(f"{r[0]:.2f}" for r in runs[label])
        print(f"  {label:<34} {wall:8.2f} s wall {cpu:8.2f} s CPU   peak RSS {rss:8.1f} MB"
              f"   (median of {repeat}: {every})", flush=True)
    print(json.dumps(results))
