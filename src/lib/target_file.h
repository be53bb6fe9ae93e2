/* SPDX-License-Identifier: MIT */
/*
 * Reading a file of a traced process's own, as that process would find it
 * (its root, its working directory), with the process's file system
 * treated as hostile: symbolic links resolve inside its root and never to
 * the agent's files, nothing but a regular file is read (a FIFO would hang
 * the caller), and no more than the caller's buffer.
 */
#ifndef LEAKBPF_TARGET_FILE_H
#define LEAKBPF_TARGET_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads up to len - 1 bytes of path (absolute: from the process's root;
 * relative: from its working directory, never above it) into buf, NUL
 * terminated; *got bytes. 0 or -errno: -EXDEV for a path that leaves the
 * process's root or working directory, -EINVAL for what is not a regular
 * file. */
int target_file_read(pid_t pid, const char *path, char *buf, size_t len, size_t *got);

#endif
