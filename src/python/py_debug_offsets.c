// SPDX-License-Identifier: MIT
/*
 * CPython 3.13+ describes its own layout in _Py_DebugOffsets, the first
 * member of _PyRuntime, for out-of-process tools like this one. Reading it
 * from the live process (cookie and version checked) gives the offsets of
 * that exact build, so a new micro release needs no table. The struct itself
 * is laid out per minor version: 3.13's is mirrored here (from the installed
 * Include/internal/pycore_runtime.h, checked by the unit tests).
 *
 * What it does not say (owner values of shim frames, the tag bits of
 * f_executable, _co_firsttraceable, the sizes of compact unicode headers)
 * comes from the built-in table of the same minor version.
 */
#include "py_debug_offsets.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proc.h"

#define COOKIE "xdebugpy"

/* _Py_DebugOffsets of 3.13, every member a uint64_t. */
struct debug_offsets_313 {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct { uint64_t size, finalizing, interpreters_head; } runtime_state;
	struct {
		uint64_t size, id, next, threads_head, gc, imports_modules, sysdict,
			 builtins, ceval_gil, gil_runtime_state, gil_runtime_state_enabled,
			 gil_runtime_state_locked, gil_runtime_state_holder;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id,
			 native_thread_id, datastack_chunk, status;
	} thread_state;
	struct { uint64_t size, previous, executable, instr_ptr, localsplus, owner; } interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable, firstlineno, argcount,
			 localsplusnames, localspluskinds, co_code_adaptive;
	} code_object;
	struct { uint64_t size, ob_type; } pyobject;
	struct { uint64_t size, tp_name, tp_repr, tp_flags; } type_object;
	struct { uint64_t size, ob_item, ob_size; } tuple_object;
	struct { uint64_t size, ob_item, ob_size; } list_object;
	struct { uint64_t size, ma_keys, ma_values; } dict_object;
	struct { uint64_t size, ob_fval; } float_object;
	struct { uint64_t size, lv_tag, ob_digit; } long_object;
	struct { uint64_t size, ob_size, ob_sval; } bytes_object;
	struct { uint64_t size, state, length, asciiobject_size; } unicode_object;
	struct { uint64_t size, collecting; } gc;
};

/* An offset taken from the process: it must fit the table's field. */
static int take(int16_t *field, uint64_t value, uint64_t limit)
{
	if (value >= limit || value > INT16_MAX)
		return -ERANGE;
	*field = (int16_t)value;
	return 0;
}

/* The process says how big its own structs are, and a process can say
 * anything (a pod that rewrites its _Py_DebugOffsets): a field read out of
 * one of our copies must lie inside that copy too, whatever it claims. */
static uint64_t within(uint64_t claimed, uint64_t ours)
{
	return claimed < ours ? claimed : ours;
}

/* Code-object fields are read from the first LB_CAPTURE_CODE_BYTES of it
 * (BPF's copy, the symboliser's read); str and bytes headers from the
 * first UNICODE_HEAD_MAX bytes. */
#define CODE_FIELDS_MAX (LB_CAPTURE_CODE_BYTES - 8)
#define UNICODE_HEAD_MAX 88
#define ADAPTIVE_MAX 4096	/* co_code_adaptive: sizeof(PyCodeObject) is ~200 */

int py_debug_offsets_apply(const void *raw, size_t len, unsigned minor,
			   struct lb_py_offsets *off, char *why, size_t why_len)
{
	const struct debug_offsets_313 *d = raw;
	uint64_t want = 0x03000000ull | (uint64_t)minor << 16;
	int err = 0;

	if (len < sizeof(*d)) {
		snprintf(why, why_len, "_Py_DebugOffsets cut short");
		return -EPROTO;
	}
	if (memcmp(d->cookie, COOKIE, 8)) {
		snprintf(why, why_len, "_PyRuntime does not start with _Py_DebugOffsets (no \"xdebugpy\" cookie)");
		return -EPROTO;
	}
	if ((d->version & 0xffff0000ull) != want) {
		snprintf(why, why_len, "_Py_DebugOffsets says version 0x%llx, the binary says 3.%u",
			 (unsigned long long)d->version, minor);
		return -EPROTO;
	}
	if (d->free_threaded) {
		snprintf(why, why_len, "free-threaded build (no GIL), which leakbpf does not support");
		return -ENOTSUP;
	}
	/* owner and the instruction pointer must lie in the BPF side's one
	 * read of a frame; names and tables are read by userspace */
	err = err ?: take(&off->runtime_interpreters_head, d->runtime_state.interpreters_head,
			  d->runtime_state.size);
	err = err ?: take(&off->interp_next, d->interpreter_state.next, d->interpreter_state.size);
	err = err ?: take(&off->interp_threads_head, d->interpreter_state.threads_head,
			  d->interpreter_state.size);
	err = err ?: take(&off->tstate_next, d->thread_state.next, d->thread_state.size);
	err = err ?: take(&off->tstate_thread_id, d->thread_state.thread_id, d->thread_state.size);
	err = err ?: take(&off->tstate_native_thread_id, d->thread_state.native_thread_id,
			  d->thread_state.size);
	err = err ?: take(&off->tstate_frame, d->thread_state.current_frame, d->thread_state.size);
	err = err ?: take(&off->frame_previous, d->interpreter_frame.previous, LB_FRAME_READ_SIZE - 7);
	err = err ?: take(&off->frame_code, d->interpreter_frame.executable, LB_FRAME_READ_SIZE - 7);
	err = err ?: take(&off->frame_instr, d->interpreter_frame.instr_ptr, LB_FRAME_READ_SIZE - 7);
	err = err ?: take(&off->frame_owner, d->interpreter_frame.owner, LB_FRAME_READ_SIZE);
	err = err ?: take(&off->code_filename, d->code_object.filename,
			  within(d->code_object.size, CODE_FIELDS_MAX));
	err = err ?: take(&off->code_name, d->code_object.name,
			  within(d->code_object.size, CODE_FIELDS_MAX));
	err = err ?: take(&off->code_qualname, d->code_object.qualname,
			  within(d->code_object.size, CODE_FIELDS_MAX));
	err = err ?: take(&off->code_linetable, d->code_object.linetable,
			  within(d->code_object.size, CODE_FIELDS_MAX));
	err = err ?: take(&off->code_firstlineno, d->code_object.firstlineno,
			  within(d->code_object.size, CODE_FIELDS_MAX));
	err = err ?: take(&off->code_code_adaptive, d->code_object.co_code_adaptive,
			  within(d->code_object.size + 1, ADAPTIVE_MAX));
	err = err ?: take(&off->bytes_size, d->bytes_object.ob_size,
			  within(d->bytes_object.size, UNICODE_HEAD_MAX));
	err = err ?: take(&off->bytes_data, d->bytes_object.ob_sval,
			  within(d->bytes_object.size + 1, UNICODE_HEAD_MAX));
	err = err ?: take(&off->unicode_state, d->unicode_object.state,
			  within(d->unicode_object.size, UNICODE_HEAD_MAX));
	err = err ?: take(&off->unicode_length, d->unicode_object.length,
			  within(d->unicode_object.size, UNICODE_HEAD_MAX));
	err = err ?: take(&off->unicode_ascii_data, d->unicode_object.asciiobject_size,
			  within(d->unicode_object.size + 1, UNICODE_HEAD_MAX));
	if (err)
		snprintf(why, why_len, "its _Py_DebugOffsets holds an offset out of range (changed by the program, or not a CPython build leakbpf knows)");
	/* 3.13 has no _PyCFrame: the thread state points at the frame */
	off->cframe_current_frame = LB_NO_OFFSET;
	return err;
}

size_t py_debug_offsets_size(void)
{
	return sizeof(struct debug_offsets_313);
}

int py_debug_offsets_read(pid_t pid, uint64_t runtime_addr, unsigned minor,
			  struct lb_py_offsets *off, char *why, size_t why_len)
{
	struct debug_offsets_313 d;
	int err;

	if (minor != 13) {
		snprintf(why, why_len, "leakbpf knows the _Py_DebugOffsets layout of 3.13 only, not 3.%u", minor);
		return -ENOTSUP;
	}
	err = proc_read_mem(pid, runtime_addr, &d, sizeof(d));
	if (err) {
		snprintf(why, why_len, "cannot read _Py_DebugOffsets: %s", strerror(-err));
		return err;
	}
	return py_debug_offsets_apply(&d, sizeof(d), minor, off, why, why_len);
}
