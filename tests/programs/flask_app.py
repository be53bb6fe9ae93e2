# SPDX-License-Identifier: MIT
"""A Flask app for the agent's acceptance tests, served by gunicorn.

GET / answers a small page. With FLASK_APP_LEAK=1 (the default) every
request also keeps a Timing record in a class-level table that is never
cleared (the LEAK line: a Timing object and its list of samples, like the
story's timing table). FLASK_APP_LEAK=tuple keeps a (kind, n, time) tuple
of floats instead (the LEAK-TUPLE line): tuples and floats are what the
framework's own per-request temporaries are made of, so the leaked ones
come from CPython's free lists, at addresses werkzeug's temporaries held. Every request also stores a 512-byte value (its own) in a
bounded cache of CACHE_SLOTS entries (the CACHE line): it fills during
warm-up, then each new value replaces an old one, so its outstanding bytes
stop growing. FLASK_APP_DELAY_MS makes every request take at least that
long, so a test knows how many requests a worker serves in a second.
"""
import os
import time

from flask import Flask

LEAK = os.environ.get("FLASK_APP_LEAK", "1") == "1"
LEAK_TUPLE = os.environ.get("FLASK_APP_LEAK") == "tuple"
CACHE_SLOTS = int(os.environ.get("FLASK_APP_CACHE_SLOTS", "200"))
DELAY = float(os.environ.get("FLASK_APP_DELAY_MS", "0")) / 1000

app = Flask(__name__)


class Timing:
    __slots__ = ("path", "started", "samples")

    def __init__(self, path, started, samples):
        self.path = path
        self.started = started
        self.samples = samples


class Timings:
    table = []  # class-level: lives as long as the process


class Cache:
    slots = {}
    requests = 0


@app.route("/")
def index():
    started = time.perf_counter()
    Cache.requests += 1
    Cache.slots[Cache.requests % CACHE_SLOTS] = b"%08d" % Cache.requests * 64  # CACHE
    if LEAK:
        Timings.table.append(Timing("/", started, [0] * 8))  # LEAK
    if LEAK_TUPLE:
        Timings.table.append(("GET", Cache.requests * 0.5, time.time()))  # LEAK-TUPLE
    if DELAY:
        time.sleep(DELAY)
    return "hello %d\n" % Cache.requests
