# SPDX-License-Identifier: MIT
"""Issue 12: the right line when CPython reuses memory from its free lists.

free_list_reuse.py pairs, for each type (float, int, tuple, list, dict, set,
str, bytes, instances with and without __dict__), a line making temporaries
with a line keeping objects of the same type. CPython hands the kept objects
memory from the temporaries' free lists without calling an allocator;
tracemalloc (the oracle, run on the same program and interpreter) moves each
reused object to the line reusing it. `leakbpf record` must agree with it,
line by line, on every interpreter:
  - every line tracemalloc holds >= 8 KiB at: within 5% of its bytes;
  - every other line of the program, the churn lines above all: < 8 KiB
    (before the new-reference probes, each churn line held a block per
    kept object: 36 KiB for floats, ~130 KiB for tuples);
  - the objects moved are counted (`reused_objects_moved` > 0).
"""
import re

from conftest import bytes_by_line, find_process, fmt_rows, program, py_env
from test_python_leaks import pid_from_stdout, tracemalloc_reference

SRC = program("free_list_reuse.py")
TOLERANCE = 0.05
SMALL = 8 * 1024


def marked_lines(tag):
    out = {}
    with open(SRC) as f:
        for n, line in enumerate(f, 1):
            m = re.search(r"# %s (\w+)" % tag, line)
            if m:
                out[m.group(1)] = n
    return out


def test_free_list_reuse_matches_tracemalloc(record, any_python, tmp_path):
    stats = tracemalloc_reference(any_python, SRC, tmp_path)
    tm = {}
    for e in stats:
        tm[e["lineno"]] = tm.get(e["lineno"], 0) + e["size"]

    res = record([any_python, SRC], env=py_env(), extra=["--limit", "100000"])
    assert res.returncode == 0, res.describe()
    proc = find_process(res.report, pid_from_stdout(res.stdout, "free_list_reuse"))
    lb = {line: b for line, (b, _, _) in bytes_by_line(proc, SRC).items()}

    leaks, churns = marked_lines("LEAK"), marked_lines("CHURN")
    table = "\n".join("line %4d: tracemalloc %8d B, leakbpf %8d B" % (l, tm.get(l, 0), lb.get(l, 0))
                      for l in sorted(set(tm) | set(lb)))
    for kind, line in leaks.items():
        assert tm.get(line, 0) >= SMALL, "oracle holds little at the %s leak line:\n%s" % (kind, table)
    bad = []
    for line in sorted(set(tm) | set(lb)):
        want, got = tm.get(line, 0), lb.get(line, 0)
        if want >= SMALL:
            if abs(got - want) > TOLERANCE * want:
                bad.append("line %d: %d B, tracemalloc %d B (over 5%% apart)" % (line, got, want))
        elif got >= SMALL:
            bad.append("line %d: %d B where tracemalloc holds %d B" % (line, got, want))
    for kind, line in churns.items():
        if lb.get(line, 0) >= SMALL:
            bad.append("churn line of %s (%d) holds %d B" % (kind, line, lb[line]))
    assert not bad, "\n".join(bad) + "\n" + table + "\n" + fmt_rows(proc["rows"])
    assert proc["counters"].get("reused_objects_moved", 0) > 0, proc["counters"]
