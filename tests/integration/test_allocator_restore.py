# SPDX-License-Identifier: MIT
"""Test 4: the allocator-table redirect is undone on every way leakbpf ends.

Target: tests/programs/alloc_tables.py, which prints its RAW/MEM/OBJ
PyMemAllocatorEx tables (via ctypes PyMem_GetAllocator) for each command
line on stdin, after allocating and freeing a few thousand objects.

For `leakbpf top --pid P --interval 0.5` ended by SIGTERM, SIGINT, SIGKILL,
or by itself (-n 10):
  - wait (<= 15 s) until the target sees the redirect: OBJ or MEM malloc
    slot == RAW malloc slot;
  - while traced, every reading may differ from the original tables only in
    the MEM/OBJ malloc/calloc slots, and only by holding RAW's malloc/calloc
    (RAW untouched, ctx/realloc/free untouched);
  - the target keeps ~2,000 objects allocated while redirected;
  - SIGTERM/SIGINT/-n: leakbpf exits 0, and right after that the tables are
    exactly the originals; SIGKILL: the guardian restores them within 10 s;
  - then the target frees the kept objects (blocks malloc'ed while
    redirected, freed through pymalloc), still answers, and exits 0.
For `leakbpf record`: the redirect is seen while the program runs, the
program (stdin/stdout passed through) exits 0 normally, leakbpf exits 0 and
writes a report naming the program's pid.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import (assert_no_probes_left, LineReader, find_process, pid_alive, program, py_env,
                      validate_report)

REDIRECT_WAIT = 15       # s, attach + redirect
GUARDIAN_WAIT = 10       # s, restore after SIGKILL
QUERY_TIMEOUT = 30       # s, one command round trip (traced: slower)
SLOTS = ("ctx", "malloc", "calloc", "realloc", "free")


class TableTarget:
    def __init__(self, proc, name):
        self.proc = proc
        self.reader = LineReader(proc.stdout, name)
        self.ready = None

    def wait_ready(self, timeout):
        self.ready = self.reader.read_json(timeout)
        assert self.ready.get("ready"), "unexpected first message %r" % self.ready
        return self.ready

    @property
    def pid(self):
        return self.ready["pid"]

    def send(self, cmd):
        try:
            self.proc.stdin.write((cmd + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pytest.fail("target's stdin closed (target died?) sending %r" % cmd)

    def query(self, cmd="tables"):
        self.send(cmd)
        msg = self.reader.read_json(QUERY_TIMEOUT)
        assert msg.get("ok"), "unexpected answer to %r: %r" % (cmd, msg)
        return msg

    def tables(self, cmd="tables"):
        return self.query(cmd)["tables"]

    def finish(self):
        self.send("exit")
        msg = self.reader.read_json(QUERY_TIMEOUT)
        assert msg.get("bye"), "unexpected answer to exit: %r" % msg
        self.proc.stdin.close()


def redirected(t):
    raw_malloc = t["raw"][1]
    return t["obj"][1] == raw_malloc or t["mem"][1] == raw_malloc


def fmt_tables(t):
    return "; ".join("%s: %s" % (d, " ".join("%s=%#x" % (s, v) for s, v in zip(SLOTS, t[d])))
                     for d in ("raw", "mem", "obj"))


def check_traced(orig, t):
    """While traced, only MEM/OBJ malloc/calloc may change, to RAW's."""
    assert t["raw"] == orig["raw"], "RAW table changed:\n%s\noriginal:\n%s" % (
        fmt_tables(t), fmt_tables(orig))
    for d in ("mem", "obj"):
        for i in (0, 3, 4):
            assert t[d][i] == orig[d][i], "%s.%s changed while traced: %#x -> %#x" % (
                d, SLOTS[i], orig[d][i], t[d][i])
        for i in (1, 2):
            assert t[d][i] in (orig[d][i], orig["raw"][i]), (
                "%s.%s holds %#x: neither the original %#x nor RAW's %#x"
                % (d, SLOTS[i], t[d][i], orig[d][i], orig["raw"][i]))


def start_target(spawn, python, tmp_path, argv_prefix=(), name="target"):
    err = open(tmp_path / ("%s.stderr" % name), "wb")
    proc = spawn(list(argv_prefix) + [python, program("alloc_tables.py")],
                 graceful=bool(argv_prefix), stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=err, env=py_env())
    err.close()
    return TableTarget(proc, name)


def read_file(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-3000:]
    except OSError:
        return ""


ENDINGS = ["sigterm", "sigint", "sigkill", "iterations"]


def wait_for_windows(err_path, n, lk, diag):
    """Sampled mode: waits until the n-th window has opened (-v -v says so),
    so that what follows happens while the redirect is armed."""
    deadline = time.monotonic() + REDIRECT_WAIT + 10
    while read_file_all(err_path).count("window open") < n:
        assert lk.poll() is None, "leakbpf exited before window %d" % n + diag()
        assert time.monotonic() < deadline, "window %d never opened" % n + diag()
        time.sleep(0.01)


def read_file_all(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


@pytest.mark.parametrize("mode", ["full", "sampled"])
@pytest.mark.parametrize("ending", ENDINGS)
def test_top_restores_allocator_tables(bpf_ready, python, spawn, tmp_path, ending, mode):
    tgt = start_target(spawn, python, tmp_path)
    orig = tgt.wait_ready(30)["tables"]
    assert tgt.tables() == orig, "tables not stable before tracing"
    assert not redirected(orig), "target already looks redirected: %s" % fmt_tables(orig)
    pid = tgt.pid

    args = ["top", "--mode", mode, "--pid", pid, "--interval", "0.5"]
    if mode == "sampled":
        # windows as long and often as the governor allows: the ending
        # lands in or right after one
        args += ["--max-overhead", "50", "-v", "-v"]
    if ending == "iterations":
        args += ["-n", "10"]
    out_path, err_path = tmp_path / "top.stdout", tmp_path / "top.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        lk = spawn([bpf_ready] + args, graceful=True, stdout=out, stderr=err)

    def diag():
        return "\nleakbpf exit=%s\nstderr:\n%s\nstdout (tail):\n%s" % (
            lk.poll(), read_file(err_path), read_file(out_path)[-1000:])

    # 1. The redirect comes on (sampled: the third window is open).
    if mode == "sampled":
        wait_for_windows(err_path, 3, lk, diag)
    deadline = time.monotonic() + REDIRECT_WAIT
    while mode == "full":
        t = tgt.tables()
        check_traced(orig, t)
        if redirected(t):
            break
        assert lk.poll() is None, "leakbpf exited before the redirect was seen" + diag()
        assert time.monotonic() < deadline, (
            "redirect not seen within %d s: %s" % (REDIRECT_WAIT, fmt_tables(t)) + diag())
        time.sleep(0.2)

    # 2. Objects allocated while redirected, kept past the restore.
    check_traced(orig, tgt.tables("keep"))

    # 3. End leakbpf.
    if ending in ("sigterm", "sigint"):
        assert lk.poll() is None, "leakbpf exited on its own" + diag()
        lk.send_signal(signal.SIGTERM if ending == "sigterm" else signal.SIGINT)
        try:
            rc = lk.wait(20)
        except subprocess.TimeoutExpired:
            pytest.fail("leakbpf did not exit within 20 s of %s" % ending.upper() + diag())
        assert rc == 0, "leakbpf exit status %s after %s" % (rc, ending.upper()) + diag()
        t = tgt.tables()
        assert t == orig, "tables not restored after %s:\n%s\noriginal:\n%s" % (
            ending.upper(), fmt_tables(t), fmt_tables(orig)) + diag()
    elif ending == "sigkill":
        assert lk.poll() is None, "leakbpf exited on its own" + diag()
        if mode == "sampled":
            wait_for_windows(err_path, 4, lk, diag)   # killed inside a window
        lk.kill()
        lk.wait(10)
        deadline = time.monotonic() + GUARDIAN_WAIT
        while True:
            t = tgt.tables()
            if t == orig:
                break
            check_traced(orig, t)
            assert time.monotonic() < deadline, (
                "tables not restored %d s after SIGKILL:\n%s\noriginal:\n%s"
                % (GUARDIAN_WAIT, fmt_tables(t), fmt_tables(orig)) + diag())
            time.sleep(0.25)
    else:  # -n 10: ends by itself
        try:
            rc = lk.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("top -n 10 --interval 0.5 did not end within 60 s" + diag())
        assert rc == 0, "leakbpf exit status %s" % rc + diag()
        t = tgt.tables()
        assert t == orig, "tables not restored after -n 10:\n%s\noriginal:\n%s" % (
            fmt_tables(t), fmt_tables(orig)) + diag()
        reports = [l for l in read_file(out_path).splitlines() if l.strip()]
        assert reports, "top -n 10 printed nothing" + diag()

    # 4. No probe is left behind.
    assert_no_probes_left()

    # 5. The target is unharmed: frees the blocks allocated while redirected,
    # keeps working, and exits normally.
    msg = tgt.query("drop")
    assert msg["kept"] == 0 and msg["tables"] == orig
    assert tgt.tables() == orig
    assert pid_alive(pid)
    tgt.finish()
    assert tgt.proc.wait(15) == 0, "target exit status %s" % tgt.proc.returncode


def guardians_of(pid):
    """The leakbpf-guard processes leakbpf pid started."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if comm == "leakbpf-guard" and ppid == pid:
            found.append(int(d))
    return found


@pytest.mark.parametrize("command", ["top", "agent"])
def test_killed_with_its_guardian_the_next_run_restores(bpf_ready, spawn, tmp_path, command):
    """kill -9 of leakbpf and its guardian together (a container stopped,
    the pod's cgroup OOM-killed) left a target's tables redirected, and a
    later top or doctor took them for PYTHONMALLOC=malloc (issue 15). The
    redirect is recorded on disk before the first write: doctor names what
    it sees, and the next run of the same command restores it."""
    tgt = start_target(spawn, "/usr/bin/python3", tmp_path)
    orig = tgt.wait_ready(30)["tables"]
    pid = tgt.pid
    store = tmp_path / "store"
    if command == "top":
        args = ["top", "--mode", "full", "--pid", pid, "--interval", "0.5"]
    else:
        args = ["agent", "--mode", "full", "--pid", pid, "--interval", "1", "--store", store,
                "--metrics-addr", "off"]
    with open(tmp_path / "first.stderr", "wb") as err:
        lk = spawn([bpf_ready] + args, graceful=True, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + REDIRECT_WAIT
    while not redirected(tgt.tables()):
        assert lk.poll() is None and time.monotonic() < deadline, \
            "no redirect: " + read_file(tmp_path / "first.stderr")
        time.sleep(0.2)
    check_traced(orig, tgt.tables("keep"))
    guards = guardians_of(lk.pid)
    assert len(guards) == 1, "guardians of %d: %s" % (lk.pid, guards)
    os.kill(guards[0], signal.SIGKILL)
    lk.kill()
    lk.wait(10)
    time.sleep(1)
    left = tgt.tables()
    assert redirected(left), "something restored the tables: the test proves nothing"

    cp = subprocess.run([str(bpf_ready), "doctor", "--pid", str(pid)], capture_output=True,
                        text=True, timeout=60)
    assert "left by a leakbpf killed with its guardian" in cp.stdout + cp.stderr, \
        cp.stdout + cp.stderr
    assert "PYTHONMALLOC=malloc" not in cp.stdout, cp.stdout

    if command == "top":
        again = [str(bpf_ready), "top", "--mode", "full", "--pid", str(pid), "-n", "1",
                 "--interval", "0.5"]
    else:
        again = [str(bpf_ready), "agent", "--mode", "full", "--pid", str(pid), "-n", "1",
                 "--interval", "0.5", "--store", str(store), "--metrics-addr", "off"]
    cp = subprocess.run(again, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert "left redirected by a leakbpf that was killed: restored" in cp.stderr, cp.stderr
    t = tgt.tables()
    assert t == orig, "tables not restored by the next %s:\n%s\noriginal:\n%s" % (
        command, fmt_tables(t), fmt_tables(orig))
    msg = tgt.query("drop")
    assert msg["kept"] == 0 and msg["tables"] == orig
    tgt.finish()
    assert tgt.proc.wait(15) == 0, "target exit status %s" % tgt.proc.returncode


@pytest.mark.parametrize("ending", ["sigterm", "sigkill"])
def test_children_forked_while_redirected_are_restored(bpf_ready, python, spawn, tmp_path, ending):
    """A pre-fork server forks a worker while the redirect is on: the worker
    inherits the redirected tables, and gets its originals back when leakbpf
    exits (SIGTERM: leakbpf restores it; SIGKILL: the guardian does)."""
    tgt = start_target(spawn, python, tmp_path)
    orig = tgt.wait_ready(30)["tables"]
    child_file = tmp_path / "child.json"
    err_path = tmp_path / "top.stderr"
    with open(err_path, "wb") as err:
        lk = spawn([bpf_ready, "top", "--mode", "full", "--pid", tgt.pid, "--interval", "0.5"],
                   graceful=True, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + REDIRECT_WAIT
    while not redirected(tgt.tables()):
        assert lk.poll() is None and time.monotonic() < deadline, (
            "redirect not seen\n" + read_file(err_path))
        time.sleep(0.2)
    tgt.query("fork %s" % child_file)

    def child_tables():
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                return json.loads(child_file.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
        pytest.fail("the forked child never reported its tables")

    try:
        check_child_restored(lk, ending, orig, child_tables, err_path)
    finally:
        (tmp_path / "child.json.stop").write_text("")
    assert tgt.tables() == orig
    tgt.finish()
    assert tgt.proc.wait(15) == 0


def check_child_restored(lk, ending, orig, child_tables, err_path):
    assert redirected(child_tables()), "the child did not inherit the redirect"
    if ending == "sigterm":
        lk.send_signal(signal.SIGTERM)
        assert lk.wait(20) == 0, read_file(err_path)
    else:
        lk.kill()
        lk.wait(10)
    end = time.monotonic() + GUARDIAN_WAIT
    while child_tables() != orig:
        assert time.monotonic() < end, "the child's tables were not restored after %s:\n%s" % (
            ending, fmt_tables(child_tables()))
        time.sleep(0.2)


def test_record_redirect_then_normal_exit(bpf_ready, python, spawn, tmp_path):
    report = tmp_path / "report.json"
    tgt = start_target(spawn, python, tmp_path,
                       argv_prefix=[bpf_ready, "record", "--json", "-o", report, "--"],
                       name="record")
    first = tgt.wait_ready(120)["tables"]   # traced interpreter startup
    pid = tgt.pid

    def check(t):
        assert t["raw"] == first["raw"], "RAW table changed: %s / %s" % (
            fmt_tables(first), fmt_tables(t))
        for d in ("mem", "obj"):
            for i in (0, 3, 4):
                assert t[d][i] == first[d][i], "%s.%s changed" % (d, SLOTS[i])

    t = first
    deadline = time.monotonic() + REDIRECT_WAIT
    while not redirected(t):
        assert time.monotonic() < deadline, (
            "redirect not seen within %d s under record: %s" % (REDIRECT_WAIT, fmt_tables(t)))
        time.sleep(0.2)
        t = tgt.tables()
        check(t)
    check(tgt.tables("keep"))
    msg = tgt.query("drop")
    assert msg["kept"] == 0
    check(msg["tables"])
    tgt.finish()
    try:
        rc = tgt.proc.wait(120)
    except subprocess.TimeoutExpired:
        pytest.fail("leakbpf record did not end within 120 s after the program exited")
    assert rc == 0, "leakbpf record exit status %s\nstderr:\n%s" % (
        rc, read_file(tmp_path / "record.stderr"))
    assert not pid_alive(pid)
    assert_no_probes_left()
    doc = json.loads(report.read_text())
    validate_report(doc, check_deltas_equal=True)
    find_process(doc, pid)
