// SPDX-License-Identifier: MIT
#include "sampled.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"
#include "log.h"
#include "proc.h"
#include "report.h"
#include "symbolizer.h"
#include "tracer.h"
#include "pytarget.h"
#include "alloc_redirect.h"

/* A window slows the target to ~1% of its speed, so 40 ms cover ~0.4 ms
 * of its work. Shorter windows, more often, spread the samples better for
 * the same trap cost, but every window also costs the target a probe
 * install and removal (its libc text pages rewritten, TLBs flushed): with
 * 10 ms windows every ~2 s, gunicorn lost 2.3% where the traps accounted
 * for 0.8%; with 40 ms every ~5 s, nothing measurable beyond the traps. */
#define FIRST_WINDOW 0.04	/* seconds */
#define CHECK_INTERVAL 1.0	/* seconds between liveness checks */
/* A worker started on a sibling's schedule opens its first window within
 * this many seconds: one recycled by max_requests may live two */
#define SIBLING_FIRST_WINDOW_WITHIN 0.8

/* Where an object header may start in a block: after nothing, a GC header,
 * or a GC header behind a managed-dict pre-header (3.11+). */
static const uint8_t object_offsets[] = { 0, 16, 32 };

static int read_clock(struct sampled_target *s, uint64_t *v)
{
	return proc_read_mem(s->pid, s->sampled->clock_addr, v, sizeof(*v));
}

static int set_window_flag(struct sampled_target *s, bool open)
{
	struct lb_proc proc;
	int err = tracer_get_proc(s->tracer, s->pid, &proc);

	if (err)
		return err;
	proc.flags = open ? proc.flags | LB_PROC_WINDOW : proc.flags & ~LB_PROC_WINDOW;
	return tracer_set_proc(s->tracer, s->pid, &proc);
}

/* A type object: its own type is `type` or a metatype whose type is. */
static bool is_type(void *arg, uint64_t addr)
{
	struct sampled_target *s = arg;
	uintptr_t cached = (uintptr_t)u64map_get(&s->sampled->types, addr);
	uint64_t meta, metameta;
	bool yes;

	if (cached)
		return cached == 1;
	yes = !proc_read_mem(s->pid, addr + 8, &meta, sizeof(meta)) &&
	      (meta == s->py->type_type_addr ||
	       (!proc_read_mem(s->pid, meta + 8, &metameta, sizeof(metameta)) &&
		metameta == s->py->type_type_addr));
	u64map_put(&s->sampled->types, addr, (void *)(uintptr_t)(yes ? 1 : 2));
	return yes;
}

/* bytes, str, tuples and floats never change while they live (but for a
 * str's or bytes' cached hash):
 * their size and first bytes of contents tell a value from the next one
 * malloc puts at the same address. Layouts: PyBytesObject is the var header
 * (size at 16), the hash, then the bytes at 32; a str has its length at 16,
 * its state bits at 32 (compact: bit 5, ascii: bit 6) and its characters
 * right after the ASCII or compact header. */
static void mark_stable_body(const struct sampled_target *s, const uint8_t *peek, uint64_t size,
			     struct sample_shape *sh)
{
	const uint8_t *obj = peek + SAMPLE_PEEK_BEFORE + sh->obj_offset;
	uint32_t state;
	int data;

	if (sh->ident == s->py->bytes_type_addr) {
		sample_set_body(sh, size, 16, 8, 32, 255);
	} else if (sh->ident == s->py->tuple_type_addr) {
		/* size, then the item pointers: a tuple taken back from the
		 * free list by another line holds other items */
		sample_set_body(sh, size, 16, 8, 24, 255);
	} else if (sh->ident == s->py->float_type_addr) {
		sample_set_body(sh, size, 16, 8, 0, 0);	/* the value */
	} else if (sh->ident == s->py->unicode_type_addr &&
		   sh->obj_offset + 36 <= SAMPLE_PEEK - SAMPLE_PEEK_BEFORE) {
		memcpy(&state, obj + 32, sizeof(state));
		if (!(state & (1u << 5)))
			data = 0;	/* legacy string: characters elsewhere */
		else if (state & (1u << 6))
			data = s->py->off.unicode_ascii_data;
		else
			data = s->py->off.unicode_compact_data;
		sample_set_body(sh, size, 16, 8, (unsigned)(data > 0 ? data : 0), data > 0 ? 255 : 0);
	}
}

static int rebuild_index(struct sampled *sm)
{
	size_t i;
	int err;

	u64map_clear(&sm->index, NULL);
	for (i = 0; i < sm->n; i++) {
		err = u64map_put(&sm->index, sm->v[i].addr, (void *)(uintptr_t)(i + 1));
		if (err)
			return err;
	}
	return 0;
}

struct take_ctx {
	struct sample *fresh;
	size_t n, cap;
};

static int take_one(void *ctx, uint64_t addr, const struct lb_alloc *a)
{
	struct take_ctx *c = ctx;
	struct sample *v;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 1024;
		v = realloc(c->fresh, c->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->fresh = v;
	}
	c->fresh[c->n++] = (struct sample){
		.addr = addr, .size = a->size, .stack_key = a->stack_key,
		.shape.form = a->kind,	/* kind for now; shaped below */
	};
	return 0;
}

/* Reads what each new sample looks like and adds it; a sample at an address
 * we already hold means the old one was freed unseen and the block reused. */
static int adopt(struct sampled_target *s, struct take_ctx *c)
{
	struct sampled *sm = s->sampled;
	double taken_at = sm->last.closed_at;	/* its window's close: the span's end */
	uint64_t *addrs = malloc((c->n ? c->n : 1) * sizeof(*addrs));
	uint8_t *peek = malloc((c->n ? c->n : 1) * SAMPLE_PEEK);
	bool *ok = malloc((c->n ? c->n : 1) * sizeof(*ok));
	size_t i;
	int err = -ENOMEM;

	if (!addrs || !peek || !ok)
		goto out;
	for (i = 0; i < c->n; i++)
		addrs[i] = c->fresh[i].addr - SAMPLE_PEEK_BEFORE;
	err = proc_read_ranges(s->pid, addrs, c->n, SAMPLE_PEEK, peek, ok);
	if (err)
		goto out;
	if (sm->n + c->n > sm->cap) {
		size_t cap = (sm->n + c->n) * 2;
		struct sample *v = realloc(sm->v, cap * sizeof(*v));

		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		sm->v = v;
		sm->cap = cap;
	}
	for (i = 0; i < c->n; i++) {
		struct sample *smp = &c->fresh[i];
		uintptr_t at;

		if (!ok[i])
			continue;	/* gone already */
		if (smp->shape.form == LB_KIND_MMAP) {
			/* pymalloc's arenas and thread stacks: one sample would
			 * stand for thousands of megabyte mappings */
			sm->mappings_skipped++;
			continue;
		}
		sample_shape_of(peek + i * SAMPLE_PEEK, smp->size, smp->shape.form, object_offsets,
				sizeof(object_offsets), is_type, s, &smp->shape);

		smp->taken_at = taken_at;
		if (smp->shape.form == SAMPLE_DEAD_OBJECT)
			continue;	/* freed to a free list inside the window */
		if (smp->shape.form == SAMPLE_UNKNOWN)
			sm->unknown_form++;
		if (smp->shape.form == SAMPLE_OBJECT) {
			mark_stable_body(s, peek + i * SAMPLE_PEEK, smp->size, &smp->shape);
			/* fingerprint the value now, read right after its window:
			 * by the first check a cache may have replaced it, and
			 * the successor's contents would be taken for its own */
			if (smp->shape.body_len[0] || smp->shape.body_len[1])
				sample_still_live(&smp->shape, peek + i * SAMPLE_PEEK, smp->size, 0, 0);
		}

		at = (uintptr_t)u64map_get(&sm->index, smp->addr);
		if (at) {
			sm->v[at - 1] = *smp;
			sm->replaced++;
			continue;
		}
		if (sm->n >= SAMPLED_MAX_SAMPLES) {
			sm->dropped++;
			continue;
		}
		sm->v[sm->n] = *smp;
		err = u64map_put(&sm->index, smp->addr, (void *)(uintptr_t)(sm->n + 1));
		if (err)
			goto out;
		sm->n++;
		sm->taken++;
	}
	err = 0;
	if (log_get_level() >= LOG_DEBUG) {
		size_t forms[5] = { 0 };

		for (i = 0; i < c->n; i++)
			if (ok[i] && c->fresh[i].shape.form < 5)
				forms[c->fresh[i].shape.form]++;
		pr_debug("process %d: window took %zu samples: %zu objects, %zu chunks, %zu mappings, %zu unknown, %zu dead on a free list, %zu gone",
			 s->pid, c->n, forms[SAMPLE_OBJECT], forms[SAMPLE_CHUNK], forms[SAMPLE_MAPPING],
			 forms[SAMPLE_UNKNOWN], forms[SAMPLE_DEAD_OBJECT],
			 c->n - forms[0] - forms[1] - forms[2] - forms[3] - forms[4]);
	}
out:
	free(addrs);
	free(peek);
	free(ok);
	return err;
}

/* Which samples are still live; the freed ones go. */
static int check_samples(struct sampled_target *s)
{
	struct sampled *sm = s->sampled;
	size_t n = sm->n, i, kept = 0, nnext = 0;
	uint64_t *addrs = malloc((n ? n : 1) * sizeof(*addrs));
	uint64_t *next_addrs = malloc((n ? n : 1) * sizeof(*next_addrs));
	uint64_t *next_words = calloc(n ? n : 1, sizeof(*next_words));
	size_t *next_of = malloc((n ? n : 1) * sizeof(*next_of));
	uint8_t *peek = malloc((n ? n : 1) * SAMPLE_PEEK);
	bool *ok = malloc((n ? n : 1) * sizeof(*ok)), *next_ok = malloc((n ? n : 1) * sizeof(*ok));
	uint64_t key;
	int err = -ENOMEM;

	if (!addrs || !next_addrs || !next_words || !next_of || !peek || !ok || !next_ok)
		goto out;
	for (i = 0; i < n; i++) {
		uint64_t w = sample_next_word_addr(&sm->v[i].shape, sm->v[i].addr);

		addrs[i] = sm->v[i].addr - SAMPLE_PEEK_BEFORE;
		if (w) {
			next_of[nnext] = i;
			next_addrs[nnext++] = w;
		}
	}
	err = proc_read_ranges(s->pid, addrs, n, SAMPLE_PEEK, peek, ok);
	if (!err)
		err = proc_read_ranges(s->pid, next_addrs, nnext, sizeof(uint64_t),
				       (uint8_t *)next_words, next_ok);
	if (err)
		goto out;
	/* next words back in sample order */
	for (i = nnext; i-- > 0;) {
		uint64_t w = next_ok[i] ? next_words[i] : 0;

		next_words[i] = 0;
		next_words[next_of[i]] = w;
	}
	key = key_learner_key(&sm->keys);
	for (i = 0; i < n; i++) {
		const uint8_t *p = ok[i] ? peek + i * SAMPLE_PEEK : NULL;

		if (sample_still_live(&sm->v[i].shape, p, sm->v[i].size, next_words[i], key)) {
			sm->v[kept++] = sm->v[i];
			continue;
		}
		/* a freed object's second word is malloc's now: in the thread
		 * cache, glibc's key */
		if (p && sm->v[i].shape.form == SAMPLE_OBJECT) {
			uint64_t w;

			memcpy(&w, p + SAMPLE_PEEK_BEFORE + 8, sizeof(w));
			key_learner_add(&sm->keys, w);
		}
		sm->freed_later++;
	}
	sm->n = kept;
	err = rebuild_index(sm);
out:
	free(addrs);
	free(next_addrs);
	free(next_words);
	free(next_of);
	free(peek);
	free(ok);
	free(next_ok);
	return err;
}

/* Blocks freed inside the window that sit in glibc's thread cache hold its
 * key at +8: the value most of them share. */
static void learn_key_from_recent_frees(struct sampled_target *s)
{
	uint64_t addrs[LB_RECENT_FREES];
	uint64_t words[LB_RECENT_FREES];
	bool ok[LB_RECENT_FREES];
	int i, n = tracer_recent_frees(s->tracer, s->pid, addrs, LB_RECENT_FREES);

	for (i = 0; i < n; i++)
		addrs[i] += 8;
	if (n <= 0 || proc_read_ranges(s->pid, addrs, (size_t)n, sizeof(uint64_t), (uint8_t *)words, ok))
		return;
	for (i = 0; i < n; i++)
		if (ok[i])
			key_learner_add(&s->sampled->keys, words[i]);
}

static int open_window(struct sampled_target *s)
{
	struct sampled *sm = s->sampled;
	int err;

	if (!tracer_libc_attached(s->tracer, s->pid)) {
		char why[300];

		err = tracer_attach_libc(s->tracer, s->pid, why, sizeof(why));
		if (err) {
			pr_warn("process %d: window skipped: %s", s->pid, why);
			return err;
		}
	}
	if (s->redirect->state == REDIRECT_ON) {
		err = alloc_redirect_arm(s->redirect);
		if (err)
			pr_warn("process %d: allocator redirect not armed (%s): this window sees native allocations only",
				s->pid, strerror(-err));
	}
	err = read_clock(s, &sm->clock_opened);
	if (!err)
		err = set_window_flag(s, true);
	if (err) {
		alloc_redirect_disarm(s->redirect);
		return err;
	}
	sm->window_open = true;
	sm->opened_at = monotonic_seconds();
	pr_debug("process %d: window open for %.0f ms", s->pid, sm->sched.window * 1e3);
	return 0;
}

static int drop_one(void *ctx, uint64_t addr, const struct lb_alloc *a)
{
	(void)ctx;
	(void)addr;
	(void)a;
	return 0;
}

/* The process ended inside a window: what the window caught can no longer
 * be read to tell alive from freed, and its work clock is gone with it.
 * The window is undone (probes out, its blocks dropped) and counts for
 * nothing; the samples of earlier windows, as last checked, are its final
 * state. */
static int abandon_window(struct sampled_target *s)
{
	struct sampled *sm = s->sampled;

	alloc_redirect_disarm(s->redirect);
	tracer_detach_libc(s->tracer, s->pid);
	tracer_clear_pending(s->tracer, s->pid);
	sm->window_open = false;
	return tracer_take_allocs(s->tracer, s->pid, drop_one, NULL);
}

static int close_window(struct sampled_target *s)
{
	struct sampled *sm = s->sampled;
	struct take_ctx c = { 0 };
	struct cost_sample now_cost;
	uint64_t clock_now = sm->clock_opened;
	int err;

	double closed_at;

	/* flag first: from here on nothing new is sampled */
	err = set_window_flag(s, false);
	closed_at = monotonic_seconds();
	if (s->exited)
		return abandon_window(s);
	if (read_clock(s, &clock_now)) {
		if (!proc_is_running(s->pid))
			return abandon_window(s);	/* ended; the exit event is on its way */
		clock_now = sm->clock_opened;
	}
	if (clock_now < sm->clock_opened)
		clock_now = sm->clock_opened;
	/* this window's samples stand for the work since the last window
	 * closed: that over the work inside this window */
	if (clock_now == sm->clock_opened)
		sm->empty_windows++;	/* idle, or no dict touched: see sampled_collect */
	sm->before_last = sm->last;
	sm->last.wall_in_windows += closed_at - sm->opened_at;
	sm->last.work_in_windows += clock_now - sm->clock_opened;
	sm->last.clock_closed = clock_now;
	sm->last.closed_at = closed_at;
	alloc_redirect_disarm(s->redirect);
	tracer_detach_libc(s->tracer, s->pid);
	tracer_clear_pending(s->tracer, s->pid);
	sm->window_open = false;
	sm->windows++;
	if (!key_learner_key(&sm->keys))
		learn_key_from_recent_frees(s);
	if (!err)
		err = tracer_take_allocs(s->tracer, s->pid, take_one, &c);
	if (!err)
		err = adopt(s, &c);
	free(c.fresh);
	/* the governor: what the window cost (probes hit only inside it),
	 * spread over the period, against the target's CPU time */
	if (s->cost_ready && !s->read_cost(s->cost_ctx, &now_cost)) {
		double hits = (double)(now_cost.hits - sm->period_cost.hits);
		double spent = (hits * s->trap_ns + (double)(now_cost.bpf_ns - sm->period_cost.bpf_ns)) / 1e9;
		double wall = now_cost.time - sm->period_cost.time;
		double cpu = (double)(now_cost.target_ticks - sm->period_cost.target_ticks) /
			     (double)sysconf(_SC_CLK_TCK);
		/* share of a CPU the target uses; a mostly idle one is
		 * budgeted against one CPU, or the budget would be nothing */
		double rate = wall > 0 && cpu > 0 ? cpu / wall : 1;

		if (rate < 0.1)
			rate = 1;
		double old_period = sm->sched.period, old_window = sm->sched.window;

		sm->overhead = spent / (sm->sched.period * rate);
		/* a window that caught no allocation (the target in a long C
		 * call, a collection, I/O) measured nothing of what windows
		 * cost: taking its zero for cheap would halve the period and
		 * the next busy window would cost twice the budget */
		if (hits > 0) {
			/* the share of the target's CPU a window takes while
			 * open, averaged with the windows before: one window
			 * that fell in a quiet stretch moves the schedule
			 * half as far as it would alone */
			double density = governor_window_density(spent, sm->opened_at, closed_at,
								 rate);

			sm->window_density = sm->window_density > 0 ?
					     (sm->window_density + density) / 2 : density;
			governor_adjust(&sm->sched, sm->window_density * old_window / old_period,
					sm->budget);
			sm->expected = sm->window_density * sm->sched.window / sm->sched.period;
		}
		sm->period_cost = now_cost;
	}
	schedule_next(&sm->sched, monotonic_seconds());
	pr_debug("process %d: window %llu closed: %zu samples live (%llu taken, %llu retired by reuse), overhead %.3f%%, next window %.0f ms every %.1f s",
		 s->pid, (unsigned long long)sm->windows, sm->n, (unsigned long long)sm->taken,
		 (unsigned long long)sm->replaced, sm->overhead * 100,
		 sm->sched.window * 1e3, sm->sched.period);
	return err;
}

int sampled_start(struct sampled_target *s, double budget, uint64_t seed, char *why,
		  size_t why_len)
{
	struct sampled *sm = s->sampled;
	double now = monotonic_seconds();
	int err;

	memset(sm, 0, sizeof(*sm));
	sm->budget = budget;
	sm->overhead = -1;
	sm->expected = -1;
	err = py_target_work_clock_addr(s->py, &sm->clock_addr);
	if (!err)
		err = read_clock(s, &sm->clock_start);
	sm->last = (struct sampled_span_end){ .closed_at = now, .clock_closed = sm->clock_start };
	sm->before_last = sm->last;
	sm->started_at = now;
	if (err) {
		snprintf(why, why_len,
			 "process %d: no Python work clock to weight samples with (%s)", s->pid,
			 strerror(-err));
		return err;
	}
	if (!s->py->type_type_addr) {
		snprintf(why, why_len, "process %d: PyType_Type not found", s->pid);
		return -ENOENT;
	}
	/* a first guess the governor corrects after one period: a window
	 * costs at most its own length of the target's time */
	schedule_init(&sm->sched, now, FIRST_WINDOW,
		      FIRST_WINDOW / (budget * GOVERNOR_HEADROOM), seed);
	if (sm->sched.period < GOVERNOR_MIN_PERIOD)
		sm->sched.period = GOVERNOR_MIN_PERIOD;
	if (sm->sched.period > GOVERNOR_MAX_PERIOD)
		sm->sched.period = GOVERNOR_MAX_PERIOD;
	sm->next_check = now + CHECK_INTERVAL;
	if (s->cost_ready)
		s->read_cost(s->cost_ctx, &sm->period_cost);
	sm->on = true;
	/* the probes session_attach put in (to be sure they can go in) come
	 * out: the first window falls at a random moment of the first period,
	 * like every other, and until then the target runs untouched */
	tracer_detach_libc(s->tracer, s->pid);
	tracer_clear_pending(s->tracer, s->pid);
	return 0;
}

bool sampled_take_schedule(struct sampled *sm, const struct sampled *like)
{
	if (!sm->on || !like->on || like->window_density <= 0 || like->budget != sm->budget)
		return false;
	schedule_init(&sm->sched, monotonic_seconds(), like->sched.window, like->sched.period,
		      sm->sched.rng);
	schedule_first_within(&sm->sched, monotonic_seconds(), SIBLING_FIRST_WINDOW_WITHIN);
	sm->window_density = like->window_density;
	sm->expected = like->expected;
	return true;
}

int sampled_tick(struct sampled_target *s)
{
	struct sampled *sm = s->sampled;
	double now = monotonic_seconds(), wait;
	int err;

	if (!sm->on || s->exited)
		return 200;
	if (sm->window_open && now >= sm->opened_at + sm->sched.window) {
		err = close_window(s);
		if (err)
			pr_warn("process %d: closing a window: %s", s->pid, strerror(-err));
	} else if (!sm->window_open && now >= sm->sched.next_open) {
		if (open_window(s)) {
			sm->window_failures++;
			schedule_next(&sm->sched, now);
		}
	}
	if (!sm->window_open && now >= sm->next_check) {
		uint64_t clock;

		err = check_samples(s);
		if (err)
			pr_warn("process %d: checking samples: %s", s->pid, strerror(-err));
		/* the work done so far: all a final estimate has once the
		 * process has ended between two windows */
		if (!read_clock(s, &clock) && clock >= sm->last.clock_closed) {
			sm->clock_checked = clock;
			sm->clock_checked_at = monotonic_seconds();
		}
		sm->next_check = monotonic_seconds() + CHECK_INTERVAL;
	}
	now = monotonic_seconds();
	wait = sm->window_open ? sm->opened_at + sm->sched.window - now : sm->sched.next_open - now;
	if (!sm->window_open && sm->next_check - now < wait)
		wait = sm->next_check - now;
	return wait <= 0 ? 0 : wait > 0.2 ? 200 : (int)(wait * 1000) + 1;
}

void sampled_settle(struct sampled_target *s)
{
	struct sampled *sm = s->sampled;

	if (!sm->on)
		return;
	if (sm->window_open)
		close_window(s);
	if (!s->exited)
		check_samples(s);
}

struct row_sum {
	double bytes, count;
};

int sampled_collect(struct sampled_target *s, struct report *r)
{
	struct sampled *sm = s->sampled;
	struct u64map rows = { 0 };
	double now = monotonic_seconds();
	bool young_window = now - sm->last.closed_at < SAMPLE_MIN_AGE;
	const struct sampled_span_end *end = young_window ? &sm->before_last : &sm->last;
	uint64_t clock_end = end->clock_closed;
	double as_of = end->closed_at;
	double scale;

	/* A live process's estimate stands for the work up to its last
	 * window: after it, what was allocated is not seen yet. An ended one
	 * will have no more windows: its samples stand for all the work it
	 * did up to the last reading before its end (a worker recycled after
	 * 4 s, its one window at 0.5 s, was estimated at a tenth of its leak) */
	if (s->exited && !young_window && sm->clock_checked > clock_end) {
		clock_end = sm->clock_checked;
		as_of = sm->clock_checked_at;
	}
	scale = sampler_scale(clock_end - sm->clock_start, end->work_in_windows);
	bool by_wall = false;
	uint64_t capped = 0, young = 0;
	size_t i;
	int err = 0;

	if (scale <= 0 && end->wall_in_windows > 0) {
		/* a program that touches no dict (a C loop behind one call, a
		 * pure list/tuple loop): wall time is all there is. The windows
		 * slowed it, so this underestimates, alike for every line: the
		 * ranking holds, the sizes do not */
		scale = (end->closed_at - sm->started_at) / end->wall_in_windows;
		by_wall = true;
	}
	for (i = 0; i < sm->n && !err; i++) {
		double weight = sampler_capped_weight(scale, sm->v[i].size);
		struct row_sum *sum;

		if (sm->v[i].taken_at > end->closed_at) {
			young++;
			continue;
		}
		sum = u64map_get(&rows, sm->v[i].stack_key);

		if (!sum) {
			sum = calloc(1, sizeof(*sum));
			if (!sum || u64map_put(&rows, sm->v[i].stack_key, sum)) {
				free(sum);
				err = -ENOMEM;
				break;
			}
		}
		capped += weight < scale;
		sum->bytes += (double)sm->v[i].size * weight;
		sum->count += weight;
	}
	for (i = 0; i < rows.cap && !err; i++) {
		struct row_sum *sum = rows.slots[i].value;
		const struct resolved_stack *st;

		if (!rows.slots[i].key || !sum)
			continue;
		st = symbolizer_stack(s->sym, rows.slots[i].key);
		if (!st) {
			err = -ENOMEM;
			break;
		}
		err = report_add(r, st, llround(sum->bytes), llround(sum->count));
	}
	u64map_clear(&rows, free);
	r->sampling = (struct sampling_summary){
		.on = true, .scale = scale, .window_ms = sm->sched.window * 1e3,
		.period_s = sm->sched.period, .budget = sm->budget, .overhead = sm->overhead,
		.expected = sm->expected,
		.windows = sm->windows, .live_samples = sm->n, .freed_after_window = sm->freed_later,
		.unknown_form = sm->unknown_form, .window_failures = sm->window_failures,
		.empty_windows = sm->empty_windows, .mappings_skipped = sm->mappings_skipped,
		.capped = capped, .by_wall_time = by_wall, .dropped = sm->dropped, .young = young,
		.tcache_key_known = key_learner_key(&sm->keys) != 0,
		.from_monotonic = sm->started_at, .as_of_monotonic = as_of,
	};
	return err;
}

void sampled_free(struct sampled *sm)
{
	free(sm->v);
	sm->v = NULL;
	sm->n = sm->cap = 0;
	u64map_clear(&sm->index, NULL);
	u64map_clear(&sm->types, NULL);
}
