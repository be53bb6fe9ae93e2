// SPDX-License-Identifier: MIT
/*
 * The agent's life: which processes to trace, attaching them as they
 * appear (a fork of a traced process at once; an exec once its interpreter
 * has loaded), letting them go when they exit, and the loop that drives
 * the sampled windows, the snapshots, retention and the metrics endpoint.
 */
#include "agent.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"
#include "log.h"
#include "redirect_journal.h"
#include "metrics_server.h"
#include "store.h"
#include "symbolizer.h"
#include "tracer.h"

/* An exec'd process is looked at this long after the exec: by then the
 * dynamic loader has mapped libc and libpython. Then again, a few times,
 * while its interpreter initialises. */
static const double exec_attach_delays[] = { 0.1, 0.4, 1.5 };
#define EXEC_ATTEMPTS (sizeof(exec_attach_delays) / sizeof(exec_attach_delays[0]))
/* A fork whose parent is inside a sampled window waits for it to close:
 * the child inherited the redirected tables, which the parent's disarm
 * restores in it too. */
#define WINDOW_WAIT_S 0.02
/* Retention runs this often; full resolution for the last hour, then one
 * snapshot a minute, one every 5 minutes after 6 hours. */
#define RETENTION_EVERY_S 60.0

/* Wall-clock time the process started: boot time plus its start ticks. */
static double started_wall(uint64_t start_ticks)
{
	static double btime = -1;

	if (btime < 0) {
		FILE *f = fopen("/proc/stat", "re");
		char line[256];
		unsigned long long b = 0;

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "btime %llu", &b) == 1)
				break;
		if (f)
			fclose(f);
		btime = (double)b;
	}
	return btime + (double)start_ticks / (double)sysconf(_SC_CLK_TCK);
}

static struct agent_proc *find_proc(struct agent *a, pid_t pid)
{
	size_t i;

	for (i = 0; i < a->nprocs; i++)
		if (a->procs[i]->pid == pid)
			return a->procs[i];
	return NULL;
}

/* A CPython process, or one that embeds it (uwsgi): its executable is
 * python*, or it maps libpython. Cheap enough for every exec of a node. */
static bool python_candidate(pid_t pid)
{
	char path[64], exe[PATH_MAX], line[512];
	const char *base;
	ssize_t n;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;	/* a kernel thread, or gone */
	exe[n] = '\0';
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	if (!strncmp(base, "python", 6))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "/libpython3") != NULL;
	if (f)
		fclose(f);
	return found;
}

/* Starts knowing of pid: traced at attach_at. NULL when full or gone. */
static struct agent_proc *add_proc(struct agent *a, pid_t pid, double attach_at, bool from_fork)
{
	struct agent_proc *p;
	uint64_t start;

	if (proc_start_time(pid, &start))
		return NULL;
	if (a->nprocs >= a->opts.max_processes) {
		a->stats.skipped_max_processes++;
		pr_warn("not tracing process %d: --max-processes %u reached", pid, a->opts.max_processes);
		return NULL;
	}
	if (a->nprocs == a->capprocs) {
		size_t cap = a->capprocs ? a->capprocs * 2 : 16;
		struct agent_proc **v = realloc(a->procs, cap * sizeof(*v));

		if (!v)
			return NULL;
		a->procs = v;
		a->capprocs = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->start_time = start;
	p->started_wall = started_wall(start);
	p->attach_at = attach_at;
	p->from_fork = from_fork;
	p->group = pid;
	a->procs[a->nprocs++] = p;
	tracer_follow(a->tracer, pid);
	return p;
}

static void drop_proc(struct agent *a, struct agent_proc *p, bool ended)
{
	size_t i;

	if (p->traced && ended) {
		session_mark_exited(&p->s);
		/* its last state, from what leakbpf holds (its memory is gone):
		 * a worker recycled after seconds lives between two of the
		 * agent's snapshots, and would leave nothing */
		if (agent_snapshot(a, p, wall_seconds(), monotonic_seconds()))
			a->stats.snapshot_failures++;
		else
			a->stats.final_snapshots++;
		store_mark_ended(a->store, p->pid, p->start_time, wall_seconds());
		a->stats.exited++;
		pr_info("process %d exited", p->pid);
	}
	if (p->traced)
		session_close(&p->s);	/* forgets its follow entry too */
	else if (!a->opts.root)
		tracer_unfollow(a->tracer, p->pid);	/* only Python's forks matter */
	u64map_clear(&p->baseline_stacks, NULL);
	for (i = 0; i < a->nprocs; i++) {
		if (a->procs[i] == p) {
			a->procs[i] = a->procs[--a->nprocs];
			break;
		}
	}
	free(p);
}

/* A traced sibling (same parent: another worker of the same master) whose
 * governor has measured its windows, or NULL. Not the parent: a master
 * idles while its workers serve. */
static const struct agent_proc *measured_sibling(const struct agent *a, const struct agent_proc *p)
{
	size_t i;

	for (i = 0; i < a->nprocs; i++) {
		const struct agent_proc *q = a->procs[i];

		if (q != p && q->ppid == p->ppid && q->traced && q->s.sampled.on &&
		    q->s.sampled.window_density > 0)
			return q;
	}
	return NULL;
}

static void try_attach(struct agent *a, struct agent_proc *p, double now)
{
	struct agent_proc *parent = find_proc(a, p->ppid);
	const struct agent_proc *sibling;
	uint64_t start;
	int err;

	if (proc_start_time(p->pid, &start) || start != p->start_time) {
		drop_proc(a, p, false);	/* gone before we got to it */
		return;
	}
	if (p->from_fork && parent && parent->traced && parent->s.sampled.window_open) {
		p->attach_at = now + WINDOW_WAIT_S;
		return;
	}
	if (!p->from_fork && !python_candidate(p->pid)) {
		if (++p->attempts < (int)EXEC_ATTEMPTS) {
			p->attach_at = now + exec_attach_delays[p->attempts];
		} else {
			pr_debug("process %d is not Python: not traced", p->pid);
			drop_proc(a, p, false);
		}
		return;
	}
	session_open_shared(&p->s, &a->opts.trace, a->tracer, a->sym);
	err = session_attach(&p->s, p->pid);
	if (err) {
		pr_warn("process %d: %s", p->pid, p->s.why);
		a->stats.attach_failures++;
		session_close(&p->s);
		drop_proc(a, p, false);
		return;
	}
	if (p->s.py_status) {
		/* an interpreter still loading, or one leakbpf cannot walk:
		 * tracing it natively would trap on every malloc */
		session_close(&p->s);
		if (!p->from_fork && ++p->attempts < (int)EXEC_ATTEMPTS) {
			p->attach_at = now + exec_attach_delays[p->attempts];
			return;
		}
		pr_warn("process %d: not a CPython leakbpf can walk; not traced", p->pid);
		a->stats.attach_failures++;
		drop_proc(a, p, false);
		return;
	}
	p->traced = true;
	p->attached_wall = wall_seconds();
	a->stats.attached++;
	pr_info("tracing process %d (%s)%s", p->pid, p->s.comm, p->from_fork ? ", forked" : "");
	sibling = measured_sibling(a, p);
	if (sibling && sampled_take_schedule(&p->s.sampled, &sibling->s.sampled))
		pr_info("process %d: sampling on sibling %d's measured schedule (%.0f ms every %.1f s)",
			p->pid, sibling->pid, p->s.sampled.sched.window * 1e3, p->s.sampled.sched.period);
}

/* Fork, exec and exit, as the tracepoints report them. */
static int on_process_event(void *ctx, const struct lb_event *ev)
{
	struct agent *a = ctx;
	struct agent_proc *p = find_proc(a, (pid_t)ev->pid), *parent;
	double now = monotonic_seconds();

	a->stats.process_events++;
	switch (ev->type) {
	case LB_EVENT_FORK:
		parent = find_proc(a, (pid_t)ev->ppid);
		if (p)
			break;
		/* a fork of a traced interpreter runs it already: attach now;
		 * anything else is looked at if it execs */
		if (parent && parent->traced && !parent->s.py_status) {
			p = add_proc(a, (pid_t)ev->pid, now, true);
			if (p) {
				/* it runs its parent's program: a worker of the
				 * parent's group from its first instant (one that
				 * lives between two snapshots is never looked up
				 * in the process tree) */
				p->ppid = (pid_t)ev->ppid;
				p->role = PROC_ROLE_WORKER;
				p->group = parent->role == PROC_ROLE_WORKER ? parent->group : parent->pid;
			}
		}
		break;
	case LB_EVENT_EXEC:
		if (p)
			drop_proc(a, p, false);	/* its old image's probes are void */
		p = add_proc(a, (pid_t)ev->pid, now + exec_attach_delays[0], false);
		if (p)
			p->ppid = (pid_t)ev->ppid;
		break;
	case LB_EVENT_EXIT:
		if (p)
			drop_proc(a, p, true);
		break;
	default:
		break;
	}
	return 0;
}

static int on_new_stack(void *ctx, const struct lb_event *ev)
{
	struct agent *a = ctx;

	session_symbolize(a->sym, ev, &a->max_symbolize_lag_ns);
	return 0;
}

/* The processes there before the agent: the root and its descendants, or
 * every CPython. */
static int discover(struct agent *a)
{
	struct proc_table t;
	double now = monotonic_seconds();
	size_t i;
	int err = proc_table_read(&t);

	if (err)
		return err;
	if (a->opts.root) {
		pid_t *kids = calloc(t.n + 1, sizeof(*kids));
		size_t n;

		if (!kids) {
			proc_table_free(&t);
			return -ENOMEM;
		}
		n = proc_table_descendants(&t, a->opts.root, kids, t.n);
		kids[n++] = a->opts.root;
		for (i = 0; i < n; i++) {
			/* followed even when not Python: a shell's children may be */
			tracer_follow(a->tracer, kids[i]);
			if (python_candidate(kids[i]))
				add_proc(a, kids[i], now, false);
		}
		free(kids);
	} else {
		for (i = 0; i < t.n; i++)
			if (t.v[i].pid != getpid() && python_candidate(t.v[i].pid))
				add_proc(a, t.v[i].pid, now, false);
	}
	proc_table_free(&t);
	return 0;
}

int agent_open(struct agent *a, const struct agent_opts *opts)
{
	char why[300];
	int err;

	memset(a, 0, sizeof(*a));
	a->opts = *opts;
	a->started = monotonic_seconds();
	err = store_open(opts->store_dir, &a->store, why, sizeof(why));
	if (err) {
		fprintf(stderr, "leakbpf agent: store: %s\n", why);
		return err;
	}
	/* the records live beside the store (a hostPath: they outlive this
	 * container); the lock just taken says no other agent uses them */
	if (snprintf(a->journal_dir, sizeof(a->journal_dir), "%s/redirects", opts->store_dir) <
	    (int)sizeof(a->journal_dir)) {
		a->opts.trace.journal_dir = a->journal_dir;
		err = redirect_journal_replay(a->journal_dir);
		if (err < 0 && err != -ENOENT)
			pr_warn("cannot read %s: %s", a->journal_dir, strerror(-err));
	}
	if (opts->metrics_addr) {
		err = metrics_server_open(opts->metrics_addr, &a->metrics, why, sizeof(why));
		if (err) {
			fprintf(stderr, "leakbpf agent: %s\n", why);
			return err;
		}
	}
	err = tracer_open(&opts->trace.tracer, &a->tracer);
	if (err)
		return err;
	err = symbolizer_new(a->tracer, &a->sym);
	if (!err)
		err = tracer_follow_start(a->tracer, !opts->root, on_process_event, a);
	if (err) {
		fprintf(stderr, "leakbpf agent: cannot follow processes (sched tracepoints): %s; the kernel needs BTF-enabled tracepoints (tp_btf)\n",
			strerror(-err));
		return err;
	}
	/* one calibration for all: each session would trap 6000 times */
	if (opts->trace.measure_cost || opts->trace.sampled) {
		double trap_ns = 0;

		err = tracer_enable_stats(a->tracer);
		if (err)
			pr_warn("the kernel's BPF statistics are refused (%s; they need CAP_SYS_ADMIN): the governors count an assumed BPF time a probe hit",
				strerror(-err));
		if (!tracer_calibrate_trap(a->tracer, &trap_ns)) {
			a->opts.trace.trap_ns = trap_ns;
			pr_info("one uprobe trap costs %.2f us here", trap_ns / 1e3);
		}
	}
	err = discover(a);
	if (err) {
		fprintf(stderr, "leakbpf agent: cannot read /proc: %s\n", strerror(-err));
		return err;
	}
	a->next_snapshot = monotonic_seconds() + opts->interval;
	a->next_retention = monotonic_seconds();
	return 0;
}

/* Roles and groups from the process tree as it is now. */
static void refresh_roles(struct agent *a)
{
	struct proc_table t;
	size_t i;

	if (proc_table_read(&t))
		return;
	for (i = 0; i < a->nprocs; i++) {
		struct agent_proc *p = a->procs[i];
		const struct proc_entry *e = proc_table_find(&t, p->pid);

		if (!e || e->start_time != p->start_time)
			continue;
		p->ppid = e->ppid;
		p->role = proc_role_of(&t, p->pid, &p->group);
	}
	proc_table_free(&t);
}

static void take_snapshots(struct agent *a)
{
	double t = wall_seconds(), mono = monotonic_seconds(), began = mono;
	char text[1024];
	size_t i, used = 0;
	int c;

	refresh_roles(a);
	for (i = 0; i < a->nprocs; i++) {
		struct agent_proc *p = a->procs[i];

		if (!p->traced)
			continue;
		if (agent_snapshot(a, p, t, mono))
			a->stats.snapshot_failures++;
		else
			a->stats.snapshots++;
	}
	if (!tracer_read_counters(a->tracer, a->counters)) {
		a->counters[LB_CNT_CODE_GONE] = symbolizer_code_gone(a->sym, 0);
		a->counters[LB_CNT_CODE_OVER_BUDGET] = symbolizer_code_over_budget(a->sym, 0);
		for (c = 0; c < LB_CNT__COUNT && used < sizeof(text); c++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s=%llu",
						 c ? " " : "", counter_name(c),
						 (unsigned long long)a->counters[c]);
		store_put_counters(a->store, t, text);
	}
	a->stats.store_seconds += monotonic_seconds() - began;
	a->snapshots_done++;
}

static void apply_retention(struct agent *a)
{
	double now = wall_seconds();
	int gone = store_expire(a->store, now - a->opts.retention);

	if (gone > 0)
		pr_debug("store: %d snapshots past --retention removed", gone);
	store_downsample(a->store, now - 3600, 60);
	store_downsample(a->store, now - 6 * 3600, 300);
	store_checkpoint(a->store);
}

/* Exits the tracepoint missed (the ring was full): /proc tells. */
static void reap_gone(struct agent *a)
{
	size_t i = 0;

	while (i < a->nprocs) {
		struct agent_proc *p = a->procs[i];
		uint64_t start;

		if (proc_is_running(p->pid) && !proc_start_time(p->pid, &start) &&
		    start == p->start_time) {
			i++;
			continue;
		}
		drop_proc(a, p, true);
	}
}

/* Renders the exposition text and hands it to the server's thread. */
static void publish_metrics(struct agent *a)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int err = out ? 0 : -errno;

	if (!err && agent_metrics_write(a, out))
		err = -EIO;
	if (out && fclose(out) && !err)
		err = -EIO;
	if (!err)
		err = metrics_server_publish(a->metrics, text, len);
	if (err)
		pr_warn("metrics not updated: %s", strerror(-err));
	free(text);
}

int agent_run(struct agent *a, volatile sig_atomic_t *stop)
{
	double last_reap = 0, last_publish = 0;

	while (!*stop) {
		double now = monotonic_seconds();
		int timeout = 200, err;
		size_t i;

		for (i = 0; i < a->nprocs; i++) {
			struct agent_proc *p = a->procs[i];
			int due;

			if (!p->traced) {
				if (now >= p->attach_at) {
					try_attach(a, p, now);
					i = (size_t)-1;	/* the list may have changed */
					continue;
				}
				due = (int)((p->attach_at - now) * 1000) + 1;
			} else {
				due = session_tick(&p->s);
			}
			if (due < timeout)
				timeout = due;
		}
		if (a->next_snapshot - now < timeout / 1e3)
			timeout = a->next_snapshot > now ? (int)((a->next_snapshot - now) * 1000) + 1 : 0;
		if (timeout < 0)
			timeout = 0;
		symbolizer_begin_batch(a->sym);
		err = tracer_poll_events(a->tracer, timeout, on_new_stack, a);
		if (err < 0 && err != -EINTR)
			pr_warn("reading the event ring: %s", strerror(-err));
		now = monotonic_seconds();
		/* the server's thread answers scrapes with what is published:
		 * rendering is the loop's only part in it, once a second */
		if (a->metrics && now - last_publish >= 1) {
			publish_metrics(a);
			last_publish = now;
		}
		if (now - last_reap >= 1) {
			reap_gone(a);
			last_reap = now;
		}
		if (now >= a->next_snapshot) {
			take_snapshots(a);
			a->next_snapshot += a->opts.interval;
			if (a->next_snapshot < now)
				a->next_snapshot = now + a->opts.interval;
			if (a->opts.iterations && a->snapshots_done >= a->opts.iterations)
				break;
		}
		if (now >= a->next_retention) {
			apply_retention(a);
			a->next_retention = now + RETENTION_EVERY_S;
		}
	}
	return 0;
}

void agent_close(struct agent *a)
{
	while (a->nprocs)
		drop_proc(a, a->procs[a->nprocs - 1], false);
	free(a->procs);
	free(a->gens);
	a->gens = NULL;
	a->procs = NULL;
	metrics_server_close(a->metrics);
	symbolizer_free(a->sym);
	tracer_free(a->tracer);
	store_close(a->store);
	a->metrics = NULL;
	a->sym = NULL;
	a->tracer = NULL;
	a->store = NULL;
}
