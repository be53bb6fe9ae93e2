// SPDX-License-Identifier: MIT
/* The agent's config file: options in, a line fgets would split refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "testing.h"

static char path[] = "/tmp/leakbpf-config-XXXXXX";

static int parse(const char *text, size_t len, int *argc, char ***argv, char *why, size_t why_len)
{
	char *args[] = { "leakbpf", "--check-config", NULL };
	FILE *f = fopen(path, "w");

	fwrite(text, 1, len, f);
	fclose(f);
	why[0] = '\0';
	return config_file_argv(path, 2, args, argc, argv, why, why_len);
}

static void test_options_become_arguments(void)
{
	const char text[] = "# comment\ninterval = 10s\nstore /var/lib/leakbpf  # where\nverbose\n";
	char why[256], **argv = NULL;
	int argc = 0, err = parse(text, sizeof(text) - 1, &argc, &argv, why, sizeof(why));

	CHECK(err == 0, "err %d: %s", err, why);
	if (err)
		return;
	CHECK(argc == 7, "argc %d", argc);
	CHECK(argc == 7 && !strcmp(argv[1], "--interval") && !strcmp(argv[2], "10s") &&
	      !strcmp(argv[3], "--store") && !strcmp(argv[4], "/var/lib/leakbpf") &&
	      !strcmp(argv[5], "--verbose") && !strcmp(argv[6], "--check-config") && !argv[7],
	      "argv %s %s %s %s", argv[1], argv[2], argv[3], argv[4]);
	config_file_free(argc + 1, argv);
}

/* 5000 bytes on one line: fgets would hand the tail back as a line of its
 * own, an option nobody wrote */
static void test_long_line_is_refused(void)
{
	char *text = malloc(6000), why[256], **argv = NULL;
	int argc = 0, err;
	size_t n;

	n = (size_t)sprintf(text, "interval = 10s\nstore = /");
	memset(text + n, 'a', 4200);
	n += 4200;
	n += (size_t)sprintf(text + n, "pid = 1\n");
	err = parse(text, n, &argc, &argv, why, sizeof(why));
	CHECK(err == -EINVAL, "err %d", err);
	CHECK(strstr(why, ":2: line longer than") != NULL, "why: %s", why);
	free(text);
}

static void test_last_line_without_newline_is_refused(void)
{
	const char text[] = "interval = 10s\nstore = /x";
	char why[256], **argv = NULL;
	int argc = 0, err = parse(text, sizeof(text) - 1, &argc, &argv, why, sizeof(why));

	CHECK(err == -EINVAL, "err %d", err);
	CHECK(strstr(why, ":2: the last line does not end in a newline") != NULL, "why: %s", why);
}

static void test_line_of_4094_bytes_is_taken(void)
{
	char text[4200], why[256], **argv = NULL;
	int argc = 0, err;
	size_t n = (size_t)sprintf(text, "store = /");

	memset(text + n, 'b', 4094 - n);
	text[4094] = '\n';
	err = parse(text, 4095, &argc, &argv, why, sizeof(why));
	CHECK(err == 0 && argc == 4 && strlen(argv[2]) == 4094 - 8, "err %d argc %d: %s", err, argc, why);
	if (!err)
		config_file_free(argc + 1, argv);
}

int main(void)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return 1;
	close(fd);
	test_options_become_arguments();
	test_long_line_is_refused();
	test_last_line_without_newline_is_refused();
	test_line_of_4094_bytes_is_taken();
	unlink(path);
	return tests_summary();
}
