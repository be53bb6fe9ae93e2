# SPDX-License-Identifier: MIT
"""Issue 12 on a real service: gunicorn + Flask under wrk.

- A Flask app keeps a (kind, n, time.time()) tuple of floats per request:
  tuples and floats are what werkzeug's own per-request temporaries are made
  of, so the leaked ones come from CPython's free lists, at addresses the
  framework's temporaries held (before objects reused from free lists moved
  to their new line, werkzeug's response.py ranked above the app's leak).
  `leakbpf agent --pid MASTER --mode full`, then `diff`: the app's
  LEAK-TUPLE line is in the top two rows of every worker, on Debian's 3.11
  and pyenv's 3.8, 3.10, 3.12 and 3.13.
  Sampled mode is not held to it yet: free-list objects call no allocator,
  and Flask's make_response, whose freed tuples the leak takes back from
  the free list, ranks above the leak line in most workers (60 s of load,
  two workers each: the leak line first or second on 3.8-3.12, third in
  one of the 3.13 workers).
- The same app without the leak (a bounded cache, per-request strings of
  constant content such as gunicorn's Date header), sampled at the default
  budget under 60 s of load: no row is called growing and none claims more
  than the process gained (a header string freed and replaced at its
  address by the next one once claimed +9.6 MiB "growing steadily").
"""
import os

import pytest

from conftest import innermost_py, installed_interpreter, marker_line, program, same_file, wait_for
from test_agent import Agent, Gunicorn, diff_json, wrk

APP = program("flask_app.py")
LEAK_TUPLE = marker_line(APP, "# LEAK-TUPLE")
INTERPRETERS = [
    ("debian-3.11.2", "/usr/bin/python3"),
    ("pyenv-3.8.18", "/root/.pyenv/versions/3.8.18/bin/python3.8"),
    ("pyenv-3.10.13", "/root/.pyenv/versions/3.10.13/bin/python3.10"),
    ("pyenv-3.12.1", "/root/.pyenv/versions/3.12.1/bin/python3.12"),
    ("pyenv-3.13.0", "/root/.pyenv/versions/3.13.0/bin/python3.13"),
]
LOAD_S = 30


def app_rows(proc):
    out = []
    for row in proc["rows"]:
        fr = innermost_py(row)
        out.append((fr["line"] if fr and same_file(fr["file"], APP) else None, fr, row))
    return out


@pytest.mark.parametrize("interp", INTERPRETERS, ids=[i for i, _ in INTERPRETERS])
def test_tuple_leak_in_top_two(bpf_ready, spawn, tmp_path, interp):
    python = installed_interpreter(interp)
    g = Gunicorn(spawn, tmp_path, workers=2, python=python, FLASK_APP_LEAK="tuple",
                 FLASK_APP_DELAY_MS=2)
    args = ["--pid", g.pid, "--interval", "2", "--mode", "full"]
    a = Agent(spawn, bpf_ready, tmp_path, args)
    assert wait_for(lambda: a.metric("leakbpf_processes_traced") == 3, 60), \
        "the agent did not trace master + 2 workers" + a.diag()
    wrk(g.url, LOAD_S, connections=4)
    assert a.stop() == 0, a.diag()
    g.check_no_worker_killed()
    doc = diff_json(bpf_ready, a.store, "10m")
    workers = [p for p in doc["processes"] if p["role"] == "worker"]
    assert len(workers) == 2, [(p["pid"], p["role"]) for p in doc["processes"]]
    bad = []
    for p in workers:
        top2 = app_rows(p)[:2]
        if not any(line == LEAK_TUPLE for line, _, _ in top2):
            bad.append((p["pid"], [(fr and "%s:%d" % (os.path.basename(fr["file"]), fr["line"]),
                                    r["bytes_delta"]) for _, fr, r in app_rows(p)[:4]]))
    assert not bad, "LEAK-TUPLE line %d not in a worker's top two: %s" % (LEAK_TUPLE, bad)


def test_sampled_no_leak_reports_no_growth(bpf_ready, spawn, tmp_path):
    g = Gunicorn(spawn, tmp_path, workers=2, FLASK_APP_LEAK=0, FLASK_APP_DELAY_MS=2)
    a = Agent(spawn, bpf_ready, tmp_path, ["--pid", g.pid, "--interval", "2"])
    assert wait_for(lambda: a.metric("leakbpf_processes_traced") == 3, 60), \
        "the agent did not trace master + 2 workers" + a.diag()
    wrk(g.url, 60, connections=4)
    assert a.stop() == 0, a.diag()
    g.check_no_worker_killed()
    doc = diff_json(bpf_ready, a.store, "60s")
    workers = [p for p in doc["processes"] if p["role"] == "worker"]
    assert len(workers) == 2 and all(p["mode"] == "sampled" for p in workers), \
        [(p["pid"], p["role"], p.get("mode")) for p in doc["processes"]]
    # the bound of 256 KiB a row is not met on every run: once
    # email/utils.py:277 (the Date header, freed and replaced at its
    # address by the next one) came out at +369 KiB, as noise (37 KiB on
    # the other runs); what must hold is that nothing is called growing
    bad = [(p["pid"], innermost_py(r), r["bytes_delta"], r["verdict"]) for p in doc["processes"]
           for r in p["rows"] if r["verdict"] == "growing steadily" or not r["confirmed"]]
    assert not bad, "rows growing in an app that does not leak: %s" % bad
