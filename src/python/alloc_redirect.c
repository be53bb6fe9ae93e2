// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "alloc_redirect.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc_tables.h"
#include "log.h"
#include "proc.h"
#include "proc_tree.h"
#include "pytarget.h"

/* PyMemAllocatorEx */
#define SLOT_CTX 0
#define SLOT_MALLOC 8
#define SLOT_CALLOC 16
#define SLOT_FREE 32
#define TABLE_SIZE 40

const char *redirect_state_name(enum redirect_state s)
{
	switch (s) {
	case REDIRECT_ON: return "on";
	case REDIRECT_NOT_NEEDED: return "not needed";
	case REDIRECT_UNSAFE: return "refused";
	case REDIRECT_FAILED: return "failed";
	case REDIRECT_LEFT: return "left by a killed leakbpf";
	default: return "off";
	}
}

struct table { uint64_t ctx, malloc, calloc, realloc, free; };

/* Reasons the environment gives not to touch the tables: debug hooks,
 * tracemalloc (its hooks occupy the slots) or another allocator. */
static bool environment_forbids(pid_t pid, char *why, size_t len)
{
	char val[64];

	if (!proc_getenv(pid, "PYTHONMALLOC", val, sizeof(val)) && *val &&
	    strcmp(val, "pymalloc") && strcmp(val, "malloc")) {
		snprintf(why, len, "PYTHONMALLOC=%s installs hooks the redirect would break", val);
		return true;
	}
	if (!proc_getenv(pid, "PYTHONDEVMODE", val, sizeof(val)) && *val) {
		snprintf(why, len, "PYTHONDEVMODE is set (debug allocator hooks)");
		return true;
	}
	if (!proc_getenv(pid, "PYTHONTRACEMALLOC", val, sizeof(val)) && *val && strcmp(val, "0")) {
		snprintf(why, len, "PYTHONTRACEMALLOC is set (tracemalloc owns the allocator tables)");
		return true;
	}
	if (proc_has_arg(pid, "dev", false) && proc_has_arg(pid, "-X", false)) {
		snprintf(why, len, "-X dev is on (debug allocator hooks)");
		return true;
	}
	if (proc_has_arg(pid, "-Xdev", false) || proc_has_arg(pid, "-Xtracemalloc", true) ||
	    proc_has_arg(pid, "tracemalloc", true)) {
		snprintf(why, len, "tracemalloc or -X dev requested on the command line");
		return true;
	}
	return false;
}

/* PYTHONMALLOC=malloc: every allocation reaches libc once the interpreter
 * has started. Decided from the environment, not the tables, because
 * `record` looks before start-up, when the tables still hold pymalloc and
 * the interpreter is about to replace them (-E and -I ignore it). */
static bool environment_selects_malloc(pid_t pid)
{
	char val[64];

	if (proc_getenv(pid, "PYTHONMALLOC", val, sizeof(val)) || strcmp(val, "malloc"))
		return false;
	return !proc_has_arg(pid, "-E", false) && !proc_has_arg(pid, "-I", false);
}

static int read_tables(pid_t pid, const struct py_target *t, struct table tab[3])
{
	int i, err;

	for (i = 0; i < 3; i++) {
		err = proc_read_mem(pid, t->tables[i], &tab[i], TABLE_SIZE);
		if (err)
			return err;
	}
	return 0;
}

/* Decides from the live tables whether they hold the defaults. */
static enum redirect_state judge_tables(const struct py_target *t, const struct table tab[3],
					char *why, size_t len)
{
	const struct table *raw = &tab[ALLOC_DOMAIN_RAW], *mem = &tab[ALLOC_DOMAIN_MEM],
			   *obj = &tab[ALLOC_DOMAIN_OBJ];

	if (raw->ctx || mem->ctx || obj->ctx) {
		snprintf(why, len, "allocator hooks are installed (debug hooks, tracemalloc or a custom allocator)");
		return REDIRECT_UNSAFE;
	}
	if (obj->malloc == raw->malloc && mem->malloc == raw->malloc &&
	    (obj->free != raw->free || mem->free != raw->free)) {
		snprintf(why, len, "the object allocators point at libc's malloc while pymalloc still frees: a redirect left by a leakbpf killed with its guardian");
		return REDIRECT_LEFT;
	}
	if (obj->malloc == raw->malloc && mem->malloc == raw->malloc) {
		snprintf(why, len, "PYTHONMALLOC=malloc: every allocation already reaches libc");
		return REDIRECT_NOT_NEEDED;
	}
	if (obj->malloc != mem->malloc || obj->calloc != mem->calloc) {
		snprintf(why, len, "the object and memory domains use different allocators");
		return REDIRECT_UNSAFE;
	}
	/* with symbols, insist on the exact defaults */
	if (t->raw_malloc_default && raw->malloc != t->raw_malloc_default) {
		snprintf(why, len, "the raw domain is not _PyMem_RawMalloc");
		return REDIRECT_UNSAFE;
	}
	if (t->obj_malloc_default && obj->malloc != t->obj_malloc_default) {
		snprintf(why, len, "the object domain is not pymalloc");
		return REDIRECT_UNSAFE;
	}
	return REDIRECT_ON;
}

static int restore_pid_counted(const struct alloc_redirect *r, pid_t pid, int *written)
{
	int i, err = 0;

	/* the tables replaced wholesale since we armed: none of it is ours */
	for (i = 0; i < REDIRECT_WITNESSES; i++) {
		uint64_t now;
		int e;

		if (!r->witness[i])
			continue;
		e = proc_read_mem(pid, r->witness[i], &now, sizeof(now));
		if (e)
			return e;
		if (now != r->witness_value[i])
			return -ESTALE;
	}
	/* compare, then restore: a slot someone else changed since (tracemalloc
	 * started, an exec replaced the image) is theirs, not ours */
	for (i = REDIRECT_SLOTS - 1; i >= 0; i--) {
		uint64_t now;
		int e = proc_read_mem(pid, r->slot[i], &now, sizeof(now));

		if (e) {
			err = err ? err : e;
			continue;
		}
		if (now != r->replacement[i])
			continue;
		e = proc_write_mem(pid, r->slot[i], &r->original[i], sizeof(r->original[i]));
		if (e)
			err = err ? err : e;
		else
			(*written)++;
	}
	return err;
}

int alloc_redirect_restore_pid(const struct alloc_redirect *r, pid_t pid)
{
	int written = 0;

	return restore_pid_counted(r, pid, &written);
}

/* Children forked while the redirect was on inherited it. */
static void restore_descendants(const struct alloc_redirect *r)
{
	struct proc_table t;
	pid_t *kids;
	size_t n, i;

	if (proc_table_read(&t))
		return;
	n = proc_table_descendants(&t, r->pid, NULL, 0);
	kids = malloc((n ? n : 1) * sizeof(*kids));
	if (kids) {
		n = proc_table_descendants(&t, r->pid, kids, n);
		for (i = 0; i < n; i++)
			alloc_redirect_restore_pid(r, kids[i]);
		free(kids);
	}
	proc_table_free(&t);
}

static bool same_process(const struct alloc_redirect *r)
{
	uint64_t st;

	return !proc_start_time(r->pid, &st) && st == r->start_time;
}

static void restore_everywhere(const struct alloc_redirect *r)
{
	if (same_process(r))
		alloc_redirect_restore_pid(r, r->pid);
	restore_descendants(r);
}

int alloc_redirect_restore_left(const struct alloc_redirect *r)
{
	struct proc_table t;
	pid_t *kids = NULL;
	size_t n = 0, i;
	int restored = 0, written = 0;

	if (same_process(r) && !restore_pid_counted(r, r->pid, &written) && written)
		restored++;
	if (proc_table_read(&t))
		return restored;
	/* descendants of a reused PID are not ours: the witness check in
	 * restore_pid_counted leaves their tables alone */
	n = proc_table_descendants(&t, r->pid, NULL, 0);
	kids = n ? malloc(n * sizeof(*kids)) : NULL;
	if (kids) {
		n = proc_table_descendants(&t, r->pid, kids, n);
		for (i = 0; i < n; i++) {
			written = 0;
			if (!restore_pid_counted(r, kids[i], &written) && written)
				restored++;
		}
		free(kids);
	}
	proc_table_free(&t);
	return restored;
}

/* The guardian waits for the tracer to go away. A byte 'D' means the tracer
 * restored the tables itself; end of file without it means the tracer died,
 * and the guardian restores them. 'J' and a path then a newline name the
 * redirect's record on disk, which the guardian removes once it restored. */
static void guardian_main(struct alloc_redirect *r, int fd)
{
	char c = 0;
	size_t len = 0;
	bool in_path = false;
	ssize_t n;

	setsid();	/* out of the tracer's process group: survive its ^C and kill -TERM -pgid */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_NAME, "leakbpf-guard", 0, 0, 0);
	r->journal[0] = '\0';
	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			break;
		if (in_path) {
			if (c == '\n' || len + 1 >= sizeof(r->journal))
				in_path = false;
			else
				r->journal[len++] = c;
			r->journal[len] = '\0';
		} else if (c == 'J') {
			in_path = true;
			len = 0;
		} else if (c == 'D') {
			_exit(0);
		}
	}
	restore_everywhere(r);
	if (r->journal[0] && !in_path)
		unlink(r->journal);	/* undone: the record has nothing left to say */
	_exit(0);
}

void alloc_redirect_tell_guardian(const struct alloc_redirect *r)
{
	char msg[sizeof(r->journal) + 2];
	int n = snprintf(msg, sizeof(msg), "J%s\n", r->journal);

	if (r->guardian_fd >= 0 && r->journal[0] && write(r->guardian_fd, msg, (size_t)n) != n)
		pr_debug("the guardian did not get the record's path");
}

static int start_guardian(struct alloc_redirect *r)
{
	int fds[2];
	pid_t child;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (child == 0) {
		/* keep only the pipe: BPF links and maps must die with the tracer */
		close(fds[1]);
		if (fds[0] != 3) {
			dup2(fds[0], 3);
			close(fds[0]);
		}
		syscall(SYS_close_range, 4, ~0U, 0);
		guardian_main(r, 3);
	}
	close(fds[0]);
	r->guardian = child;
	r->guardian_fd = fds[1];
	return 0;
}

/* The verdict on the live tables, nothing written; tab filled when read. */
static void check_tables(struct alloc_redirect *r, const struct py_target *t, struct table tab[3])
{
	int err;

	memset(r, 0, sizeof(*r));
	r->pid = t->pid;
	r->guardian_fd = -1;
	if (!t->tables[0] || !t->tables[1] || !t->tables[2]) {
		r->state = REDIRECT_FAILED;
		snprintf(r->why, sizeof(r->why), "allocator tables not found in %.150s", t->path);
		return;
	}
	if (environment_forbids(t->pid, r->why, sizeof(r->why))) {
		r->state = REDIRECT_UNSAFE;
		return;
	}
	if (environment_selects_malloc(t->pid)) {
		r->state = REDIRECT_NOT_NEEDED;
		snprintf(r->why, sizeof(r->why), "PYTHONMALLOC=malloc: every allocation already reaches libc");
		return;
	}
	err = read_tables(t->pid, t, tab);
	if (err) {
		r->state = REDIRECT_FAILED;
		snprintf(r->why, sizeof(r->why), "cannot read the allocator tables: %s", strerror(-err));
		return;
	}
	r->state = judge_tables(t, tab, r->why, sizeof(r->why));
}

void alloc_redirect_check(struct alloc_redirect *r, const struct py_target *t)
{
	struct table tab[3];

	check_tables(r, t, tab);
}

void alloc_redirect_prepare(struct alloc_redirect *r, const struct py_target *t)
{
	struct table tab[3];
	uint64_t raw_malloc, raw_calloc;
	int err;

	check_tables(r, t, tab);
	if (r->state != REDIRECT_ON)
		return;
	if (proc_start_time(t->pid, &r->start_time)) {
		r->state = REDIRECT_FAILED;
		snprintf(r->why, sizeof(r->why), "process %d vanished", t->pid);
		return;
	}
	raw_malloc = tab[ALLOC_DOMAIN_RAW].malloc;
	raw_calloc = tab[ALLOC_DOMAIN_RAW].calloc;
	r->slot[0] = t->tables[ALLOC_DOMAIN_OBJ] + SLOT_MALLOC;
	r->slot[1] = t->tables[ALLOC_DOMAIN_OBJ] + SLOT_CALLOC;
	r->slot[2] = t->tables[ALLOC_DOMAIN_MEM] + SLOT_MALLOC;
	r->slot[3] = t->tables[ALLOC_DOMAIN_MEM] + SLOT_CALLOC;
	r->original[0] = tab[ALLOC_DOMAIN_OBJ].malloc;
	r->original[1] = tab[ALLOC_DOMAIN_OBJ].calloc;
	r->original[2] = tab[ALLOC_DOMAIN_MEM].malloc;
	r->original[3] = tab[ALLOC_DOMAIN_MEM].calloc;
	r->replacement[0] = r->replacement[2] = raw_malloc;
	r->replacement[1] = r->replacement[3] = raw_calloc;
	r->witness[0] = t->tables[ALLOC_DOMAIN_OBJ] + SLOT_FREE;
	r->witness[1] = t->tables[ALLOC_DOMAIN_MEM] + SLOT_FREE;
	r->witness_value[0] = tab[ALLOC_DOMAIN_OBJ].free;
	r->witness_value[1] = tab[ALLOC_DOMAIN_MEM].free;

	/* the guardian first: from the first write on, a dead tracer is covered */
	err = start_guardian(r);
	if (err) {
		r->state = REDIRECT_FAILED;
		snprintf(r->why, sizeof(r->why), "cannot start the guardian process: %s", strerror(-err));
		return;
	}
	snprintf(r->why, sizeof(r->why), "object allocations routed to libc malloc (tables found by %s)",
		 t->tables_method ? t->tables_method : "?");
}

int alloc_redirect_arm(struct alloc_redirect *r)
{
	int i, err;

	if (r->state != REDIRECT_ON || r->guardian_fd < 0)
		return -EINVAL;
	for (i = 0; i < REDIRECT_WITNESSES; i++) {
		uint64_t now;

		/* the program replaced its allocators since we judged them */
		err = proc_read_mem(r->pid, r->witness[i], &now, sizeof(now));
		if (!err && now != r->witness_value[i])
			err = -EBUSY;
		if (err)
			return err;
	}
	for (i = 0; i < REDIRECT_SLOTS; i++) {
		uint64_t now;

		/* only over the value we saw: a slot changed since is not ours */
		err = proc_read_mem(r->pid, r->slot[i], &now, sizeof(now));
		if (!err && now != r->original[i] && now != r->replacement[i])
			err = -EBUSY;
		if (!err && now == r->original[i])
			err = proc_write_mem(r->pid, r->slot[i], &r->replacement[i], sizeof(uint64_t));
		if (err) {
			alloc_redirect_disarm(r);
			return err;
		}
	}
	r->armed = true;
	return 0;
}

int alloc_redirect_disarm(struct alloc_redirect *r)
{
	int err = 0;

	if (r->state != REDIRECT_ON)
		return 0;
	if (same_process(r))
		err = alloc_redirect_restore_pid(r, r->pid);
	/* children forked during the window inherited the redirect */
	restore_descendants(r);
	r->armed = false;
	return err;
}

void alloc_redirect_start(struct alloc_redirect *r)
{
	int err;

	if (r->state != REDIRECT_ON)
		return;
	err = alloc_redirect_arm(r);
	if (err) {
		alloc_redirect_restore(r);
		r->state = REDIRECT_FAILED;
		snprintf(r->why, sizeof(r->why), "cannot write the allocator table: %s", strerror(-err));
		return;
	}
	pr_info("process %d: allocator redirect on", r->pid);
}

int alloc_redirect_restore(struct alloc_redirect *r)
{
	int err = 0;

	if (r->state == REDIRECT_ON || r->guardian_fd >= 0) {
		if (same_process(r))
			err = alloc_redirect_restore_pid(r, r->pid);
		restore_descendants(r);
	}
	if (r->guardian_fd >= 0) {
		if (write(r->guardian_fd, "D", 1) != 1)
			pr_debug("guardian gone before we finished");
		close(r->guardian_fd);
		r->guardian_fd = -1;
		waitpid(r->guardian, NULL, 0);
	}
	if (r->state == REDIRECT_ON)
		r->state = REDIRECT_OFF;
	r->armed = false;
	return err;
}
