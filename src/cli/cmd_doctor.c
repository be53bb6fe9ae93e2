// SPDX-License-Identifier: MIT
/* leakbpf doctor: can leakbpf work here, and on this process? */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "doctor.h"
#include "log.h"

int cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct findings f = { 0 };
	pid_t pid = 0;
	bool json = false, problem = false;
	size_t i;
	int opt, err;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:hv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_pid(optarg, &pid))
				return usage_error("doctor", "--pid takes a process ID, not '%s'", optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			log_set_level(log_get_level() + 1);
			break;
		default:
			err = common_option("doctor", opt, argv);
			return err < 0 ? 0 : err;
		}
	}
	if (optind < argc)
		return usage_error("doctor", "unexpected argument '%s'", argv[optind]);
	doctor_kernel(&f);
	if (pid)
		doctor_process(&f, pid);
	err = findings_print(stdout, &f, json);
	for (i = 0; i < f.n; i++)
		problem |= f.v[i].level == FINDING_PROBLEM;
	findings_free(&f);
	/* problems: leakbpf will not work (as asked); warnings: it will, less */
	return err || problem ? 1 : 0;
}
