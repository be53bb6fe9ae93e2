# SPDX-License-Identifier: MIT
"""Allocations in every frame shape a stack walker must get right. Each
marked line allocates N blocks of a size of its own (so rows are told apart
by size too) and records, the first time, its own stack as the interpreter
sees it (sys._getframe(): file, line, co_qualname or co_name), innermost
first, written as JSON to $FRAMES_OUT at the end.

  reentry    called by C: sorted(key=...) calls back into Python
  init       __init__ of a class being instantiated (3.13 pushes a shim)
  lambda     inside a lambda
  exec       code compiled at run time by exec()
  coroutine  an asyncio task
  deep       recursion DEEP levels down (deeper than leakbpf's 64 frames)
"""
import asyncio
import os

from own_stack import dump, noted

N = int(os.environ.get("SHAPES_N", "50"))
DEEP = int(os.environ.get("SHAPES_DEEP", "80"))
KEPT = []




def by_key(x):
    KEPT.append(noted(bytearray(1100), "reentry"))  # SHAPE-reentry
    return -x


class Holder:
    def __init__(self):
        self.data = noted(bytearray(1200), "init")  # SHAPE-init


make = lambda: noted(bytearray(1300), "lambda")  # SHAPE-lambda

EXEC_SRC = 'KEPT.append(noted(bytearray(1400), "exec"))\n'


async def task_body():
    await asyncio.sleep(0)
    KEPT.append(noted(bytearray(1500), "coroutine"))  # SHAPE-coroutine


def recurse(n):
    if n:
        return recurse(n - 1)
    KEPT.append(noted(bytearray(1600), "deep"))  # SHAPE-deep


async def run_tasks():
    await asyncio.gather(*(task_body() for _ in range(N)))


def main():
    sorted(range(N), key=by_key)
    KEPT.extend(Holder() for _ in range(N))
    KEPT.extend(make() for _ in range(N))
    code = compile(EXEC_SRC, "<exec-shape>", "exec")
    for _ in range(N):
        exec(code, globals())
    asyncio.run(run_tasks())
    for _ in range(N):
        recurse(DEEP)
    dump(os.environ.get("FRAMES_OUT"))
    print("frame_shapes pid=%d kept=%d" % (os.getpid(), len(KEPT)))


if __name__ == "__main__":
    main()
