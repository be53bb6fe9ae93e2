// SPDX-License-Identifier: MIT
#include "cost.h"

#include <errno.h>
#include <time.h>

/* push/pop/ret: a probe on the push is emulated, one trap per call, which
 * is what a probe on malloc costs. In assembly so no compiler puts an
 * endbr64 or a mov first. */
__asm__(".text\n"
	".globl cost_calibration_target\n"
	".type cost_calibration_target, @function\n"
	"cost_calibration_target:\n"
	"	push %rbp\n"
	"	pop %rbp\n"
	"	ret\n"
	".size cost_calibration_target, .-cost_calibration_target\n");

double cost_time_calls(long n, int tries)
{
	void (*volatile target)(void) = cost_calibration_target;
	double best = -1;
	int t;

	for (t = 0; t < tries; t++) {
		struct timespec a, b;
		double took;
		long i;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < n; i++)
			target();
		clock_gettime(CLOCK_MONOTONIC, &b);
		took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		if (best < 0 || took < best)
			best = took;
	}
	return best;
}

int cost_estimate(const struct cost_sample *prev, const struct cost_sample *now,
		  double trap_ns, long ticks_per_sec, struct cost_estimate *out)
{
	double dt = now->time - prev->time;
	uint64_t hits = now->hits - prev->hits;
	double spent_ns, target_ns;

	out->valid = false;
	if (!(dt > 0) || now->hits < prev->hits || now->bpf_ns < prev->bpf_ns || trap_ns < 0)
		return -EINVAL;
	out->hits_per_sec = (double)hits / dt;
	out->trap_ns = trap_ns;
	out->bpf_ns_per_hit = hits ? (double)(now->bpf_ns - prev->bpf_ns) / (double)hits : 0;
	spent_ns = (double)hits * (trap_ns + out->bpf_ns_per_hit);
	out->cpu_fraction = spent_ns / (dt * 1e9);
	target_ns = now->target_ticks > prev->target_ticks && ticks_per_sec > 0 ?
		    (double)(now->target_ticks - prev->target_ticks) * 1e9 / (double)ticks_per_sec : 0;
	/* the target's CPU time includes the traps: the share cannot pass 1;
	 * a target that used no measurable CPU time (ticks are 10 ms) has none */
	out->target_fraction = target_ns > 0 ? (spent_ns < target_ns ? spent_ns / target_ns : 1) : -1;
	out->valid = true;
	return 0;
}
