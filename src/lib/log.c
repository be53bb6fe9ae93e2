// SPDX-License-Identifier: MIT
#include "log.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>

static int current_level = LOG_WARN;

void log_set_level(int level)
{
	current_level = level;
}

int log_get_level(void)
{
	return current_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > current_level)
		return;
	fputs("leakbpf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf is chatty at INFO; its warnings matter only when debugging
	 * because every failure it reports is also reported by our caller */
	if (current_level < LOG_DEBUG && level != LIBBPF_WARN)
		return 0;
	if (current_level < LOG_INFO)
		return 0;
	fputs("libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

void log_install_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
