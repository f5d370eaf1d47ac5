"""Runs a command N times (stdout to a file) and prints the median wall seconds and the
median CPU seconds (user+sys from wait4's rusage, which sums the kernel's precise run time,
unlike /usr/bin/time's 10 ms display). Usage: repeat.py N OUTFILE CMD..."""
import os
import statistics
import subprocess
import sys
import time

runs, out, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
walls, cpus = [], []
for _ in range(runs):
    with open(out, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink)
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {status}")
    cpus.append(usage.ru_utime + usage.ru_stime)
print(f"{statistics.median(walls):.4f} {statistics.median(cpus):.4f}")
