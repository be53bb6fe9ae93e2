/* SPDX-License-Identifier: MIT */
/*
 * Writes a ranked list of stack rows for other tools: FlameGraph folded text
 * (flamegraph.pl, speedscope, inferno) or a gzipped pprof profile.proto
 * (go tool pprof, Pyroscope, Grafana). Nothing here knows about tracing:
 * the caller resolves frames and computes the window's numbers.
 */
#ifndef LEAKBPF_PROFILE_EXPORT_H
#define LEAKBPF_PROFILE_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "stack_text.h"	/* struct export_frame */

struct export_row {
	const char *root;	/* process label, e.g. "gunicorn worker 1234"; outermost
				 * frame in collapsed, a pprof label "process";
				 * NULL or "" = none */
	const struct export_frame *frames;	/* innermost first */
	size_t nframes;
	int64_t bytes, count;			/* outstanding at the end of the window */
	int64_t bytes_delta, count_delta;	/* growth over the window */
};

/* FlameGraph folded format: one line per row with bytes_delta > 0:
 * "root;outermost;...;innermost VALUE\n", value = bytes_delta. A frame is
 * "function (file:line)" (py-spy's form; "function (file)" when line is 0).
 * ';' and newlines inside names are replaced (';' -> ':'; '\n' and '\r' -> ' ')
 * so the format stays parseable. Rows whose lines are identical after that are
 * summed; lines come in the order their first row appears (the caller's
 * ranking). A row with neither root nor frames is written as "[unknown]".
 * Returns 0, -ENOMEM or -EIO. */
int export_collapsed(FILE *out, const struct export_row *rows, size_t n);

/* pprof: gzipped perftools.profiles.Profile (profile.proto), sample types
 * growth_space/bytes, growth_objects/count, inuse_space/bytes, inuse_objects/count
 * (values bytes_delta, count_delta, bytes, count), default_sample_type =
 * growth_space, one Sample per row (all rows, shrinking ones included: their
 * in-use values still count), one Location per distinct (function,file,line)
 * with one Line, one Function per distinct (name,filename), string table
 * deduplicated with "" at index 0, locations innermost first in each Sample,
 * label "process"=root on each sample that has a root, time_nanos and
 * duration_nanos set, period_type space/bytes, period 1, and one Mapping
 * (id 1, no file) flagged has_functions/filenames/line_numbers that every
 * Location uses, so pprof does not try to symbolize the frames again.
 * Returns 0, -ENOMEM or -EIO. */
int export_pprof(FILE *out, const struct export_row *rows, size_t n, int64_t time_nanos,
		 int64_t duration_nanos);

#endif /* LEAKBPF_PROFILE_EXPORT_H */
