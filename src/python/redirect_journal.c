// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "redirect_journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

#define RECORD_MAGIC "leakbpf-redirect 1"
#define RECORD_MAX 4096

/* mkdir -p with 0700 for what we create. */
static int make_dir(const char *dir)
{
	char path[256], *p;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

static int record_text(const struct alloc_redirect *r, char *buf, size_t len)
{
	uint64_t me = 0;
	size_t n = 0;
	int i;

	/* who wrote it: a record of a leakbpf still running is its own */
	proc_start_time(getpid(), &me);
	n += (size_t)snprintf(buf + n, len - n,
			      RECORD_MAGIC "\nwriter %d %" PRIu64 "\npid %d\nstart_time %" PRIu64 "\n",
			      (int)getpid(), me, (int)r->pid, r->start_time);
	for (i = 0; i < REDIRECT_SLOTS && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "slot %" PRIx64 " %" PRIx64 " %" PRIx64 "\n",
				      r->slot[i], r->original[i], r->replacement[i]);
	for (i = 0; i < REDIRECT_WITNESSES && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "witness %" PRIx64 " %" PRIx64 "\n",
				      r->witness[i], r->witness_value[i]);
	return n < len ? (int)n : -ENOSPC;
}

int redirect_journal_write(const char *dir, struct alloc_redirect *r)
{
	char text[1024], tmp[300];
	int fd, n, err;

	r->journal[0] = '\0';
	err = make_dir(dir);
	if (err)
		return err;
	n = record_text(r, text, sizeof(text));
	if (n < 0)
		return n;
	if (snprintf(r->journal, sizeof(r->journal), "%s/redirect-%d-%" PRIu64, dir, (int)r->pid,
		     r->start_time) >= (int)sizeof(r->journal) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", r->journal) >= (int)sizeof(tmp)) {
		r->journal[0] = '\0';
		return -ENAMETOOLONG;
	}
	/* whole or not at all: written aside, synced, then renamed in */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		r->journal[0] = '\0';
		return err;
	}
	err = write(fd, text, (size_t)n) == n && !fsync(fd) ? 0 : -errno;
	close(fd);
	if (!err && rename(tmp, r->journal))
		err = -errno;
	if (err) {
		unlink(tmp);
		r->journal[0] = '\0';
		return err;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);	/* the rename itself survives a crash */
		close(fd);
	}
	return 0;
}

void redirect_journal_remove(struct alloc_redirect *r)
{
	if (r->journal[0] && unlink(r->journal) && errno != ENOENT)
		pr_debug("cannot remove %s: %s", r->journal, strerror(errno));
	r->journal[0] = '\0';
}

int redirect_journal_parse(const char *text, struct alloc_redirect *r, pid_t *writer,
			   uint64_t *writer_start)
{
	const char *line = text;
	int slots = 0, witnesses = 0, have_pid = 0, have_start = 0, have_writer = 0;

	memset(r, 0, sizeof(*r));
	r->guardian_fd = -1;
	if (strncmp(text, RECORD_MAGIC "\n", sizeof(RECORD_MAGIC)))
		return -EINVAL;
	line += sizeof(RECORD_MAGIC);
	while (*line) {
		const char *end = strchr(line, '\n');
		char buf[128];
		uint64_t a, b, c;
		int pid, used = 0;

		if (!end || end - line >= (long)sizeof(buf))
			return -EINVAL;
		memcpy(buf, line, (size_t)(end - line));
		buf[end - line] = '\0';
		if (sscanf(buf, "writer %d %" SCNu64 "%n", &pid, &a, &used) == 2 && !buf[used] &&
		    pid > 0) {
			*writer = pid;
			*writer_start = a;
			have_writer++;
		} else if (sscanf(buf, "pid %d%n", &pid, &used) == 1 && !buf[used] && pid > 0) {
			r->pid = pid;
			have_pid++;
		} else if (sscanf(buf, "start_time %" SCNu64 "%n", &a, &used) == 1 && !buf[used]) {
			r->start_time = a;
			have_start++;
		} else if (sscanf(buf, "slot %" SCNx64 " %" SCNx64 " %" SCNx64 "%n", &a, &b, &c,
				  &used) == 3 && !buf[used] && slots < REDIRECT_SLOTS && a) {
			r->slot[slots] = a;
			r->original[slots] = b;
			r->replacement[slots++] = c;
		} else if (sscanf(buf, "witness %" SCNx64 " %" SCNx64 "%n", &a, &b, &used) == 2 &&
			   !buf[used] && witnesses < REDIRECT_WITNESSES && a) {
			r->witness[witnesses] = a;
			r->witness_value[witnesses++] = b;
		} else {
			return -EINVAL;
		}
		line = end + 1;
	}
	/* without both witnesses a restore could not tell our tables from
	 * ones the program replaced since */
	if (have_writer != 1 || have_pid != 1 || have_start != 1 || slots != REDIRECT_SLOTS ||
	    witnesses != REDIRECT_WITNESSES)
		return -EINVAL;
	r->state = REDIRECT_ON;
	return 0;
}

/* A record's text: a regular file of ours, read whole, bounded. */
static int read_record(int dirfd, const char *name, char *buf, size_t len)
{
	struct stat st;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size >= (off_t)len) {
		close(fd);
		return -EINVAL;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int redirect_journal_replay(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int restored = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		struct alloc_redirect r;
		char text[RECORD_MAX];
		uint64_t writer_start, now;
		pid_t writer;
		int n;

		if (strncmp(e->d_name, "redirect-", 9) || strstr(e->d_name, ".tmp"))
			continue;
		if (read_record(dirfd(d), e->d_name, text, sizeof(text)) ||
		    redirect_journal_parse(text, &r, &writer, &writer_start)) {
			pr_warn("%s/%s is not a redirect record leakbpf wrote: left alone (remove it)",
				dir, e->d_name);
			continue;
		}
		if (!proc_start_time(writer, &now) && now == writer_start)
			continue;	/* its leakbpf runs: the redirect is in use */
		n = alloc_redirect_restore_left(&r);
		if (n > 0)
			pr_warn("process %d: allocator tables left redirected by a leakbpf that was killed: restored (%d process%s)",
				(int)r.pid, n, n == 1 ? "" : "es");
		restored += n;
		if (unlinkat(dirfd(d), e->d_name, 0))
			pr_debug("cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
	}
	closedir(d);
	return restored;
}
