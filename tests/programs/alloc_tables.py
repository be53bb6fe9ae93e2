# SPDX-License-Identifier: MIT
"""Reports this interpreter's allocator tables (PyMem_GetAllocator) on demand.

Protocol (one JSON object per line on stdout, flushed):
  start:           {"ready": true, "pid": N, "version": "...", "tables": T}
  per stdin line:  "tables" -> allocates and frees a few thousand objects
                   (exercising whatever allocator is installed), then
                   {"ok": true, "tables": T, "work": N}
                   "keep"   -> like "tables", and also allocates ~2,000 objects of
                               mixed sizes and keeps them
                   "drop"   -> like "tables", after freeing what "keep" kept
                               (blocks allocated while redirected are then
                               freed by whatever allocator is installed now)
                   "fork PATH" -> like "tables", after forking a child that
                               keeps writing its own T to PATH (JSON) until
                               PATH.stop exists (a pre-fork server's worker)
                   "exit"   -> {"bye": true} and exit status 0
                   (EOF behaves like "exit")
T = {"raw": [ctx, malloc, calloc, realloc, free], "mem": [...], "obj": [...]}
as integers (0 for NULL). Domains: RAW=0, MEM=1, OBJ=2.
"""
import ctypes
import json
import os
import sys
import time


class PyMemAllocatorEx(ctypes.Structure):
    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("malloc", ctypes.c_void_p),
        ("calloc", ctypes.c_void_p),
        ("realloc", ctypes.c_void_p),
        ("free", ctypes.c_void_p),
    ]


_get = ctypes.pythonapi.PyMem_GetAllocator
_get.argtypes = [ctypes.c_int, ctypes.POINTER(PyMemAllocatorEx)]
_get.restype = None
DOMAINS = (("raw", 0), ("mem", 1), ("obj", 2))
SLOTS = ("ctx", "malloc", "calloc", "realloc", "free")


def tables():
    out = {}
    for name, dom in DOMAINS:
        a = PyMemAllocatorEx()
        _get(dom, ctypes.byref(a))
        out[name] = [getattr(a, s) or 0 for s in SLOTS]
    return out


def work():
    # Small and large objects, dicts, lists, strings: created and freed.
    junk = [str(i) * 3 for i in range(300)]
    d = {i: [junk[i], (i, i + 1)] for i in range(len(junk))}
    big = [bytearray(2000) for _ in range(20)]
    n = len(d) + len(big) + sum(len(s) for s in junk)
    del junk, d, big
    return n


KEPT = []


def keep():
    for i in range(400):
        KEPT.append((str(i) * 5, [i, i + 1], {"k": i}, bytes(600 + i), i * 1000003))


def fork_reporter(path):
    """A child forked now (as a pre-fork server forks a worker) that keeps
    writing its own allocator tables to `path` until `path`.stop exists."""
    pid = os.fork()
    if pid:
        return pid
    # not the parent's pipes: a test reading them must see them close
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # and never outlive the parent by much
    deadline = time.monotonic() + 120
    try:
        while not os.path.exists(path + ".stop") and time.monotonic() < deadline:
            with open(path + ".tmp", "w") as f:
                f.write(json.dumps(tables()))
            os.replace(path + ".tmp", path)
            time.sleep(0.05)
    finally:
        os._exit(0)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    say({"ready": True, "pid": os.getpid(), "version": sys.version,
         "tables": tables()})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "exit":
            break
        if cmd == "keep":
            keep()
        elif cmd == "drop":
            del KEPT[:]
        elif cmd.startswith("fork "):
            fork_reporter(cmd.split(" ", 1)[1])
        n = work()
        say({"ok": True, "tables": tables(), "work": n, "kept": len(KEPT)})
    say({"bye": True})


if __name__ == "__main__":
    main()
