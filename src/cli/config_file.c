// SPDX-License-Identifier: MIT
#include "config_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int push(char ***v, int *n, int *cap, const char *s)
{
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		char **nv = realloc(*v, (size_t)ncap * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[*n] = s ? strdup(s) : NULL;
	if (s && !(*v)[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

int config_file_argv(const char *path, int argc, char **argv, int *out_argc, char ***out_argv,
		     char *why, size_t why_len)
{
	char line[4096], opt[300];
	char **v = NULL;
	int n = 0, cap = 0, lineno = 0, i, err;
	FILE *f = fopen(path, "re");

	if (!f) {
		err = -errno;
		snprintf(why, why_len, "cannot read the config file %s: %s", path, strerror(errno));
		return err;
	}
	err = push(&v, &n, &cap, argv[0]);
	while (!err && fgets(line, sizeof(line), f)) {
		char *s, *name, *value;

		lineno++;
		/* fgets splits a longer line in two: the second half would be
		 * read as an option of its own */
		if (!strchr(line, '\n')) {
			snprintf(why, why_len,
				 feof(f) ? "%s:%d: the last line does not end in a newline (add one)"
					 : "%s:%d: line longer than %zu bytes (shorten it)",
				 path, lineno, sizeof(line) - 2);
			err = -EINVAL;
			break;
		}
		s = strchr(line, '#');
		if (s)
			*s = '\0';
		s = trim(line);
		if (!*s)
			continue;
		name = s;
		value = name + strcspn(name, " \t=");
		if (*value) {
			*value++ = '\0';
			value = trim(value);
			if (*value == '=')
				value = trim(value + 1);
		}
		if (!isalpha((unsigned char)*name)) {
			snprintf(why, why_len, "%s:%d: '%s' is not an option name (write 'interval = 10s')",
				 path, lineno, name);
			err = -EINVAL;
			break;
		}
		snprintf(opt, sizeof(opt), "--%s", name);
		err = push(&v, &n, &cap, opt);
		if (!err && *value)
			err = push(&v, &n, &cap, value);
	}
	fclose(f);
	for (i = 1; !err && i < argc; i++)
		err = push(&v, &n, &cap, argv[i]);
	if (!err)
		err = push(&v, &n, &cap, NULL);
	if (err) {
		if (err == -ENOMEM)
			snprintf(why, why_len, "out of memory reading %s", path);
		config_file_free(n, v);
		return err;
	}
	*out_argc = n - 1;
	*out_argv = v;
	return 0;
}

void config_file_free(int argc, char **argv)
{
	int i;

	for (i = 0; argv && i < argc; i++)
		free(argv[i]);
	free(argv);
}
