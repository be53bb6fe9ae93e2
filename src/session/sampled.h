/* SPDX-License-Identifier: MIT */
/*
 * Sampled mode for one process (the default of `top`): probes and the
 * allocator redirect go in for a short window at a random moment of every
 * period and come out again; between windows the target runs untouched.
 * Each window's allocations become samples, kept here (not in BPF) and
 * checked for frees from outside by reading their memory; the estimate
 * weights every sample by the work the program did from the first window
 * to the last over the work it did inside windows (the Python work clock):
 * a ratio over all windows, not one per window, because one short window
 * measures little work and a per-window ratio would swing with what code
 * it happened to fall in. The governor keeps the
 * measured overhead under --max-overhead.
 */
#ifndef LEAKBPF_SAMPLED_H
#define LEAKBPF_SAMPLED_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>
#include <sys/types.h>

#include "cost.h"
#include "sampler.h"
#include "u64map.h"

struct alloc_redirect;
struct py_target;
struct report;
struct symbolizer;
struct tracer;

/* Live samples kept per process, at most: ~70 bytes each with the index,
 * so under 5 MB. A 1% budget takes a few hundred samples a day of a slow
 * leak; a full table drops new samples and says how many. */
#define SAMPLED_MAX_SAMPLES 65536

struct report;

struct sample {
	uint64_t addr, size, stack_key;
	struct sample_shape shape;
	double taken_at;		/* CLOCK_MONOTONIC seconds, its window's close */
};

/* A window counts in the estimate once its samples have lived this long:
 * one window's samples stand for a whole period, so a short-lived object
 * caught alive at the window's close (a request's temporaries, a cache's
 * value about to be replaced) would count as a period's worth of
 * outstanding memory until the next check found it freed. Until then the
 * estimate ends at the window before (its work, its samples, its time):
 * leaving out the young window's samples but not its work would shrink
 * every line by one window's share and make a steady leak saw-toothed.
 * The governor's shortest period is longer, so at most one window is young. */
#define SAMPLE_MIN_AGE 1.0

/* Where the estimate's span ends: the state when a window closed. */
struct sampled_span_end {
	double closed_at;		/* CLOCK_MONOTONIC seconds */
	double wall_in_windows;		/* seconds the windows up to it were open */
	uint64_t clock_closed;		/* work clock then */
	uint64_t work_in_windows;	/* work inside the windows up to it */
};

struct sampled {
	bool on;
	double budget;			/* fraction of the target's CPU time */
	struct sampler_schedule sched;
	bool window_open;
	double opened_at;
	uint64_t clock_addr;
	uint64_t clock_start, clock_opened;
	struct sampled_span_end last;	/* as the newest window closed */
	struct sampled_span_end before_last;	/* as the one before it closed */
	double started_at;
	struct sample *v;
	size_t n, cap;
	struct u64map index;		/* addr -> sample number + 1 */
	struct u64map types;		/* type address -> 1 valid, 2 not a type */
	struct key_learner keys;
	double next_check;
	uint64_t clock_checked;		/* work clock at the last liveness check, 0 none */
	double clock_checked_at;
	struct cost_sample period_cost;	/* readings when the period began */
	double overhead;		/* of the last period, -1 = unknown */
	double expected;		/* of the schedule now in force, -1 = unknown */
	double window_density;		/* CPU share of an open window, averaged; 0 = none yet */
	uint64_t windows, taken, freed_later, replaced, unknown_form, window_failures;
	uint64_t empty_windows;		/* windows that saw no work: carried over */
	uint64_t mappings_skipped;	/* anonymous mmaps taken in windows, not kept */
	uint64_t dropped;		/* LOST: samples not kept, table full */
};

/* What sampled mode works on: one traced process, as its session lends it
 * for a call. Sampled mode owns `sampled` and nothing else: it puts probes
 * in and out through the tracer, arms and disarms the session's redirect,
 * and reads the process, never the session. */
struct sampled_target {
	struct sampled *sampled;
	pid_t pid;
	bool exited;			/* gone: its memory is not read again */
	struct tracer *tracer;
	struct symbolizer *sym;
	const struct py_target *py;
	struct alloc_redirect *redirect;
	bool cost_ready;		/* the governor's readings are there */
	double trap_ns;
	int (*read_cost)(void *ctx, struct cost_sample *c);
	void *cost_ctx;
};

/* Sets sampled mode up for an attached process; -errno with why filled
 * when it cannot be sampled (then the caller traces in full). */
int sampled_start(struct sampled_target *s, double budget, uint64_t seed, char *why,
		  size_t why_len);
/* Starts a just-started sampling on like's measured schedule: a sibling
 * worker runs the same code under the same load, and its schedule beats the
 * first guess, which cost ~3x the budget on gunicorn workers and which a
 * worker recycled every few seconds would never outlive. False (nothing
 * changed) when like has measured nothing or works to another budget. */
bool sampled_take_schedule(struct sampled *sm, const struct sampled *like);
/* Opens or closes a window or checks the samples when it is time; returns
 * how long (ms) until it next needs to run. */
int sampled_tick(struct sampled_target *s);
/* Closes an open window (probes out, redirect off) and checks the samples. */
void sampled_settle(struct sampled_target *s);
/* Report rows from the live samples, weighted. */
int sampled_collect(struct sampled_target *s, struct report *r);
void sampled_free(struct sampled *sm);

#endif
