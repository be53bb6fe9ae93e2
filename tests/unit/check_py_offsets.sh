#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check_py_offsets.sh BUILD_DIR
#
# Proves the built-in CPython layout tables (src/python/py_offsets.c) against the
# interpreters installed under $PYENV_VERSIONS (default /root/.pyenv/versions):
#
#  1. header probe: for every table field, a list of candidate C expressions
#     (offsetof/sizeof over the version's own structs, Py_BUILD_CORE internal
#     headers included). The first candidate that compiles against that
#     version's headers gives the header's answer; a field absent from a
#     version's structs falls through to its "-1" (LB_NO_OFFSET) or "255"
#     (no such owner value) candidate, so absence is proven by the compiler
#     too. "runtime" marks a field no header can answer.
#  2. run-time check: the interpreter itself, through ctypes, walks its own
#     _PyRuntime -> interpreters -> thread states -> frames with the table's
#     offsets and compares with sys._getframe(), threading ids, code, bytes
#     and str objects (and, on 3.13+, _Py_DebugOffsets).
#
# Every table field must be confirmed by the headers or at run time; any
# disagreement fails the version. Output: "ok 3.X", "FAIL 3.X: field ..."
# or "skip 3.X: ..." per version, then "N passed, N failed". Every micro
# install of a minor version is checked (free-threaded and Py_TRACE_REFS
# builds are left out). Work files: BUILD_DIR/check_py_offsets/<install>/.
# Environment: CC (default gcc), PYENV_VERSIONS, VERBOSE=1 (run-time stats).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYENV_VERSIONS=${PYENV_VERSIONS:-/root/.pyenv/versions}
CC=${CC:-gcc}
VERBOSE=${VERBOSE:-0}
WORK=$BUILD/check_py_offsets
mkdir -p "$WORK"

# ---------------------------------------------------------------------------
# Field specification: "name: candidate @ candidate @ ...".
# Candidates use no macros of their own: a compile error must be reported on
# the candidate's line (gcc also gets -ftrack-macro-expansion=0).
# __builtin_classify_type() == 5: the member is a pointer.
# Order matters: 3.10's PyThreadState has a "cframe" member too, but its
# CFrame has no current_frame (the frame is still tstate->frame), hence the
# _PyCFrame guard in the tstate_frame candidates.
# Names starting with "width_" are widths leakbpf's readers assume (the table
# dumper prints the expected ones); names starting with "dbg." are offsets
# inside _Py_DebugOffsets, used by the run-time check and not compared.
# ---------------------------------------------------------------------------
SPEC='
version_hex: PY_VERSION_HEX & 0xffff0000
instr_kind: (__builtin_classify_type(((_PyInterpreterFrame *)0)->instr_ptr) == 5 && sizeof(*((_PyInterpreterFrame *)0)->instr_ptr) == 2) ? 2 : -2 @ (__builtin_classify_type(((_PyInterpreterFrame *)0)->prev_instr) == 5 && sizeof(*((_PyInterpreterFrame *)0)->prev_instr) == 2) ? 2 : -2 @ runtime
thread_match: 0 * offsetof(PyThreadState, native_thread_id) + 1 @ runtime
shim_owner: FRAME_OWNED_BY_CSTACK @ 255
frame_owner_generator: FRAME_OWNED_BY_GENERATOR @ 255
code_tag_mask: __builtin_classify_type(((_PyInterpreterFrame *)0)->f_executable) == 5 ? 0 : -2 @ __builtin_classify_type(((_PyInterpreterFrame *)0)->f_code) == 5 ? 0 : -2 @ __builtin_classify_type(((PyFrameObject *)0)->f_code) == 5 ? 0 : -2
runtime_interpreters_head: offsetof(_PyRuntimeState, interpreters.head)
interp_next: offsetof(PyInterpreterState, next)
interp_threads_head: offsetof(PyInterpreterState, threads.head) @ offsetof(PyInterpreterState, tstate_head)
tstate_next: offsetof(PyThreadState, next)
tstate_thread_id: offsetof(PyThreadState, thread_id)
tstate_native_thread_id: offsetof(PyThreadState, native_thread_id) @ -1
tstate_frame: offsetof(PyThreadState, current_frame) @ 0 * offsetof(_PyCFrame, current_frame) + offsetof(PyThreadState, cframe) @ offsetof(PyThreadState, frame)
cframe_current_frame: 0 * sizeof(((PyThreadState *)0)->cframe) + offsetof(_PyCFrame, current_frame) @ -1
frame_previous: offsetof(_PyInterpreterFrame, previous) @ offsetof(PyFrameObject, f_back)
frame_code: offsetof(_PyInterpreterFrame, f_executable) @ offsetof(_PyInterpreterFrame, f_code) @ offsetof(PyFrameObject, f_code)
frame_instr: offsetof(_PyInterpreterFrame, instr_ptr) @ offsetof(_PyInterpreterFrame, prev_instr) @ offsetof(PyFrameObject, f_lasti)
frame_owner: offsetof(_PyInterpreterFrame, owner) @ -1
code_code_adaptive: offsetof(PyCodeObject, co_code_adaptive) @ -1
code_firsttraceable: offsetof(PyCodeObject, _co_firsttraceable) @ -1
code_firstlineno: offsetof(PyCodeObject, co_firstlineno)
code_filename: offsetof(PyCodeObject, co_filename)
code_name: offsetof(PyCodeObject, co_name)
code_qualname: offsetof(PyCodeObject, co_qualname) @ -1
code_linetable: offsetof(PyCodeObject, co_linetable) @ offsetof(PyCodeObject, co_lnotab)
code_code: offsetof(PyCodeObject, co_code) @ -1
bytes_size: offsetof(PyBytesObject, ob_base.ob_size)
bytes_data: offsetof(PyBytesObject, ob_sval)
unicode_length: offsetof(PyASCIIObject, length)
unicode_state: offsetof(PyASCIIObject, state)
unicode_ascii_data: sizeof(PyASCIIObject)
unicode_compact_data: sizeof(PyCompactUnicodeObject)
width_tstate_thread_id: sizeof(((PyThreadState *)0)->thread_id)
width_tstate_native_thread_id: sizeof(((PyThreadState *)0)->native_thread_id) @ -1
width_tstate_frame: sizeof(((PyThreadState *)0)->current_frame) @ 0 * offsetof(_PyCFrame, current_frame) + sizeof(((PyThreadState *)0)->cframe) @ sizeof(((PyThreadState *)0)->frame)
width_frame_previous: sizeof(((_PyInterpreterFrame *)0)->previous) @ sizeof(((PyFrameObject *)0)->f_back)
width_frame_code: sizeof(((_PyInterpreterFrame *)0)->f_executable) @ sizeof(((_PyInterpreterFrame *)0)->f_code) @ sizeof(((PyFrameObject *)0)->f_code)
width_frame_instr: sizeof(((_PyInterpreterFrame *)0)->instr_ptr) @ sizeof(((_PyInterpreterFrame *)0)->prev_instr) @ sizeof(((PyFrameObject *)0)->f_lasti)
width_frame_owner: sizeof(((_PyInterpreterFrame *)0)->owner) @ -1
width_code_firstlineno: sizeof(((PyCodeObject *)0)->co_firstlineno)
width_code_firsttraceable: sizeof(((PyCodeObject *)0)->_co_firsttraceable) @ -1
width_bytes_size: sizeof(((PyBytesObject *)0)->ob_base.ob_size)
width_unicode_length: sizeof(((PyASCIIObject *)0)->length)
width_unicode_state: sizeof(((PyASCIIObject *)0)->state)
dbg.runtime_interpreters_head: offsetof(_Py_DebugOffsets, runtime_state.interpreters_head)
dbg.interp_next: offsetof(_Py_DebugOffsets, interpreter_state.next)
dbg.interp_threads_head: offsetof(_Py_DebugOffsets, interpreter_state.threads_head)
dbg.tstate_next: offsetof(_Py_DebugOffsets, thread_state.next)
dbg.tstate_thread_id: offsetof(_Py_DebugOffsets, thread_state.thread_id)
dbg.tstate_native_thread_id: offsetof(_Py_DebugOffsets, thread_state.native_thread_id)
dbg.tstate_frame: offsetof(_Py_DebugOffsets, thread_state.current_frame)
dbg.frame_previous: offsetof(_Py_DebugOffsets, interpreter_frame.previous)
dbg.frame_code: offsetof(_Py_DebugOffsets, interpreter_frame.executable)
dbg.frame_instr: offsetof(_Py_DebugOffsets, interpreter_frame.instr_ptr)
dbg.frame_owner: offsetof(_Py_DebugOffsets, interpreter_frame.owner)
dbg.code_filename: offsetof(_Py_DebugOffsets, code_object.filename)
dbg.code_name: offsetof(_Py_DebugOffsets, code_object.name)
dbg.code_qualname: offsetof(_Py_DebugOffsets, code_object.qualname)
dbg.code_linetable: offsetof(_Py_DebugOffsets, code_object.linetable)
dbg.code_firstlineno: offsetof(_Py_DebugOffsets, code_object.firstlineno)
dbg.code_code_adaptive: offsetof(_Py_DebugOffsets, code_object.co_code_adaptive)
dbg.bytes_size: offsetof(_Py_DebugOffsets, bytes_object.ob_size)
dbg.bytes_data: offsetof(_Py_DebugOffsets, bytes_object.ob_sval)
dbg.unicode_length: offsetof(_Py_DebugOffsets, unicode_object.length)
dbg.unicode_state: offsetof(_Py_DebugOffsets, unicode_object.state)
dbg.unicode_ascii_data: offsetof(_Py_DebugOffsets, unicode_object.asciiobject_size)
'

# Headers: pick up every header that holds one of the structs, wherever this
# version keeps it (3.8: runtime and interpreter state in pycore_pystate.h;
# 3.9+: pycore_runtime.h / pycore_interp.h; 3.11+: pycore_frame.h).
PRELUDE='#include <Python.h>
#include <frameobject.h>
#include <stddef.h>
#include <stdio.h>
#include "pycore_pystate.h"
#if __has_include("pycore_interp.h")
#include "pycore_interp.h"
#endif
#if __has_include("pycore_runtime.h")
#include "pycore_runtime.h"
#endif
#if __has_include("pycore_frame.h")
#include "pycore_frame.h"
#endif'

# ---------------------------------------------------------------------------
# Table dumper: prints our table for X.Y in the probe's format.
# ---------------------------------------------------------------------------
cat >"$WORK/dump_table.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include "py_offsets.h"

#define F(name) printf(#name " %lld\n", (long long)o->name)
#define W(name, width) printf("width_" #name " %d\n", o->name == LB_NO_OFFSET ? -1 : (width))

int main(int argc, char **argv)
{
	if (argc == 2 && argv[1][0] == '-') {
		/* versions without a table */
		static const unsigned none[][2] = { {2, 7}, {3, 6}, {3, 7}, {4, 8} };
		int bad = 0;
		for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
			if (py_offsets_builtin(none[i][0], none[i][1])) {
				printf("unexpected table for %u.%u\n", none[i][0], none[i][1]);
				bad = 1;
			}
		return bad;
	}
	if (argc != 3)
		return 2;
	const struct lb_py_offsets *o = py_offsets_builtin(atoi(argv[1]), atoi(argv[2]));
	if (!o)
		return 1;
	F(version_hex); F(instr_kind); F(thread_match); F(shim_owner);
	F(frame_owner_generator); F(code_tag_mask);
	F(runtime_interpreters_head); F(interp_next); F(interp_threads_head);
	F(tstate_next); F(tstate_thread_id); F(tstate_native_thread_id);
	F(tstate_frame); F(cframe_current_frame);
	F(frame_previous); F(frame_code); F(frame_instr); F(frame_owner);
	F(code_code_adaptive); F(code_firsttraceable);
	F(code_firstlineno); F(code_filename); F(code_name); F(code_qualname);
	F(code_linetable); F(code_code);
	F(bytes_size); F(bytes_data);
	F(unicode_length); F(unicode_state); F(unicode_ascii_data);
	F(unicode_compact_data);
	/* widths the readers assume */
	W(tstate_thread_id, 8); W(tstate_native_thread_id, 8); W(tstate_frame, 8);
	W(frame_previous, 8); W(frame_code, 8);
	W(frame_instr, o->instr_kind == LB_INSTR_POINTER ? 8 : 4);
	W(frame_owner, 1);
	W(code_firstlineno, 4); W(code_firsttraceable, 4);
	W(bytes_size, 8); W(unicode_length, 8); W(unicode_state, 4);
	/* every frame field the BPF walker reads lies in its one frame read */
	const struct { const char *n; int off, width; } fr[] = {
		{ "frame_previous", o->frame_previous, 8 },
		{ "frame_code", o->frame_code, 8 },
		{ "frame_instr", o->frame_instr, o->instr_kind == LB_INSTR_POINTER ? 8 : 4 },
		{ "frame_owner", o->frame_owner, 1 },
	};
	for (size_t i = 0; i < sizeof(fr) / sizeof(fr[0]); i++)
		if (fr[i].off != LB_NO_OFFSET &&
		    (fr[i].off < 0 || fr[i].off + fr[i].width > LB_FRAME_READ_SIZE))
			printf("frame_read_size_violation %s\n", fr[i].n);
	return 0;
}
EOF
# Candidate compile: report errors inside macros (offsetof) at the
# candidate's line (gcc), and report every error (clang stops at 20).
PROBE_FLAGS=()
for flag in -ftrack-macro-expansion=0 -ferror-limit=0; do
	if echo 'int x;' | "$CC" -Werror "$flag" -fsyntax-only -x c - 2>/dev/null; then
		PROBE_FLAGS+=("$flag")
	fi
done

if ! "$CC" -std=gnu11 -Wall -Wextra -Werror -I"$ROOT/include" -I"$ROOT/src/python" \
	"$WORK/dump_table.c" "$ROOT/src/python/py_offsets.c" -o "$WORK/dump_table"; then
	echo "FAIL: src/python/py_offsets.c does not compile warning-free"
	exit 1
fi

# ---------------------------------------------------------------------------
# Run-time check, run by each interpreter: argv[1] = table dump + dbg. offsets.
# Prints "ok FIELD", "FAIL FIELD: why" and "info ..." lines.
# ---------------------------------------------------------------------------
cat >"$WORK/runtime_check.py" <<'EOF'
import ctypes, dis, os, platform, struct, sys, threading

T = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    T[k] = int(v)
NO = -1
ok_fields = set()
failed = set()

def ok(field):
    ok_fields.add(field)

def fail(field, why):
    if field not in failed:     # the first failure of a field says enough
        print("FAIL %s: %s" % (field, why))
    failed.add(field)

def info(msg):
    print("info " + msg)

def check(field, cond, why):
    if cond:
        ok(field)
    else:
        fail(field, why)
    return cond

# --- memory reads that fail instead of crashing on a bad offset -------------
libc = ctypes.CDLL(None, use_errno=True)

class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.POINTER(iovec), ctypes.c_ulong,
                                  ctypes.POINTER(iovec), ctypes.c_ulong, ctypes.c_ulong]
libc.process_vm_readv.restype = ctypes.c_ssize_t
libc.syscall.restype = ctypes.c_long
PID = os.getpid()

class ReadError(Exception):
    pass

def _vm_read(addr, n):
    buf = ctypes.create_string_buffer(n)
    loc = iovec(ctypes.cast(buf, ctypes.c_void_p), n)
    rem = iovec(addr, n)
    if libc.process_vm_readv(PID, ctypes.byref(loc), 1, ctypes.byref(rem), 1, 0) != n:
        raise ReadError("cannot read %d bytes at %#x" % (n, addr))
    return buf.raw

_probe = b"probe-bytes"
try:
    SAFE = _vm_read(id(_probe), 8) == ctypes.string_at(id(_probe), 8)
except ReadError:
    SAFE = False
if not SAFE:
    info("process_vm_readv unavailable: a wrong offset may crash this check")

def read(addr, n):
    if addr is None or addr <= 0 or addr >= 1 << 47:
        raise ReadError("bad address %r" % (addr,))
    if SAFE:
        return _vm_read(addr, n)
    return ctypes.string_at(addr, n)

def ptr(a):
    return struct.unpack("<Q", read(a, 8))[0]

def u64(a):
    return struct.unpack("<Q", read(a, 8))[0]

def i64(a):
    return struct.unpack("<q", read(a, 8))[0]

def i32(a):
    return struct.unpack("<i", read(a, 4))[0]

def u32(a):
    return struct.unpack("<I", read(a, 4))[0]

def u8(a):
    return read(a, 1)[0]

api = ctypes.pythonapi
api.PyThreadState_Get.restype = ctypes.c_void_p
api.PyInterpreterState_Main.restype = ctypes.c_void_p
api.PyInterpreterState_GetID.restype = ctypes.c_int64
api.PyInterpreterState_GetID.argtypes = [ctypes.c_void_p]
RUNTIME = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
X86_64 = platform.machine() == "x86_64"

def guarded(field, fn):
    try:
        fn()
    except ReadError as e:
        fail(field, "unreadable memory: %s" % e)

# --- version ---------------------------------------------------------------
check("version_hex", sys.hexversion & 0xffff0000 == T["version_hex"],
      "interpreter %#x" % sys.hexversion)

# --- interpreters -------------------------------------------------------------
def walk_interps():
    out = []
    a = ptr(RUNTIME + T["runtime_interpreters_head"])
    while a and len(out) < 8:
        out.append(a)
        a = ptr(a + T["interp_next"])
    return out

def check_interps():
    main = api.PyInterpreterState_Main()
    before = walk_interps()
    if not check("runtime_interpreters_head", before == [main],
                 "walk gives %s, main interpreter is %#x" % ([hex(x) for x in before], main)):
        return
    mod = None
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            mod = __import__(name)
            break
        except ImportError:
            pass
    if mod is None:
        info("no subinterpreter module: interp_next only seen as NULL")
        return
    sub = mod.create()
    try:
        after = walk_interps()
        good = len(after) == 2 and after[1] == main and \
            api.PyInterpreterState_GetID(after[0]) == int(sub)
        check("interp_next", good, "with one subinterpreter the walk gives %s"
              % [hex(x) for x in after])
    finally:
        mod.destroy(sub)
    check("interp_next", walk_interps() == [main], "walk wrong after destroy")

guarded("runtime_interpreters_head/interp_next", check_interps)

# --- thread states ------------------------------------------------------------
def fsbase():
    v = ctypes.c_ulong(0)
    if libc.syscall(ctypes.c_long(158), ctypes.c_long(0x1003), ctypes.byref(v)) != 0:
        return None     # arch_prctl(ARCH_GET_FS)
    return v.value

def gettid():
    return libc.syscall(ctypes.c_long(186))

def thread_facts():
    return {"ts": api.PyThreadState_Get(), "ident": threading.get_ident(),
            "native": threading.get_native_id(), "fsbase": fsbase(), "tid": gettid()}

def check_threads():
    ready, done, other = threading.Event(), threading.Event(), {}

    def worker():
        other.update(thread_facts())
        ready.set()
        done.wait()

    th = threading.Thread(target=worker)
    th.start()
    ready.wait()
    try:
        me = thread_facts()
        main = api.PyInterpreterState_Main()
        tss = []
        a = ptr(main + T["interp_threads_head"])
        while a and len(tss) < 256:
            tss.append(a)
            a = ptr(a + T["tstate_next"])
        check("interp_threads_head", me["ts"] in tss or other["ts"] in tss,
              "neither thread's state is in the list %s" % [hex(x) for x in tss])
        check("tstate_next", me["ts"] in tss and other["ts"] in tss,
              "list %s lacks %#x or %#x" % ([hex(x) for x in tss], me["ts"], other["ts"]))
        for t in (me, other):
            check("tstate_thread_id", u64(t["ts"] + T["tstate_thread_id"]) == t["ident"],
                  "thread_id %#x != get_ident %#x" % (u64(t["ts"] + T["tstate_thread_id"]), t["ident"]))
            if T["tstate_native_thread_id"] != NO:
                v = u64(t["ts"] + T["tstate_native_thread_id"])
                check("tstate_native_thread_id", v == t["native"],
                      "native_thread_id %d != get_native_id %d" % (v, t["native"]))
            if not X86_64:
                continue
            if T["thread_match"] == 0:      # LB_MATCH_PTHREAD_FSBASE
                v = u64(t["ts"] + T["tstate_thread_id"])
                check("thread_match", t["fsbase"] is not None and v == t["fsbase"],
                      "thread_id %#x != FS base %r" % (v, t["fsbase"]))
            elif T["thread_match"] == 1:    # LB_MATCH_NATIVE_TID
                if check("thread_match", T["tstate_native_thread_id"] != NO,
                         "native tid matching without a native_thread_id field"):
                    v = u64(t["ts"] + T["tstate_native_thread_id"])
                    check("thread_match", v == t["tid"], "native_thread_id %d != gettid %d"
                          % (v, t["tid"]))
            else:
                fail("thread_match", "unknown value %d" % T["thread_match"])
    finally:
        done.set()
        th.join()

guarded("interp_threads_head/tstate_next", check_threads)

# --- frames -------------------------------------------------------------------
KIND = T["instr_kind"]
GEN = T["frame_owner_generator"]
SHIM = T["shim_owner"]
MASK = T["code_tag_mask"]
stats = {"shim": 0, "incomplete": 0, "gen_frames": 0, "frames": 0}

def capture(tag):
    """Compare the raw frame walk with sys._getframe(), innermost first."""
    py = []
    f = sys._getframe()
    while f is not None:
        py.append((id(f.f_code), f.f_lasti, f.f_code))
        f = f.f_back
    raw = []
    ts = api.PyThreadState_Get()
    fr = ptr(ts + T["tstate_frame"])
    if T["cframe_current_frame"] != NO:
        fr = ptr(fr + T["cframe_current_frame"])
    # the reads themselves run in helper frames (ptr -> read -> _vm_read)
    while fr and len(raw) < 1000:
        owner = u8(fr + T["frame_owner"]) if T["frame_owner"] != NO else None
        code = ptr(fr + T["frame_code"]) & ~MASK
        instr = ptr(fr + T["frame_instr"]) if KIND == 2 else i32(fr + T["frame_instr"])
        raw.append((fr, code, owner, instr))
        fr = ptr(fr + T["frame_previous"])
    return tag, py, raw

HELPERS = [c.__code__ for c in (_vm_read, read, ptr)]

def compare(tag, py, raw):
    # the walk started in the frames of the helpers that read current_frame
    helpers = [id(c) for c in (HELPERS if SAFE else HELPERS[1:])]
    if not check("tstate_frame", [c for _, c, _, _ in raw[:len(helpers)]] == helpers,
                 "%s: walk does not start in the reading helpers" % tag):
        return
    raw = raw[len(helpers):]
    shown = []
    for fr, code, owner, instr in raw:
        if owner is not None:
            if SHIM != 0xff and owner == SHIM:
                stats["shim"] += 1
                continue
            if not check("frame_owner", owner in (0, 1, 2),
                         "%s: owner %d of frame %#x" % (tag, owner, fr)):
                return
            if owner == GEN:
                stats["gen_frames"] += 1
        if KIND == 2:
            # _PyFrame_IsIncomplete(): not yet at the first traceable instruction
            first = code + T["code_code_adaptive"] + 2 * i32(code + T["code_firsttraceable"])
            if owner != GEN and instr < first:
                stats["incomplete"] += 1
                continue
        shown.append((code, owner, instr))
    codes = [c for c, _, _ in shown]
    want = [c for c, _, _ in py]
    if not check("frame_code", codes == want, "%s: raw walk %s, sys._getframe %s"
                 % (tag, [hex(c) for c in codes], [hex(c) for c in want])):
        return
    for field in ("tstate_frame", "cframe_current_frame", "frame_previous", "code_tag_mask"):
        if T[field] != NO or field == "code_tag_mask":
            ok(field)
    stats["frames"] += len(shown)
    for (code, owner, instr), (_, lasti, co) in list(zip(shown, py))[1:]:
        if KIND == 0:
            got = instr
        elif KIND == 1:
            got = instr * 2
        else:
            got = instr - (code + T["code_code_adaptive"])
        if lasti >= 0:
            check("frame_instr", got == lasti, "%s: %s raw instr gives %d, f_lasti %d"
                  % (tag, co.co_name, got, lasti))
            check("instr_kind", got == lasti, "%s: kind %d gives %d, f_lasti %d"
                  % (tag, KIND, got, lasti))

captures = []

def leaf(tag):
    captures.append(capture(tag))

def middle(tag):
    leaf(tag)

class K:
    def __init__(self):
        leaf("__init__")

def gen():
    leaf("generator")
    yield 1

async def coro():
    leaf("coroutine")

def closure():
    cell = 1
    def inner():
        leaf("closure")
        return cell
    return inner

def run_scenarios():
    middle("direct")
    list(map(lambda _: middle("map"), [0]))
    sorted([2, 1], key=lambda x: (leaf("sort-key"), x)[1])
    for _ in range(40):     # let 3.12+/3.13 specialise the class call
        K()
    for _ in gen():
        pass
    c = coro()
    try:
        c.send(None)
    except StopIteration:
        pass
    closure()()
    th = threading.Thread(target=middle, args=("thread",))
    th.start()
    th.join()

def check_frames():
    run_scenarios()
    for tag, py, raw in captures:
        compare(tag, py, raw)
    info("frames compared %(frames)d, generator frames %(gen_frames)d, "
         "C-stack shims hidden %(shim)d, incomplete frames hidden %(incomplete)d" % stats)
    if T["frame_owner"] != NO:
        check("frame_owner_generator", stats["gen_frames"] >= 2,
              "no frame had owner %d inside a generator/coroutine" % GEN)
        ok("frame_owner")
    if SHIM != 0xff:
        # every entry into the eval loop pushes one: at least one per capture
        check("shim_owner", stats["shim"] >= len(captures),
              "%d shim frames in %d captures" % (stats["shim"], len(captures)))
    else:
        ok("shim_owner")        # no owner value was ever unexplained (checked above)
    if T["frame_owner"] == NO:
        ok("frame_owner_generator")

guarded("tstate_frame/frame_*", check_frames)

# --- code objects -------------------------------------------------------------
def first_resume(co):
    resume = dis.opmap["RESUME"]
    raw = co.co_code
    for i in range(0, len(raw), 2):
        if raw[i] == resume:
            return i // 2
    return 0

def check_code(co):
    a = id(co)
    check("code_firstlineno", i32(a + T["code_firstlineno"]) == co.co_firstlineno,
          "%s: co_firstlineno" % co.co_name)
    check("code_filename", ptr(a + T["code_filename"]) == id(co.co_filename),
          "%s: co_filename" % co.co_name)
    check("code_name", ptr(a + T["code_name"]) == id(co.co_name), "%s: co_name" % co.co_name)
    if T["code_qualname"] != NO:
        check("code_qualname", ptr(a + T["code_qualname"]) == id(co.co_qualname),
              "%s: co_qualname" % co.co_name)
    else:
        check("code_qualname", not hasattr(co, "co_qualname"),
              "interpreter has co_qualname but the table has none")
    lt = co.co_lnotab if sys.version_info < (3, 10) else co.co_linetable
    check("code_linetable", ptr(a + T["code_linetable"]) == id(lt), "%s: line table" % co.co_name)
    if T["code_code"] != NO:
        check("code_code", ptr(a + T["code_code"]) == id(co.co_code), "%s: co_code" % co.co_name)
    if T["code_code_adaptive"] != NO:
        ad = co._co_code_adaptive
        check("code_code_adaptive", read(a + T["code_code_adaptive"], len(ad)) == ad,
              "%s: bytes differ from _co_code_adaptive" % co.co_name)
        ft = i32(a + T["code_firsttraceable"])
        check("code_firsttraceable", ft == first_resume(co),
              "%s: %d, first RESUME at %d" % (co.co_name, ft, first_resume(co)))
        return ft
    else:
        check("code_code_adaptive", not hasattr(co, "_co_code_adaptive"),
              "interpreter has inline bytecode but the table has none")
        ok("code_firsttraceable")
    return 0

def check_codes():
    mod = compile("x = 1\ny = x + 1\n", "<offsets>", "exec")
    exec(mod, {})
    cos = [capture.__code__, gen.__code__, coro.__code__, closure.__code__,
           closure().__code__, K.__init__.__code__, mod, (lambda: 0).__code__]
    fts = [check_code(co) for co in cos]
    if T["code_firsttraceable"] != NO:
        check("code_firsttraceable", any(fts), "all _co_firsttraceable were 0: weak test")

guarded("code_*", check_codes)

# --- bytes and str ------------------------------------------------------------
def check_objects():
    b = bytes(range(1, 200)) + b"leakbpf"
    check("bytes_size", i64(id(b) + T["bytes_size"]) == len(b), "bytes length")
    check("bytes_data", read(id(b) + T["bytes_data"], len(b) + 1) == b + b"\0", "bytes data")
    cases = [("ascii text %d" % os.getpid(), 1, "ascii"),
             ("latin-1 caf\xe9 %d" % os.getpid(), 1, "latin-1"),
             ("bmp \u20ac %d" % os.getpid(), 2, "utf-16-le"),
             ("astral \U0001F600 %d" % os.getpid(), 4, "utf-32-le")]
    for s, kind, enc in cases:
        a = id(s)
        check("unicode_length", i64(a + T["unicode_length"]) == len(s), "%r: length" % s)
        st = u32(a + T["unicode_state"])
        ascii_ = enc == "ascii"
        check("unicode_state", (st >> 2) & 7 == kind and bool(st & 0x20) and
              bool(st & 0x40) == ascii_,
              "%r: state %#x (want kind %d, compact, ascii=%s)" % (s, st, kind, ascii_))
        data = s.encode(enc)
        field = "unicode_ascii_data" if ascii_ else "unicode_compact_data"
        off = T[field]
        check(field, read(a + off, len(data)) == data, "%r: data at +%d" % (s, off))

guarded("bytes_*/unicode_*", check_objects)

# --- _Py_DebugOffsets (3.13+) -------------------------------------------------
def check_debug_offsets():
    dbg = {k[4:]: v for k, v in T.items() if k.startswith("dbg.")}
    if not dbg:
        return
    check("version_hex", read(RUNTIME, 8) == b"xdebugpy", "no _Py_DebugOffsets cookie")
    check("version_hex", u64(RUNTIME + 8) & 0xffff0000 == T["version_hex"],
          "_Py_DebugOffsets.version %#x" % u64(RUNTIME + 8))
    for field, off in sorted(dbg.items()):
        v = u64(RUNTIME + off)
        check(field, v == T[field], "_Py_DebugOffsets says %d" % v)
    info("_Py_DebugOffsets agrees on %d fields" % len(dbg))

guarded("_Py_DebugOffsets", check_debug_offsets)

for field in sorted(ok_fields - failed):
    print("ok " + field)
EOF

# ---------------------------------------------------------------------------
# Per-install check. Prints failure lines (without the version prefix) on
# stdout; returns non-zero on failure.
# ---------------------------------------------------------------------------
check_install() {
	local ver=$1 inc=$2 py=$3 dir=$4
	local major=${ver%%.*} minor=${ver#*.}

	# 1. which candidate compiles
	local src="$dir/exist.c" n=0 line
	printf '%s\n' "$PRELUDE" >"$src"
	local base
	base=$(wc -l <"$src")
	: >"$dir/cands"
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		local name=${line%%:*} rest=${line#*: } i=0 cand
		while :; do
			cand=${rest%% @ *}
			cand=$(echo "$cand" | sed 's/^ *//; s/ *$//')
			n=$((n + 1)); i=$((i + 1))
			printf '%s\t%s\t%s\n' "$name" "$i" "$cand" >>"$dir/cands"
			if [ "$cand" = runtime ]; then
				echo "static void cand_$n(void) { }" >>"$src"
			else
				echo "static long long cand_$n(void) { return (long long)($cand); }" >>"$src"
			fi
			[ "$rest" != "${rest#* @ }" ] || break
			rest=${rest#* @ }
		done
	done <<<"$SPEC"
	"$CC" -std=gnu11 -fsyntax-only -w ${PROBE_FLAGS[@]+"${PROBE_FLAGS[@]}"} -DPy_BUILD_CORE \
		-I"$inc" -I"$inc/internal" "$src" >"$dir/exist.log" 2>&1 || true
	# Errors outside the candidate lines mean the prelude itself is broken;
	# the others ("exist.c:LINE:COL: error: ...") name failing candidates.
	if ! awk -v src="$src:" -v base="$base" '
		/: (fatal )?error:/ {
			if (index($0, src) != 1) { broken = 1; next }
			split(substr($0, length(src) + 1), f, ":")
			if (f[1] + 0 <= base) broken = 1; else print f[1] + 0
		}
		END { exit broken }' "$dir/exist.log" >"$dir/errlines.raw"; then
		echo "header prelude does not compile (see $dir/exist.log)"
		return 1
	fi
	sort -un "$dir/errlines.raw" >"$dir/errlines"
	# choose, per field, the first candidate whose line compiled
	awk -F'\t' -v base="$base" 'NR == FNR { bad[$1] = 1; next }
		{ n++; if (($1 in done)) next;
		  if (!((base + n) in bad)) { done[$1] = 1; print $1 "\t" $3 } }' \
		"$dir/errlines" "$dir/cands" >"$dir/chosen"

	# 2. header values
	{
		printf '%s\n' "$PRELUDE"
		echo "int main(void) {"
		while IFS=$'\t' read -r name cand; do
			if [ "$cand" = runtime ]; then
				echo "	puts(\"$name runtime\");"
			else
				printf '\tprintf("%s %%lld\\n", (long long)(%s));\n' "$name" "$cand"
			fi
		done <"$dir/chosen"
		echo "	return 0; }"
	} >"$dir/probe.c"
	if ! "$CC" -std=gnu11 -w -DPy_BUILD_CORE -I"$inc" -I"$inc/internal" \
		"$dir/probe.c" -o "$dir/probe" >"$dir/probe.log" 2>&1; then
		echo "header probe does not compile (see $dir/probe.log)"
		return 1
	fi
	"$dir/probe" >"$dir/header.txt"
	if ! "$WORK/dump_table" "$major" "$minor" >"$dir/table.txt"; then
		echo "no built-in table"
		return 1
	fi
	grep -v '^frame_read_size_violation' "$dir/table.txt" >"$dir/table_fields.txt" || true

	# 3. run time
	{ cat "$dir/table_fields.txt"; grep '^dbg\.' "$dir/header.txt" || true; } >"$dir/runtime_in.txt"
	local rc=0
	"$py" -I "$WORK/runtime_check.py" "$dir/runtime_in.txt" >"$dir/runtime.txt" 2>&1 || rc=$?

	# 4. verdict
	local out
	out=$(awk -v rc="$rc" -v dir="$dir" '
		FILENAME ~ /header.txt$/ { hdr[$1] = $2; next }
		FILENAME ~ /runtime.txt$/ {
			if ($1 == "ok") rok[$2] = 1
			else if ($1 == "FAIL") {
				f = $2; sub(/:$/, "", f); rfail[f] = 1
				sub(/^FAIL /, ""); print "field " $0; bad = 1
			}
			next
		}
		$1 == "frame_read_size_violation" {
			print "field " $2 ": lies beyond LB_FRAME_READ_SIZE"; bad = 1; next
		}
		{
			name = $1; val = $2; checked = 0
			if (name in hdr && hdr[name] != "runtime") {
				if (hdr[name] != val) {
					print "field " name ": header=" hdr[name] " table=" val; bad = 1
				}
				checked = 1
			}
			if (name in rok || name in rfail) checked = 1
			if (!checked && name !~ /^width_/) {
				print "field " name ": confirmed neither by the headers nor at run time"
				bad = 1
			}
			if (!checked && name ~ /^width_/) {
				print "field " name ": header cannot answer"; bad = 1
			}
		}
		END {
			if (rc != 0) { print "run-time check exited with status " rc " (see " dir "/runtime.txt)"; bad = 1 }
			exit bad
		}' "$dir/header.txt" "$dir/runtime.txt" "$dir/table.txt")
	rc=$?
	[ -z "$out" ] || printf '%s\n' "$out"
	return $rc
}

"$WORK/dump_table" - >"$WORK/unknown.txt" || {
	echo "FAIL: py_offsets_builtin() returns a table for an unsupported version:"
	cat "$WORK/unknown.txt"
	exit 1
}

passed=0 failed=0
for minor in 8 9 10 11 12 13; do
	ver=3.$minor
	installs=()
	for d in "$PYENV_VERSIONS/$ver".[0-9]*; do
		case ${d##*/} in
		*[!0-9.]*) continue ;;		# 3.13.0t (free-threaded), -dev, ...
		esac
		[ -d "$d/include/python$ver" ] || continue
		if grep -qE '^#define (Py_GIL_DISABLED|Py_TRACE_REFS) 1' \
			"$d/include/python$ver/pyconfig.h" 2>/dev/null; then
			continue		# not a default GIL build
		fi
		installs+=("$d")
	done
	if [ ${#installs[@]} -eq 0 ]; then
		echo "skip $ver: not installed"
		continue
	fi
	vfail=0
	for d in "${installs[@]}"; do
		dir="$WORK/${d##*/}"
		mkdir -p "$dir"
		if ! msgs=$(check_install "$ver" "$d/include/python$ver" \
			"$d/bin/python$ver" "$dir"); then
			vfail=1
			printf '%s\n' "$msgs" | while IFS= read -r m; do
				echo "FAIL $ver: ${m} [${d##*/}]"
			done
		elif [ "$VERBOSE" != 0 ]; then
			grep '^info' "$dir/runtime.txt" | sed "s/^/# ${d##*/}: /"
		fi
	done
	if [ $vfail -eq 0 ]; then
		echo "ok $ver ($(for d in "${installs[@]}"; do printf '%s ' "${d##*/}"; done | sed 's/ $//'))"
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
