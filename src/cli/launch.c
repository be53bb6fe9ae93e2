// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "launch.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

int launch_start(char **argv, bool stdout_to_stderr, struct launched *l)
{
	int fds[2], status, err;
	pid_t child;

	memset(l, 0, sizeof(*l));
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	child = fork();
	if (child < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (child == 0) {
		close(fds[0]);
		/* wait here until the tracer has seized us, so no instruction
		 * of the command runs untraced */
		raise(SIGSTOP);
		if (stdout_to_stderr && dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(fds[1]);
	l->pid = child;
	l->exec_err_fd = fds[0];
	if (waitpid(child, &status, WUNTRACED) < 0 || !WIFSTOPPED(status)) {
		close(fds[0]);
		return -ECHILD;
	}
	if (ptrace(PTRACE_SEIZE, child, 0,
		   PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT)) {
		err = -errno;
		kill(child, SIGKILL);	/* it never ran a single instruction of CMD */
		waitpid(child, NULL, 0);
		close(fds[0]);
		return err;
	}
	l->traced = true;
	kill(child, SIGCONT);
	return 0;
}

static bool signal_from_bpf(pid_t pid)
{
	siginfo_t si;

	/* bpf_send_signal_thread() sends with si_code SI_KERNEL; kill() and
	 * friends cannot forge that from userspace */
	return !ptrace(PTRACE_GETSIGINFO, pid, 0, &si) && si.si_code == SI_KERNEL;
}

int launch_wait(struct launched *l, bool block, enum stop_kind *kind, int *status)
{
	pid_t r;
	int event, sig;

	*kind = STOP_NONE;
	do
		r = waitpid(l->pid, status, __WALL | (block ? 0 : WNOHANG));
	while (r < 0 && errno == EINTR && block);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return 0;
	if (WIFEXITED(*status) || WIFSIGNALED(*status)) {
		*kind = STOP_GONE;
		l->traced = false;
		return 0;
	}
	if (!WIFSTOPPED(*status))
		return 0;
	sig = WSTOPSIG(*status);
	event = (*status >> 16) & 0xff;
	if (event == PTRACE_EVENT_EXEC)
		*kind = STOP_EXEC;
	else if (event == PTRACE_EVENT_EXIT)
		*kind = STOP_EXIT_EVENT;
	else if (event == PTRACE_EVENT_STOP)
		*kind = (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) ?
			STOP_GROUP : STOP_OTHER_EVENT;
	else if (event)
		*kind = STOP_OTHER_EVENT;
	else if (sig == SIGURG && signal_from_bpf(l->pid))
		*kind = STOP_OUR_SIGNAL;
	else
		*kind = STOP_SIGNAL;
	return 0;
}

int launch_resume(struct launched *l, enum stop_kind kind, int status, bool swallow)
{
	long r;

	if (!l->traced)
		return 0;
	if (kind == STOP_GROUP)
		r = ptrace(PTRACE_LISTEN, l->pid, 0, 0);	/* stay stopped, like untraced */
	else if (kind == STOP_SIGNAL && !swallow)
		r = ptrace(PTRACE_CONT, l->pid, 0, (void *)(long)WSTOPSIG(status));
	else
		r = ptrace(PTRACE_CONT, l->pid, 0, 0);
	return r ? -errno : 0;
}

int launch_detach(struct launched *l, enum stop_kind kind, int status)
{
	int sig = kind == STOP_SIGNAL ? WSTOPSIG(status) : 0;

	if (!l->traced)
		return 0;
	l->traced = false;
	return ptrace(PTRACE_DETACH, l->pid, 0, (void *)(long)sig) ? -errno : 0;
}

int launch_exec_error(struct launched *l)
{
	int err = 0;

	if (l->exec_err_fd < 0)
		return 0;
	if (read(l->exec_err_fd, &err, sizeof(err)) != sizeof(err))
		err = 0;
	close(l->exec_err_fd);
	l->exec_err_fd = -1;
	return err;
}

int launch_entry_point(pid_t pid, uint64_t *entry)
{
	char *auxv;
	size_t len, i;
	int err = proc_read_file(pid, "auxv", &auxv, &len);

	if (err)
		return err;
	for (i = 0; i + 16 <= len; i += 16) {
		uint64_t type, val;

		memcpy(&type, auxv + i, 8);
		memcpy(&val, auxv + i + 8, 8);
		if (type == AT_ENTRY) {
			*entry = val;
			free(auxv);
			return 0;
		}
	}
	free(auxv);
	return -ENOENT;
}
