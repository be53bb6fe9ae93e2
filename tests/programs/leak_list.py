# SPDX-License-Identifier: MIT
"""Leak (c): a list that keeps growing (strings appended).

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
GROWING = []


def leak_list(n):
    for i in range(n):
        GROWING.append("item-" + str(i))  # LEAK



def main():
    leak_list(N)  # CALL-LEAK
    tracemalloc_oracle.dump(__file__)
    sys.stdout.write("leak_list pid=%d leaked=%d\n" % (os.getpid(), len(GROWING)))


if __name__ == "__main__":
    main()  # CALL-MAIN
