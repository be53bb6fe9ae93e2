/* SPDX-License-Identifier: MIT */
/*
 * `leakbpf doctor`: what this machine and a process allow leakbpf to do,
 * as findings (ok / warning / problem), each one line with what to do.
 */
#ifndef LEAKBPF_DOCTOR_H
#define LEAKBPF_DOCTOR_H

#include <stdio.h>
#include <sys/types.h>

enum finding_level { FINDING_OK = 0, FINDING_WARNING, FINDING_PROBLEM };

struct finding {
	enum finding_level level;
	char subject[48];		/* "kernel", "privileges", "pid 1234" */
	char check[32];			/* "btf", "lockdown", "python", ... */
	char message[400];
	char fix[300];			/* "" when there is nothing to do */
};

struct findings {
	struct finding *v;
	size_t n, cap;
};

/* Adds one finding (printf-style message; fix may be NULL). */
void finding_add(struct findings *f, enum finding_level level, const char *subject,
		 const char *check, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void findings_free(struct findings *f);
const char *finding_level_name(enum finding_level l);

/* src/doctor/doctor_kernel.c: BTF, uprobes, ring buffers, lockdown, uprobe_multi
 * and sessions, optimised uprobes (a trap's measured cost), BPF statistics,
 * capabilities, and whether the programs load. */
void doctor_kernel(struct findings *f);
/* src/doctor/doctor_process.c: the process's Python (version, build, symbols),
 * the coverage leakbpf will have and why, allocator hooks and tracemalloc,
 * gunicorn's shape and --preload, and the workers' SIGUSR1/SIGUSR2. */
void doctor_process(struct findings *f, pid_t pid);

/* Text (a line each, fix after an arrow) or JSON. 0 or -EIO. */
int findings_print(FILE *out, const struct findings *f, int json);

#endif
