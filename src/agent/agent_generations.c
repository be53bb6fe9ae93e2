// SPDX-License-Identifier: MIT
/*
 * Generations of recycled workers, for the metrics: when a worker of a
 * pre-fork group ends, what it accumulated (its final report: outstanding
 * bytes counted from its start) is kept beside its siblings'. The metrics
 * then rank the group's lines by the median over its last workers, as
 * `diff` does over a window: a line where every worker grew is a leak even
 * if no worker lived long enough for a trend.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "median.h"
#include "agent.h"
#include "metrics_server.h"
#include "symbolizer.h"

#define GEN_TOP 5	/* lines per group in the metrics */

static struct agent_gen_group *group_slot(struct agent *a, pid_t group)
{
	struct agent_gen_group *oldest = NULL;
	size_t i;

	if (!a->gens) {
		a->gens = calloc(AGENT_GEN_GROUPS, sizeof(*a->gens));
		if (!a->gens)
			return NULL;
	}
	for (i = 0; i < AGENT_GEN_GROUPS; i++)
		if (a->gens[i].group == group)
			return &a->gens[i];
	/* a free slot, or the group with the fewest workers recorded */
	for (i = 0; i < AGENT_GEN_GROUPS; i++)
		if (!oldest || a->gens[i].ended < oldest->ended)
			oldest = &a->gens[i];
	memset(oldest, 0, sizeof(*oldest));
	oldest->group = group;
	return oldest;
}

void agent_generation_add(struct agent *a, const struct agent_proc *p, const struct report *r)
{
	struct agent_gen_group *g;
	struct agent_gen_worker *w;
	size_t i;

	if (p->role != PROC_ROLE_WORKER)
		return;
	g = group_slot(a, p->group);
	if (!g)
		return;
	w = &g->workers[g->ended++ % AGENT_GEN_WORKERS];
	memset(w, 0, sizeof(*w));
	w->life = r->elapsed;
	w->bytes = r->total_bytes;
	/* rows come ranked by bytes */
	for (i = 0; i < r->nrows && w->nlines < AGENT_GEN_LINES; i++) {
		if (r->rows[i].bytes <= 0)
			continue;
		symbolizer_describe_innermost(r->rows[i].stack, w->lines[w->nlines].where,
			  sizeof(w->lines[w->nlines].where));
		w->lines[w->nlines++].bytes = r->rows[i].bytes;
	}
}

struct gen_line {
	const char *where;
	int64_t median, max;
	size_t workers;
};

/* Every line of the group's recorded workers, with the median (a worker
 * without it counts 0), the max and in how many it grew. */
static size_t rank_lines(const struct agent_gen_group *g, size_t n, struct gen_line *out)
{
	int64_t v[AGENT_GEN_WORKERS];
	size_t nl = 0, i, j, k;

	for (i = 0; i < n; i++)
		for (j = 0; j < (size_t)g->workers[i].nlines; j++) {
			const char *where = g->workers[i].lines[j].where;
			bool seen = false;

			for (k = 0; k < nl && !seen; k++)
				seen = !strcmp(out[k].where, where);
			if (!seen)
				out[nl++] = (struct gen_line){ .where = where };
		}
	for (k = 0; k < nl; k++) {
		for (i = 0; i < n; i++) {
			v[i] = 0;
			for (j = 0; j < (size_t)g->workers[i].nlines; j++)
				if (!strcmp(g->workers[i].lines[j].where, out[k].where))
					v[i] += g->workers[i].lines[j].bytes;
			out[k].workers += v[i] > 0;
			if (v[i] > out[k].max)
				out[k].max = v[i];
		}
		out[k].median = median_i64(v, n);
	}
	/* the top GEN_TOP by median, then by workers */
	for (i = 0; i < nl; i++)
		for (j = i + 1; j < nl; j++)
			if (out[j].median > out[i].median ||
			    (out[j].median == out[i].median && out[j].workers > out[i].workers)) {
				struct gen_line t = out[i];

				out[i] = out[j];
				out[j] = t;
			}
	return nl;
}

void agent_generations_write(const struct agent *a, FILE *out)
{
	static struct gen_line lines[AGENT_GEN_WORKERS * AGENT_GEN_LINES];
	char where[400];
	size_t i, k;

	fprintf(out, "# HELP leakbpf_generation_workers Ended workers of a pre-fork group whose last state the agent keeps (at most %d)\n"
		"# TYPE leakbpf_generation_workers gauge\n", AGENT_GEN_WORKERS);
	for (i = 0; a->gens && i < AGENT_GEN_GROUPS; i++)
		if (a->gens[i].group)
			fprintf(out, "leakbpf_generation_workers{group=\"%d\"} %" PRIu64 "\n",
				a->gens[i].group, a->gens[i].ended < AGENT_GEN_WORKERS ?
				a->gens[i].ended : (uint64_t)AGENT_GEN_WORKERS);
	fputs("# HELP leakbpf_generation_line_bytes What each ended worker of a group accumulated at a line over its life (median and max over its last workers; top lines by median)\n"
	      "# TYPE leakbpf_generation_line_bytes gauge\n", out);
	for (i = 0; a->gens && i < AGENT_GEN_GROUPS; i++) {
		const struct agent_gen_group *g = &a->gens[i];
		size_t n = g->ended < AGENT_GEN_WORKERS ? g->ended : AGENT_GEN_WORKERS;
		size_t nl;

		if (!g->group)
			continue;
		nl = rank_lines(g, n, lines);
		for (k = 0; k < nl && k < GEN_TOP; k++) {
			metrics_escape_label(lines[k].where, where, sizeof(where));
			fprintf(out, "leakbpf_generation_line_bytes{group=\"%d\",rank=\"%zu\",stack=\"%s\",stat=\"median\",workers=\"%zu/%zu\"} %" PRId64 "\n",
				g->group, k + 1, where, lines[k].workers, n, lines[k].median);
			fprintf(out, "leakbpf_generation_line_bytes{group=\"%d\",rank=\"%zu\",stack=\"%s\",stat=\"max\",workers=\"%zu/%zu\"} %" PRId64 "\n",
				g->group, k + 1, where, lines[k].workers, n, lines[k].max);
		}
	}
}
