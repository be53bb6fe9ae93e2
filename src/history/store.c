// SPDX-License-Identifier: MIT
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *ins_process, *get_process, *ins_snapshot, *ins_stack, *get_stack, *ins_row;
	int64_t snapshot;		/* open snapshot's id, 0 if none */
	int lock_fd;			/* holds the store's lock; -1 read-only */
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	/* NORMAL: a commit survives the process being killed (the WAL is in
	 * the page cache); only a power cut can lose the last ones */
	"PRAGMA synchronous=NORMAL;"
	"PRAGMA foreign_keys=ON;"
	"CREATE TABLE IF NOT EXISTS process ("
	" id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, start_time INTEGER NOT NULL,"
	" ppid INTEGER, grp INTEGER, role TEXT, comm TEXT, python TEXT,"
	" mode TEXT, started REAL, ended REAL,"
	" ns_pid INTEGER, container TEXT, runtime TEXT, pod_uid TEXT, pod_name TEXT, pod_ns TEXT,"
	" UNIQUE(pid, start_time));"
	"CREATE TABLE IF NOT EXISTS stack (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS snapshot ("
	" id INTEGER PRIMARY KEY, process INTEGER NOT NULL REFERENCES process(id),"
	" t REAL NOT NULL, rss INTEGER, pss INTEGER, uss INTEGER, shared INTEGER,"
	/* when the agent attached: outstanding bytes count from then, so
	 * snapshots of two attachments are not comparable */
	" attached REAL,"
	/* sampled mode: the weight its estimates carried (0: exact, or a
	 * store written before it was kept) */
	" scale REAL);"
	"CREATE INDEX IF NOT EXISTS snapshot_by_time ON snapshot(process, t);"
	"CREATE TABLE IF NOT EXISTS row ("
	" snapshot INTEGER NOT NULL REFERENCES snapshot(id) ON DELETE CASCADE,"
	" stack INTEGER NOT NULL REFERENCES stack(id), bytes INTEGER, count INTEGER,"
	" PRIMARY KEY(snapshot, stack)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS row_by_stack ON row(stack);"
	/* the tracer's counters (all processes) per interval */
	"CREATE TABLE IF NOT EXISTS tracer (t REAL PRIMARY KEY, counters TEXT);";

static int sql_err(struct store *st, const char *what)
{
	pr_warn("store: %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

static int prepare(struct store *st, sqlite3_stmt **s, const char *sql)
{
	return sqlite3_prepare_v2(st->db, sql, -1, s, NULL) == SQLITE_OK ? 0 : sql_err(st, sql);
}

/*
 * The store directory: ours alone. A symbolic link is refused (a hostPath
 * swapped for a link would have the agent write where the link points),
 * the directory is made 0700 (a kubelet-made hostPath is 0755 and the
 * store names every pod and source path), and the database is created
 * 0600 (SQLite gives its WAL and shared-memory files the same mode).
 */
static int open_store_dir(const char *dir, char *why, size_t why_len)
{
	struct stat sb;
	int fd, err;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		snprintf(why, why_len, "cannot create %s: %s: give a writable directory with --store DIR", dir, strerror(errno));
		return err;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (errno == ELOOP || (errno == ENOTDIR && !lstat(dir, &sb) && S_ISLNK(sb.st_mode))) {
			snprintf(why, why_len, "%s is a symbolic link: give the real directory with --store", dir);
			err = -ELOOP;
		} else {
			snprintf(why, why_len, "cannot open %s: %s: give a writable directory with --store DIR", dir, strerror(errno));
		}
		return err;
	}
	if (fstat(fd, &sb) || sb.st_uid != geteuid()) {
		snprintf(why, why_len, "%s belongs to uid %u, not to leakbpf's uid %u: give a directory of its own with --store",
			 dir, (unsigned)sb.st_uid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	if ((sb.st_mode & 077) && fchmod(fd, 0700))
		pr_warn("store: cannot make %s private (0700): %s", dir, strerror(errno));
	return fd;
}

/* One agent per store: two interleave their snapshots. The lock file says
 * who holds it; the kernel drops the lock when its holder dies. */
static int lock_store(int dirfd, const char *dir, char *why, size_t why_len)
{
	char holder[32] = "";
	ssize_t n;
	int fd = openat(dirfd, "leakbpf.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		int err = -errno;

		snprintf(why, why_len, "cannot create %s/leakbpf.lock: %s", dir, strerror(errno));
		return err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		n = pread(fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		snprintf(why, why_len, "another leakbpf (pid %s) writes to the store in %s: one agent per store, give this one its own --store",
			 holder[0] ? holder : "?", dir);
		close(fd);
		return err;
	}
	n = snprintf(holder, sizeof(holder), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, holder, (size_t)n, 0) != n)
		pr_debug("store: cannot write the lock holder's pid");
	return fd;
}

/* The database and its two companions, each a regular file or absent. */
static int check_db_files(int dirfd, const char *dir, char *why, size_t why_len)
{
	static const char *const names[] = { "leakbpf.db", "leakbpf.db-wal", "leakbpf.db-shm" };
	struct stat sb;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (fstatat(dirfd, names[i], &sb, AT_SYMLINK_NOFOLLOW))
			continue;
		if (!S_ISREG(sb.st_mode)) {
			snprintf(why, why_len, "%s/%s is not a regular file (%s): remove it",
				 dir, names[i], S_ISLNK(sb.st_mode) ? "a symbolic link" : "a special file");
			return -EINVAL;
		}
	}
	fd = openat(dirfd, "leakbpf.db", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = -errno;

		snprintf(why, why_len, "cannot open %s/leakbpf.db: %s", dir, strerror(errno));
		return err;
	}
	if (!fstat(fd, &sb) && (sb.st_mode & 077))
		fchmod(fd, 0600);
	close(fd);
	return 0;
}

/* A database SQLite cannot read goes aside (kept for a post-mortem) and a
 * new one starts: a crash loop on a bad file helps nobody. */
static void move_aside(const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char from[PATH_MAX + 8], to[PATH_MAX + 64], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", gmtime_r(&now, &tm));
	for (i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s%s", path, sfx[i]);
		snprintf(to, sizeof(to), "%s.corrupt-%s%s", path, stamp, sfx[i]);
		if (rename(from, to) && errno != ENOENT)
			pr_debug("store: cannot move %s aside: %s", from, strerror(errno));
	}
	snprintf(to, sizeof(to), "%s.corrupt-%s", path, stamp);
	pr_warn("store: %s is not a readable SQLite database: moved aside to %s; a new store starts",
		path, to);
}

static int open_db(const char *path, struct store *st)
{
	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);

	if (rc != SQLITE_OK)
		return -EIO;
	sqlite3_busy_timeout(st->db, 5000);
	rc = sqlite3_exec(st->db, schema, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	rc = sqlite3_extended_errcode(st->db) & 0xff;
	return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT ? -EILSEQ : sql_err(st, "schema");
}

int store_open(const char *dir, struct store **out, char *why, size_t why_len)
{
	char path[PATH_MAX], ignored[8];
	struct store *st;
	int dirfd, lockfd, err;

	if (!why) {
		why = ignored;
		why_len = sizeof(ignored);
	}
	why[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/leakbpf.db", dir) >= (int)sizeof(path)) {
		snprintf(why, why_len, "the store's path is too long");
		return -ENAMETOOLONG;
	}
	dirfd = open_store_dir(dir, why, why_len);
	if (dirfd < 0)
		return dirfd;
	lockfd = lock_store(dirfd, dir, why, why_len);
	err = lockfd < 0 ? lockfd : check_db_files(dirfd, dir, why, why_len);
	close(dirfd);
	st = err ? NULL : calloc(1, sizeof(*st));
	if (!st) {
		if (lockfd >= 0)
			close(lockfd);
		return err ? err : -ENOMEM;
	}
	st->lock_fd = lockfd;
	err = open_db(path, st);
	if (err == -EILSEQ) {
		sqlite3_close(st->db);
		st->db = NULL;
		move_aside(path);
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		err = dirfd < 0 ? -errno : check_db_files(dirfd, dir, why, why_len);
		if (dirfd >= 0)
			close(dirfd);
		if (!err)
			err = open_db(path, st);
	}
	if (err) {
		if (!why[0])
			snprintf(why, why_len, "cannot open %s: %s", path,
				 st->db ? sqlite3_errmsg(st->db) : strerror(-err));
		store_close(st);
		return err;
	}
	/* a store written before snapshots kept their weight: add the column
	 * (an error here only says it is there already) */
	if (!err)
		sqlite3_exec(st->db, "ALTER TABLE snapshot ADD COLUMN scale REAL", NULL, NULL, NULL);
	if (!err)
		err = prepare(st, &st->ins_process,
			      /* the role can change: a lone process becomes a master
			       * when it forks workers */
			      "INSERT INTO process(pid, start_time, ppid, grp, role, comm, python, mode, started,"
			      " ns_pid, container, runtime, pod_uid, pod_name, pod_ns)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			      " ON CONFLICT(pid, start_time) DO UPDATE SET"
			      " ppid = excluded.ppid, grp = excluded.grp, role = excluded.role,"
			      " comm = excluded.comm, python = excluded.python, mode = excluded.mode");
	if (!err)
		err = prepare(st, &st->get_process,
			      "SELECT id FROM process WHERE pid = ? AND start_time = ?");
	if (!err)
		err = prepare(st, &st->ins_snapshot,
			      "INSERT INTO snapshot(process, t, rss, pss, uss, shared, attached, scale)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (!err)
		err = prepare(st, &st->ins_stack, "INSERT OR IGNORE INTO stack(text) VALUES (?)");
	if (!err)
		err = prepare(st, &st->get_stack, "SELECT id FROM stack WHERE text = ?");
	if (!err)
		err = prepare(st, &st->ins_row,
			      "INSERT OR REPLACE INTO row(snapshot, stack, bytes, count) VALUES (?, ?, ?, ?)");
	if (err) {
		snprintf(why, why_len, "cannot prepare the store's statements: %s", sqlite3_errmsg(st->db));
		store_close(st);
		return err;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->snapshot)
		store_abort(st);
	sqlite3_finalize(st->ins_process);
	sqlite3_finalize(st->get_process);
	sqlite3_finalize(st->ins_snapshot);
	sqlite3_finalize(st->ins_stack);
	sqlite3_finalize(st->get_stack);
	sqlite3_finalize(st->ins_row);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);	/* after the database: the lock guards it */
	free(st);
}

/* Runs a statement that returns one id (or none): 0 with *id, -ENOENT. */
static int one_id(struct store *st, sqlite3_stmt *s, int64_t *id)
{
	int rc = sqlite3_step(s);
	int err = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENOENT : sql_err(st, "lookup");

	if (!err)
		*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return err;
}

static int run(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : sql_err(st, what);
}

static int process_id(struct store *st, const struct store_process *p, int64_t *id)
{
	int err;

	sqlite3_bind_int64(st->ins_process, 1, p->pid);
	sqlite3_bind_int64(st->ins_process, 2, (int64_t)p->start_time);
	sqlite3_bind_int64(st->ins_process, 3, p->ppid);
	sqlite3_bind_int64(st->ins_process, 4, p->group);
	sqlite3_bind_text(st->ins_process, 5, p->role ? p->role : "process", -1, SQLITE_STATIC);
	sqlite3_bind_text(st->ins_process, 6, p->comm ? p->comm : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st->ins_process, 7, p->python ? p->python : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st->ins_process, 8, p->mode ? p->mode : "full", -1, SQLITE_STATIC);
	sqlite3_bind_double(st->ins_process, 9, p->started);
	if (p->container) {
		const struct container_info *c = p->container;

		sqlite3_bind_int64(st->ins_process, 10, c->ns_pid);
		sqlite3_bind_text(st->ins_process, 11, c->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st->ins_process, 12, c->runtime, -1, SQLITE_STATIC);
		sqlite3_bind_text(st->ins_process, 13, c->pod_uid, -1, SQLITE_STATIC);
		sqlite3_bind_text(st->ins_process, 14, c->pod_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st->ins_process, 15, c->pod_namespace, -1, SQLITE_STATIC);
	} else {
		for (int i = 10; i <= 15; i++)
			sqlite3_bind_null(st->ins_process, i);
	}
	err = run(st, st->ins_process, "insert process");
	if (err)
		return err;
	sqlite3_bind_int64(st->get_process, 1, p->pid);
	sqlite3_bind_int64(st->get_process, 2, (int64_t)p->start_time);
	return one_id(st, st->get_process, id);
}

int store_begin(struct store *st, const struct store_process *p, double t,
		const struct proc_mem *m)
{
	int64_t proc;
	int err;

	if (st->snapshot)
		return -EBUSY;
	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(st, "begin");
	err = process_id(st, p, &proc);
	if (!err) {
		sqlite3_bind_int64(st->ins_snapshot, 1, proc);
		sqlite3_bind_double(st->ins_snapshot, 2, t);
		sqlite3_bind_int64(st->ins_snapshot, 3, m ? (int64_t)m->rss : 0);
		sqlite3_bind_int64(st->ins_snapshot, 4, m ? (int64_t)m->pss : 0);
		sqlite3_bind_int64(st->ins_snapshot, 5, m ? (int64_t)m->uss : 0);
		sqlite3_bind_int64(st->ins_snapshot, 6, m ? (int64_t)m->shared : 0);
		sqlite3_bind_double(st->ins_snapshot, 7, p->attached);
		sqlite3_bind_double(st->ins_snapshot, 8, p->scale);
		err = run(st, st->ins_snapshot, "insert snapshot");
	}
	if (err) {
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	st->snapshot = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_add_row(struct store *st, const char *stack_text, int64_t bytes, int64_t count)
{
	int64_t stack;
	int err;

	if (!st->snapshot)
		return -EINVAL;
	sqlite3_bind_text(st->ins_stack, 1, stack_text, -1, SQLITE_STATIC);
	err = run(st, st->ins_stack, "insert stack");
	if (err)
		return err;
	sqlite3_bind_text(st->get_stack, 1, stack_text, -1, SQLITE_STATIC);
	err = one_id(st, st->get_stack, &stack);
	if (err)
		return err;
	sqlite3_bind_int64(st->ins_row, 1, st->snapshot);
	sqlite3_bind_int64(st->ins_row, 2, stack);
	sqlite3_bind_int64(st->ins_row, 3, bytes);
	sqlite3_bind_int64(st->ins_row, 4, count);
	return run(st, st->ins_row, "insert row");
}

int store_commit(struct store *st)
{
	if (!st->snapshot)
		return -EINVAL;
	st->snapshot = 0;
	return sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : sql_err(st, "commit");
}

void store_abort(struct store *st)
{
	st->snapshot = 0;
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_series(struct store *st, pid_t pid, uint64_t start_time, const char *stack_text,
		 double t_from, double t_to, store_point_fn fn, void *ctx)
{
	static const char sql[] =
		"SELECT s.t, COALESCE(r.bytes, 0), COALESCE(r.count, 0) FROM snapshot s"
		" JOIN process p ON p.id = s.process"
		" LEFT JOIN row r ON r.snapshot = s.id"
		"  AND r.stack = (SELECT id FROM stack WHERE text = ?3)"
		" WHERE p.pid = ?1 AND p.start_time = ?2 AND s.t BETWEEN ?4 AND ?5 ORDER BY s.t";
	sqlite3_stmt *s;
	int n = 0, rc, err = prepare(st, &s, sql);

	if (err)
		return err;
	sqlite3_bind_int64(s, 1, pid);
	sqlite3_bind_int64(s, 2, (int64_t)start_time);
	sqlite3_bind_text(s, 3, stack_text, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 4, t_from);
	sqlite3_bind_double(s, 5, t_to);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn(ctx, sqlite3_column_double(s, 0), sqlite3_column_int64(s, 1),
		   sqlite3_column_int64(s, 2));
		n++;
	}
	if (rc != SQLITE_DONE)
		n = sql_err(st, "series");
	sqlite3_finalize(s);
	return n;
}

int store_expire(struct store *st, double before)
{
	sqlite3_stmt *s;
	int n, err = prepare(st, &s, "DELETE FROM snapshot WHERE t < ?");

	if (err)
		return err;
	sqlite3_bind_double(s, 1, before);
	err = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_err(st, "expire");
	sqlite3_finalize(s);
	if (err)
		return err;
	n = sqlite3_changes(st->db);
	if (sqlite3_exec(st->db,
			 "DELETE FROM stack WHERE id NOT IN (SELECT stack FROM row);"
			 "DELETE FROM process WHERE id NOT IN (SELECT process FROM snapshot);",
			 NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(st, "expire stacks");
	return n;
}

int store_mark_ended(struct store *st, pid_t pid, uint64_t start_time, double t)
{
	sqlite3_stmt *s;
	int err = prepare(st, &s, "UPDATE process SET ended = ?3 WHERE pid = ?1 AND start_time = ?2");

	if (err)
		return err;
	sqlite3_bind_int64(s, 1, pid);
	sqlite3_bind_int64(s, 2, (int64_t)start_time);
	sqlite3_bind_double(s, 3, t);
	err = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_err(st, "mark ended");
	sqlite3_finalize(s);
	return err;
}

int store_put_counters(struct store *st, double t, const char *text)
{
	sqlite3_stmt *s;
	int err = prepare(st, &s, "INSERT OR REPLACE INTO tracer(t, counters) VALUES (?, ?)");

	if (err)
		return err;
	sqlite3_bind_double(s, 1, t);
	sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	err = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_err(st, "counters");
	sqlite3_finalize(s);
	return err;
}

int store_get_counters(struct store *st, double t_max, char *buf, size_t len)
{
	sqlite3_stmt *s;
	int err = prepare(st, &s, "SELECT counters FROM tracer WHERE t <= ? ORDER BY t DESC LIMIT 1");

	if (err)
		return err;
	sqlite3_bind_double(s, 1, t_max);
	if (sqlite3_step(s) == SQLITE_ROW)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	else
		err = -ENOENT;
	sqlite3_finalize(s);
	return err;
}

/* Old snapshots thinned to one per bucket of each process: the first of
 * every bucket_s seconds stays (a series keeps its shape at a coarser
 * step), the others go with their rows. */
int store_downsample(struct store *st, double before, double bucket_s)
{
	sqlite3_stmt *s;
	int n, err = prepare(st, &s,
			     "DELETE FROM snapshot WHERE t < ?1 AND id NOT IN"
			     " (SELECT MIN(id) FROM snapshot WHERE t < ?1"
			     "  GROUP BY process, CAST(t / ?2 AS INTEGER))");

	if (err)
		return err;
	sqlite3_bind_double(s, 1, before);
	sqlite3_bind_double(s, 2, bucket_s);
	err = sqlite3_step(s) == SQLITE_DONE ? 0 : sql_err(st, "downsample");
	sqlite3_finalize(s);
	if (err)
		return err;
	n = sqlite3_changes(st->db);
	if (sqlite3_exec(st->db,
			 "DELETE FROM tracer WHERE t < (SELECT MIN(t) FROM snapshot);",
			 NULL, NULL, NULL) != SQLITE_OK)
		return sql_err(st, "downsample counters");
	return n;
}

int store_checkpoint(struct store *st)
{
	/* the WAL is folded back and truncated: the disk a day takes is the
	 * database's, not a growing log's */
	return sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ==
			       SQLITE_OK ? 0 : sql_err(st, "checkpoint");
}

/* ---- reading: leakbpf diff ---- */

static void copy_col(sqlite3_stmt *s, int col, char *buf, size_t len)
{
	const unsigned char *v = sqlite3_column_text(s, col);

	snprintf(buf, len, "%s", v ? (const char *)v : "");
}

int store_processes(struct store *st, double t_from, double t_to, store_proc_fn fn, void *ctx)
{
	static const char sql[] =
		"SELECT p.id, p.pid, p.start_time, p.ppid, p.grp, p.role, p.comm, p.python, p.mode,"
		" COALESCE(p.started, 0), COALESCE(p.ended, 0), MIN(s.t), MAX(s.t),"
		" COALESCE(p.ns_pid, 0), p.container, p.runtime, p.pod_uid, p.pod_name, p.pod_ns"
		" FROM process p JOIN snapshot s ON s.process = p.id"
		" WHERE s.t BETWEEN ?1 AND ?2 GROUP BY p.id ORDER BY p.grp, p.pid";
	struct store_proc_info info;
	sqlite3_stmt *s;
	int n = 0, rc, err = prepare(st, &s, sql);

	if (err)
		return err;
	sqlite3_bind_double(s, 1, t_from);
	sqlite3_bind_double(s, 2, t_to);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&info, 0, sizeof(info));
		info.id = sqlite3_column_int64(s, 0);
		info.pid = (pid_t)sqlite3_column_int64(s, 1);
		info.start_time = (uint64_t)sqlite3_column_int64(s, 2);
		info.ppid = (pid_t)sqlite3_column_int64(s, 3);
		info.group = (pid_t)sqlite3_column_int64(s, 4);
		copy_col(s, 5, info.role, sizeof(info.role));
		copy_col(s, 6, info.comm, sizeof(info.comm));
		copy_col(s, 7, info.python, sizeof(info.python));
		copy_col(s, 8, info.mode, sizeof(info.mode));
		info.started = sqlite3_column_double(s, 9);
		info.ended = sqlite3_column_double(s, 10);
		info.first_t = sqlite3_column_double(s, 11);
		info.last_t = sqlite3_column_double(s, 12);
		info.container.ns_pid = (pid_t)sqlite3_column_int64(s, 13);
		copy_col(s, 14, info.container.id, sizeof(info.container.id));
		copy_col(s, 15, info.container.runtime, sizeof(info.container.runtime));
		copy_col(s, 16, info.container.pod_uid, sizeof(info.container.pod_uid));
		copy_col(s, 17, info.container.pod_name, sizeof(info.container.pod_name));
		copy_col(s, 18, info.container.pod_namespace, sizeof(info.container.pod_namespace));
		n++;
		err = fn(ctx, &info);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = sql_err(st, "processes");
	sqlite3_finalize(s);
	return err ? err : n;
}

int store_snapshot_near(struct store *st, int64_t proc, double t, double t_from, double t_to,
			double attached, struct store_snapshot_info *out)
{
	static const char sql[] =
		"SELECT id, t, rss, pss, uss, shared, COALESCE(attached, 0) FROM snapshot"
		" WHERE process = ?1 AND t BETWEEN ?3 AND ?4 AND (?5 < 0 OR attached = ?5)"
		" ORDER BY ABS(t - ?2), t LIMIT 1";
	sqlite3_stmt *s;
	int err = prepare(st, &s, sql);

	if (err)
		return err;
	sqlite3_bind_int64(s, 1, proc);
	sqlite3_bind_double(s, 2, t);
	sqlite3_bind_double(s, 3, t_from);
	sqlite3_bind_double(s, 4, t_to);
	sqlite3_bind_double(s, 5, attached);
	if (sqlite3_step(s) == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		out->t = sqlite3_column_double(s, 1);
		out->attached = sqlite3_column_double(s, 6);
		out->mem = (struct proc_mem){
			.rss = (uint64_t)sqlite3_column_int64(s, 2),
			.pss = (uint64_t)sqlite3_column_int64(s, 3),
			.uss = (uint64_t)sqlite3_column_int64(s, 4),
			.shared = (uint64_t)sqlite3_column_int64(s, 5),
		};
	} else {
		err = -ENOENT;
	}
	sqlite3_finalize(s);
	return err;
}

int store_rows(struct store *st, int64_t snapshot, store_row_fn fn, void *ctx)
{
	static const char sql[] =
		"SELECT r.stack, k.text, r.bytes, r.count FROM row r JOIN stack k ON k.id = r.stack"
		" WHERE r.snapshot = ?";
	sqlite3_stmt *s;
	int n = 0, rc, err = prepare(st, &s, sql);

	if (err)
		return err;
	sqlite3_bind_int64(s, 1, snapshot);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		err = fn(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
			 sqlite3_column_int64(s, 2), sqlite3_column_int64(s, 3));
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = sql_err(st, "rows");
	sqlite3_finalize(s);
	return err ? err : n;
}

int store_stack_series(struct store *st, int64_t proc, int64_t stack, double t_from, double t_to,
		       store_weighted_point_fn fn, void *ctx)
{
	static const char sql[] =
		"SELECT s.t, COALESCE(r.bytes, 0), COALESCE(r.count, 0), COALESCE(s.scale, 0)"
		" FROM snapshot s"
		" LEFT JOIN row r ON r.snapshot = s.id AND r.stack = ?2"
		" WHERE s.process = ?1 AND s.t BETWEEN ?3 AND ?4 ORDER BY s.t";
	static const char sql_before_scale[] =
		"SELECT s.t, COALESCE(r.bytes, 0), COALESCE(r.count, 0), 0 FROM snapshot s"
		" LEFT JOIN row r ON r.snapshot = s.id AND r.stack = ?2"
		" WHERE s.process = ?1 AND s.t BETWEEN ?3 AND ?4 ORDER BY s.t";
	sqlite3_stmt *s = NULL;
	int n = 0, rc, err;

	/* a store opened read-only, written before snapshots kept their weight */
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		s = NULL;
	}
	err = s ? 0 : prepare(st, &s, sql_before_scale);
	if (err)
		return err;
	sqlite3_bind_int64(s, 1, proc);
	sqlite3_bind_int64(s, 2, stack);
	sqlite3_bind_double(s, 3, t_from);
	sqlite3_bind_double(s, 4, t_to);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn(ctx, sqlite3_column_double(s, 0), sqlite3_column_int64(s, 1),
		   sqlite3_column_int64(s, 2), sqlite3_column_double(s, 3));
		n++;
	}
	if (rc != SQLITE_DONE)
		n = sql_err(st, "stack series");
	sqlite3_finalize(s);
	return n;
}

int store_open_readonly(const char *dir, struct store **out)
{
	char path[PATH_MAX];
	struct store *st;

	if (snprintf(path, sizeof(path), "%s/leakbpf.db", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (access(path, F_OK))
		return -errno;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = -1;
	/* read-write open without creating: a WAL database needs its -shm,
	 * and a reader after a crash recovers the log */
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		pr_warn("store: %s: %s", path, sqlite3_errmsg(st->db));
		sqlite3_close(st->db);
		free(st);
		return -EIO;
	}
	sqlite3_busy_timeout(st->db, 5000);
	*out = st;
	return 0;
}
