# SPDX-License-Identifier: MIT
"""Native memory allocated by C code that Python called (here libc's malloc
through ctypes, as a C extension would), never freed: leakbpf must put it
on the Python line that made the call (marked NATIVE), like memray's
native mode, not on an anonymous native stack."""
import ctypes
import os

BLOCK = 54321
N = int(os.environ.get("NATIVE_N", "20"))
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]


def grab(n):
    return [libc.malloc(BLOCK) for _ in range(n)]  # NATIVE


def main():
    kept = grab(N)
    print("native_from_python pid=%d blocks=%d" % (os.getpid(), sum(1 for p in kept if p)))


if __name__ == "__main__":
    main()
