#!/usr/bin/env python3
"""Times shell commands and reports wall time, CPU time (user + system, the command
and every process it waited for) and peak RSS (largest process of the command), all
from wait4's rusage. usage: measure.py LABEL 'shell command' ..."""
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
    results = {}
    for label, cmd in zip(args[::2], args[1::2]):
        wall, cpu, rss = run(cmd)
        results[label] = {
            "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(rss, 1),
        }
        print(f"  {label:<34} {wall:8.2f} s wall {cpu:8.2f} s CPU   peak RSS {rss:8.1f} MB",
              flush=True)
    print(json.dumps(results))
