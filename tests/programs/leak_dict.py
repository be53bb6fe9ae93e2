# SPDX-License-Identifier: MIT
"""Leak (a): small dicts stored into a module-level dict.

The leak is on the line marked with the LEAK comment, inside leak_dicts(),
called from main() (line marked CALL-LEAK), called from <module> (CALL-MAIN).

LEAK_TRACEMALLOC=1 starts tracemalloc first thing and, at the end of main(),
writes this file's snapshot.statistics('lineno') entries as JSON to the path
in LEAK_TRACEMALLOC_OUT.
"""
import os
import sys

import tracemalloc_oracle  # first: starts tracemalloc when asked

N = int(os.environ.get("LEAK_N", "2000"))
CACHE = {}


def leak_dicts(n):
    for i in range(n):
        CACHE[i] = {"a": i, "b": -i}  # LEAK



def main():
    leak_dicts(N)  # CALL-LEAK
    tracemalloc_oracle.dump(__file__)
    sys.stdout.write("leak_dict pid=%d leaked=%d\n" % (os.getpid(), len(CACHE)))


if __name__ == "__main__":
    main()  # CALL-MAIN
