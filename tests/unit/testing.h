/* SPDX-License-Identifier: MIT */
/* A dozen lines of test harness: CHECK records, the summary line is the one
 * CI and tests/unit/run.sh read ("N passed, N failed"). */
#ifndef LEAKBPF_TESTING_H
#define LEAKBPF_TESTING_H

#include <stdio.h>

static int tests_passed, tests_failed;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (cond) {                                               \
			tests_passed++;                                   \
		} else {                                                  \
			tests_failed++;                                   \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,     \
				__LINE__, #cond);                         \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
	} while (0)

static inline int tests_summary(void)
{
	printf("%d passed, %d failed\n", tests_passed, tests_failed);
	return tests_failed ? 1 : 0;
}

#endif
