# SPDX-License-Identifier: MIT
"""The allocator-table redirect is refused where it would be unsafe (debug
hooks, tracemalloc: given on the command line or started at run time) and
skipped where it is not needed (PYTHONMALLOC=malloc). leakbpf says so, leaves
the tables alone, and traces what libc sees: slow_leak's 50 KB blocks come
from the raw domain, so its leak line is found in every case."""
import subprocess

import pytest

from conftest import (LineReader, fmt_rows, marker_line, pid_alive, program, py_env, rows_at_line,
                      top_once)

SRC = str(program("slow_leak.py"))
LEAK_LINE = marker_line(SRC, "# LEAK")
PYTHON = "/usr/bin/python3.11"
RUNTIME_TRACEMALLOC = ("import runpy, sys, tracemalloc; tracemalloc.start(); sys.argv = [%r]; "
                       "runpy.run_path(%r, run_name='__main__')" % (SRC, SRC))


@pytest.mark.parametrize("args,env,state,needle", [
    ([SRC], {"PYTHONMALLOC": "debug"}, "refused", "pythonmalloc=debug"),
    (["-X", "dev", SRC], {}, "refused", "dev"),
    (["-X", "tracemalloc", SRC], {}, "refused", "tracemalloc"),
    (["-c", RUNTIME_TRACEMALLOC], {}, "refused", "hooks"),
    ([SRC], {"PYTHONMALLOC": "malloc"}, "not needed", "pythonmalloc=malloc"),
], ids=["PYTHONMALLOC=debug", "-X-dev", "-X-tracemalloc", "tracemalloc.start()",
        "PYTHONMALLOC=malloc"])
def test_redirect_guard(bpf_ready, spawn, args, env, state, needle):
    target = spawn([PYTHON] + args, stdout=subprocess.PIPE, env=py_env(**env))
    reader = LineReader(target.stdout, "slow_leak")
    line = reader.readline(30)
    assert line and line.startswith("ready pid="), "target did not start: %r" % line
    cp, proc = top_once(bpf_ready, target.pid)
    assert proc["redirect"] == state, "redirect %r (%s), expected %r" % (
        proc["redirect"], proc["redirect_reason"], state)
    assert needle in proc["redirect_reason"].lower(), proc["redirect_reason"]
    if state == "refused":
        assert "refused" in cp.stderr, "refusal not said on stderr: %r" % cp.stderr
    mine = rows_at_line(proc, SRC, LEAK_LINE)
    assert mine, "leak line not among the top rows:\n%s" % fmt_rows(proc["rows"])
    assert pid_alive(target.pid), "target died"
