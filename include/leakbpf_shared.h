/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Types, limits and record layouts shared by the BPF programs (bpf/) and the
 * userspace loader (src/). This is the only place they are defined: both sides
 * include this file, so a layout change can never be made on one side alone.
 * Fixed-width types only; no pointers (BPF and userspace disagree on them).
 */
#ifndef LEAKBPF_SHARED_H
#define LEAKBPF_SHARED_H

#ifdef __BPF__
/* vmlinux.h provides __u64 and friends on the BPF side. */
#else
#include <linux/types.h>
#endif

/* Deepest Python stack the BPF walker records; deeper stacks are truncated
 * (and marked). The runtime limit (--max-depth) may only lower it. */
#define LB_MAX_PY_DEPTH 64
/* Bytes of an interpreter frame read in one go: every field the walker needs
 * (previous, code, instruction, owner) lies in the first 128 bytes on all
 * supported versions, so a frame costs one bpf_probe_read_user. */
#define LB_FRAME_READ_SIZE 128
/* Native (user-space) frames kept per stack, innermost first. Kept inside
 * the stack record, not in a BPF stack-trace map: that map's buckets collide
 * (-EEXIST) and a collision loses the stack. */
#define LB_MAX_NATIVE_DEPTH 32
/* Interpreters and threads the walker visits looking for a thread's state. */
#define LB_MAX_INTERPRETERS 4
#define LB_MAX_THREADS 256

/* Reserved stack keys. Real keys are hashes and never take these values. */
#define LB_STACK_KEY_OVERFLOW 1ULL	/* stack or totals map was full */

/* How an interpreter frame says which instruction it is executing. */
enum lb_instr_kind {
	LB_INSTR_LASTI_BYTES = 0,	/* 3.8/3.9: int f_lasti, byte offset */
	LB_INSTR_LASTI_UNITS = 1,	/* 3.10: int f_lasti, 2-byte code units */
	LB_INSTR_POINTER = 2,		/* 3.11+: pointer into co_code_adaptive */
};

/* How the walker recognises "this thread state belongs to the current task". */
enum lb_thread_match {
	LB_MATCH_PTHREAD_FSBASE = 0,	/* 3.8-3.10: thread_id == task fsbase */
	LB_MATCH_NATIVE_TID = 1,	/* 3.11+: native_thread_id == tid */
};

#define LB_NO_OFFSET (-1)

/*
 * Layout of one CPython minor version, as far as the tracer needs it.
 * BPF reads the first block; userspace (symbolisation) reads the rest.
 * Offsets are in bytes; LB_NO_OFFSET where a version lacks the field.
 */
struct lb_py_offsets {
	__u32 version_hex;		/* PY_VERSION_HEX of the table, 0x030b0000 */
	__u8 instr_kind;		/* enum lb_instr_kind */
	__u8 thread_match;		/* enum lb_thread_match */
	__u8 shim_owner;		/* owner value of C-stack shim frames, 0xff if none */
	__u8 frame_owner_generator;	/* owner value of generator frames, 0xff if none */
	__u64 code_tag_mask;		/* bits to clear from a frame's code pointer */

	/* runtime -> interpreters -> thread states */
	__s16 runtime_interpreters_head;
	__s16 interp_next;
	__s16 interp_threads_head;
	__s16 tstate_next;
	__s16 tstate_thread_id;
	__s16 tstate_native_thread_id;
	/* thread state -> innermost frame: *(tstate + tstate_frame), then, when
	 * cframe_current_frame != LB_NO_OFFSET, *(that + cframe_current_frame) */
	__s16 tstate_frame;
	__s16 cframe_current_frame;
	/* frame fields, all < LB_FRAME_READ_SIZE */
	__s16 frame_previous;
	__s16 frame_code;
	__s16 frame_instr;
	__s16 frame_owner;
	/* code object */
	__s16 code_code_adaptive;	/* inline bytecode (3.11+) */
	__s16 code_firsttraceable;	/* int _co_firsttraceable (3.11+) */

	/* ---- userspace only below: symbolisation ---- */
	__s16 code_firstlineno;
	__s16 code_filename;		/* BPF reads here too: lb_code_id */
	__s16 code_name;
	__s16 code_qualname;
	__s16 code_linetable;		/* co_lnotab (3.8/3.9) or co_linetable */
	__s16 code_code;		/* co_code bytes object (<3.11) */
	__s16 bytes_size;
	__s16 bytes_data;
	__s16 unicode_length;
	__s16 unicode_state;
	__s16 unicode_ascii_data;	/* sizeof(PyASCIIObject) */
	__s16 unicode_compact_data;	/* sizeof(PyCompactUnicodeObject) */
	__s16 pad0;
};

/* A general-purpose register of the probed thread, named by a probe's
 * attach cookie (the new-reference probes: which register holds the
 * object at that store). In the order of x86-64's struct pt_regs. */
enum lb_reg {
	LB_REG_R15, LB_REG_R14, LB_REG_R13, LB_REG_R12, LB_REG_RBP, LB_REG_RBX,
	LB_REG_R11, LB_REG_R10, LB_REG_R9, LB_REG_R8, LB_REG_RAX, LB_REG_RCX,
	LB_REG_RDX, LB_REG_RSI, LB_REG_RDI,
	LB_REG__COUNT,
};

/* PyTypeObject.tp_flags: at the same offset in every supported version
 * (PyVarObject head, then 18 pointers); bits that put memory before the
 * object: a GC header, and (3.11+) the managed-dict/weakref pre-header. */
#define LB_TYPE_FLAGS_OFFSET 168
#define LB_TPFLAGS_HAVE_GC (1ull << 14)
#define LB_GC_HEADER_SIZE 16
#define LB_PREHEADER_SIZE 16

/* Per traced process: what BPF needs to walk its Python stacks. */
struct lb_proc {
	__u64 runtime_addr;		/* absolute address of _PyRuntime, 0 = not Python */
	__u32 flags;			/* LB_PROC_* */
	__u32 max_depth;		/* <= LB_MAX_PY_DEPTH */
	/* tp_flags bits that put a pre-header (2 pointers) before the GC
	 * header: Py_TPFLAGS_MANAGED_DICT in 3.11, _PREHEADER from 3.12 */
	__u32 preheader_flags;
	__u32 pad;
	struct lb_py_offsets off;
};

#define LB_PROC_PYTHON		(1u << 0)	/* walk Python stacks */
#define LB_PROC_STOP_AT_FINALIZE (1u << 2)	/* signal the tracer when Py_FinalizeEx starts */
/* Sampled mode: allocations are recorded only while a window is open (the
 * probes go in before it opens and come out after it closes); frees are
 * always paired. Userspace takes each window's samples out of the allocs
 * map when it closes. */
#define LB_PROC_SAMPLED		(1u << 3)
#define LB_PROC_WINDOW		(1u << 4)

/* Per traced process, what BPF alone writes. Userspace creates the entry
 * (zeroed) with the process's lb_proc, reads it and deletes it, never
 * updates it: lb_proc is rewritten whole to flip a window flag, and a
 * frozen flag or hits counted in it in between were lost. */
struct lb_proc_state {
	/* probe hits (entries and returns), for the governors: one tracer
	 * may serve many processes and the kernel's run counts are global */
	__u64 hits;
	__u32 flags;			/* LB_STATE_* */
	__u32 pad;
};

#define LB_STATE_FROZEN	(1u << 0)	/* ignore allocations and frees (Py_FinalizeEx began) */

/* One Python frame of a captured stack. */
struct lb_frame {
	__u64 code;			/* PyCodeObject address in the target */
	__s32 instr_offset;		/* byte offset into the bytecode, -1 = not started */
	__u32 code_id;			/* lb_code_id of the code object when captured */
};

/*
 * Which code object a frame ran, not just where it lay: a code object freed
 * and another made at its address (exec, eval, imports) must neither share
 * a stack nor lend its names. Both sides compute it from the same
 * LB_CODE_ID_BYTES read at code + code_filename: the co_filename and
 * co_name pointers and the next one (co_lnotab/co_linetable before 3.11,
 * co_qualname after), fields a code object never changes.
 */
#define LB_CODE_ID_BYTES 24

/* FNV-1a, the one hash of both sides: stack keys (BPF), code ids (both),
 * and userspace's tables (src/lib/fnv.h) */
#define LB_FNV_BASIS 0xcbf29ce484222325ULL
#define LB_FNV_PRIME 0x100000001b3ULL

static inline __u32 lb_code_id(const __u64 f[3])
{
	__u64 h = LB_FNV_BASIS;
	int i;

	for (i = 0; i < 3; i++)
		h = (h ^ f[i]) * LB_FNV_PRIME;
	h ^= h >> 32;
	return (__u32)h | 1;	/* never 0: 0 = not captured */
}

#define LB_STACK_TRUNCATED	(1u << 0)	/* deeper than max_depth */
#define LB_STACK_PY_READ_FAILED	(1u << 1)	/* a frame could not be read */
#define LB_STACK_NO_THREAD_STATE (1u << 2)	/* Python process, thread without tstate */

/* A captured stack: Python frames (innermost first) and/or a native stack. */
struct lb_stack {
	__u32 pid;
	__u16 depth;			/* valid entries in frames[] */
	__u16 flags;			/* LB_STACK_* */
	__u32 native_depth;		/* valid entries in native[] */
	__u32 pad;
	struct lb_frame frames[LB_MAX_PY_DEPTH];
	__u64 native[LB_MAX_NATIVE_DEPTH];	/* return addresses, innermost first */
};

/* A live allocation, keyed by its address in the allocs map. */
struct lb_alloc {
	__u64 size;
	__u64 stack_key;
	__u32 pid;
	__u16 kind;			/* enum lb_alloc_kind */
	__u16 flags;			/* LB_ALLOC_* */
};

/* Recorded by an allocator probe and not yet given a reference: the next
 * new-reference hit on it is its own creation (same stack), not a reuse. */
#define LB_ALLOC_FRESH (1u << 0)

enum lb_alloc_kind {
	LB_KIND_HEAP = 0,		/* malloc family */
	LB_KIND_MMAP = 1,		/* anonymous mmap */
};

/* Outstanding bytes and count of one stack (a row of the report). */
struct lb_totals {
	__s64 bytes;
	__s64 count;
	__u64 allocs;			/* allocations ever made here (cumulative) */
};

/* Key of the live allocation map: one map serves many processes. */
struct lb_alloc_key {
	__u64 addr;
	__u32 pid;
	__u32 pad;
};

/* Allocator entry state kept per thread until the function returns. */
struct lb_pending {
	__u64 size;
	__u64 old_ptr;			/* realloc: the block being resized */
	__u64 out_ptr;			/* posix_memalign: where the result goes */
	__u64 sp;			/* stack pointer at entry: detects stale entries */
	__u32 fn;			/* enum lb_fn */
	__u32 nested;			/* allocator calls made from inside this one */
	__u32 tgid;			/* whose: cleared when its probes come out */
	__u32 pad;
};

/* The probed libc functions; the entry probe's attach cookie says which. */
enum lb_fn {
	LB_FN_MALLOC, LB_FN_CALLOC, LB_FN_REALLOC, LB_FN_REALLOCARRAY,
	LB_FN_POSIX_MEMALIGN, LB_FN_ALIGNED_ALLOC, LB_FN_MEMALIGN,
	LB_FN_VALLOC, LB_FN_PVALLOC, LB_FN_MMAP,
	LB_FN_FREE, LB_FN_MUNMAP,
	LB_FN__COUNT,
};

/* Sampled mode learns glibc's thread-cache key from blocks freed inside a
 * window: the last LB_RECENT_FREES of them are kept here (a free in the
 * thread cache writes the key at +8). */
#define LB_RECENT_FREES 256

struct lb_recent_free {
	__u64 addr;
	__u32 pid;
	__u32 pad;
};

/* Ring buffer event: a stack seen for the first time, to be symbolised while
 * its code objects are certainly alive; or a followed process forked,
 * exec'd or exited (the agent). */
struct lb_event {
	__u64 stack_key;		/* NEW_STACK only */
	__u64 time_ns;			/* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 pid;			/* tgid: the stack's, or the new/exec'd/exited process */
	__u32 type;			/* enum lb_event_type */
	__u32 ppid;			/* FORK: the parent's tgid; EXEC: the parent's */
	__u32 pad;
};

enum lb_event_type {
	LB_EVENT_NEW_STACK = 1,
	LB_EVENT_FORK = 2,		/* a followed process made a new process */
	LB_EVENT_EXEC = 3,		/* a followed process (or any, when all are followed) exec'd */
	LB_EVENT_EXIT = 4,		/* a followed process ended */
	LB_EVENT_CODE = 5,		/* struct lb_code_event: a code object seen for the first time */
};

/*
 * A code object's own bytes and those of its names and line table, copied
 * by the probe that first saw it in a stack. Module bodies, exec'd and
 * eval'd code die within milliseconds, often before userspace could read
 * them; a copy taken while the frame runs keeps their names. Sent before
 * the NEW_STACK event of that stack, in the same ring, so it is there when
 * the stack is named. Objects larger than a field are copied in part (the
 * lengths say how much); the user side reads the rest live if it can.
 */
#define LB_CAPTURE_CODE_BYTES 256	/* every code-object field the symboliser reads */
#define LB_CAPTURE_NAME_BYTES 512	/* a str object: header + ~440 ASCII characters */
#define LB_CAPTURE_LINETABLE_BYTES 4096	/* a bytes object: 97% of stdlib module bodies' tables */

struct lb_code_event {
	__u64 code;			/* the code object's address */
	__u64 time_ns;
	__u32 pid;			/* at lb_event's place */
	__u32 type;			/* LB_EVENT_CODE, at lb_event's place */
	__u32 code_id;			/* lb_code_id, as in the stack's frame */
	__u16 filename_len;		/* bytes copied of each object, from its start */
	__u16 name_len;
	__u32 linetable_len;
	__u32 pad;
	__u8 code_bytes[LB_CAPTURE_CODE_BYTES];
	__u8 filename[LB_CAPTURE_NAME_BYTES];	/* co_filename */
	__u8 name[LB_CAPTURE_NAME_BYTES];	/* co_qualname, or co_name before 3.11 */
	__u8 linetable[LB_CAPTURE_LINETABLE_BYTES];	/* the line table's bytes object */
};

/* Processes the agent follows, at most: their forks are followed in BPF
 * (a child of a followed process is followed before it runs). */
#define LB_MAX_FOLLOWED 65536

/* Everything the tracer counts, lost or not. Losses are shown in every report. */
enum lb_counter {
	LB_CNT_ALLOC_CALLS,		/* allocations recorded */
	LB_CNT_FREE_CALLS,		/* frees of tracked blocks */
	LB_CNT_FREE_UNTRACKED,		/* frees of blocks allocated before attach (not a loss) */
	LB_CNT_ALLOCS_MAP_FULL,		/* LOST: allocation not recorded, allocs map full */
	LB_CNT_STACKS_MAP_FULL,		/* LOST: stack unattributed, stacks map full */
	LB_CNT_TOTALS_MAP_FULL,		/* LOST: stack unattributed, totals map full */
	LB_CNT_PENDING_MAP_FULL,	/* LOST: allocation not recorded, pending map full */
	LB_CNT_PY_READ_FAILED,		/* LOST: Python frame unreadable, stack cut short */
	LB_CNT_PY_TRUNCATED,		/* LOST: stack deeper than --max-depth */
	LB_CNT_NO_THREAD_STATE,		/* allocations by threads without a Python thread state */
	LB_CNT_NATIVE_STACK_FAILED,	/* LOST: native stack not captured */
	LB_CNT_EVENTS_DROPPED,		/* LOST: ring buffer full, stack symbolised late */
	LB_CNT_ALLOC_FAILED,		/* allocator returned NULL (not a loss) */
	LB_CNT_STALE_PENDING,		/* entry without return (longjmp/fork), recovered */
	LB_CNT_FOLLOW_MAP_FULL,		/* LOST: a fork not followed, follow map full */
	LB_CNT_REATTRIBUTED,		/* objects reused from a free list, moved to their new line */
	LB_CNT_CODE_GONE,		/* LOST: frames whose code object was replaced before it was named
					 * (counted by the symboliser, not BPF) */
	LB_CNT_CODE_CAPTURED,		/* code objects copied when first seen (not a loss) */
	LB_CNT_CODE_OVER_BUDGET,	/* LOST: frames shown without their names or line, the
					 * process's share of leakbpf's memory for code objects
					 * spent (counted by the symboliser) */
	LB_CNT__COUNT,
};

#endif /* LEAKBPF_SHARED_H */
