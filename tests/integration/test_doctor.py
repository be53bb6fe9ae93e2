# SPDX-License-Identifier: MIT
"""leakbpf doctor: the kernel checks on this machine, privileges, and the
findings on processes: a gunicorn --preload master and its workers (whose
missing SIGUSR2 handler the doctor warns of: the test shows the warning is
true by sending one), PYTHONMALLOC=debug, a process that is not Python."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import program, py_env, run_leakbpf, stderr_lines, wait_for
from test_agent import Gunicorn
from test_deploy import setpriv


def doctor(leakbpf, *args, prefix=()):
    cp = run_leakbpf(leakbpf, ["doctor", "--json"] + [str(a) for a in args], prefix=prefix,
                     timeout=60)
    doc = json.loads(cp.stdout)
    for f in doc["findings"]:
        assert f["level"] in ("ok", "warning", "problem") and f["message"], f
    return cp.returncode, doc["findings"]


def by(findings, subject=None, check=None):
    return [f for f in findings if (subject is None or f["subject"] == subject)
            and (check is None or f["check"] == check)]


def test_kernel_checks(bpf_ready):
    rc, findings = doctor(bpf_ready)
    assert rc == 0, [f for f in findings if f["level"] == "problem"]
    for check in ("version", "btf", "uprobes", "lockdown", "ringbuf", "uprobe_multi",
                  "programs", "bpf_stats", "uprobe_cost"):
        got = by(findings, "kernel", check)
        assert got and got[0]["level"] == "ok", "%s: %s" % (check, got)
    for cap in ("CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE"):
        assert by(findings, "privileges", cap)[0]["level"] == "ok"
    # this machine: lockdown refuses bpf_probe_write_user (platform notes)
    assert "refused" in by(findings, "kernel", "lockdown")[0]["message"]
    cost = by(findings, "kernel", "uprobe_cost")[0]["message"]
    assert "us here (measured)" in cost, cost


def test_missing_capability_is_a_problem(bpf_ready):
    rc, findings = doctor(bpf_ready, prefix=setpriv(["BPF", "PERFMON"]))
    assert rc == 1
    bad = by(findings, "privileges", "CAP_SYS_PTRACE")
    assert bad and bad[0]["level"] == "problem" and bad[0]["fix"], bad


def test_gunicorn_preload_workers_signals(bpf_ready, spawn, tmp_path):
    g = Gunicorn(spawn, tmp_path, workers=2)
    workers = g.workers()
    rc, findings = doctor(bpf_ready, "--pid", g.pid)
    assert rc == 0, findings
    role = by(findings, "pid %d" % g.pid, "role")
    assert role and "gunicorn master" in role[0]["message"] and "--preload" in role[0]["message"], role
    for w in workers:
        warn = by(findings, "pid %d" % w, "signals")
        assert warn and warn[0]["level"] == "warning" and "SIGUSR2" in warn[0]["message"] \
            and "--preload" in warn[0]["message"], (w, warn)
    # the warning is true: SIGUSR2 kills a worker (gunicorn boots another)
    os.kill(workers[0], signal.SIGUSR2)
    assert wait_for(lambda: workers[0] not in g.workers(), 10), "the worker survived SIGUSR2"
    rc, findings = doctor(bpf_ready, "--pid", workers[1])
    assert "worker of group %d" % g.pid in by(findings, "pid %d" % workers[1], "role")[0]["message"]


def test_debug_allocator_and_not_python(bpf_ready, spawn):
    target = spawn(["/usr/bin/python3.11", program("slow_leak.py")], stdout=subprocess.PIPE,
                   env=py_env(PYTHONMALLOC="debug", SLOW_LEAK_MAX_SECONDS="30"))
    target.stdout.readline()
    rc, findings = doctor(bpf_ready, "--pid", target.pid)
    who = "pid %d" % target.pid
    assert rc == 0
    cov = by(findings, who, "coverage")[0]
    assert cov["level"] == "warning" and "PYTHONMALLOC=debug" in cov["message"], cov
    assert by(findings, who, "pythonmalloc")[0]["level"] == "warning"
    assert "CPython 3.11" in by(findings, who, "python")[0]["message"]

    sleeper = spawn(["sleep", "30"])
    rc, findings = doctor(bpf_ready, "--pid", sleeper.pid)
    assert rc == 1
    bad = by(findings, "pid %d" % sleeper.pid, "python")
    assert bad and bad[0]["level"] == "problem", bad
    cp = run_leakbpf(bpf_ready, ["doctor", "--pid", sleeper.pid])
    lines = [l for l in cp.stdout.splitlines() if l.startswith("problem")]
    assert len(lines) == 1 and "not a CPython process" in lines[0] and "->" in lines[0], cp.stdout
