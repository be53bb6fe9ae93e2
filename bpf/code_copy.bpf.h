/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Copies the code objects of a new stack to userspace the first time each is
 * seen (struct lb_code_event): their bytes, names and line table, read while
 * the frame that runs them is certainly alive. A module body or exec'd code
 * is freed moments after it ran, and its address reused; without the copy
 * its frames could only be shown as unknown.
 *
 * Runs only for stacks new to the stacks map, so a steady program pays
 * nothing; a new stack pays one LRU lookup per frame.
 */
#ifndef LEAKBPF_CODE_COPY_BPF_H
#define LEAKBPF_CODE_COPY_BPF_H

/* A pointer field of the copied code object; the mask keeps the verifier
 * sure the access stays inside code_bytes. */
/* the smallest page: a mapping is made of whole ones */
#define CODE_COPY_PAGE 4096u

#define CODE_U64(buf, o) \
	(*(__u64 *)((buf) + ((__u32)(o) & (LB_CAPTURE_CODE_BYTES - 8) & ~7u)))

struct code_copy_args {
	const struct lb_proc *proc;
	const struct lb_stack *st;
	struct lb_code_event *ev;
};

/* Copies a str object from its start; 0 bytes if unreadable. An object
 * near the end of its mapping cannot be read LB_CAPTURE_NAME_BYTES at a
 * time: then up to the end of its page, which holds it whole (it cannot run
 * on into memory that is not there). */
static __always_inline __u16 copy_str_object(__u8 *dst, __u64 addr)
{
	__u32 n;

	if (!addr)
		return 0;
	if (!bpf_probe_read_user(dst, LB_CAPTURE_NAME_BYTES, (const void *)addr))
		return LB_CAPTURE_NAME_BYTES;
	n = CODE_COPY_PAGE - (__u32)(addr & (CODE_COPY_PAGE - 1));
	if (n > LB_CAPTURE_NAME_BYTES)
		n = LB_CAPTURE_NAME_BYTES;
	if (!bpf_probe_read_user(dst, n, (const void *)addr))
		return (__u16)n;
	return 0;
}

/* Copies a bytes object from its start, at most LB_CAPTURE_LINETABLE_BYTES. */
static __always_inline __u32 copy_bytes_object(const struct lb_py_offsets *off, __u8 *dst,
					       __u64 addr)
{
	__s64 size = 0;
	__u64 total;

	if (!addr || bpf_probe_read_user(&size, sizeof(size),
					 (const void *)(addr + (__u16)off->bytes_size)))
		return 0;
	if (size < 0)
		return 0;
	total = (__u64)size + (__u16)off->bytes_data;
	if (total > LB_CAPTURE_LINETABLE_BYTES)
		total = LB_CAPTURE_LINETABLE_BYTES;
	if (bpf_probe_read_user(dst, total, (const void *)addr))
		return 0;
	return (__u32)total;
}

static long copy_code_step(__u32 i, void *data)
{
	struct code_copy_args *a = data;
	const struct lb_py_offsets *off = &a->proc->off;
	struct lb_code_event *ev = a->ev;
	const struct lb_frame *f;
	struct code_seen_key k = {};
	__s16 name_off;
	__u8 seen = 1;
	__u64 size;

	/* bpf_loop runs at most LB_MAX_PY_DEPTH steps; the mask is for the
	 * verifier, which does not know that */
	if (i >= a->st->depth)
		return 1;
	f = &a->st->frames[i & (LB_MAX_PY_DEPTH - 1)];
	k.code = f->code;
	k.pid = a->st->pid;
	k.id = f->code_id;
	if (!k.id || bpf_map_lookup_elem(&codes_seen, &k))
		return 0;
	if (bpf_probe_read_user(ev->code_bytes, sizeof(ev->code_bytes), (const void *)k.code))
		return 0;
	ev->code = k.code;
	ev->code_id = k.id;
	ev->pid = k.pid;
	ev->type = LB_EVENT_CODE;
	ev->time_ns = bpf_ktime_get_ns();
	name_off = off->code_qualname != LB_NO_OFFSET ? off->code_qualname : off->code_name;
	ev->filename_len = copy_str_object(ev->filename, CODE_U64(ev->code_bytes, off->code_filename));
	ev->name_len = copy_str_object(ev->name, CODE_U64(ev->code_bytes, name_off));
	ev->linetable_len = copy_bytes_object(off, ev->linetable,
					      CODE_U64(ev->code_bytes, off->code_linetable));
	size = __builtin_offsetof(struct lb_code_event, linetable) + ev->linetable_len;
	if (size > sizeof(*ev))
		return 0;
	if (bpf_ringbuf_output(&events, ev, size, 0)) {
		/* not marked seen: the next new stack holding it tries again */
		count(LB_CNT_EVENTS_DROPPED);
		return 0;
	}
	count(LB_CNT_CODE_CAPTURED);
	bpf_map_update_elem(&codes_seen, &k, &seen, BPF_ANY);
	return 0;
}

/* Copies the code objects of st not copied before. */
static __always_inline void copy_new_code_objects(const struct lb_proc *proc,
						  const struct lb_stack *st)
{
	__u32 zero = 0;
	struct code_copy_args a = { .proc = proc, .st = st };

	if (!st->depth)
		return;
	a.ev = bpf_map_lookup_elem(&code_copy_space, &zero);
	if (!a.ev)
		return;
	bpf_loop(LB_MAX_PY_DEPTH, copy_code_step, &a, 0);
}

#endif
