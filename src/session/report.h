/* SPDX-License-Identifier: MIT */
/*
 * A report: outstanding allocations of one process grouped into rows by
 * resolved stack (file, line, function of every frame), ranked by bytes,
 * with the change since the previous report, and everything the tracer lost.
 */
#ifndef LEAKBPF_REPORT_H
#define LEAKBPF_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "container.h"
#include "cost.h"
#include "leakbpf_shared.h"

struct resolved_stack;

struct report_row {
	const struct resolved_stack *stack;
	int64_t bytes, count;
	int64_t bytes_delta, count_delta;
};

struct report_process {
	pid_t pid;
	char comm[32];
	char python[32];	/* "3.11.7", "" if not Python */
	const char *redirect;	/* redirect state name */
	char redirect_why[200];
	bool exited;
	struct container_info container;	/* "" ids on the host */
};

/* Sampled mode: how the estimate was made, and what it lost. */
struct sampling_summary {
	bool on;
	double scale;			/* what one sample stands for */
	double window_ms, period_s;	/* the current schedule */
	double budget;			/* --max-overhead, as a fraction */
	double overhead;		/* measured over the last period, -1 unknown */
	double expected;		/* what the schedule now in force should cost */
	uint64_t windows, live_samples, freed_after_window;
	uint64_t unknown_form;		/* samples neither object nor malloc chunk */
	uint64_t window_failures;	/* windows that could not open */
	uint64_t empty_windows;		/* windows that saw no work: their period carried over */
	uint64_t mappings_skipped;	/* anonymous mmaps (arenas, stacks) not sampled */
	uint64_t capped;		/* large samples whose weight was capped */
	uint64_t dropped;		/* LOST: samples not kept, table full */
	uint64_t young;			/* live samples of a window closed under SAMPLE_MIN_AGE ago: not counted yet */
	bool tcache_key_known;
	bool by_wall_time;		/* no work clock ticks: weighted by wall time */
	/* CLOCK_MONOTONIC seconds: the estimate covers the work from the
	 * first window's opening to the last window's closing */
	double from_monotonic, as_of_monotonic;
};

struct report {
	struct report_process proc;
	struct report_row *rows;	/* ranked by bytes, descending */
	size_t nrows;
	int64_t total_bytes, total_count;
	uint64_t counters[LB_CNT__COUNT];
	double elapsed;			/* seconds since tracing began */
	struct cost_estimate cost;	/* leakbpf's own cost since the last report */
	struct sampling_summary sampling;	/* rows are estimates when on */
};

/* Row identities and sizes of the previous report, for deltas. */
struct report_history {
	struct report_row *rows;	/* sorted by identity */
	size_t nrows;
	bool valid;
};

/* Builds rows from (stack, totals) pairs: adds one pair. */
int report_add(struct report *r, const struct resolved_stack *stack, int64_t bytes,
	       int64_t count);
/* Merges rows with the same frames, ranks them and fills in the deltas
 * against hist (or against nothing), then remembers this report in hist. */
int report_finish(struct report *r, struct report_history *hist);
void report_free(struct report *r);
void report_history_free(struct report_history *h);

const char *counter_name(enum lb_counter c);
bool counter_is_loss(enum lb_counter c);

struct report_format {
	bool json;
	size_t limit;		/* rows shown, 0 = all */
	bool deltas;		/* text: show growth since the previous report */
};

struct json_writer;
/* Where a process runs, for text ("  container ..., pid N inside, pod
 * ns/name") and JSON (ns_pid, container_id, container_runtime, pod_uid,
 * pod_name, pod_namespace). */
void report_print_container(FILE *out, const struct container_info *c);
void report_json_container(struct json_writer *w, const struct container_info *c);
/* A row's keys as record/top write them, for diff to keep them. */
void report_json_row_sizes(struct json_writer *w, int64_t bytes, int64_t count,
			   int64_t bytes_delta, int64_t count_delta, bool truncated);
void report_json_frame(struct json_writer *w, const char *file, int line, const char *function);

/* tracemalloc's size format: "24 B", "7252 KiB", "+3947 KiB" with sign. */
void report_format_size(char *buf, size_t len, int64_t size, bool sign);

/* Text (tracemalloc-like) or JSON ({"processes":[...]}) for one or more
 * reports. Returns 0 or -EIO if the stream failed. */
int report_print(FILE *out, const struct report *reports, size_t n,
		 const struct report_format *fmt);

#endif
