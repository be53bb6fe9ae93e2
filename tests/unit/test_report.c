// SPDX-License-Identifier: MIT
/* Aggregation, deltas, ranking and both output formats of a report. */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "strtab.h"
#include "symbolizer.h"
#include "testing.h"

static struct resolved_stack *stack_of(uint64_t key, const char *file, int line,
				       const char *fn, const char *caller_file, int caller_line)
{
	struct resolved_stack *s = calloc(1, sizeof(*s) + 2 * sizeof(struct resolved_frame));

	s->key = key;
	s->pid = 42;
	s->python = true;
	s->nframes = 2;
	s->frames[0] = (struct resolved_frame){ strtab_intern(file), strtab_intern(fn), line };
	s->frames[1] = (struct resolved_frame){ strtab_intern(caller_file),
						strtab_intern("<module>"), caller_line };
	return s;
}

static char *print_to_string(const struct report *r, bool json, size_t limit, bool deltas)
{
	struct report_format fmt = { .json = json, .limit = limit, .deltas = deltas };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	report_print(f, r, 1, &fmt);
	fclose(f);
	return buf;
}

int main(void)
{
	/* two keys resolve to the same lines (different bytecode offsets on
	 * one line): one row */
	struct resolved_stack *a1 = stack_of(10, "app.py", 12, "add", "app.py", 30);
	struct resolved_stack *a2 = stack_of(11, "app.py", 12, "add", "app.py", 30);
	struct resolved_stack *b = stack_of(12, "app.py", 20, "cache", "app.py", 31);
	struct resolved_stack *c = stack_of(13, "lib.py", 5, "f", "app.py", 32);
	struct report_history hist = { 0 };
	struct report r = { 0 };
	char *out;

	report_add(&r, a1, 1000, 10);
	report_add(&r, a2, 500, 5);
	report_add(&r, b, 4000, 1);
	report_add(&r, c, 0, 0);	/* empty rows vanish */
	CHECK(report_finish(&r, &hist) == 0, "finish");
	CHECK(r.nrows == 2, "merged into 2 rows, got %zu", r.nrows);
	CHECK(r.rows[0].stack->frames[0].line == 20 && r.rows[0].bytes == 4000, "ranked by bytes");
	CHECK(r.rows[1].bytes == 1500 && r.rows[1].count == 15, "merged sums");
	CHECK(r.rows[1].bytes_delta == 1500, "first report: delta = everything");
	CHECK(r.total_bytes == 5500 && r.total_count == 16, "totals");
	r.proc.pid = 42;
	strcpy(r.proc.comm, "python3");
	strcpy(r.proc.python, "3.11.7");
	r.proc.redirect = "on";

	out = print_to_string(&r, false, 0, false);
	CHECK(strstr(out, "app.py:20: size=4000 B, count=1, average=4000 B\n") != NULL,
	      "tracemalloc-style line:\n%s", out);
	CHECK(strstr(out, "  File \"app.py\", line 12, in add\n  File \"app.py\", line 30, in <module>\n"),
	      "traceback innermost first:\n%s", out);
	CHECK(strstr(out, "lost: allocs_map_full=0") != NULL, "losses shown");
	free(out);

	out = print_to_string(&r, true, 1, false);
	CHECK(!strncmp(out, "{\"processes\":[{\"pid\":42,", 24), "json head: %s", out);
	CHECK(strstr(out, "\"rows\":[{\"bytes\":4000,\"count\":1,\"bytes_delta\":4000,\"count_delta\":1,") != NULL,
	      "json row: %s", out);
	CHECK(strstr(out, "\"frames\":[{\"file\":\"app.py\",\"line\":20,\"function\":\"cache\"}") != NULL,
	      "json frames: %s", out);
	CHECK(strstr(out, "\"line\":12") == NULL, "--limit 1 shows one row");
	CHECK(strstr(out, "\"lost\":{\"allocs_map_full\":0") != NULL, "json lost: %s", out);
	free(out);
	report_free(&r);

	/* second report: growth since the first */
	memset(&r, 0, sizeof(r));
	report_add(&r, a1, 3000, 30);
	report_add(&r, b, 4000, 1);
	report_add(&r, c, 64, 2);
	CHECK(report_finish(&r, &hist) == 0, "finish 2");
	CHECK(r.nrows == 3, "3 rows");
	CHECK(r.rows[0].bytes == 4000 && r.rows[0].bytes_delta == 0, "unchanged row: delta 0");
	CHECK(r.rows[1].bytes == 3000 && r.rows[1].bytes_delta == 1500 && r.rows[1].count_delta == 15,
	      "grown row");
	CHECK(r.rows[2].bytes_delta == 64, "new row");
	out = print_to_string(&r, false, 0, true);
	CHECK(strstr(out, "size=3000 B (+1500 B), count=30 (+15)") != NULL, "delta text:\n%s", out);
	free(out);
	report_free(&r);
	report_history_free(&hist);
	free(a1);
	free(a2);
	free(b);
	free(c);
	strtab_free_all();
	return tests_summary();
}
