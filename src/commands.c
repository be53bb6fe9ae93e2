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

