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

struct proc_mapping;

/*
 * A path, as leakbpf sees the file system, to the very file a mapping of
 * process pid maps (its device and inode, from /proc/PID/maps), to read its
 * ELF and to probe it. In order: /proc/PID/map_files/START-END (the mapped
 * file itself, where the capability to read it is there); the mapping's path
 * inside the process's root, if resolved inside that root it is that
 * file and /proc/PID/root/PATH names the same one (an absolute link to one
 * of the agent's own files fails this); the path as it stands, for a
 * process under chroot (maps names its files from the reader's root). A
 * file that is none of these is refused with -ESTALE: a container cannot
 * make leakbpf read or probe a file of the host.
 */
int target_mapped_file(pid_t pid, const struct proc_mapping *m, char *out, size_t len);

#endif
