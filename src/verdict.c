// SPDX-License-Identifier: MIT
#include "verdict.h"

#include <math.h>
#include <stdbool.h>

/* A trend counts when the fitted slope is this many standard errors from 0. */
#define SIGNIFICANT 3.0
/* Still growing at the end: the last third's slope keeps this share of the
 * whole window's (a warm-up's last third is ~0). */
#define STILL_GROWING 0.3

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_GROWING: return "growing steadily";
	case VERDICT_WARMUP: return "grew then flat (warm-up)";
	case VERDICT_SHRINKING: return "shrinking";
	default: return "noise";
	}
}

struct fit {
	double slope;		/* bytes per second */
	double stderr_slope;	/* its standard error; 0 for a perfect line */
};

/* Least squares over points [from, to). */
static struct fit fit_line(const double *t, const double *y, size_t from, size_t to)
{
	struct fit f = { 0, 0 };
	double n = (double)(to - from), mt = 0, my = 0, stt = 0, sty = 0, sse = 0;
	size_t i;

	if (to - from < 2)
		return f;
	for (i = from; i < to; i++) {
		mt += t[i];
		my += y[i];
	}
	mt /= n;
	my /= n;
	for (i = from; i < to; i++) {
		stt += (t[i] - mt) * (t[i] - mt);
		sty += (t[i] - mt) * (y[i] - my);
	}
	if (stt <= 0)
		return f;
	f.slope = sty / stt;
	for (i = from; i < to; i++) {
		double r = y[i] - (my + f.slope * (t[i] - mt));

		sse += r * r;
	}
	if (to - from > 2)
		f.stderr_slope = sqrt(sse / (n - 2) / stt);
	return f;
}

static bool significant(struct fit f)
{
	if (f.slope == 0)
		return false;
	return f.stderr_slope == 0 || fabs(f.slope) / f.stderr_slope >= SIGNIFICANT;
}

enum verdict verdict_of(const double *t, const double *bytes, size_t n)
{
	struct fit all, tail;
	size_t tail_from;

	if (n < 4)
		return VERDICT_NOISE;
	all = fit_line(t, bytes, 0, n);
	if (!significant(all))
		return VERDICT_NOISE;
	if (all.slope < 0)
		return VERDICT_SHRINKING;
	/* the last third (at least 3 points): is it still growing? */
	tail_from = n - (n / 3 > 3 ? n / 3 : 3);
	tail = fit_line(t, bytes, tail_from, n);
	return tail.slope >= STILL_GROWING * all.slope ? VERDICT_GROWING : VERDICT_WARMUP;
}
