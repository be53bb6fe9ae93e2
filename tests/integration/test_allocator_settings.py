# SPDX-License-Identifier: MIT
"""Issue 12: tracing never harms the target, whatever its PYTHONMALLOC.

Every allocator setting on every interpreter, traced two ways:
  - `record` arms the allocator redirect before the interpreter starts (so
    before PYTHONMALLOC replaces the tables: the case that used to abort
    with "free(): invalid pointer");
  - `top --mode full -n 1` attaches to the running program and detaches.
The program's output (a digest of what it kept) and exit status must be
those of an untraced run; the redirect must be on, not needed or refused,
never on under hooks it would break. A setting the interpreter itself
rejects (mimalloc before 3.13) is skipped, saying so."""
import subprocess

import pytest

from conftest import (ALL_INTERPRETERS, LineReader, installed_interpreter, pid_alive, program,
                      py_env, top_once)

SRC = str(program("allocator_settings.py"))
SETTINGS = ["pymalloc", "malloc", "debug", "pymalloc_debug", "malloc_debug", "mimalloc"]
# what the redirect may do under each setting: anything else is a bug
ALLOWED = {
    "pymalloc": {"on"},
    "malloc": {"not needed"},
    "debug": {"refused"},
    "pymalloc_debug": {"refused"},
    "malloc_debug": {"refused"},
    "mimalloc": {"refused"},
}
ROUNDS = 300


def untraced(python, setting):
    cp = subprocess.run([python, SRC], env=py_env(PYTHONMALLOC=setting, ROUNDS=ROUNDS),
                        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if cp.returncode != 0 and "PYTHONMALLOC" in cp.stderr:
        pytest.skip("%s rejects PYTHONMALLOC=%s: %s" % (python, setting, cp.stderr.strip()[-200:]))
    assert cp.returncode == 0, cp.stderr[-2000:]
    return cp.stdout.splitlines()[-1]


@pytest.fixture(params=ALL_INTERPRETERS, ids=[i for i, _ in ALL_INTERPRETERS])
def interp(request):
    return installed_interpreter(request.param)


@pytest.mark.parametrize("setting", SETTINGS)
def test_record_every_allocator(record, interp, setting):
    plain = untraced(interp, setting)
    res = record([interp, SRC], env=py_env(PYTHONMALLOC=setting, ROUNDS=ROUNDS))
    assert res.returncode == 0, "target harmed under PYTHONMALLOC=%s\n%s" % (setting, res.describe())
    assert res.stdout.splitlines()[-1:] == [plain], "output changed under tracing:\n%s\nvs untraced\n%s" % (
        res.stdout, plain)
    procs = [p for p in res.report["processes"] if p.get("python")]
    assert procs, res.describe()
    assert procs[0]["redirect"] in ALLOWED[setting], (setting, procs[0]["redirect"],
                                                      procs[0]["redirect_reason"])


@pytest.mark.parametrize("setting", SETTINGS)
def test_attach_every_allocator(bpf_ready, spawn, interp, setting):
    plain = untraced(interp, setting)
    target = spawn([interp, SRC], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   env=py_env(PYTHONMALLOC=setting))
    reader = LineReader(target.stdout, "allocator_settings")
    line = reader.readline(30)
    assert line and line.startswith("ready pid="), line
    _, proc = top_once(bpf_ready, target.pid, interval=1)
    assert proc["redirect"] in ALLOWED[setting], (setting, proc["redirect"], proc["redirect_reason"])
    assert pid_alive(target.pid), "target died while traced under PYTHONMALLOC=%s" % setting
    target.stdin.write(b"stop\n")
    target.stdin.flush()
    out = reader.readline(60)
    assert target.wait(60) == 0, "target failed after detach under PYTHONMALLOC=%s" % setting
    assert out == plain, "kept data differs after tracing: %r vs %r" % (
        out, plain)
