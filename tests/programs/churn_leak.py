# SPDX-License-Identifier: MIT
"""A busy program for sampled mode: every iteration builds and drops a few
small objects (CHURN), every 16th keeps a (int, float) tuple forever in a
class-level table (LEAK). Prints "ready pid=N", then runs until the file
named by CHURN_LEAK_STOP_FILE exists or CHURN_LEAK_SECONDS pass (default
60), then prints "kept=N iterations=N". With CHURN_LEAK_STATUS set, appends
to that file, every 1000 iterations, "MONOTONIC KEPT ENTRY_BYTES": the time
(CLOCK_MONOTONIC), the tuples kept so far and the bytes one costs (tuple,
int and float, as the allocator was asked for them): the truth an estimate
is compared with, at the moments the estimate covers.
"""
import os
import sys
import time

STOP_FILE = os.environ.get("CHURN_LEAK_STOP_FILE", "")
STATUS = os.environ.get("CHURN_LEAK_STATUS", "")
SECONDS = float(os.environ.get("CHURN_LEAK_SECONDS", "60"))


class Timings:
    table = []


def handle(i):
    request = {"id": i, "path": "/item/%d" % i, "args": [i, i + 1]}  # CHURN
    body = ",".join(str(x) for x in request["args"])
    if i % 16 == 0:
        Timings.table.append((i * 7919, i / 3.0))  # LEAK
    return len(body)


def main():
    sys.stdout.write("ready pid=%d\n" % os.getpid())
    sys.stdout.flush()
    deadline = time.monotonic() + SECONDS
    status = os.open(STATUS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND) if STATUS else -1
    i = 0
    while True:
        for _ in range(1000):
            handle(i)
            i += 1
        if status >= 0:
            t = Timings.table[-1]
            entry = sys.getsizeof(t) + sys.getsizeof(t[0]) + sys.getsizeof(t[1])
            os.write(status, b"%.6f %d %d\n" % (time.monotonic(), len(Timings.table), entry))
        if (STOP_FILE and os.path.exists(STOP_FILE)) or time.monotonic() > deadline:
            break
    sys.stdout.write("kept=%d iterations=%d\n" % (len(Timings.table), i))
    sys.stdout.flush()


main()
