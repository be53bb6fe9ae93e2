/* SPDX-License-Identifier: MIT */
/*
 * A resolved stack as text, the agent store's key for it: one frame per
 * line, innermost first, "LINE\tFUNCTION\tFILE". The same frames give the
 * same text in every snapshot and after a restart (addresses do not
 * appear), so a stack's series is found by its text. Tabs and newlines in
 * names become spaces.
 */
#ifndef LEAKBPF_STACK_TEXT_H
#define LEAKBPF_STACK_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct resolved_stack;

/* One frame as the text keeps it (and the exporters write it). */
struct export_frame {
	const char *file;	/* NULL = "" */
	const char *function;	/* NULL = "" */
	int line;		/* 0 = native/unknown */
};

/* A malloc'd text for st; NULL on out-of-memory. A cut stack (deeper than
 * --max-depth, or an unreadable frame) ends with a "0\t...\t" marker line. */
char *stack_text_format(const struct resolved_stack *st);
/* Splits text (modified in place) into frames pointing into it. Returns
 * the number of frames (at most max). */
size_t stack_text_parse(char *text, struct export_frame *frames, size_t max);
/* Whether a parsed frame is the marker stack_text_format puts after the
 * last frame of a cut stack. */
bool stack_text_is_cut_marker(const struct export_frame *f);

#define STACK_TEXT_OTHER "0\t<other stacks>\t<not stored>"

#endif
