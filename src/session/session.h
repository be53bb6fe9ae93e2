/* SPDX-License-Identifier: MIT */
/*
 * Tracing one process from attach to detach: what `record` and `top` (and
 * later the agent) share. Owns the tracer, the symboliser and the redirect.
 */
#ifndef LEAKBPF_SESSION_H
#define LEAKBPF_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "alloc_redirect.h"
#include "container.h"
#include "cost.h"
#include "pytarget.h"
#include "report.h"
#include "sampled.h"
#include "tracer.h"

struct symbolizer;

struct session_opts {
	struct tracer_opts tracer;
	uint32_t max_depth;
	bool stop_at_finalize;	/* record: freeze and stop when Python finalizes */
	bool no_redirect;	/* never touch the allocator tables */
	bool measure_cost;	/* calibrate and report leakbpf's own cost */
	bool sampled;		/* --mode sampled */
	double max_overhead;	/* sampled: budget, fraction of the target's CPU */
	uint64_t seed;		/* sampled: window placement */
	double trap_ns;		/* a trap's cost if already measured (agent), else 0 */
	const char *journal_dir;	/* redirect records; NULL: REDIRECT_JOURNAL_DEFAULT_DIR */
};

struct session {
	struct session_opts opts;
	struct tracer *tracer;
	struct symbolizer *sym;
	pid_t pid;
	bool attached;
	bool exited;
	char comm[32];
	struct container_info container;	/* read at attach */
	int py_status;			/* 0 Python, -ENOENT native, -ENOTSUP unsupported */
	struct py_target py;
	struct alloc_redirect redirect;
	struct report_history history;
	struct timespec started;
	uint64_t max_symbolize_lag_ns;	/* new stack seen -> symbolised */
	char why[400];			/* session_attach failed: one sentence */
	bool cost_ready;		/* trap calibrated, statistics on */
	double trap_ns;
	struct cost_sample cost_last;	/* readings at the previous report */
	struct sampled sampled;		/* sampled mode, when sampled.on */
	bool shared;			/* tracer and symboliser belong to the caller */
	uint64_t bpf_ns_so_far;		/* this process's BPF time (estimated): never goes back */
};

int session_open(struct session *s, const struct session_opts *opts);
/* One of many sessions on one tracer and symboliser (the agent): they are
 * the caller's, and stay open after session_close. The caller polls the
 * tracer's events (session_tick, not session_pump). */
void session_open_shared(struct session *s, const struct session_opts *opts,
			 struct tracer *t, struct symbolizer *sym);
/* Attaches to pid. Problems that only narrow what can be seen (not Python,
 * unsupported version, redirect refused) are reported on stderr and tracing
 * goes on; failures to trace at all return -errno with s->why saying why. */
int session_attach(struct session *s, pid_t pid);
/* Waits up to timeout_ms for new stacks and symbolises them; returns how
 * many, or -errno. */
int session_pump(struct session *s, int timeout_ms);
/* Sampled mode's clock: opens or closes a window when due; returns the ms
 * until it is next needed (INT_MAX when never). */
int session_tick(struct session *s);
/* A new stack announced by BPF: symbolise it now (its code objects may not
 * live long). */
void session_symbolize(struct symbolizer *sym, const struct lb_event *ev, uint64_t *max_lag_ns);
/* True once Py_FinalizeEx started (stop_at_finalize). */
bool session_frozen(struct session *s);
/* The process is gone: report from the maps without reading it again. */
void session_mark_exited(struct session *s);
int session_snapshot(struct session *s, struct report *r);
/* Cumulative hits, BPF time and the target's CPU time, now. */
int session_read_cost(struct session *s, struct cost_sample *c);
/* Restores the allocator tables and removes the probes. Idempotent. */
void session_detach(struct session *s);
void session_close(struct session *s);

#endif
