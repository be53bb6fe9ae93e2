# SPDX-License-Identifier: MIT
"""A hostile target sizes its code objects to size the tracer's memory: it
makes functions without end, each with a unique 4000-character name and a
64 KiB line table (valid in 3.11+: one "no location" entry per code unit),
and calls each once, allocating. A symboliser that keeps every name and
table it reads grew by 190 MB in 15 s. Prints "ready pid=P", then goes on
until killed.
"""
import os
import sys
import time

# PY_CODE_LOCATION_INFO_NONE (15), one code unit: 0x80 | 15 << 3 | 0
TABLE = bytes([0xF8]) * (64 << 10)


def make(i):
    name = ("f%08d" % i) + "x" * 3991
    ns = {}
    exec("def %s(kept):\n    kept.append(bytearray(64))\n" % name, ns)
    f = ns[name]
    f.__code__ = f.__code__.replace(co_linetable=TABLE)
    return f


sys.stdout.write("ready pid=%d\n" % os.getpid())
sys.stdout.flush()
kept = []
i = 0
while True:
    make(i)(kept)
    i += 1
    if len(kept) > 30000:
        kept = []
    if i % 100 == 0:
        time.sleep(0.001)
