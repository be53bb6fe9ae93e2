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
import os
import threading

from own_stack import dump, noted

THREAD_N = int(os.environ.get("THREAD_N", "400"))
GEN_N = int(os.environ.get("GEN_N", "400"))
KEPT = []




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
    dump(os.environ.get("FRAMES_OUT"))
    print("leak_two_ways pid=%d kept=%d" % (os.getpid(), len(KEPT)))


if __name__ == "__main__":
    main()  # CALL-MAIN
