// SPDX-License-Identifier: MIT
/* The subcommand table: names, handlers and help texts, defined once and
 * used by main, `leakbpf help` and every command's --help. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct command commands[] = {
	{ "record", cmd_record, "run a command traced from its start; report what it leaves allocated",
	  "usage: leakbpf record [OPTIONS] -- CMD [ARGS...]\n"
	  "\n"
	  "Runs CMD traced from its first instruction. When the Python program\n"
	  "finishes (before the interpreter tears its modules down), or when a\n"
	  "native program exits, prints the allocations still outstanding, ranked\n"
	  "by bytes, one row per stack, innermost frame first. Exits with CMD's\n"
	  "exit status. Traces every allocation (--mode full) unless told otherwise.\n"
	  "\n"
	  "  --json              JSON instead of text\n"
	  "  -o, --output FILE   write the report to FILE instead of stdout\n"
	  "  --limit N           rows shown (default 10, 0 = all)\n"
	  TRACE_OPTIONS_HELP },
	{ "agent", cmd_agent, "trace every CPython process (or a process tree) continuously into a store",
	  "usage: leakbpf agent [--pid PID] [OPTIONS]\n"
	  "\n"
	  "Traces every CPython process of the machine, or with --pid the process\n"
	  "and all its descendants, present and future: a new gunicorn worker is\n"
	  "traced from its first request, a dead one let go. Every interval each\n"
	  "process's outstanding bytes per Python stack and its memory (RSS, PSS,\n"
	  "USS, shared) go into the store; 'leakbpf diff' reads it. Samples by\n"
	  "default (bounded cost); SIGINT/SIGTERM detach and restore everything.\n"
	  "\n"
	  "  -p, --pid PID          trace PID and its descendants (default: every CPython)\n"
	  "  -i, --interval D       time between snapshots (default 10s)\n"
	  "  --store DIR            where the store lives (default /var/lib/leakbpf)\n"
	  "  --retention D          how long snapshots are kept (default 24h); older than\n"
	  "                         1h are thinned to one a minute, older than 6h to one\n"
	  "                         every 5 minutes\n"
	  "  --metrics-addr ADDR    Prometheus endpoint (default 127.0.0.1:9433; 'off')\n"
	  "  --max-processes N      processes traced at once (default 256)\n"
	  "  --pods-dir DIR         the kubelet's pod log directory, NAMESPACE_NAME_UID\n"
	  "                         entries: pod names where a pod's files do not say\n"
	  "                         (default /var/log/pods)\n"
	  "  -n, --iterations N     stop after N snapshots (scripts, tests)\n"
	  "  --config FILE          options from FILE, one per line: 'interval = 10s'\n"
	  "                         ('#' comments; the command line wins)\n"
	  "  --check-config         check the options (and FILE) and exit: 0 if accepted\n"
	  "  durations: 90, 90s, 30m, 24h, 7d\n"
	  TRACE_OPTIONS_HELP },
	{ "diff", cmd_diff, "what grew over a time window, per process, from the agent's store",
	  "usage: leakbpf diff --window D [--store DIR] [--pid PID | --all] [OPTIONS]\n"
	  "\n"
	  "For each process in the store (grouped under its gunicorn master), the\n"
	  "stacks ranked by growth of outstanding bytes between the snapshot nearest\n"
	  "to now-window and the latest one, each with a verdict from the series in\n"
	  "the window: growing steadily, grew then flat (warm-up), shrinking or noise.\n"
	  "A process that started inside the window is compared against zero.\n"
	  "\n"
	  "  -w, --window D        how far back (30m, 2h, 1d)\n"
	  "  --store DIR           the agent's store (default /var/lib/leakbpf)\n"
	  "  -p, --pid PID         this process (a master: with its workers)\n"
	  "  --all                 every process in the store (the default)\n"
	  "  --limit N             rows per process (default 10, 0 = all)\n"
	  "  --json                same as --format json\n"
	  "  --format F            text (default), json, collapsed (FlameGraph folded\n"
	  "                        growth), pprof (gzipped profile.proto: go tool pprof)\n"
	  "  --output FILE         write there instead of stdout (pprof is binary)\n" },
	{ "doctor", cmd_doctor, "what this machine and a process allow leakbpf to do",
	  "usage: leakbpf doctor [--pid PID] [--json]\n"
	  "\n"
	  "Checks the kernel (BTF, uprobes, ring buffers, lockdown, uprobe_multi and\n"
	  "sessions, a uprobe trap's cost, BPF statistics), leakbpf's privileges and,\n"
	  "with --pid, the process: its Python and build, the coverage leakbpf will\n"
	  "have and why, PYTHONMALLOC, debug hooks and tracemalloc, its container,\n"
	  "gunicorn master/worker and --preload, and which workers a SIGUSR1 or\n"
	  "SIGUSR2 would kill. One line a finding: ok, warning or problem, and what\n"
	  "to do. Exit 1 if there is a problem.\n"
	  "\n"
	  "  -p, --pid PID   also check this process (a gunicorn master: its workers too)\n"
	  "  --json          {\"findings\":[{\"level\",\"subject\",\"check\",\"message\",\"fix\"}]}\n"
	  "  -v, --verbose   more diagnostics on stderr\n" },
	{ "top", cmd_top, "live view of a running process's outstanding allocations",
	  "usage: leakbpf top --pid PID [OPTIONS]\n"
	  "\n"
	  "Attaches to a running process and every S seconds prints its outstanding\n"
	  "allocations ranked by bytes (or by growth), with the change since the\n"
	  "previous refresh. Ctrl-C detaches and leaves the process as it was.\n"
	  "Samples by default (--mode sampled): bytes are estimates, marked '~', and\n"
	  "leakbpf keeps its cost under --max-overhead; --mode full counts exactly.\n"
	  "\n"
	  "  -p, --pid PID       process to watch\n"
	  "  -i, --interval S    seconds between refreshes (default 5, fractions allowed)\n"
	  "  -n, --iterations N  stop after N refreshes (-n 1: print once, for scripts)\n"
	  "  --sort KEY          bytes (default) or growth\n"
	  "  --json              one JSON document per refresh, one per line\n"
	  "  --limit N           rows shown (default 10, 0 = all)\n"
	  TRACE_OPTIONS_HELP },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* Edit distance, for "did you mean" on a mistyped command. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev[64], cur[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

void print_overview(FILE *out)
{
	size_t i;

	fprintf(out, "usage: leakbpf COMMAND [OPTIONS]\n\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "  %-8s %s\n", "help", "show the help of a command");
	fprintf(out, "  %-8s %s\n", "version", "print leakbpf's version");
	fprintf(out, "\n'leakbpf help COMMAND' (or 'leakbpf COMMAND --help') for details.\n");
}

void print_command_help(const char *name)
{
	const struct command *c = find_command(name);

	if (c)
		fputs(c->usage, stdout);
}

int unknown_command(const char *name)
{
	const char *best = NULL;
	size_t i, bestd = 3;

	for (i = 0; i < NCOMMANDS; i++) {
		size_t d = distance(name, commands[i].name);

		if (d < bestd) {
			bestd = d;
			best = commands[i].name;
		}
	}
	if (best)
		fprintf(stderr, "leakbpf: unknown command '%s': did you mean '%s'?\n", name, best);
	else
		fprintf(stderr, "leakbpf: unknown command '%s' (see 'leakbpf help')\n", name);
	return EXIT_USAGE;
}

