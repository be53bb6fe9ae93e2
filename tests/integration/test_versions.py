# SPDX-License-Identifier: MIT
"""Every supported CPython gives the same, exact answer (issue 3).

tests/programs/leak_two_ways.py leaks in a thread (LEAK-THREAD, 2000-byte
blocks) and in a generator (LEAK-GEN, 600-byte blocks). On each of the seven
interpreters, `leakbpf record` must:
  - rank the thread's leak line first and the generator's second among the
    program's own lines, with the same counts everywhere;
  - report, for each leak row, exactly the stack the program saw itself with
    sys._getframe() at that allocation (file, line, and function: co_qualname
    from 3.11, co_name before), innermost first, thread frames included,
    main-thread frames absent from the thread's row;
  - name the interpreter's version in the report.
`top` on each interpreter finds a running program's leak line.
"""
import json
import subprocess

from conftest import (bytes_by_line, fmt_rows, marker_line, pid_alive, program, py_env,
                      python_frames, rows_at_line, same_file, start_slow_leak, top_once,
                      validate_report)

SRC = program("leak_two_ways.py")
THREAD_LINE = marker_line(SRC, "# LEAK-THREAD")
GEN_LINE = marker_line(SRC, "# LEAK-GEN")
N = 300


def interpreter_version(python):
    return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def leak_row(proc, line):
    rows = [r for r in proc["rows"] if python_frames(r)
            and same_file(python_frames(r)[0]["file"], SRC) and python_frames(r)[0]["line"] == line]
    assert rows, "no row for %s:%d\n%s" % (SRC, line, fmt_rows(proc["rows"], 12))
    return max(rows, key=lambda r: r["bytes"])


def same_frames(reported, own):
    """leakbpf's frames against the program's own sys._getframe() chain."""
    if len(reported) != len(own):
        return False
    for r, o in zip(reported, own):
        if not same_file(r["file"], o["file"]) or r["line"] != o["line"] or \
                r["function"] != o["function"]:
            return False
    return True


def test_same_answer_on_every_interpreter(record, any_python, tmp_path):
    frames_out = tmp_path / "frames.json"
    res = record([any_python, SRC], env=py_env(THREAD_N=N, GEN_N=N, FRAMES_OUT=frames_out))
    assert res.returncode == 0, res.describe()
    assert res.report is not None, "no JSON report\n" + res.describe()
    procs = validate_report(res.report, check_deltas_equal=True)
    assert len(procs) == 1
    proc = procs[0]
    version = interpreter_version(any_python)
    assert proc["python"] == version, "report says Python %r, the interpreter is %s" % (
        proc["python"], version)
    own = json.loads(frames_out.read_text())

    ranked = sorted(bytes_by_line(proc, SRC).items(), key=lambda kv: -kv[1][0])
    lines = [line for line, _ in ranked]
    assert lines[:2] == [THREAD_LINE, GEN_LINE], \
        "ranking of the program's lines is %s, expected thread line %d then generator line %d\n%s" % (
            ", ".join("%d: %d B" % (l, v[0]) for l, v in ranked[:5]), THREAD_LINE, GEN_LINE,
            fmt_rows(proc["rows"], 12))

    thread = leak_row(proc, THREAD_LINE)
    gen = leak_row(proc, GEN_LINE)
    # each block is one bytearray object and one buffer: two allocations; the
    # KEPT list's own item array belongs to whichever line last resized it,
    # which depends on the version's growth pattern: one block of slack
    for row, what in ((thread, "thread"), (gen, "generator")):
        assert 2 * N <= row["count"] <= 2 * N + 1, "%s row count %d, expected %d" % (
            what, row["count"], 2 * N)
    for row, tag in ((thread, "thread"), (gen, "generator")):
        got = python_frames(row)
        assert same_frames(got, own[tag]), "%s stack differs from sys._getframe():\n  leakbpf: %s\n  python:  %s" % (
            tag, [(f["function"], f["line"]) for f in got],
            [(f["function"], f["line"]) for f in own[tag]])
    assert not any(f["function"] == "main" for f in python_frames(thread)), \
        "the thread's row carries main-thread frames"


def test_top_on_every_interpreter(bpf_ready, any_python, spawn):
    src = program("slow_leak.py")
    leak_line = marker_line(src, "# LEAK")
    target, _ = start_slow_leak(spawn, any_python)
    cp, proc = top_once(bpf_ready, target.pid)
    assert proc["python"] == interpreter_version(any_python)
    mine = rows_at_line(proc, src, leak_line)
    assert mine, "leak line %d not among the top 3 rows:\n%s" % (leak_line,
                                                                fmt_rows(proc["rows"], 8))
    assert pid_alive(target.pid), "target died"


SHAPES = program("frame_shapes.py")
SHAPES_N = 30


def test_frame_shapes_on_every_interpreter(record, any_python, tmp_path):
    """C -> Python re-entry, __init__ (3.13's shim hidden), lambdas, exec'd
    code, asyncio tasks, recursion past the depth limit: each allocation's
    row has exactly the stack the program saw itself; the deep one keeps the
    innermost 64 frames and says it was truncated."""
    frames_out = tmp_path / "frames.json"
    res = record([any_python, SHAPES], extra=["--limit", "0"],
                 env=py_env(SHAPES_N=SHAPES_N, FRAMES_OUT=frames_out))
    assert res.returncode == 0, res.describe()
    proc = validate_report(res.report, check_deltas_equal=True)[0]
    own = json.loads(frames_out.read_text())
    assert sorted(own) == ["coroutine", "deep", "exec", "init", "lambda", "reentry"]
    bad = []
    for shape, want in sorted(own.items()):
        inner = want[0]
        rows = [r for r in proc["rows"] if python_frames(r)
                and same_file(python_frames(r)[0]["file"], inner["file"])
                and python_frames(r)[0]["line"] == inner["line"]]
        if not rows:
            bad.append("%s: no row at %s:%d" % (shape, inner["file"], inner["line"]))
            continue
        row = max(rows, key=lambda r: r["bytes"])
        got = python_frames(row)
        expected = want[:64] if shape == "deep" else want
        if not same_frames(got, expected):
            bad.append("%s:\n    leakbpf: %s\n    python:  %s" % (
                shape, [(f["function"], f["line"]) for f in got[:8]],
                [(f["function"], f["line"]) for f in expected[:8]]))
        if row["truncated"] != (shape == "deep"):
            bad.append("%s: truncated=%s" % (shape, row["truncated"]))
        if row["count"] < SHAPES_N:
            bad.append("%s: count %d < %d" % (shape, row["count"], SHAPES_N))
    assert not bad, "\n".join(bad)


def test_c_thread_without_thread_state(record, any_python):
    """A thread with no Python thread state (pthread_create running malloc
    itself) allocates while the main thread waits in Python: the block is
    reported with native frames only, never under the main thread's stack."""
    src = program("c_thread_alloc.py")
    res = record([any_python, src], extra=["--limit", "0"], env=py_env())
    assert res.returncode == 0, res.describe()
    proc = validate_report(res.report, check_deltas_equal=True)[0]
    rows = [r for r in proc["rows"] if r["bytes"] == 123457]
    assert len(rows) == 1 and rows[0]["count"] == 1, "no single row for the C thread's block:\n%s" % (
        fmt_rows(proc["rows"], 10))
    assert rows[0]["frames"], "the C thread's row has no frames"
    assert not python_frames(rows[0]), "the C thread's block carries Python frames: %r" % (
        rows[0]["frames"],)
    assert proc["counters"]["no_thread_state"] >= 1


def test_native_allocation_on_calling_python_line(record, any_python):
    """C code called from Python (libc malloc through ctypes) allocates:
    the blocks are reported on the Python line that called it."""
    src = program("native_from_python.py")
    line = marker_line(src, "# NATIVE")
    res = record([any_python, src], extra=["--limit", "0"], env=py_env(NATIVE_N=20))
    assert res.returncode == 0, res.describe()
    proc = validate_report(res.report, check_deltas_equal=True)[0]
    got = sum(r["bytes"] for r in rows_at_line(proc, src, line, first=None))
    # the 20 blocks, plus at most the Python ints holding the pointers and
    # the list, which the same line makes
    want = 20 * 54321
    assert want <= got <= want + 20 * 256, "%d bytes on line %d, expected %d:\n%s" % (
        got, line, want, fmt_rows(proc["rows"], 10))
