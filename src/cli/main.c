// SPDX-License-Identifier: MIT
/* leakbpf: which Python line keeps memory alive, watched from outside. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"

int main(int argc, char **argv)
{
	const struct command *c;
	int rc;

	log_install_libbpf();
	if (argc < 2) {
		print_overview(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("leakbpf %s\n", LEAKBPF_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		if (argc < 3 || argv[1][0] == '-') {
			print_overview(stdout);
			return 0;
		}
		if (!find_command(argv[2]))
			return unknown_command(argv[2]);
		print_command_help(argv[2]);
		return 0;
	}
	c = find_command(argv[1]);
	if (!c)
		return unknown_command(argv[1]);
	rc = c->run(argc - 1, argv + 1);
	/* data went to stdout: a full disk or closed pipe must not pass silently */
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "leakbpf %s: writing the output failed: %s\n", c->name, strerror(errno));
		return rc ? rc : 1;
	}
	return rc;
}
