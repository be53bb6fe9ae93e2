# SPDX-License-Identifier: MIT
"""Test 6: `leakbpf top --pid` against a running, slowly leaking Python program.

tests/programs/slow_leak.py appends a 50 KB bytes object to a global list
every 50 ms (line marked LEAK, in leak_slowly, called from main).

  - `top --pid P -n 1 --interval 1.5 --json`: exit 0, exactly one JSON line,
    the leak line (innermost Python frame) is in the top 3 rows with >= 50 KB,
    its function is leak_slowly called from main, bytes_delta/count_delta
    >= 0; the target keeps running.
  - `-n 3 --interval 0.5`: three JSON lines; in the first, deltas equal
    totals (compared with nothing, as for record); afterwards, for a stack
    present in consecutive reports, delta == this total - previous total;
    the leak line keeps growing.
  - the target exits mid-trace: top prints what it has (JSON lines), says
    so on stderr and exits 0.
"""
import subprocess

import pytest

from conftest import (LineReader, bytes_by_line, find_process, fmt_rows, marker_line,
                      parse_json_lines, pid_alive, program, python_frames, run_leakbpf,
                      same_file, start_slow_leak, stderr_lines, validate_report)

SRC = program("slow_leak.py")
LEAK_LINE = marker_line(SRC, "# LEAK")
CALL_LEAK = marker_line(SRC, "# CALL-LEAK")
BLOCK = 50_000


def leak_rows(proc):
    return bytes_by_line(proc, SRC).get(LEAK_LINE, [0, 0, []])


def test_top_once_finds_leak_line(bpf_ready, python, spawn):
    target, _ = start_slow_leak(spawn, python)
    cp = run_leakbpf(bpf_ready, ["top", "--mode", "full", "--pid", target.pid, "-n", "1", "--interval", "1.5",
                                 "--json"], timeout=60)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr[-2000:])
    docs = parse_json_lines(cp.stdout)
    assert len(docs) == 1, "-n 1: expected one JSON line, got %d" % len(docs)
    validate_report(docs[0])
    proc = find_process(docs[0], target.pid)
    rows = proc["rows"]

    top3 = rows[:3]
    mine = [r for r in top3 if python_frames(r) and same_file(python_frames(r)[0]["file"], SRC)
            and python_frames(r)[0]["line"] == LEAK_LINE]
    assert mine, "leak line %d not among the top 3 rows (lost=%r):\n%s" % (
        LEAK_LINE, proc["lost"], fmt_rows(rows, 10))
    nbytes, count, all_leak = leak_rows(proc)
    assert nbytes >= BLOCK, "leak line holds only %d B" % nbytes
    for r in all_leak:
        assert r["bytes_delta"] >= 0 and r["count_delta"] >= 0, "negative delta: %s" % fmt_rows([r])
    fr = python_frames(max(mine, key=lambda r: r["bytes"]))
    assert fr[0]["function"] == "leak_slowly", fmt_rows(mine)
    assert len(fr) >= 2 and fr[1]["function"] == "main" and fr[1]["line"] == CALL_LEAK, \
        "caller frame missing or wrong:\n" + fmt_rows(mine)
    assert pid_alive(target.pid), "target died"


def frames_key(row):
    return tuple((f["file"], f["line"], f["function"]) for f in row["frames"])


def test_top_iterations_and_deltas(bpf_ready, python, spawn):
    target, _ = start_slow_leak(spawn, python)
    cp = run_leakbpf(bpf_ready, ["top", "--mode", "full", "--pid", target.pid, "-n", "3", "--interval", "0.5",
                                 "--json"], timeout=60)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr[-2000:])
    docs = parse_json_lines(cp.stdout)
    assert len(docs) == 3, "-n 3: expected three JSON lines, got %d" % len(docs)
    procs = []
    for d in docs:
        validate_report(d)
        procs.append(find_process(d, target.pid))

    for r in procs[0]["rows"]:
        assert (r["bytes_delta"], r["count_delta"]) == (r["bytes"], r["count"]), \
            "first report: deltas must equal totals:\n" + fmt_rows([r])

    def index(proc):
        seen, dup = {}, set()
        for r in proc["rows"]:
            k = frames_key(r)
            if k in seen:
                dup.add(k)
            seen[k] = r
        for k in dup:
            del seen[k]
        return seen

    for prev, cur in zip(procs, procs[1:]):
        before = index(prev)
        for k, r in index(cur).items():
            if k in before:
                p = before[k]
                assert r["bytes_delta"] == r["bytes"] - p["bytes"] and \
                    r["count_delta"] == r["count"] - p["count"], (
                        "delta is not the change since the previous report:\nprevious:\n%s\n"
                        "now:\n%s" % (fmt_rows([p]), fmt_rows([r])))

    growth = [leak_rows(p)[0] for p in procs]
    assert growth[-1] > growth[0] >= 0 and growth[-1] >= BLOCK, \
        "leak line not growing across reports: %r" % growth
    assert pid_alive(target.pid), "target died"


def test_top_target_exits_mid_trace(bpf_ready, python, spawn, tmp_path):
    stop = tmp_path / "stop"
    target, treader = start_slow_leak(spawn, python, SLOW_LEAK_STOP_FILE=stop)
    err_path = tmp_path / "top.stderr"
    with open(err_path, "wb") as err:
        lk = spawn([bpf_ready, "top", "--mode", "full", "--pid", target.pid, "--interval", "0.5", "--json"],
                   graceful=True, stdout=subprocess.PIPE, stderr=err)
    reader = LineReader(lk.stdout, "leakbpf top")
    first = reader.read_json(30)   # tracing is running
    validate_report(first)

    stop.write_text("stop\n")
    assert target.wait(15) == 0, "slow_leak did not stop cleanly"
    try:
        rc = lk.wait(20)
    except subprocess.TimeoutExpired:
        pytest.fail("leakbpf top still running 20 s after its target exited")
    # Collect the rest of stdout.
    docs = [first]
    while True:
        line = reader.readline(10)
        if line is None:
            break
        if line.strip():
            docs += parse_json_lines(line)
    stderr = err_path.read_text(errors="replace")
    assert rc == 0, "exit %s after the target exited\nstderr: %s" % (rc, stderr[-2000:])
    assert stderr_lines(stderr), "no stderr line saying the target exited"
    for d in docs:
        validate_report(d)
    seen = [d for d in docs for p in d["processes"]
            if p["pid"] == target.pid and leak_rows(p)[0] >= BLOCK]
    assert seen, "no report showed the leak line %d (%d reports)" % (LEAK_LINE, len(docs))


def test_top_reports_its_own_cost(bpf_ready, spawn):
    """Every refresh says what tracing costs: probe hits per second, a trap
    calibrated on this machine, BPF time per hit and the share of a CPU."""
    target, _ = start_slow_leak(spawn, "/usr/bin/python3")
    cp = run_leakbpf(bpf_ready, ["top", "--mode", "full", "--pid", target.pid, "-n", "2", "--interval", "1",
                                 "--json"], timeout=60)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr[-2000:])
    docs = parse_json_lines(cp.stdout)
    assert len(docs) == 2
    cost = find_process(docs[1], target.pid).get("overhead")
    assert cost, "no overhead in the report: %r" % sorted(find_process(docs[1], target.pid))
    # slow_leak allocates ~20 blocks a second, each an entry, a return and later a free
    assert cost["hits_per_sec"] > 5, cost
    assert 10 < cost["trap_ns"] < 1e6, cost
    assert cost["bpf_ns_per_hit"] > 0, cost
    assert 0 < cost["cpu_fraction"] < 0.5, cost
    assert cost["target_fraction"] is None or 0 <= cost["target_fraction"] <= 1, cost
    text = run_leakbpf(bpf_ready, ["top", "--mode", "full", "--pid", target.pid, "-n", "1", "--interval", "1"],
                       timeout=60)
    assert any(l.startswith("leakbpf cost: ") for l in text.stdout.splitlines()), text.stdout[:1500]
