# SPDX-License-Identifier: MIT
"""The DaemonSet's capabilities are enough, and each one is needed: the
agent runs as root with exactly the capabilities deploy/kubernetes/
leakbpf.yaml adds (setpriv's bounding set stands in for the container
runtime's), traces a Python process, stores snapshots and exits 0; without
SYS_PTRACE it refuses with one line naming it."""
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO, program, py_env, run_leakbpf, stderr_lines, wait_for
from test_agent import Agent, diff_json

MANIFEST = REPO / "deploy" / "kubernetes" / "leakbpf.yaml"


def manifest_caps():
    with open(MANIFEST) as f:
        ds = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "DaemonSet"][0]
    c = ds["spec"]["template"]["spec"]["containers"][0]
    return c["securityContext"]["capabilities"]["add"]


def setpriv(caps):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    bounding = "-all," + ",".join("+" + c.lower() for c in caps)
    return ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all", "--"]


def test_manifest_capabilities_suffice(bpf_ready, spawn, tmp_path):
    caps = manifest_caps()
    target = spawn(["/usr/bin/python3.11", program("churn_leak.py")],
                   env=py_env(CHURN_LEAK_SECONDS="30"), stdout=subprocess.DEVNULL)
    a = Agent(spawn, bpf_ready, tmp_path,
              ["--pid", target.pid, "--interval", "1", "--max-overhead", "5"], prefix=setpriv(caps))
    assert wait_for(lambda: (a.metric("leakbpf_snapshots_total") or 0) >= 5, 30), a.diag()
    assert a.stop() == 0, a.diag()
    doc = diff_json(bpf_ready, a.store, "10m", "--pid", str(target.pid))
    assert doc["processes"] and doc["processes"][0]["rows"], \
        "nothing traced with %s only" % caps + a.diag()
    assert target.poll() is None, "the target died"


def test_without_sys_ptrace_one_line(bpf_ready, spawn, tmp_path):
    caps = [c for c in manifest_caps() if c != "SYS_PTRACE"]
    target = spawn(["sleep", "30"])
    cp = run_leakbpf(bpf_ready, ["agent", "--pid", target.pid, "--store", tmp_path / "st",
                                 "--metrics-addr", "off", "-n", "1"],
                     prefix=setpriv(caps), timeout=60)
    assert cp.returncode == 1, cp.stderr
    lines = stderr_lines(cp.stderr)
    assert len(lines) == 1 and "CAP_SYS_PTRACE" in lines[0], cp.stderr
