# SPDX-License-Identifier: MIT
"""Benchmark workload (b): a small Flask view that leaks one timing record
per request into a class-level table (the leak, marked LEAK), as in the
story of the pod that grew 100 MB in three days."""
import time

from flask import Flask

app = Flask(__name__)


class Timings:
    table = {}


@app.route("/")
def index():
    start = time.perf_counter()
    body = "hello %d" % len(Timings.table)
    Timings.table[len(Timings.table)] = (start, time.perf_counter() - start)  # LEAK
    return body
