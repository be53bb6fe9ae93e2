# SPDX-License-Identifier: MIT
"""A busy program for sampled mode: every iteration builds and drops a few
small objects (CHURN), every 16th keeps an Entry holding an int forever in
a class-level table (LEAK). Every 100 iterations it also keeps a list of
20 Entry objects for SESSION_SECONDS (2 s) and then drops it (SESSION:
freed long after any window closed), keeps a 100-byte libc malloc block
forever (NATIVE-LEAK) and a 200-byte one for 2 s before
free() (NATIVE-SESSION), all through ctypes as a C extension would. The
native lines stay well below the leak: sampled mode overestimates native
bursts (README), and the leak must rank first.

Prints "ready pid=N", then runs until the file named by
CHURN_LEAK_STOP_FILE exists or CHURN_LEAK_SECONDS pass (default 60), then prints "kept=N iterations=N". With CHURN_LEAK_STATUS set, appends
to that file, every 100 iterations, "MONOTONIC KEPT ENTRY_BYTES
SESSION_OBJECTS NATIVE_KEPT NATIVE_SESSIONS": the time (CLOCK_MONOTONIC),
the entries kept so far and the bytes one costs (Entry and int, as the
allocator was asked for them: 2 blocks), the SESSION blocks alive now, the
NATIVE-LEAK blocks kept so far and the NATIVE-SESSION blocks alive now: the
truth an estimate is compared with, at the moments the estimate covers.
"""
import collections
import ctypes
import os
import sys
import time

STOP_FILE = os.environ.get("CHURN_LEAK_STOP_FILE", "")
STATUS = os.environ.get("CHURN_LEAK_STATUS", "")
SECONDS = float(os.environ.get("CHURN_LEAK_SECONDS", "60"))
SESSION_SECONDS = 2.0
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
sessions = collections.deque()
native_sessions = collections.deque()
native_kept = []


BATCH = 100      # iterations between two calls of every_batch()


class Timings:
    table = []


class Entry:
    # slots and ints: no CPython free list reuses these, so what the
    # program keeps is exactly what was allocated (tuples and floats are
    # recycled through free lists, which tracemalloc and leakbpf both
    # attribute to the line that first allocated the memory)
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def handle(i):
    request = {"id": i, "path": "/item/%d" % i, "args": [i, i + 1]}  # CHURN
    body = ",".join(str(x) for x in request["args"])
    if i % 16 == 0:
        Timings.table.append(Entry(i * 7919 + 1000))  # LEAK
    return len(body)


def every_batch(now):
    sessions.append((now, [Entry(k) for k in range(20)]))  # SESSION
    while sessions[0][0] < now - SESSION_SECONDS:
        sessions.popleft()
    # filled as a C extension fills its buffers
    # every batch: the windows see ~1/5000 of the work, and one block every
    # 4th batch left them ~8 to catch, a Poisson draw that fell under a
    # quarter of the truth in 1 run of 10 (measured)
    p = libc.malloc(100)  # NATIVE-LEAK
    ctypes.c_uint64.from_address(p).value = len(native_kept)
    native_kept.append(p)
    p = libc.malloc(200)  # NATIVE-SESSION
    ctypes.c_uint64.from_address(p).value = len(native_kept)
    native_sessions.append((now, p))
    while native_sessions[0][0] < now - SESSION_SECONDS:
        libc.free(native_sessions.popleft()[1])


def main():
    sys.stdout.write("ready pid=%d\n" % os.getpid())
    sys.stdout.flush()
    deadline = time.monotonic() + SECONDS
    status = os.open(STATUS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND) if STATUS else -1
    i = 0
    while True:
        for _ in range(BATCH):
            handle(i)
            i += 1
        now = time.monotonic()
        every_batch(now)
        if status >= 0:
            t = Timings.table[-1]
            entry = sys.getsizeof(t) + sys.getsizeof(t.value)
            # a session: 20 Entry objects, the list and its item array
            os.write(status, b"%.6f %d %d %d %d %d\n" % (
                now, len(Timings.table), entry, 22 * len(sessions), len(native_kept),
                len(native_sessions)))
        if (STOP_FILE and os.path.exists(STOP_FILE)) or time.monotonic() > deadline:
            break
    sys.stdout.write("kept=%d iterations=%d\n" % (len(Timings.table), i))
    sys.stdout.flush()


main()
