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

#include <stddef.h>

struct resolved_stack;
struct export_frame;

/* A malloc'd text for st; NULL on out-of-memory. A cut stack (deeper than
 * --max-depth, or an unreadable frame) ends with a "0\t...\t" marker line. */
char *stack_text_format(const struct resolved_stack *st);
/* Splits text (modified in place) into frames pointing into it. Returns
 * the number of frames (at most max). */
size_t stack_text_parse(char *text, struct export_frame *frames, size_t max);

#define STACK_TEXT_OTHER "0\t<other stacks>\t<not stored>"

#endif
