// SPDX-License-Identifier: MIT
/* leakbpf top: attach to a running process, print a ranked view every S
 * seconds, leave the process exactly as it was on exit. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clocks.h"
#include "log.h"
#include "proc.h"
#include "report.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct top_args {
	pid_t pid;
	double interval;
	uint32_t iterations;	/* 0 = until stopped */
	bool json;
	bool by_growth;
	uint32_t limit;
	struct session_opts trace;
};

static int parse_args(int argc, char **argv, struct top_args *a)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ "sort", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		TRACE_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	bool have_pid = false;
	int opt, r;

	memset(a, 0, sizeof(*a));
	a->interval = 5;
	a->limit = 10;
	trace_options_defaults(&a->trace);
	a->trace.sampled = true;	/* top runs for long: bounded cost by default */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:i:n:hv", longopts, NULL)) != -1) {
		r = trace_option("top", opt, optarg, &a->trace);
		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'p':
			if (parse_pid(optarg, &a->pid))
				return usage_error("top", "--pid takes a process ID, not '%s'", optarg);
			have_pid = true;
			break;
		case 'i':
			if (parse_seconds(optarg, &a->interval))
				return usage_error("top", "--interval takes seconds from 0.05 to 86400, not '%s'", optarg);
			break;
		case 'n':
			if (parse_u32(optarg, 1, 1u << 30, &a->iterations))
				return usage_error("top", "-n takes a positive number of refreshes, not '%s'", optarg);
			break;
		case 'j':
			a->json = true;
			break;
		case 'l':
			if (parse_u32(optarg, 0, 1u << 30, &a->limit))
				return usage_error("top", "--limit takes a number of rows, not '%s'", optarg);
			break;
		case 's':
			if (strcmp(optarg, "bytes") && strcmp(optarg, "growth"))
				return usage_error("top", "--sort takes 'bytes' or 'growth', not '%s'", optarg);
			a->by_growth = !strcmp(optarg, "growth");
			break;
		default:
			return common_option("top", opt, argv);
		}
	}
	if (optind < argc)
		return usage_error("top", "unexpected argument '%s'", argv[optind]);
	if (!have_pid)
		return usage_error("top", "which process? give --pid PID");
	return 0;
}

static int cmp_growth(const void *a, const void *b)
{
	const struct report_row *x = a, *y = b;

	if (x->bytes_delta != y->bytes_delta)
		return x->bytes_delta > y->bytes_delta ? -1 : 1;
	return x->bytes > y->bytes ? -1 : x->bytes < y->bytes;
}

static bool target_alive(pid_t pid)
{
	return proc_is_running(pid);
}

/* Waits one interval, symbolising new stacks as they come. */
static void wait_interval(struct session *s, double interval)
{
	double deadline = monotonic_seconds() + interval;

	while (!stop_requested) {
		double left = deadline - monotonic_seconds();

		if (left <= 0)
			break;
		session_pump(s, left > 0.2 ? 200 : (int)(left * 1000) + 1);
		if (!target_alive(s->pid)) {
			session_mark_exited(s);
			break;
		}
	}
}

static int show(struct session *s, const struct top_args *a, bool tty)
{
	struct report_format fmt = { .json = a->json, .limit = a->limit, .deltas = true };
	struct report r;
	int err = session_snapshot(s, &r);

	if (err) {
		pr_err("reading the maps failed: %s", strerror(-err));
		return err;
	}
	if (a->by_growth)
		qsort(r.rows, r.nrows, sizeof(*r.rows), cmp_growth);
	if (tty && !a->json)
		fputs("\033[H\033[2J", stdout);	/* redraw in place, like top */
	err = report_print(stdout, &r, 1, &fmt);
	report_free(&r);
	return err;
}

int cmd_top(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	struct top_args a;
	struct session s;
	uint32_t shown = 0;
	int rc = 0, err;

	err = parse_args(argc, argv, &a);
	if (err)
		return err < 0 ? 0 : err;
	if (preflight_check("top"))
		return 1;
	restore_left_redirects();
	if (kill(a.pid, 0) && errno == ESRCH) {
		fprintf(stderr, "leakbpf top: no process with PID %d visible here: check the PID (ps -e); in a container, leakbpf needs the host's PID namespace (hostPID)\n", a.pid);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = session_open(&s, &a.trace);
	if (err)
		return 1;
	err = session_attach(&s, a.pid);
	if (err) {
		fprintf(stderr, "leakbpf top: %s\n", s.why);
		session_close(&s);
		return 1;
	}
	while (!stop_requested && !s.exited) {
		wait_interval(&s, a.interval);
		if (stop_requested)
			break;
		if (show(&s, &a, isatty(STDOUT_FILENO))) {
			rc = 1;
			break;
		}
		if (a.iterations && ++shown >= a.iterations)
			break;
	}
	if (s.exited)
		fprintf(stderr, "leakbpf top: process %d exited\n", a.pid);
	session_close(&s);
	return rc;
}
