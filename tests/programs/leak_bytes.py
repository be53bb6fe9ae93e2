# SPDX-License-Identifier: MIT
"""Leak (b): large bytes objects (200 x 100 KB) kept in a list.

The leak is on the line marked with the LEAK comment, inside leak_dicts(),
called from main() (line marked CALL-LEAK), called from <module> (CALL-MAIN).

LEAK_TRACEMALLOC=1 starts tracemalloc first thing and, at the end of main(),
writes this file's snapshot.statistics('lineno') entries as JSON to the path
in LEAK_TRACEMALLOC_OUT.
"""
import os
import sys

if os.environ.get("LEAK_TRACEMALLOC") == "1":
    import tracemalloc
    tracemalloc.start()

N = int(os.environ.get("LEAK_N", "200"))
BLOCK = 100_000
KEEP = []


def leak_bytes(n):
    for i in range(n):
        KEEP.append(bytes(BLOCK))  # LEAK


def dump_tracemalloc():
    if os.environ.get("LEAK_TRACEMALLOC") != "1":
        return
    import tracemalloc
    snap = tracemalloc.take_snapshot()
    stats = [
        {"filename": s.traceback[0].filename, "lineno": s.traceback[0].lineno,
         "size": s.size, "count": s.count}
        for s in snap.statistics("lineno")
        if s.traceback[0].filename == __file__
    ]
    import json
    with open(os.environ["LEAK_TRACEMALLOC_OUT"], "w") as f:
        json.dump(stats, f)


def main():
    leak_bytes(N)  # CALL-LEAK
    dump_tracemalloc()
    sys.stdout.write("leak_bytes pid=%d leaked=%d\n" % (os.getpid(), len(KEEP)))


if __name__ == "__main__":
    main()  # CALL-MAIN
