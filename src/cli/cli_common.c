// SPDX-License-Identifier: MIT
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redirect_journal.h"

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "leakbpf %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'leakbpf help %s')\n", cmd);
	return EXIT_USAGE;
}

int common_option(const char *cmd, int opt, char **argv)
{
	switch (opt) {
	case 'h':
		print_command_help(cmd);
		return -1;
	case ':':
		return usage_error(cmd, "%s needs a value", argv[optind - 1]);
	default:
		return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
	}
}

int parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > 4194304)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.05) || v > 86400)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_duration(const char *s, double min, double max, double *out)
{
	static const struct { char suffix; double seconds; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	char *end;
	double v, scale = 1;
	size_t i;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (*end == units[i].suffix)
				break;
		if (i == sizeof(units) / sizeof(units[0]) || end[1])
			return -EINVAL;
		scale = units[i].seconds;
	}
	v *= scale;
	if (!(v >= min) || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

void trace_options_defaults(struct session_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tracer.max_allocs = 1u << 20;
	o->tracer.max_stacks = 65536;
	o->max_depth = LB_MAX_PY_DEPTH;
	o->measure_cost = true;
	o->max_overhead = 0.01;
	o->seed = 0x6c65616b627066ull;	/* "leakbpf": the same schedule every run unless asked */
}

int trace_option(const char *cmd, int opt, const char *arg, struct session_opts *o)
{
	switch (opt) {
	case TRACE_OPT_MAX_ALLOCS:
		if (parse_u32(arg, 1024, 1u << 26, &o->tracer.max_allocs))
			return usage_error(cmd, "--max-allocs takes a number from 1024 to 67108864, not '%s'", arg), -1;
		return 1;
	case TRACE_OPT_MAX_STACKS:
		if (parse_u32(arg, 64, 1u << 22, &o->tracer.max_stacks))
			return usage_error(cmd, "--max-stacks takes a number from 64 to 4194304, not '%s'", arg), -1;
		return 1;
	case TRACE_OPT_MAX_DEPTH:
		if (parse_u32(arg, 1, LB_MAX_PY_DEPTH, &o->max_depth))
			return usage_error(cmd, "--max-depth takes a number from 1 to %d, not '%s'",
					   LB_MAX_PY_DEPTH, arg), -1;
		return 1;
	case TRACE_OPT_NATIVE_STACKS:
		o->tracer.native_always = true;
		return 1;
	case TRACE_OPT_NO_REDIRECT:
		o->no_redirect = true;
		return 1;
	case TRACE_OPT_MODE:
		if (strcmp(arg, "sampled") && strcmp(arg, "full"))
			return usage_error(cmd, "--mode takes 'sampled' or 'full', not '%s'", arg), -1;
		o->sampled = !strcmp(arg, "sampled");
		return 1;
	case TRACE_OPT_MAX_OVERHEAD: {
		char *end;
		double v;

		errno = 0;
		v = strtod(arg, &end);
		if (errno || end == arg || *end || !(v >= 0.01) || v > 50)
			return usage_error(cmd, "--max-overhead takes a percentage from 0.01 to 50, not '%s'", arg), -1;
		o->max_overhead = v / 100;
		return 1;
	}
	case TRACE_OPT_SEED: {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(arg, &end, 0);
		if (errno || end == arg || *end || *arg == '-')
			return usage_error(cmd, "--seed takes a non-negative integer, not '%s'", arg), -1;
		o->seed = v;
		return 1;
	}
	case 'v':
		log_set_level(log_get_level() + 1);
		return 1;
	default:
		return 0;
	}
}

void restore_left_redirects(void)
{
	/* ours (top, record), then the agent's default store's: a node
	 * whose agent and guardian were killed together is repaired by
	 * whichever leakbpf runs next */
	static const char *const dirs[] = { REDIRECT_JOURNAL_DEFAULT_DIR,
					    DEFAULT_STORE_DIR "/redirects" };
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int err = redirect_journal_replay(dirs[i]);

		if (err < 0 && err != -ENOENT)
			pr_debug("cannot read %s: %s", dirs[i], strerror(-err));
	}
}
