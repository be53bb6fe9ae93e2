// SPDX-License-Identifier: MIT
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *ins_process, *get_process, *ins_snapshot, *ins_stack, *get_stack, *ins_row;
	int64_t snapshot;		/* open snapshot's id, 0 if none */
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
	" UNIQUE(pid, start_time));"
	"CREATE TABLE IF NOT EXISTS stack (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS snapshot ("
	" id INTEGER PRIMARY KEY, process INTEGER NOT NULL REFERENCES process(id),"
	" t REAL NOT NULL, rss INTEGER, pss INTEGER, uss INTEGER, shared INTEGER);"
	"CREATE INDEX IF NOT EXISTS snapshot_by_time ON snapshot(process, t);"
	"CREATE TABLE IF NOT EXISTS row ("
	" snapshot INTEGER NOT NULL REFERENCES snapshot(id) ON DELETE CASCADE,"
	" stack INTEGER NOT NULL REFERENCES stack(id), bytes INTEGER, count INTEGER,"
	" PRIMARY KEY(snapshot, stack)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS row_by_stack ON row(stack);";

static int sql_err(struct store *st, const char *what)
{
	pr_warn("store: %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

static int prepare(struct store *st, sqlite3_stmt **s, const char *sql)
{
	return sqlite3_prepare_v2(st->db, sql, -1, s, NULL) == SQLITE_OK ? 0 : sql_err(st, sql);
}

int store_open(const char *dir, struct store **out)
{
	char path[PATH_MAX];
	struct store *st;
	int err;

	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	if (snprintf(path, sizeof(path), "%s/leakbpf.db", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (sqlite3_open(path, &st->db) != SQLITE_OK) {
		sqlite3_close(st->db);
		free(st);
		return -EIO;
	}
	sqlite3_busy_timeout(st->db, 5000);
	err = sqlite3_exec(st->db, schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : sql_err(st, "schema");
	if (!err)
		err = prepare(st, &st->ins_process,
			      "INSERT OR IGNORE INTO process(pid, start_time, ppid, grp, role, comm, python)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (!err)
		err = prepare(st, &st->get_process,
			      "SELECT id FROM process WHERE pid = ? AND start_time = ?");
	if (!err)
		err = prepare(st, &st->ins_snapshot,
			      "INSERT INTO snapshot(process, t, rss, pss, uss, shared) VALUES (?, ?, ?, ?, ?, ?)");
	if (!err)
		err = prepare(st, &st->ins_stack, "INSERT OR IGNORE INTO stack(text) VALUES (?)");
	if (!err)
		err = prepare(st, &st->get_stack, "SELECT id FROM stack WHERE text = ?");
	if (!err)
		err = prepare(st, &st->ins_row,
			      "INSERT OR REPLACE INTO row(snapshot, stack, bytes, count) VALUES (?, ?, ?, ?)");
	if (err) {
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
