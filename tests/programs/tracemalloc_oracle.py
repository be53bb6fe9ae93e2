# SPDX-License-Identifier: MIT
"""The oracle the leak programs are compared with: tracemalloc, in-process.

Imported first thing by a program: with LEAK_TRACEMALLOC=1 it starts
tracemalloc at once, and dump(__file__) at the program's end writes that
file's snapshot.statistics('lineno') entries (filename, lineno, size, count)
as JSON to the path in LEAK_TRACEMALLOC_OUT. Without it, nothing.
"""
import json
import os

ON = os.environ.get("LEAK_TRACEMALLOC") == "1"
if ON:
    import tracemalloc
    tracemalloc.start()


def dump(program_file):
    if not ON:
        return
    snap = tracemalloc.take_snapshot()
    stats = [
        {"filename": s.traceback[0].filename, "lineno": s.traceback[0].lineno,
         "size": s.size, "count": s.count}
        for s in snap.statistics("lineno")
        if s.traceback[0].filename == program_file
    ]
    with open(os.environ["LEAK_TRACEMALLOC_OUT"], "w") as f:
        json.dump(stats, f)
