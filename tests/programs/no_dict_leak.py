# SPDX-License-Identifier: MIT
"""A leak in a loop that touches no dict: the Python work clock (the dict
version counter) does not move, so sampled mode must fall back to wall
time. Prints "ready pid=N", then keeps one object per iteration (LEAK)
for NO_DICT_SECONDS (default 30)."""
import os
import sys
import time

sys.stdout.write("ready pid=%d\n" % os.getpid())
sys.stdout.flush()


def main(keep):
    # locals only: a module-level loop variable is a dict store
    append = keep.append
    monotonic = time.monotonic
    deadline = monotonic() + float(os.environ.get("NO_DICT_SECONDS", "30"))
    while monotonic() < deadline:
        for _ in range(1000):
            append(object())  # LEAK


main([])
