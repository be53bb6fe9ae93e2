// SPDX-License-Identifier: MIT
#include "tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"
#include "elf_image.h"
#include "leakbpf.skel.h"
#include "cost.h"
#include "log.h"
#include "probe_point.h"
#include "uprobe_set.h"
#include "proc.h"
#include "u64map.h"
#include "target_file.h"

/* The probed libc functions. Optional ones are absent from some libcs
 * (reallocarray before glibc 2.26, pvalloc on musl). Every entry goes to
 * alloc_enter (the cookie says which function), every return to
 * alloc_return. */
struct probe_spec {
	const char *symbol;
	enum lb_fn fn;
	bool has_return;	/* an allocation: its result matters */
	bool required;
	bool past_null_check;	/* see probe_point.h */
};

static const struct probe_spec libc_probes[] = {
	{ "malloc", LB_FN_MALLOC, true, true, false },
	{ "calloc", LB_FN_CALLOC, true, true, false },
	{ "realloc", LB_FN_REALLOC, true, true, false },
	{ "free", LB_FN_FREE, false, true, true },
	{ "reallocarray", LB_FN_REALLOCARRAY, true, false, false },
	{ "posix_memalign", LB_FN_POSIX_MEMALIGN, true, false, false },
	{ "aligned_alloc", LB_FN_ALIGNED_ALLOC, true, false, false },
	{ "memalign", LB_FN_MEMALIGN, true, false, false },
	{ "valloc", LB_FN_VALLOC, true, false, false },
	{ "pvalloc", LB_FN_PVALLOC, true, false, false },
	{ "mmap", LB_FN_MMAP, true, false, false },
	{ "munmap", LB_FN_MUNMAP, false, false, false },
};

#define NPROBES (sizeof(libc_probes) / sizeof(libc_probes[0]))

struct pid_link {
	pid_t pid;
	struct uprobe_set *set;
	bool libc;			/* an allocator probe set */
};

struct tracer {
	struct leakbpf_bpf *skel;
	struct ring_buffer *rb;
	struct pid_link *links;
	size_t nlinks, caplinks;
	struct uprobe_set *stop_link;
	bool multi;			/* uprobe_multi links */
	int stats_fd;			/* BPF run-time statistics on while open */
	tracer_event_fn event_fn;
	void *event_ctx;
	tracer_event_fn process_fn;	/* fork/exec/exit, whoever polls */
	void *process_ctx;
	struct bpf_link *follow_links[3];
	int ncpus;
	/* idle stacks leave the maps (prune_idle_stacks) */
	tracer_stack_known_fn stack_known;
	void *stack_known_ctx;
	tracer_code_fn code_fn;		/* code objects copied by the probes */
	void *code_ctx;
	struct u64map idle;		/* stack key -> its `allocs` + 1 when last seen at zero */
	uint64_t new_stacks;		/* since the last sweep */
	uint64_t last_sweep_ns;
};

static int keep_link(struct tracer *t, pid_t pid, struct uprobe_set *set)
{
	if (t->nlinks == t->caplinks) {
		size_t ncap = t->caplinks ? t->caplinks * 2 : 32;
		struct pid_link *v = realloc(t->links, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->links = v;
		t->caplinks = ncap;
	}
	t->links[t->nlinks++] = (struct pid_link){ pid, set, false };
	return 0;
}

static int on_ringbuf(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	const struct lb_event *ev = data;

	if (size < sizeof(struct lb_event))
		return 0;
	if (ev->type == LB_EVENT_CODE) {
		if (t->code_fn && size >= offsetof(struct lb_code_event, linetable))
			t->code_fn(t->code_ctx, data, size);
		return 0;
	}
	if (ev->type != LB_EVENT_NEW_STACK)
		return t->process_fn ? t->process_fn(t->process_ctx, ev) : 0;
	t->new_stacks++;
	return t->event_fn ? t->event_fn(t->event_ctx, ev) : 0;
}

int tracer_open(const struct tracer_opts *opts, struct tracer **out)
{
	struct lb_totals zero = { 0 };
	uint64_t overflow = LB_STACK_KEY_OVERFLOW;
	struct tracer *t;
	int err;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->stats_fd = -1;
	t->ncpus = libbpf_num_possible_cpus();
	if (t->ncpus <= 0) {
		err = t->ncpus ? t->ncpus : -EINVAL;
		goto fail;
	}
	t->skel = leakbpf_bpf__open();
	if (!t->skel) {
		err = -errno;
		pr_err("cannot open the BPF programs: %s", strerror(-err));
		goto fail;
	}
	t->skel->rodata->native_always = opts->native_always;
	t->multi = uprobe_multi_supported();
	if (t->multi) {
		struct bpf_program *prog;

		bpf_object__for_each_program(prog, t->skel->obj)
			if (bpf_program__type(prog) == BPF_PROG_TYPE_KPROBE)
				uprobe_set_prepare(prog);	/* not the tracepoints */
	}
	pr_debug("uprobes attached as %s", t->multi ? "uprobe_multi links" : "one link per probe");
	bpf_map__set_max_entries(t->skel->maps.allocs, opts->max_allocs);
	bpf_map__set_max_entries(t->skel->maps.stacks, opts->max_stacks);
	/* +1: the overflow row always has a place */
	bpf_map__set_max_entries(t->skel->maps.totals, opts->max_stacks + 1);
	err = leakbpf_bpf__load(t->skel);
	if (err) {
		if (err == -EPERM)
			pr_err("the kernel refused to load BPF programs (%s): run as root, or with CAP_BPF and CAP_PERFMON",
			       strerror(-err));
		else
			pr_err("the kernel rejected leakbpf's BPF programs (%s): they need Linux 5.17+ with BTF, uprobes, ring buffers and bpf_loop; -vv shows the verifier's log",
			       strerror(-err));
		goto fail;
	}
	err = bpf_map_update_elem(bpf_map__fd(t->skel->maps.totals), &overflow,
				  &zero, BPF_NOEXIST);
	if (err) {
		err = -errno;
		goto fail;
	}
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_ringbuf, t, NULL);
	if (!t->rb) {
		err = -errno;
		goto fail;
	}
	*out = t;
	return 0;
fail:
	tracer_free(t);
	return err;
}

void tracer_free(struct tracer *t)
{
	size_t i;

	if (!t)
		return;
	tracer_detach_stop(t);
	for (i = 0; i < sizeof(t->follow_links) / sizeof(t->follow_links[0]); i++)
		bpf_link__destroy(t->follow_links[i]);
	if (t->stats_fd >= 0)
		close(t->stats_fd);
	for (i = 0; i < t->nlinks; i++)
		uprobe_set_destroy(t->links[i].set);
	free(t->links);
	u64map_clear(&t->idle, NULL);
	ring_buffer__free(t->rb);
	leakbpf_bpf__destroy(t->skel);
	free(t);
}

/* One probe of prog at offset in path, as a set of one. */
static int attach_one(struct tracer *t, struct bpf_program *prog, pid_t pid, const char *path,
		      uint64_t offset, struct uprobe_set **out)
{
	return uprobe_set_attach(prog, t->multi, pid, path, &offset, NULL, 1, false, out);
}

/* Probes of prog for pid, kept until tracer_detach_pid. */
static int attach_kept(struct tracer *t, struct bpf_program *prog, pid_t pid, const char *path,
		       const uint64_t *offsets, const uint64_t *cookies, size_t n, bool retprobe)
{
	struct uprobe_set *set;
	int err = uprobe_set_attach(prog, t->multi, pid, path, offsets, cookies, n, retprobe, &set);

	if (err)
		return err;
	err = keep_link(t, pid, set);
	if (err)
		uprobe_set_destroy(set);
	return err;
}

static bool is_libc(const char *base)
{
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-2.", 7) ||
	       !strncmp(base, "libc.musl", 9) || !strncmp(base, "ld-musl", 7);
}

int tracer_attach_libc(struct tracer *t, pid_t pid, char *why, size_t why_len)
{
	char host_path[PATH_MAX];
	struct proc_maps maps;
	const struct proc_mapping *m;
	struct elf_image *img = NULL;
	uint64_t entry_off[NPROBES], entry_fn[NPROBES], ret_off[NPROBES];
	size_t i, nentry = 0, nret = 0, first_link = t->nlinks;
	int err;

	err = proc_maps_read(pid, &maps);
	if (err)
		return err;
	if (!maps.n) {
		/* no mappings: a kernel thread, or a process that has exited
		 * and waits for its parent (a zombie keeps its pid, not its memory) */
		bool running = proc_is_running(pid);

		proc_maps_free(&maps);
		if (running)
			snprintf(why, why_len, "process %d is a kernel thread: it has no user-space allocations to trace", pid);
		else
			snprintf(why, why_len, "process %d has exited (a zombie its parent has not reaped yet): nothing left to trace", pid);
		return running ? -EINVAL : -ESRCH;
	}
	m = proc_maps_find(&maps, is_libc);
	if (!m) {
		proc_maps_free(&maps);
		snprintf(why, why_len, "process %d has no libc mapped (statically linked?): its allocations cannot be traced", pid);
		return -ENOENT;
	}
	err = target_mapped_file(pid, m, host_path, sizeof(host_path));
	if (!err)
		err = elf_image_open(host_path, &img);
	if (err) {
		snprintf(why, why_len, err == -ESTALE ?
			 "%s of process %d is not the file it maps (a link out of its root, or replaced): not traced" :
			 "cannot read %s of process %d: %s", m->path, pid, strerror(-err));
		goto out;
	}
	for (i = 0; i < NPROBES; i++) {
		const struct probe_spec *p = &libc_probes[i];
		struct elf_symbol sym;
		uint64_t off, skip = 0;
		uint8_t code[32];

		err = elf_image_find_symbol(img, p->symbol, &sym);
		if (!err)
			err = elf_image_vaddr_to_offset(img, sym.vaddr, &off);
		if (err) {
			if (!p->required)
				continue;
			snprintf(why, why_len, "%s has no %s: cannot trace process %d", m->path, p->symbol, pid);
			goto out;
		}
		if (p->past_null_check && !elf_image_read(img, sym.vaddr, code, sizeof(code)))
			skip = probe_point_past_null_check(code, sizeof(code));
		entry_off[nentry] = off + skip;
		entry_fn[nentry++] = p->fn;
		/* the return probe belongs at the function's entry */
		if (p->has_return)
			ret_off[nret++] = off;
	}
	/* returns first: a call already under way then returns unseen instead
	 * of leaving an entry without its return */
	err = attach_kept(t, t->skel->progs.alloc_return, pid, host_path, ret_off, NULL, nret, true);
	if (!err)
		err = attach_kept(t, t->skel->progs.alloc_enter, pid, host_path, entry_off, entry_fn,
				  nentry, false);
	if (err) {
		snprintf(why, why_len, "cannot attach uprobes to %s in process %d: %s", m->path, pid,
			 strerror(-err));
		goto out;
	}
	for (i = first_link; i < t->nlinks; i++)
		t->links[i].libc = true;
	pr_debug("attached %zu probes to %s in process %d", nentry + nret, m->path, pid);
	err = 0;
out:
	if (err)
		tracer_detach_pid(t, pid);
	elf_image_close(img);
	proc_maps_free(&maps);
	return err;
}

int tracer_attach_finalize(struct tracer *t, pid_t pid, const char *host_path,
			   uint64_t offset)
{
	return attach_kept(t, t->skel->progs.finalize_enter, pid, host_path, &offset, NULL, 1,
			   false);
}

int tracer_attach_new_reference(struct tracer *t, pid_t pid, const char *host_path,
				const uint64_t *offsets, const uint64_t *regs, size_t n)
{
	return attach_kept(t, t->skel->progs.new_reference, pid, host_path, offsets, regs, n,
			   false);
}

int tracer_attach_stop(struct tracer *t, pid_t pid, const char *host_path, uint64_t offset)
{
	tracer_detach_stop(t);
	return attach_one(t, t->skel->progs.stop_at_entry, pid, host_path, offset, &t->stop_link);
}

void tracer_detach_stop(struct tracer *t)
{
	uprobe_set_destroy(t->stop_link);
	t->stop_link = NULL;
}

static void detach_links(struct tracer *t, pid_t pid, bool libc_only)
{
	size_t i, kept = 0;

	for (i = 0; i < t->nlinks; i++) {
		if (t->links[i].pid == pid && (!libc_only || t->links[i].libc))
			uprobe_set_destroy(t->links[i].set);
		else
			t->links[kept++] = t->links[i];
	}
	t->nlinks = kept;
}

void tracer_detach_pid(struct tracer *t, pid_t pid)
{
	detach_links(t, pid, false);
}

bool tracer_libc_attached(const struct tracer *t, pid_t pid)
{
	size_t i;

	for (i = 0; i < t->nlinks; i++)
		if (t->links[i].pid == pid && t->links[i].libc)
			return true;
	return false;
}

void tracer_detach_libc(struct tracer *t, pid_t pid)
{
	detach_links(t, pid, true);
}

/* The keys of a hash map that `want` picks, collected before anything is
 * deleted (deleting while walking restarts the walk). *out is malloc'd. */
typedef bool (*key_filter_fn)(int fd, const void *key, void *arg);

static int collect_keys(int fd, size_t key_size, key_filter_fn want, void *arg, uint8_t **out,
			size_t *count)
{
	uint8_t key[64], next[64], *keys = NULL, *v;
	size_t n = 0, cap = 0;
	bool first = true;

	if (key_size > sizeof(key))
		return -EINVAL;
	while (!bpf_map_get_next_key(fd, first ? NULL : key, next)) {
		first = false;
		memcpy(key, next, key_size);
		if (!want(fd, key, arg))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = realloc(keys, cap * key_size);
			if (!v) {
				free(keys);
				return -ENOMEM;
			}
			keys = v;
		}
		memcpy(keys + n++ * key_size, key, key_size);
	}
	*out = keys;
	*count = n;
	return 0;
}

static bool pending_of_pid(int fd, const void *key, void *arg)
{
	struct lb_pending p;

	return !bpf_map_lookup_elem(fd, key, &p) && p.tgid == *(__u32 *)arg;
}

int tracer_clear_pending(struct tracer *t, pid_t pid)
{
	int fd = bpf_map__fd(t->skel->maps.pending);
	__u32 tgid = (__u32)pid;
	uint8_t *keys = NULL;
	size_t n = 0, i;
	int err = collect_keys(fd, sizeof(__u32), pending_of_pid, &tgid, &keys, &n);

	if (err)
		return err;
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * sizeof(__u32));
	free(keys);
	return (int)n;
}

int tracer_recent_frees(struct tracer *t, pid_t pid, uint64_t *addrs, size_t max)
{
	int fd = bpf_map__fd(t->skel->maps.recent_frees);
	struct lb_recent_free rf;
	size_t n = 0;
	__u32 i;

	for (i = 0; i < LB_RECENT_FREES && n < max; i++)
		if (!bpf_map_lookup_elem(fd, &i, &rf) && rf.pid == (__u32)pid && rf.addr)
			addrs[n++] = rf.addr;
	return (int)n;
}

static bool alloc_of_pid(int fd, const void *key, void *arg)
{
	(void)fd;
	return ((const struct lb_alloc_key *)key)->pid == *(__u32 *)arg;
}

int tracer_take_allocs(struct tracer *t, pid_t pid, tracer_alloc_fn fn, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.allocs);
	__u32 tgid = (__u32)pid;
	struct lb_alloc_key key;
	struct lb_alloc a;
	uint8_t *keys = NULL;
	size_t n = 0, i;
	int err = collect_keys(fd, sizeof(key), alloc_of_pid, &tgid, &keys, &n);

	for (i = 0; !err && i < n; i++) {
		memcpy(&key, keys + i * sizeof(key), sizeof(key));
		if (bpf_map_lookup_and_delete_elem(fd, &key, &a))
			continue;	/* freed meanwhile */
		err = fn(ctx, key.addr, &a);
	}
	free(keys);
	return err;
}

int tracer_set_proc(struct tracer *t, pid_t pid, const struct lb_proc *proc)
{
	struct lb_proc_state zero = { 0 };
	__u32 key = (__u32)pid;

	/* the state BPF writes, made once with the first configuration and
	 * never written again from here */
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.proc_state), &key, &zero, BPF_NOEXIST) &&
	    errno != EEXIST)
		return -errno;
	if (bpf_map_update_elem(bpf_map__fd(t->skel->maps.procs), &key, proc, BPF_ANY))
		return -errno;
	return 0;
}

int tracer_get_proc_state(struct tracer *t, pid_t pid, struct lb_proc_state *state)
{
	__u32 key = (__u32)pid;

	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.proc_state), &key, state))
		return -errno;
	return 0;
}

int tracer_get_proc(struct tracer *t, pid_t pid, struct lb_proc *proc)
{
	__u32 key = (__u32)pid;

	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.procs), &key, proc))
		return -errno;
	return 0;
}

/* A stack's totals at zero, and no allocation there since the previous
 * sweep (its cumulative count unchanged): nothing refers to it but the
 * symboliser's copy. */
static bool idle_stack(struct tracer *t, uint64_t k, const struct lb_totals *tot)
{
	uintptr_t seen;

	if (k == LB_STACK_KEY_OVERFLOW)
		return false;
	if (tot->bytes || tot->count) {
		u64map_remove(&t->idle, k);
		return false;
	}
	seen = (uintptr_t)u64map_get(&t->idle, k);
	if (seen && seen - 1 == tot->allocs && t->stack_known(t->stack_known_ctx, k))
		return true;
	u64map_put(&t->idle, k, (void *)(uintptr_t)(tot->allocs + 1));
	return false;
}

#define PRUNE_BATCH 4096

/* Stacks whose totals stayed at zero from one sweep to the next, and that
 * stack_known says were symbolised, leave the stacks and totals maps (a
 * later allocation there puts them back, with a new-stack event). */
static int prune_idle_stacks(struct tracer *t)
{
	int totals = bpf_map__fd(t->skel->maps.totals), stacks = bpf_map__fd(t->skel->maps.stacks);
	static uint64_t keys[PRUNE_BATCH];
	static struct lb_totals vals[PRUNE_BATCH];
	uint64_t token = 0, *dead = NULL;
	size_t ndead = 0, cap = 0, i;
	bool first = true, more = true;

	if (!t->stack_known)
		return 0;
	/* batched: one system call per few thousand entries, where a walk
	 * takes two per entry (~100 ms for a full map) */
	while (more) {
		__u32 n = PRUNE_BATCH;
		int err = bpf_map_lookup_batch(totals, first ? NULL : &token, &token, keys, vals, &n,
					       NULL);

		if (err && errno != ENOENT) {
			free(dead);
			return -errno;
		}
		more = !err;
		first = false;
		for (i = 0; i < n; i++) {
			if (!idle_stack(t, keys[i], &vals[i]))
				continue;
			if (ndead == cap) {
				uint64_t *v = realloc(dead, (cap = cap ? cap * 2 : 1024) * sizeof(*v));

				if (!v) {
					free(dead);
					return -ENOMEM;
				}
				dead = v;
			}
			dead[ndead++] = keys[i];
		}
	}
	for (i = 0; i < ndead; i++) {
		bpf_map_delete_elem(stacks, &dead[i]);
		bpf_map_delete_elem(totals, &dead[i]);
		u64map_remove(&t->idle, dead[i]);
	}
	free(dead);
	return (int)ndead;
}

void tracer_keep_stacks_known_to(struct tracer *t, tracer_stack_known_fn fn, void *ctx)
{
	t->stack_known = fn;
	t->stack_known_ctx = ctx;
}

void tracer_on_code_copied(struct tracer *t, tracer_code_fn fn, void *ctx)
{
	t->code_fn = fn;
	t->code_ctx = ctx;
}

int tracer_poll_events(struct tracer *t, int timeout_ms, tracer_event_fn fn, void *ctx)
{
	uint64_t now;
	int n;

	t->event_fn = fn;
	t->event_ctx = ctx;
	n = ring_buffer__poll(t->rb, timeout_ms);
	/* Stacks are never taken out by BPF: an importing interpreter or a
	 * busy framework makes more distinct ones than the map holds (Flask's
	 * import alone filled 65,536 and left the app's own lines
	 * unattributed). Once a second, while new ones arrive, those idle
	 * since the last sweep go. */
	now = monotonic_ns();
	/* every second, or every quarter second while thousands arrive (an
	 * import) */
	if (t->new_stacks &&
	    now - t->last_sweep_ns >= (t->new_stacks > 1000 ? 250000000ull : 1000000000ull)) {
		t->last_sweep_ns = now;
		t->new_stacks = 0;
		prune_idle_stacks(t);
	}
	if (n == -EINTR)
		return 0;
	return n;
}

int tracer_follow_start(struct tracer *t, bool every_exec, tracer_event_fn fn, void *ctx)
{
	struct bpf_program *progs[] = {
		t->skel->progs.follow_fork, t->skel->progs.follow_exec, t->skel->progs.follow_exit,
	};
	size_t i;

	t->process_fn = fn;
	t->process_ctx = ctx;
	t->skel->bss->follow_every_exec = every_exec;
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (t->follow_links[i])
			continue;
		t->follow_links[i] = bpf_program__attach(progs[i]);
		if (!t->follow_links[i])
			return -errno;
	}
	return 0;
}

int tracer_follow(struct tracer *t, pid_t pid)
{
	__u32 key = (__u32)pid;
	__u8 one = 1;

	return bpf_map_update_elem(bpf_map__fd(t->skel->maps.follow), &key, &one, BPF_ANY) ? -errno : 0;
}

void tracer_unfollow(struct tracer *t, pid_t pid)
{
	__u32 key = (__u32)pid;

	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.follow), &key);
}

int tracer_pid_hits(struct tracer *t, pid_t pid, uint64_t *hits)
{
	struct lb_proc_state state;
	int err = tracer_get_proc_state(t, pid, &state);

	if (!err)
		*hits = state.hits;
	return err;
}

static int drop_alloc(void *ctx, uint64_t addr, const struct lb_alloc *a)
{
	(void)ctx, (void)addr, (void)a;
	return 0;
}

int tracer_forget_pid(struct tracer *t, pid_t pid)
{
	int stacks_fd = bpf_map__fd(t->skel->maps.stacks);
	int totals_fd = bpf_map__fd(t->skel->maps.totals);
	__u32 key = (__u32)pid;
	struct lb_stack *st = malloc(sizeof(*st));
	uint64_t k, next, *gone = NULL;
	size_t n = 0, cap = 0, i;
	bool first = true;
	int err;

	if (!st)
		return -ENOMEM;
	tracer_detach_pid(t, pid);
	tracer_clear_pending(t, pid);
	err = tracer_take_allocs(t, pid, drop_alloc, NULL);
	/* the stacks map's records carry their pid: collect, then delete
	 * (deleting while walking restarts the walk) */
	while (!err && !bpf_map_get_next_key(stacks_fd, first ? NULL : &k, &next)) {
		first = false;
		k = next;
		if (bpf_map_lookup_elem(stacks_fd, &k, st) || st->pid != key)
			continue;
		if (n == cap) {
			uint64_t *v = realloc(gone, (cap = cap ? cap * 2 : 256) * sizeof(*v));

			if (!v) {
				err = -ENOMEM;
				break;
			}
			gone = v;
		}
		gone[n++] = k;
	}
	for (i = 0; i < n; i++) {
		bpf_map_delete_elem(stacks_fd, &gone[i]);
		bpf_map_delete_elem(totals_fd, &gone[i]);
	}
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.procs), &key);
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.proc_state), &key);
	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.follow), &key);
	free(gone);
	free(st);
	return err ? err : (int)n;
}

int tracer_read_counters(struct tracer *t, uint64_t out[LB_CNT__COUNT])
{
	int fd = bpf_map__fd(t->skel->maps.counters);
	uint64_t *percpu = calloc((size_t)t->ncpus, sizeof(uint64_t));
	__u32 i;
	int c;

	if (!percpu)
		return -ENOMEM;
	for (i = 0; i < LB_CNT__COUNT; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(fd, &i, percpu))
			continue;
		for (c = 0; c < t->ncpus; c++)
			out[i] += percpu[c];
	}
	free(percpu);
	return 0;
}

int tracer_for_each_totals(struct tracer *t, tracer_totals_fn fn, void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.totals);
	uint64_t key, next;
	struct lb_totals tot;
	bool first = true;
	int err;

	for (;;) {
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next))
			break;
		first = false;
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &tot))
			continue;	/* deleted meanwhile */
		err = fn(ctx, key, &tot);
		if (err)
			return err;
	}
	return 0;
}

int tracer_get_stack(struct tracer *t, uint64_t key, struct lb_stack *out)
{
	if (bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.stacks), &key, out))
		return -errno;
	return 0;
}

int tracer_enable_stats(struct tracer *t)
{
	if (t->stats_fd >= 0)
		return 0;
	t->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	return t->stats_fd < 0 ? -errno : 0;
}

bool tracer_stats_on(const struct tracer *t)
{
	return t->stats_fd >= 0;
}

int tracer_read_cost(struct tracer *t, uint64_t *hits, uint64_t *bpf_ns)
{
	const struct bpf_program *progs[] = {
		t->skel->progs.alloc_enter, t->skel->progs.alloc_return,
		t->skel->progs.finalize_enter,
	};
	size_t i;

	*hits = *bpf_ns = 0;
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len))
			return -errno;
		*hits += info.run_cnt;
		*bpf_ns += info.run_time_ns;
	}
	return 0;
}

#define CALIBRATION_CALLS 2000
#define CALIBRATION_TRIES 3	/* the best of them: the other core may be busy */

/* Times calls to a function of our own, bare and under an empty uprobe: the
 * difference is what one trap costs here (0.6-0.9 us measured on the nested
 * virtualisation machines this was written on). */
int tracer_calibrate_trap(struct tracer *t, double *trap_ns)
{
	uint64_t addr = (uint64_t)(uintptr_t)cost_calibration_target, off;
	const struct proc_mapping *m;
	struct uprobe_set *set = NULL;
	struct proc_maps maps;
	double bare, probed;
	int err;

	err = proc_maps_read(getpid(), &maps);
	if (err)
		return err;
	m = proc_maps_find_addr(&maps, addr);
	if (!m || !m->path) {
		proc_maps_free(&maps);
		return -ENOENT;
	}
	off = addr - m->start + m->offset;
	bare = cost_time_calls(CALIBRATION_CALLS, CALIBRATION_TRIES);
	err = attach_one(t, t->skel->progs.calibrate, getpid(), m->path, off, &set);
	proc_maps_free(&maps);
	if (err)
		return err;
	probed = cost_time_calls(CALIBRATION_CALLS, CALIBRATION_TRIES);
	uprobe_set_destroy(set);
	*trap_ns = probed > bare ? (probed - bare) * 1e9 / CALIBRATION_CALLS : 0;
	return 0;
}
