/* SPDX-License-Identifier: MIT */
/*
 * Turns captured stacks into file/line/function frames. Python frames are
 * read out of the live target (code objects, names, line tables), so stacks
 * must be symbolised while the target lives: new stacks are announced by the
 * BPF side and symbolised at once.
 */
#ifndef LEAKBPF_SYMBOLIZER_H
#define LEAKBPF_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tracer;
struct py_target;

struct resolved_frame {
	const char *file;	/* interned */
	const char *function;	/* interned */
	int line;		/* 0 for native frames or unknown */
};

struct resolved_stack {
	uint64_t key;
	uint32_t pid;
	uint16_t flags;		/* LB_STACK_* */
	uint16_t nframes;
	bool python;		/* frames are Python frames */
	struct resolved_frame frames[];
};

struct symbolizer;

int symbolizer_new(struct tracer *tr, struct symbolizer **out);
void symbolizer_free(struct symbolizer *s);
/* Registers a traced process; py is NULL for native-only processes. */
int symbolizer_add_process(struct symbolizer *s, pid_t pid, const struct py_target *py);
/* New stacks are about to be announced: code objects cached before now are
 * checked against the live process again on their next use. */
void symbolizer_begin_batch(struct symbolizer *s);
/* The process is gone (or frozen for good): stop reading its memory. */
void symbolizer_process_gone(struct symbolizer *s, pid_t pid);
/* The process's state and stacks are freed (the agent, after it exited):
 * resolved stacks of pid handed out before are invalid from now on. */
void symbolizer_forget_process(struct symbolizer *s, pid_t pid);
/* The resolved form of a stack key, symbolising it now if needed. NULL
 * only on out-of-memory. Unreadable frames come back as "<unknown>". */
const struct resolved_stack *symbolizer_stack(struct symbolizer *s, uint64_t key);
/* Frames shown as unknown because their code object was freed and replaced
 * before it could be named (LB_CNT_CODE_GONE): of pid, or of every process
 * ever added (pid 0). */
uint64_t symbolizer_code_gone(const struct symbolizer *s, pid_t pid);
/* Frames shown without names or line because their process's code objects
 * took all leakbpf gives one process (LB_CNT_CODE_OVER_BUDGET). */
uint64_t symbolizer_code_over_budget(const struct symbolizer *s, pid_t pid);
/* "file:line function" of the innermost frame ("function (file)" for a
 * native one): how the metrics label a stack. */
void symbolizer_describe_innermost(const struct resolved_stack *st, char *buf, size_t len);

#endif
