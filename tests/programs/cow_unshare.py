# SPDX-License-Identifier: MIT
"""A pre-fork worker whose memory grows without a single leaked allocation.

The parent builds ~40 MB of small str objects (a preloaded app), then
forks one child and sleeps. The child waits until the file named by
COW_GO exists, then for COW_SECONDS (default 8) walks those objects a slice
at a time: reading one takes and drops a reference, which writes its page,
and copy-on-write gives the child its own copy. Its USS grows by tens of
MB and its shared memory falls; its outstanding allocations stay flat.
Prints "ready parent=N child=N" once forked. Both exit after COW_SECONDS
more (or when the parent is killed, for the child).
"""
import os
import sys
import time

GO = os.environ.get("COW_GO", "")
SECONDS = float(os.environ.get("COW_SECONDS", "8"))

data = [str(i) * 5 for i in range(600000)]
child = os.fork()
if child == 0:
    while GO and not os.path.exists(GO):
        time.sleep(0.05)
    n = len(data)
    per_tick = n // 40
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < SECONDS:
        end = min(i + per_tick, n)
        for j in range(i, end):
            x = data[j]
        i = end % n
        time.sleep(SECONDS / 40)
    while os.getppid() != 1 and time.monotonic() - start < 2 * SECONDS + 30:
        time.sleep(0.2)
    os._exit(0)
print("ready parent=%d child=%d" % (os.getpid(), child), flush=True)
deadline = time.monotonic() + 2 * SECONDS + 60
while time.monotonic() < deadline:
    time.sleep(0.2)
    if os.waitpid(child, os.WNOHANG)[0]:
        break
