# SPDX-License-Identifier: MIT
"""Short-lived code objects: modules made by exec, each defining a function
that keeps memory, run and dropped (so their code objects are freed and
their addresses reused by the next module's).

Each module "<modK>" defines fnK, whose line 3 keeps K+1 blocks of 512
bytes (a distinct count per module), called from the module body at line
5. A frame named after another module's file or function is a wrong name.
Prints "exec_code pid=P leaked=N" at the end.
"""
import os
import sys

N = int(os.environ.get("EXEC_N", "40"))
KEPT = []
SRC = '''
def fn%d(n):
    return [bytearray(512) for _ in range(n)]

KEPT.append(fn%d(%d))
'''


def main():
    for k in range(N):
        code = compile(SRC % (k, k, k + 1), "<mod%d>" % k, "exec")
        exec(code, {"KEPT": KEPT})
        del code
    total = sum(len(x) for x in KEPT)
    sys.stdout.write("exec_code pid=%d leaked=%d\n" % (os.getpid(), total))


if __name__ == "__main__":
    main()
