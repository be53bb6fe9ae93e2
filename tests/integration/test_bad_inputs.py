# SPDX-License-Identifier: MIT
"""Test 5: bad inputs and unsupported targets.

Errors: non-zero exit (2 for usage errors, 127 for a command not found) and
exactly one non-empty line on stderr naming the problem; a target, where
there is one, is still alive afterwards.

Non-errors: a non-Python pid (native-only report, exit 0) and an unsupported
Python version (3.7: one stderr line saying "unsupported", native-only
tracing, exit 0), for `top` and for `record`.
"""
import os
import shutil
import subprocess
import time

import pytest

from conftest import (parse_json_lines, pid_alive, py_env, run_leakbpf, stderr_lines,
                      unused_pid, validate_report)

DROP = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def one_line(cp, what):
    lines = stderr_lines(cp.stderr)
    assert len(lines) == 1, "%s: expected exactly one stderr line, got %d:\n%s\n(stdout: %r)" % (
        what, len(lines), cp.stderr[-2000:], cp.stdout[-500:])
    return lines[0]


# ---- usage errors (no BPF needed) ----------------------------------------

@pytest.mark.parametrize("args,needles", [
    (["top", "--pid", "abc"], ("abc", "pid")),
    (["top"], ("pid",)),
    (["frobnicate"], ("frobnicate", "command")),
    (["record"], ()),
    (["record", "--"], ()),
    (["top", "--pid", "1", "--mode", "fast"], ("fast", "sampled")),
    (["top", "--pid", "1", "--max-overhead", "0"], ("max-overhead",)),
    (["top", "--pid", "1", "--max-overhead", "abc"], ("max-overhead",)),
    (["top", "--pid", "1", "--seed", "-1"], ("seed",)),
    (["agent", "--interval", "0"], ("interval",)),
    (["agent", "--retention", "abc"], ("retention",)),
    (["agent", "--pid", "abc"], ("pid",)),
    (["agent", "--max-processes", "0"], ("max-processes",)),
    (["diff"], ("window",)),
    (["diff", "--window", "30x"], ("window",)),
    (["diff", "--window", "30m", "--format", "svg"], ("format", "svg")),
    (["diff", "--window", "30m", "--pid", "1", "--all"], ("--all",)),
], ids=["top-pid-abc", "top-without-pid", "unknown-subcommand", "record-without-cmd",
        "record-empty-cmd", "mode-unknown", "max-overhead-zero", "max-overhead-text",
        "seed-negative", "agent-interval-zero", "agent-retention-text", "agent-pid-abc",
        "agent-max-processes-zero", "diff-without-window", "diff-window-unit",
        "diff-format-unknown", "diff-pid-and-all"])
def test_usage_errors(leakbpf, args, needles):
    cp = run_leakbpf(leakbpf, args, timeout=20)
    assert cp.returncode == 2, "%s: exit %s, expected 2 (usage)\nstderr: %s" % (
        args, cp.returncode, cp.stderr)
    line = one_line(cp, " ".join(args))
    if needles:
        assert any(n in line.lower() for n in needles), \
            "%s: stderr line names none of %r: %r" % (args, needles, line)


# ---- errors needing a working tracer ----------------------------------------

def test_top_no_such_pid(bpf_ready):
    pid = unused_pid()
    cp = run_leakbpf(bpf_ready, ["top", "--pid", pid, "-n", "1", "--interval", "0.5"], timeout=30)
    assert cp.returncode != 0, "top --pid %d (no such process) exited 0" % pid
    line = one_line(cp, "top --pid %d" % pid)
    assert str(pid) in line or "process" in line.lower(), \
        "stderr line does not name the missing process: %r" % line


def test_diff_without_store(leakbpf, tmp_path):
    missing = tmp_path / "nothing-here"
    cp = run_leakbpf(leakbpf, ["diff", "--window", "30m", "--store", missing], timeout=30)
    assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "diff --store missing")
    assert str(missing) in line and "--store" in line, line
    assert not missing.exists(), "diff created a store where there was none"


def test_agent_store_not_a_directory(bpf_ready, tmp_path):
    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    cp = run_leakbpf(bpf_ready, ["agent", "--pid", os.getpid(), "--store", not_dir,
                                 "--metrics-addr", "off", "-n", "1"], timeout=30)
    assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "agent --store FILE")
    assert str(not_dir) in line and "--store" in line, line


def test_agent_metrics_port_busy(bpf_ready, tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        cp = run_leakbpf(bpf_ready, ["agent", "--pid", os.getpid(), "--store", tmp_path / "st",
                                     "--metrics-addr", addr, "-n", "1"], timeout=30)
    assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "agent --metrics-addr busy")
    assert addr in line and "metrics-addr" in line, line


def test_agent_no_such_pid(bpf_ready, tmp_path):
    pid = unused_pid()
    cp = run_leakbpf(bpf_ready, ["agent", "--pid", pid, "--store", tmp_path / "st", "-n", "1"],
                     timeout=30)
    assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "agent --pid missing")
    assert str(pid) in line, line


def test_record_command_not_found(bpf_ready):
    cmd = "/nonexistent/cmd"
    cp = run_leakbpf(bpf_ready, ["record", "--", cmd, "arg"], timeout=30)
    assert cp.returncode == 127, "exit %s, expected 127\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "record -- %s" % cmd)
    assert cmd in line, "stderr line does not name the command: %r" % line


# ---- privileges ----------------------------------------------------------------

@pytest.fixture
def nobody_leakbpf(leakbpf):
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges with setpriv")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv not installed")
    from conftest import binary_for_nobody
    path, tmpdir = binary_for_nobody(leakbpf)
    yield path
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)


def mentions_privilege(line):
    low = line.lower()
    return "root" in low or "cap_bpf" in low


def test_non_root_top(nobody_leakbpf, spawn):
    target = spawn(["sleep", "60"])
    time.sleep(0.2)
    cp = run_leakbpf(nobody_leakbpf, ["top", "--pid", target.pid, "-n", "1", "--interval", "0.5"],
                     timeout=30, prefix=DROP)
    assert cp.returncode != 0, "non-root top exited 0"
    line = one_line(cp, "non-root top")
    assert mentions_privilege(line), "stderr line mentions neither root nor CAP_BPF: %r" % line
    assert pid_alive(target.pid), "target died"


def test_non_root_record(nobody_leakbpf):
    cp = run_leakbpf(nobody_leakbpf, ["record", "--", "/bin/true"], timeout=30, prefix=DROP)
    assert cp.returncode != 0, "non-root record exited 0"
    line = one_line(cp, "non-root record")
    assert mentions_privilege(line), "stderr line mentions neither root nor CAP_BPF: %r" % line


# ---- non-Python and unsupported-Python targets -------------------------------------

def top_once(leakbpf, pid):
    cp = run_leakbpf(leakbpf, ["top", "--pid", pid, "-n", "1", "--interval", "1", "--json"],
                     timeout=60)
    docs = parse_json_lines(cp.stdout)
    return cp, docs


def test_top_non_python_pid(bpf_ready, spawn):
    target = spawn(["sleep", "60"])
    time.sleep(0.2)
    cp, docs = top_once(bpf_ready, target.pid)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    assert len(docs) == 1, "-n 1 --json: expected one JSON line, got %d" % len(docs)
    procs = validate_report(docs[0])
    assert any(p["pid"] == target.pid for p in procs), "target pid not in report"
    for p in procs:
        for row in p["rows"]:
            for fr in row["frames"]:
                assert fr["line"] == 0, "non-Python target with a Python-looking frame %r" % fr
    assert pid_alive(target.pid), "target died"


def assert_unsupported_line(stderr, version):
    lines = [l for l in stderr_lines(stderr) if "unsupported" in l.lower()]
    assert lines, "no stderr line saying the Python version is unsupported:\n%s" % stderr[-2000:]
    assert any(version in l for l in lines), "unsupported line does not name %s: %r" % (
        version, lines)


def py_version(python):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    assert out, "cannot run %s" % python
    return out


def test_top_unsupported_python(bpf_ready, python37, spawn):
    ver = py_version(python37)
    target = spawn([python37, "-c",
                    "import sys, time\nsys.stdout.write('ready\\n'); sys.stdout.flush()\n"
                    "keep = []\nwhile True:\n    keep.append(bytes(1000)); time.sleep(0.1)\n"],
                   stdout=subprocess.PIPE, env=py_env())
    assert target.stdout.readline().strip() == b"ready"
    cp, docs = top_once(bpf_ready, target.pid)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    assert_unsupported_line(cp.stderr, ver)
    assert len(docs) == 1, "-n 1 --json: expected one JSON line, got %d" % len(docs)
    procs = validate_report(docs[0])
    assert any(p["pid"] == target.pid for p in procs), "target pid not in report"
    assert pid_alive(target.pid), "target died"


def test_record_unsupported_python(record, python37):
    ver = py_version(python37)
    res = record([python37, "-c", "import sys; print('hello from', sys.version_info[:2])"],
                 env=py_env())
    assert res.returncode == 0, res.describe()
    assert res.stdout.startswith("hello from (3, 7)"), "program stdout not passed through: %r" % (
        res.stdout,)
    assert_unsupported_line(res.stderr, ver)
    assert res.report is not None, "no report\n" + res.describe()
    procs = validate_report(res.report, check_deltas_equal=True)
    assert procs and any(p["rows"] for p in procs), "native-only tracing reported nothing"


# ---- a kernel without what leakbpf needs, a PID it cannot see ---------------
# A private mount namespace hides a kernel feature's sysfs entry from leakbpf
# alone, which is what a kernel without the feature looks like to it.

def hidden_mount_prefix(path):
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs none "$0" && exec "$@"', path]


@pytest.mark.parametrize("hidden,needle", [
    ("/sys/kernel/btf", "btf"),
    ("/sys/bus/event_source/devices", "uprobe"),
], ids=["no-btf", "no-uprobes"])
def test_kernel_feature_missing(bpf_ready, spawn, hidden, needle):
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    target = spawn(["sleep", "60"])
    cp = run_leakbpf(bpf_ready, ["top", "--pid", target.pid, "-n", "1", "--interval", "0.5"],
                     timeout=30, prefix=hidden_mount_prefix(hidden))
    assert cp.returncode == 1, "exit %s with %s hidden\nstderr: %s" % (cp.returncode, hidden,
                                                                      cp.stderr)
    line = one_line(cp, "top with %s hidden" % hidden)
    assert needle in line.lower(), "stderr line does not name %s: %r" % (needle, line)
    assert pid_alive(target.pid), "target died"


def test_top_pid_not_visible(bpf_ready, spawn):
    """From a new PID namespace (a container without hostPID) the host's PIDs
    do not exist: one line saying so and what to do."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    target = spawn(["sleep", "60"])
    cp = run_leakbpf(bpf_ready, ["top", "--pid", target.pid, "-n", "1", "--interval", "0.5"],
                     timeout=30, prefix=["unshare", "--pid", "--fork", "--mount-proc"])
    assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "top from another PID namespace")
    assert str(target.pid) in line and "hostpid" in line.lower(), line
    assert pid_alive(target.pid), "target died"


def test_top_kernel_thread(bpf_ready):
    """PID 2 is kthreadd on Linux: a kernel thread has nothing to trace."""
    with open("/proc/2/status") as f:
        if "kthreadd" not in f.readline():
            pytest.skip("PID 2 is not kthreadd here")
    cp = run_leakbpf(bpf_ready, ["top", "--pid", "2", "-n", "1", "--interval", "0.5"], timeout=30)
    assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
    line = one_line(cp, "top --pid 2")
    assert "kernel thread" in line, line


def test_top_zombie(bpf_ready):
    """A process that exited and waits for its parent has no mappings
    either: it is said to have exited, not to be a kernel thread."""
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open("/proc/%d/stat" % child.pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        cp = run_leakbpf(bpf_ready, ["top", "--pid", str(child.pid), "-n", "1",
                                     "--interval", "0.5"], timeout=30)
        assert cp.returncode == 1, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr)
        line = one_line(cp, "top --pid ZOMBIE")
        assert "has exited" in line and "kernel thread" not in line, line
    finally:
        child.wait()


def test_version_and_help(leakbpf):
    cp = run_leakbpf(leakbpf, ["--version"], timeout=20)
    assert cp.returncode == 0 and cp.stdout.startswith("leakbpf ") and not cp.stderr, cp
    for args in (["help", "top"], ["top", "--help"]):
        cp = run_leakbpf(leakbpf, args, timeout=20)
        assert cp.returncode == 0 and cp.stdout.startswith("usage: leakbpf top"), (args, cp)
