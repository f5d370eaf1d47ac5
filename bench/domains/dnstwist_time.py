"""Times dnstwist's permutation engine in process (its Fuzzer API, default fuzzers: the same set
as `dnstwist --format list DOMAIN`) over a domain list. Prints: names wall-seconds CPU-seconds."""
import sys
import time

import dnstwist

domains = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
start = time.perf_counter()
cpu = time.process_time()
names = 0
for d in domains:
    f = dnstwist.Fuzzer(d)
    f.generate()
    names += len(f.domains)
print(names, time.perf_counter() - start, time.process_time() - cpu)
