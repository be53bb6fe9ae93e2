# SPDX-License-Identifier: MIT
"""Sampled mode (issue 4), the default of `top`.

tests/programs/churn_leak.py builds and drops a request's worth of objects
per iteration (CHURN), keeps an Entry (and its int) every 16th (LEAK), and
every 100 iterations keeps 20 Entry objects and a 200-byte malloc block for
2 s (SESSION, NATIVE-SESSION) and every 100 a 100-byte malloc block forever
(NATIVE-LEAK); it logs what it holds, the truth estimates are checked
against.

  - the leak line is ranked first and its estimated count and bytes are
    within 30% of the truth over the same span; the churn line, whose
    objects are freed after the windows, is not reported as outstanding;
    the report says it is an estimate and how it was made;
  - the governor: a smaller --max-overhead gives a longer period, and the
    overhead leakbpf measures stays near the budget;
  - a target that cannot be sampled (not Python) is traced in full, with
    one line saying so;
  - the target is unharmed: it runs on and exits normally, tables restored.
"""
import os
import time

import pytest

from conftest import (assert_no_probes_left, bytes_by_line, marker_line, parse_json_lines,
                      pid_alive, program, py_env, run_leakbpf, stderr_lines, LineReader,
                      installed_interpreter)

SRC = program("churn_leak.py")
LEAK_LINE = marker_line(SRC, "# LEAK")
CHURN_LINE = marker_line(SRC, "# CHURN")
SESSION_LINE = marker_line(SRC, "# SESSION")
NATIVE_LEAK_LINE = marker_line(SRC, "# NATIVE-LEAK")
NATIVE_SESSION_LINE = marker_line(SRC, "# NATIVE-SESSION")

# The LTO+PGO build and one with 3.12's object pre-headers.
SAMPLED_INTERPRETERS = [
    ("debian-3.11.2", "/usr/bin/python3.11"),
    ("pyenv-3.12.1", "/root/.pyenv/versions/3.12.1/bin/python3.12"),
]


@pytest.fixture(params=SAMPLED_INTERPRETERS, ids=[i for i, _ in SAMPLED_INTERPRETERS])
def sampled_python(request):
    return installed_interpreter(request.param)


class ChurnLeak:
    def __init__(self, spawn, python, tmp_path, seconds=90):
        import subprocess
        self.status = tmp_path / "status"
        self.stop = tmp_path / "stop"
        self.proc = spawn([python, str(SRC)], stdout=subprocess.PIPE,
                          env=py_env(CHURN_LEAK_STATUS=self.status, CHURN_LEAK_STOP_FILE=self.stop,
                                     CHURN_LEAK_SECONDS=seconds))
        self.reader = LineReader(self.proc.stdout, "churn_leak")
        line = self.reader.readline(30)
        assert line and line.startswith("ready pid="), "churn_leak did not start: %r" % line
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while self.kept()[0] == 0:
            assert time.monotonic() < deadline, "churn_leak wrote no status"
            time.sleep(0.05)

    def history(self):
        out = []
        try:
            for line in self.status.read_text().splitlines():
                t, *rest = line.split()
                out.append((float(t),) + tuple(int(v) for v in rest))
        except (OSError, ValueError):
            pass
        return out

    def status_at(self, at=None):
        """(time, tuples kept, bytes per tuple, SESSION objects alive,
        NATIVE-LEAK blocks kept, NATIVE-SESSION blocks alive) at monotonic
        time `at` (latest if None), from the program's own log."""
        h = self.history()
        if not h:
            return (0, 0, 0, 0, 0, 0)
        if at is None:
            return h[-1]
        before = [e for e in h if e[0] <= at]
        assert before, "no status before %.3f (log starts %.3f)" % (at, h[0][0])
        return before[-1]

    def kept(self, at=None):
        return self.status_at(at)[1:3]

    def finish(self):
        self.stop.write_text("")
        line = self.reader.readline(30)
        assert line and line.startswith("kept="), "churn_leak did not finish: %r" % line
        return self.proc.wait(15)


def leak_and_churn(proc):
    by_line = bytes_by_line(proc, SRC)
    return by_line.get(LEAK_LINE, [0, 0, []]), by_line.get(CHURN_LINE, [0, 0, []])


def test_sampled_estimates_the_leak(bpf_ready, sampled_python, spawn, tmp_path):
    tgt = ChurnLeak(spawn, sampled_python, tmp_path)
    # a budget of 2%: windows every ~2.5 s, enough of them in 20 s
    cp = run_leakbpf(bpf_ready, ["top", "--pid", tgt.pid, "-n", "4", "--interval", "5", "--json",
                                 "--max-overhead", "2"], timeout=90)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr[-2000:])
    docs = parse_json_lines(cp.stdout)
    assert len(docs) == 4
    last = docs[-1]["processes"][0]
    assert last["mode"] == "sampled" and last["estimated"] is True
    s = last["sampling"]
    assert s["windows"] >= 3 and s["live_samples"] > 0 and s["scale"] > 1, s
    assert s["window_failures"] == 0, s

    # ranked first, from the first report that had a window's samples on
    first = last["rows"][0]
    assert first["frames"][0]["line"] == LEAK_LINE, (
        "the leak line is not first: %s" % [(r["frames"][0]["line"], r["bytes"]) for r in last["rows"][:5]])
    leak, churn = leak_and_churn(last)

    # the truth over the span the estimate covers: from the first window's
    # opening to the last one's closing
    kept0, entry = tgt.kept(s["from_monotonic"])
    kept1, _ = tgt.kept(s["as_of_monotonic"])
    truth_count = 2 * (kept1 - kept0)
    truth_bytes = entry * (kept1 - kept0)
    assert 0.7 * truth_count <= leak[1] <= 1.3 * truth_count, (
        "estimated count %d, truth %d (2 objects x %d entries)" % (leak[1], truth_count, kept1 - kept0))
    assert 0.7 * truth_bytes <= leak[0] <= 1.3 * truth_bytes, (
        "estimated bytes %d, truth %d (%d B x %d entries)" % (leak[0], truth_bytes, entry, kept1 - kept0))
    # frees inside the windows are seen: the churn is not a leak
    assert churn[0] <= 0.02 * leak[0], "churn line reported outstanding: %d vs leak %d" % (
        churn[0], leak[0])

    # frees long after the windows are seen too: objects and native blocks
    # kept 2 s are estimated at what a window saw alive: 0 if no window fell
    # in their lifetime, about one window's share of all made over the span
    # if one did (made / windows), never the sum over all windows (what
    # not seeing frees would give: ~10x what is alive at once)
    by_line = bytes_by_line(last, SRC)
    at_start, at_end = tgt.status_at(s["from_monotonic"]), tgt.status_at(s["as_of_monotonic"])
    batches = (at_end[1] - at_start[1]) / (100 / 16)   # every_batch() per 6.25 entries
    sess_est, sess_made = by_line.get(SESSION_LINE, [0, 0])[1], 22 * batches
    # one window's share is ~1/windows of all made, but a window that
    # covered more work than most takes more: bounded well below the sum
    assert sess_est <= 0.6 * sess_made, (
        "SESSION objects: estimated %d live of %d made over the span (%d really live)" % (
            sess_est, sess_made, at_end[3]))
    nsess_est, nsess_made = by_line.get(NATIVE_SESSION_LINE, [0, 0])[0], 200 * batches
    # native bursts are overestimated ~2-3x (the work clock, README);
    # blocks never seen freed would come out at ~2-3x all made
    assert nsess_est <= 1.5 * nsess_made, (
        "NATIVE-SESSION: estimated %d bytes live of %d made over the span (%d really live)" % (
            nsess_est, nsess_made, 200 * at_end[5]))
    assert s["freed_after_window"] > 0 and s["tcache_key_known"], s
    # native blocks malloc'd through ctypes land on the calling Python line.
    # Measured 1.09-1.23x the truth in 8 runs (a block every batch; with one
    # every 4th batch it was 0.20-1.08x: too few in the windows)
    nleak_true = 100 * (at_end[4] - tgt.status_at(s["from_monotonic"])[4])
    nleak_est = by_line.get(NATIVE_LEAK_LINE, [0, 0])[0]
    assert 0.5 * nleak_true <= nleak_est <= 2 * nleak_true, (
        "NATIVE-LEAK: estimated %d bytes, truth %d" % (nleak_est, nleak_true))

    # unharmed: runs on, tables restored, no probe left, normal exit
    assert pid_alive(tgt.pid)
    assert_no_probes_left()
    assert tgt.finish() == 0


def test_sampled_text_marks_estimates(bpf_ready, spawn, tmp_path):
    tgt = ChurnLeak(spawn, "/usr/bin/python3.11", tmp_path)
    cp = run_leakbpf(bpf_ready, ["top", "--pid", tgt.pid, "-n", "1", "--interval", "6"], timeout=60)
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert "sampled: sizes and counts marked ~ are estimates" in cp.stdout, cp.stdout[:2000]
    assert "size=~" in cp.stdout and "count=~" in cp.stdout
    assert "leakbpf cost:" in cp.stdout
    assert tgt.finish() == 0


def run_budget(bpf_ready, spawn, tmp_path, budget, name):
    d = tmp_path / name
    d.mkdir()
    tgt = ChurnLeak(spawn, "/usr/bin/python3.11", d)
    cp = run_leakbpf(bpf_ready, ["top", "--pid", tgt.pid, "-n", "3", "--interval", "5", "--json",
                                 "--max-overhead", budget], timeout=90)
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert tgt.finish() == 0
    return [d["processes"][0] for d in parse_json_lines(cp.stdout)]


def test_governor_follows_the_budget(bpf_ready, spawn, tmp_path):
    tight = run_budget(bpf_ready, spawn, tmp_path, "0.2", "tight")
    loose = run_budget(bpf_ready, spawn, tmp_path, "5", "loose")
    t, l = tight[-1]["sampling"], loose[-1]["sampling"]
    duty_t = t["window_ms"] / 1e3 / t["period_s"]
    duty_l = l["window_ms"] / 1e3 / l["period_s"]
    assert duty_t * 5 < duty_l, "budget 0.2%% gave duty %.4f, 5%% gave %.4f" % (duty_t, duty_l)
    # what leakbpf measures of itself stays near the budget (after the
    # first period, whose guess the governor corrects)
    for proc, budget in ((tight[-1], 0.002), (loose[-1], 0.05)):
        frac = proc["sampling"]["expected_fraction"]
        assert frac is not None and frac <= 1.5 * budget, (
            "the schedule is expected to cost %.4f against a budget of %.4f" % (frac, budget))


def test_native_target_falls_back_to_full(bpf_ready, spawn):
    p = spawn(["sleep", "600"])
    time.sleep(0.3)
    cp = run_leakbpf(bpf_ready, ["top", "--pid", p.pid, "-n", "1", "--interval", "1", "--json"],
                     timeout=60)
    assert cp.returncode == 0, cp.stderr[-2000:]
    lines = [l for l in stderr_lines(cp.stderr) if "sampled mode" in l]
    assert len(lines) == 1 and "--mode full" in lines[0], cp.stderr
    doc = parse_json_lines(cp.stdout)[0]["processes"][0]
    assert doc["mode"] == "full" and doc["estimated"] is False


def test_no_dict_work_falls_back_to_wall_time(bpf_ready, spawn):
    import subprocess
    src = program("no_dict_leak.py")
    p = spawn(["/usr/bin/python3.11", str(src)], stdout=subprocess.PIPE, env=py_env())
    line = LineReader(p.stdout, "no_dict_leak").readline(30)
    assert line and line.startswith("ready"), line
    cp = run_leakbpf(bpf_ready, ["top", "--pid", p.pid, "-n", "1", "--interval", "8", "--json",
                                 "--max-overhead", "5"], timeout=60)
    assert cp.returncode == 0, cp.stderr[-2000:]
    proc = parse_json_lines(cp.stdout)[0]["processes"][0]
    s = proc["sampling"]
    assert s["clock"] == "wall" and s["windows"] >= 1, s
    # the sizes are too low (the windows slow the program), the ranking holds
    assert proc["rows"] and proc["rows"][0]["frames"][0]["line"] == marker_line(src, "# LEAK")
    assert proc["rows"][0]["bytes"] > 0
