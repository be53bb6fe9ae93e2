// SPDX-License-Identifier: MIT
#include "diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_text.h"
#include "u64map.h"

#define MAX_FRAMES 80

struct collect_procs {
	const struct diff_query *q;
	struct diff_process *v;
	size_t n, cap;
	bool want_all;
};

static int add_process(void *ctx, const struct store_proc_info *p)
{
	struct collect_procs *c = ctx;

	if (c->q->pid && p->pid != c->q->pid && p->group != c->q->pid)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct diff_process *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	c->v[c->n++].info = *p;
	return 0;
}

/* Rows of both ends, matched by stack id. */
struct collect_rows {
	struct diff_process *p;
	struct u64map index;		/* stack id -> row number + 1 */
	size_t cap;
	bool at_end;
};

static int add_row(void *ctx, int64_t stack, const char *text, int64_t bytes, int64_t count)
{
	struct collect_rows *c = ctx;
	struct diff_process *p = c->p;
	uintptr_t at = (uintptr_t)u64map_get(&c->index, (uint64_t)stack);
	struct diff_row *r;

	if (!at) {
		if (p->nrows == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct diff_row *v = realloc(p->rows, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			p->rows = v;
			c->cap = cap;
		}
		r = &p->rows[p->nrows];
		memset(r, 0, sizeof(*r));
		r->stack = stack;
		r->text = strdup(text ? text : "");
		if (!r->text || u64map_put(&c->index, (uint64_t)stack, (void *)(uintptr_t)(p->nrows + 1))) {
			free(r->text);
			return -ENOMEM;
		}
		p->nrows++;
	} else {
		r = &p->rows[at - 1];
	}
	if (c->at_end) {
		r->bytes = bytes;
		r->count = count;
		r->bytes_delta += bytes;
		r->count_delta += count;
	} else {
		r->bytes_delta -= bytes;
		r->count_delta -= count;
	}
	return 0;
}

static int cmp_growth(const void *x, const void *y)
{
	const struct diff_row *a = x, *b = y;

	if (a->bytes_delta != b->bytes_delta)
		return a->bytes_delta > b->bytes_delta ? -1 : 1;
	return a->bytes > b->bytes ? -1 : a->bytes < b->bytes;
}

struct series {
	double *t, *bytes;
	double *mass;		/* bytes over the snapshot's sampled weight */
	bool weighed;		/* every point has its weight (or is 0) */
	size_t n, cap;
};

static void add_point(void *ctx, double t, int64_t bytes, int64_t count, double scale)
{
	struct series *s = ctx;

	(void)count;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double *t2 = realloc(s->t, cap * sizeof(double));
		double *b2 = t2 ? realloc(s->bytes, cap * sizeof(double)) : NULL;
		double *m2 = b2 ? realloc(s->mass, cap * sizeof(double)) : NULL;

		if (t2)
			s->t = t2;
		if (b2)
			s->bytes = b2;
		if (!m2)
			return;		/* the series is shorter: fewer points judged */
		s->mass = m2;
		s->cap = cap;
	}
	if (!s->n)
		s->weighed = true;
	if (bytes && !(scale > 0))
		s->weighed = false;
	s->t[s->n] = t;
	s->mass[s->n] = bytes ? (double)bytes / (scale > 0 ? scale : 1) : 0;
	s->bytes[s->n++] = (double)bytes;
}

static void free_series(struct series *s)
{
	free(s->t);
	free(s->bytes);
	free(s->mass);
}

/* The verdict of a row from its series between the two ends; a process
 * that started inside the window starts from zero at its start. */
static int judge(struct store *st, struct diff_process *p, struct diff_row *r)
{
	struct series s = { 0 };
	bool sampled = !strcmp(p->info.mode, "sampled");
	size_t skip;
	int n;

	if (p->from_zero)
		add_point(&s, p->from.t, 0, 0, 0);
	n = store_stack_series(st, p->info.id, r->stack, p->from.t, p->to.t, add_point, &s);
	if (n < 0) {
		free_series(&s);
		return n;
	}
	/* sampled: a stack is absent until a window first catches it, which
	 * says nothing of its size before; its series starts there (a leak
	 * keeps climbing after it, a transient does not) */
	skip = 0;
	if (sampled)
		while (skip < s.n && s.bytes[skip] == 0)
			skip++;
	/* A sampled estimate is its samples times one weight for the whole
	 * process, and the weight moves at every window (work in windows over
	 * all work): a window that measured much work drops every row at
	 * once (a leak's estimate fell from 1171 to 527 KiB in CI and was
	 * called warm-up). The samples themselves, the estimate over its
	 * weight, climb at every window for a leak and stop for a warm-up:
	 * judged on them when every snapshot kept its weight. */
	r->verdict = verdict_of(s.t + skip, sampled && s.weighed ? s.mass + skip : s.bytes + skip,
				s.n - skip);
	r->judged = true;
	free_series(&s);
	return 0;
}

static int count_snapshots(struct store *st, struct diff_process *p)
{
	struct series s = { 0 };
	int n = store_stack_series(st, p->info.id, -1, p->from.t, p->to.t, add_point, &s);

	free_series(&s);
	return n;
}

/*
 * A sampled estimate is checked against what the process really gained. An
 * object freed and replaced at the same address by one of the same shape
 * looks alive from outside, and one such row once claimed +9.6 MiB over a
 * minute in which the worker's USS grew 148 KiB. A row may claim up to
 * MEMCHECK_FACTOR times the process's private growth plus MEMCHECK_SLACK:
 * a real leak can fill holes in pymalloc's arenas and glibc's bins before
 * it takes new pages, so growth below the slack proves nothing. Above it,
 * the row is marked; if the process itself grew less than the slack, a
 * "growing steadily" verdict becomes "unconfirmed" too. Full mode sees
 * every free and is exact: not checked.
 */
#define MEMCHECK_FACTOR 4
#define MEMCHECK_SLACK (1 << 20)

static void check_against_memory(struct diff_process *p)
{
	const struct proc_mem *to = &p->to.mem, *from = &p->mem_from.mem;
	int64_t uss, anon;
	size_t i;

	if (strcmp(p->info.mode, "sampled") || !to->uss || (!p->have_mem_from && !p->from_zero))
		return;
	uss = (int64_t)to->uss - (p->have_mem_from ? (int64_t)from->uss : 0);
	anon = (int64_t)to->anon - (p->have_mem_from ? (int64_t)from->anon : 0);
	p->memory_checked = true;
	p->memory_growth = uss > anon ? uss : anon;
	p->growth_limit = MEMCHECK_FACTOR * (p->memory_growth > 0 ? p->memory_growth : 0) +
			  MEMCHECK_SLACK;
	for (i = 0; i < p->nrows; i++) {
		struct diff_row *r = &p->rows[i];

		if (r->bytes_delta <= p->growth_limit)
			continue;
		r->unconfirmed = true;
		p->unconfirmed++;
		/* the process did not grow: the trend is not there either. One
		 * that grew, less than claimed, has a real trend and a size
		 * inflated by a large block's sample (capped at 16 MiB): the
		 * size is marked, the verdict stays */
		if (r->judged && r->verdict == VERDICT_GROWING && p->memory_growth < MEMCHECK_SLACK)
			r->verdict = VERDICT_UNCONFIRMED;
	}
}

static int compare_process(struct store *st, const struct diff_query *q, double t_from,
			   struct diff_process *p)
{
	struct collect_rows c = { .p = p };
	size_t i;
	int err;

	err = store_snapshot_near(st, p->info.id, q->now, 0, q->now, -1, &p->to);
	if (err)
		return err;
	/* started inside the window: everything it holds grew in it; traced
	 * from inside it (the agent restarted, or came late): everything it
	 * holds was seen in it. Snapshots of an earlier attachment count from
	 * another start and are left out. */
	p->from_zero = p->info.started > t_from || p->to.attached > t_from;
	if (!p->from_zero) {
		err = store_snapshot_near(st, p->info.id, t_from, 0, p->to.t, p->to.attached,
					  &p->from);
		if (err)
			return err;
		c.at_end = false;
		err = store_rows(st, p->from.id, add_row, &c);
		if (err < 0)
			goto out;
	} else {
		p->from.t = p->info.started > p->to.attached ? p->info.started : p->to.attached;
	}
	p->have_mem_from = !store_snapshot_near(st, p->info.id, t_from, t_from, p->to.t, -1,
						&p->mem_from) && p->mem_from.id != p->to.id;
	c.at_end = true;
	err = store_rows(st, p->to.id, add_row, &c);
	if (err < 0)
		goto out;
	err = 0;
	qsort(p->rows, p->nrows, sizeof(*p->rows), cmp_growth);
	for (i = 0; i < p->nrows; i++) {
		struct diff_row *r = &p->rows[i];
		struct export_frame frames[MAX_FRAMES];
		size_t n = stack_text_parse(r->text, frames, MAX_FRAMES);

		/* the "0\t...\t(why)" marker line of a cut stack */
		if (n && stack_text_is_cut_marker(&frames[n - 1])) {
			r->cut = true;
			n--;
		}
		r->frames = malloc((n ? n : 1) * sizeof(*frames));
		if (!r->frames) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(r->frames, frames, n * sizeof(*frames));
		r->nframes = n;
		p->total_bytes += r->bytes;
		p->total_count += r->count;
		p->total_bytes_delta += r->bytes_delta;
		p->total_count_delta += r->count_delta;
		if (!q->judge || i < q->judge) {
			err = judge(st, p, r);
			if (err)
				goto out;
		}
	}
	check_against_memory(p);
	err = count_snapshots(st, p);
	if (err >= 0) {
		p->snapshots = err;
		err = 0;
	}
out:
	u64map_clear(&c.index, NULL);
	return err;
}

int diff_compute(struct store *st, const struct diff_query *q, struct diff_result *out)
{
	struct collect_procs c = { .q = q };
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	out->window = q->window;
	out->t_to = q->now;
	out->t_from = q->now - q->window;
	err = store_processes(st, out->t_from, out->t_to, add_process, &c);
	out->procs = c.v;
	out->nprocs = c.n;
	if (err < 0)
		return err;
	for (i = 0; i < out->nprocs; i++) {
		err = compare_process(st, q, out->t_from, &out->procs[i]);
		if (err)
			return err;
	}
	if (store_get_counters(st, out->t_to, out->counters, sizeof(out->counters)))
		out->counters[0] = '\0';
	return diff_generations(out);
}

void diff_free(struct diff_result *r)
{
	size_t i, j;

	for (i = 0; i < r->nprocs; i++) {
		for (j = 0; j < r->procs[i].nrows; j++) {
			free(r->procs[i].rows[j].text);
			free(r->procs[i].rows[j].frames);
		}
		free(r->procs[i].rows);
	}
	for (i = 0; i < r->ngens; i++)
		free(r->gens[i].rows);
	free(r->gens);
	free(r->procs);
	memset(r, 0, sizeof(*r));
}
