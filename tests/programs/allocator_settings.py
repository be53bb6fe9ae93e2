# SPDX-License-Identifier: MIT
"""A program whose output proves its heap survived tracing.

Prints "ready", then works in rounds until stdin says "stop" (or, with
ROUNDS set, for that many rounds): each round builds and drops lists,
dicts, tuples, floats, strings and bytes, keeps a few (a slow leak), and
grows lists and bytearrays from empty. At the end it prints a digest of
everything it kept: identical with and without a tracer, whatever
PYTHONMALLOC says, unless the tracer broke the allocator.
"""
import os
import sys
import threading
import zlib

KEPT = []
stop = threading.Event()


def one_round(r):
    tmp = {("k", i): [i * 0.5, str(i), (i, r)] for i in range(200)}
    grown = []
    for i in range(10):
        grown.append(i * r)
    buf = bytearray()
    for i in range(20):
        buf += b"x"
    KEPT.append((r, r * 0.25, "s%d" % r, bytes(buf), grown))
    return len(tmp)


def watch_stdin():
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def main():
    rounds = int(os.environ.get("ROUNDS", "0"))
    if not rounds:
        threading.Thread(target=watch_stdin, daemon=True).start()
    print("ready pid=%d" % os.getpid(), flush=True)
    r = 0
    while (r < rounds) if rounds else not stop.is_set():
        one_round(r)
        r += 1
        if not rounds and r % 50 == 0:
            stop.wait(0.01)
    n = rounds or 300
    crc = zlib.crc32(repr(KEPT[:n]).encode())
    print("kept=%d crc=%08x" % (min(len(KEPT), n), crc), flush=True)


if __name__ == "__main__":
    main()
