/* SPDX-License-Identifier: MIT */
/*
 * Is a stack's outstanding memory growing? From the series of snapshots
 * inside a window (the agent's store; `leakbpf diff`): growing steadily, grew
 * then flat (a cache warming up), or noise. A leak keeps growing to the end
 * of the window; a cache that fills grows early and stops; sampling noise
 * wanders with no trend. Pure arithmetic, unit-tested.
 */
#ifndef LEAKBPF_VERDICT_H
#define LEAKBPF_VERDICT_H

#include <stddef.h>

enum verdict {
	VERDICT_NOISE = 0,	/* no trend the scatter cannot explain */
	VERDICT_GROWING,	/* grows over the window and still at its end */
	VERDICT_WARMUP,		/* grew, then flat: stopped before the end */
	VERDICT_SHRINKING,	/* released over the window */
	/* Not from a series: `leakbpf diff` sets it on a sampled row that
	 * claims more growth than the process's own memory shows (src/history/diff.c) */
	VERDICT_UNCONFIRMED,
};

const char *verdict_name(enum verdict v);	/* "growing steadily", ... */

/* t[i] seconds (increasing), bytes[i] outstanding; n points. Fewer than 4
 * points is too few to tell a trend: noise. */
enum verdict verdict_of(const double *t, const double *bytes, size_t n);

#endif
