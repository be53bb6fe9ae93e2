/* SPDX-License-Identifier: MIT */
/*
 * Sampled mode's arithmetic, apart from any process (unit-tested):
 *
 *  - when windows open: one window of W seconds at a random offset in every
 *    period of P seconds (seeded, so a test can replay a schedule);
 *  - the governor: P (and, at its limit, W) from the measured overhead of
 *    the last period against the budget;
 *  - the estimate: a sample stands for (work done since tracing began) /
 *    (work done inside windows), both read on the Python work clock, which
 *    the traps do not slow (see py_work_clock.h);
 *  - whether a sample is still live: what its memory looks like now against
 *    what it looked like when its window closed (see sample_shape).
 */
#ifndef LEAKBPF_SAMPLER_H
#define LEAKBPF_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

/* ---- schedule ---------------------------------------------------------- */

struct sampler_schedule {
	double window;		/* W, seconds */
	double period;		/* P, seconds */
	double period_start;	/* start of the current period */
	double next_open;	/* when the current period's window opens */
	uint64_t rng;		/* splitmix64 state */
};

uint64_t sampler_random(uint64_t *state);
void schedule_init(struct sampler_schedule *s, double now, double window, double period,
		   uint64_t seed);
/* The window of the current period closed at `now`: plan the next period's. */
/* Moves the first window to a random moment of the next `within` seconds
 * (a worker that may live only seconds must not wait a whole period). */
void schedule_first_within(struct sampler_schedule *s, double now, double within);
void schedule_next(struct sampler_schedule *s, double now);

/* ---- governor ---------------------------------------------------------- */

#define GOVERNOR_MIN_PERIOD 2.0		/* attach + detach: ~0.3 s here, and page rewrites in the target */
#define GOVERNOR_MAX_PERIOD 120.0
#define GOVERNOR_MIN_WINDOW 0.005
#define GOVERNOR_MAX_WINDOW 0.2
#define GOVERNOR_HEADROOM 0.8		/* aim under the budget, not at it */

/* measured: overhead of the last period as a fraction (of the target's CPU
 * time); budget: the allowed fraction. Adjusts s->period and s->window. */
void governor_adjust(struct sampler_schedule *s, double measured, double budget);
/* The share of the target's CPU (cpu_rate: CPUs it uses) that tracing took
 * while a window was open: spent seconds over the time the window really
 * was open, from opened_at to closed_at. A window closes late when the loop
 * was busy (the agent writing the store) and early on a refresh; its
 * scheduled length would skew the governor by as much. */
double governor_window_density(double spent, double opened_at, double closed_at,
			       double cpu_rate);

/* ---- estimate ---------------------------------------------------------- */

/* Weight of every sample: work in all / work in windows; 0 if no window
 * has seen work yet. */
double sampler_scale(uint64_t work_total, uint64_t work_in_windows);

/* A sample of a large block (64 KiB or more) never stands for more than
 * 16 MiB. A window that catches one rare large block (a list's item array
 * being grown, a dict's table) would otherwise claim weight x size:
 * gigabytes from one 8 MiB array. Unbiased, but with a variance no report
 * survives. The cost: a leak of many large blocks is underestimated; the
 * report counts the capped samples. Smaller blocks are many, and keep
 * their weight. */
#define SAMPLE_LARGE_BLOCK (64ull << 10)
#define SAMPLE_CLAIM_CAP (16ull << 20)

/* A window's weight for a block of `size` bytes, capped as above (never
 * below 1: a sample is at least itself). */
double sampler_capped_weight(double weight, uint64_t size);

/* ---- sample liveness --------------------------------------------------- */

/* Bytes read around a sample: 16 before it (the malloc chunk header) and
 * 112 of the block: an object header behind two 16-byte pre-headers
 * (3.12+), and the first bytes of an immutable object's contents. */
#define SAMPLE_PEEK_BEFORE 16
#define SAMPLE_PEEK 128

enum sample_form {
	SAMPLE_UNKNOWN = 0,	/* neither: kept until it cannot be read */
	SAMPLE_OBJECT,		/* a Python object at obj_offset, of type ident */
	SAMPLE_CHUNK,		/* a glibc malloc chunk whose size word is ident */
	SAMPLE_MAPPING,		/* an anonymous mmap */
	/* a Python object whose count is 0: dead, on one of CPython's free
	 * lists (malloc still holds the block). Not outstanding: never kept */
	SAMPLE_DEAD_OBJECT,
};

struct sample_shape {
	uint8_t form;		/* enum sample_form */
	uint8_t obj_offset;
	bool has_fingerprint;
	/* SAMPLE_OBJECT of an immutable type (bytes, str): up to two byte
	 * ranges of the object (from its start) that never change while it
	 * lives; their fingerprint tells it from an equal-sized successor */
	uint8_t body_from[2], body_len[2];
	uint64_t ident;
	uint64_t fingerprint;	/* hash of the first 32 bytes (chunk) or the body (object) */
};

typedef bool (*sampler_is_type_fn)(void *arg, uint64_t addr);

/* What the sample at addr looks like right after its window: peek holds
 * SAMPLE_PEEK bytes from addr - SAMPLE_PEEK_BEFORE. offsets: where an object
 * header may start (0, 16, 32 by version). kind: enum lb_alloc_kind. */
void sample_shape_of(const uint8_t *peek, uint64_t size, uint32_t kind,
		     const uint8_t *offsets, int noffsets, sampler_is_type_fn is_type,
		     void *arg, struct sample_shape *out);

/* Marks the ranges of a SAMPLE_OBJECT that stay as they are while it lives
 * (offsets from the object's start), clipped to the object's size bytes
 * and to what a peek holds: past its end lies another block. */
void sample_set_body(struct sample_shape *sh, uint64_t size, unsigned from0, unsigned len0,
		     unsigned from1, unsigned len1);

/* glibc's chunk size for a request (what malloc's header says). */
uint64_t glibc_chunk_size(uint64_t request);

/* Where the next chunk's size word lies (a second read), 0 if not needed. */
uint64_t sample_next_word_addr(const struct sample_shape *sh, uint64_t addr);

/* Still live? peek as above (NULL: the memory is gone); next_word: the next
 * chunk's size word for SAMPLE_CHUNK; tcache_key: glibc's per-process key
 * that a block in the thread cache holds at +8 (0 = not learnt yet).
 *
 * A chunk freed and handed out again at the same size (the same line's next
 * call, typically) keeps every header intact; only its contents tell. So a
 * live chunk's first 32 bytes are fingerprinted at its first check (its
 * owner has filled it by then) and a different content later means another
 * allocation: sample_still_live sets the fingerprint when missing. A block
 * whose owner rewrites its first bytes is taken for freed: native leaks of
 * changing contents are undercounted, never reported as growing. Objects
 * of immutable types are fingerprinted likewise over their body (a bytes
 * value replaced by another of the same size in a cache reuses the block
 * at once); other objects only by header. */
bool sample_still_live(struct sample_shape *sh, const uint8_t *peek, uint64_t size,
		       uint64_t next_word, uint64_t tcache_key);

/* glibc's tcache key, learnt from freed objects: a block in the thread
 * cache holds the same random 64-bit key at +8, whatever it was before. */
struct key_learner {
	uint64_t value[8];
	uint32_t count[8];
};
void key_learner_add(struct key_learner *k, uint64_t value);
/* The key once one value was seen at least 3 times and more than any
 * other; 0 until then. */
uint64_t key_learner_key(const struct key_learner *k);

#endif
