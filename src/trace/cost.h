/* SPDX-License-Identifier: MIT */
/*
 * What tracing costs the traced process, measured by leakbpf itself: probe
 * hits per second times (the cost of one trap, calibrated on this machine,
 * plus the BPF run time per hit from the kernel's statistics), as a share
 * of one CPU and of the target's own CPU time (traps run in its context).
 */
#ifndef LEAKBPF_COST_H
#define LEAKBPF_COST_H

#include <stdbool.h>
#include <stdint.h>

/* Cumulative readings at one moment. */
struct cost_sample {
	double time;		/* seconds, CLOCK_MONOTONIC */
	uint64_t hits;		/* probe hits (BPF program runs) */
	uint64_t bpf_ns;	/* BPF run time */
	uint64_t target_ticks;	/* the target's utime + stime, clock ticks */
};

struct cost_estimate {
	bool valid;
	double hits_per_sec;
	double trap_ns;		/* one trap in and out of the kernel */
	double bpf_ns_per_hit;
	double cpu_fraction;	/* of one CPU */
	double target_fraction;	/* of the target's CPU time; -1: it used too little to tell */
};

/* The estimate between two readings; -EINVAL if they do not span time. */
int cost_estimate(const struct cost_sample *prev, const struct cost_sample *now,
		  double trap_ns, long ticks_per_sec, struct cost_estimate *out);

/* Calibration: a function of our own whose first instruction the kernel
 * emulates (push), like malloc's, and the shortest time, in seconds, that
 * n calls to it took over several tries. */
void cost_calibration_target(void);
double cost_time_calls(long n, int tries);

#endif
