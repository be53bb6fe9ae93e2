# SPDX-License-Identifier: MIT
"""What the interpreter itself says the stack is at an allocation point, for
the tests to compare with leakbpf's frames."""
import json
import sys

SEEN = {}


def noted(obj, tag):
    """Returns obj; the first time for tag, records the caller's stack
    (file, line, co_qualname on 3.11+ / co_name before), innermost first."""
    if tag not in SEEN:
        frames = []
        f = sys._getframe(1)
        while f is not None:
            code = f.f_code
            frames.append({"file": code.co_filename, "line": f.f_lineno,
                           "function": getattr(code, "co_qualname", code.co_name)})
            f = f.f_back
        SEEN[tag] = frames
    return obj


def dump(path):
    """Writes what was recorded as JSON to path (nothing if path is empty)."""
    if path:
        with open(path, "w") as f:
            json.dump(SEEN, f)
