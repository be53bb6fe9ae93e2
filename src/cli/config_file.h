/* SPDX-License-Identifier: MIT */
/*
 * The agent's options from a file (a ConfigMap mounted into the pod): one
 * long option per line, "name = value", "name value" or "name" for a flag;
 * '#' starts a comment. They become command-line options placed before the
 * real ones, so the command line wins and one parser checks both.
 */
#ifndef LEAKBPF_CONFIG_FILE_H
#define LEAKBPF_CONFIG_FILE_H

#include <stddef.h>

/* argv with the file's options after argv[0]; *out_argv and its strings
 * are malloc'd (config_file_free). On failure -errno and one sentence in
 * why naming the file and line. */
int config_file_argv(const char *path, int argc, char **argv, int *out_argc, char ***out_argv,
		     char *why, size_t why_len);
void config_file_free(int argc, char **argv);

#endif
