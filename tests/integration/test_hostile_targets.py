# SPDX-License-Identifier: MIT
"""A privileged tracer reads what a pod puts in front of it: every byte of a
target is hostile input (issue 15). A CPython 3.13 program that rewrites its
own _Py_DebugOffsets (the code object "0x7fff bytes long", co_firstlineno
at 0x7ff0) made `top` and the agent die with SIGSEGV: offsets were checked
only against sizes the target also gave. Now every offset must also fit
leakbpf's own buffers; a description that does not is refused in one line
and the process is traced with leakbpf's own table of that version.
"""
import glob
import subprocess

import pytest

from conftest import LineReader, parse_json_lines, pid_alive, program, py_env, run_leakbpf


def python313():
    found = sorted(glob.glob("/root/.pyenv/versions/3.13.*/bin/python3.13"))
    if not found:
        pytest.skip("no CPython 3.13 under /root/.pyenv/versions on this machine")
    return found[0]


def test_rewritten_debug_offsets_neither_crash_nor_mislead(bpf_ready, spawn):
    p = spawn([python313(), program("hostile_debug_offsets.py")], stdout=subprocess.PIPE,
              env=py_env())
    line = LineReader(p.stdout, "hostile_debug_offsets").readline(30)
    assert line and line.startswith("ready"), line
    for cmd in (["top", "--pid", p.pid, "-n", "1", "--interval", "2", "--json"],
                ["doctor", "--pid", p.pid]):
        cp = run_leakbpf(bpf_ready, cmd, timeout=60)
        assert cp.returncode >= 0, "leakbpf %s died of signal %d" % (cmd[0], -cp.returncode)
        said = [l for l in cp.stderr.splitlines() + cp.stdout.splitlines()
                if "_Py_DebugOffsets" in l]
        assert said and "out of range" in said[0], cp.stderr[-2000:] + cp.stdout[-2000:]
        assert pid_alive(p.pid), "the target died"
        if cmd[0] == "top":
            assert cp.returncode == 0, cp.stderr
            assert "leakbpf's own table of 3.13" in said[0], said[0]
            proc = parse_json_lines(cp.stdout)[0]["processes"][0]
            assert proc["python"].startswith("3.13"), proc["python"]


def test_names_with_control_characters_reach_no_terminal(bpf_ready, spawn):
    """Names are the target's to choose: escaped, never printed raw."""
    p = spawn(["/usr/bin/python3", program("hostile_names.py")], stdout=subprocess.PIPE,
              env=py_env())
    line = LineReader(p.stdout, "hostile_names").readline(30)
    assert line and line.startswith("ready"), line
    text = run_leakbpf(bpf_ready, ["top", "--pid", p.pid, "-n", "1", "--interval", "2",
                                   "--mode", "full"], timeout=60)
    assert text.returncode == 0, text.stderr
    assert "evil\\x1b[2J\\x09name\\x0asecond\\x7f" in text.stdout, text.stdout[-3000:]
    assert "app.py" in text.stdout and "\\x1b]0;owned\\x07" in text.stdout, text.stdout[-3000:]
    for ch in "\x1b\x07\x7f":
        assert ch not in text.stdout + text.stderr, "raw %r in the output" % ch
    js = run_leakbpf(bpf_ready, ["top", "--pid", p.pid, "-n", "1", "--interval", "2",
                                 "--mode", "full", "--json"], timeout=60)
    assert js.returncode == 0, js.stderr
    names = [f.get("function", "") for proc in parse_json_lines(js.stdout)[0]["processes"]
             for r in proc["rows"] for f in r["frames"]]
    assert "evil\\x1b[2J\\x09name\\x0asecond\\x7f" in names, names[:40]
    assert pid_alive(p.pid), "the target died"


MEASURE_RSS = """import resource, subprocess, sys
cp = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
sys.stdout.write(cp.stdout)
sys.stderr.write(cp.stderr)
print("maxrss_kib=%d rc=%d" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                               cp.returncode))
"""


def test_code_objects_cannot_size_the_tracer(bpf_ready, spawn):
    """Functions without end with unique 4000-character names and 64 KiB
    line tables: leakbpf keeps 32 MiB of names and line tables per
    process, shows the rest by address and counts them; the target is
    unharmed."""
    p = spawn(["/usr/bin/python3", program("hostile_code_memory.py")], stdout=subprocess.PIPE,
              env=py_env())
    line = LineReader(p.stdout, "hostile_code_memory").readline(60)
    assert line and line.startswith("ready"), line
    cp = subprocess.run(["/usr/bin/python3", "-c", MEASURE_RSS, str(bpf_ready), "top", "--pid",
                         str(p.pid), "-n", "3", "--interval", "4", "--mode", "full", "--json"],
                        capture_output=True, text=True, timeout=180)
    tail = cp.stdout.splitlines()[-1]
    maxrss, rc = (int(x.split("=")[1]) for x in tail.split())
    assert rc == 0, cp.stderr[-2000:]
    doc = parse_json_lines("\n".join(cp.stdout.splitlines()[:-1]))[-1]["processes"][0]
    assert doc["lost"]["code_over_budget"] > 0, doc["lost"]
    # without the budget: 190 MB in 15 s
    assert maxrss < 160 * 1024, "leakbpf top reached %d MiB" % (maxrss // 1024)
    assert pid_alive(p.pid), "the target died"
