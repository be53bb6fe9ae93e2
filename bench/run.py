# SPDX-License-Identifier: MIT
"""`make bench`: leakbpf against the alternatives, side by side, one run, one
machine. Not a test: it measures and writes bench/RESULTS.md.

  hits   the cost of one probe hit: malloc in a C loop, untraced, under an
         empty bpftrace uprobe+uretprobe, and under leakbpf's probes.
  (a)    bench/alloc_loop.py, an allocation-heavy Python loop with a known
         leak, under: nothing, leakbpf full (record), tracemalloc (1 and 25
         frames), austin -m, heaptrack, and a memleak-style bpftrace
         malloc/free tracer with pymalloc on and with PYTHONMALLOC=malloc.
  (b)    gunicorn + Flask (Debian's) with a leaking view, under wrk.

Ratios are throughput relative to the untraced run (1.00 = no cost).
Usage: run.py LEAKBPF BUILD_DIR [--only hits,a,b] [--out bench/RESULTS.md]
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3.11"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
LOOP = os.path.join(HERE, "alloc_loop.py")
APP = os.path.join(HERE, "flask_app.py")
HIT_N = 20000


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def marker_line(path, marker):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if marker in line:
                return n
    raise ValueError("no %r in %s" % (marker, path))


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def loop_seconds(text):
    m = re.search(r"loop_seconds=([0-9.]+)", text)
    return float(m.group(1)) if m else None


def run(cmd, env=None, timeout=900):
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=env, timeout=timeout, text=True,
                        errors="replace")
    return cp


# ---- per-hit cost ----------------------------------------------------------

def bench_hits(leakbpf, build):
    exe = os.path.join(build, "bench", "hit_loop")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "hit_loop.c")], check=True)
    n = str(HIT_N)
    base = min(loop_seconds(run([exe, n]).stdout) for _ in range(3))
    empty = ('uprobe:%s:malloc /pid == cpid/ {} uretprobe:%s:malloc /pid == cpid/ {}'
             % (LIBC, LIBC))
    bt = loop_seconds(run(["bpftrace", "-e", empty, "-c", "%s %s" % (exe, n)]).stdout)
    lb = loop_seconds(run([leakbpf, "record", "-o", "/dev/null", "--", exe, n]).stdout)
    hits = 2 * HIT_N
    rows = []
    per = {}
    for name, t in (("untraced", base), ("empty uprobe+uretprobe (bpftrace)", bt),
                    ("leakbpf probes", lb)):
        per[name] = None if t is None or base is None else (t - base) / hits * 1e6
        rows.append((name, t, per[name]))
    ratio = None
    if per["leakbpf probes"] and per["empty uprobe+uretprobe (bpftrace)"]:
        ratio = per["leakbpf probes"] / per["empty uprobe+uretprobe (bpftrace)"]
    return rows, ratio


# ---- workload (a) ----------------------------------------------------------

BPFTRACE_MEMLEAK = """
uprobe:%(libc)s:malloc /pid == cpid/ { @size[tid] = arg0; }
uretprobe:%(libc)s:malloc /pid == cpid && @size[tid]/ {
    @live[retval] = @size[tid]; @stacks[ustack(8)] = sum(@size[tid]); delete(@size[tid]);
}
uprobe:%(libc)s:free /pid == cpid/ { delete(@live[arg0]); }
END { clear(@live); clear(@size); }
"""


def rank_in_process(proc, src, line):
    """Rank (1 = first) of src:line by bytes of the rows whose innermost
    Python frame is that line, and those bytes."""
    by_line = {}
    for row in proc["rows"]:
        py = [fr for fr in row["frames"] if fr["line"] > 0]
        if not py:
            continue
        key = (os.path.realpath(py[0]["file"]) if os.path.isabs(py[0]["file"])
               else py[0]["file"], py[0]["line"])
        by_line[key] = by_line.get(key, 0) + row["bytes"]
    ranked = sorted(by_line.items(), key=lambda kv: -kv[1])
    for i, (key, b) in enumerate(ranked, 1):
        if key == (os.path.realpath(src), line):
            return i, b
    return None, 0


def top_reports(path):
    """The JSON documents a `top --json` wrote, one per line, as
    (elapsed, process) for reports taken while the process still ran."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    proc = json.loads(line)["processes"][0]
                except (ValueError, KeyError, IndexError):
                    continue
                if not proc.get("exited"):
                    out.append(proc)
    except OSError:
        pass
    return out


def first_ranked(reports, src, line, attached_at):
    """Seconds from attach to the first report that ranks src:line first."""
    for proc in reports:
        if rank_in_process(proc, src, line)[0] == 1:
            return proc["sampling"]["as_of_monotonic"] - attached_at if "sampling" in proc else None
    return None


def truth_at(status_path, t):
    """(kept, entry bytes) the program logged last before monotonic time t."""
    best = (0, 0)
    with open(status_path) as f:
        for l in f:
            mt, kept, entry = l.split()
            if float(mt) <= t:
                best = (int(kept), int(entry))
    return best


def bench_loop_sampled(leakbpf, tmp, seconds):
    """(a) for sampled mode: the loop runs `seconds`, untraced and under
    `leakbpf top` (default mode); throughput from iterations per second."""
    leak = marker_line(LOOP, "# LEAK")
    status = os.path.join(tmp, "loop.status")
    out = {}
    for name in ("none", "leakbpf sampled (top)"):
        if os.path.exists(status):
            os.unlink(status)
        log("  (a) %s, %d s" % (name, seconds))
        env = clean_env(BENCH_SECONDS=seconds, BENCH_STATUS=status)
        p = subprocess.Popen([PYTHON, LOOP], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, text=True)
        p.stdout.readline()
        top_out = os.path.join(tmp, "loop-top.json")
        top = None
        attached = time.monotonic()
        if name != "none":
            with open(top_out, "w") as f:
                top = subprocess.Popen([leakbpf, "top", "--pid", str(p.pid), "--interval", "5",
                                        "--json", "--limit", "0"], stdout=f,
                                       stderr=subprocess.DEVNULL)
        text = p.stdout.read()
        p.wait()
        if top:
            top.wait(60)
        m = re.search(r"per_second=([0-9.]+)", text)
        rate = float(m.group(1)) if m else None
        note = ""
        if top:
            reps = top_reports(top_out)
            first = first_ranked(reps, LOOP, leak, attached)
            note = "leak line ranked first %s" % (
                "after %.0f s" % first if first is not None else "never")
            if reps:
                last = reps[-1]
                s = last["sampling"]
                k0, entry = truth_at(status, s["from_monotonic"])
                k1, _ = truth_at(status, s["as_of_monotonic"])
                truth = (k1 - k0) * entry
                est = rank_in_process(last, LOOP, leak)[1]
                hits = [r["overhead"]["hits_per_sec"] for r in reps if r.get("overhead")]
                note += ("; after %.0f s: estimated %.1f MB, truth %.1f MB (%+.0f%%); "
                         "%.0f probe hits/s on average; window %.0f ms every %.1f s; "
                         "leakbpf's own estimate of its cost %.2f%%" % (
                             s["as_of_monotonic"] - attached, est / 1e6, truth / 1e6,
                             100 * (est / truth - 1) if truth else 0,
                             sum(hits) / len(hits) if hits else 0, s["window_ms"], s["period_s"],
                             100 * (s["last_period_fraction"] or 0)))
        out[name] = (rate, note)
    return out


def leak_line_rank(report_path, src, line):
    """Rank (1 = first) of src:line among all lines of a report file (every
    process's rows together), and the last process's counters."""
    with open(report_path) as f:
        rep = json.load(f)
    rows = [row for proc in rep["processes"] for row in proc["rows"]]
    return rank_in_process({"rows": rows}, src, line)[0], rep["processes"][-1]["counters"]


def bench_loop(leakbpf, tmp):
    leak = marker_line(LOOP, "# LEAK")
    variants = [
        ("none", [PYTHON, LOOP], {}),
        ("leakbpf full (record)", None, {}),
        ("tracemalloc, 1 frame", [PYTHON, "-X", "tracemalloc=1", LOOP], {}),
        ("tracemalloc, 25 frames", [PYTHON, "-X", "tracemalloc=25", LOOP], {}),
        ("austin -m", ["austin", "-m", "-o", os.devnull, PYTHON, LOOP], {}),
        ("heaptrack", ["heaptrack", "-o", os.path.join(tmp, "heaptrack"), PYTHON, LOOP], {}),
        ("bpftrace malloc/free tracer", None, {}),
        ("bpftrace malloc/free tracer, PYTHONMALLOC=malloc", None, {"PYTHONMALLOC": "malloc"}),
    ]
    results = []
    base = None
    for name, cmd, extra in variants:
        env = clean_env(**extra)
        report = None
        if name.startswith("leakbpf"):
            report = os.path.join(tmp, "loop.json")
            cmd = [leakbpf, "record", "--json", "--limit", "0", "-o", report, "--", PYTHON, LOOP]
        elif name.startswith("bpftrace"):
            script = BPFTRACE_MEMLEAK % {"libc": LIBC}
            cmd = ["bpftrace", "-e", script, "-c", "%s %s" % (PYTHON, LOOP)]
        if shutil.which(cmd[0]) is None and not os.path.exists(cmd[0]):
            results.append((name, None, "not installed"))
            continue
        log("  (a) %s" % name)
        # best of three for the quick ones: a single short run is at the
        # mercy of caches and the other core
        t = None
        for _ in range(3):
            started = time.monotonic()
            cp = run(cmd, env=env)
            wall = time.monotonic() - started
            one = loop_seconds(cp.stdout)
            if one is None:
                break
            t = one if t is None else min(t, one)
            if one > 2:
                break
        if t is None:
            results.append((name, None, "failed: %s" % cp.stderr.strip()[-200:]))
            continue
        if base is None:
            base = t
        note = ""
        if report:
            rank, counters = leak_line_rank(report, LOOP, leak)
            hits = 2 * counters["allocations"] + counters["frees"]
            note = "leak line ranked %s; %d probe hits, %.0f hits/s over the run (%.1f s)" % (
                "first" if rank == 1 else ("#%s" % rank), hits, hits / wall, wall)
        results.append((name, t, note))
    return results, base


# ---- workload (b) ----------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def worker_pids(master):
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wrk(port, seconds):
    cp = run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "http://127.0.0.1:%d/" % port],
             timeout=seconds + 60)
    m = re.search(r"Requests/sec:\s+([0-9.]+)", cp.stdout)
    return float(m.group(1)) if m else None


def bench_gunicorn(leakbpf, tmp, seconds, sampled_seconds=120):
    variants = [
        ("none", {}, None),
        ("none, %d s (baseline of the sampled run)" % max(seconds, sampled_seconds), {}, "none-long"),
        ("leakbpf sampled (top on each worker)", {}, "leakbpf-sampled"),
        ("leakbpf full (top on each worker)", {}, "leakbpf"),
        ("tracemalloc, 1 frame", {"PYTHONTRACEMALLOC": "1"}, None),
        ("tracemalloc, 25 frames", {"PYTHONTRACEMALLOC": "25"}, None),
        ("bpftrace malloc/free tracer", {}, "bpftrace"),
        ("bpftrace malloc/free tracer, PYTHONMALLOC=malloc", {"PYTHONMALLOC": "malloc"},
         "bpftrace"),
        ("austin -m (attached to each worker)", {}, "austin"),
    ]
    results = []
    for name, extra, tracer in variants:
        if tracer and tracer not in ("none-long", "leakbpf-sampled", "leakbpf") and \
                shutil.which(tracer) is None:
            results.append((name, None, "not installed"))
            continue
        log("  (b) %s" % name)
        port = free_port()
        env = clean_env(PYTHONPATH="/usr/lib/python3/dist-packages", **extra)
        master = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:%d" % port,
             "--chdir", HERE, "flask_app:app"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        helpers = []
        try:
            if not wait_port(port):
                results.append((name, None, "gunicorn did not start"))
                continue
            workers = worker_pids(master.pid)
            attached = time.monotonic()
            run_for = seconds
            if tracer == "none-long":
                run_for = max(seconds, sampled_seconds)
            elif tracer == "leakbpf-sampled":
                # the target: leak line first within 120 s, at <= 2% cost
                run_for = max(seconds, sampled_seconds)
                for w in workers:
                    f = open(os.path.join(tmp, "gunicorn-top-%d.json" % w), "w")
                    helpers.append(subprocess.Popen(
                        [leakbpf, "top", "--pid", str(w), "--interval", "10", "--json",
                         "--limit", "0"], stdout=f, stderr=subprocess.DEVNULL))
                    f.close()
                time.sleep(1)
            elif tracer == "leakbpf":
                logs = []
                for w in workers:
                    logs.append(os.path.join(tmp, "gunicorn-full-%d.err" % w))
                    with open(logs[-1], "w") as err:
                        helpers.append(subprocess.Popen(
                            [leakbpf, "top", "--mode", "full", "--pid", str(w), "--interval", "3600",
                             "-n", "1", "--json", "-v"], stdout=subprocess.DEVNULL, stderr=err))
                # the load starts once every worker is traced in full (the
                # new-reference probes go in last): a fixed pause let two
                # attaching at once miss part of the run
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and not all(
                        "new-reference" in open(l).read() for l in logs):
                    time.sleep(0.2)
            elif tracer == "bpftrace":
                script = BPFTRACE_MEMLEAK.replace("cpid", "$1") % {"libc": LIBC}
                script = script.replace("pid == $1", "(pid == $1 || pid == $2)")
                helpers.append(subprocess.Popen(
                    ["bpftrace", "-e", script] + [str(w) for w in workers[:2]],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                time.sleep(5)
            elif tracer == "austin":
                for w in workers:
                    helpers.append(subprocess.Popen(
                        ["austin", "-m", "-o", os.devnull, "-p", str(w)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                time.sleep(2)
            rps = wrk(port, run_for)
            note = ""
            if tracer == "leakbpf-sampled":
                for h in helpers:
                    h.send_signal(signal.SIGINT)
                    h.wait(60)
                firsts = []
                for w in workers:
                    reps = top_reports(os.path.join(tmp, "gunicorn-top-%d.json" % w))
                    firsts.append(first_ranked(reps, APP, marker_line(APP, "# LEAK"), attached))
                note = "wrk %d s; leak line ranked first in each worker after %s s" % (
                    run_for, ", ".join("never" if f is None else "%.0f" % f for f in firsts))
            results.append((name, rps, note))
        finally:
            for h in helpers:
                h.send_signal(signal.SIGINT)
            for h in helpers:
                try:
                    h.wait(60)
                except subprocess.TimeoutExpired:
                    h.kill()
            master.send_signal(signal.SIGTERM)
            try:
                master.wait(30)
            except subprocess.TimeoutExpired:
                master.kill()
    return results


def bench_accuracy(leakbpf, tmp):
    """(c): the Flask app's lines, leakbpf record (full mode) against
    tracemalloc on the same program and interpreter. Rows: the lines where
    either holds >= 4 KiB, by tracemalloc's bytes."""
    src = os.path.join(HERE, "flask_accuracy.py")
    oracle = os.path.join(tmp, "accuracy-tracemalloc.json")
    report = os.path.join(tmp, "accuracy-leakbpf.json")
    env = clean_env(PYTHONPATH="/usr/lib/python3/dist-packages")
    run([PYTHON, src], env=dict(env, LEAK_TRACEMALLOC="1", LEAK_TRACEMALLOC_OUT=oracle))
    run([leakbpf, "record", "--json", "-o", report, "--limit", "0", "--", PYTHON, src], env=env)
    tm = {}
    with open(oracle) as f:
        for e in json.load(f):
            key = (e["filename"], e["lineno"])
            tm[key] = tm.get(key, 0) + e["size"]
    lb = {}
    with open(report) as f:
        doc = json.load(f)
    for p in doc["processes"]:
        for r in p["rows"]:
            fr = [x for x in r["frames"] if x["line"] > 0]
            if fr:
                key = (fr[0]["file"], fr[0]["line"])
                lb[key] = lb.get(key, 0) + r["bytes"]
    lines = sorted({k for k, v in tm.items() if v >= 4096} | {k for k, v in lb.items() if v >= 4096},
                   key=lambda k: -tm.get(k, 0))
    rows = []
    for k in lines[:25]:
        a, b = tm.get(k, 0), lb.get(k, 0)
        rows.append(("%s:%d" % (os.path.basename(k[0]), k[1]), a, b,
                     (b - a) / a * 100 if a else None))
    return rows


# ---- report ----------------------------------------------------------------

def fmt(v, spec):
    return "-" if v is None else spec % v


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        model = "?"
    return "%s, %d CPUs, kernel %s" % (model, os.cpu_count(), platform.release())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("leakbpf")
    ap.add_argument("build")
    ap.add_argument("--only", default="hits,a,b,c")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--seconds", type=int, default=10, help="wrk run length for (b)")
    ap.add_argument("--sampled-seconds", type=int, default=120,
                    help="run length of the sampled-mode runs of (a) and (b)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    tmp = tempfile.mkdtemp(prefix="leakbpf-bench-")
    out = ["# leakbpf benchmark results", "",
           "Run %s on %s." % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine()),
           "Throughput ratios are against the untraced run (1.00 = free).", ""]
    if "hits" in only:
        log("per-hit cost")
        rows, ratio = bench_hits(args.leakbpf, args.build)
        out += ["## Cost of one probe hit (malloc in a C loop, %d calls)" % HIT_N, "",
                "| probes | loop time (s) | cost per hit (us) |", "|---|---|---|"]
        out += ["| %s | %s | %s |" % (n, fmt(t, "%.4f"), fmt(p, "%.2f")) for n, t, p in rows]
        out += ["", "leakbpf per-hit cost / empty probe: %s" % fmt(ratio, "%.2fx"), ""]
    if "a" in only:
        log("workload (a)")
        results, base = bench_loop(args.leakbpf, tmp)
        out += ["## (a) allocation-heavy Python loop with a leak (`bench/alloc_loop.py`, "
                "Debian python3.11)", "", "| tracer | loop time (s) | throughput ratio | notes |",
                "|---|---|---|---|"]
        for name, t, note in results:
            ratio = base / t if t and base else None
            out.append("| %s | %s | %s | %s |" % (name, fmt(t, "%.3f"), fmt(ratio, "%.3f"), note))
        out.append("")
    if "a" in only or "as" in only:
        log("workload (a), sampled")
        res = bench_loop_sampled(args.leakbpf, tmp, args.sampled_seconds)
        base = res["none"][0]
        out += ["## (a) sampled: the same loop for %d s, untraced and under `leakbpf top`"
                % args.sampled_seconds, "",
                "| tracer | iterations/s | throughput ratio | notes |", "|---|---|---|---|"]
        for name, (rate, note) in res.items():
            ratio = rate / base if rate and base else None
            out.append("| %s | %s | %s | %s |" % (name, fmt(rate, "%.0f"), fmt(ratio, "%.3f"), note))
        out.append("")
    if "b" in only:
        log("workload (b)")
        results = bench_gunicorn(args.leakbpf, tmp, args.seconds, args.sampled_seconds)
        base = results[0][1] if results else None
        long_base = results[1][1] if len(results) > 1 else None
        out += ["## (b) gunicorn -w 2 + Flask, wrk -t2 -c8 -d%ds (`bench/flask_app.py`)"
                % args.seconds, "", "| tracer | requests/s | throughput ratio | notes |",
                "|---|---|---|---|"]
        for name, rps, note in results:
            b = long_base if "sampled" in name else base
            ratio = rps / b if rps and b else None
            if "sampled" in name:
                note += "; ratio against the untraced run of the same length"
            out.append("| %s | %s | %s | %s |" % (name, fmt(rps, "%.0f"), fmt(ratio, "%.3f"), note))
        out.append("")
    if "c" in only:
        log("accuracy (c)")
        rows = bench_accuracy(args.leakbpf, tmp)
        out += ["## (c) per-line accuracy against tracemalloc: the Flask app, 3000 requests "
                "through its test client (`bench/flask_accuracy.py`, Debian python3.11, "
                "`record`, full mode)", "",
                "Lines where either holds >= 4 KiB, innermost frame, by tracemalloc's bytes.", "",
                "| line | tracemalloc (B) | leakbpf (B) | difference |", "|---|---|---|---|"]
        for name, a, b, d in rows:
            out.append("| %s | %d | %d | %s |" % (name, a, b, fmt(d, "%+.1f%%")))
        out.append("")
    shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(args.out, "w") as f:
        f.write(text)
    log("written to %s" % args.out)


if __name__ == "__main__":
    main()
