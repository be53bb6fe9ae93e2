/* SPDX-License-Identifier: MIT */
/*
 * The per-generation ranking of a recycled group (src/history/diff_generations.c):
 * five workers of one master, each living seconds. The leak line grew in
 * every worker by ~100 KiB; a one-off line by a lot in one worker only; a
 * line present in most. A group without turnover gets no ranking.
 */
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "testing.h"

#define NW 5

static struct diff_row rows[NW][3];

static void worker(struct diff_process *p, pid_t pid, double started, double ended,
		   int64_t leak, int64_t oneoff, int64_t most)
{
	struct diff_row *r = rows[pid - 100];
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	p->info.pid = pid;
	p->info.group = 1;
	p->info.started = started;
	p->info.ended = ended;
	snprintf(p->info.role, sizeof(p->info.role), "worker");
	p->from.t = started;
	p->to.t = ended;
	p->from_zero = true;
	if (leak)
		r[n++] = (struct diff_row){ .stack = 7, .bytes_delta = leak };
	if (oneoff)
		r[n++] = (struct diff_row){ .stack = 8, .bytes_delta = oneoff };
	if (most)
		r[n++] = (struct diff_row){ .stack = 9, .bytes_delta = most };
	p->rows = r;
	p->nrows = n;
	p->total_bytes_delta = leak + oneoff + most;
}

int main(void)
{
	struct diff_process procs[NW + 1];
	struct diff_result d = { .procs = procs, .nprocs = NW + 1, .t_from = 1000, .t_to = 1060 };
	const struct diff_generation *g;

	memset(&procs[0], 0, sizeof(procs[0]));
	procs[0].info.pid = 1;
	procs[0].info.group = 1;
	snprintf(procs[0].info.role, sizeof(procs[0].info.role), "master");
	worker(&procs[1], 100, 1001, 1005, 100000, 0, 2000);
	worker(&procs[2], 101, 1005, 1009, 110000, 0, 3000);
	worker(&procs[3], 102, 1009, 1012, 90000, 900000, 0);
	worker(&procs[4], 103, 1012, 1016, 105000, 0, 2500);
	worker(&procs[5], 104, 1016, 0, 95000, 0, 2600);
	procs[5].to.t = 1020;
	CHECK(!diff_generations(&d), "computed");
	CHECK(d.ngens == 1, "one recycled group (%zu)", d.ngens);
	if (d.ngens != 1)
		return tests_summary();
	g = &d.gens[0];
	CHECK(g->group == 1 && g->workers == NW && g->ended == 4 && g->started == NW,
	      "5 workers, 4 ended, all started in the window (%zu %zu %zu)", g->workers, g->ended,
	      g->started);
	CHECK(g->life_min == 3 && g->life_max == 4, "lived 3-4 s (%.1f-%.1f)", g->life_min, g->life_max);
	CHECK(g->nrows == 3, "three lines (%zu)", g->nrows);
	CHECK(g->rows[0].like->stack == 7 && g->rows[0].median == 100000 &&
	      g->rows[0].max == 110000 && g->rows[0].workers == NW,
	      "the leak first: median 100000, max 110000, every worker (%lld %lld %lld %zu)",
	      (long long)g->rows[0].like->stack, (long long)g->rows[0].median,
	      (long long)g->rows[0].max, g->rows[0].workers);
	CHECK(g->rows[1].like->stack == 9 && g->rows[1].workers == 4 && g->rows[1].median == 2500,
	      "then the line in 4 of 5 (median counts the worker without it as 0)");
	CHECK(g->rows[2].like->stack == 8 && g->rows[2].median == 0 && g->rows[2].max == 900000,
	      "a one-off, big in one worker, last: median 0");
	CHECK(g->growth_median == 107500 && g->growth_max == 990000,
	      "each worker's whole growth: median 107500, max 990000 (%lld %lld)",
	      (long long)g->growth_median, (long long)g->growth_max);
	free(g->rows);
	free(d.gens);

	/* no worker came or went inside the window: no ranking */
	memset(&d, 0, sizeof(d));
	d.procs = procs;
	d.nprocs = 3;
	d.t_from = 2000;
	CHECK(!diff_generations(&d) && d.ngens == 0, "a stable group: no generations (%zu)", d.ngens);
	return tests_summary();
}
