// SPDX-License-Identifier: MIT
#include "fnv.h"
#include "proc_tree.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

/* exe path and the whole argv: a fork runs the same; an exec does not */
static uint64_t program_of(pid_t pid)
{
	char link[64], exe[PATH_MAX];
	uint64_t h = LB_FNV_BASIS;
	char *cmdline;
	size_t len;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe));
	if (n > 0)
		h = fnv1a(h, exe, (size_t)n);
	if (!proc_read_file(pid, "cmdline", &cmdline, &len)) {
		h = fnv1a(h, cmdline, len);
		free(cmdline);
	}
	return h;
}

static int by_pid(const void *a, const void *b)
{
	const struct proc_entry *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static int read_ppid(pid_t pid, pid_t *ppid)
{
	char *stat, *p;
	int err = proc_read_file(pid, "stat", &stat, NULL);

	if (err)
		return err;
	/* after the last ')': the comm may hold spaces and parentheses */
	p = strrchr(stat, ')');
	err = p && sscanf(p + 1, " %*c %d", ppid) == 1 ? 0 : -EINVAL;
	free(stat);
	return err;
}

int proc_table_read(struct proc_table *t)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t cap = 0;

	memset(t, 0, sizeof(*t));
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct proc_entry ent = { 0 };
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		ent.pid = (pid_t)pid;
		/* gone meanwhile: left out */
		if (read_ppid(ent.pid, &ent.ppid) || proc_start_time(ent.pid, &ent.start_time))
			continue;
		ent.program = program_of(ent.pid);
		if (t->n == cap) {
			struct proc_entry *v;

			cap = cap ? cap * 2 : 256;
			v = realloc(t->v, cap * sizeof(*v));
			if (!v) {
				closedir(d);
				proc_table_free(t);
				return -ENOMEM;
			}
			t->v = v;
		}
		t->v[t->n++] = ent;
	}
	closedir(d);
	qsort(t->v, t->n, sizeof(*t->v), by_pid);
	return 0;
}

void proc_table_free(struct proc_table *t)
{
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

const struct proc_entry *proc_table_find(const struct proc_table *t, pid_t pid)
{
	struct proc_entry key = { .pid = pid };

	return t->n ? bsearch(&key, t->v, t->n, sizeof(key), by_pid) : NULL;
}

size_t proc_table_descendants(const struct proc_table *t, pid_t root, pid_t *out, size_t max)
{
	size_t i, found = 0;

	for (i = 0; i < t->n; i++) {
		const struct proc_entry *e = &t->v[i];
		int depth;

		/* walk up: a chain longer than the table is a cycle (pid reuse) */
		for (depth = 0; e && e->pid != root && (size_t)depth <= t->n; depth++)
			e = e->ppid > 0 ? proc_table_find(t, e->ppid) : NULL;
		if (!e || e->pid != root || t->v[i].pid == root)
			continue;
		if (found < max)
			out[found] = t->v[i].pid;
		found++;
	}
	return found;
}

const char *proc_role_name(enum proc_role r)
{
	return r == PROC_ROLE_MASTER ? "master" : r == PROC_ROLE_WORKER ? "worker" : "process";
}

static bool same_program_child(const struct proc_table *t, const struct proc_entry *parent)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].ppid == parent->pid && t->v[i].program == parent->program)
			return true;
	return false;
}

enum proc_role proc_role_of(const struct proc_table *t, pid_t pid, pid_t *group)
{
	const struct proc_entry *e = proc_table_find(t, pid), *parent;

	*group = pid;
	if (!e)
		return PROC_ROLE_PROCESS;
	parent = e->ppid > 0 ? proc_table_find(t, e->ppid) : NULL;
	if (parent && parent->program == e->program) {
		*group = parent->pid;
		return PROC_ROLE_WORKER;
	}
	return same_program_child(t, e) ? PROC_ROLE_MASTER : PROC_ROLE_PROCESS;
}
