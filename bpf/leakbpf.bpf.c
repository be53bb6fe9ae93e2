// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Allocator probes: every libc allocation function gets an entry probe (the
 * arguments) and a return probe (the result); free and munmap an entry probe.
 * Python object allocations arrive here too, because userspace redirects
 * CPython's object allocator to libc malloc (see src/python/alloc_redirect.c).
 *
 * glibc calls its own public entry points internally (realloc(NULL, n) runs
 * malloc, realloc(p, 0) runs free, malloc may run mmap), and uprobes fire on
 * those inner calls too. Only the outermost call of a thread is recorded:
 * the pending entry remembers the caller's stack pointer, and a deeper entry
 * is an inner call.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "leakbpf_shared.h"
#include "maps.bpf.h"
#include "pystack.bpf.h"
#include "code_copy.bpf.h"
#include "follow.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Capture a native stack for allocations that have Python frames too. */
const volatile bool native_always = false;

#define MAP_ANONYMOUS_FLAG 0x20
#define SIGURG_NUM 23
#define PAGE_SIZE_4K 4096ULL

static __always_inline struct lb_proc *current_proc(__u32 tgid)
{
	return bpf_map_lookup_elem(&procs, &tgid);
}


/* Finishes the running hash of the frames with what else tells stacks apart. */
static __always_inline __u64 finish_stack_hash(const struct lb_stack *st, __u64 h)
{
	__u32 i;

	h = (h ^ st->pid) * FNV_PRIME;
	for (i = 0; i < LB_MAX_NATIVE_DEPTH; i++) {
		if (i >= st->native_depth)
			break;
		h = (h ^ st->native[i]) * FNV_PRIME;
	}
	h = (h ^ ((__u64)st->native_depth << 32 | (__u64)st->flags << 16 | st->depth)) * FNV_PRIME;
	h ^= h >> 29;
	return h < 2 ? h + 2 : h;	/* 0 and 1 are reserved keys */
}

/* Returns the key of the current stack, stored in the stacks map. */
static __always_inline __u64 capture_stack(void *ctx, __u32 tgid, __u32 tid,
					   const struct lb_proc *proc)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_space, &zero);
	struct lb_stack *st;
	__u64 key;

	if (!s)
		return LB_STACK_KEY_OVERFLOW;
	st = &s->stack;
	st->pid = tgid;
	st->depth = 0;
	st->flags = 0;
	st->native_depth = 0;
	s->hash = FNV_BASIS;
	if (proc && (proc->flags & LB_PROC_PYTHON))
		walk_python_stack(proc, tid, s);
	if (native_always || st->depth == 0) {
		long n = bpf_get_stack(ctx, st->native, sizeof(st->native), BPF_F_USER_STACK);

		if (n > 0)
			st->native_depth = (__u32)n / sizeof(__u64);
		else
			count(LB_CNT_NATIVE_STACK_FAILED);
	}
	key = finish_stack_hash(st, s->hash);
	if (bpf_map_lookup_elem(&stacks, &key))
		return key;
	if (bpf_map_update_elem(&stacks, &key, st, BPF_NOEXIST)) {
		if (bpf_map_lookup_elem(&stacks, &key))
			return key;	/* lost a race with another CPU */
		count(LB_CNT_STACKS_MAP_FULL);
		return LB_STACK_KEY_OVERFLOW;
	}
	struct lb_event ev = {
		.stack_key = key, .time_ns = bpf_ktime_get_ns(), .pid = tgid,
		.type = LB_EVENT_NEW_STACK,
	};

	/* ahead of the stack's event: its names are there when it is named */
	if (proc && (proc->flags & LB_PROC_PYTHON))
		copy_new_code_objects(proc, st);

	/* wake the symboliser now: a code object may not outlive a delay */
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP))
		count(LB_CNT_EVENTS_DROPPED);
	return key;
}

/* The totals row of a stack, created on first use; the overflow row (made
 * by userspace at load) when the map is full. *key is updated to match. */
static __always_inline struct lb_totals *totals_for(__u64 *key)
{
	struct lb_totals *t = bpf_map_lookup_elem(&totals, key);
	struct lb_totals zero = {};

	if (t)
		return t;
	bpf_map_update_elem(&totals, key, &zero, BPF_NOEXIST);
	t = bpf_map_lookup_elem(&totals, key);
	if (t)
		return t;
	count(LB_CNT_TOTALS_MAP_FULL);
	*key = LB_STACK_KEY_OVERFLOW;
	return bpf_map_lookup_elem(&totals, key);
}

/* Takes a tracked block out of the maps; false if it was not tracked. */
static __always_inline bool retire_block(__u32 tgid, __u64 addr)
{
	struct lb_alloc_key k = { .addr = addr, .pid = tgid };
	struct lb_alloc *a = bpf_map_lookup_elem(&allocs, &k);
	struct lb_totals *t;

	if (!a)
		return false;
	t = bpf_map_lookup_elem(&totals, &a->stack_key);
	if (t) {
		__sync_fetch_and_add(&t->bytes, -(__s64)a->size);
		__sync_fetch_and_add(&t->count, -1);
	}
	bpf_map_delete_elem(&allocs, &k);
	count(LB_CNT_FREE_CALLS);
	return true;
}

static __always_inline bool forget_block(__u32 tgid, __u64 addr)
{
	if (retire_block(tgid, addr))
		return true;
	count(LB_CNT_FREE_UNTRACKED);
	return false;
}

/* Sampled mode learns glibc's thread-cache key from blocks freed under the
 * probes. Not atomic: racing CPUs may share a slot, losing one of many. */
static __always_inline void remember_free(__u32 tgid, __u64 addr)
{
	__u32 slot = recent_free_next++ % LB_RECENT_FREES;
	struct lb_recent_free *rf = bpf_map_lookup_elem(&recent_frees, &slot);

	if (rf) {
		rf->addr = addr;
		rf->pid = tgid;
	}
}

static __always_inline void remember_block(void *ctx, __u32 tgid, __u32 tid,
					   const struct lb_proc *proc, __u64 addr,
					   __u64 size, __u32 kind)
{
	struct lb_alloc_key k = { .addr = addr, .pid = tgid };
	struct lb_alloc a = { .size = size, .pid = tgid, .kind = kind, .flags = LB_ALLOC_FRESH };
	struct lb_totals *t;

	/* A block we still hold at this address was freed where we could not
	 * see it (e.g. pymalloc's internal realloc): retire it first. */
	retire_block(tgid, addr);
	a.stack_key = capture_stack(ctx, tgid, tid, proc);
	t = totals_for(&a.stack_key);
	if (!t) {
		count(LB_CNT_TOTALS_MAP_FULL);
		return;
	}
	if (bpf_map_update_elem(&allocs, &k, &a, BPF_ANY)) {
		count(LB_CNT_ALLOCS_MAP_FULL);
		return;
	}
	__sync_fetch_and_add(&t->bytes, (__s64)size);
	__sync_fetch_and_add(&t->count, 1);
	__sync_fetch_and_add(&t->allocs, 1);
	count(LB_CNT_ALLOC_CALLS);
}

/* True when the current thread is inside an allocator call we track: the
 * pending entry of an outer call sits higher on the stack. */
static __always_inline struct lb_pending *outer_call(__u32 tid, __u64 sp)
{
	struct lb_pending *p = bpf_map_lookup_elem(&pending, &tid);

	if (p && sp < p->sp)
		return p;
	if (p) {
		/* entry without a return (longjmp, a thread that forked):
		 * forget it so this thread is not muted forever */
		count(LB_CNT_STALE_PENDING);
		bpf_map_delete_elem(&pending, &tid);
	}
	return NULL;
}

static __always_inline int on_entry(struct pt_regs *ctx, struct lb_proc *proc, enum lb_fn fn,
				    __u64 size, __u64 old_ptr, __u64 out_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	__u64 sp = PT_REGS_SP(ctx);
	struct lb_pending *outer;
	struct lb_pending p = {
		.size = size, .old_ptr = old_ptr, .out_ptr = out_ptr,
		.sp = sp, .fn = fn, .tgid = tgid,
	};

	outer = outer_call(tid, sp);
	if (outer) {
		outer->nested++;
		return 0;
	}
	/* sampled mode between windows: the probes are still (or already) in */
	if (proc && (proc->flags & (LB_PROC_SAMPLED | LB_PROC_WINDOW)) == LB_PROC_SAMPLED)
		return 0;
	if (bpf_map_update_elem(&pending, &tid, &p, BPF_ANY))
		count(LB_CNT_PENDING_MAP_FULL);
	return 0;
}

static __always_inline int on_return(struct pt_regs *ctx, struct lb_proc *proc, __u64 ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	struct lb_pending *pp = bpf_map_lookup_elem(&pending, &tid);
	struct lb_pending p;
	__u64 addr = ret;

	if (!pp)
		return 0;
	if (pp->nested) {
		pp->nested--;
		return 0;
	}
	p = *pp;
	bpf_map_delete_elem(&pending, &tid);

	switch (p.fn) {
	case LB_FN_REALLOC:
	case LB_FN_REALLOCARRAY:
		/* glibc: realloc(p, 0) frees p and returns NULL; a failed
		 * realloc (NULL, size > 0) leaves p alone */
		if (p.old_ptr && (ret || !p.size))
			forget_block(tgid, p.old_ptr);
		break;
	case LB_FN_POSIX_MEMALIGN:
		if ((int)ret != 0)
			addr = 0;
		else if (bpf_probe_read_user(&addr, sizeof(addr), (const void *)p.out_ptr))
			addr = 0;
		break;
	case LB_FN_MMAP:
		if (ret == (__u64)-1)
			addr = 0;
		break;
	default:
		break;
	}
	if (!addr) {
		if (p.size)
			count(LB_CNT_ALLOC_FAILED);
		return 0;
	}
	remember_block(ctx, tgid, tid, proc, addr, p.size,
		       p.fn == LB_FN_MMAP ? LB_KIND_MMAP : LB_KIND_HEAP);
	return 0;
}

static __always_inline int on_release(struct pt_regs *ctx, struct lb_proc *proc, __u64 addr,
				      bool mmap_only)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;

	if (!addr)
		return 0;
	/* free/munmap called by an allocator we are inside of */
	if (outer_call(tid, PT_REGS_SP(ctx)))
		return 0;
	if (mmap_only) {
		struct lb_alloc_key k = { .addr = addr, .pid = tgid };
		struct lb_alloc *a = bpf_map_lookup_elem(&allocs, &k);

		/* munmap of memory we did not see mapped is not a free */
		if (!a || a->kind != LB_KIND_MMAP)
			return 0;
	}
	if (forget_block(tgid, addr) && proc && (proc->flags & LB_PROC_SAMPLED))
		remember_free(tgid, addr);
	return 0;
}

static __always_inline __u64 mul_or_zero(__u64 a, __u64 b)
{
	/* calloc(n, size) with an overflowing product fails in libc anyway */
	__u64 limit = ~0ULL;

	if (!((a | b) >> 32))
		return a * b;
	/* the barrier stops clang from turning this into __multi3 */
	asm volatile("" : "+r"(limit));
	return a && b > limit / a ? 0 : a * b;
}

static __always_inline int mmap_entry(struct pt_regs *ctx, struct lb_proc *proc, __u64 len,
				      __u64 flags)
{
	struct lb_pending *outer;

	/* An anonymous mapping is an allocation. on_entry also sees when it is
	 * malloc's own (nested in a tracked call) and counts it as such. */
	if (flags & MAP_ANONYMOUS_FLAG)
		return on_entry(ctx, proc, LB_FN_MMAP, len, 0, 0);
	/* A file mapping is not, but its return probe fires all the same: made
	 * inside a tracked call, it must not close that call. */
	outer = outer_call((__u32)bpf_get_current_pid_tgid(), PT_REGS_SP(ctx));
	if (outer)
		outer->nested++;
	return 0;
}

/*
 * Entry of every probed libc function: the attach cookie says which one.
 * One program for all of them lets userspace put them all in one
 * uprobe_multi link, which the kernel removes with one RCU grace period
 * instead of one per probe (~110 ms each here).
 */
/* The traced process's entry (NULL: a process leakbpf does not trace), one
 * more probe hit counted in its state; *frozen when its numbers are final
 * (Py_FinalizeEx began): the hit then changes nothing. */
static __always_inline struct lb_proc *proc_of_hit(bool *frozen)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lb_proc_state *st = bpf_map_lookup_elem(&proc_state, &tgid);

	*frozen = false;
	if (st) {
		__sync_fetch_and_add(&st->hits, 1);
		*frozen = st->flags & LB_STATE_FROZEN;
	}
	return current_proc(tgid);
}

SEC("uprobe")
int BPF_KPROBE(alloc_enter, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	bool frozen;
	struct lb_proc *proc = proc_of_hit(&frozen);

	if (frozen)
		return 0;
	switch (bpf_get_attach_cookie(ctx)) {
	case LB_FN_MALLOC:
		return on_entry(ctx, proc, LB_FN_MALLOC, a1, 0, 0);
	case LB_FN_CALLOC:
		return on_entry(ctx, proc, LB_FN_CALLOC, mul_or_zero(a1, a2), 0, 0);
	case LB_FN_REALLOC:
		return on_entry(ctx, proc, LB_FN_REALLOC, a2, a1, 0);
	case LB_FN_REALLOCARRAY:
		return on_entry(ctx, proc, LB_FN_REALLOCARRAY, mul_or_zero(a2, a3), a1, 0);
	case LB_FN_POSIX_MEMALIGN:	/* (memptr, align, size) */
		return on_entry(ctx, proc, LB_FN_POSIX_MEMALIGN, a3, 0, a1);
	case LB_FN_ALIGNED_ALLOC:	/* (align, size) */
		return on_entry(ctx, proc, LB_FN_ALIGNED_ALLOC, a2, 0, 0);
	case LB_FN_MEMALIGN:
		return on_entry(ctx, proc, LB_FN_MEMALIGN, a2, 0, 0);
	case LB_FN_VALLOC:
		return on_entry(ctx, proc, LB_FN_VALLOC, a1, 0, 0);
	case LB_FN_PVALLOC:
		/* pvalloc rounds the request up to whole pages */
		return on_entry(ctx, proc, LB_FN_PVALLOC,
				(a1 + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1), 0, 0);
	case LB_FN_MMAP:		/* (addr, len, prot, flags, ...) */
		return mmap_entry(ctx, proc, a2, a4);
	case LB_FN_FREE:
		return on_release(ctx, proc, a1, false);
	case LB_FN_MUNMAP:
		return on_release(ctx, proc, a1, true);
	default:
		return 0;
	}
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, __u64 ret)
{
	bool frozen;
	struct lb_proc *proc = proc_of_hit(&frozen);

	/* a call in flight keeps its pending entry: frozen is for good */
	return frozen ? 0 : on_return(ctx, proc, ret);
}

/* The register a new-reference probe's cookie names (enum lb_reg). Copied
 * out field by field: the verifier refuses a variable offset into ctx. */
static __always_inline __u64 cookie_register(struct pt_regs *ctx, __u64 reg)
{
	__u64 regs[LB_REG__COUNT] = {
		ctx->r15, ctx->r14, ctx->r13, ctx->r12, ctx->bp, ctx->bx, ctx->r11,
		ctx->r10, ctx->r9, ctx->r8, ctx->ax, ctx->cx, ctx->dx, ctx->si, ctx->di,
	};

	return reg < LB_REG__COUNT ? regs[reg] : 0;
}

/* Where the memory of the object at op starts: GC objects carry a header
 * before it, and (3.11+) objects with a managed dict a pre-header too.
 * 0 if op's type cannot be read. */
static __always_inline __u64 object_block(const struct lb_proc *proc, __u64 op)
{
	__u64 type = 0, tp_flags = 0, block = op;

	if (bpf_probe_read_user(&type, sizeof(type), (const void *)(op + 8)) || !type ||
	    bpf_probe_read_user(&tp_flags, sizeof(tp_flags),
				(const void *)(type + LB_TYPE_FLAGS_OFFSET)))
		return 0;
	if (tp_flags & LB_TPFLAGS_HAVE_GC)
		block -= LB_GC_HEADER_SIZE;
	if (tp_flags & proc->preheader_flags)
		block -= LB_PREHEADER_SIZE;
	return block;
}

/*
 * An object gets its first reference (_Py_NewReference's `ob_refcnt = 1`,
 * probed at the branch next to every copy the compiler made; the cookie
 * says which register holds the object). Right after its allocation that
 * is the same line: the block is marked fresh and nothing moves. Anything
 * else is memory CPython took back from a free list without calling an
 * allocator: the block moves to the stack creating it now, as tracemalloc
 * moves it.
 */
SEC("uprobe")
int BPF_KPROBE(new_reference)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	bool frozen;
	struct lb_proc *proc = proc_of_hit(&frozen);
	struct lb_alloc_key k = { .pid = tgid };
	struct lb_totals *from, *to;
	struct lb_alloc *a;
	__u64 key;

	/* attached in full mode only (src/session/session.c): no window to check */
	if (!proc || frozen)
		return 0;
	k.addr = object_block(proc, cookie_register(ctx, bpf_get_attach_cookie(ctx)));
	if (!k.addr)
		return 0;
	a = bpf_map_lookup_elem(&allocs, &k);
	if (!a)
		return 0;	/* allocated before attach: its size is unknown */
	if (a->flags & LB_ALLOC_FRESH) {
		a->flags &= ~LB_ALLOC_FRESH;
		return 0;
	}
	key = capture_stack(ctx, tgid, tid, proc);
	if (key == a->stack_key)
		return 0;
	to = totals_for(&key);
	if (!to)
		return 0;
	from = bpf_map_lookup_elem(&totals, &a->stack_key);
	if (from) {
		__sync_fetch_and_add(&from->bytes, -(__s64)a->size);
		__sync_fetch_and_add(&from->count, -1);
	}
	__sync_fetch_and_add(&to->bytes, (__s64)a->size);
	__sync_fetch_and_add(&to->count, 1);
	__sync_fetch_and_add(&to->allocs, 1);
	a->stack_key = key;
	count(LB_CNT_REATTRIBUTED);
	return 0;
}

/* Py_FinalizeEx: the program is done; freeze its numbers and let the tracer
 * symbolise them before module teardown frees everything. */
SEC("uprobe")
int BPF_KPROBE(finalize_enter)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lb_proc *proc = current_proc(tgid);
	struct lb_proc_state *st = bpf_map_lookup_elem(&proc_state, &tgid);

	if (!proc || !st || !(proc->flags & LB_PROC_STOP_AT_FINALIZE))
		return 0;
	st->flags |= LB_STATE_FROZEN;	/* the one bit BPF ever sets: no atomics needed */
	/* SIGURG: ignored by default, so if the tracer is gone the program
	 * never notices; a ptrace tracer sees the stop and swallows it */
	bpf_send_signal_thread(SIGURG_NUM);
	return 0;
}

/* One-shot stop at the program's entry point (record): by then the dynamic
 * loader has mapped libc and the interpreter, so their probes can go in. */
SEC("uprobe")
int BPF_KPROBE(stop_at_entry)
{
	bpf_send_signal_thread(SIGURG_NUM);
	return 0;
}

/* Does nothing: leakbpf probes a function of its own with it to measure
 * what a uprobe trap costs on this machine (src/trace/cost.c). */
SEC("uprobe")
int BPF_KPROBE(calibrate)
{
	return 0;
}
