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
#include <unistd.h>

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
