# SPDX-License-Identifier: MIT
"""A Python process that looks, from the node, like a container in a
Kubernetes pod: its own PID, mount and UTS namespaces (it is PID 1 in
there), the interpreter reachable only through its own root, a cgroup with
kubepods' cgroupfs layout (pod UID, container ID), a hostname (the pod
name) and a service account namespace file. No container runtime is
available here; these are the pieces a runtime puts together.

The agent (`--pid` of the namespace's parent) attaches through
/proc/PID/root, attributes the leak to its line, and carries PID-inside,
container ID, pod UID, pod name and namespace into diff (text and JSON),
the metrics labels and `top --json`.
"""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import (LineReader, innermost_py, marker_line, program, py_env, run_leakbpf,
                      same_file, wait_for)
from test_agent import Agent, diff_json, read

PYENV = "/root/.pyenv/versions/3.12.1"
INSIDE = "/mnt/lb-ns-py"
CGROUP_ROOT = "/sys/fs/cgroup/pids"
POD = "web-5d4f8c7b9-x2k4q"
NAMESPACE = "shop"

# Inside the new namespaces: the interpreter bound to INSIDE with its home
# hidden, the pod's hostname file and service account namespace file.
SETUP = ('mount -t tmpfs none /mnt && mkdir -p "{inside}" && mount --bind "{pyenv}" "{inside}" && '
         'mount -t tmpfs none /root/.pyenv && '
         'mkdir -p /mnt/etc && echo {pod} > /mnt/etc/hostname && '
         'mount --bind /mnt/etc/hostname /etc/hostname && hostname {pod} && '
         'mount -t tmpfs none /run && {service_account}'
         'LD_LIBRARY_PATH="{inside}/lib" PYTHONHOME="{inside}" exec "{inside}/bin/python3.12" "$@"')
SERVICE_ACCOUNT = ('mkdir -p /run/secrets/kubernetes.io/serviceaccount && '
                   'echo %s > /run/secrets/kubernetes.io/serviceaccount/namespace && ' % NAMESPACE)


@pytest.fixture
def pod_cgroup():
    """A cgroup at the path a kubelet (cgroupfs driver) gives a container."""
    if not os.path.isdir(CGROUP_ROOT):
        pytest.skip("no cgroup v1 pids hierarchy at %s" % CGROUP_ROOT)
    pod_uid = str(uuid.uuid4())
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    path = os.path.join(CGROUP_ROOT, "kubepods", "burstable", "pod" + pod_uid, cid)
    try:
        os.makedirs(path)
    except OSError as e:
        pytest.skip("cannot create a cgroup here: %s" % e)
    yield path, pod_uid, cid
    # the processes are gone by now (spawn's teardown ran first)
    for p in (path, os.path.dirname(path)):
        for _ in range(50):
            try:
                os.rmdir(p)
                break
            except OSError:
                time.sleep(0.1)


@pytest.mark.parametrize("namespace_from", ["service-account", "pods-dir"])
def test_pod_like_target(bpf_ready, spawn, tmp_path, pod_cgroup, namespace_from):
    """namespace_from: the pod's service account file, or (automounting
    off) the kubelet's pod log directory, NAMESPACE_NAME_UID."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    if not os.access(PYENV + "/bin/python3.12", os.X_OK):
        pytest.skip("%s not installed" % PYENV)
    cg_path, pod_uid, cid = pod_cgroup
    src = program("slow_leak.py")
    leak_line = marker_line(src, "# LEAK")
    setup = SETUP.format(inside=INSIDE, pyenv=PYENV, pod=POD,
                         service_account=SERVICE_ACCOUNT if namespace_from == "service-account" else "")
    pods_dir = tmp_path / "pods"
    (pods_dir / ("%s_%s_%s" % (NAMESPACE, POD, pod_uid))).mkdir(parents=True)
    (pods_dir / ("other_pod_%s" % ("0" * 36))).mkdir()
    outer = spawn(["unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts",
                   "--propagation", "private",
                   "sh", "-c", setup, "python", src], stdout=subprocess.PIPE,
                  env=py_env(SLOW_LEAK_MAX_SECONDS="60"))
    line = LineReader(outer.stdout, "slow_leak").readline(30)
    assert line == "ready pid=1", "the target is not PID 1 of its namespace: %r" % line
    with open("/proc/%d/task/%d/children" % (outer.pid, outer.pid)) as f:
        pid = int(f.read().split()[0])
    with open(os.path.join(cg_path, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    with open("/proc/%d/maps" % pid) as f:
        assert INSIDE + "/lib/libpython3.12" in f.read(), "libpython not mapped from inside"

    a = Agent(spawn, bpf_ready, tmp_path, ["--pid", outer.pid, "--interval", "1", "--mode", "full",
                                           "--pods-dir", pods_dir if namespace_from == "pods-dir"
                                           else tmp_path / "none"])
    assert wait_for(lambda: a.metric("leakbpf_processes_traced") == 1, 30), a.diag()
    time.sleep(3)
    metrics = a.scrape()
    assert a.stop() == 0, a.diag()

    doc = diff_json(bpf_ready, a.store, "10m")
    procs = [p for p in doc["processes"] if p["pid"] == pid]
    assert procs, "the target is not in the store: %s" % [p["pid"] for p in doc["processes"]]
    p = procs[0]
    assert (p["ns_pid"], p["container_id"], p["pod_uid"], p["pod_name"], p["pod_namespace"]) == \
        (1, cid, pod_uid, POD, NAMESPACE), p
    fr = innermost_py(p["rows"][0])
    assert fr and same_file(fr["file"], src) and fr["line"] == leak_line, \
        "leak line %d not first: %s" % (leak_line, fr)
    cp = run_leakbpf(bpf_ready, ["diff", "--window", "10m", "--store", a.store, "--limit", "1"])
    assert "pod %s/%s" % (NAMESPACE, POD) in cp.stdout and cid[:12] in cp.stdout, cp.stdout[:1500]
    assert 'pod="%s"' % POD in metrics and 'namespace="%s"' % NAMESPACE in metrics and \
        'ns_pid="1"' in metrics and 'container="%s"' % cid[:12] in metrics, \
        [l for l in metrics.splitlines() if l.startswith("leakbpf_process_outstanding_bytes")]

    cp = run_leakbpf(bpf_ready, ["top", "--pid", pid, "-n", "1", "--interval", "1", "--json",
                                 "--mode", "full"])
    assert cp.returncode == 0, cp.stderr
    top = json.loads(cp.stdout.splitlines()[0])["processes"][0]
    assert (top["ns_pid"], top["container_id"], top["pod_name"]) == (1, cid, POD), top
    if namespace_from == "pods-dir":
        return      # doctor reads the default pods dir; the rest was checked
    cp = run_leakbpf(bpf_ready, ["doctor", "--pid", pid, "--json"])
    found = [f for f in json.loads(cp.stdout)["findings"] if f["check"] == "container"]
    assert found and cid[:12] in found[0]["message"] and \
        "%s/%s" % (NAMESPACE, POD) in found[0]["message"], found


@pytest.mark.parametrize("trap", ["absolute-link", "fifo"])
def test_pod_files_are_read_inside_the_pod(bpf_ready, spawn, tmp_path, pod_cgroup, trap):
    """The pod controls its service account namespace file (issue 15): an
    absolute link to a node file the pod cannot see must not be followed
    from the node's root (it printed the node file's first line as the
    namespace, into metrics labels and the store), and a FIFO there must
    not hang top or the agent's loop."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    if not os.access(PYENV + "/bin/python3.12", os.X_OK):
        pytest.skip("%s not installed" % PYENV)
    secret = "node-secret-%s" % uuid.uuid4().hex[:8]
    node_file = "/run/lb-node-only-%s" % uuid.uuid4().hex[:8]
    with open(node_file, "w") as f:
        f.write(secret + "\n")
    try:
        sa = "/run/secrets/kubernetes.io/serviceaccount"
        plant = ('mkdir -p %s && ln -s %s %s/namespace && ' % (sa, node_file, sa)
                 if trap == "absolute-link" else 'mkdir -p %s && mkfifo %s/namespace && ' % (sa, sa))
        setup = SETUP.format(inside=INSIDE, pyenv=PYENV, pod=POD, service_account=plant)
        outer = spawn(["unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts",
                       "--propagation", "private", "sh", "-c", setup, "python",
                       program("slow_leak.py")],
                      stdout=subprocess.PIPE, env=py_env(SLOW_LEAK_MAX_SECONDS="60"))
        line = LineReader(outer.stdout, "slow_leak").readline(30)
        assert line == "ready pid=1", line
        with open("/proc/%d/task/%d/children" % (outer.pid, outer.pid)) as f:
            pid = int(f.read().split()[0])
        cg_path = pod_cgroup[0]
        with open(os.path.join(cg_path, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        cp = run_leakbpf(bpf_ready, ["top", "--pid", pid, "-n", "1", "--interval", "1",
                                     "--json", "--mode", "full"], timeout=60)
        assert cp.returncode == 0, cp.stderr[-2000:]
        assert secret not in cp.stdout and secret not in cp.stderr, \
            "a node file was read through the pod's link: %s" % cp.stdout[:1500]
        top = json.loads(cp.stdout.splitlines()[0])["processes"][0]
        assert top["pod_name"] == POD and not top.get("pod_namespace"), top
    finally:
        os.unlink(node_file)
