# SPDX-License-Identifier: MIT
"""Targets in other mount namespaces (what a container looks like from the
node): the interpreter and its library exist only inside the target's own
mount namespace, at paths the tracer's namespace does not have. leakbpf must
find, read and probe them through /proc/PID/root."""
import os
import shutil
import subprocess

import pytest

from conftest import (LineReader, find_process, fmt_rows, marker_line, parse_json_lines, pid_alive,
                      program, py_env, rows_at_line, run_leakbpf, top_once)

PYENV = "/root/.pyenv/versions/3.12.1"
INSIDE = "/mnt/lb-ns-py"

# In a private mount namespace: the interpreter bound to INSIDE, its original
# home hidden, so every path of it the process maps exists only in there.
START = ('mount -t tmpfs none /mnt && mkdir -p "%s" && mount --bind "%s" "%s" && '
         'mount -t tmpfs none /root/.pyenv && '
         'LD_LIBRARY_PATH="%s/lib" PYTHONHOME="%s" exec "%s/bin/python3.12" "$@"'
         % (INSIDE, PYENV, INSIDE, INSIDE, INSIDE, INSIDE))


def test_top_interpreter_only_inside_mount_namespace(bpf_ready, spawn):
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    if not os.access(PYENV + "/bin/python3.12", os.X_OK):
        pytest.skip("%s not installed" % PYENV)
    assert not os.path.exists(INSIDE), "%s exists outside the namespace" % INSIDE
    src = program("slow_leak.py")
    leak_line = marker_line(src, "# LEAK")
    target = spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", START,
                    "python", str(src)], stdout=subprocess.PIPE, env=py_env())
    line = LineReader(target.stdout, "slow_leak").readline(30)
    assert line and line.startswith("ready pid="), "target did not start: %r" % line
    pid = int(line.split("=")[1])
    with open("/proc/%d/maps" % pid) as f:
        assert INSIDE + "/lib/libpython3.12" in f.read(), "libpython not mapped from inside"
    _, proc = top_once(bpf_ready, pid)
    assert proc["python"] == "3.12.1", "interpreter not recognised: %r" % proc["python"]
    assert proc["redirect"] == "on", proc["redirect_reason"]
    mine = rows_at_line(proc, src, leak_line)
    assert mine, "leak line not among the top rows:\n%s" % fmt_rows(proc["rows"])
    assert pid_alive(pid), "target died"


@pytest.fixture
def chroot_of_root(tmp_path):
    """A plain chroot: the node's / bound at a directory of the node, so the
    target's maps name its files from the node's root (DIR/usr/...), which
    /proc/PID/root + that path does not reach."""
    root = tmp_path / "root"
    root.mkdir()
    if subprocess.run(["mount", "--bind", "/", str(root)]).returncode:
        pytest.skip("cannot bind-mount / here")
    yield root
    subprocess.run(["umount", "-l", str(root)])


@pytest.mark.parametrize("privileges", ["root", "manifest"])
def test_plain_chroot(bpf_ready, spawn, chroot_of_root, privileges):
    """Issue 16: under chroot, top said `cannot read ROOT/usr/lib/.../libc.so.6`
    and doctor `not a CPython process`. Files are now opened as the kernel
    maps them: /proc/PID/map_files as root; with only the DaemonSet's
    capabilities (no map_files), the path as it stands, proven to be the
    mapped file by its device and inode."""
    from test_deploy import manifest_caps, setpriv
    prefix = setpriv(manifest_caps()) if privileges == "manifest" else []
    src = program("slow_leak.py")
    leak_line = marker_line(src, "# LEAK")
    target = spawn(["chroot", str(chroot_of_root), "/usr/bin/python3", str(src)],
                   stdout=subprocess.PIPE, env=py_env())
    line = LineReader(target.stdout, "slow_leak").readline(30)
    assert line and line.startswith("ready pid="), "target did not start: %r" % line
    pid = int(line.split("=")[1])
    with open("/proc/%d/maps" % pid) as f:
        assert str(chroot_of_root) + "/usr/" in f.read(), "maps do not name the chroot's files"
    cp = run_leakbpf(bpf_ready, ["top", "--mode", "full", "--pid", pid, "-n", "1", "--interval",
                                 "1.5", "--json"], timeout=60, prefix=prefix)
    assert cp.returncode == 0, cp.stderr[-2000:]
    proc = find_process(parse_json_lines(cp.stdout)[0], pid)
    assert proc["python"].startswith("3."), "interpreter not recognised: %r" % proc["python"]
    assert proc["redirect"] == "on", proc["redirect_reason"]
    assert rows_at_line(proc, src, leak_line), "leak line not among the rows:\n%s" % \
        fmt_rows(proc["rows"])
    cp = run_leakbpf(bpf_ready, ["doctor", "--pid", pid], timeout=60, prefix=prefix)
    assert "CPython 3." in cp.stdout and "not a CPython" not in cp.stdout, cp.stdout
    assert pid_alive(pid), "target died"
