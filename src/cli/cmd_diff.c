// SPDX-License-Identifier: MIT
/* leakbpf diff: which stacks of which processes grew over a window, read
 * from the agent's store (the agent may be running, or dead). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "diff.h"
#include "diff_print.h"
#include "store.h"

struct diff_args {
	struct diff_query q;
	const char *store_dir;
	const char *output;
	enum diff_format format;
	uint32_t limit;
};

enum { OPT_STORE = 2000, OPT_ALL, OPT_FORMAT, OPT_OUTPUT };

static int parse_format(const char *s, enum diff_format *f)
{
	static const char *const names[] = { "text", "json", "collapsed", "pprof" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*f = (enum diff_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_args(int argc, char **argv, struct diff_args *a)
{
	static const struct option longopts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "limit", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_window = false, all = false;
	int opt;

	memset(a, 0, sizeof(*a));
	a->store_dir = DEFAULT_STORE_DIR;
	a->limit = 10;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":w:p:l:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (parse_duration(optarg, 1, 366 * 86400.0, &a->q.window))
				return usage_error("diff", "--window takes a duration (30m, 2h, 1d), not '%s'", optarg);
			have_window = true;
			break;
		case OPT_STORE:
			a->store_dir = optarg;
			break;
		case 'p':
			if (parse_pid(optarg, &a->q.pid))
				return usage_error("diff", "--pid takes a process ID, not '%s'", optarg);
			break;
		case OPT_ALL:
			all = true;
			break;
		case 'l':
			if (parse_u32(optarg, 0, 1u << 30, &a->limit))
				return usage_error("diff", "--limit takes a number of rows, not '%s'", optarg);
			break;
		case 'j':
			a->format = DIFF_JSON;
			break;
		case OPT_FORMAT:
			if (parse_format(optarg, &a->format))
				return usage_error("diff", "--format takes text, json, collapsed or pprof, not '%s'", optarg);
			break;
		case OPT_OUTPUT:
			a->output = optarg;
			break;
		default:
			return common_option("diff", opt, argv);
		}
	}
	if (optind < argc)
		return usage_error("diff", "unexpected argument '%s'", argv[optind]);
	if (!have_window)
		return usage_error("diff", "how far back? give --window (30m, 2h)");
	if (all && a->q.pid)
		return usage_error("diff", "--pid and --all exclude each other: give one");
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	struct diff_result d;
	struct diff_args a;
	struct store *st;
	FILE *out = stdout;
	bool none;
	int err;

	err = parse_args(argc, argv, &a);
	if (err)
		return err < 0 ? 0 : err;
	err = store_open_readonly(a.store_dir, &st);
	if (err) {
		fprintf(stderr, "leakbpf diff: no store in %s (%s): give the agent's --store directory with --store DIR\n",
			a.store_dir, strerror(-err));
		return 1;
	}
	a.q.now = wall_seconds();
	/* a verdict for every row shown (and all of them for the exports) */
	a.q.judge = a.format == DIFF_TEXT || a.format == DIFF_JSON ? a.limit : 0;
	err = diff_compute(st, &a.q, &d);
	if (err) {
		fprintf(stderr, "leakbpf diff: reading the store in %s failed: %s\n", a.store_dir,
			strerror(-err));
		diff_free(&d);
		store_close(st);
		return 1;
	}
	none = !d.nprocs && a.q.pid;
	if (none)
		fprintf(stderr, "leakbpf diff: process %d has no snapshot in the last %.0f s of %s: check the PID, or widen --window\n",
			a.q.pid, a.q.window, a.store_dir);
	if (a.output) {
		out = fopen(a.output, "we");
		if (!out) {
			fprintf(stderr, "leakbpf diff: cannot write %s: %s\n", a.output, strerror(errno));
			diff_free(&d);
			store_close(st);
			return 1;
		}
	}
	err = diff_print(out, &d, a.format, a.limit);
	if (a.output && fclose(out))
		err = -EIO;
	if (err)
		fprintf(stderr, "leakbpf diff: writing the output failed: %s\n", strerror(-err));
	diff_free(&d);
	store_close(st);
	return err || none ? 1 : 0;
}
