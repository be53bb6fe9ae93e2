/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Maps shared by the allocator probes and the Python stack walker. Sizes
 * given here are defaults; the loader resizes them from the command line. */
#ifndef LEAKBPF_MAPS_BPF_H
#define LEAKBPF_MAPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);			/* tgid */
	__type(value, struct lb_proc);
} procs SEC(".maps");

/* tgid -> what BPF counts and flags of it (see struct lb_proc_state) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct lb_proc_state);
} proc_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);			/* tid */
	__type(value, struct lb_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 20);
	/* not preallocated: a million entries would pin ~100 MB up front */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_alloc_key);
	__type(value, struct lb_alloc);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	/* ~1.3 KiB an entry (64 Python frames, 32 native): pay only for the
	 * stacks seen */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);			/* stack key */
	__type(value, struct lb_stack);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);			/* stack key */
	__type(value, struct lb_totals);
} totals SEC(".maps");

/* tid -> PyThreadState address, re-validated on every use */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} tstates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* The agent: processes whose forks and exit are reported (tgid -> 1).
 * A child of a followed process is added here by the fork tracepoint,
 * before it runs a single instruction. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_FOLLOWED);
	__type(key, __u32);
	__type(value, __u8);
} follow SEC(".maps");

/* Per-CPU scratch: a stack is too big for the 512-byte BPF stack. The walk
 * cursors live here too, not on the BPF stack: bpf_loop callbacks are
 * verified until their state repeats, and a counter the verifier can see
 * change (a stack slot) would never repeat. Loaded from a map value, each is
 * an unknown number and the callback is verified in a couple of passes. */
struct scratch {
	struct lb_stack stack;
	__u8 frame[LB_FRAME_READ_SIZE];
	__u64 frame_addr;		/* next frame to read */
	__u64 hash;			/* running hash of the frames taken */
	__u64 want_thread;		/* thread id the thread state must carry */
	__u64 interp;			/* interpreter being searched */
	__u64 tstate;			/* thread state being checked */
	__u64 found;			/* the matching thread state */
	__u32 steps;			/* thread states looked at */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_space SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* 24-byte events (32 with the ring's header) and code-object copies
	 * (~1 KiB typical, 5.4 KiB at most): room for ~130k new stacks or ~8k
	 * new code objects between two polls, what an importing interpreter
	 * makes */
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* (pid, code, id) of code objects already copied to userspace: each is
 * copied once, when a stack first holds it. LRU: an evicted one is copied
 * again, which userspace ignores. */
struct code_seen_key {
	__u64 code;
	__u32 pid;
	__u32 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct code_seen_key);
	__type(value, __u8);
} codes_seen SEC(".maps");

/* Per-CPU room for one code-object copy (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_code_event);
} code_copy_space SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_RECENT_FREES);
	__type(key, __u32);
	__type(value, struct lb_recent_free);
} recent_frees SEC(".maps");

/* Next slot of recent_frees; wraps. */
__u32 recent_free_next;

static __always_inline void count(enum lb_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1;	/* per-CPU: no atomics needed */
}

#endif
