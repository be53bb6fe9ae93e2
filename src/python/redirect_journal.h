/* SPDX-License-Identifier: MIT */
/*
 * A written record of every allocator redirect leakbpf may have left in a
 * process, on disk before the first write to the process. The guardian
 * restores the tables when leakbpf dies; when both die at once (a container
 * stopped, the pod's cgroup OOM-killed) the record is what the next
 * leakbpf run restores from (issue 15).
 *
 * One small text file per process, DIR/redirect-PID-STARTTIME: the slots,
 * what they held and what we write, and the witness slots. Replaying it
 * writes a slot back only where it still holds our value and the witnesses
 * are unchanged (alloc_redirect_restore_pid), so replaying a record of a
 * redirect already undone, or of a process whose PID was reused, changes
 * nothing.
 */
#ifndef LEAKBPF_REDIRECT_JOURNAL_H
#define LEAKBPF_REDIRECT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alloc_redirect.h"

/* Where `top`, `record` and `doctor` keep their records; the agent keeps its
 * own in STORE/redirects (a hostPath: it outlives the agent's container). */
#define REDIRECT_JOURNAL_DEFAULT_DIR "/run/leakbpf/redirects"

/* Writes r's record into dir (created 0700) and fsyncs it; the file's path
 * goes into r->journal. 0 or -errno. */
int redirect_journal_write(const char *dir, struct alloc_redirect *r);
/* Removes r's record, if it has one. */
void redirect_journal_remove(struct alloc_redirect *r);
/* Restores every process a record in dir names (and its descendants),
 * then removes the record. Returns how many processes had tables put back,
 * or -errno if dir cannot be read (-ENOENT: no records, nothing to do).
 * A record that is not one leakbpf wrote (bad syntax, not a regular file,
 * over 4 KiB) is left alone and said. */
int redirect_journal_replay(const char *dir);
/* Parses a record's text (unit-testable): the redirect and the leakbpf
 * that wrote it (pid, start time). 0 or -EINVAL. */
int redirect_journal_parse(const char *text, struct alloc_redirect *r, pid_t *writer,
			   uint64_t *writer_start);

#endif
