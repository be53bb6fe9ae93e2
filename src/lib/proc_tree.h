/* SPDX-License-Identifier: MIT */
/*
 * The processes of the machine as a tree, read once from /proc: who
 * descends from whom, and the shape of pre-fork servers (a gunicorn
 * master and its workers), which the agent groups.
 */
#ifndef LEAKBPF_PROC_TREE_H
#define LEAKBPF_PROC_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_entry {
	pid_t pid, ppid;
	uint64_t start_time;		/* identifies pid across reuse */
	uint64_t program;		/* hash of exe path and argv: same program, same value */
};

struct proc_table {
	struct proc_entry *v;		/* sorted by pid */
	size_t n;
};

/* Every process visible in /proc (threads not listed). 0 or -errno. */
int proc_table_read(struct proc_table *t);
void proc_table_free(struct proc_table *t);
const struct proc_entry *proc_table_find(const struct proc_table *t, pid_t pid);

/* The descendants of root (root itself not included), at most max of them
 * into out; returns how many there are. */
size_t proc_table_descendants(const struct proc_table *t, pid_t root, pid_t *out, size_t max);

enum proc_role {
	PROC_ROLE_PROCESS = 0,		/* on its own */
	PROC_ROLE_MASTER,		/* has forked workers running its program */
	PROC_ROLE_WORKER,		/* forked from a process running the same program */
};

const char *proc_role_name(enum proc_role r);
/* The role of pid and its group (the master's pid; its own for a master
 * or a lone process). A worker's parent runs the same executable with the
 * same arguments: gunicorn, uwsgi and fork-based multiprocessing look so. */
enum proc_role proc_role_of(const struct proc_table *t, pid_t pid, pid_t *group);

#endif
