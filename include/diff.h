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

#include "profile_export.h"
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

struct diff_result {
	double window, t_from, t_to;	/* wall clock seconds */
	struct diff_process *procs;	/* by group, the master first */
	size_t nprocs;
	char counters[1024];		/* the tracer's, "name=value ...", at t_to */
};

struct diff_query {
	double window;			/* seconds */
	double now;			/* wall clock */
	pid_t pid;			/* 0 = every process; a master brings its workers */
	size_t judge;			/* rows per process that get a verdict (0 = all) */
};

int diff_compute(struct store *st, const struct diff_query *q, struct diff_result *out);
void diff_free(struct diff_result *r);

#endif
