# SPDX-License-Identifier: MIT
"""Benchmark workload (a): an allocation-heavy pure-Python loop with a known
leak. Each iteration builds and drops a few small objects (a request's
worth of churn); every 16th keeps a small tuple forever in a class-level
table (the leak, marked LEAK). Prints the loop's own time, so interpreter
start-up and tracer attach are not counted."""
import os
import sys
import time

N = int(os.environ.get("BENCH_N", "200000"))


class Timings:
    table = []


def handle(i):
    request = {"id": i, "path": "/item/%d" % i, "args": [i, i + 1]}
    body = ",".join(str(x) for x in request["args"])
    if i % 16 == 0:
        Timings.table.append((i, len(body)))  # LEAK
    return len(body)


def main():
    start = time.perf_counter()
    total = 0
    for i in range(N):
        total += handle(i)
    elapsed = time.perf_counter() - start
    sys.stdout.write("loop_seconds=%.6f iterations=%d kept=%d\n" % (elapsed, N, len(Timings.table)))


if __name__ == "__main__":
    main()
