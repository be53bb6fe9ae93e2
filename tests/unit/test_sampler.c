/* SPDX-License-Identifier: MIT */
/*
 * Sampled mode's statistics and decisions (src/session/sampler.c), with fixed seeds:
 *  - windows fall uniformly over their period and a seed replays a schedule;
 *  - the estimate from windows that slow the program down is unbiased when
 *    weighted by work (the Python work clock) and ~10x low when weighted by
 *    wall time (which is why the work clock exists);
 *  - the governor converges on the budget and respects its limits;
 *  - a sample's shape and liveness from the bytes around it, as glibc and
 *    CPython leave them; the thread-cache key is learnt from freed objects.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "leakbpf_shared.h"
#include "sampler.h"
#include "testing.h"

static void test_schedule(void)
{
	struct sampler_schedule a, b;
	double sum = 0, lo = 1e9, hi = -1;
	int i, n = 4000, differ = 0, outside = 0;

	schedule_init(&a, 100.0, 0.05, 2.0, 42);
	schedule_init(&b, 100.0, 0.05, 2.0, 42);
	for (i = 0; i < n; i++) {
		double off = a.next_open - a.period_start;

		differ += a.next_open != b.next_open;
		outside += !(off >= 0 && off <= 2.0 - 0.05);
		sum += off;
		lo = off < lo ? off : lo;
		hi = off > hi ? off : hi;
		schedule_next(&a, a.next_open + a.window);
		schedule_next(&b, b.next_open + b.window);
	}
	CHECK(!differ, "same seed, same schedule (%d differ)", differ);
	CHECK(!outside, "windows inside their period (%d outside)", outside);
	/* uniform over [0, 1.95]: mean 0.975, and the ends are reached */
	CHECK(fabs(sum / n - 0.975) < 0.03, "mean offset %g", sum / n);
	CHECK(lo < 0.01 && hi > 1.94, "offsets span the period: %g..%g", lo, hi);
	schedule_init(&b, 100.0, 0.05, 2.0, 43);
	schedule_init(&a, 100.0, 0.05, 2.0, 42);
	CHECK(a.next_open != b.next_open, "another seed, another schedule");
	/* a tracer that fell behind starts afresh instead of catching up */
	schedule_next(&a, 500.0);
	CHECK(a.next_open >= 500.0 && a.period_start <= 500.0, "late: from now on");
}

/*
 * A simulated program: work advances 20 units per ms outside windows and
 * 20 * `speed` inside one (traps slow it). Each unit of work allocates a
 * leaking 100-byte block with probability 1/4. Windows sample what is
 * allocated inside them; the estimate is compared with the truth when the
 * last window closed (what the windows can know of).
 */
struct sim_result {
	double by_work, by_wall, truth;
};

static struct sim_result simulate(uint64_t seed, double speed, double seconds)
{
	struct sampler_schedule s;
	struct sim_result r = { 0 };
	uint64_t rng = seed ^ 0x5eed, work = 0, work_closed = 0, work_opened = 0;
	double t = 0, closed_at = 0, opened_at = 0, progress = 0;
	double window_leak = 0, truth_now = 0;
	bool open = false;

	schedule_init(&s, 0, 0.04, 2.0, seed);
	while (t < seconds) {
		double rate = open ? 20 * speed : 20.0;

		progress += rate;
		while (progress >= 1.0) {
			progress -= 1.0;
			work++;
			if (sampler_random(&rng) % 4 == 0) {
				truth_now += 100;
				if (open)
					window_leak += 100;
			}
		}
		t += 0.001;
		if (!open && t >= s.next_open) {
			open = true;
			opened_at = t;
			work_opened = work;
		} else if (open && t >= opened_at + s.window) {
			double w_work = sampler_scale(work - work_closed, work - work_opened);
			double w_wall = (t - closed_at) / (t - opened_at);

			r.by_work += window_leak * w_work;
			r.by_wall += window_leak * w_wall;
			window_leak = 0;
			r.truth = truth_now;
			open = false;
			work_closed = work;
			closed_at = t;
			schedule_next(&s, t);
		}
	}
	return r;
}

static void test_estimate(void)
{
	double sum = 0, worst = 0, wall = 0, truth = 0;
	int i, n = 20;

	for (i = 0; i < n; i++) {
		struct sim_result r = simulate(1000 + i, 0.08, 120);
		double err = r.by_work / r.truth - 1;

		sum += err;
		worst = fabs(err) > worst ? fabs(err) : worst;
		wall += r.by_wall;
		truth += r.truth;
	}
	CHECK(fabs(sum / n) < 0.05, "work-weighted estimate unbiased: mean error %+.3f", sum / n);
	CHECK(worst < 0.30, "every run within 30%% after 120 s: worst %.3f", worst);
	CHECK(wall / truth < 0.2, "wall-time weights are far too low under slowdown: %.3f", wall / truth);
	CHECK(sampler_scale(1000, 0) == 0, "no work in windows: no weight");
	CHECK(sampler_capped_weight(2000, 56) == 2000, "small blocks keep their weight");
	CHECK(sampler_capped_weight(20000, 3000) == 20000, "so do medium ones, whatever the weight");
	CHECK(fabs(sampler_capped_weight(2000, 8 << 20) - 2) < 1e-9, "an 8 MiB array claims 16 MiB");
	CHECK(sampler_capped_weight(2000, 64 << 20) == 1, "never below one");
	CHECK(sampler_scale(1000, 10) == 100, "ratio");
}

static void test_governor(void)
{
	struct sampler_schedule s;
	int i;

	/* a window costs 40 ms of a fully busy target: overhead = 0.04 / P */
	schedule_init(&s, 0, 0.04, 1.0, 1);
	for (i = 0; i < 10; i++)
		governor_adjust(&s, s.window / s.period, 0.01);
	CHECK(fabs(s.window / s.period - 0.008) < 0.0005, "converges to 80%% of 1%%: %g (P=%g W=%g)",
	      s.window / s.period, s.period, s.window);
	/* a tiny budget: P hits its ceiling, then the window shrinks */
	for (i = 0; i < 20; i++)
		governor_adjust(&s, s.window / s.period, 0.0001);
	CHECK(fabs(s.period - GOVERNOR_MAX_PERIOD) < 1 && s.window < 0.04 && s.window >= GOVERNOR_MIN_WINDOW,
	      "ceiling: P=%g W=%g", s.period, s.window);
	/* a generous budget: P at its floor, window grows to its ceiling */
	for (i = 0; i < 30; i++)
		governor_adjust(&s, s.window / s.period, 0.5);
	CHECK(fabs(s.period - GOVERNOR_MIN_PERIOD) < 0.01 && fabs(s.window - GOVERNOR_MAX_WINDOW) < 1e-3,
	      "floor: P=%g W=%g", s.period, s.window);
	/* one odd period cannot swing it far */
	schedule_init(&s, 0, 0.04, 5.0, 1);
	governor_adjust(&s, 1.0, 0.01);
	CHECK(s.period <= 40.0 + 1e-9, "at most x8 a step: %g", s.period);
	/* nothing measured: unchanged */
	governor_adjust(&s, -1, 0.01);
	CHECK(s.period <= 40.0 + 1e-9 && s.period >= 39.9, "unknown keeps it: %g", s.period);
}

/* peek bytes: 16 before the block, 48 of it */
static void put(uint8_t *peek, int at, uint64_t v)
{
	memcpy(peek + SAMPLE_PEEK_BEFORE + at, &v, sizeof(v));
}

#define TYPE_A 0x7f0000001000ull
#define TYPE_B 0x7f0000002000ull
#define KEY 0x1234567890abcdefull

static bool known_type(void *arg, uint64_t addr)
{
	(void)arg;
	return addr == TYPE_A || addr == TYPE_B;
}

static void test_shapes(void)
{
	static const uint8_t offsets[] = { 0, 16, 32 };
	uint8_t peek[SAMPLE_PEEK], now[SAMPLE_PEEK];
	struct sample_shape sh;
	uint64_t next_inuse = 0x41, next_free = 0x40;

	/* a plain object: refcount 1, type A, in a 32-byte chunk */
	memset(peek, 0, sizeof(peek));
	put(peek, -8, 0x21);
	put(peek, 0, 1);
	put(peek, 8, TYPE_A);
	sample_shape_of(peek, 24, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_OBJECT && sh.obj_offset == 0 && sh.ident == TYPE_A, "object at 0");
	CHECK(sample_still_live(&sh, peek, 24, 0, 0), "live object");
	memcpy(now, peek, sizeof(now));
	put(now, 8, KEY);		/* free(): tcache key over ob_type */
	put(now, 0, 0x55555555);	/* and the mangled next pointer */
	CHECK(!sample_still_live(&sh, now, 24, 0, 0), "freed object (type overwritten)");
	CHECK(!sample_still_live(&sh, NULL, 24, 0, 0), "unreadable = freed");

	/* a GC object: gc_next/gc_prev first, header at 16 */
	memset(peek, 0, sizeof(peek));
	put(peek, -8, 0x51);
	put(peek, 0, 0x5566778899aa);
	put(peek, 8, 0x5566778899b0);
	put(peek, 16, 2);
	put(peek, 24, TYPE_B);
	sample_shape_of(peek, 56, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_OBJECT && sh.obj_offset == 16 && sh.ident == TYPE_B, "GC object at 16");
	memcpy(now, peek, sizeof(now));
	put(now, 16, 0);		/* deallocated: the count stayed 0 */
	CHECK(!sample_still_live(&sh, now, 24, 0, 0), "freed GC object (count 0)");
	memcpy(now, peek, sizeof(now));
	put(now, 24, TYPE_A);		/* the block now holds another object */
	CHECK(!sample_still_live(&sh, now, 24, 0, 0), "reused by another type");
	/* seen first when already dead on a free list (count 0, type kept):
	 * not a sample, though malloc still holds the block */
	memcpy(now, peek, sizeof(now));
	put(now, 16, 0);
	sample_shape_of(now, 56, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_DEAD_OBJECT && sh.obj_offset == 16, "dead on a free list: form %d",
	      sh.form);

	/* a bytes value in a cache: freed and replaced by the next one of the
	 * same size, malloc hands the same block out again at once. Header
	 * and size alike; only the contents tell. */
	memset(peek, 0, sizeof(peek));
	put(peek, -8, 0x231);		/* a 545-byte request's chunk */
	put(peek, 0, 1);
	put(peek, 8, TYPE_A);
	put(peek, 16, 512);		/* ob_size */
	put(peek, 24, (uint64_t)-1);	/* ob_shash, not computed yet */
	memcpy(peek + SAMPLE_PEEK_BEFORE + 32, "00000041-payload", 16);
	sample_shape_of(peek, 545, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	sample_set_body(&sh, 545, 16, 8, 32, 255);
	CHECK(sh.body_len[0] == 8 && sh.body_from[1] == 32 &&
	      sh.body_len[1] == SAMPLE_PEEK - SAMPLE_PEEK_BEFORE - 32, "body clipped to the peek");
	CHECK(sample_still_live(&sh, peek, 545, 0, 0), "first check: fingerprinted");
	memcpy(now, peek, sizeof(now));
	put(now, 0, 3);			/* more references */
	put(now, 24, 0x1234567);	/* the hash got cached */
	CHECK(sample_still_live(&sh, now, 545, 0, 0), "refcount and hash change: still the same value");
	memcpy(now + SAMPLE_PEEK_BEFORE + 32, "00000042-payload", 16);
	CHECK(!sample_still_live(&sh, now, 545, 0, 0), "another value in the same block: freed");
	/* a short value: the body stops at its end, the next block may change */
	sample_shape_of(peek, 40, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	sample_set_body(&sh, 40, 16, 8, 32, 255);
	CHECK(sh.body_len[1] == 8, "body clipped to the object's 40 bytes (%u)", sh.body_len[1]);
	CHECK(sample_still_live(&sh, peek, 40, 0, 0), "short value fingerprinted");
	memcpy(now, peek, sizeof(now));
	memset(now + SAMPLE_PEEK_BEFORE + 48, 0x77, 16);	/* the next block's bytes */
	CHECK(sample_still_live(&sh, now, 40, 0, 0), "what follows the object does not count");

	/* not an object (dict keys, a C buffer): a glibc chunk */
	memset(peek, 0, sizeof(peek));
	CHECK(glibc_chunk_size(100) == 112 && glibc_chunk_size(1) == 32 && glibc_chunk_size(24) == 32,
	      "glibc chunk sizes");
	put(peek, -8, glibc_chunk_size(100) | 1);
	put(peek, 0, 7);
	put(peek, 8, 0x1111);
	sample_shape_of(peek, 100, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_CHUNK, "chunk");
	CHECK(sample_next_word_addr(&sh, 0x10000) == 0x10000 - 16 + 112 + 8, "next chunk's size word");
	CHECK(sample_still_live(&sh, peek, 100, next_inuse, KEY), "live chunk");
	CHECK(!sample_still_live(&sh, peek, 100, next_free, KEY), "freed into a bin (next PREV_INUSE clear)");
	memcpy(now, peek, sizeof(now));
	put(now, 8, KEY);
	CHECK(!sample_still_live(&sh, now, 100, next_inuse, KEY), "freed into the thread cache");
	{
		struct sample_shape fresh = sh;

		fresh.has_fingerprint = false;	/* as adopted, before any check */
		CHECK(sample_still_live(&fresh, now, 100, next_inuse, 0) && fresh.has_fingerprint,
		      "key unknown: cannot tell (kept, fingerprinted)");
	}
	/* handed out again at the same size: only the contents differ */
	CHECK(sample_still_live(&sh, peek, 100, next_inuse, KEY) && sh.has_fingerprint,
	      "first check fingerprints");
	CHECK(sample_still_live(&sh, peek, 100, next_inuse, KEY), "same contents: live");
	memcpy(now, peek, sizeof(now));
	put(now, 16, 0xfeed);
	CHECK(!sample_still_live(&sh, now, 100, next_inuse, KEY), "new contents: another allocation");
	put(now, -8, 0x91);
	CHECK(!sample_still_live(&sh, now, 100, next_inuse, 0), "size word changed: merged or reused");
	/* a block too large for the thread cache may hold a stale key */
	memset(peek, 0, sizeof(peek));
	put(peek, -8, glibc_chunk_size(3000) | 1);
	put(peek, 0, 42);
	put(peek, 8, KEY);
	sample_shape_of(peek, 3000, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_CHUNK && sample_still_live(&sh, peek, 3000, next_inuse, KEY),
	      "stale key in a large live block");

	/* a chunk of its own mapping (large malloc) */
	memset(peek, 0, sizeof(peek));
	put(peek, -8, (200000 + 16 + 4095) / 4096 * 4096 | 2);
	sample_shape_of(peek, 200000, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_CHUNK && !sample_next_word_addr(&sh, 0x10000), "mmapped chunk");
	CHECK(sample_still_live(&sh, peek, 24, 0, 0), "mmapped chunk live");

	/* neither: unknown, kept until unreadable */
	memset(peek, 0xab, sizeof(peek));
	sample_shape_of(peek, 100, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_UNKNOWN, "unknown shape");
	sample_shape_of(peek, 4096, LB_KIND_MMAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form == SAMPLE_MAPPING && sample_still_live(&sh, peek, 24, 0, 0) &&
	      !sample_still_live(&sh, NULL, 24, 0, 0), "anonymous mapping: live while mapped");
	/* an object header offset past a small block is not looked at */
	memset(peek, 0, sizeof(peek));
	put(peek, 16, 1);
	put(peek, 24, TYPE_A);
	put(peek, -8, 0x21);
	sample_shape_of(peek, 16, LB_KIND_HEAP, offsets, 3, known_type, NULL, &sh);
	CHECK(sh.form != SAMPLE_OBJECT, "no header beyond the block");
}

static void test_key_learner(void)
{
	struct key_learner k;
	int i;

	memset(&k, 0, sizeof(k));
	key_learner_add(&k, KEY);
	key_learner_add(&k, 0x5000);
	key_learner_add(&k, KEY);
	CHECK(key_learner_key(&k) == 0, "twice is not enough");
	key_learner_add(&k, KEY);
	CHECK(key_learner_key(&k) == KEY, "three times, most seen");
	/* noise from blocks freed into bins (pointers) does not displace it */
	for (i = 0; i < 100; i++)
		key_learner_add(&k, 0x555500000000ull + (uint64_t)i * 16);
	CHECK(key_learner_key(&k) == KEY, "survives noise");
	memset(&k, 0, sizeof(k));
	for (i = 0; i < 3; i++) {
		key_learner_add(&k, 0xa);
		key_learner_add(&k, 0xb);
	}
	CHECK(key_learner_key(&k) == 0, "a tie says nothing");
}

int main(void)
{
	test_schedule();
	test_estimate();
	test_governor();
	test_shapes();
	test_key_learner();
	/* the governor measures a window by the time it was open: one scheduled
	 * for 40 ms that closed 120 ms later (the loop writing the store) took
	 * a third of the CPU share its scheduled length says */
	CHECK(fabs(governor_window_density(0.006, 10.0, 10.12, 1.0) - 0.05) < 1e-9,
	      "6 ms spent in a window open 120 ms: density 0.05 (%g)",
	      governor_window_density(0.006, 10.0, 10.12, 1.0));
	CHECK(fabs(governor_window_density(0.006, 10.0, 10.02, 0.5) - 0.6) < 1e-9,
	      "closed early after 20 ms, target using half a CPU: 0.6");
	CHECK(governor_window_density(0.006, 10.0, 10.0, 1.0) == 0,
	      "a window open no time measured nothing");
	return tests_summary();
}
