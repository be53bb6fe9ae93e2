// SPDX-License-Identifier: MIT
/*
 * `leakbpf diff` output: text in tracemalloc's compare_to style with a
 * verdict per row, JSON with record/top's keys plus the process's place in
 * its pre-fork group and its memory, FlameGraph folded growth, or pprof.
 */
#include "diff_print.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_writer.h"
#include "profile_export.h"
#include "report.h"

static void clock_text(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;

	if (!localtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%.0f", t);
}

static bool estimated(const struct diff_process *p)
{
	return !strcmp(p->info.mode, "sampled");
}

static void print_frames(FILE *out, const struct diff_row *r)
{
	size_t i;

	for (i = 0; i < r->nframes; i++) {
		const struct export_frame *f = &r->frames[i];

		if (f->line > 0)
			fprintf(out, "  File \"%s\", line %d, in %s\n", f->file, f->line, f->function);
		else
			fprintf(out, "  at %s (%s)\n", f->function, f->file);
	}
	if (r->cut)
		fputs("  ... (outer frames not captured)\n", out);
}

static void print_location(FILE *out, const struct diff_row *r)
{
	const struct export_frame *f = r->nframes ? &r->frames[0] : NULL;

	if (!f)
		fputs("<unknown>", out);
	else if (f->line > 0)
		fprintf(out, "%s:%d", f->file, f->line);
	else
		fprintf(out, "%s (%s)", f->function, f->file);
}

static void print_memory(FILE *out, const struct diff_process *p)
{
	const struct proc_mem *m = &p->to.mem, *was = &p->mem_from.mem;
	char rss[32], pss[32], uss[32], shared[32], duss[32], dshared[32], dbytes[32];

	report_format_size(rss, sizeof(rss), (int64_t)m->rss, false);
	report_format_size(pss, sizeof(pss), (int64_t)m->pss, false);
	report_format_size(uss, sizeof(uss), (int64_t)m->uss, false);
	report_format_size(shared, sizeof(shared), (int64_t)m->shared, false);
	fprintf(out, "memory: rss %s, pss %s, uss %s, shared %s", rss, pss, uss, shared);
	if (p->have_mem_from) {
		int64_t uss_delta = (int64_t)m->uss - (int64_t)was->uss;
		int64_t shared_delta = (int64_t)m->shared - (int64_t)was->shared;

		report_format_size(duss, sizeof(duss), uss_delta, true);
		report_format_size(dshared, sizeof(dshared), shared_delta, true);
		fprintf(out, "; over the window uss %s, shared %s", duss, dshared);
		/* private pages that were shared a moment ago are copy-on-write
		 * un-sharing, not allocation: say so when they explain the growth */
		if (uss_delta > 0 && shared_delta < 0 && -shared_delta >= uss_delta / 2 &&
		    p->total_bytes_delta < uss_delta / 2) {
			report_format_size(dbytes, sizeof(dbytes), p->total_bytes_delta, true);
			fprintf(out, "\n  (uss grew while shared pages fell and outstanding bytes moved %s: pages un-shared by copy-on-write, not a heap leak)",
				dbytes);
		}
	}
	fputc('\n', out);
}

static void print_process(FILE *out, const struct diff_process *p, size_t limit)
{
	const char *est = estimated(p) ? "~" : "";
	char size[32], dsize[32], avg[32], from[32], to[32];
	size_t i, n = limit && limit < p->nrows ? limit : p->nrows;

	clock_text(p->from.t, from, sizeof(from));
	clock_text(p->to.t, to, sizeof(to));
	fprintf(out, "pid %d (%s), %s", p->info.pid, p->info.comm, p->info.role);
	if (!strcmp(p->info.role, "worker"))
		fprintf(out, " of %d", p->info.group);
	fprintf(out, ", %s%s%s, %s%s\n", p->info.python[0] ? "CPython " : "native only",
		p->info.python, p->info.ended ? ", exited" : "", p->info.mode,
		estimated(p) ? " (sizes marked ~ are estimates)" : "");
	report_print_container(out, &p->info.container);
	fprintf(out, "%s %s -> %s (%d snapshots)\n",
		!p->from_zero ? "compared:" :
		p->info.started >= p->from.t ? "started inside the window, compared with nothing:" :
		"traced from inside the window (the agent attached then), compared with nothing:",
		from, to, p->snapshots);
	print_memory(out, p);
	report_format_size(size, sizeof(size), p->total_bytes, false);
	report_format_size(dsize, sizeof(dsize), p->total_bytes_delta, true);
	fprintf(out, "outstanding %s%s (%s) in %s%" PRId64 " blocks (%+" PRId64 "), %zu stacks%s\n\n",
		est, size, dsize, est, p->total_count, p->total_count_delta, p->nrows,
		n < p->nrows ? " (top rows shown; --limit changes it)" : "");
	for (i = 0; i < n; i++) {
		const struct diff_row *r = &p->rows[i];

		report_format_size(size, sizeof(size), r->bytes, false);
		report_format_size(dsize, sizeof(dsize), r->bytes_delta, true);
		report_format_size(avg, sizeof(avg), r->count ? r->bytes / r->count : 0, false);
		print_location(out, r);
		fprintf(out, ": size=%s%s (%s), count=%s%" PRId64 " (%+" PRId64 ")", est, size, dsize,
			est, r->count, r->count_delta);
		if (r->count)
			fprintf(out, ", average=%s", avg);
		if (r->judged)
			fprintf(out, "  [%s]", verdict_name(r->verdict));
		if (r->unconfirmed) {
			char gained[32];

			report_format_size(gained, sizeof(gained), p->memory_growth, true);
			fprintf(out, "\n  (estimate not confirmed: the process's private memory changed %s over the window; an object freed and replaced at the same address looks alive from outside, --mode full counts it exactly)",
				gained);
		}
		fputc('\n', out);
		print_frames(out, r);
		fputc('\n', out);
	}
}

/* A generation row is a leak's signature when it grew in most workers. */
static bool in_most_workers(const struct diff_generation *g, const struct generation_row *r)
{
	return r->workers * 4 >= g->workers * 3;
}

static void print_generations(FILE *out, const struct diff_generation *g, size_t limit)
{
	char med[32], max[32];
	size_t i, n = limit && limit < g->nrows ? limit : g->nrows;

	report_format_size(med, sizeof(med), g->growth_median, false);
	report_format_size(max, sizeof(max), g->growth_max, false);
	fprintf(out, "per generation: %zu workers (%zu started, %zu ended in the window) lived %.1f-%.1f s; each grew ~%s (median; max %s)\n",
		g->workers, g->started, g->ended, g->life_min, g->life_max, med, max);
	for (i = 0; i < n; i++) {
		const struct generation_row *r = &g->rows[i];

		report_format_size(med, sizeof(med), r->median, false);
		report_format_size(max, sizeof(max), r->max, false);
		fprintf(out, "  ~%s per worker (max %s) at ", med, max);
		print_location(out, r->like);
		if (r->workers == g->workers)
			fputs(" [every worker]\n", out);
		else
			fprintf(out, " [%zu of %zu workers]\n", r->workers, g->workers);
	}
	fputc('\n', out);
}

static const struct diff_generation *generation_of(const struct diff_result *d, pid_t group)
{
	size_t i;

	for (i = 0; i < d->ngens; i++)
		if (d->gens[i].group == group)
			return &d->gens[i];
	return NULL;
}

static void print_text(FILE *out, const struct diff_result *d, size_t limit)
{
	char from[32], to[32];
	size_t i;
	pid_t group = -1;

	clock_text(d->t_from, from, sizeof(from));
	clock_text(d->t_to, to, sizeof(to));
	fprintf(out, "window %.0f s: %s -> %s, %zu processes\n\n", d->window, from, to, d->nprocs);
	for (i = 0; i < d->nprocs; i++) {
		const struct diff_process *p = &d->procs[i];

		if (p->info.group != group &&
		    (p->info.group != p->info.pid || !strcmp(p->info.role, "master"))) {
			const struct diff_generation *g = generation_of(d, p->info.group);

			fprintf(out, "== group of master %d ==\n", p->info.group);
			if (g)
				print_generations(out, g, limit ? limit : 10);
		}
		group = p->info.group;
		print_process(out, p, limit);
	}
}

/* "name=value name=value" -> one JSON object of the losses or the rest. */
static void json_counters(struct json_writer *w, const char *text, bool losses)
{
	char buf[1024], *save = NULL, *tok;
	int c;

	json_object_begin(w);
	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		bool loss = false;

		if (!eq)
			continue;
		*eq = '\0';
		for (c = 0; c < LB_CNT__COUNT; c++)
			if (!strcmp(counter_name(c), tok))
				loss = counter_is_loss(c);
		if (loss == losses)
			json_kv_uint(w, tok, strtoull(eq + 1, NULL, 10));
	}
	json_object_end(w);
}

static void json_memory(struct json_writer *w, const struct proc_mem *m)
{
	json_kv_uint(w, "rss", m->rss);
	json_kv_uint(w, "pss", m->pss);
	json_kv_uint(w, "uss", m->uss);
	json_kv_uint(w, "shared", m->shared);
}

static void json_process(struct json_writer *w, const struct diff_result *d,
			 const struct diff_process *p, size_t limit)
{
	size_t i, f, n = limit && limit < p->nrows ? limit : p->nrows;

	json_object_begin(w);
	json_kv_int(w, "pid", p->info.pid);
	json_kv_string(w, "comm", p->info.comm);
	json_kv_string(w, "python", p->info.python);
	json_kv_bool(w, "exited", p->info.ended > 0);
	json_kv_string(w, "mode", p->info.mode);
	json_kv_bool(w, "estimated", estimated(p));
	json_kv_int(w, "ppid", p->info.ppid);
	json_kv_int(w, "group", p->info.group);
	json_kv_string(w, "role", p->info.role);
	report_json_container(w, &p->info.container);
	json_kv_uint(w, "start_time", p->info.start_time);
	json_kv_double(w, "started", p->info.started);
	json_memory(w, &p->to.mem);
	json_key(w, "memory_from");
	if (!p->have_mem_from) {
		json_null(w);
	} else {
		json_object_begin(w);
		json_memory(w, &p->mem_from.mem);
		json_kv_double(w, "t", p->mem_from.t);
		json_object_end(w);
	}
	json_kv_double(w, "from", p->from.t);
	json_kv_double(w, "to", p->to.t);
	json_kv_bool(w, "compared_to_zero", p->from_zero);
	json_kv_int(w, "snapshots", p->snapshots);
	json_kv_int(w, "total_bytes", p->total_bytes);
	json_kv_int(w, "total_count", p->total_count);
	json_kv_int(w, "total_bytes_delta", p->total_bytes_delta);
	json_kv_int(w, "total_count_delta", p->total_count_delta);
	/* sampled rows checked against the process's own growth (diff.c) */
	json_key(w, "memory_check");
	if (!p->memory_checked) {
		json_null(w);
	} else {
		json_object_begin(w);
		json_kv_int(w, "process_growth", p->memory_growth);
		json_kv_int(w, "row_limit", p->growth_limit);
		json_kv_uint(w, "rows_over", p->unconfirmed);
		json_object_end(w);
	}
	json_key(w, "rows");
	json_array_begin(w);
	for (i = 0; i < n; i++) {
		const struct diff_row *r = &p->rows[i];

		json_object_begin(w);
		report_json_row_sizes(w, r->bytes, r->count, r->bytes_delta, r->count_delta, r->cut);
		json_key(w, "verdict");
		if (r->judged)
			json_string(w, verdict_name(r->verdict));
		else
			json_null(w);
		json_kv_bool(w, "confirmed", !r->unconfirmed);
		json_key(w, "frames");
		json_array_begin(w);
		for (f = 0; f < r->nframes; f++)
			report_json_frame(w, r->frames[f].file, r->frames[f].line, r->frames[f].function);
		json_array_end(w);
		json_object_end(w);
	}
	json_array_end(w);
	/* the tracer's counters are the agent's, all processes together */
	json_key(w, "lost");
	json_counters(w, d->counters, true);
	json_key(w, "counters");
	json_counters(w, d->counters, false);
	json_object_end(w);
}

static void json_generation(struct json_writer *w, const struct diff_generation *g, size_t limit)
{
	size_t i, f, n = limit && limit < g->nrows ? limit : g->nrows;

	json_object_begin(w);
	json_kv_int(w, "group", g->group);
	json_kv_uint(w, "workers", g->workers);
	json_kv_uint(w, "started", g->started);
	json_kv_uint(w, "ended", g->ended);
	json_kv_double(w, "life_min_s", g->life_min);
	json_kv_double(w, "life_max_s", g->life_max);
	json_kv_int(w, "growth_median", g->growth_median);
	json_kv_int(w, "growth_max", g->growth_max);
	json_key(w, "rows");
	json_array_begin(w);
	for (i = 0; i < n; i++) {
		const struct generation_row *r = &g->rows[i];

		json_object_begin(w);
		json_kv_int(w, "median", r->median);
		json_kv_int(w, "max", r->max);
		json_kv_uint(w, "workers", r->workers);
		json_kv_bool(w, "every_worker", r->workers == g->workers);
		json_kv_bool(w, "most_workers", in_most_workers(g, r));
		json_key(w, "frames");
		json_array_begin(w);
		for (f = 0; f < r->like->nframes; f++)
			report_json_frame(w, r->like->frames[f].file, r->like->frames[f].line,
					  r->like->frames[f].function);
		json_array_end(w);
		json_object_end(w);
	}
	json_array_end(w);
	json_object_end(w);
}

static void print_json(FILE *out, const struct diff_result *d, size_t limit)
{
	struct json_writer w;
	size_t i;

	json_init(&w, out);
	json_object_begin(&w);
	json_kv_double(&w, "window_s", d->window);
	json_kv_double(&w, "from", d->t_from);
	json_kv_double(&w, "to", d->t_to);
	json_key(&w, "processes");
	json_array_begin(&w);
	for (i = 0; i < d->nprocs; i++)
		json_process(&w, d, &d->procs[i], limit);
	json_array_end(&w);
	json_key(&w, "generations");
	json_array_begin(&w);
	for (i = 0; i < d->ngens; i++)
		json_generation(&w, &d->gens[i], limit);
	json_array_end(&w);
	json_object_end(&w);
	fputc('\n', out);
}

/* Every row of every process, labelled "comm role pid". */
static int export_rows(FILE *out, const struct diff_result *d, enum diff_format fmt)
{
	struct export_row *rows;
	char (*labels)[64];
	size_t i, j, n = 0, total = 0;
	int err;

	for (i = 0; i < d->nprocs; i++)
		total += d->procs[i].nrows;
	rows = calloc(total + 1, sizeof(*rows));
	labels = calloc(d->nprocs + 1, sizeof(*labels));
	if (!rows || !labels) {
		free(rows);
		free(labels);
		return -ENOMEM;
	}
	for (i = 0; i < d->nprocs; i++) {
		const struct diff_process *p = &d->procs[i];

		snprintf(labels[i], sizeof(labels[i]), "%s %s %d", p->info.comm, p->info.role, p->info.pid);
		for (j = 0; j < p->nrows; j++) {
			const struct diff_row *r = &p->rows[j];

			rows[n++] = (struct export_row){
				.root = labels[i], .frames = r->frames, .nframes = r->nframes,
				.bytes = r->bytes, .count = r->count,
				.bytes_delta = r->bytes_delta, .count_delta = r->count_delta,
			};
		}
	}
	if (fmt == DIFF_COLLAPSED)
		err = export_collapsed(out, rows, n);
	else
		err = export_pprof(out, rows, n, (int64_t)(d->t_from * 1e9),
				   (int64_t)(d->window * 1e9));
	free(rows);
	free(labels);
	return err;
}

int diff_print(FILE *out, const struct diff_result *d, enum diff_format fmt, size_t limit)
{
	switch (fmt) {
	case DIFF_JSON:
		print_json(out, d, limit);
		break;
	case DIFF_COLLAPSED:
	case DIFF_PPROF:
		return export_rows(out, d, fmt);
	default:
		print_text(out, d, limit);
		break;
	}
	return ferror(out) ? -EIO : 0;
}
