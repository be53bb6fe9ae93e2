# SPDX-License-Identifier: MIT
"""Two leaks, each where a stack walker can go wrong (issue 3's acceptance).

- leak_in_thread(): runs in a threading.Thread; its allocations must carry
  the thread's own stack, never the main thread's.
- leak_in_generator(): a generator; its frame lives inside the generator
  object (3.11+) and is resumed from main() on every next().

Sizes differ (thread: THREAD_N x 2000 B, generator: GEN_N x 600 B) so the
expected ranking is the same on every interpreter. At the end the program
writes, as JSON to $FRAMES_OUT (if set), each leak line's own view of its
stack, taken with sys._getframe() at the leak point: file, line, function
(co_qualname on 3.11+, co_name before), innermost first.
"""
import json
import os
import sys
import threading

THREAD_N = int(os.environ.get("THREAD_N", "400"))
GEN_N = int(os.environ.get("GEN_N", "400"))
KEPT = []
SEEN = {}


def noted(obj, tag):
    """Returns obj; the first time, records the caller's stack under tag."""
    if tag in SEEN:
        return obj
    frames = []
    f = sys._getframe(1)
    while f is not None:
        code = f.f_code
        frames.append({"file": code.co_filename, "line": f.f_lineno,
                       "function": getattr(code, "co_qualname", code.co_name)})
        f = f.f_back
    SEEN[tag] = frames
    return obj


def leak_in_thread():
    for _ in range(THREAD_N):
        KEPT.append(noted(bytearray(2000), "thread"))  # LEAK-THREAD


def leak_in_generator():
    for _ in range(GEN_N):
        block = noted(bytearray(600), "generator")  # LEAK-GEN
        yield block


def main():
    worker = threading.Thread(target=leak_in_thread)
    worker.start()
    worker.join()
    for block in leak_in_generator():  # CALL-GEN
        KEPT.append(block)
    out = os.environ.get("FRAMES_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(SEEN, f)
    print("leak_two_ways pid=%d kept=%d" % (os.getpid(), len(KEPT)))


if __name__ == "__main__":
    main()  # CALL-MAIN
