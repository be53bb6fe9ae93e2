# SPDX-License-Identifier: MIT
"""Test 3: tracing does not change what the program does.

compute_output.py makes ~20,000 object allocations (all redirected to
libc malloc while traced) and prints a CRC of its data. Traced with
`leakbpf record --json -o FILE`, its stdout must be byte-identical to an
untraced run, its stderr line must pass through, and its exit status (3,
via COMPUTE_EXIT) must be leakbpf's exit status. The report must be valid
JSON and name the program's process.
"""
import subprocess

from conftest import program, py_env, validate_report

EXIT = 3


def test_output_unchanged(record, python):
    src = program("compute_output.py")
    env = py_env(COMPUTE_EXIT=EXIT)
    plain = subprocess.run([python, src], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == EXIT, plain.stderr
    assert plain.stdout.count("\n") == 3 and "crc=" in plain.stdout

    res = record([python, src], env=env)
    assert res.returncode == EXIT, "exit status not passed on\n" + res.describe()
    assert res.stdout == plain.stdout, (
        "traced stdout differs\nuntraced:\n%s\ntraced:\n%s" % (plain.stdout, res.stdout))
    assert plain.stderr in res.stderr, (
        "program's stderr did not pass through unchanged\nexpected to contain:\n%s\ngot:\n%s"
        % (plain.stderr, res.stderr[-2000:]))
    assert res.report is not None, "no JSON report\n" + res.describe()
    procs = validate_report(res.report, check_deltas_equal=True)
    assert len(procs) >= 1 and any(p["rows"] for p in procs), \
        "report has no rows at all\n" + res.describe()
