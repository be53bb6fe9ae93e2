# SPDX-License-Identifier: MIT
"""A C thread without a Python thread state allocates: pthread_create runs
libc's malloc itself as the thread's start routine, so the new thread's one
allocation (BLOCK bytes, never freed) happens with no Python frame of its
own, while the main thread sits in Python code (join). leakbpf must report
it as native, never under the main thread's Python stack."""
import ctypes
import os

BLOCK = 123457
libc = ctypes.CDLL(None)
libc.pthread_create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p,
                                ctypes.c_void_p, ctypes.c_void_p]
libc.pthread_join.argtypes = [ctypes.c_ulong, ctypes.POINTER(ctypes.c_void_p)]
malloc_addr = ctypes.cast(libc.malloc, ctypes.c_void_p).value


def start_c_thread():
    tid = ctypes.c_ulong()
    assert libc.pthread_create(ctypes.byref(tid), None, malloc_addr, BLOCK) == 0
    result = ctypes.c_void_p()
    libc.pthread_join(tid.value, ctypes.byref(result))
    return result.value


def main():
    block = start_c_thread()
    print("c_thread_alloc pid=%d block=%s" % (os.getpid(), "ok" if block else "null"))


if __name__ == "__main__":
    main()
