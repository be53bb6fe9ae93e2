/* SPDX-License-Identifier: MIT */
/*
 * The process tree (src/lib/proc_tree.c) on a pre-fork shape built here: this
 * test forks two workers (same program: the shape of gunicorn's master and
 * workers), one of which forks a grandchild, and one child execs another
 * program. Descendants, roles and groups must come out right.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_tree.h"
#include "testing.h"

static pid_t fork_waiting(void)
{
	pid_t p = fork();

	if (p == 0) {
		pause();
		_exit(0);
	}
	return p;
}

static bool listed(const pid_t *v, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

int main(void)
{
	pid_t self = getpid(), w1, w2, grandchild = 0, other, group, kids[64];
	int pipefd[2];
	struct proc_table t;
	size_t n;

	if (pipe(pipefd))
		return 1;
	w1 = fork_waiting();
	w2 = fork();
	if (w2 == 0) {
		pid_t g = fork_waiting();

		if (write(pipefd[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(pipefd[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
		return 1;
	other = fork();
	if (other == 0) {
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	usleep(200000);	/* let the exec happen */

	CHECK(proc_table_read(&t) == 0 && t.n > 4, "table read (%zu processes)", t.n);
	CHECK(proc_table_find(&t, self) && proc_table_find(&t, self)->start_time, "self found");
	n = proc_table_descendants(&t, self, kids, 64);
	CHECK(n == 4 && listed(kids, n, w1) && listed(kids, n, w2) && listed(kids, n, grandchild) &&
	      listed(kids, n, other), "descendants: 2 workers, a grandchild, an exec'd child (%zu)", n);
	CHECK(proc_table_descendants(&t, w2, NULL, 0) == 1, "counting without room");
	CHECK(proc_role_of(&t, self, &group) == PROC_ROLE_MASTER && group == self, "master");
	CHECK(proc_role_of(&t, w1, &group) == PROC_ROLE_WORKER && group == self, "worker of it");
	CHECK(proc_role_of(&t, grandchild, &group) == PROC_ROLE_WORKER && group == w2,
	      "a worker's own fork is grouped under its parent");
	CHECK(proc_role_of(&t, other, &group) == PROC_ROLE_PROCESS && group == other,
	      "exec'd another program: a process of its own");
	CHECK(proc_role_of(&t, 1, &group) != PROC_ROLE_WORKER, "init is nobody's worker");
	proc_table_free(&t);

	kill(grandchild, SIGTERM);
	kill(w1, SIGTERM);
	kill(w2, SIGTERM);
	kill(other, SIGTERM);
	while (wait(NULL) > 0)
		;
	return tests_summary();
}
