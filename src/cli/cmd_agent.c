// SPDX-License-Identifier: MIT
/* leakbpf agent: trace every CPython process of the machine (or one process
 * tree) continuously, store snapshots, serve metrics; on SIGINT/SIGTERM put
 * every process back as it was. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "config_file.h"
#include "container.h"
#include "log.h"
#include "metrics_server.h"

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

enum {
	OPT_STORE = 2000,
	OPT_RETENTION,
	OPT_METRICS_ADDR,
	OPT_MAX_PROCESSES,
	OPT_CONFIG,
	OPT_CHECK_CONFIG,
	OPT_PODS_DIR,
};

/* --config FILE (or --config=FILE) on the command line, NULL if none. */
static const char *config_path(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--config=", 9))
			return argv[i] + 9;
	}
	return NULL;
}

static int parse_args(int argc, char **argv, struct agent_opts *a, bool *check_only)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "retention", required_argument, NULL, OPT_RETENTION },
		{ "metrics-addr", required_argument, NULL, OPT_METRICS_ADDR },
		{ "max-processes", required_argument, NULL, OPT_MAX_PROCESSES },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "pods-dir", required_argument, NULL, OPT_PODS_DIR },
		{ "help", no_argument, NULL, 'h' },
		TRACE_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	char why[300];
	int opt, r;

	memset(a, 0, sizeof(*a));
	a->interval = 10;
	a->retention = 24 * 3600;
	a->store_dir = DEFAULT_STORE_DIR;
	a->metrics_addr = "127.0.0.1:9433";
	a->max_processes = 256;
	trace_options_defaults(&a->trace);
	a->trace.sampled = true;	/* always on: bounded cost */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:i:n:hv", longopts, NULL)) != -1) {
		r = trace_option("agent", opt, optarg, &a->trace);
		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'p':
			if (parse_pid(optarg, &a->root))
				return usage_error("agent", "--pid takes a process ID, not '%s'", optarg);
			break;
		case 'i':
			if (parse_duration(optarg, 0.5, 3600, &a->interval))
				return usage_error("agent", "--interval takes a duration from 0.5s to 1h (10s, 1m), not '%s'", optarg);
			break;
		case 'n':
			if (parse_u32(optarg, 1, 1u << 30, &a->iterations))
				return usage_error("agent", "-n takes a positive number of snapshots, not '%s'", optarg);
			break;
		case OPT_STORE:
			if (!*optarg)
				return usage_error("agent", "--store takes a directory");
			a->store_dir = optarg;
			break;
		case OPT_RETENTION:
			if (parse_duration(optarg, 60, 366 * 86400.0, &a->retention))
				return usage_error("agent", "--retention takes a duration from 1m to 366d (24h, 7d), not '%s'", optarg);
			break;
		case OPT_METRICS_ADDR:
			a->metrics_addr = strcmp(optarg, "off") ? optarg : NULL;
			break;
		case OPT_CONFIG:
			break;		/* read before parsing: its options are in argv */
		case OPT_CHECK_CONFIG:
			*check_only = true;
			break;
		case OPT_PODS_DIR:
			container_set_pods_dir(optarg);
			break;
		case OPT_MAX_PROCESSES:
			if (parse_u32(optarg, 1, 1000, &a->max_processes))
				return usage_error("agent", "--max-processes takes a number from 1 to 1000, not '%s'", optarg);
			break;
		default:
			return common_option("agent", opt, argv);
		}
	}
	if (optind < argc)
		return usage_error("agent", "unexpected argument '%s'", argv[optind]);
	if (a->metrics_addr && metrics_addr_check(a->metrics_addr, why, sizeof(why)))
		return usage_error("agent", "%s", why);
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	const char *config = config_path(argc, argv);
	char **all = argv, why[400];
	bool check_only = false;
	struct agent_opts opts;
	int nall = argc, err;
	struct agent a;

	if (config && config_file_argv(config, argc, argv, &nall, &all, why, sizeof(why)))
		return usage_error("agent", "%s", why);
	err = parse_args(nall, all, &opts, &check_only);
	if (err || check_only) {
		/* opts point into the file's strings: nothing more to run */
		if (all != argv)
			config_file_free(nall + 1, all);
		if (!err)
			printf("leakbpf agent: configuration accepted%s%s\n", config ? " from " : "",
			       config ? config : "");
		return err < 0 ? 0 : err;
	}
	if (opts.root && kill(opts.root, 0) && errno == ESRCH) {
		fprintf(stderr, "leakbpf agent: no process with PID %d visible here: check the PID (ps -e); in a container, leakbpf needs the host's PID namespace (hostPID)\n",
			opts.root);
		return 1;
	}
	if (preflight_check("agent"))
		return 1;
	restore_left_redirects();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = agent_open(&a, &opts);
	if (!err) {
		fprintf(stderr, "leakbpf agent: following %s; a snapshot every %g s into %s/leakbpf.db%s%s%s\n",
			opts.root ? "the process tree given" : "every CPython process", opts.interval,
			opts.store_dir, opts.metrics_addr ? "; metrics on http://" : "",
			opts.metrics_addr ? opts.metrics_addr : "", opts.metrics_addr ? "/metrics" : "");
		err = agent_run(&a, &stop_requested);
	}
	agent_close(&a);
	if (all != argv)
		config_file_free(nall + 1, all);
	return err ? 1 : 0;
}
