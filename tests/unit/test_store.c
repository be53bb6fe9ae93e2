/* SPDX-License-Identifier: MIT */
/*
 * The agent's store (src/history/store.c): snapshots written, read back as series
 * after reopening; a writer killed with SIGKILL in the middle of a snapshot
 * loses that snapshot only and the store goes on; expiry removes old
 * snapshots and the stacks and processes nothing uses any more. The store
 * is the agent's alone (issue 15): one writer at a time, private modes, no
 * symbolic links followed, and a file SQLite cannot read moved aside.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <glob.h>
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

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_store_is_private_and_single_writer(const char *base)
{
	char dir[256], other[256], path[300], why[300];
	struct store *a = NULL, *b = NULL;
	struct stat sb;
	int err;

	snprintf(dir, sizeof(dir), "%s/own", base);
	mkdir(dir, 0755);		/* as a kubelet-made hostPath comes */
	err = store_open(dir, &a, why, sizeof(why));
	CHECK(err == 0, "open: %s", why);
	CHECK(!stat(dir, &sb) && (sb.st_mode & 0777) == 0700, "dir mode %o", sb.st_mode & 0777);
	snprintf(path, sizeof(path), "%s/leakbpf.db", dir);
	CHECK(!stat(path, &sb) && (sb.st_mode & 0777) == 0600, "db mode %o", sb.st_mode & 0777);
	err = store_open(dir, &b, why, sizeof(why));
	CHECK(err == -EBUSY && strstr(why, "another leakbpf (pid ") && strstr(why, "one agent per store"),
	      "second writer: %d %s", err, why);
	store_close(a);
	err = store_open(dir, &b, why, sizeof(why));
	CHECK(err == 0, "the lock goes with its holder: %s", why);
	store_close(b);

	/* a link where the store should be: refused, nothing written there */
	snprintf(other, sizeof(other), "%s/link", base);
	CHECK(symlink(dir, other) == 0, "symlink");
	err = store_open(other, &b, why, sizeof(why));
	CHECK(err == -ELOOP && strstr(why, "is a symbolic link"), "linked store: %d %s", err, why);

	/* a link in place of the database or its WAL */
	snprintf(other, sizeof(other), "%s/linked-db", base);
	mkdir(other, 0700);
	snprintf(path, sizeof(path), "%s/leakbpf.db-wal", other);
	CHECK(symlink("/etc/hostname", path) == 0, "symlink");
	err = store_open(other, &b, why, sizeof(why));
	CHECK(err == -EINVAL && strstr(why, "leakbpf.db-wal is not a regular file (a symbolic link)"),
	      "linked WAL: %d %s", err, why);
}

static void test_corrupt_database_is_moved_aside(const char *base)
{
	char dir[256], path[300], why[300];
	struct store *st = NULL;
	glob_t g;
	int err;

	snprintf(dir, sizeof(dir), "%s/corrupt", base);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/leakbpf.db", dir);
	write_file(path, "this is not a database, but a truncated copy of one would be as bad\n");
	err = store_open(dir, &st, why, sizeof(why));
	CHECK(err == 0, "a corrupt store is replaced, not fatal: %d %s", err, why);
	CHECK(err || snapshot(st, 100, 1000, 500) == 0, "and written to");
	if (!err)
		store_close(st);
	snprintf(path, sizeof(path), "%s/leakbpf.db.corrupt-*", dir);
	CHECK(glob(path, 0, NULL, &g) == 0 && g.gl_pathc == 1, "the bad file kept aside");
	globfree(&g);
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
	CHECK(store_open(dir, &st, NULL, 0) == 0, "open %s", dir);
	CHECK(snapshot(st, 100, 1000, 500) == 0, "snapshot 1");
	CHECK(snapshot(st, 110, 2000, 0) == 0, "snapshot 2 (other absent)");
	CHECK(snapshot(st, 120, 3000, 500) == 0, "snapshot 3");
	store_close(st);

	/* a restart continues the series */
	CHECK(store_open(dir, &st, NULL, 0) == 0, "reopen");
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

		if (store_open(dir, &c, NULL, 0) || store_begin(c, &worker, 130, NULL) ||
		    store_add_row(c, leak, 999999, 1))
			_exit(1);
		raise(SIGKILL);
	}
	waitpid(child, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer killed mid-snapshot");
	CHECK(store_open(dir, &st, NULL, 0) == 0, "reopen after the kill");
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
	test_store_is_private_and_single_writer(dir);
	test_corrupt_database_is_moved_aside(dir);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK(system(cmd) == 0, "cleaned up");
	}
	return tests_summary();
}
