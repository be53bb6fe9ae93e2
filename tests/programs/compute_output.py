# SPDX-License-Identifier: MIT
"""Deterministic computation with many allocations (~20,000 when redirected).

Builds a dict of strings/lists/tuples, then prints a CRC of the sorted
contents plus a few derived numbers on stdout, and one line on stderr. The
output must be byte-identical with and without leakbpf. Exit status is
taken from COMPUTE_EXIT (default 0), to check that `record` passes it on.
"""
import os
import sys
import zlib


def build(n):
    d = {}
    for i in range(n):
        key = "k%05d" % ((i * 7919) % n)
        d[key] = [i, str(i * i), (i, -i), {"sq": i * i}]
    return d


def digest(d):
    crc = 0
    total = 0
    for k in sorted(d):
        v = d[k]
        crc = zlib.crc32(repr((k, v)).encode(), crc)
        total += v[0] + len(v[1])
    return crc, total


def main():
    n = int(os.environ.get("COMPUTE_N", "400"))
    d = build(n)
    crc, total = digest(d)
    words = sorted({str(x)[::-1] for x in range(0, n * 3, 7)})
    print("entries=%d crc=%08x total=%d" % (len(d), crc, total))
    print("words=%d first=%s last=%s" % (len(words), words[0], words[-1]))
    print("joined-crc=%08x" % zlib.crc32(",".join(words).encode()))
    sys.stderr.write("compute_output: stderr line\n")
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(int(os.environ.get("COMPUTE_EXIT", "0")))


if __name__ == "__main__":
    main()
