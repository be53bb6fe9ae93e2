// SPDX-License-Identifier: MIT
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_image.h"
#include "log.h"
#include "proc.h"
#include "py_newref_sites.h"
#include "redirect_journal.h"
#include "symbolizer.h"

int session_open(struct session *s, const struct session_opts *opts)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->opts = *opts;
	s->redirect.guardian_fd = -1;
	err = tracer_open(&opts->tracer, &s->tracer);
	if (err)
		return err;
	err = symbolizer_new(s->tracer, &s->sym);
	if (err) {
		tracer_free(s->tracer);
		s->tracer = NULL;
	}
	return err;
}

void session_open_shared(struct session *s, const struct session_opts *opts,
			 struct tracer *t, struct symbolizer *sym)
{
	memset(s, 0, sizeof(*s));
	s->opts = *opts;
	s->redirect.guardian_fd = -1;
	s->tracer = t;
	s->sym = sym;
	s->shared = true;
}

static void describe_python(struct session *s)
{
	if (!s->py_status)
		pr_info("process %d: CPython %u.%u.%u in %s (version from %s, layout from %s)",
			s->pid, s->py.major, s->py.minor, s->py.micro, s->py.path,
			s->py.version_method, s->py.offsets_method);
	else if (s->py_status == -ENOENT)
		pr_info("process %d is not a Python process: tracing native allocations", s->pid);
	else if (s->py_status == -ENOTSUP)
		pr_warn("%s; tracing native allocations only", s->py.why);
	else if (s->py_status)
		pr_warn("cannot inspect the interpreter of process %d (%s); tracing native allocations only",
			s->pid, strerror(-s->py_status));
}

static int write_proc_config(struct session *s, bool sampled)
{
	struct lb_proc proc = { 0 };

	if (sampled)
		proc.flags |= LB_PROC_SAMPLED;
	if (!s->py_status) {
		proc.runtime_addr = s->py.runtime_addr;
		proc.flags |= LB_PROC_PYTHON;
		proc.max_depth = s->opts.max_depth;
		proc.preheader_flags = py_preheader_flags(s->py.minor);
		proc.off = s->py.off;
		if (s->opts.stop_at_finalize && s->py.finalize_offset)
			proc.flags |= LB_PROC_STOP_AT_FINALIZE;
	}
	return tracer_set_proc(s->tracer, s->pid, &proc);
}



/* BPF time a hit costs when the kernel's statistics are refused (they need
 * CAP_SYS_ADMIN, which the DaemonSet does without): measured 1.56 us on
 * gunicorn workers (0.26 s over 165k hits) with them on. */
#define ASSUMED_BPF_NS_PER_HIT 1600

static int read_cost_of(void *ctx, struct cost_sample *c)
{
	return session_read_cost(ctx, c);
}

/* The process as sampled mode sees it, for one call. */
static struct sampled_target sampled_target_of(struct session *s)
{
	return (struct sampled_target){
		.sampled = &s->sampled, .pid = s->pid, .exited = s->exited,
		.tracer = s->tracer, .sym = s->sym, .py = &s->py, .redirect = &s->redirect,
		.cost_ready = s->cost_ready, .trap_ns = s->trap_ns,
		.read_cost = read_cost_of, .cost_ctx = s,
	};
}

int session_read_cost(struct session *s, struct cost_sample *c)
{
	struct timespec now;
	uint64_t all_hits, all_ns, mine;
	int err = tracer_pid_hits(s->tracer, s->pid, &mine);

	if (err)
		return err;
	/* this process's hits come from BPF (one tracer may serve many
	 * processes); the kernel's run time, counted per program for all of
	 * them, is shared pro rata, or assumed without statistics */
	c->hits = mine;
	if (tracer_stats_on(s->tracer) && !tracer_read_cost(s->tracer, &all_hits, &all_ns) &&
	    all_hits)
		c->bpf_ns = (uint64_t)((double)all_ns * (double)mine / (double)all_hits);
	else
		c->bpf_ns = mine * ASSUMED_BPF_NS_PER_HIT;
	/* the average per hit moves with the other processes' mix: keep the
	 * estimate from going backwards */
	if (c->bpf_ns < s->bpf_ns_so_far)
		c->bpf_ns = s->bpf_ns_so_far;
	s->bpf_ns_so_far = c->bpf_ns;
	clock_gettime(CLOCK_MONOTONIC, &now);
	c->time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	if (proc_cpu_ticks(s->pid, &c->target_ticks))
		c->target_ticks = 0;
	return 0;
}

/* Calibrates a trap and turns the kernel's BPF statistics on; without the
 * statistics the BPF time is assumed per hit; without a trap figure
 * tracing goes on without a cost figure. */
static void start_measuring_cost(struct session *s)
{
	int err = tracer_enable_stats(s->tracer);

	if (err && !s->shared)
		pr_warn("the kernel's BPF statistics are refused (%s; they need CAP_SYS_ADMIN): leakbpf's cost counts %.1f us of BPF time a probe hit",
			strerror(-err), ASSUMED_BPF_NS_PER_HIT / 1e3);
	s->trap_ns = s->opts.trap_ns;
	err = 0;
	if (!s->trap_ns)
		err = tracer_calibrate_trap(s->tracer, &s->trap_ns);
	if (!err)
		err = session_read_cost(s, &s->cost_last);
	if (err) {
		pr_warn("cannot measure leakbpf's own cost: %s", strerror(-err));
		return;
	}
	if (!s->opts.trap_ns)
		pr_info("one uprobe trap costs %.2f us here", s->trap_ns / 1e3);
	s->cost_ready = true;
}


static void warn_redirect_off(const struct session *s)
{
	pr_warn("process %d: allocator redirect %s: %s; Python objects served by pymalloc stay invisible",
		s->pid, redirect_state_name(s->redirect.state), s->redirect.why);
}

/*
 * Checks the tables and starts the guardian; then, before anything is
 * written to the process, records the redirect on disk: a leakbpf killed
 * together with its guardian leaves a record the next run restores from
 * (src/python/redirect_journal.c). No record, no redirect. 0 when the
 * redirect can be armed.
 */
static int prepare_redirect(struct session *s)
{
	const char *dir = s->opts.journal_dir ? s->opts.journal_dir : REDIRECT_JOURNAL_DEFAULT_DIR;
	int err;

	alloc_redirect_prepare(&s->redirect, &s->py);
	if (s->redirect.state == REDIRECT_ON) {
		err = redirect_journal_write(dir, &s->redirect);
		if (!err)
			alloc_redirect_tell_guardian(&s->redirect);
		if (err) {
			alloc_redirect_restore(&s->redirect);
			s->redirect.state = REDIRECT_FAILED;
			snprintf(s->redirect.why, sizeof(s->redirect.why),
				 "cannot record it in %.100s (%s), and a redirect not recorded could outlive a killed leakbpf",
				 dir, strerror(-err));
		}
	}
	if (s->redirect.state == REDIRECT_UNSAFE || s->redirect.state == REDIRECT_FAILED)
		warn_redirect_off(s);
	if (s->redirect.state == REDIRECT_LEFT)	/* its record was replayed before this */
		pr_warn("process %d: %s, and no record of it was found: every allocation is visible, but restart the process to be rid of it",
			s->pid, s->redirect.why);
	return s->redirect.state == REDIRECT_ON ? 0 : -EPERM;
}

/* Sampled mode needs a Python target (the work clock weights the samples)
 * and the cost measurement (the governor). The probes just attached open
 * the first window. On refusal, says why and leaves full mode running. */
static int start_sampling(struct session *s)
{
	const char *why = NULL;
	int err;

	if (s->py_status)
		why = "it is not a Python process leakbpf can walk";
	else if (!s->cost_ready)
		why = "leakbpf cannot measure its own cost here";
	if (why) {
		pr_warn("process %d: sampled mode needs a Python target and a cost measurement, but %s; tracing every allocation (--mode full)",
			s->pid, why);
		return -ENOTSUP;
	}
	if (!s->opts.no_redirect)
		prepare_redirect(s);
	/* session_attach wrote the config with LB_PROC_SAMPLED already */
	struct sampled_target target = sampled_target_of(s);

	err = sampled_start(&target, s->opts.max_overhead, s->opts.seed, s->why, sizeof(s->why));
	if (err) {
		pr_warn("%s; tracing every allocation (--mode full)",
			s->why[0] ? s->why : strerror(-err));
		s->why[0] = '\0';
		sampled_free(&s->sampled);
		memset(&s->sampled, 0, sizeof(s->sampled));
		alloc_redirect_restore(&s->redirect);
		redirect_journal_remove(&s->redirect);
		s->redirect.state = REDIRECT_OFF;
		write_proc_config(s, false);	/* the probes session_attach put in stay */
		return err;
	}
	return 0;
}

/*
 * Full mode: objects CPython reuses from its free lists move to the line
 * that reuses them (src/python/py_newref_sites.c). Without the probes they stay on
 * the line that first allocated the memory: said, not fatal. Not in
 * sampled mode: tried in every window where CPython reused the window's
 * blocks (issue 12), a window's traps quadrupled (Flask: 17k object
 * creations for 4k allocations), and each reused block moved to the last
 * temporary that took it before the window closed (blinker's
 * Signal.send), was reused again unseen after it and kept there: that
 * line outranked the leak in recycled workers.
 */
static void attach_new_reference(struct session *s)
{
	struct elf_image *img = NULL;
	struct newref_sites sites = { 0 };
	uint64_t *off = NULL, *reg = NULL;
	size_t i, n = 0;
	int err;

	if (s->opts.no_redirect)
		return;		/* pymalloc's objects stay invisible: nothing to move */
	err = elf_image_open(s->py.host_path, &img);
	if (!err)
		err = newref_sites_find_file(s->py.host_path, img, s->py.minor, &sites);
	if (!err && !sites.n)
		err = -ENOENT;
	if (!err) {
		off = calloc(sites.n, sizeof(*off));
		reg = calloc(sites.n, sizeof(*reg));
		err = off && reg ? 0 : -ENOMEM;
	}
	for (i = 0; !err && i < sites.n; i++)
		if (!elf_image_vaddr_to_offset(img, sites.v[i].vaddr, &off[n]))
			reg[n++] = sites.v[i].reg;
	if (!err)
		err = tracer_attach_new_reference(s->tracer, s->pid, s->py.host_path, off, reg, n);
	if (err)
		pr_warn("process %d: objects reused from CPython's free lists stay on the line that first allocated them (new-reference probes: %s)",
			s->pid, strerror(-err));
	else
		pr_info("process %d: %zu new-reference sites probed (%zu checks of the flag, %zu without a store)",
			s->pid, n, sites.flag_reads, sites.unmatched);
	free(off);
	free(reg);
	newref_sites_free(&sites);
	elf_image_close(img);
}

int session_attach(struct session *s, pid_t pid)
{
	int err;

	s->pid = pid;
	s->why[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	if (proc_comm(pid, s->comm, sizeof(s->comm)))
		snprintf(s->comm, sizeof(s->comm), "?");
	if (container_of(pid, &s->container))
		memset(&s->container, 0, sizeof(s->container));
	s->py_status = py_target_detect(pid, &s->py);
	describe_python(s);
	err = symbolizer_add_process(s->sym, pid, s->py_status ? NULL : &s->py);
	if (!err)
		err = write_proc_config(s, s->opts.sampled);
	if (!err)
		err = tracer_attach_libc(s->tracer, pid, s->why, sizeof(s->why));
	if (err) {
		if (!s->why[0])
			snprintf(s->why, sizeof(s->why), "cannot trace process %d: %s", pid, strerror(-err));
		return err;
	}
	s->attached = true;
	if (!s->py_status && s->opts.stop_at_finalize && s->py.finalize_offset) {
		err = tracer_attach_finalize(s->tracer, pid, s->py.host_path, s->py.finalize_offset);
		if (err)
			pr_warn("cannot probe Py_FinalizeEx (%s): the report will be taken at exit, after module teardown",
				strerror(-err));
	}
	if (s->opts.measure_cost || s->opts.sampled)
		start_measuring_cost(s);
	if (s->opts.sampled && start_sampling(s))
		s->opts.sampled = false;	/* told why; full mode from here */
	if (!s->opts.sampled && !s->py_status && !s->opts.no_redirect &&
	    !prepare_redirect(s)) {
		alloc_redirect_start(&s->redirect);
		if (s->redirect.state == REDIRECT_FAILED) {
			redirect_journal_remove(&s->redirect);
			warn_redirect_off(s);
		}
	}
	if (!s->opts.sampled && !s->py_status)
		attach_new_reference(s);
	return 0;
}

void session_symbolize(struct symbolizer *sym, const struct lb_event *ev, uint64_t *max_lag_ns)
{
	struct timespec now;
	uint64_t lag;

	/* the lag matters: a code object freed meanwhile cannot be named */
	symbolizer_stack(sym, ev->stack_key);
	clock_gettime(CLOCK_MONOTONIC, &now);
	lag = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec - ev->time_ns;
	if (lag > *max_lag_ns)
		*max_lag_ns = lag;
}

static int on_event(void *ctx, const struct lb_event *ev)
{
	struct session *s = ctx;

	session_symbolize(s->sym, ev, &s->max_symbolize_lag_ns);
	return 0;
}

int session_tick(struct session *s)
{
	struct sampled_target target = sampled_target_of(s);

	return s->sampled.on ? sampled_tick(&target) : INT_MAX;
}

int session_pump(struct session *s, int timeout_ms)
{
	int due = session_tick(s);

	if (due < timeout_ms)
		timeout_ms = due;
	symbolizer_begin_batch(s->sym);
	return tracer_poll_events(s->tracer, timeout_ms, on_event, s);
}

bool session_frozen(struct session *s)
{
	struct lb_proc_state state;

	return !tracer_get_proc_state(s->tracer, s->pid, &state) && (state.flags & LB_STATE_FROZEN);
}

void session_mark_exited(struct session *s)
{
	s->exited = true;
	symbolizer_process_gone(s->sym, s->pid);
}

struct collect_ctx {
	struct session *s;
	struct report *r;
};

static int collect_row(void *ctx, uint64_t key, const struct lb_totals *tot)
{
	struct collect_ctx *c = ctx;
	const struct resolved_stack *st;

	if (!tot->bytes && !tot->count)
		return 0;
	st = symbolizer_stack(c->s->sym, key);
	if (!st)
		return -ENOMEM;
	if (key != LB_STACK_KEY_OVERFLOW && st->pid != (uint32_t)c->s->pid)
		return 0;
	return report_add(c->r, st, tot->bytes, tot->count);
}

int session_snapshot(struct session *s, struct report *r)
{
	struct collect_ctx c = { s, r };
	struct timespec now;
	int err;

	memset(r, 0, sizeof(*r));
	/* symbolise what is announced before reading the totals (the
	 * agent polls the shared tracer itself) */
	err = s->shared ? 0 : session_pump(s, 0);
	if (err > 0)
		pr_debug("process %d: %d stacks were still waiting to be symbolised", s->pid, err);
	pr_debug("process %d: new stacks were symbolised at most %.1f ms after they were seen",
		 s->pid, (double)s->max_symbolize_lag_ns / 1e6);
	if (s->sampled.on) {
		struct sampled_target target = sampled_target_of(s);

		sampled_settle(&target);
		err = sampled_collect(&target, r);
	} else {
		err = tracer_for_each_totals(s->tracer, collect_row, &c);
	}
	if (!err)
		err = tracer_read_counters(s->tracer, r->counters);
	if (!err) {	/* counted in userspace, where frames are named */
		r->counters[LB_CNT_CODE_GONE] = symbolizer_code_gone(s->sym, s->pid);
		r->counters[LB_CNT_CODE_OVER_BUDGET] = symbolizer_code_over_budget(s->sym, s->pid);
	}
	if (!err)
		err = report_finish(r, &s->history);
	if (err) {
		report_free(r);
		return err;
	}
	r->proc.pid = s->pid;
	snprintf(r->proc.comm, sizeof(r->proc.comm), "%s", s->comm);
	if (!s->py_status)
		snprintf(r->proc.python, sizeof(r->proc.python), "%u.%u.%u", s->py.major,
			 s->py.minor, s->py.micro);
	r->proc.redirect = redirect_state_name(s->redirect.state);
	snprintf(r->proc.redirect_why, sizeof(r->proc.redirect_why), "%s", s->redirect.why);
	r->proc.exited = s->exited;
	r->proc.container = s->container;
	if (s->cost_ready) {
		struct cost_sample now;

		if (!session_read_cost(s, &now) &&
		    !cost_estimate(&s->cost_last, &now, s->trap_ns, sysconf(_SC_CLK_TCK), &r->cost))
			s->cost_last = now;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	r->elapsed = (double)(now.tv_sec - s->started.tv_sec) +
		     (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
	return 0;
}

void session_detach(struct session *s)
{
	int err;

	/* the guardian runs from before the first write until the restore:
	 * its pipe open means "not restored yet" */
	if (s->redirect.guardian_fd >= 0) {
		enum redirect_state was = s->redirect.state;

		err = alloc_redirect_restore(&s->redirect);
		if (err && !s->exited)
			pr_warn("process %d: restoring the allocator table: %s", s->pid, strerror(-err));
		else
			redirect_journal_remove(&s->redirect);	/* nothing left to undo */
		/* keep saying what was in force while we traced */
		s->redirect.state = was;
	}
	if (s->attached) {
		tracer_detach_pid(s->tracer, s->pid);
		s->attached = false;
	}
	s->sampled.window_open = false;
}

void session_close(struct session *s)
{
	session_detach(s);
	report_history_free(&s->history);
	sampled_free(&s->sampled);
	if (s->shared) {
		if (s->pid > 0) {
			tracer_forget_pid(s->tracer, s->pid);
			symbolizer_forget_process(s->sym, s->pid);
		}
	} else {
		symbolizer_free(s->sym);
		tracer_free(s->tracer);
	}
	s->sym = NULL;
	s->tracer = NULL;
}
