# SPDX-License-Identifier: MIT
"""Benchmark workload (a): an allocation-heavy pure-Python loop with a known
leak. Each iteration builds and drops a few small objects (a request's
worth of churn); every 16th keeps a small object forever in a class-level
table (the leak, marked LEAK: a small object with two slots). Prints the loop's own time, so interpreter
start-up and tracer attach are not counted.

With BENCH_SECONDS set, runs for that long instead of BENCH_N iterations
and prints "ready" first (so a tracer can attach); with BENCH_STATUS set,
appends "MONOTONIC KEPT ENTRY_BYTES" to that file every 10,000 iterations:
the truth to compare an estimate with."""
import os
import sys
import time

N = int(os.environ.get("BENCH_N", "200000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "0"))
STATUS = os.environ.get("BENCH_STATUS", "")


class Timings:
    table = []


class Timing:
    # slots: no CPython free list recycles these, so what the loop keeps is
    # exactly what it allocated on the LEAK line (the truth for estimates)
    __slots__ = ("request", "length")

    def __init__(self, request, length):
        self.request = request
        self.length = length


def handle(i):
    request = {"id": i, "path": "/item/%d" % i, "args": [i, i + 1]}
    body = ",".join(str(x) for x in request["args"])
    if i % 16 == 0:
        Timings.table.append(Timing(i, len(body)))  # LEAK
    return len(body)


def timed():
    sys.stdout.write("ready pid=%d\n" % os.getpid())
    sys.stdout.flush()
    status = os.open(STATUS, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if STATUS else -1
    start = time.perf_counter()
    deadline = start + SECONDS
    i = 0
    while time.perf_counter() < deadline:
        for _ in range(10000):
            handle(i)
            i += 1
        if status >= 0:
            t = Timings.table[-1]
            # the Timing only: i was made by the caller, len(body) is a cached small int
            entry = sys.getsizeof(t)
            os.write(status, b"%.6f %d %d\n" % (time.monotonic(), len(Timings.table), entry))
    return time.perf_counter() - start, i


def main():
    if SECONDS:
        elapsed, n = timed()
    else:
        start = time.perf_counter()
        for i in range(N):
            handle(i)
        elapsed, n = time.perf_counter() - start, N
    sys.stdout.write("loop_seconds=%.6f iterations=%d kept=%d per_second=%.0f\n"
                     % (elapsed, n, len(Timings.table), n / elapsed))


if __name__ == "__main__":
    main()
