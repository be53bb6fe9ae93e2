// SPDX-License-Identifier: MIT
/*
 * Per-generation ranking of a pre-fork group. gunicorn's max_requests
 * recycles workers every few seconds, so no single worker lives long enough
 * for a trend, and the leak is never fixed. But every worker runs the same
 * code under the same load: what each one accumulated over its life, line by
 * line, is one observation per generation. A line at which every worker
 * grew, by about the same amount, is the leak.
 */
#include "median.h"
#include "diff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "u64map.h"

static int cmp_gen_row(const void *x, const void *y)
{
	const struct generation_row *a = x, *b = y;

	if (a->median != b->median)
		return a->median > b->median ? -1 : 1;
	if (a->workers != b->workers)
		return a->workers > b->workers ? -1 : 1;
	return a->max > b->max ? -1 : a->max < b->max;
}

static bool is_worker_of(const struct diff_process *p, pid_t group)
{
	return p->info.group == group && !strcmp(p->info.role, "worker");
}

/* Seconds the window saw p live: from its start (or the window's first
 * snapshot of it) to its end (or its last snapshot). */
static double life_seen(const struct diff_process *p, double t_from)
{
	double end = p->info.ended > 0 ? p->info.ended : p->to.t;
	double start = p->info.started >= t_from ? p->info.started : p->from.t;

	return end > start ? end - start : 0;
}

/* Every stack that grew in a worker of the group, with each worker's gain
 * there; then the per-line figures. */
static int rank_rows(const struct diff_result *d, pid_t group, struct diff_generation *g)
{
	struct u64map index = { 0 };		/* stack id -> row number + 1 */
	int64_t *gains = NULL;			/* nrows x workers, row-major */
	int64_t *column = malloc((g->workers + 1) * sizeof(*column));
	size_t cap = 0, w = 0, i, j;
	int err = 0;

	if (!column)
		return -ENOMEM;
	for (i = 0; i < d->nprocs && !err; i++) {
		const struct diff_process *p = &d->procs[i];

		if (!is_worker_of(p, group))
			continue;
		for (j = 0; j < p->nrows && !err; j++) {
			const struct diff_row *r = &p->rows[j];
			uintptr_t at;

			if (r->bytes_delta <= 0)
				continue;
			at = (uintptr_t)u64map_get(&index, (uint64_t)r->stack);
			if (!at) {
				if (g->nrows == cap) {
					size_t ncap = cap ? cap * 2 : 64;
					struct generation_row *v = realloc(g->rows, ncap * sizeof(*v));
					int64_t *gv = v ? realloc(gains, ncap * g->workers * sizeof(*gv)) : NULL;

					if (v)
						g->rows = v;
					if (!gv) {
						err = -ENOMEM;
						break;
					}
					gains = gv;
					memset(gains + cap * g->workers, 0,
					       (ncap - cap) * g->workers * sizeof(*gains));
					cap = ncap;
				}
				memset(&g->rows[g->nrows], 0, sizeof(g->rows[0]));
				g->rows[g->nrows].like = r;
				if (u64map_put(&index, (uint64_t)r->stack, (void *)(uintptr_t)(g->nrows + 1))) {
					err = -ENOMEM;
					break;
				}
				at = ++g->nrows;
			}
			gains[(at - 1) * g->workers + w] += r->bytes_delta;
		}
		w++;
	}
	for (i = 0; !err && i < g->nrows; i++) {
		struct generation_row *gr = &g->rows[i];

		for (j = 0; j < g->workers; j++) {
			column[j] = gains[i * g->workers + j];
			gr->workers += column[j] > 0;
			if (column[j] > gr->max)
				gr->max = column[j];
		}
		gr->median = median_i64(column, g->workers);
	}
	if (!err)
		qsort(g->rows, g->nrows, sizeof(*g->rows), cmp_gen_row);
	u64map_clear(&index, NULL);
	free(gains);
	free(column);
	return err;
}

static int one_group(const struct diff_result *d, pid_t group, struct diff_generation *g)
{
	int64_t *growth;
	size_t i, n = 0;
	int err;

	memset(g, 0, sizeof(*g));
	g->group = group;
	for (i = 0; i < d->nprocs; i++)
		g->workers += is_worker_of(&d->procs[i], group);
	growth = malloc((g->workers + 1) * sizeof(*growth));
	if (!growth)
		return -ENOMEM;
	g->life_min = -1;
	for (i = 0; i < d->nprocs; i++) {
		const struct diff_process *p = &d->procs[i];
		double life;

		if (!is_worker_of(p, group))
			continue;
		life = life_seen(p, d->t_from);
		g->ended += p->info.ended > 0 && p->info.ended >= d->t_from;
		g->started += p->info.started >= d->t_from;
		if (g->life_min < 0 || life < g->life_min)
			g->life_min = life;
		if (life > g->life_max)
			g->life_max = life;
		growth[n] = p->total_bytes_delta;
		if (growth[n] > g->growth_max)
			g->growth_max = growth[n];
		n++;
	}
	g->growth_median = median_i64(growth, n);
	free(growth);
	err = rank_rows(d, group, g);
	return err;
}

int diff_generations(struct diff_result *d)
{
	size_t i, j;
	int err;

	for (i = 0; i < d->nprocs; i++) {
		const struct diff_process *p = &d->procs[i];
		size_t workers = 0, turnover = 0;
		struct diff_generation *v;
		bool done = false;

		if (strcmp(p->info.role, "worker"))
			continue;
		for (j = 0; j < d->ngens; j++)
			done |= d->gens[j].group == p->info.group;
		if (done)
			continue;
		/* generations: workers that came or went inside the window */
		for (j = 0; j < d->nprocs; j++) {
			const struct diff_process *q = &d->procs[j];

			if (!is_worker_of(q, p->info.group))
				continue;
			workers++;
			turnover += (q->info.ended > 0 && q->info.ended >= d->t_from) ||
				    q->info.started >= d->t_from;
		}
		if (workers < 2 || !turnover)
			continue;
		v = realloc(d->gens, (d->ngens + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		d->gens = v;
		err = one_group(d, p->info.group, &d->gens[d->ngens]);
		d->ngens++;
		if (err)
			return err;
	}
	return 0;
}
