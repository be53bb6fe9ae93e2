// SPDX-License-Identifier: MIT
#include "fnv.h"
#include "sampler.h"

#include <string.h>

#include "leakbpf_shared.h"

uint64_t sampler_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform(uint64_t *state)
{
	return (double)(sampler_random(state) >> 11) / 9007199254740992.0;	/* [0, 1) */
}

/* A random offset in the period: every moment of it is equally likely to
 * be sampled, which is what makes the weight unbiased. */
static void place_window(struct sampler_schedule *s)
{
	double room = s->period - s->window;

	s->next_open = s->period_start + (room > 0 ? uniform(&s->rng) * room : 0);
}

void schedule_init(struct sampler_schedule *s, double now, double window, double period,
		   uint64_t seed)
{
	memset(s, 0, sizeof(*s));
	s->window = window;
	s->period = period;
	s->rng = seed;
	s->period_start = now;
	place_window(s);
}

void schedule_first_within(struct sampler_schedule *s, double now, double within)
{
	double room = (within < s->period ? within : s->period) - s->window;

	s->next_open = now + (room > 0 ? uniform(&s->rng) * room : 0);
}

void schedule_next(struct sampler_schedule *s, double now)
{
	s->period_start += s->period;
	/* late (a slow attach, a stopped tracer): start afresh from now */
	if (s->period_start + s->period < now)
		s->period_start = now;
	place_window(s);
	if (s->next_open < now)
		s->next_open = now;
}

static double clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void governor_adjust(struct sampler_schedule *s, double measured, double budget)
{
	double target = budget * GOVERNOR_HEADROOM, factor, period;

	if (measured < 0 || budget <= 0)
		return;		/* nothing measured: keep the schedule */
	/* the overhead is proportional to W / P; move P, at most x8 longer or
	 * x4 shorter a step, so one odd period cannot swing it far */
	factor = measured > 0 ? clamp(measured / target, 0.25, 8.0) : 0.5;
	period = s->period * factor;
	if (period > GOVERNOR_MAX_PERIOD) {
		/* the longest period is not enough: shorten the window */
		s->window = clamp(s->window * GOVERNOR_MAX_PERIOD / period, GOVERNOR_MIN_WINDOW,
				  GOVERNOR_MAX_WINDOW);
		period = GOVERNOR_MAX_PERIOD;
	} else if (period < GOVERNOR_MIN_PERIOD) {
		s->window = clamp(s->window * GOVERNOR_MIN_PERIOD / period, GOVERNOR_MIN_WINDOW,
				  GOVERNOR_MAX_WINDOW);
		period = GOVERNOR_MIN_PERIOD;
	}
	s->period = period;
}

double sampler_scale(uint64_t work_total, uint64_t work_in_windows)
{
	if (!work_in_windows)
		return 0;
	return (double)work_total / (double)work_in_windows;
}

double sampler_capped_weight(double weight, uint64_t size)
{
	double cap;

	if (size < SAMPLE_LARGE_BLOCK || (double)size * weight <= (double)SAMPLE_CLAIM_CAP)
		return weight;
	cap = (double)SAMPLE_CLAIM_CAP / (double)size;
	return cap < 1 ? 1 : cap;
}

static uint64_t word_at(const uint8_t *peek, int offset_from_block)
{
	uint64_t v;

	memcpy(&v, peek + SAMPLE_PEEK_BEFORE + offset_from_block, sizeof(v));
	return v;
}

/* A live object: a reference count of a live object (immortal ones in
 * 3.12+ are 2^32-1 or so) and a type pointer. */
static bool plausible_refcnt(uint64_t refcnt)
{
	return refcnt >= 1 && refcnt < (1ull << 40);
}

uint64_t glibc_chunk_size(uint64_t request)
{
	uint64_t n = (request + 8 + 15) & ~15ull;

	return n < 32 ? 32 : n;
}

#define CHUNK_PREV_INUSE 1ull
#define CHUNK_IS_MMAPPED 2ull
#define CHUNK_FLAGS 7ull
#define GLIBC_TCACHE_MAX_CHUNK 1040ull	/* 64 bins of 16 bytes from 32 */

void sample_shape_of(const uint8_t *peek, uint64_t size, uint32_t kind,
		     const uint8_t *offsets, int noffsets, sampler_is_type_fn is_type,
		     void *arg, struct sample_shape *out)
{
	uint64_t size_word, csz;
	int i;

	memset(out, 0, sizeof(*out));
	if (kind == LB_KIND_MMAP) {
		out->form = SAMPLE_MAPPING;
		return;
	}
	for (i = 0; i < noffsets; i++) {
		int o = offsets[i];
		uint64_t type;

		if ((uint64_t)o + 16 > size || o + 16 > SAMPLE_PEEK - SAMPLE_PEEK_BEFORE)
			continue;
		type = word_at(peek, o + 8);
		if (!type || !is_type || (word_at(peek, o) && !plausible_refcnt(word_at(peek, o))) ||
		    !is_type(arg, type))
			continue;
		/* a count of 0 with its type in place: a tuple, list or dict
		 * CPython keeps on a free list for its next one. With the
		 * new-reference probes a window moves such a block to each
		 * temporary that reuses it; kept, the last one's line would
		 * hold it, alive to malloc, for good */
		out->form = word_at(peek, o) ? SAMPLE_OBJECT : SAMPLE_DEAD_OBJECT;
		out->obj_offset = (uint8_t)o;
		out->ident = type;
		return;
	}
	size_word = word_at(peek, -8);
	csz = size_word & ~CHUNK_FLAGS;
	if (size_word & CHUNK_IS_MMAPPED) {
		/* a chunk of its own mapping: page-rounded, header included */
		if (csz >= size + 16 && csz <= size + 16 + 8192) {
			out->form = SAMPLE_CHUNK;
			out->ident = size_word;
		}
		return;
	}
	/* realloc may leave a chunk a little larger than asked for */
	if (csz >= glibc_chunk_size(size) && csz <= glibc_chunk_size(size) + 32) {
		out->form = SAMPLE_CHUNK;
		out->ident = size_word;
	}
}

uint64_t sample_next_word_addr(const struct sample_shape *sh, uint64_t addr)
{
	if (sh->form != SAMPLE_CHUNK || (sh->ident & CHUNK_IS_MMAPPED))
		return 0;
	/* next chunk = this chunk (addr - 16) + its size; its size word at +8 */
	return addr - 16 + (sh->ident & ~CHUNK_FLAGS) + 8;
}

static uint64_t content_fingerprint(const uint8_t *peek, uint64_t size)
{
	const uint8_t *p = peek + SAMPLE_PEEK_BEFORE;
	return fnv1a(LB_FNV_BASIS, p, size < 32 ? size : 32);
}

void sample_set_body(struct sample_shape *sh, uint64_t size, unsigned from0, unsigned len0,
		     unsigned from1, unsigned len1)
{
	unsigned room = SAMPLE_PEEK - SAMPLE_PEEK_BEFORE - sh->obj_offset;

	if (size < sh->obj_offset)
		room = 0;
	else if (size - sh->obj_offset < room)
		room = (unsigned)(size - sh->obj_offset);
	unsigned from[2] = { from0, from1 }, len[2] = { len0, len1 }, i;

	for (i = 0; i < 2; i++) {
		if (from[i] >= room)
			len[i] = 0;
		else if (from[i] + len[i] > room)
			len[i] = room - from[i];
		sh->body_from[i] = (uint8_t)(len[i] ? from[i] : 0);
		sh->body_len[i] = (uint8_t)len[i];
	}
}

static uint64_t body_fingerprint(const struct sample_shape *sh, const uint8_t *peek)
{
	const uint8_t *obj = peek + SAMPLE_PEEK_BEFORE + sh->obj_offset;
	uint64_t h = LB_FNV_BASIS;
	unsigned i;

	for (i = 0; i < 2; i++)
		h = fnv1a(h, obj + sh->body_from[i], sh->body_len[i]);
	return h;
}

bool sample_still_live(struct sample_shape *sh, const uint8_t *peek, uint64_t size,
		       uint64_t next_word, uint64_t tcache_key)
{
	uint64_t fp;

	if (!peek)
		return false;	/* unmapped: certainly freed */
	switch (sh->form) {
	case SAMPLE_OBJECT:
		/* freed: the count fell to 0 (it stays 0 behind a GC header)
		 * or malloc's free list pointers overwrote the header */
		if (!plausible_refcnt(word_at(peek, sh->obj_offset)) ||
		    word_at(peek, sh->obj_offset + 8) != sh->ident)
			return false;
		if (!sh->body_len[0] && !sh->body_len[1])
			return true;
		fp = body_fingerprint(sh, peek);
		if (sh->has_fingerprint)
			return fp == sh->fingerprint;	/* another value in its place */
		sh->fingerprint = fp;
		sh->has_fingerprint = true;
		return true;
	case SAMPLE_CHUNK:
		if (word_at(peek, -8) != sh->ident)
			return false;	/* merged, split or reused at another size */
		/* in the thread cache, which holds only chunks up to 1040 bytes:
		 * a larger block may carry a stale key in its garbage */
		if (tcache_key && word_at(peek, 8) == tcache_key &&
		    (sh->ident & ~CHUNK_FLAGS) <= GLIBC_TCACHE_MAX_CHUNK)
			return false;
		if (!(sh->ident & CHUNK_IS_MMAPPED) && !(next_word & CHUNK_PREV_INUSE))
			return false;	/* in a bin: the next chunk says so */
		fp = content_fingerprint(peek, size);
		if (sh->has_fingerprint)
			return fp == sh->fingerprint;	/* else: handed out again */
		sh->fingerprint = fp;
		sh->has_fingerprint = true;
		return true;
	default:
		return true;
	}
}

void key_learner_add(struct key_learner *k, uint64_t value)
{
	int i, weakest = 0;

	if (!value)
		return;
	for (i = 0; i < 8; i++) {
		if (k->value[i] == value) {
			k->count[i]++;
			return;
		}
		if (k->count[i] < k->count[weakest])
			weakest = i;
	}
	/* a bounded table: a newcomer replaces the least seen value */
	k->value[weakest] = value;
	k->count[weakest] = 1;
}

uint64_t key_learner_key(const struct key_learner *k)
{
	int i, best = 0;
	bool tie = false;

	for (i = 1; i < 8; i++) {
		if (k->count[i] > k->count[best]) {
			best = i;
			tie = false;
		} else if (k->count[i] == k->count[best]) {
			tie = true;
		}
	}
	return k->count[best] >= 3 && !tie ? k->value[best] : 0;
}

double governor_window_density(double spent, double opened_at, double closed_at,
			       double cpu_rate)
{
	double open_for = closed_at - opened_at;

	if (open_for <= 0 || cpu_rate <= 0)
		return 0;
	return spent / (open_for * cpu_rate);
}
