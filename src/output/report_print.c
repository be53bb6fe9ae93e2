// SPDX-License-Identifier: MIT
/* Report output: tracemalloc-style text, or the stable JSON layout that
 * other tools read (keys documented in README.md). */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"
#include "sampled.h"
#include "sampler.h"
#include "symbolizer.h"

/* tracemalloc's _format_size: "1.2 KiB", "+3947 KiB", "24 B" */
void report_format_size(char *buf, size_t len, int64_t size, bool sign)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)size;
	size_t u;

	for (u = 0; u < 5; u++) {
		double mag = v < 0 ? -v : v;

		if (mag < 100 && u) {
			snprintf(buf, len, sign ? "%+.1f %s" : "%.1f %s", v, units[u]);
			return;
		}
		if (mag < 10 * 1024 || u == 4) {
			snprintf(buf, len, sign ? "%+.0f %s" : "%.0f %s", v, units[u]);
			return;
		}
		v /= 1024;
	}
}

void report_print_container(FILE *out, const struct container_info *c)
{
	char id[96];

	if (!c->id[0])
		return;
	fprintf(out, "  container %s, pid %d inside", container_short(c, id, sizeof(id)), c->ns_pid);
	if (c->pod_uid[0])
		fprintf(out, ", pod %s/%s (uid %s)", c->pod_namespace[0] ? c->pod_namespace : "?",
			c->pod_name[0] ? c->pod_name : "?", c->pod_uid);
	fputc('\n', out);
}

void report_json_row_sizes(struct json_writer *w, int64_t bytes, int64_t count,
			   int64_t bytes_delta, int64_t count_delta, bool truncated)
{
	json_kv_int(w, "bytes", bytes);
	json_kv_int(w, "count", count);
	json_kv_int(w, "bytes_delta", bytes_delta);
	json_kv_int(w, "count_delta", count_delta);
	json_kv_bool(w, "truncated", truncated);
}

void report_json_frame(struct json_writer *w, const char *file, int line, const char *function)
{
	json_object_begin(w);
	json_kv_string(w, "file", file);
	json_kv_int(w, "line", line);
	json_kv_string(w, "function", function);
	json_object_end(w);
}

void report_json_container(struct json_writer *w, const struct container_info *c)
{
	json_kv_int(w, "ns_pid", c->ns_pid);
	json_kv_string(w, "container_id", c->id);
	json_kv_string(w, "container_runtime", c->runtime);
	json_kv_string(w, "pod_uid", c->pod_uid);
	json_kv_string(w, "pod_name", c->pod_name);
	json_kv_string(w, "pod_namespace", c->pod_namespace);
}

static void print_location(FILE *out, const struct resolved_stack *st)
{
	const struct resolved_frame *f = &st->frames[0];

	if (f->line > 0 || st->python)
		fprintf(out, "%s:%d", f->file, f->line);
	else
		fprintf(out, "%s (%s)", f->function, f->file);
}

static void print_traceback(FILE *out, const struct resolved_stack *st)
{
	int i;

	for (i = 0; i < st->nframes; i++) {
		const struct resolved_frame *f = &st->frames[i];

		if (f->line > 0 || (st->python && strcmp(f->file, "[unknown]")))
			fprintf(out, "  File \"%s\", line %d, in %s\n", f->file, f->line, f->function);
		else
			fprintf(out, "  at %s (%s)\n", f->function, f->file);
	}
	if (st->flags & LB_STACK_TRUNCATED)
		fprintf(out, "  ... (deeper frames cut: raise --max-depth)\n");
	if (st->flags & LB_STACK_PY_READ_FAILED)
		fprintf(out, "  ... (an outer frame could not be read)\n");
}

static void print_counters(FILE *out, const struct report *r, bool losses)
{
	int c, shown = 0;

	fputs(losses ? "lost:" : "counted:", out);
	for (c = 0; c < LB_CNT__COUNT; c++) {
		if (counter_is_loss(c) != losses)
			continue;
		fprintf(out, "%s %s=%" PRIu64, shown++ ? "," : "", counter_name(c), r->counters[c]);
	}
	fputc('\n', out);
}

static void print_text(FILE *out, const struct report *r, const struct report_format *fmt)
{
	char size[32], avg[32], dsize[32];
	size_t i, n = fmt->limit && fmt->limit < r->nrows ? fmt->limit : r->nrows;

	report_format_size(size, sizeof(size), r->total_bytes, false);
	fprintf(out, "pid %d (%s)%s%s%s, allocator redirect: %s\n", r->proc.pid, r->proc.comm,
		r->proc.python[0] ? ", CPython " : ", native only", r->proc.python,
		r->proc.exited ? ", exited" : "", r->proc.redirect ? r->proc.redirect : "off");
	if (r->proc.redirect_why[0])
		fprintf(out, "  (%s)\n", r->proc.redirect_why);
	report_print_container(out, &r->proc.container);
	fprintf(out, "%s%s outstanding in %s%" PRId64 " blocks, %zu stacks, after %.1f s%s\n\n",
		r->sampling.on ? "~" : "", size, r->sampling.on ? "~" : "", r->total_count, r->nrows, r->elapsed,
		n < r->nrows ? " (top rows shown; --limit changes it)" : "");
	if (r->sampling.on) {
		const struct sampling_summary *sm = &r->sampling;

		fprintf(out, "sampled: sizes and counts marked ~ are estimates, as of the last window; one sample stands for %.1f\n"
			"  windows: %" PRIu64 " so far, now %.0f ms every %.1f s (budget %.2f%% of the target's CPU",
			sm->scale, sm->windows, sm->window_ms, sm->period_s, 100 * sm->budget);
		if (sm->overhead >= 0)
			fprintf(out, ", last period %.2f%%, next %.2f%%", 100 * sm->overhead,
				100 * sm->expected);
		fprintf(out, ")\n  samples: %" PRIu64 " live, %" PRIu64 " freed after their window, %" PRIu64
			" of unknown shape%s",
			sm->live_samples, sm->freed_after_window, sm->unknown_form,
			sm->tcache_key_known ? "" : ", malloc's thread-cache key not learnt yet");
		if (sm->window_failures)
			fprintf(out, ", %" PRIu64 " windows failed to open", sm->window_failures);
		if (sm->capped)
			fprintf(out, ", %" PRIu64 " large samples capped at %d MiB each", sm->capped,
				(int)(SAMPLE_CLAIM_CAP >> 20));
		if (sm->young)
			fprintf(out, ", %" PRIu64 " from the newest window (under %.0f s old) not counted yet", sm->young,
				SAMPLE_MIN_AGE);
		if (sm->dropped)
			fprintf(out, ", LOST: %" PRIu64 " samples not kept (table full at %d)", sm->dropped,
				SAMPLED_MAX_SAMPLES);
		if (sm->mappings_skipped)
			fprintf(out, ", %" PRIu64 " anonymous mappings not sampled", sm->mappings_skipped);
		if (sm->empty_windows)
			fprintf(out, ", %" PRIu64 " windows saw no work (their period carried over)",
				sm->empty_windows);
		if (sm->by_wall_time)
			fputs("\n  the program touched no dict in any window: weighted by wall time, which the windows slow down; sizes are far too low, the ranking holds", out);
		fputs("\n", out);
	}
	if (r->cost.valid) {
		fprintf(out, "leakbpf cost: %.0f probe hits/s x (trap %.2f us + BPF %.2f us) = %.2f%% of one CPU",
			r->cost.hits_per_sec, r->cost.trap_ns / 1e3, r->cost.bpf_ns_per_hit / 1e3,
			100 * r->cost.cpu_fraction);
		if (r->cost.target_fraction >= 0)
			fprintf(out, ", %.1f%% of the target's CPU time", 100 * r->cost.target_fraction);
		fputs("\n\n", out);
	}
	for (i = 0; i < n; i++) {
		const struct report_row *row = &r->rows[i];

		const char *est = r->sampling.on ? "~" : "";

		report_format_size(size, sizeof(size), row->bytes, false);
		report_format_size(avg, sizeof(avg), row->count ? row->bytes / row->count : 0, false);
		print_location(out, row->stack);
		if (fmt->deltas) {
			report_format_size(dsize, sizeof(dsize), row->bytes_delta, true);
			fprintf(out, ": size=%s%s (%s), count=%s%" PRId64 " (%+" PRId64 ")", est, size,
				dsize, est, row->count, row->count_delta);
		} else {
			fprintf(out, ": size=%s%s, count=%s%" PRId64, est, size, est, row->count);
		}
		if (row->count)
			fprintf(out, ", average=%s", avg);
		fputc('\n', out);
		print_traceback(out, row->stack);
		fputc('\n', out);
	}
	print_counters(out, r, true);
	print_counters(out, r, false);
}

static void json_process(struct json_writer *w, const struct report *r, size_t limit)
{
	size_t i, n = limit && limit < r->nrows ? limit : r->nrows;
	int c, f;

	json_object_begin(w);
	json_kv_int(w, "pid", r->proc.pid);
	json_kv_string(w, "comm", r->proc.comm);
	json_kv_string(w, "python", r->proc.python);
	json_kv_string(w, "redirect", r->proc.redirect ? r->proc.redirect : "off");
	json_kv_string(w, "redirect_reason", r->proc.redirect_why);
	json_kv_bool(w, "exited", r->proc.exited);
	report_json_container(w, &r->proc.container);
	json_kv_string(w, "mode", r->sampling.on ? "sampled" : "full");
	json_kv_bool(w, "estimated", r->sampling.on);
	if (r->sampling.on) {
		const struct sampling_summary *sm = &r->sampling;

		json_key(w, "sampling");
		json_object_begin(w);
		json_kv_double(w, "scale", sm->scale);
		json_kv_double(w, "window_ms", sm->window_ms);
		json_kv_double(w, "period_s", sm->period_s);
		json_kv_double(w, "budget_fraction", sm->budget);
		json_key(w, "last_period_fraction");
		if (sm->overhead >= 0)
			json_double(w, sm->overhead);
		else
			json_null(w);
		json_key(w, "expected_fraction");
		if (sm->expected >= 0)
			json_double(w, sm->expected);
		else
			json_null(w);
		json_kv_uint(w, "windows", sm->windows);
		json_kv_uint(w, "live_samples", sm->live_samples);
		json_kv_uint(w, "freed_after_window", sm->freed_after_window);
		json_kv_uint(w, "unknown_shape", sm->unknown_form);
		json_kv_uint(w, "window_failures", sm->window_failures);
		json_kv_uint(w, "empty_windows", sm->empty_windows);
		json_kv_uint(w, "mappings_skipped", sm->mappings_skipped);
		json_kv_uint(w, "capped_samples", sm->capped);
		json_kv_uint(w, "dropped_samples", sm->dropped);
		json_kv_uint(w, "young_samples", sm->young);
		json_kv_bool(w, "tcache_key_known", sm->tcache_key_known);
		json_kv_string(w, "clock", sm->by_wall_time ? "wall" : "python");
		json_kv_double(w, "from_monotonic", sm->from_monotonic);
		json_kv_double(w, "as_of_monotonic", sm->as_of_monotonic);
		json_object_end(w);
	}
	json_kv_int(w, "total_bytes", r->total_bytes);
	json_kv_int(w, "total_count", r->total_count);
	json_key(w, "rows");
	json_array_begin(w);
	for (i = 0; i < n; i++) {
		const struct report_row *row = &r->rows[i];

		json_object_begin(w);
		report_json_row_sizes(w, row->bytes, row->count, row->bytes_delta, row->count_delta,
				      !!(row->stack->flags & LB_STACK_TRUNCATED));
		json_key(w, "frames");
		json_array_begin(w);
		for (f = 0; f < row->stack->nframes; f++) {
			const struct resolved_frame *fr = &row->stack->frames[f];

			report_json_frame(w, fr->file, fr->line, fr->function);
		}
		json_array_end(w);
		json_object_end(w);
	}
	json_array_end(w);
	if (r->cost.valid) {
		json_key(w, "overhead");
		json_object_begin(w);
		json_kv_double(w, "hits_per_sec", r->cost.hits_per_sec);
		json_kv_double(w, "trap_ns", r->cost.trap_ns);
		json_kv_double(w, "bpf_ns_per_hit", r->cost.bpf_ns_per_hit);
		json_kv_double(w, "cpu_fraction", r->cost.cpu_fraction);
		json_key(w, "target_fraction");
		if (r->cost.target_fraction >= 0)
			json_double(w, r->cost.target_fraction);
		else
			json_null(w);
		json_object_end(w);
	}
	json_key(w, "lost");
	json_object_begin(w);
	for (c = 0; c < LB_CNT__COUNT; c++)
		if (counter_is_loss(c))
			json_kv_uint(w, counter_name(c), r->counters[c]);
	json_object_end(w);
	json_key(w, "counters");
	json_object_begin(w);
	for (c = 0; c < LB_CNT__COUNT; c++)
		if (!counter_is_loss(c))
			json_kv_uint(w, counter_name(c), r->counters[c]);
	json_object_end(w);
	json_object_end(w);
}

int report_print(FILE *out, const struct report *reports, size_t n,
		 const struct report_format *fmt)
{
	size_t i;

	if (fmt->json) {
		struct json_writer w;

		json_init(&w, out);
		json_object_begin(&w);
		json_key(&w, "processes");
		json_array_begin(&w);
		for (i = 0; i < n; i++)
			json_process(&w, &reports[i], fmt->limit);
		json_array_end(&w);
		json_object_end(&w);
		fputc('\n', out);
	} else {
		for (i = 0; i < n; i++)
			print_text(out, &reports[i], fmt);
	}
	if (fflush(out) || ferror(out))
		return -EIO;
	return 0;
}
