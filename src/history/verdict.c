// SPDX-License-Identifier: MIT
/*
 * Rank statistics beside least squares: a sampled estimate is a staircase
 * (it moves when a window closes) with now and then one wild point (a
 * window that measured little work), and one such point can hide a trend
 * from a fitted line. The Mann-Kendall test asks whether later points are
 * larger than earlier ones more often than chance allows; the medians of
 * the window's thirds say whether it still climbs at the end. Neither
 * moves for one outlier.
 */
#include "verdict.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* A trend counts when the Mann-Kendall statistic is this many standard
 * deviations from 0 (one chance in ~700 for a series without one). */
#define SIGNIFICANT 3.0
/* Still growing at the end: the last third's rise keeps this share of the
 * average rise per third (a warm-up's last third is ~0). */
#define STILL_GROWING 0.3
/* Growing steadily takes rises at this many points at least: one step near
 * the end of an otherwise flat window is one observation, not a trend. */
#define MIN_RISES 3

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_GROWING: return "growing steadily";
	case VERDICT_WARMUP: return "grew then flat (warm-up)";
	case VERDICT_SHRINKING: return "shrinking";
	case VERDICT_UNCONFIRMED: return "unconfirmed: more than the process gained";
	default: return "noise";
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Mann-Kendall: S over all pairs, in standard deviations (ties, which a
 * staircase is full of, lower the variance). */
static double mann_kendall_z(const double *y, size_t n)
{
	double s = 0, var, *sorted;
	size_t i, j, run;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			s += (y[j] > y[i]) - (y[j] < y[i]);
	var = (double)n * (double)(n - 1) * (2.0 * (double)n + 5) / 18;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return 0;
	for (i = 0; i < n; i++)
		sorted[i] = y[i];
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && sorted[j] == sorted[i]; j++)
			;
		run = j - i;
		if (run > 1)
			var -= (double)run * (double)(run - 1) * (2.0 * (double)run + 5) / 18;
	}
	free(sorted);
	if (var <= 0 || s == 0)
		return 0;
	/* continuity correction */
	return (s > 0 ? s - 1 : s + 1) / sqrt(var);
}

/* Least squares: slope over its standard error. A step early in a long
 * flat window is a weak monotonic trend (most pairs lie on the plateau)
 * but a clear shift of the mean; this sees it. */
static double lsq_t(const double *t, const double *y, size_t n)
{
	double mt = 0, my = 0, stt = 0, sty = 0, sse = 0, slope;
	size_t i;

	for (i = 0; i < n; i++) {
		mt += t[i];
		my += y[i];
	}
	mt /= (double)n;
	my /= (double)n;
	for (i = 0; i < n; i++) {
		stt += (t[i] - mt) * (t[i] - mt);
		sty += (t[i] - mt) * (y[i] - my);
	}
	if (stt <= 0)
		return 0;
	slope = sty / stt;
	for (i = 0; i < n; i++) {
		double r = y[i] - (my + slope * (t[i] - mt));

		sse += r * r;
	}
	if (sse <= 0)
		return slope > 0 ? INFINITY : slope < 0 ? -INFINITY : 0;
	return slope / sqrt(sse / (double)(n - 2) / stt);
}

/* The median of y[from, to). */
static double median_of(const double *y, size_t from, size_t to)
{
	size_t n = to - from, i;
	double *v = malloc(n * sizeof(*v)), m;

	if (!v || !n) {
		free(v);
		return n ? y[from] : 0;
	}
	for (i = 0; i < n; i++)
		v[i] = y[from + i];
	qsort(v, n, sizeof(*v), cmp_double);
	m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	free(v);
	return m;
}

/* The standard deviation of the difference of two thirds' medians under
 * the series' own scatter, estimated robustly from successive differences
 * (their median absolute deviation; a trend or a staircase's steps barely
 * move it). 0 for a staircase: its steps are then all there is. */
static double median_diff_noise(const double *y, size_t n)
{
	double *d = malloc((n - 1) * sizeof(*d)), med, sigma;
	size_t i;

	if (!d)
		return 0;
	for (i = 1; i < n; i++)
		d[i - 1] = y[i] - y[i - 1];
	med = median_of(d, 0, n - 1);
	for (i = 0; i < n - 1; i++)
		d[i] = fabs(d[i] - med);
	/* MAD -> sigma of a difference -> sigma of a point */
	sigma = 1.4826 * median_of(d, 0, n - 1) / sqrt(2.0);
	free(d);
	/* a median of n/3 points scatters ~1.25 sigma / sqrt(n/3); two of them */
	return 1.25 * sigma * sqrt(2.0 / ((double)n / 3));
}

/* A sampled estimate moves only when a window closes, and windows come as
 * the governor allows (5 s apart, then 17 s): between two moves its level
 * was not observed, it was not flat. The straight line between the points
 * where it moved is the best guess of the level there (a series that
 * moves at every point is left as it is). */
static void levels_between_moves(const double *t, const double *y, size_t n, double *out)
{
	size_t prev = 0, i, j;

	out[0] = y[0];
	for (i = 1; i < n; i++) {
		if (y[i] == y[i - 1] && i != n - 1)
			continue;
		for (j = prev + 1; j <= i; j++)
			out[j] = t[i] > t[prev] ?
				y[prev] + (y[i] - y[prev]) * (t[j] - t[prev]) / (t[i] - t[prev]) : y[i];
		prev = i;
	}
}

static enum verdict judge_rise(const double *t, const double *bytes, size_t n, double *level)
{
	double m1, m2, m3, per_third;
	size_t i, rises, late_rises;

	/* the level of each third of the window (medians: a wild point or a
	 * staircase's steps do not move them much). Growing steadily: each
	 * third climbs at a good share of the average pace, the last too. */
	levels_between_moves(t, bytes, n, level);
	m1 = median_of(level, 0, n / 3);
	m2 = median_of(level, n / 3, 2 * n / 3);
	m3 = median_of(level, 2 * n / 3, n);
	per_third = (m3 - m1) / 2;
	for (i = 1, rises = 0, late_rises = 0; i < n; i++) {
		rises += bytes[i] > bytes[i - 1];
		late_rises += bytes[i] > bytes[i - 1] && i >= 2 * n / 3;
	}
	/* the last third's climb must stand out of the scatter by itself: a
	 * step inside the first third biases its median low; and it must be
	 * seen there (a rise observed in it), not only drawn towards it */
	if (per_third > 0 && m3 - m2 >= SIGNIFICANT * median_diff_noise(bytes, n) &&
	    m3 - m2 >= STILL_GROWING * per_third && m2 - m1 >= STILL_GROWING * per_third &&
	    rises >= MIN_RISES && late_rises > 0)
		return VERDICT_GROWING;
	/* grew at some point (the last third above the window's first sixth)
	 * and stopped; or a few late points that moved no level: noise. On
	 * the levels observed: a line drawn to one late step is no warm-up */
	return median_of(bytes, 2 * n / 3, n) > median_of(bytes, 0, n / 6) ?
		VERDICT_WARMUP : VERDICT_NOISE;
}

enum verdict verdict_of(const double *t, const double *bytes, size_t n)
{
	double z, lt, *level;
	enum verdict v;
	bool up, down;

	if (n < 6 || t[n - 1] <= t[0])
		return VERDICT_NOISE;
	/* a trend by either test: ranks (robust to a wild point) or least
	 * squares (sees a shift) */
	z = mann_kendall_z(bytes, n);
	lt = lsq_t(t, bytes, n);
	up = z >= SIGNIFICANT || lt >= SIGNIFICANT;
	down = z <= -SIGNIFICANT || lt <= -SIGNIFICANT;
	if (up == down)
		return VERDICT_NOISE;	/* neither, or they disagree */
	if (down)
		return VERDICT_SHRINKING;
	level = malloc(n * sizeof(*level));
	if (!level)
		return VERDICT_NOISE;
	v = judge_rise(t, bytes, n, level);
	free(level);
	return v;
}
