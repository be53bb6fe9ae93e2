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
};

int store_open(const char *dir, struct store **out);
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

#endif
