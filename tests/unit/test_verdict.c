/* SPDX-License-Identifier: MIT */
/*
 * Verdicts on a stack's series inside a window (src/history/verdict.c), on series
 * shaped like what the agent stores (a snapshot every 10 s for 30 min) with
 * seeded noise: a leak, the story's slow leak of 24-byte objects, a cache
 * warming up, flat noise, a step, a release, a sampled estimate's
 * staircase, one late step, and too few points.
 */
#include <math.h>
#include <stdint.h>

#include "testing.h"
#include "verdict.h"

#define N 181	/* 30 min, every 10 s */

static uint64_t rng = 12345;

/* A normal deviate (Box-Muller over a 64-bit LCG): fixed seed, same runs. */
static double gauss(void)
{
	double u1, u2;

	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	u1 = ((rng >> 11) + 1.0) / 9007199254740993.0;
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	u2 = (rng >> 11) / 9007199254740992.0;
	return sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
}

typedef double (*shape_fn)(double t);

static enum verdict judge(shape_fn f, double noise)
{
	double t[N], y[N];
	int i;

	for (i = 0; i < N; i++) {
		t[i] = 10.0 * i;
		y[i] = f(t[i]) + noise * gauss();
	}
	return verdict_of(t, y, N);
}

static double leak(double t) { return 5e6 + 50 * t; }			/* 50 B/s */
/* the story: ~42k 24-byte objects a day, ~12 B/s, 21 KB in 30 min */
static double slow_leak(double t) { return 3.4e6 + 12 * t; }
static double cache_fill(double t) { return 8e6 * (1 - exp(-t / 120)); }	/* full in ~10 min */
static double flat(double t) { (void)t; return 7e6; }
static double step(double t) { return t < 200 ? 1e6 : 3e6; }
static double release(double t) { return 9e6 - 1000 * t; }
/* sampled mode: the estimate moves only when a window closes (every 90 s) */
static double sampled_leak(double t) { return 5e6 + 50 * 90 * floor(t / 90); }
/* ... and one early window that measured little work, its estimate 5x too
 * high until the next (seen on a gunicorn worker) */
static double sampled_leak_spike(double t) { return sampled_leak(t) * (t == 80 ? 5 : 1); }
/* one window near the end brought samples in: one step, not a trend */
static double late_step(double t) { return t < 1650 ? 1e6 : 1.2e6; }

/* A gunicorn worker's sampled leak as the agent stored it (a snapshot a
 * second, in KiB): windows closed at 4, 9, 26 and 35 s, the governor
 * having stretched one period to 17 s. The straight line between the moves
 * is steady; its thirds' medians of the raw staircase were not (CI). */
static const double irregular_leak[] = {
	129, 129, 129, 129, 413, 413, 413, 413, 413, 413, 413, 413, 413, 413, 413, 413,
	413, 413, 413, 413, 413, 1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196,
	1645, 1645, 1645, 1645, 1645, 1645, 1645, 1645, 1645, 1645,
};
/* the same windows, but the growth stopped after the one at 26 s */
static const double irregular_warmup[] = {
	129, 129, 129, 129, 413, 413, 413, 413, 413, 413, 413, 413, 413, 413, 413, 413,
	413, 413, 413, 413, 413, 1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196,
	1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196, 1196,
};

static enum verdict judge_series(const double *y, size_t n)
{
	double t[64];
	size_t i;

	for (i = 0; i < n && i < 64; i++)
		t[i] = 5.0 + (double)i;
	return verdict_of(t, y, n);
}

/* How many of 20 noise draws get another verdict than `want`. */
static int wrong_of(shape_fn f, double noise, enum verdict want)
{
	int run, wrong = 0;

	for (run = 0; run < 20; run++)
		wrong += judge(f, noise) != want;
	return wrong;
}

int main(void)
{
	double t[3] = { 0, 10, 20 }, y[3] = { 0, 1e6, 2e6 };
	int wrong;

	/* each shape under 20 noise draws: the verdict must hold in all */
	wrong = wrong_of(leak, 20000, VERDICT_GROWING);
	CHECK(!wrong, "a leak of 50 B/s under 20 KB of noise: growing (%d wrong of 20)", wrong);
	wrong = wrong_of(slow_leak, 3000, VERDICT_GROWING);
	CHECK(!wrong, "the story's 12 B/s under 3 KB of noise: growing (%d wrong)", wrong);
	wrong = wrong_of(cache_fill, 20000, VERDICT_WARMUP);
	CHECK(!wrong, "a cache filling in 10 min: warm-up (%d wrong)", wrong);
	wrong = wrong_of(flat, 20000, VERDICT_NOISE);
	CHECK(wrong <= 1, "flat under noise: noise (%d wrong of 20)", wrong);
	wrong = wrong_of(step, 20000, VERDICT_WARMUP);
	CHECK(!wrong, "a step early in the window: grew then flat (%d wrong)", wrong);
	wrong = wrong_of(release, 20000, VERDICT_SHRINKING);
	CHECK(!wrong, "a release: shrinking (%d wrong)", wrong);
	CHECK(judge(sampled_leak, 0) == VERDICT_GROWING,
	      "a sampled leak (a step at every window): growing");
	CHECK(judge(sampled_leak_spike, 0) == VERDICT_GROWING,
	      "a sampled leak with one wild estimate: still growing");
	CHECK(judge(late_step, 0) == VERDICT_NOISE, "one step late in the window: not growing");
	CHECK(verdict_of(t, y, 3) == VERDICT_NOISE, "three points: too few to tell");
	CHECK(judge_series(irregular_leak, 40) == VERDICT_GROWING,
	      "a sampled leak whose windows came 5 then 17 s apart: growing");
	CHECK(judge_series(irregular_warmup, 40) == VERDICT_WARMUP,
	      "the same windows, growth stopped two thirds in: warm-up");
	CHECK(judge(flat, 0) == VERDICT_NOISE, "a constant: noise");
	CHECK(judge(leak, 0) == VERDICT_GROWING, "an exact line: growing");
	return tests_summary();
}
