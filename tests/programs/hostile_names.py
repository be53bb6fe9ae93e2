# SPDX-License-Identifier: MIT
"""A hostile target names its code: a function whose name and file carry a
terminal escape sequence, a tab and a newline (code.replace() accepts any
str). `top` printed them raw: the escape reached the terminal, and the tab
and newline split the stack text the agent stores. Allocates through that
function until killed. Prints "ready pid=P".
"""
import os
import sys
import time

EVIL = "evil\x1b[2J\tname\nsecond\x7f"


def grow(kept):
    kept.append(bytearray(200))


grow.__code__ = grow.__code__.replace(co_name=EVIL, co_qualname=EVIL,
                                      co_filename="/srv/\x1b]0;owned\x07app.py") \
    if sys.version_info >= (3, 11) else \
    grow.__code__.replace(co_name=EVIL, co_filename="/srv/\x1b]0;owned\x07app.py")
sys.stdout.write("ready pid=%d\n" % os.getpid())
sys.stdout.flush()
kept = []
while True:
    grow(kept)
    if len(kept) > 20000:
        kept = []
    time.sleep(0.0005)
