/* SPDX-License-Identifier: MIT */
/* Command-line plumbing shared by the subcommands. */
#ifndef LEAKBPF_CLI_H
#define LEAKBPF_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "session.h"

#define EXIT_USAGE 2
#define LEAKBPF_VERSION "0.1.0"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage;	/* full help text */
};

int cmd_record(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_doctor(int argc, char **argv);

/* One line "leakbpf CMD: MESSAGE (see 'leakbpf help CMD')" on stderr;
 * returns EXIT_USAGE for `return usage_error(...)`. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The command table (src/cli/commands.c). */
const struct command *find_command(const char *name);
/* Prints the help of a command to stdout. */
void print_command_help(const char *cmd);
/* Lists the commands. */
void print_overview(FILE *out);
/* One line on stderr, with a suggestion for a near miss; returns EXIT_USAGE. */
int unknown_command(const char *name);

int parse_pid(const char *s, pid_t *out);
int parse_seconds(const char *s, double *out);
/* The options every command treats alike, for the end of its switch:
 * -h (help printed, returns -1), a missing value and an unknown option
 * (one line, returns EXIT_USAGE). */
int common_option(const char *cmd, int opt, char **argv);

/* "90", "90s", "30m", "24h", "7d" -> seconds, within [min, max]. */
int parse_duration(const char *s, double min, double max, double *out);
int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* Options every tracing command takes; their long options start at
 * TRACE_OPT_BASE. TRACE_LONG_OPTIONS goes into a command's option array. */
enum {
	TRACE_OPT_BASE = 1000,
	TRACE_OPT_MAX_ALLOCS,
	TRACE_OPT_MAX_STACKS,
	TRACE_OPT_MAX_DEPTH,
	TRACE_OPT_NATIVE_STACKS,
	TRACE_OPT_NO_REDIRECT,
	TRACE_OPT_MODE,
	TRACE_OPT_MAX_OVERHEAD,
	TRACE_OPT_SEED,
};

#define TRACE_LONG_OPTIONS                                                   \
	{ "max-allocs", required_argument, NULL, TRACE_OPT_MAX_ALLOCS },     \
	{ "max-stacks", required_argument, NULL, TRACE_OPT_MAX_STACKS },     \
	{ "max-depth", required_argument, NULL, TRACE_OPT_MAX_DEPTH },       \
	{ "native-stacks", no_argument, NULL, TRACE_OPT_NATIVE_STACKS },     \
	{ "no-redirect", no_argument, NULL, TRACE_OPT_NO_REDIRECT },         \
	{ "mode", required_argument, NULL, TRACE_OPT_MODE },                 \
	{ "max-overhead", required_argument, NULL, TRACE_OPT_MAX_OVERHEAD }, \
	{ "seed", required_argument, NULL, TRACE_OPT_SEED },                 \
	{ "verbose", no_argument, NULL, 'v' }

#define TRACE_OPTIONS_HELP                                                                \
	"  --mode MODE         sampled: short windows, estimated bytes, bounded cost;\n"     \
	"                      full: every allocation (exact, slow); see each command\n"     \
	"  --max-overhead PCT  sampled: keep leakbpf under PCT% of the target's CPU\n"      \
	"                      time (default 1)\n"                                           \
	"  --seed N            sampled: where windows fall (default fixed)\n"               \
	"  --max-depth N       Python frames kept per stack (1-64, default 64)\n"             \
	"  --max-allocs N      live allocations tracked (default 1048576)\n"                  \
	"  --max-stacks N      distinct stacks tracked (default 65536)\n"                     \
	"  --native-stacks     also capture native stacks under Python frames\n"              \
	"  --no-redirect       never touch the interpreter's allocator table (pymalloc\n"     \
	"                      objects then stay invisible)\n"                                 \
	"  -v, --verbose       more diagnostics on stderr (twice: libbpf too)\n"

void trace_options_defaults(struct session_opts *o);
/* 1 if opt was a tracing option (applied), 0 if not, -1 on a bad value
 * (already reported). */
int trace_option(const char *cmd, int opt, const char *arg, struct session_opts *o);

/* Checks privileges and kernel features before any BPF work; prints one
 * line naming the problem and the fix. 0 or -errno. */
int preflight_check(const char *cmd);
/* The agent's store unless --store says otherwise. */
#define DEFAULT_STORE_DIR "/var/lib/leakbpf"
/* Puts back allocator tables a killed leakbpf left redirected (records in
 * REDIRECT_JOURNAL_DEFAULT_DIR and the default store's): before tracing. */
void restore_left_redirects(void);

#endif
