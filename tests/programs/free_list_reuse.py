# SPDX-License-Identifier: MIT
"""Temporaries and leaked objects of the same type, one pair of lines per type.

For each type, a churn line makes objects that die at once (CPython puts
many of them on a free list) and a leak line keeps objects of the same type
(which CPython takes back from that free list without calling an
allocator). A tracer that credits memory to the line that first allocated
it reports the churn line as leaking; tracemalloc moves a reused object to
the line that reuses it. Each line is marked "# CHURN <type>" or
"# LEAK <type>".

LEAK_TRACEMALLOC=1 starts tracemalloc first and writes this file's
statistics('lineno') as JSON to LEAK_TRACEMALLOC_OUT at the end (the oracle).
"""
import os
import sys

import tracemalloc_oracle  # first: starts tracemalloc when asked

N = int(os.environ.get("LEAK_N", "1500"))
KEPT = {}


class Plain:
    def __init__(self, i):
        self.i = i


class Slotted:
    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i


def keep(kind, obj):
    KEPT.setdefault(kind, []).append(obj)


def round_float(i):
    tmp = [i + j * 0.5 for j in range(8)]  # CHURN float
    keep("float", i * 0.25)  # LEAK float
    return len(tmp)


def round_int(i):
    tmp = [i * 1000003 + j for j in range(8)]  # CHURN int
    keep("int", i * 1000033)  # LEAK int
    return len(tmp)


def round_tuple(i):
    tmp = [(i, j) for j in range(8)]  # CHURN tuple
    keep("tuple", (i, -i))  # LEAK tuple
    return len(tmp)


def round_list(i):
    tmp = [[i, j] for j in range(8)]  # CHURN list
    keep("list", [i, -i])  # LEAK list
    return len(tmp)


def round_dict(i):
    tmp = [{"a": i, "b": j} for j in range(8)]  # CHURN dict
    keep("dict", {"a": i, "b": -i})  # LEAK dict
    return len(tmp)


def round_set(i):
    tmp = [{i, j} for j in range(8)]  # CHURN set
    keep("set", {i, -i - 1})  # LEAK set
    return len(tmp)


def round_str(i):
    tmp = ["s%d-%d" % (i, j) for j in range(8)]  # CHURN str
    keep("str", "k%d" % i)  # LEAK str
    return len(tmp)


def round_bytes(i):
    tmp = [b"b%d-%d" % (i, j) for j in range(8)]  # CHURN bytes
    keep("bytes", b"k%d" % i)  # LEAK bytes
    return len(tmp)


def round_instance(i):
    tmp = [Plain(j) for j in range(8)]  # CHURN instance
    keep("instance", Plain(i))  # LEAK instance
    tmp2 = [Slotted(j) for j in range(8)]  # CHURN slotted
    keep("slotted", Slotted(i))  # LEAK slotted
    return len(tmp) + len(tmp2)


ROUNDS = [round_float, round_int, round_tuple, round_list, round_dict, round_set,
          round_str, round_bytes, round_instance]



def main():
    for i in range(N):
        for r in ROUNDS:
            r(i)
    tracemalloc_oracle.dump(__file__)
    sys.stdout.write("free_list_reuse pid=%d leaked=%d\n" % (
        os.getpid(), sum(len(v) for v in KEPT.values())))


if __name__ == "__main__":
    main()
