# SPDX-License-Identifier: MIT
"""Shared fixtures and helpers for leakbpf's integration tests.

Run: /usr/bin/python3 -m pytest -q tests/integration
The binary under test is $LEAKBPF (default: build/leakbpf in the repo root).

Skips (never vacuous passes):
  - the binary does not exist yet             -> every test using `leakbpf`
  - not root, or no /sys/kernel/btf/vmlinux   -> every test using `bpf_ready`
  - an interpreter is not installed            -> that parametrization

Conventions the tests rely on (spec reading, see README-like notes in the
report to the lead):
  - "innermost frame" of a row = its first frame with line > 0 (a Python
    frame). Native frames (line == 0) placed before it, if the tool ever
    mixes them in, are skipped.
  - A reported Python file matches a program if it is the same path
    (realpath) or, when relative, a path suffix of it.
"""
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = REPO / "tests" / "programs"

INTERPRETERS = [
    ("pyenv-3.11.7", "/root/.pyenv/versions/3.11.7/bin/python3.11"),
    ("debian-3.11.2", "/usr/bin/python3.11"),
]

# Every interpreter leakbpf supports that this machine has (issue 3).
ALL_INTERPRETERS = [
    ("pyenv-3.8.18", "/root/.pyenv/versions/3.8.18/bin/python3.8"),
    ("pyenv-3.9.18", "/root/.pyenv/versions/3.9.18/bin/python3.9"),
    ("pyenv-3.10.13", "/root/.pyenv/versions/3.10.13/bin/python3.10"),
    ("pyenv-3.11.7", "/root/.pyenv/versions/3.11.7/bin/python3.11"),
    ("pyenv-3.12.1", "/root/.pyenv/versions/3.12.1/bin/python3.12"),
    ("pyenv-3.13.0", "/root/.pyenv/versions/3.13.0/bin/python3.13"),
    ("debian-3.11.2", "/usr/bin/python3.11"),
]

# Generous wall-clock limits: startup of a traced interpreter is a few seconds
# on these machines (~30k allocations x ~22 us per uprobe hit, several hits
# each), the tests' own programs add about as much again.
RECORD_TIMEOUT = 180
TOP_TIMEOUT = 60


# --------------------------------------------------------------------------
# Locating things / skipping
# --------------------------------------------------------------------------

def leakbpf_path():
    env = os.environ.get("LEAKBPF")
    if env:
        p = Path(env)
        if not p.is_absolute() and not p.exists() and (REPO / p).exists():
            p = REPO / p
        return p.resolve()
    return REPO / "build" / "leakbpf"


@pytest.fixture(scope="session")
def leakbpf():
    """Path (str) of the binary under test; skips if it is not built yet."""
    p = leakbpf_path()
    if not p.is_file() or not os.access(p, os.X_OK):
        pytest.skip("leakbpf binary not found at %s (build it, or set "
                    "LEAKBPF=/path/to/leakbpf)" % p)
    return str(p)


def bpf_unavailable_reason():
    if os.geteuid() != 0:
        return "needs root (uprobes + BPF)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel BTF (/sys/kernel/btf/vmlinux) missing: CO-RE BPF cannot load"
    return None


@pytest.fixture(scope="session")
def bpf_ready(leakbpf):
    """The binary, for tests that actually trace (root + kernel BTF)."""
    why = bpf_unavailable_reason()
    if why:
        pytest.skip(why)
    return leakbpf


def installed_interpreter(param):
    ident, path = param
    if not os.access(path, os.X_OK):
        pytest.skip("interpreter %s not installed (%s)" % (ident, path))
    return path


@pytest.fixture(params=INTERPRETERS, ids=[i for i, _ in INTERPRETERS])
def python(request):
    """The two 3.11 builds of the core tests; skips the ones not installed."""
    return installed_interpreter(request.param)


@pytest.fixture(params=ALL_INTERPRETERS, ids=[i for i, _ in ALL_INTERPRETERS])
def any_python(request):
    """Every supported interpreter; skips the ones not installed."""
    return installed_interpreter(request.param)


def start_slow_leak(spawn, python, **env):
    """Starts tests/programs/slow_leak.py; returns (process, line reader)
    once it said it is ready."""
    p = spawn([python, str(program("slow_leak.py"))], stdout=subprocess.PIPE, env=py_env(**env))
    reader = LineReader(p.stdout, "slow_leak")
    line = reader.readline(30)
    assert line and line.startswith("ready pid="), "slow_leak did not start: %r" % line
    assert int(line.split("=")[1]) == p.pid
    return p, reader


@pytest.fixture(scope="session")
def python37():
    """An unsupported interpreter (3.7), for the version-refusal tests."""
    found = sorted(glob.glob("/root/.pyenv/versions/3.7.*/bin/python3.7"))
    if not found:
        pytest.skip("no /root/.pyenv/versions/3.7.*/bin/python3.7 on this machine")
    return found[-1]


def py_env(**extra):
    """Environment for Python targets: no PYTHON* settings inherited from the
    runner (PYTHONMALLOC / PYTHONDEVMODE / PYTHONTRACEMALLOC would change the
    allocator the tool has to deal with), fixed hash seed, no .pyc writes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def program(name):
    p = PROGRAMS / name
    assert p.is_file(), "missing test program %s" % p
    return str(p)


def marker_line(path, marker):
    """1-based number of the only line of `path` containing `marker` (a
    comment such as '# LEAK')."""
    hits = [n for n, text in enumerate(Path(path).read_text().splitlines(), 1)
            if text.rstrip().endswith(marker)]
    assert len(hits) == 1, "%s: expected one line ending with %r, found %s" % (
        path, marker, hits)
    return hits[0]


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

class Spawner:
    """Starts processes and always ends them at teardown.

    spawn(cmd, graceful=False, **popen_kwargs):
      graceful=False (targets): SIGKILL at teardown.
      graceful=True (a background leakbpf): SIGTERM first so it can restore
      its target, SIGKILL after 15 s.
    Only the started process itself is signalled (never a group or a name).
    """

    def __init__(self):
        self.procs = []

    def spawn(self, cmd, graceful=False, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen([str(c) for c in cmd], **kw)
        self.procs.append((p, graceful))
        return p

    def cleanup(self):
        for p, graceful in reversed(self.procs):
            if p.poll() is None:
                try:
                    if graceful:
                        p.send_signal(signal.SIGTERM)
                        try:
                            p.wait(15)
                        except subprocess.TimeoutExpired:
                            p.kill()
                    else:
                        p.kill()
                except ProcessLookupError:
                    pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdin, p.stdout, p.stderr):
                if f:
                    try:
                        f.close()
                    except OSError:
                        pass


@pytest.fixture
def spawn():
    s = Spawner()
    try:
        yield s.spawn
    finally:
        s.cleanup()


class LineReader:
    """Reads a pipe's lines in a background thread; readline() with timeout."""

    def __init__(self, pipe, name="process"):
        self.name = name
        self.q = queue.Queue()
        self.lines = []
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            self.q.put(raw.decode(errors="replace"))
        self.q.put(None)

    def readline(self, timeout):
        """Next line (without newline); None at EOF; fails on timeout."""
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            pytest.fail("%s: no output line within %.0f s (so far: %r)" % (
                self.name, timeout, self.lines[-5:]))
        if line is None:
            self.q.put(None)  # stay at EOF
            return None
        self.lines.append(line)
        return line.rstrip("\n")

    def read_json(self, timeout):
        """Next line that parses as a JSON object (other lines are kept in
        self.lines but skipped); fails on EOF/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("%s: no JSON line within %.0f s (so far: %r)" % (
                    self.name, timeout, self.lines[-5:]))
            line = self.readline(left)
            if line is None:
                pytest.fail("%s: output ended while waiting for a JSON line "
                            "(so far: %r)" % (self.name, self.lines[-5:]))
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rindex(")") + 2:].split()[0]
    return state not in ("Z", "X")


def wait_for(pred, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def stderr_lines(text):
    return [l for l in text.splitlines() if l.strip()]


# --------------------------------------------------------------------------
# Running leakbpf
# --------------------------------------------------------------------------

class RecordResult:
    def __init__(self, returncode, stdout, stderr, report, report_text, cmd):
        self.returncode = returncode
        self.stdout = stdout          # CMD's stdout (the report goes to -o FILE)
        self.stderr = stderr          # CMD's stderr + leakbpf's diagnostics
        self.report = report          # parsed JSON (json=True) or None
        self.report_text = report_text
        self.cmd = cmd

    def describe(self):
        return "cmd: %s\nexit: %s\nstdout:\n%s\nstderr:\n%s\nreport (head):\n%s" % (
            " ".join(self.cmd), self.returncode, self.stdout[-3000:],
            self.stderr[-3000:], (self.report_text or "")[:3000])


@pytest.fixture
def record(bpf_ready, tmp_path):
    """record(cmd, json_out=True, extra=(), env=None, timeout=RECORD_TIMEOUT,
    to_file=True, stdin=DEVNULL) -> RecordResult.

    Runs `leakbpf record [--json] [-o FILE] [extra...] -- cmd`. With to_file
    (default) the report goes to a file so that CMD's stdout stays separate;
    with to_file=False the report is leakbpf's stdout (RecordResult.stdout,
    and .report parsed from it when json=True)."""
    counter = [0]

    def run(cmd, json_out=True, extra=(), env=None, timeout=RECORD_TIMEOUT,
            to_file=True, stdin=subprocess.DEVNULL):
        counter[0] += 1
        out = tmp_path / ("report-%d.%s" % (counter[0], "json" if json_out else "txt"))
        argv = [bpf_ready, "record"]
        if json_out:
            argv.append("--json")
        if to_file:
            argv += ["-o", str(out)]
        argv += [str(a) for a in extra]
        argv += ["--"] + [str(c) for c in cmd]
        try:
            cp = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail("leakbpf record did not finish within %d s: %s\nstderr: %s"
                        % (timeout, " ".join(argv),
                           (e.stderr or b"").decode(errors="replace")[-2000:]))
        stdout = cp.stdout.decode(errors="replace")
        stderr = cp.stderr.decode(errors="replace")
        text = None
        if to_file:
            if out.exists():
                text = out.read_text(errors="replace")
        else:
            text = stdout
        res = RecordResult(cp.returncode, stdout, stderr, None, text, argv)
        if json_out and text is not None and text.strip():
            try:
                res.report = json.loads(text)
            except ValueError as e:
                pytest.fail("record --json output is not one JSON document (%s)\n%s"
                            % (e, res.describe()))
        return res

    return run


def run_leakbpf(leakbpf, args, timeout=TOP_TIMEOUT, env=None, prefix=()):
    """Runs leakbpf with args to completion; returns CompletedProcess (text)."""
    argv = [str(a) for a in prefix] + [leakbpf] + [str(a) for a in args]
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=timeout,
                              text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        pytest.fail("leakbpf did not finish within %d s: %s\nstderr: %s" % (
            timeout, " ".join(argv), (e.stderr or b"")[-2000:]))


def top_once(leakbpf, pid, interval=1.5):
    """`leakbpf top --pid PID -n 1 --json`, checked: exit 0, one valid
    document. Returns (CompletedProcess, the process's entry)."""
    cp = run_leakbpf(leakbpf, ["top", "--mode", "full", "--pid", pid, "-n", "1", "--interval", interval, "--json"],
                     timeout=60)
    assert cp.returncode == 0, "exit %s\nstderr: %s" % (cp.returncode, cp.stderr[-2000:])
    docs = parse_json_lines(cp.stdout)
    assert len(docs) == 1, "-n 1 --json: expected one JSON line, got %d" % len(docs)
    validate_report(docs[0])
    return cp, find_process(docs[0], pid)


def parse_json_lines(text, what="leakbpf top --json"):
    """One JSON document per non-empty line."""
    docs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            docs.append(json.loads(line))
        except ValueError as e:
            pytest.fail("%s: stdout line %d is not JSON (%s): %r" % (what, n, e, line[:300]))
    return docs


# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------

def validate_report(doc, check_deltas_equal=False):
    """Schema of one JSON report (spec). Returns doc['processes']."""
    assert isinstance(doc, dict) and isinstance(doc.get("processes"), list), \
        "report has no 'processes' list: %r" % (str(doc)[:300],)
    for proc in doc["processes"]:
        assert isinstance(proc.get("pid"), int), "process without int pid: %r" % (str(proc)[:200],)
        assert isinstance(proc.get("rows"), list), "process %s: no rows list" % proc["pid"]
        lost = proc.get("lost")
        assert isinstance(lost, dict), "process %s: 'lost' must be an object" % proc["pid"]
        for k, v in lost.items():
            assert isinstance(k, str) and isinstance(v, int) and v >= 0, \
                "process %s: bad lost counter %r=%r" % (proc["pid"], k, v)
        prev = None
        for row in proc["rows"]:
            for key in ("bytes", "count", "bytes_delta", "count_delta"):
                assert isinstance(row.get(key), int), "row without int %s: %r" % (key, str(row)[:300])
            assert row["bytes"] >= 0 and row["count"] >= 0, "negative row %r" % (str(row)[:300],)
            if check_deltas_equal:
                assert row["bytes_delta"] == row["bytes"] and row["count_delta"] == row["count"], \
                    "record: deltas must equal totals: %r" % (str(row)[:300],)
            assert isinstance(row.get("frames"), list), "row without frames list"
            for fr in row["frames"]:
                assert isinstance(fr.get("file"), str) and isinstance(fr.get("function"), str) \
                    and isinstance(fr.get("line"), int) and fr["line"] >= 0, "bad frame %r" % (fr,)
            if prev is not None:
                assert prev >= row["bytes"], "rows not sorted by bytes descending"
            prev = row["bytes"]
    return doc["processes"]


def find_process(doc, pid):
    procs = [p for p in doc["processes"] if p.get("pid") == pid]
    assert procs, "no process with pid %d in report (pids: %s)" % (
        pid, [p.get("pid") for p in doc["processes"]])
    return procs[0]


def same_file(reported, expected):
    if not reported:
        return False
    if os.path.isabs(reported):
        return os.path.realpath(reported) == os.path.realpath(expected)
    rep = os.path.normpath(reported)
    exp = os.path.realpath(expected)
    return exp == rep or exp.endswith(os.sep + rep)


def python_frames(row):
    """Frames with a line number (Python frames), innermost first."""
    return [f for f in row["frames"] if f["line"] > 0]


def innermost_py(row):
    fr = python_frames(row)
    return fr[0] if fr else None


def bytes_by_line(proc, path):
    """{line: [bytes, count, [rows]]} over rows whose innermost Python frame
    is in file `path`."""
    agg = {}
    for row in proc["rows"]:
        fr = innermost_py(row)
        if fr is None or not same_file(fr["file"], path):
            continue
        e = agg.setdefault(fr["line"], [0, 0, []])
        e[0] += row["bytes"]
        e[1] += row["count"]
        e[2].append(row)
    return agg


LEAKBPF_PROGRAMS = {"alloc_enter", "alloc_return", "finalize_enter", "stop_at_entry",
                    "calibrate", "follow_fork", "follow_exec", "follow_exit"}


def assert_no_probes_left(timeout=10):
    """None of leakbpf's BPF programs is loaded any more: a probe cannot
    outlive the program it runs, so none is left in any process. The kernel
    frees a program shortly after its last link closes: allow it a moment."""
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True,
                             text=True, timeout=30).stdout
        left = sorted({p.get("name") for p in json.loads(out or "[]")} & LEAKBPF_PROGRAMS)
        if not left:
            return
        assert time.monotonic() < deadline, "BPF programs still loaded after leakbpf ended: %s" % left
        time.sleep(0.25)


def rows_at_line(proc, path, line, first=3):
    """The rows among the first `first` whose innermost Python frame is
    path:line (first=None: all rows)."""
    rows = proc["rows"] if first is None else proc["rows"][:first]
    return [r for r in rows if python_frames(r) and same_file(python_frames(r)[0]["file"], path)
            and python_frames(r)[0]["line"] == line]


def fmt_rows(rows, limit=8):
    out = []
    for r in rows[:limit]:
        fr = ["%s:%s:%s" % (os.path.basename(f["file"]), f["line"], f["function"])
              for f in r["frames"][:6]]
        out.append("  bytes=%d count=%d frames=%s" % (r["bytes"], r["count"], " <- ".join(fr)))
    return "\n".join(out)


# --------------------------------------------------------------------------
# Misc
# --------------------------------------------------------------------------

def binary_for_nobody(leakbpf):
    """A path of the binary that uid 65534 can execute (copies it into a
    world-readable temp dir if the original's directories are not
    traversable). Returns (path, cleanup_dir_or_None)."""
    ok = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         "test", "-x", leakbpf], stdin=subprocess.DEVNULL).returncode == 0
    if ok:
        return leakbpf, None
    d = tempfile.mkdtemp(prefix="leakbpf-nobody-")
    os.chmod(d, 0o755)
    dst = os.path.join(d, "leakbpf")
    shutil.copy2(leakbpf, dst)
    os.chmod(dst, 0o755)
    return dst, d


@pytest.fixture(scope="session")
def gcc():
    g = shutil.which("gcc")
    if not g:
        pytest.skip("gcc not installed")
    return g


def unused_pid():
    """A pid that does not exist right now (999999 if free, as the spec says)."""
    for pid in (999999, 999998, 999997, 4194000):
        if not os.path.exists("/proc/%d" % pid):
            return pid
    pytest.skip("could not find an unused pid")
