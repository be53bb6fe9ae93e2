/* SPDX-License-Identifier: MIT */
/*
 * The Python work clock (src/python/py_work_clock.c): found in every interpreter
 * present, and it really counts work: a live interpreter that makes 20,000
 * dicts moves it by at least 20,000 steps, and one that sleeps does not.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "py_work_clock.h"
#include "pytarget.h"
#include "proc.h"
#include "testing.h"

static const char *const pythons[] = {
	"/usr/bin/python3.11",
	"/root/.pyenv/versions/3.8.18/bin/python3.8",
	"/root/.pyenv/versions/3.9.18/bin/python3.9",
	"/root/.pyenv/versions/3.10.13/bin/python3.10",
	"/root/.pyenv/versions/3.11.7/bin/python3.11",
	"/root/.pyenv/versions/3.12.1/bin/python3.12",
	"/root/.pyenv/versions/3.13.0/bin/python3.13",
};

/* The target: waits for a line, makes 20,000 dicts, waits again. */
static const char program[] =
	"import sys\n"
	"sys.stdout.write('ready\\n'); sys.stdout.flush()\n"
	"sys.stdin.readline()\n"
	"keep = [{'k': i} for i in range(20000)]\n"
	"sys.stdout.write('done\\n'); sys.stdout.flush()\n"
	"sys.stdin.readline()\n";

static int read_clock(const struct py_target *t, uint64_t *v)
{
	uint64_t addr;
	int err = py_target_work_clock_addr(t, &addr);

	return err ? err : proc_read_mem(t->pid, addr, v, sizeof(*v));
}

static void check_live(const char *python)
{
	int in[2], out[2];
	char line[64];
	struct py_target t;
	uint64_t v0 = 0, v1 = 0, v2 = 0;
	FILE *from;
	pid_t pid;

	if (pipe(in) || pipe(out))
		return;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execl(python, python, "-c", program, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	from = fdopen(out[0], "r");
	CHECK(from && fgets(line, sizeof(line), from) && !strcmp(line, "ready\n"), "%s started", python);
	CHECK(py_target_detect(pid, &t) == 0, "%s detected", python);
	CHECK(t.work_clock.kind != WORK_CLOCK_NONE, "%s: work clock found", python);
	CHECK(read_clock(&t, &v0) == 0, "%s: clock readable", python);
	usleep(100000);
	CHECK(read_clock(&t, &v1) == 0 && v1 == v0, "%s: idle clock still (%llu -> %llu)", python,
	      (unsigned long long)v0, (unsigned long long)v1);
	if (write(in[1], "\n", 1) != 1)
		perror("write");
	CHECK(fgets(line, sizeof(line), from) && !strcmp(line, "done\n"), "%s worked", python);
	CHECK(read_clock(&t, &v2) == 0 && v2 - v1 >= 20000 && v2 - v1 < (1ull << 40),
	      "%s: 20,000 dicts moved the clock by %llu", python, (unsigned long long)(v2 - v1));
	if (write(in[1], "\n", 1) != 1)
		perror("write");
	close(in[1]);
	fclose(from);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	struct work_clock_loc loc;
	/* mov 0x10(%rip),%rax; add $1,%rax; mov %rax,0x10(%rip); mov %rax,0x18(%rbx) */
	static const uint8_t global[] = {
		0x48, 0x8b, 0x05, 0x10, 0, 0, 0, 0x48, 0x83, 0xc0, 0x01,
		0x48, 0x89, 0x05, 0x10, 0, 0, 0, 0x48, 0x89, 0x43, 0x18, 0xc3,
	};
	/* mov 0x42180(%rbp),%rax; add $0x100,%rax; mov %rax,0x42180(%rbp); mov %rax,0x18(%rbx) */
	static const uint8_t interp[] = {
		0x48, 0x8b, 0x85, 0x80, 0x21, 0x04, 0, 0x48, 0x05, 0, 1, 0, 0,
		0x48, 0x89, 0x85, 0x80, 0x21, 0x04, 0, 0x48, 0x89, 0x43, 0x18, 0xc3,
	};
	/* the same store to another field (+0x20) is not a version tag */
	uint8_t other[sizeof(global)];
	size_t i;

	CHECK(py_work_clock_find(global, sizeof(global), 0x1000, &loc) == 0 &&
	      loc.kind == WORK_CLOCK_GLOBAL && loc.where == 0x1000 + 18 + 0x10,
	      "global at %#llx", (unsigned long long)loc.where);
	CHECK(py_work_clock_find(interp, sizeof(interp), 0x1000, &loc) == 0 &&
	      loc.kind == WORK_CLOCK_INTERP && loc.where == 0x42180,
	      "interp offset %#llx", (unsigned long long)loc.where);
	memcpy(other, global, sizeof(other));
	other[21] = 0x20;
	CHECK(py_work_clock_find(other, sizeof(other), 0x1000, &loc) == -ENOENT, "no tag store");
	CHECK(py_work_clock_find(NULL, 4, 0, &loc) == -EINVAL, "bad input");

	for (i = 0; i < sizeof(pythons) / sizeof(pythons[0]); i++) {
		if (access(pythons[i], X_OK)) {
			printf("skip %s: not installed\n", pythons[i]);
			continue;
		}
		check_live(pythons[i]);
	}
	return tests_summary();
}
