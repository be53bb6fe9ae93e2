# SPDX-License-Identifier: MIT
"""A busy program for sampled mode: every iteration builds and drops a few
small objects (CHURN), every 16th keeps a (int, float) tuple forever in a
class-level table (LEAK). Prints "ready pid=N", then runs until the file
named by CHURN_LEAK_STOP_FILE exists or CHURN_LEAK_SECONDS pass (default
60), then prints "kept=N iterations=N" (N kept tuples: the truth to compare
estimates with).
"""
import os
import sys
import time

STOP_FILE = os.environ.get("CHURN_LEAK_STOP_FILE", "")
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
    i = 0
    while True:
        for _ in range(1000):
            handle(i)
            i += 1
        if (STOP_FILE and os.path.exists(STOP_FILE)) or time.monotonic() > deadline:
            break
    sys.stdout.write("kept=%d iterations=%d\n" % (len(Timings.table), i))
    sys.stdout.flush()


main()
