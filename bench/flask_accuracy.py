# SPDX-License-Identifier: MIT
"""Benchmark (c): per-line accuracy against tracemalloc on the Flask app.

Serves REQUESTS requests of bench/flask_app.py through Flask's test client
in this one process (the framework's per-request work, no sockets), then
prints "flask_accuracy pid=P requests=N". With LEAK_TRACEMALLOC=1,
tracemalloc runs from the start and the outstanding bytes per line (every
file, innermost frame) go to LEAK_TRACEMALLOC_OUT as JSON: the oracle that
`leakbpf record` of the same program is compared with, line by line.
"""
import os
import sys

if os.environ.get("LEAK_TRACEMALLOC") == "1":
    import tracemalloc
    tracemalloc.start()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flask_app import app  # noqa: E402

N = int(os.environ.get("REQUESTS", "3000"))


def main():
    client = app.test_client()
    for _ in range(N):
        r = client.get("/")
        r.close()
    if os.environ.get("LEAK_TRACEMALLOC") == "1":
        import json
        snap = tracemalloc.take_snapshot()
        stats = [{"filename": s.traceback[0].filename, "lineno": s.traceback[0].lineno,
                  "size": s.size, "count": s.count} for s in snap.statistics("lineno")]
        with open(os.environ["LEAK_TRACEMALLOC_OUT"], "w") as f:
            json.dump(stats, f)
    sys.stdout.write("flask_accuracy pid=%d requests=%d\n" % (os.getpid(), N))


if __name__ == "__main__":
    main()
