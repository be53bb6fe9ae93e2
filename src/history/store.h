/* SPDX-License-Identifier: MIT */
/*
 * The agent's store: snapshots of outstanding bytes per stack per process,
 * with the process's memory, in one SQLite database in WAL mode
 * (DIR/leakbpf.db). A snapshot is one transaction: a killed writer loses at
 * most the snapshot it was writing, and the next open continues the series.
 * Stacks are stored once, by the text of their frames.
 */
#ifndef LEAKBPF_STORE_H
#define LEAKBPF_STORE_H

#include <stdint.h>
#include <sys/types.h>

#include "container.h"
#include "proc.h"

struct store;

/* Who a process is, across PID reuse: (pid, start_time). */
struct store_process {
	pid_t pid;
	uint64_t start_time;		/* clock ticks since boot (stat field 22) */
	pid_t ppid;
	pid_t group;			/* gunicorn master, or itself */
	const char *role;		/* "master", "worker", "process" */
	const char *comm;
	const char *python;		/* "3.11.2", "" if native */
	const char *mode;		/* "sampled" (estimates) or "full" */
	double started;			/* wall clock (seconds) when it started */
	double attached;		/* wall clock when the agent attached to it */
	double scale;			/* this snapshot's sampled weight; 0 exact */
	const struct container_info *container;	/* NULL: unknown */
};

/* Opens (creating) DIR/leakbpf.db for writing and takes the store's lock.
 * -errno and one sentence in why (may be NULL) on failure: -EBUSY when
 * another agent holds the store. */
int store_open(const char *dir, struct store **out, char *why, size_t why_len);
void store_close(struct store *st);

/* A snapshot: begin, add its rows, commit (or abort). t: seconds (wall
 * clock, CLOCK_REALTIME), m may be NULL. */
int store_begin(struct store *st, const struct store_process *p, double t,
		const struct proc_mem *m);
int store_add_row(struct store *st, const char *stack_text, int64_t bytes, int64_t count);
int store_commit(struct store *st);
void store_abort(struct store *st);

/* The series of one stack of one process between t_from and t_to, oldest
 * first: fn(ctx, t, bytes, count) per snapshot (0 bytes where the stack was
 * absent). Returns the number of points or -errno. */
typedef void (*store_point_fn)(void *ctx, double t, int64_t bytes, int64_t count);
int store_series(struct store *st, pid_t pid, uint64_t start_time, const char *stack_text,
		 double t_from, double t_to, store_point_fn fn, void *ctx);

/* Deletes snapshots older than `before` (and stacks no row uses). Returns
 * how many snapshots went, or -errno. */
int store_expire(struct store *st, double before);

/* The process ended (the agent saw it go) at t. */
int store_mark_ended(struct store *st, pid_t pid, uint64_t start_time, double t);
/* The tracer's counters ("name=value ...") at t; the latest at or before
 * t_max back. */
int store_put_counters(struct store *st, double t, const char *text);
int store_get_counters(struct store *st, double t_max, char *buf, size_t len);
/* Retention's second half: snapshots older than `before` thinned to one
 * per bucket_s seconds per process. Returns how many went, or -errno. */
int store_downsample(struct store *st, double before, double bucket_s);
/* Folds the write-ahead log into the database and truncates it. */
int store_checkpoint(struct store *st);

/* ---- reading (leakbpf diff) ---- */

/* An existing store, not created if missing (-ENOENT). */
int store_open_readonly(const char *dir, struct store **out);

struct store_proc_info {
	int64_t id;
	pid_t pid, ppid, group;
	uint64_t start_time;
	char role[16], comm[32], python[32], mode[16];
	double started, ended;		/* wall clock; 0 = unknown / still running */
	double first_t, last_t;		/* its snapshots inside the range asked for */
	struct container_info container;
};
typedef int (*store_proc_fn)(void *ctx, const struct store_proc_info *p);
/* Processes with a snapshot between t_from and t_to, by group then pid. */
int store_processes(struct store *st, double t_from, double t_to, store_proc_fn fn, void *ctx);

struct store_snapshot_info {
	int64_t id;
	double t;
	double attached;		/* its attachment (agent run, exec) */
	struct proc_mem mem;
};
/* The snapshot of process proc nearest to t among those in [t_from, t_to]
 * of the attachment `attached` (< 0: any); -ENOENT if none. */
int store_snapshot_near(struct store *st, int64_t proc, double t, double t_from, double t_to,
			double attached, struct store_snapshot_info *out);
typedef int (*store_row_fn)(void *ctx, int64_t stack, const char *text, int64_t bytes,
			    int64_t count);
int store_rows(struct store *st, int64_t snapshot, store_row_fn fn, void *ctx);
/* store_series by ids (what diff has in hand), with each snapshot's
 * sampled-estimate weight (0 when exact or not kept). */
typedef void (*store_weighted_point_fn)(void *ctx, double t, int64_t bytes, int64_t count,
					double scale);
int store_stack_series(struct store *st, int64_t proc, int64_t stack, double t_from, double t_to,
		       store_weighted_point_fn fn, void *ctx);

#endif
