/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Walks the Python stack of the current thread. Version differences live in
 * struct lb_py_offsets (filled by userspace per process), so one program
 * serves every CPython version.
 */
#ifndef LEAKBPF_PYSTACK_BPF_H
#define LEAKBPF_PYSTACK_BPF_H

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (const void *)addr))
		return 0;
	return v;
}

/* The value the current task's thread state carries as its thread id. */
static __always_inline __u64 current_thread_ident(const struct lb_py_offsets *off,
						  __u32 tid)
{
	if (off->thread_match == LB_MATCH_NATIVE_TID)
		return tid;
	/* 3.8-3.10 store pthread_self(), which on x86_64 glibc is the FS base */
	struct task_struct *task = bpf_get_current_task_btf();

	return BPF_CORE_READ(task, thread.fsbase);
}

static __always_inline __s16 thread_id_offset(const struct lb_py_offsets *off)
{
	return off->thread_match == LB_MATCH_NATIVE_TID ?
		off->tstate_native_thread_id : off->tstate_thread_id;
}

/* Finds the PyThreadState of this thread: a cached guess, checked, or a
 * walk over interpreters -> thread states. 0 if the thread has none. */
static __always_inline __u64 find_thread_state(const struct lb_proc *proc, __u32 tid)
{
	const struct lb_py_offsets *off = &proc->off;
	__u64 want = current_thread_ident(off, tid);
	__s16 id_off = thread_id_offset(off);
	__u64 *cached, interp;
	int i, j;

	cached = bpf_map_lookup_elem(&tstates, &tid);
	if (cached && *cached && read_u64(*cached + id_off) == want)
		return *cached;

	interp = read_u64(proc->runtime_addr + off->runtime_interpreters_head);
	for (i = 0; i < LB_MAX_INTERPRETERS && interp; i++) {
		__u64 ts = read_u64(interp + off->interp_threads_head);

		for (j = 0; j < LB_MAX_THREADS && ts; j++) {
			if (read_u64(ts + id_off) == want) {
				bpf_map_update_elem(&tstates, &tid, &ts, BPF_ANY);
				return ts;
			}
			ts = read_u64(ts + off->tstate_next);
		}
		interp = read_u64(interp + off->interp_next);
	}
	return 0;
}

/* Field at a userspace-given offset inside the frame buffer. The masks keep
 * the verifier sure that every access stays inside the buffer. */
#define FRAME_U64(buf, o) (*(__u64 *)((buf) + ((__u32)(o) & (LB_FRAME_READ_SIZE - 8) & ~7u)))
#define FRAME_S32(buf, o) (*(__s32 *)((buf) + ((__u32)(o) & (LB_FRAME_READ_SIZE - 4) & ~3u)))
#define FRAME_U8(buf, o)  (*(__u8 *)((buf) + ((__u32)(o) & (LB_FRAME_READ_SIZE - 1))))

static __always_inline __s32 instr_offset(const struct lb_py_offsets *off,
					  const __u8 *buf, __u64 code)
{
	if (off->instr_kind == LB_INSTR_POINTER) {
		__u64 ptr = FRAME_U64(buf, off->frame_instr);
		__u64 base = code + off->code_code_adaptive;

		/* "code - 1" (prev_instr before the first instruction) = not started */
		if (ptr < base || ptr - base > 0x7fffffff)
			return -1;
		return (__s32)(ptr - base);
	}
	__s32 lasti = FRAME_S32(buf, off->frame_instr);

	if (lasti < 0)
		return -1;
	return off->instr_kind == LB_INSTR_LASTI_UNITS ? lasti * 2 : lasti;
}

/* Fills st->frames innermost first. */
static __always_inline void walk_python_stack(const struct lb_proc *proc, __u32 tid,
					      struct scratch *s)
{
	const struct lb_py_offsets *off = &proc->off;
	struct lb_stack *st = &s->stack;
	__u32 max_depth = proc->max_depth;
	__u64 tstate, frame;
	__u32 depth = 0;
	int i;

	tstate = find_thread_state(proc, tid);
	if (!tstate) {
		st->flags |= LB_STACK_NO_THREAD_STATE;
		count(LB_CNT_NO_THREAD_STATE);
		return;
	}
	frame = read_u64(tstate + off->tstate_frame);
	if (frame && off->cframe_current_frame != LB_NO_OFFSET)
		frame = read_u64(frame + off->cframe_current_frame);

	for (i = 0; i < LB_MAX_PY_DEPTH + 8 && frame; i++) {
		__u64 code;
		__u8 owner;

		if (bpf_probe_read_user(s->frame, LB_FRAME_READ_SIZE, (const void *)frame)) {
			st->flags |= LB_STACK_PY_READ_FAILED;
			count(LB_CNT_PY_READ_FAILED);
			break;
		}
		code = FRAME_U64(s->frame, off->frame_code) & ~off->code_tag_mask;
		owner = off->frame_owner == LB_NO_OFFSET ? 0xff :
			FRAME_U8(s->frame, off->frame_owner);
		frame = FRAME_U64(s->frame, off->frame_previous);
		/* C-stack entry shims carry no Python code */
		if (off->shim_owner != 0xff && owner == off->shim_owner)
			continue;
		if (!code)
			continue;
		if (depth >= max_depth || depth >= LB_MAX_PY_DEPTH) {
			st->flags |= LB_STACK_TRUNCATED;
			count(LB_CNT_PY_TRUNCATED);
			break;
		}
		st->frames[depth & (LB_MAX_PY_DEPTH - 1)].code = code;
		st->frames[depth & (LB_MAX_PY_DEPTH - 1)].instr_offset =
			instr_offset(off, s->frame, code);
		depth++;
	}
	if (frame && !(st->flags & (LB_STACK_TRUNCATED | LB_STACK_PY_READ_FAILED))) {
		/* ran out of loop iterations (many shims): still a cut stack */
		st->flags |= LB_STACK_TRUNCATED;
		count(LB_CNT_PY_TRUNCATED);
	}
	st->depth = depth;
}

#endif
