// SPDX-License-Identifier: MIT
/* leakbpf's estimate of its own cost from two readings. */
#include <errno.h>
#include <math.h>

#include "cost.h"
#include "testing.h"

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b) + 1);
}

int main(void)
{
	struct cost_sample a = { .time = 10.0, .hits = 1000, .bpf_ns = 2000000, .target_ticks = 100 };
	struct cost_sample b = { .time = 12.0, .hits = 21000, .bpf_ns = 42000000, .target_ticks = 150 };
	struct cost_estimate e;

	/* 20,000 hits in 2 s; 40 ms of BPF = 2 us a hit; traps of 1 us */
	CHECK(cost_estimate(&a, &b, 1000.0, 100, &e) == 0 && e.valid, "estimate");
	CHECK(near(e.hits_per_sec, 10000), "hits/s %g", e.hits_per_sec);
	CHECK(near(e.bpf_ns_per_hit, 2000), "BPF ns/hit %g", e.bpf_ns_per_hit);
	/* 20,000 x 3 us = 60 ms in 2 s = 3% of a CPU */
	CHECK(near(e.cpu_fraction, 0.03), "cpu %g", e.cpu_fraction);
	/* the target used 50 ticks = 500 ms: 60 ms of it was ours */
	CHECK(near(e.target_fraction, 0.12), "target share %g", e.target_fraction);

	/* a target that used no measurable CPU: no share, not 0% */
	b.target_ticks = a.target_ticks;
	CHECK(cost_estimate(&a, &b, 1000.0, 100, &e) == 0 && e.target_fraction < 0, "no ticks");
	/* more spent than the target used (tick rounding): capped at all of it */
	b.target_ticks = a.target_ticks + 1;
	CHECK(cost_estimate(&a, &b, 1000.0, 100, &e) == 0 && near(e.target_fraction, 1), "cap");
	/* no hits: nothing spent */
	b.hits = a.hits;
	b.bpf_ns = a.bpf_ns;
	CHECK(cost_estimate(&a, &b, 1000.0, 100, &e) == 0 && e.cpu_fraction == 0 &&
	      e.bpf_ns_per_hit == 0, "idle");
	/* readings that do not span time, or go backwards, are refused */
	CHECK(cost_estimate(&a, &a, 1000.0, 100, &e) == -EINVAL && !e.valid, "same moment");
	b.hits = a.hits - 1;
	CHECK(cost_estimate(&a, &b, 1000.0, 100, &e) == -EINVAL, "counter went back");
	return tests_summary();
}
