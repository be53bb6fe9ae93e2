/* SPDX-License-Identifier: MIT */
/*
 * Per-version CPython layouts (x86_64, default GIL builds).
 *
 * Sources: offsetof()/sizeof() against each version's own headers
 * (Include/, Include/cpython/, Include/internal/ with Py_BUILD_CORE) and the
 * live interpreters; tests/unit/check_py_offsets.sh re-derives every value
 * from the installed pyenv interpreters and fails on any disagreement.
 *
 * Struct members behind each field:
 *   runtime_interpreters_head  _PyRuntimeState.interpreters.head
 *   interp_next                PyInterpreterState.next
 *   interp_threads_head        PyInterpreterState.tstate_head (<3.11),
 *                              .threads.head (3.11+)
 *   tstate_next / _thread_id   PyThreadState.next / .thread_id (pthread_self)
 *   tstate_native_thread_id    PyThreadState.native_thread_id (3.11+, gettid)
 *   tstate_frame               PyThreadState.frame (<3.11), .cframe (3.11,
 *                              3.12), .current_frame (3.13)
 *   cframe_current_frame       _PyCFrame.current_frame (3.11, 3.12)
 *   frame_*                    PyFrameObject f_back/f_code/f_lasti (<3.11);
 *                              _PyInterpreterFrame previous/f_code/prev_instr
 *                              (3.11, 3.12), previous/f_executable/instr_ptr
 *                              (3.13), owner (3.11+)
 *   code_*                     PyCodeObject members; code_linetable is
 *                              co_lnotab in 3.8/3.9, co_linetable after
 */
#include <stddef.h>

#include "py_offsets.h"

#define NO LB_NO_OFFSET
#define NO_OWNER 0xff

/*
 * A frame field the BPF walker reads from its one LB_FRAME_READ_SIZE-byte
 * copy of the frame: the whole field (offset + width) must lie inside it.
 * The _Static_assert sits in a struct declaration inside sizeof, which makes
 * it usable in an initialiser; the expression's value is the offset itself.
 */
#define FRAME_FIELD(off, width)						\
	((__s16)((off) + 0 * sizeof(struct {				\
		_Static_assert((off) == LB_NO_OFFSET ||			\
			       ((off) >= 0 &&				\
				(off) + (width) <= LB_FRAME_READ_SIZE),	\
			       "frame field outside LB_FRAME_READ_SIZE"); \
		int dummy;						\
	})))

/* Widths of the frame fields as the walker reads them. */
#define W_PTR 8		/* f_back / previous, f_code / f_executable, instr ptr */
#define W_LASTI 4	/* int f_lasti */
#define W_OWNER 1	/* char owner */

static const struct lb_py_offsets py38 = {
	.version_hex = 0x03080000,
	.instr_kind = LB_INSTR_LASTI_BYTES,
	.thread_match = LB_MATCH_PTHREAD_FSBASE,
	.shim_owner = NO_OWNER,
	.frame_owner_generator = NO_OWNER,
	.code_tag_mask = 0,
	.runtime_interpreters_head = 32,
	.interp_next = 0,
	.interp_threads_head = 8,
	.tstate_next = 8,
	.tstate_thread_id = 176,
	.tstate_native_thread_id = NO,
	.tstate_frame = 24,
	.cframe_current_frame = NO,
	.frame_previous = FRAME_FIELD(24, W_PTR),
	.frame_code = FRAME_FIELD(32, W_PTR),
	.frame_instr = FRAME_FIELD(104, W_LASTI),
	.frame_owner = FRAME_FIELD(NO, W_OWNER),
	.code_code_adaptive = NO,
	.code_firsttraceable = NO,
	.code_firstlineno = 40,
	.code_filename = 104,
	.code_name = 112,
	.code_qualname = NO,
	.code_linetable = 120,		/* co_lnotab */
	.code_code = 48,
	.bytes_size = 16,
	.bytes_data = 32,
	.unicode_length = 16,
	.unicode_state = 32,
	.unicode_ascii_data = 48,
	.unicode_compact_data = 72,
};

static const struct lb_py_offsets py39 = {
	.version_hex = 0x03090000,
	.instr_kind = LB_INSTR_LASTI_BYTES,
	.thread_match = LB_MATCH_PTHREAD_FSBASE,
	.shim_owner = NO_OWNER,
	.frame_owner_generator = NO_OWNER,
	.code_tag_mask = 0,
	.runtime_interpreters_head = 32,
	.interp_next = 0,
	.interp_threads_head = 8,
	.tstate_next = 8,
	.tstate_thread_id = 176,
	.tstate_native_thread_id = NO,
	.tstate_frame = 24,
	.cframe_current_frame = NO,
	.frame_previous = FRAME_FIELD(24, W_PTR),
	.frame_code = FRAME_FIELD(32, W_PTR),
	.frame_instr = FRAME_FIELD(104, W_LASTI),
	.frame_owner = FRAME_FIELD(NO, W_OWNER),
	.code_code_adaptive = NO,
	.code_firsttraceable = NO,
	.code_firstlineno = 40,
	.code_filename = 104,
	.code_name = 112,
	.code_qualname = NO,
	.code_linetable = 120,		/* co_lnotab */
	.code_code = 48,
	.bytes_size = 16,
	.bytes_data = 32,
	.unicode_length = 16,
	.unicode_state = 32,
	.unicode_ascii_data = 48,
	.unicode_compact_data = 72,
};

static const struct lb_py_offsets py310 = {
	.version_hex = 0x030a0000,
	.instr_kind = LB_INSTR_LASTI_UNITS,
	.thread_match = LB_MATCH_PTHREAD_FSBASE,
	.shim_owner = NO_OWNER,
	.frame_owner_generator = NO_OWNER,
	.code_tag_mask = 0,
	.runtime_interpreters_head = 32,
	.interp_next = 0,
	.interp_threads_head = 8,
	.tstate_next = 8,
	.tstate_thread_id = 176,
	.tstate_native_thread_id = NO,
	.tstate_frame = 24,
	.cframe_current_frame = NO,
	.frame_previous = FRAME_FIELD(24, W_PTR),
	.frame_code = FRAME_FIELD(32, W_PTR),
	.frame_instr = FRAME_FIELD(96, W_LASTI),
	.frame_owner = FRAME_FIELD(NO, W_OWNER),
	.code_code_adaptive = NO,
	.code_firsttraceable = NO,
	.code_firstlineno = 40,
	.code_filename = 104,
	.code_name = 112,
	.code_qualname = NO,
	.code_linetable = 120,		/* co_linetable */
	.code_code = 48,
	.bytes_size = 16,
	.bytes_data = 32,
	.unicode_length = 16,
	.unicode_state = 32,
	.unicode_ascii_data = 48,
	.unicode_compact_data = 72,
};

static const struct lb_py_offsets py311 = {
	.version_hex = 0x030b0000,
	.instr_kind = LB_INSTR_POINTER,
	.thread_match = LB_MATCH_NATIVE_TID,
	.shim_owner = NO_OWNER,		/* 3.11 has no C-stack shim frames */
	.frame_owner_generator = 1,
	.code_tag_mask = 0,
	.runtime_interpreters_head = 40,
	.interp_next = 0,
	.interp_threads_head = 16,
	.tstate_next = 8,
	.tstate_thread_id = 152,
	.tstate_native_thread_id = 160,
	.tstate_frame = 56,		/* cframe */
	.cframe_current_frame = 8,
	.frame_previous = FRAME_FIELD(48, W_PTR),
	.frame_code = FRAME_FIELD(32, W_PTR),
	.frame_instr = FRAME_FIELD(56, W_PTR),
	.frame_owner = FRAME_FIELD(69, W_OWNER),
	.code_code_adaptive = 184,
	.code_firsttraceable = 168,
	.code_firstlineno = 72,
	.code_filename = 112,
	.code_name = 120,
	.code_qualname = 128,
	.code_linetable = 136,
	.code_code = NO,
	.bytes_size = 16,
	.bytes_data = 32,
	.unicode_length = 16,
	.unicode_state = 32,
	.unicode_ascii_data = 48,
	.unicode_compact_data = 72,
};

static const struct lb_py_offsets py312 = {
	.version_hex = 0x030c0000,
	.instr_kind = LB_INSTR_POINTER,
	.thread_match = LB_MATCH_NATIVE_TID,
	.shim_owner = 3,		/* FRAME_OWNED_BY_CSTACK */
	.frame_owner_generator = 1,
	.code_tag_mask = 0,
	.runtime_interpreters_head = 40,
	.interp_next = 0,
	.interp_threads_head = 72,
	.tstate_next = 8,
	.tstate_thread_id = 136,
	.tstate_native_thread_id = 144,
	.tstate_frame = 56,		/* cframe */
	.cframe_current_frame = 0,
	.frame_previous = FRAME_FIELD(8, W_PTR),
	.frame_code = FRAME_FIELD(0, W_PTR),
	.frame_instr = FRAME_FIELD(56, W_PTR),
	.frame_owner = FRAME_FIELD(70, W_OWNER),
	.code_code_adaptive = 192,
	.code_firsttraceable = 176,
	.code_firstlineno = 68,
	.code_filename = 112,
	.code_name = 120,
	.code_qualname = 128,
	.code_linetable = 136,
	.code_code = NO,
	.bytes_size = 16,
	.bytes_data = 32,
	.unicode_length = 16,
	.unicode_state = 32,
	.unicode_ascii_data = 40,
	.unicode_compact_data = 56,
};

static const struct lb_py_offsets py313 = {
	.version_hex = 0x030d0000,
	.instr_kind = LB_INSTR_POINTER,
	.thread_match = LB_MATCH_NATIVE_TID,
	.shim_owner = 3,		/* FRAME_OWNED_BY_CSTACK */
	.frame_owner_generator = 1,
	.code_tag_mask = 0,		/* f_executable is an untagged PyObject * */
	.runtime_interpreters_head = 632,
	.interp_next = 7264,
	.interp_threads_head = 7344,
	.tstate_next = 8,
	.tstate_thread_id = 152,
	.tstate_native_thread_id = 160,
	.tstate_frame = 72,		/* current_frame */
	.cframe_current_frame = NO,
	.frame_previous = FRAME_FIELD(8, W_PTR),
	.frame_code = FRAME_FIELD(0, W_PTR),
	.frame_instr = FRAME_FIELD(56, W_PTR),
	.frame_owner = FRAME_FIELD(70, W_OWNER),
	.code_code_adaptive = 200,
	.code_firsttraceable = 184,
	.code_firstlineno = 68,
	.code_filename = 112,
	.code_name = 120,
	.code_qualname = 128,
	.code_linetable = 136,
	.code_code = NO,
	.bytes_size = 16,
	.bytes_data = 32,
	.unicode_length = 16,
	.unicode_state = 32,
	.unicode_ascii_data = 40,
	.unicode_compact_data = 56,
};

const struct lb_py_offsets *py_offsets_builtin(unsigned major, unsigned minor)
{
	if (major != 3)
		return NULL;
	switch (minor) {
	case 8: return &py38;
	case 9: return &py39;
	case 10: return &py310;
	case 11: return &py311;
	case 12: return &py312;
	case 13: return &py313;
	default: return NULL;
	}
}
