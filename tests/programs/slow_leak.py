# SPDX-License-Identifier: MIT
"""A long-running program that leaks slowly, for `leakbpf top --pid`.

Prints "ready pid=N" once started, then appends a 50 KB bytes object to a
global list every 50 ms (about 1 MB/s) on the line marked LEAK, inside
leak_slowly(), called from main() (CALL-LEAK), called from <module>
(CALL-MAIN).

Stops (prints "stopped leaked=N", exit status 0) when the file named by
SLOW_LEAK_STOP_FILE exists, or after SLOW_LEAK_MAX_SECONDS (default 120) as a
safety net.
"""
import os
import sys
import time

LEAKED = []
STOP_FILE = os.environ.get("SLOW_LEAK_STOP_FILE", "")
MAX_SECONDS = float(os.environ.get("SLOW_LEAK_MAX_SECONDS", "120"))


def leak_slowly(size):
    deadline = time.monotonic() + MAX_SECONDS
    while True:
        LEAKED.append(b"x" * size)  # LEAK
        if STOP_FILE and os.path.exists(STOP_FILE):
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def main():
    sys.stdout.write("ready pid=%d\n" % os.getpid())
    sys.stdout.flush()
    leak_slowly(50_000)  # CALL-LEAK
    sys.stdout.write("stopped leaked=%d\n" % len(LEAKED))
    sys.stdout.flush()


if __name__ == "__main__":
    main()  # CALL-MAIN
