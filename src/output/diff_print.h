/* SPDX-License-Identifier: MIT */
/* The outputs of `leakbpf diff` (src/output/diff_print.c). */
#ifndef LEAKBPF_DIFF_PRINT_H
#define LEAKBPF_DIFF_PRINT_H

#include <stdio.h>

#include "diff.h"

enum diff_format {
	DIFF_TEXT = 0,
	DIFF_JSON,
	DIFF_COLLAPSED,		/* FlameGraph folded: growth in bytes */
	DIFF_PPROF,		/* gzipped profile.proto */
};

/* limit: rows per process in text and JSON (0 = all); collapsed and pprof
 * get every row. 0 or -errno. */
int diff_print(FILE *out, const struct diff_result *d, enum diff_format fmt, size_t limit);

#endif
