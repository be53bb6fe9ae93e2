/* SPDX-License-Identifier: MIT */
/*
 * `leakbpf diff`: what grew over a window, from the agent's store. Per
 * process the snapshot nearest to now-window is compared with the latest
 * (a process that started inside the window with zero), stack by stack,
 * and each stack gets a verdict from its series inside the window.
 */
#ifndef LEAKBPF_DIFF_H
#define LEAKBPF_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stack_text.h"
#include "store.h"
#include "verdict.h"

struct diff_row {
	int64_t stack;			/* store id */
	char *text;			/* the stack's text, cut into frames */
	struct export_frame *frames;	/* innermost first */
	size_t nframes;
	bool cut;			/* frames beyond the last were not captured */
	int64_t bytes, count;		/* at the end of the window */
	int64_t bytes_delta, count_delta;
	bool judged;			/* verdict computed (rows shown) */
	enum verdict verdict;
	bool unconfirmed;		/* grew more than the process's memory allows */
};

struct diff_process {
	struct store_proc_info info;
	struct store_snapshot_info from, to;
	bool from_zero;			/* started (or traced) inside the window */
	/* memory is the process's, whoever watched: its first snapshot in
	 * the window, even of an earlier attachment */
	struct store_snapshot_info mem_from;
	bool have_mem_from;
	int snapshots;			/* in the window */
	struct diff_row *rows;		/* ranked by bytes_delta, descending */
	size_t nrows;
	int64_t total_bytes, total_count, total_bytes_delta, total_count_delta;
	/* Sampled estimates against what the process really gained over the
	 * window (private memory: USS or anonymous, whichever grew more) */
	bool memory_checked;
	int64_t memory_growth;		/* bytes the process gained */
	int64_t growth_limit;		/* what a row may claim: see diff.c */
	size_t unconfirmed;		/* rows over it */
};

/* One line of a group's per-generation ranking: what each worker of the
 * group accumulated there over its life (inside the window). */
struct generation_row {
	const struct diff_row *like;	/* one worker's row: the frames */
	int64_t median, max;		/* bytes per worker; a worker without the row counts 0 */
	size_t workers;			/* workers in which it grew */
};

/* The workers of one pre-fork group whose lives the window saw begin or end
 * (max_requests recycling them): each worker is one generation. A line
 * that grows in every generation is a leak even when no worker lived long
 * enough for a trend of its own. */
struct diff_generation {
	pid_t group;			/* the master */
	size_t workers;			/* seen in the window */
	size_t ended, started;		/* of them, inside the window */
	double life_min, life_max;	/* seconds each was seen to live */
	int64_t growth_median, growth_max;	/* outstanding bytes each gained */
	struct generation_row *rows;	/* by median, then workers, descending */
	size_t nrows;
};

struct diff_result {
	double window, t_from, t_to;	/* wall clock seconds */
	struct diff_process *procs;	/* by group, the master first */
	size_t nprocs;
	struct diff_generation *gens;	/* groups whose workers came and went */
	size_t ngens;
	char counters[1024];		/* the tracer's, "name=value ...", at t_to */
};

struct diff_query {
	double window;			/* seconds */
	double now;			/* wall clock */
	pid_t pid;			/* 0 = every process; a master brings its workers */
	size_t judge;			/* rows per process that get a verdict (0 = all) */
};

int diff_compute(struct store *st, const struct diff_query *q, struct diff_result *out);
/* src/history/diff_generations.c: fills d->gens from d->procs. 0 or -errno. */
int diff_generations(struct diff_result *d);
void diff_free(struct diff_result *r);

#endif
