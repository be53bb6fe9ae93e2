/* SPDX-License-Identifier: MIT */
/*
 * The agent's store (src/history/store.c): snapshots written, read back as series
 * after reopening; a writer killed with SIGKILL in the middle of a snapshot
 * loses that snapshot only and the store goes on; expiry removes old
 * snapshots and the stacks and processes nothing uses any more.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "testing.h"

struct series {
	int n;
	double t[16];
	int64_t bytes[16];
};

static void collect(void *ctx, double t, int64_t bytes, int64_t count)
{
	struct series *s = ctx;

	(void)count;
	if (s->n < 16) {
		s->t[s->n] = t;
		s->bytes[s->n++] = bytes;
	}
}

static const struct store_process worker = {
	.pid = 4242, .start_time = 1000, .ppid = 4000, .group = 4000, .role = "worker",
	.comm = "gunicorn", .python = "3.11.2",
};
static const char leak[] = "app.py:12:Timings.record\napp.py:18:handle";
static const char other[] = "app.py:30:cache_put";

static int snapshot(struct store *st, double t, int64_t leak_bytes, int64_t other_bytes)
{
	struct proc_mem m = { .rss = 100 << 20, .pss = 40 << 20, .uss = 30 << 20, .shared = 70 << 20 };
	int err = store_begin(st, &worker, t, &m);

	if (!err && leak_bytes)
		err = store_add_row(st, leak, leak_bytes, leak_bytes / 24);
	if (!err && other_bytes)
		err = store_add_row(st, other, other_bytes, 1);
	return err ? err : store_commit(st);
}

int main(void)
{
	char dir[] = "/tmp/leakbpf-store-XXXXXX";
	struct store *st;
	struct series s;
	int status;
	pid_t child;

	if (!mkdtemp(dir))
		return 1;
	CHECK(store_open(dir, &st) == 0, "open %s", dir);
	CHECK(snapshot(st, 100, 1000, 500) == 0, "snapshot 1");
	CHECK(snapshot(st, 110, 2000, 0) == 0, "snapshot 2 (other absent)");
	CHECK(snapshot(st, 120, 3000, 500) == 0, "snapshot 3");
	store_close(st);

	/* a restart continues the series */
	CHECK(store_open(dir, &st) == 0, "reopen");
	memset(&s, 0, sizeof(s));
	CHECK(store_series(st, 4242, 1000, leak, 0, 1e9, collect, &s) == 3 && s.bytes[0] == 1000 &&
	      s.bytes[2] == 3000 && s.t[1] == 110, "the leak's series, oldest first");
	memset(&s, 0, sizeof(s));
	CHECK(store_series(st, 4242, 1000, other, 0, 1e9, collect, &s) == 3 && s.bytes[1] == 0,
	      "absent from a snapshot: 0 there");
	memset(&s, 0, sizeof(s));
	CHECK(store_series(st, 4242, 999, leak, 0, 1e9, collect, &s) == 0,
	      "the same PID with another start time is another process");
	CHECK(store_series(st, 4242, 1000, leak, 105, 115, collect, &s) == 1, "a window");
	store_close(st);

	/* killed in the middle of a snapshot */
	child = fork();
	if (child == 0) {
		struct store *c;

		if (store_open(dir, &c) || store_begin(c, &worker, 130, NULL) ||
		    store_add_row(c, leak, 999999, 1))
			_exit(1);
		raise(SIGKILL);
	}
	waitpid(child, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer killed mid-snapshot");
	CHECK(store_open(dir, &st) == 0, "reopen after the kill");
	memset(&s, 0, sizeof(s));
	CHECK(store_series(st, 4242, 1000, leak, 0, 1e9, collect, &s) == 3 && s.bytes[2] == 3000,
	      "the half-written snapshot is gone, the rest is there (%d points)", s.n);
	CHECK(snapshot(st, 140, 4000, 0) == 0, "and the series goes on");

	/* expiry */
	CHECK(store_expire(st, 115) == 2, "two snapshots older than 115 s expired");
	memset(&s, 0, sizeof(s));
	CHECK(store_series(st, 4242, 1000, leak, 0, 1e9, collect, &s) == 2 && s.t[0] == 120,
	      "what is left starts at 120 s");
	CHECK(store_expire(st, 1e9) == 2, "all expired");
	memset(&s, 0, sizeof(s));
	CHECK(store_series(st, 4242, 1000, leak, 0, 1e9, collect, &s) == 0, "nothing left");
	store_close(st);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK(system(cmd) == 0, "cleaned up");
	}
	return tests_summary();
}
