# SPDX-License-Identifier: MIT
"""Short-lived code objects: modules made by exec (or imported from files),
each keeping memory, run and dropped (so their code objects are freed and
their addresses reused by the next module's).

EXEC_MODE=exec (default): each module "<modK>" defines fnK, whose line 3
keeps K+1 blocks of 512 bytes (a distinct count per module), called from
the module body at line 5. A frame named after another module's file or
function is a wrong name.

EXEC_MODE=import: writes modK.py files to EXEC_DIR and imports each; the
module body's line 3 keeps K+1 blocks of 512 bytes at import time. A module
body's code object is freed as soon as the import is done.

Prints "exec_code pid=P leaked=N" at the end.
"""
import importlib
import os
import sys

N = int(os.environ.get("EXEC_N", "40"))
KEPT = []
SRC = '''
def fn%d(n):
    return [bytearray(512) for _ in range(n)]

KEPT.append(fn%d(%d))
'''
MODULE = '''# a module made by exec_code.py
import exec_code_kept
exec_code_kept.KEPT.append([bytearray(512) for _ in range(%d)])
'''


def run_exec():
    for k in range(N):
        code = compile(SRC % (k, k, k + 1), "<mod%d>" % k, "exec")
        exec(code, {"KEPT": KEPT})
        del code


def run_import():
    where = os.environ["EXEC_DIR"]
    for k in range(N):
        with open(os.path.join(where, "mod%d.py" % k), "w") as f:
            f.write(MODULE % (k + 1))
    kept = type(sys)("exec_code_kept")
    kept.KEPT = KEPT
    sys.modules["exec_code_kept"] = kept
    sys.path.insert(0, where)
    for k in range(N):
        importlib.import_module("mod%d" % k)


def main():
    if os.environ.get("EXEC_MODE", "exec") == "import":
        run_import()
    else:
        run_exec()
    total = sum(len(x) for x in KEPT)
    sys.stdout.write("exec_code pid=%d leaked=%d\n" % (os.getpid(), total))


if __name__ == "__main__":
    main()
