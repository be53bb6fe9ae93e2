# SPDX-License-Identifier: MIT
"""Issue 12: a frame is named from the code object that ran, never another.

exec_code.py compiles and runs 40 modules "<modK>", each defining fnK that
keeps K+1 bytearrays of 512 bytes; each module's code objects are freed right
after it ran, and the next module's often take their addresses. Under
`record`, on every interpreter:
  - no row mixes frames of two modules, and every frame of module K is
    fnK's, its comprehension's or module K's body (before code objects were
    identified, 39 of 40 rows named another module's frames on 3.12);
  - rows are not merged across modules: the bytes kept under module K grow
    with K+1 (for K >= 10, within 20% of the median bytes per block);
  - frames that could not be named in time are shown as unknown and
    counted in `lost.code_object_gone`, never named after another object;
  - none is lost: the probes copy a code object (names, line table) when a
    stack first holds it, so all 40 modules are named and
    `code_object_gone` stays 0 (before the copies, up to a quarter of the
    modules came out unknown).
The same holds for module bodies run by `import` (EXEC_MODE=import): each
module's line 3 keeps K+1 blocks at import time, and its code object is
freed when the import is done.
"""
import re
import statistics

from conftest import find_process, fmt_rows, program, py_env
from test_python_leaks import pid_from_stdout

SRC = program("exec_code.py")
# frames whose code object was freed before its copy arrived: 0 in every
# run here but one loaded CI run (1 frame, one of 7 interpreters)
MAX_GONE = 2


def test_exec_code_objects_keep_their_names(record, any_python):
    res = record([any_python, SRC], env=py_env(), extra=["--limit", "100000"])
    assert res.returncode == 0, res.describe()
    proc = find_process(res.report, pid_from_stdout(res.stdout, "exec_code"))
    assert "code_object_gone" in proc["lost"], proc["lost"]
    per_module, bad = {}, []
    for row in proc["rows"]:
        frames = [f for f in row["frames"] if f["line"] > 0 and f["file"].startswith("<mod")]
        if not frames:
            continue
        mods = {f["file"] for f in frames}
        k = frames[0]["file"][4:-1]
        ok = len(mods) == 1 and all(
            re.match(r"(fn%s\b|fn%s\.<locals>\.<listcomp>|<listcomp>|<module>)$" % (k, k),
                     f["function"]) for f in frames)
        if not ok:
            bad.append(row)
        elif row["frames"][0]["file"].startswith("<mod"):
            per_module[int(k)] = per_module.get(int(k), 0) + row["bytes"]
    assert not bad, "frames named after another code object:\n%s" % fmt_rows(bad)
    assert sorted(per_module) == list(range(40)), "modules seen: %s" % sorted(per_module)
    # a copy can still go missing, rarely (one frame in one loaded CI run)
    assert proc["lost"]["code_object_gone"] <= MAX_GONE, proc["lost"]
    assert proc["counters"]["code_objects_captured"] > 0, proc["counters"]
    ratios = {k: b / (k + 1) for k, b in per_module.items() if k >= 10}
    med = statistics.median(ratios.values())
    off = {k: round(r) for k, r in ratios.items() if abs(r - med) > 0.2 * med}
    assert not off, "bytes per block of module K off the median %.0f (rows merged?): %s" % (med, off)


def test_imported_module_bodies_keep_their_names(record, any_python, tmp_path):
    res = record([any_python, SRC], env=py_env(EXEC_MODE="import", EXEC_DIR=str(tmp_path)),
                 extra=["--limit", "100000"])
    assert res.returncode == 0, res.describe()
    proc = find_process(res.report, pid_from_stdout(res.stdout, "exec_code"))
    per_module, bad = {}, []
    for row in proc["rows"]:
        mods = {f["file"] for f in row["frames"] if re.search(r"/mod\d+\.py$", f["file"])}
        if not mods:
            continue
        inner = row["frames"][0]
        m = re.search(r"/mod(\d+)\.py$", inner["file"])
        if len(mods) != 1 or not m or inner["line"] != 3 or \
                not re.match(r"(<module>|<listcomp>)$", inner["function"]):
            bad.append(row)
            continue
        per_module[int(m.group(1))] = per_module.get(int(m.group(1)), 0) + row["bytes"]
    assert not bad, "module-body rows named wrongly:\n%s" % fmt_rows(bad)
    assert sorted(per_module) == list(range(40)), "modules named: %s" % sorted(per_module)
    assert proc["lost"]["code_object_gone"] <= MAX_GONE, proc["lost"]
    ratios = {k: b / (k + 1) for k, b in per_module.items() if k >= 10}
    med = statistics.median(ratios.values())
    off = {k: round(r) for k, r in ratios.items() if abs(r - med) > 0.2 * med}
    assert not off, "bytes per block of module K off the median %.0f: %s" % (med, off)


def test_a_service_start_loses_no_names(record, any_python):
    """Importing ~30 stdlib packages runs ~1,300 code objects, module bodies
    freed within milliseconds: before the probes copied code objects,
    900-1,300 frames of them came out unknown (code_object_gone) on every
    interpreter; a handful at most may now."""
    res = record([any_python, program("import_stdlib.py")], env=py_env())
    assert res.returncode == 0, res.describe()
    proc = find_process(res.report, pid_from_stdout(res.stdout, "import_stdlib"))
    assert proc["lost"]["code_object_gone"] <= 5, proc["lost"]
    assert proc["counters"]["code_objects_captured"] >= 500, proc["counters"]
