// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "utf8.h"

int proc_maps_parse(const char *text, struct proc_maps *maps)
{
	const char *line = text;
	size_t cap = 0;

	maps->v = NULL;
	maps->n = 0;
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t linelen = eol ? (size_t)(eol - line) : strlen(line);
		struct proc_mapping m = { 0 };
		char perms[8] = "";
		int pathpos = -1;
		char *copy = strndup(line, linelen);

		if (!copy)
			goto nomem;
		if (sscanf(copy, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &m.start, &m.end, perms, &m.offset, &m.dev_major,
			   &m.dev_minor, &m.inode, &pathpos) >= 7) {
			memcpy(m.perms, perms, 4);
			if (pathpos > 0 && copy[pathpos] == '/') {
				m.path = strdup(copy + pathpos);
				if (!m.path) {
					free(copy);
					goto nomem;
				}
			}
			if (maps->n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct proc_mapping *v = realloc(maps->v, ncap * sizeof(*v));

				if (!v) {
					free(m.path);
					free(copy);
					goto nomem;
				}
				maps->v = v;
				cap = ncap;
			}
			maps->v[maps->n++] = m;
		}
		free(copy);
		line = eol ? eol + 1 : NULL;
	}
	return 0;
nomem:
	proc_maps_free(maps);
	return -ENOMEM;
}

int proc_maps_read(pid_t pid, struct proc_maps *maps)
{
	char *text;
	size_t len;
	int err = proc_read_file(pid, "maps", &text, &len);

	if (err)
		return err;
	err = proc_maps_parse(text, maps);
	free(text);
	return err;
}

void proc_maps_free(struct proc_maps *maps)
{
	size_t i;

	for (i = 0; i < maps->n; i++)
		free(maps->v[i].path);
	free(maps->v);
	maps->v = NULL;
	maps->n = 0;
}

const struct proc_mapping *proc_maps_find_addr(const struct proc_maps *maps, uint64_t addr)
{
	size_t lo = 0, hi = maps->n;

	/* /proc/PID/maps is sorted by address */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < maps->v[mid].start)
			hi = mid;
		else if (addr >= maps->v[mid].end)
			lo = mid + 1;
		else
			return &maps->v[mid];
	}
	return NULL;
}

const struct proc_mapping *proc_maps_find(const struct proc_maps *maps,
					  bool (*match)(const char *basename))
{
	size_t i;

	for (i = 0; i < maps->n; i++) {
		const char *p = maps->v[i].path, *base;

		if (!p)
			continue;
		base = strrchr(p, '/');
		if (match(base ? base + 1 : p))
			return &maps->v[i];
	}
	return NULL;
}

const struct proc_mapping *proc_maps_first_of(const struct proc_maps *maps,
					      const struct proc_mapping *m)
{
	size_t i;

	for (i = 0; i < maps->n; i++) {
		const struct proc_mapping *c = &maps->v[i];

		if (c->inode == m->inode && c->dev_major == m->dev_major &&
		    c->dev_minor == m->dev_minor && c->path && m->path &&
		    !strcmp(c->path, m->path))
			return c;
	}
	return m;
}

int proc_read_file(pid_t pid, const char *name, char **out, size_t *len)
{
	char path[64];
	size_t cap = 4096, n = 0;
	char *buf;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			char *g = realloc(buf, cap * 2 + 1);

			if (!g) {
				err = -ENOMEM;
				goto fail;
			}
			buf = g;
			cap *= 2;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
fail:
	close(fd);
	free(buf);
	return err;
}

/* Calls fn on each NUL-separated element of a /proc file until it returns
 * true; returns that element or NULL. */
static const char *find_element(const char *buf, size_t len,
				bool (*fn)(const char *, const void *), const void *arg)
{
	size_t i = 0;

	while (i < len) {
		const char *e = buf + i;

		if (fn(e, arg))
			return e;
		i += strlen(e) + 1;
	}
	return NULL;
}

static bool env_match(const char *e, const void *arg)
{
	const char *var = arg;
	size_t n = strlen(var);

	return !strncmp(e, var, n) && e[n] == '=';
}

int proc_getenv(pid_t pid, const char *var, char *buf, size_t len)
{
	char *env;
	size_t n;
	const char *e;
	int err = proc_read_file(pid, "environ", &env, &n);

	if (err)
		return err;
	e = find_element(env, n, env_match, var);
	if (!e) {
		free(env);
		return -ENOENT;
	}
	snprintf(buf, len, "%s", e + strlen(var) + 1);
	free(env);
	return 0;
}

struct arg_query {
	const char *arg;
	bool prefix;
};

static bool arg_match(const char *e, const void *arg)
{
	const struct arg_query *q = arg;

	return q->prefix ? !strncmp(e, q->arg, strlen(q->arg)) : !strcmp(e, q->arg);
}

bool proc_has_arg(pid_t pid, const char *arg, bool prefix)
{
	struct arg_query q = { arg, prefix };
	char *cmd;
	size_t n;
	bool found;

	if (proc_read_file(pid, "cmdline", &cmd, &n))
		return false;
	found = find_element(cmd, n, arg_match, &q) != NULL;
	free(cmd);
	return found;
}

int proc_arg_value(pid_t pid, const char *opt, char *buf, size_t len)
{
	size_t olen = strlen(opt), i = 0, n;
	char *cmd;
	int err = -ENOENT;

	if (proc_read_file(pid, "cmdline", &cmd, &n))
		return -ESRCH;
	while (i < n) {
		const char *e = cmd + i;
		size_t elen = strnlen(e, n - i);

		if (!strncmp(e, opt, olen) && e[olen] == '=') {
			snprintf(buf, len, "%s", e + olen + 1);
			err = 0;
		} else if (!strcmp(e, opt) && i + elen + 1 < n) {
			snprintf(buf, len, "%s", e + elen + 1);
			err = 0;
		}
		i += elen + 1;
	}
	free(cmd);
	return err;	/* the last one given wins, as with argparse */
}

/* Numeric fields of /proc/PID/stat, numbered as in proc(5) (1 = pid). */
static int stat_fields(pid_t pid, const int *want, uint64_t *out, int n)
{
	char *stat, *p;
	int field = 2, i, err = proc_read_file(pid, "stat", &stat, NULL);

	if (err)
		return err;
	/* comm may contain spaces and parentheses: fields restart after the last ')' */
	p = strrchr(stat, ')');
	for (i = 0; i < n && p; i++) {
		while (field < want[i] && p) {
			p = strchr(p + 1, ' ');
			field++;
		}
		if (!p || sscanf(p + 1, "%" SCNu64, &out[i]) != 1)
			p = NULL;
	}
	free(stat);
	return p ? 0 : -EINVAL;
}

int proc_start_time(pid_t pid, uint64_t *ticks)
{
	static const int starttime[] = { 22 };

	return stat_fields(pid, starttime, ticks, 1);
}

int proc_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	static const int utime_stime[] = { 14, 15 };
	uint64_t v[2];
	int err = stat_fields(pid, utime_stime, v, 2);

	if (!err)
		*ticks = v[0] + v[1];
	return err;
}

int proc_comm(pid_t pid, char *buf, size_t len)
{
	char *comm;
	int err = proc_read_file(pid, "comm", &comm, NULL);

	if (err)
		return err;
	comm[strcspn(comm, "\n")] = '\0';
	/* a process names itself (prctl): no escape sequence reaches a terminal */
	utf8_copy_printable(comm, buf, len);
	free(comm);
	return 0;
}

bool proc_exists(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) == 0;
}

bool proc_is_running(pid_t pid)
{
	char *stat, *p;
	bool running;

	if (proc_read_file(pid, "stat", &stat, NULL))
		return false;
	p = strrchr(stat, ')');
	running = p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	free(stat);
	return running;
}

int proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int proc_mem_rollup_parse(const char *text, struct proc_mem *m)
{
	static const struct { const char *name; size_t off; } fields[] = {
		{ "Rss:", offsetof(struct proc_mem, rss) },
		{ "Pss:", offsetof(struct proc_mem, pss) },
		{ "Anonymous:", offsetof(struct proc_mem, anon) },
		{ "Swap:", offsetof(struct proc_mem, swap) },
	};
	uint64_t private_clean = 0, private_dirty = 0, shared_clean = 0, shared_dirty = 0;
	bool have_rss = false;
	const char *line;
	size_t i;

	memset(m, 0, sizeof(*m));
	for (line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long long kb;
		char name[32];

		if (sscanf(line, "%31s %llu kB", name, &kb) != 2)
			continue;
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcmp(name, fields[i].name))
				*(uint64_t *)((char *)m + fields[i].off) = kb * 1024;
		have_rss |= !strcmp(name, "Rss:");
		if (!strcmp(name, "Private_Clean:"))
			private_clean = kb * 1024;
		else if (!strcmp(name, "Private_Dirty:"))
			private_dirty = kb * 1024;
		else if (!strcmp(name, "Shared_Clean:"))
			shared_clean = kb * 1024;
		else if (!strcmp(name, "Shared_Dirty:"))
			shared_dirty = kb * 1024;
	}
	m->uss = private_clean + private_dirty;
	m->shared = shared_clean + shared_dirty;
	return have_rss ? 0 : -EINVAL;
}

int proc_mem_rollup(pid_t pid, struct proc_mem *m)
{
	char *text;
	int err = proc_read_file(pid, "smaps_rollup", &text, NULL);

	if (err)
		return err;
	err = proc_mem_rollup_parse(text, m);
	free(text);
	return err;
}

int proc_read_ranges(pid_t pid, const uint64_t *addr, size_t n, size_t each, uint8_t *bufs,
		     bool *ok)
{
	enum { BATCH = 512 };	/* under IOV_MAX (1024) */
	struct iovec local[BATCH], remote[BATCH];
	size_t i = 0;

	while (i < n) {
		size_t k, m = n - i < BATCH ? n - i : BATCH, done;
		ssize_t got;

		for (k = 0; k < m; k++) {
			local[k] = (struct iovec){ bufs + (i + k) * each, each };
			remote[k] = (struct iovec){ (void *)(uintptr_t)addr[i + k], each };
		}
		got = process_vm_readv(pid, local, m, remote, m, 0);
		if (got < 0 && errno != EFAULT)
			return -errno;
		/* the call stops at the first range it cannot read: the ones
		 * before are whole, that one failed, go on after it */
		done = got < 0 ? 0 : (size_t)got / each;
		for (k = 0; k < done; k++)
			ok[i + k] = true;
		if (done < m)
			ok[i + done] = false;
		i += done + (done < m);
	}
	return 0;
}

int proc_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	char path[32];
	ssize_t n;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* one pwrite of an aligned 8-byte slot: the kernel copies it with a
	 * single store, so the target never sees half a pointer */
	n = pwrite(fd, buf, len, (off_t)addr);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

int proc_status_mask(pid_t pid, const char *field, uint64_t *mask)
{
	char *status, key[40], *p;
	int err = proc_read_file(pid, "status", &status, NULL);

	if (err)
		return err;
	snprintf(key, sizeof(key), "\n%s:", field);
	p = strstr(status, key);
	if (p)
		*mask = strtoull(p + strlen(key), NULL, 16);
	free(status);
	return p ? 0 : -ENOENT;
}
