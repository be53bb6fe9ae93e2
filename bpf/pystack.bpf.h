/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Walks the Python stack of the current thread. Version differences live in
 * struct lb_py_offsets (filled by userspace per process), so one program
 * serves every CPython version.
 *
 * Both walks (thread states, then frames) run under bpf_loop (Linux 5.17+):
 * the verifier checks a callback once instead of once per unrolled
 * iteration, which is what keeps the probes under its instruction limit.
 * The cursors live in the per-CPU scratch map (see struct scratch).
 */
#ifndef LEAKBPF_PYSTACK_BPF_H
#define LEAKBPF_PYSTACK_BPF_H

#define FNV_PRIME LB_FNV_PRIME
#define FNV_BASIS LB_FNV_BASIS

/* Frames visited per walk: shim frames (one per C -> Python entry on 3.12+)
 * take visits without taking places, so allow more than the depth. */
#define LB_MAX_FRAME_VISITS (2 * LB_MAX_PY_DEPTH + 8)

struct walk_args {
	const struct lb_proc *proc;
	struct scratch *s;
};

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (const void *)addr))
		return 0;
	return v;
}

/* The thread id as the thread itself sees it (gettid() in a container is
 * the id in the innermost PID namespace, and that is what CPython stores
 * as native_thread_id), not the node's. */
static __always_inline __u64 thread_id_in_own_namespace(struct task_struct *task, __u32 tid)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up;

	if (!level)
		return tid;	/* the node's own namespace: the common case */
	if (level > 31 || bpf_probe_read_kernel(&up, sizeof(up), &pid->numbers[level]))
		return tid;
	return (__u64)up.nr;
}

/* The value the current task's thread state carries as its thread id. */
static __always_inline __u64 current_thread_ident(const struct lb_py_offsets *off,
						  __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (off->thread_match == LB_MATCH_NATIVE_TID)
		return thread_id_in_own_namespace(task, tid);
	/* 3.8-3.10 store pthread_self(), which on x86_64 glibc is the FS base */
	return BPF_CORE_READ(task, thread.fsbase);
}

static __always_inline __s16 thread_id_offset(const struct lb_py_offsets *off)
{
	return off->thread_match == LB_MATCH_NATIVE_TID ?
		off->tstate_native_thread_id : off->tstate_thread_id;
}

/* One step of the search over interpreters -> thread states. */
static long find_thread_state_step(__u32 i, void *data)
{
	struct walk_args *a = data;
	const struct lb_py_offsets *off = &a->proc->off;
	struct scratch *s = a->s;
	__u64 ts = s->tstate;

	if (!ts) {
		/* this interpreter's threads are done: on to the next one */
		__u64 interp = read_u64(s->interp + off->interp_next);

		if (!interp || ++s->steps > LB_MAX_INTERPRETERS * (LB_MAX_THREADS + 1))
			return 1;
		s->interp = interp;
		s->tstate = read_u64(interp + off->interp_threads_head);
		return 0;
	}
	if (read_u64(ts + thread_id_offset(off)) == s->want_thread) {
		s->found = ts;
		return 1;
	}
	s->tstate = read_u64(ts + off->tstate_next);
	return 0;
}

/* Finds the PyThreadState of this thread: a cached guess, checked, or a
 * walk over interpreters -> thread states. 0 if the thread has none. */
static __always_inline __u64 find_thread_state(struct walk_args *a, __u32 tid)
{
	const struct lb_py_offsets *off = &a->proc->off;
	struct scratch *s = a->s;
	__u64 *cached;

	s->want_thread = current_thread_ident(off, tid);
	cached = bpf_map_lookup_elem(&tstates, &tid);
	if (cached && *cached && read_u64(*cached + thread_id_offset(off)) == s->want_thread)
		return *cached;

	s->interp = read_u64(a->proc->runtime_addr + off->runtime_interpreters_head);
	if (!s->interp)
		return 0;
	s->tstate = read_u64(s->interp + off->interp_threads_head);
	s->found = 0;
	s->steps = 0;
	bpf_loop(LB_MAX_INTERPRETERS * (LB_MAX_THREADS + 1), find_thread_state_step, a, 0);
	if (s->found)
		bpf_map_update_elem(&tstates, &tid, &s->found, BPF_ANY);
	return s->found;
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

/* One frame: read it, skip shims, record it. Returns 1 to stop the walk. */
static long walk_frame_step(__u32 i, void *data)
{
	struct walk_args *a = data;
	const struct lb_py_offsets *off = &a->proc->off;
	struct scratch *s = a->s;
	struct lb_stack *st = &s->stack;
	__u32 depth = st->depth;
	__u64 code;
	__s32 instr;
	__u8 owner;

	if (!s->frame_addr)
		return 1;
	if (bpf_probe_read_user(s->frame, LB_FRAME_READ_SIZE, (const void *)s->frame_addr)) {
		st->flags |= LB_STACK_PY_READ_FAILED;
		count(LB_CNT_PY_READ_FAILED);
		return 1;
	}
	code = FRAME_U64(s->frame, off->frame_code) & ~off->code_tag_mask;
	owner = off->frame_owner == LB_NO_OFFSET ? 0xff : FRAME_U8(s->frame, off->frame_owner);
	s->frame_addr = FRAME_U64(s->frame, off->frame_previous);
	/* C-stack entry shims carry no Python code */
	if (off->shim_owner != 0xff && owner == off->shim_owner)
		return 0;
	if (!code)
		return 0;
	if (depth >= a->proc->max_depth || depth >= LB_MAX_PY_DEPTH) {
		st->flags |= LB_STACK_TRUNCATED;
		count(LB_CNT_PY_TRUNCATED);
		return 1;
	}
	instr = instr_offset(off, s->frame, code);
	__u64 idf[3] = {};
	__u32 id = 0;

	if (!bpf_probe_read_user(idf, LB_CODE_ID_BYTES,
				 (const void *)(code + (__u16)off->code_filename)))
		id = lb_code_id(idf);
	st->frames[depth & (LB_MAX_PY_DEPTH - 1)].code = code;
	st->frames[depth & (LB_MAX_PY_DEPTH - 1)].instr_offset = instr;
	st->frames[depth & (LB_MAX_PY_DEPTH - 1)].code_id = id;
	st->depth = depth + 1;
	s->hash = (s->hash ^ code) * FNV_PRIME;
	s->hash = (s->hash ^ ((__u64)id << 32 | (__u32)instr)) * FNV_PRIME;
	return 0;
}

/* Fills s->stack.frames innermost first and folds them into s->hash. */
static __always_inline void walk_python_stack(const struct lb_proc *proc, __u32 tid,
					      struct scratch *s)
{
	const struct lb_py_offsets *off = &proc->off;
	struct lb_stack *st = &s->stack;
	struct walk_args args = { .proc = proc, .s = s };
	__u64 tstate, frame;

	tstate = find_thread_state(&args, tid);
	if (!tstate) {
		st->flags |= LB_STACK_NO_THREAD_STATE;
		count(LB_CNT_NO_THREAD_STATE);
		return;
	}
	frame = read_u64(tstate + off->tstate_frame);
	if (frame && off->cframe_current_frame != LB_NO_OFFSET)
		frame = read_u64(frame + off->cframe_current_frame);
	s->frame_addr = frame;
	bpf_loop(LB_MAX_FRAME_VISITS, walk_frame_step, &args, 0);
	if (s->frame_addr && !(st->flags & (LB_STACK_TRUNCATED | LB_STACK_PY_READ_FAILED))) {
		/* ran out of visits (a chain of shims): still a cut stack */
		st->flags |= LB_STACK_TRUNCATED;
		count(LB_CNT_PY_TRUNCATED);
	}
}

#endif
