/* SPDX-License-Identifier: MIT */
/*
 * Starting a command under ptrace for `record`: stopped at exec, at its
 * entry point (via a BPF-sent SIGURG) and at exit while its memory is still
 * there. ptrace is never set to kill the child: if leakbpf dies, the kernel
 * detaches it and the command runs on.
 */
#ifndef LEAKBPF_LAUNCH_H
#define LEAKBPF_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum stop_kind {
	STOP_NONE,		/* nothing happened (non-blocking wait) */
	STOP_EXEC,		/* the child exec'd a new image */
	STOP_EXIT_EVENT,	/* about to exit; memory still readable */
	STOP_OUR_SIGNAL,	/* SIGURG sent by our BPF program */
	STOP_SIGNAL,		/* any other signal: deliver it */
	STOP_GROUP,		/* group-stop (SIGSTOP and friends) */
	STOP_OTHER_EVENT,
	STOP_GONE,		/* exited or killed; status has the wait status */
};

struct launched {
	pid_t pid;
	int exec_err_fd;	/* read end: the child's errno if exec failed */
	bool traced;
};

/* Starts argv[0] (searched in PATH) with the caller's environment.
 * stdout_to_stderr: the command's standard output goes to our standard
 * error (the report has our standard output to itself). -errno if
 * fork/ptrace fails. An exec failure shows up later as STOP_GONE with
 * launch_exec_error() != 0. */
int launch_start(char **argv, bool stdout_to_stderr, struct launched *l);
int launch_wait(struct launched *l, bool block, enum stop_kind *kind, int *status);
/* Resumes after a stop; swallow drops the pending signal. */
int launch_resume(struct launched *l, enum stop_kind kind, int status, bool swallow);
/* Lets the child go on untraced (resuming it from the current stop). */
int launch_detach(struct launched *l, enum stop_kind kind, int status);
/* errno of a failed exec, 0 if exec worked (valid once the child is gone
 * or has exec'd). */
int launch_exec_error(struct launched *l);
/* The runtime entry point of the process's executable (AT_ENTRY). */
int launch_entry_point(pid_t pid, uint64_t *entry);

#endif
