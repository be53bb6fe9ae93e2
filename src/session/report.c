// SPDX-License-Identifier: MIT
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "symbolizer.h"

static const char *const counter_names[LB_CNT__COUNT] = {
	[LB_CNT_ALLOC_CALLS] = "allocations",
	[LB_CNT_FREE_CALLS] = "frees",
	[LB_CNT_FREE_UNTRACKED] = "frees_untracked",
	[LB_CNT_ALLOCS_MAP_FULL] = "allocs_map_full",
	[LB_CNT_STACKS_MAP_FULL] = "stacks_map_full",
	[LB_CNT_TOTALS_MAP_FULL] = "totals_map_full",
	[LB_CNT_PENDING_MAP_FULL] = "pending_map_full",
	[LB_CNT_PY_READ_FAILED] = "python_frame_read_failed",
	[LB_CNT_PY_TRUNCATED] = "python_stack_truncated",
	[LB_CNT_NO_THREAD_STATE] = "no_thread_state",
	[LB_CNT_NATIVE_STACK_FAILED] = "native_stack_failed",
	[LB_CNT_EVENTS_DROPPED] = "events_dropped",
	[LB_CNT_ALLOC_FAILED] = "allocator_returned_null",
	[LB_CNT_STALE_PENDING] = "unreturned_calls",
	[LB_CNT_FOLLOW_MAP_FULL] = "follow_map_full",
	[LB_CNT_REATTRIBUTED] = "reused_objects_moved",
	[LB_CNT_CODE_GONE] = "code_object_gone",
	[LB_CNT_CODE_CAPTURED] = "code_objects_captured",
	[LB_CNT_CODE_OVER_BUDGET] = "code_over_budget",
};

const char *counter_name(enum lb_counter c)
{
	return c < LB_CNT__COUNT && counter_names[c] ? counter_names[c] : "unknown";
}

bool counter_is_loss(enum lb_counter c)
{
	switch (c) {
	case LB_CNT_ALLOCS_MAP_FULL:
	case LB_CNT_STACKS_MAP_FULL:
	case LB_CNT_TOTALS_MAP_FULL:
	case LB_CNT_PENDING_MAP_FULL:
	case LB_CNT_PY_READ_FAILED:
	case LB_CNT_PY_TRUNCATED:
	case LB_CNT_NATIVE_STACK_FAILED:
	case LB_CNT_EVENTS_DROPPED:
	case LB_CNT_FOLLOW_MAP_FULL:
	case LB_CNT_CODE_GONE:
	case LB_CNT_CODE_OVER_BUDGET:
		return true;
	default:
		return false;
	}
}

int report_add(struct report *r, const struct resolved_stack *stack, int64_t bytes,
	       int64_t count)
{
	struct report_row *v;

	if (!bytes && !count)
		return 0;
	v = realloc(r->rows, (r->nrows + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->rows = v;
	r->rows[r->nrows++] = (struct report_row){ .stack = stack, .bytes = bytes, .count = count };
	return 0;
}

/* Rows are the same when every frame is: strings are interned, so pointer
 * comparison is string comparison. */
static int cmp_identity(const void *a, const void *b)
{
	const struct resolved_stack *x = ((const struct report_row *)a)->stack;
	const struct resolved_stack *y = ((const struct report_row *)b)->stack;
	int i;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->nframes != y->nframes)
		return x->nframes < y->nframes ? -1 : 1;
	for (i = 0; i < x->nframes; i++) {
		const struct resolved_frame *f = &x->frames[i], *g = &y->frames[i];

		if (f->file != g->file)
			return (uintptr_t)f->file < (uintptr_t)g->file ? -1 : 1;
		if (f->function != g->function)
			return (uintptr_t)f->function < (uintptr_t)g->function ? -1 : 1;
		if (f->line != g->line)
			return f->line < g->line ? -1 : 1;
	}
	return 0;
}

static int cmp_rank(const void *a, const void *b)
{
	const struct report_row *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return cmp_identity(a, b);
}

int report_finish(struct report *r, struct report_history *hist)
{
	size_t i, out = 0;
	struct report_row *copy;

	qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_identity);
	for (i = 0; i < r->nrows; i++) {
		if (out && !cmp_identity(&r->rows[out - 1], &r->rows[i])) {
			r->rows[out - 1].bytes += r->rows[i].bytes;
			r->rows[out - 1].count += r->rows[i].count;
		} else {
			r->rows[out++] = r->rows[i];
		}
	}
	r->nrows = out;
	r->total_bytes = r->total_count = 0;
	for (i = 0; i < r->nrows; i++) {
		struct report_row *row = &r->rows[i];
		const struct report_row *prev = NULL;

		if (hist && hist->valid)
			prev = bsearch(row, hist->rows, hist->nrows, sizeof(*row), cmp_identity);
		row->bytes_delta = row->bytes - (prev ? prev->bytes : 0);
		row->count_delta = row->count - (prev ? prev->count : 0);
		r->total_bytes += row->bytes;
		r->total_count += row->count;
	}
	if (hist) {
		/* rows are in identity order right now: exactly what bsearch needs */
		copy = malloc((r->nrows ? r->nrows : 1) * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, r->rows, r->nrows * sizeof(*copy));
		free(hist->rows);
		hist->rows = copy;
		hist->nrows = r->nrows;
		hist->valid = true;
	}
	qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_rank);
	return 0;
}

void report_free(struct report *r)
{
	free(r->rows);
	r->rows = NULL;
	r->nrows = 0;
}

void report_history_free(struct report_history *h)
{
	free(h->rows);
	h->rows = NULL;
	h->nrows = 0;
	h->valid = false;
}
