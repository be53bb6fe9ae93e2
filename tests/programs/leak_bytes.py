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

import tracemalloc_oracle  # first: starts tracemalloc when asked

N = int(os.environ.get("LEAK_N", "200"))
BLOCK = 100_000
KEEP = []


def leak_bytes(n):
    for i in range(n):
        KEEP.append(bytes(BLOCK))  # LEAK



def main():
    leak_bytes(N)  # CALL-LEAK
    tracemalloc_oracle.dump(__file__)
    sys.stdout.write("leak_bytes pid=%d leaked=%d\n" % (os.getpid(), len(KEEP)))


if __name__ == "__main__":
    main()  # CALL-MAIN
