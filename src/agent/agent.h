/* SPDX-License-Identifier: MIT */
/*
 * The node agent (`leakbpf agent`): one tracer for every CPython process of
 * the machine, or for one process and all its descendants. Kernel
 * tracepoints report fork, exec and exit; a new gunicorn worker is attached
 * as soon as it is forked. Every interval each traced process's outstanding
 * bytes per stack and its memory (smaps_rollup) go into the store; a
 * Prometheus endpoint shows the latest of it.
 */
#ifndef LEAKBPF_AGENT_H
#define LEAKBPF_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "clocks.h"
#include "proc.h"
#include "report.h"
#include "proc_tree.h"
#include "session.h"
#include "u64map.h"

struct store;
struct metrics_server;

struct agent_opts {
	pid_t root;			/* --pid: it and its descendants; 0 = every CPython */
	double interval;		/* seconds between snapshots */
	double retention;		/* seconds snapshots are kept */
	const char *store_dir;
	const char *metrics_addr;	/* NULL: no endpoint */
	uint32_t max_processes;		/* traced at once */
	uint32_t iterations;		/* snapshots then stop; 0 = until a signal */
	struct session_opts trace;
};

/* Rows stored per snapshot: the largest stacks and the fastest growing,
 * the rest summed in one row. Bounds the disk a process-day takes. */
#define AGENT_ROWS_BY_BYTES 100
#define AGENT_ROWS_BY_GROWTH 50
/* Growing stacks shown as metric labels per process. */
#define AGENT_TOP_LABELS 5

struct agent_top_stack {
	char where[160];		/* innermost frame: "file:line function" */
	int64_t bytes;
	double rate;			/* bytes/s since the baseline */
};

/* One process the agent knows of: traced, or waiting to be attached. */
struct agent_proc {
	pid_t pid, ppid, group;
	uint64_t start_time;
	double started_wall;
	double attached_wall;		/* when its session attached */
	enum proc_role role;
	bool traced;			/* session attached */
	double attach_at;		/* waiting: when to try (monotonic seconds) */
	int attempts;
	bool from_fork;			/* a fork of a traced process: Python already */
	struct session s;
	/* the latest snapshot, for the metrics */
	bool have_snapshot;
	int64_t total_bytes, total_count;
	struct proc_mem mem;
	double rate;			/* outstanding bytes/s since the baseline */
	double baseline_t;		/* monotonic; 0 = none yet */
	int64_t baseline_bytes;
	struct u64map baseline_stacks;	/* stack key -> bytes at the baseline */
	struct agent_top_stack top[AGENT_TOP_LABELS];
	int ntop;
};

/* What each recycled worker of a group accumulated over its life, kept from
 * its final snapshot for the metrics: the last AGENT_GEN_WORKERS workers of
 * each of at most AGENT_GEN_GROUPS groups, AGENT_GEN_LINES lines each. */
#define AGENT_GEN_GROUPS 16
#define AGENT_GEN_WORKERS 32
#define AGENT_GEN_LINES 8

struct agent_gen_worker {
	double life;			/* seconds traced */
	int64_t bytes;			/* outstanding at its end */
	struct agent_top_stack lines[AGENT_GEN_LINES];	/* by bytes; rate unused */
	int nlines;
};

struct agent_gen_group {
	pid_t group;			/* 0: slot free */
	uint64_t ended;			/* workers recorded, ever */
	struct agent_gen_worker workers[AGENT_GEN_WORKERS];	/* ring */
};

struct agent_stats {
	uint64_t snapshots, snapshot_failures;
	uint64_t final_snapshots;	/* taken as a traced process ended */
	uint64_t attached, attach_failures, exited;
	uint64_t skipped_max_processes;	/* LOST: not traced, --max-processes reached */
	uint64_t process_events;
	double store_seconds;		/* time spent writing snapshots */
};

struct agent {
	struct agent_opts opts;
	struct tracer *tracer;
	struct symbolizer *sym;
	struct store *store;
	char journal_dir[256];		/* STORE/redirects: redirect records */
	struct metrics_server *metrics;
	struct agent_proc **procs;
	size_t nprocs, capprocs;
	struct agent_stats stats;
	struct agent_gen_group *gens;	/* AGENT_GEN_GROUPS, made at the first */
	uint64_t max_symbolize_lag_ns;
	uint64_t counters[LB_CNT__COUNT];
	double next_snapshot, next_retention;
	double started;
	uint32_t snapshots_done;
};

/* 0 or -errno (told on stderr, one line). */
int agent_open(struct agent *a, const struct agent_opts *opts);
/* Runs until *stop or --iterations; 0 or -errno. */
int agent_run(struct agent *a, volatile sig_atomic_t *stop);
/* Every table restored, every probe out, the store closed. */
void agent_close(struct agent *a);

/* src/agent/agent_snapshot.c: one process's snapshot into the store (and the
 * figures the metrics show). t is the wall clock. */
int agent_snapshot(struct agent *a, struct agent_proc *p, double t, double mono);
/* src/agent/agent_generations.c: a worker's final report joins its group's
 * generations; the metrics' per-generation ranking of them. */
void agent_generation_add(struct agent *a, const struct agent_proc *p, const struct report *r);
void agent_generations_write(const struct agent *a, FILE *out);
/* src/agent/agent_metrics.c: the Prometheus exposition of the agent's state. */
int agent_metrics_write(void *agent, FILE *out);

#endif
