# SPDX-License-Identifier: MIT
"""Test 2: native leaks of a C program (tests/programs/native_leak.c).

The program leaks, each from its own noinline function, with one API and a
distinct size and count (table below), and frees everything it allocates in
churn_and_free() / hands every seed_for_realloc() block to realloc.

`leakbpf record --json -- native_leak 3` must report, per leaking function
(attributing each row to the innermost frame whose "function" is one of the
program's functions), exactly the leaked bytes and counts; no row may be
attributed to churn_and_free or seed_for_realloc. Native frames have line 0
and the executable's path as "file". Also: the report goes to stdout without
-o (the program writes only to stderr), the exit status (3) is passed on,
--limit and --max-depth are honoured.
"""
import os
import subprocess

import pytest

from conftest import PROGRAMS, fmt_rows, validate_report

EXPECTED_NATIVE = {
    # function: (bytes, count)
    "leak_malloc": (7 * 1000, 7),
    "leak_calloc": (5 * 3 * 700, 5),
    "leak_realloc": (4 * 3000, 4),
    "leak_posix_memalign": (3 * 5000, 3),
    "leak_aligned_alloc": (6 * 2048, 6),
    "leak_mmap": (2 * 40960, 2),
}
FREED = ("churn_and_free", "seed_for_realloc")
OURS = set(EXPECTED_NATIVE) | set(FREED)
EXIT_STATUS = 3


@pytest.fixture(scope="module")
def native_leak(tmp_path_factory):
    import shutil
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed")
    out = tmp_path_factory.mktemp("native") / "native_leak"
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", str(out),
                    str(PROGRAMS / "native_leak.c")], check=True)
    # Sanity: it runs untraced.
    cp = subprocess.run([str(out), str(EXIT_STATUS)], capture_output=True, text=True, timeout=30)
    assert cp.returncode == EXIT_STATUS and "native_leak: done" in cp.stderr
    return str(out)


def attribute(proc):
    """{our function: [bytes, count, rows]} by the innermost frame naming one
    of the program's functions."""
    agg = {}
    for row in proc["rows"]:
        for fr in row["frames"]:
            if fr["function"] in OURS:
                e = agg.setdefault(fr["function"], [0, 0, []])
                e[0] += row["bytes"]
                e[1] += row["count"]
                e[2].append(row)
                break
    return agg


def the_process(report):
    procs = validate_report(report, check_deltas_equal=True)
    assert len(procs) == 1, "expected one process, got pids %s" % [p["pid"] for p in procs]
    return procs[0]


def test_native_leaks_exact(record, native_leak):
    # Report on leakbpf's stdout (no -o): the program prints only on stderr.
    res = record([native_leak, EXIT_STATUS], to_file=False)
    assert res.returncode == EXIT_STATUS, "exit status not passed on\n" + res.describe()
    assert "native_leak: done" in res.stderr, "program's stderr did not pass through"
    assert res.report is not None, "no JSON report on stdout\n" + res.describe()
    proc = the_process(res.report)
    agg = attribute(proc)

    problems = []
    for fn, (nbytes, count) in EXPECTED_NATIVE.items():
        got = agg.get(fn)
        if not got:
            problems.append("%s: not reported (expected %d B in %d blocks)" % (fn, nbytes, count))
            continue
        if (got[0], got[1]) != (nbytes, count):
            problems.append("%s: got %d B in %d blocks, expected %d B in %d blocks"
                            % (fn, got[0], got[1], nbytes, count))
    for fn in FREED:
        if fn in agg:
            problems.append("%s: freed blocks reported: %d B in %d blocks"
                            % (fn, agg[fn][0], agg[fn][1]))
    assert not problems, "\n".join(problems) + "\nlost=%r\nrows:\n%s" % (
        proc["lost"], fmt_rows(proc["rows"], 30))

    # Native frames: line 0, file = the executable.
    for fn in EXPECTED_NATIVE:
        for row in agg[fn][2]:
            fr = next(f for f in row["frames"] if f["function"] == fn)
            assert fr["line"] == 0, "native frame with a line number: %r" % fr
            assert os.path.basename(fr["file"]) == "native_leak", \
                "native frame file %r is not the executable" % fr["file"]


def test_native_limit_and_max_depth(record, native_leak):
    res = record([native_leak], extra=["--limit", "2", "--max-depth", "3"])
    assert res.returncode == 0, res.describe()
    proc = the_process(res.report)
    assert 1 <= len(proc["rows"]) <= 2, "--limit 2: got %d rows" % len(proc["rows"])
    for row in proc["rows"]:
        assert 1 <= len(row["frames"]) <= 3, "--max-depth 3: row with %d frames" % len(row["frames"])
    # The biggest leak (mmap, 81920 B) must be the first row even when cut.
    assert proc["rows"][0]["bytes"] >= EXPECTED_NATIVE["leak_mmap"][0], fmt_rows(proc["rows"])


def test_report_has_stdout_to_itself(bpf_ready):
    """`leakbpf record --json -- CMD | jq .` works whatever CMD prints: like
    time(1) and perf stat, the report never shares a stream with CMD's
    output; without -o, CMD's standard output goes to standard error."""
    from conftest import run_leakbpf
    import json
    cp = run_leakbpf(bpf_ready, ["record", "--json", "--", "/usr/bin/python3", "-c",
                                 "print('{not json, from the target'); print('elapsed=0.03')"])
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["processes"], cp.stdout[:500]
    assert "{not json, from the target" in cp.stderr and "elapsed=0.03" in cp.stderr, cp.stderr
