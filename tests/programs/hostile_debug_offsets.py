# SPDX-License-Identifier: MIT
"""A hostile target (CPython 3.13+): it rewrites its own _Py_DebugOffsets,
which out-of-process tools read to learn its layout, so that the code
object claims to be 0x7fff bytes long with co_firstlineno at 0x7ff0. A
tracer that checks an offset only against a size the target also gives
indexes its own buffers with it (the node agent died with SIGSEGV). Then it
allocates, like any program, until killed. Prints "ready pid=P".
"""
import ctypes
import os
import struct
import sys
import time

runtime = ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
assert ctypes.string_at(runtime, 8) == b"xdebugpy", "no _Py_DebugOffsets"
block = ctypes.string_at(runtime, 1024)
words = struct.unpack("<128Q", block)
# code_object: size, filename, name, qualname, linetable, firstlineno, ...
# (filename/name/qualname/linetable at 112/120/128/136 in 3.13-3.15)
at = next(i for i in range(1, 120) if words[i:i + 4] == (112, 120, 128, 136))
ctypes.memmove(runtime + 8 * (at - 1), struct.pack("<Q", 0x7FFF), 8)    # size
ctypes.memmove(runtime + 8 * (at + 4), struct.pack("<Q", 0x7FF0), 8)    # firstlineno
sys.stdout.write("ready pid=%d\n" % os.getpid())
sys.stdout.flush()
kept = []
while True:
    kept.append(bytearray(100))
    if len(kept) > 10000:
        kept = []
    time.sleep(0.001)
