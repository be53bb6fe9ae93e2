// SPDX-License-Identifier: MIT
/*
 * One process's snapshot: its outstanding bytes per stack (the session's
 * report) and its memory from smaps_rollup, written to the store in one
 * transaction; and what the metrics endpoint shows of it (total, growth
 * rate, the fastest growing stacks) kept on the process.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "report.h"
#include "stack_text.h"
#include "store.h"
#include "symbolizer.h"

/* The growth rate and top stacks are measured from a baseline renewed this
 * often: long enough to see past one interval's noise, short enough for a
 * rate that says "now". */
#define BASELINE_S 300.0

static int cmp_growth_desc(const void *x, const void *y)
{
	const struct report_row *a = *(const struct report_row *const *)x;
	const struct report_row *b = *(const struct report_row *const *)y;

	return a->bytes_delta < b->bytes_delta ? 1 : a->bytes_delta > b->bytes_delta ? -1 : 0;
}

/* Which rows are stored: the AGENT_ROWS_BY_BYTES largest (rows come
 * ranked by bytes) and the AGENT_ROWS_BY_GROWTH fastest growing since the
 * last snapshot. keep[i] says. */
static int pick_rows(const struct report *r, bool *keep)
{
	const struct report_row **by_growth;
	size_t i;

	for (i = 0; i < r->nrows; i++)
		keep[i] = i < AGENT_ROWS_BY_BYTES;
	if (r->nrows <= AGENT_ROWS_BY_BYTES)
		return 0;
	by_growth = malloc(r->nrows * sizeof(*by_growth));
	if (!by_growth)
		return -ENOMEM;
	for (i = 0; i < r->nrows; i++)
		by_growth[i] = &r->rows[i];
	qsort(by_growth, r->nrows, sizeof(*by_growth), cmp_growth_desc);
	for (i = 0; i < AGENT_ROWS_BY_GROWTH && i < r->nrows; i++)
		if (by_growth[i]->bytes_delta > 0)
			keep[by_growth[i] - r->rows] = true;
	free(by_growth);
	return 0;
}

static int store_report(struct agent *a, struct agent_proc *p, const struct report *r, double t,
			const struct proc_mem *mem)
{
	struct store_process sp = {
		.pid = p->pid, .start_time = p->start_time, .ppid = p->ppid, .group = p->group,
		.role = proc_role_name(p->role), .comm = p->s.comm, .python = r->proc.python,
		.mode = r->sampling.on ? "sampled" : "full", .started = p->started_wall,
		.attached = p->attached_wall, .container = &p->s.container,
		.scale = r->sampling.on && !r->sampling.by_wall_time ? r->sampling.scale : 0,
	};
	int64_t other_bytes = 0, other_count = 0;
	bool *keep = calloc(r->nrows + 1, sizeof(*keep));
	size_t i;
	int err;

	if (!keep)
		return -ENOMEM;
	err = pick_rows(r, keep);
	if (!err)
		err = store_begin(a->store, &sp, t, mem);
	for (i = 0; !err && i < r->nrows; i++) {
		char *text;

		if (!keep[i]) {
			other_bytes += r->rows[i].bytes;
			other_count += r->rows[i].count;
			continue;
		}
		text = stack_text_format(r->rows[i].stack);
		err = text ? store_add_row(a->store, text, r->rows[i].bytes, r->rows[i].count) : -ENOMEM;
		free(text);
	}
	if (!err && other_count)
		err = store_add_row(a->store, STACK_TEXT_OTHER, other_bytes, other_count);
	if (!err)
		err = store_commit(a->store);
	else if (err != -EBUSY)
		store_abort(a->store);
	free(keep);
	return err;
}

/* Total, growth rate and the fastest growing stacks against the baseline;
 * the baseline is renewed every BASELINE_S. */
static void update_figures(struct agent_proc *p, const struct report *r, double mono)
{
	size_t i;
	int k;

	p->total_bytes = r->total_bytes;
	p->total_count = r->total_count;
	p->have_snapshot = true;
	p->ntop = 0;
	if (p->baseline_t && mono > p->baseline_t) {
		double dt = mono - p->baseline_t;

		p->rate = (double)(r->total_bytes - p->baseline_bytes) / dt;
		for (i = 0; i < r->nrows; i++) {
			const struct report_row *row = &r->rows[i];
			int64_t was = (int64_t)(intptr_t)u64map_get(&p->baseline_stacks, row->stack->key);
			double rate = (double)(row->bytes - was) / dt;

			if (rate <= 0)
				continue;
			/* insertion into the short ranked list */
			for (k = p->ntop; k > 0 && p->top[k - 1].rate < rate; k--)
				if (k < AGENT_TOP_LABELS)
					p->top[k] = p->top[k - 1];
			if (k >= AGENT_TOP_LABELS)
				continue;
			symbolizer_describe_innermost(row->stack, p->top[k].where, sizeof(p->top[k].where));
			p->top[k].bytes = row->bytes;
			p->top[k].rate = rate;
			if (p->ntop < AGENT_TOP_LABELS)
				p->ntop++;
		}
	}
	if (!p->baseline_t || mono - p->baseline_t >= BASELINE_S) {
		u64map_clear(&p->baseline_stacks, NULL);
		for (i = 0; i < r->nrows; i++)
			u64map_put(&p->baseline_stacks, r->rows[i].stack->key,
				   (void *)(intptr_t)r->rows[i].bytes);
		p->baseline_t = mono;
		p->baseline_bytes = r->total_bytes;
	}
}

int agent_snapshot(struct agent *a, struct agent_proc *p, double t, double mono)
{
	struct report r;
	int err = session_snapshot(&p->s, &r);

	if (err) {
		pr_warn("process %d: snapshot failed: %s", p->pid, strerror(-err));
		return err;
	}
	/* an ended process's memory is its last reading: /proc has none now */
	if (!p->s.exited && proc_mem_rollup(p->pid, &p->mem))
		memset(&p->mem, 0, sizeof(p->mem));
	err = store_report(a, p, &r, t, &p->mem);
	if (err)
		pr_warn("process %d: writing the snapshot: %s", p->pid, strerror(-err));
	update_figures(p, &r, mono);
	if (p->s.exited)
		agent_generation_add(a, p, &r);
	report_free(&r);
	return err;
}
