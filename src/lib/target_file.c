// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* O_PATH */
#include "target_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proc.h"

/* openat2 (Linux 5.6): RESOLVE_IN_ROOT makes the process's root the root
 * of the lookup, so an absolute link inside it cannot reach the agent's
 * files; RESOLVE_BENEATH keeps a relative path under the directory. */
static int open_resolved(int dirfd, const char *path, unsigned long long resolve)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = resolve | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

int target_file_read(pid_t pid, const char *path, char *buf, size_t len, size_t *got)
{
	bool absolute = path[0] == '/';
	char dir[64];
	struct stat st;
	int dirfd, fd, err = 0;
	size_t n = 0;

	*got = 0;
	if (!len)
		return -EINVAL;
	buf[0] = '\0';
	snprintf(dir, sizeof(dir), "/proc/%d/%s", pid, absolute ? "root" : "cwd");
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	while (*path == '/')
		path++;
	fd = open_resolved(dirfd, *path ? path : ".", absolute ? RESOLVE_IN_ROOT : RESOLVE_BENEATH);
	close(dirfd);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, len - 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			break;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*got = n;
	return err;
}

static bool is_mapped_file(const struct stat *st, const struct proc_mapping *m)
{
	return S_ISREG(st->st_mode) && st->st_ino == m->inode &&
	       major(st->st_dev) == m->dev_major && minor(st->st_dev) == m->dev_minor;
}

/* The mapping's path resolved inside the process's root is the mapped file. */
static bool mapped_inside_root(pid_t pid, const struct proc_mapping *m)
{
	char dir[64];
	struct stat st;
	const char *path = m->path;
	int dirfd, fd;
	bool same;

	snprintf(dir, sizeof(dir), "/proc/%d/root", pid);
	dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return false;
	while (*path == '/')
		path++;
	fd = open_resolved(dirfd, path, RESOLVE_IN_ROOT);
	close(dirfd);
	if (fd < 0)
		return false;
	same = !fstat(fd, &st) && is_mapped_file(&st, m);
	close(fd);
	return same;
}

int target_mapped_file(pid_t pid, const struct proc_mapping *m, char *out, size_t len)
{
	struct stat st;
	int n;

	if (!m->path || m->path[0] != '/' || !m->inode)
		return -ENOENT;
	n = snprintf(out, len, "/proc/%d/map_files/%llx-%llx", (int)pid,
		     (unsigned long long)m->start, (unsigned long long)m->end);
	if (n > 0 && (size_t)n < len && !stat(out, &st) && is_mapped_file(&st, m))
		return 0;
	n = snprintf(out, len, "/proc/%d/root%s", (int)pid, m->path);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (mapped_inside_root(pid, m) && !stat(out, &st) && is_mapped_file(&st, m))
		return 0;
	/* chroot: maps names the file from our root */
	n = snprintf(out, len, "%s", m->path);
	if ((size_t)n < len && !stat(out, &st) && is_mapped_file(&st, m))
		return 0;
	out[0] = '\0';
	return -ESTALE;
}
