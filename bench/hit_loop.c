// SPDX-License-Identifier: MIT
/* Benchmark: cost of one probe hit. Calls malloc N times (never free, so
 * only malloc's entry and return probes fire) and prints the time of the
 * loop alone. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000, i;
	struct timespec a, b;
	void *volatile p;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++)
		p = malloc(32);
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)p;
	printf("loop_seconds=%.9f iterations=%ld\n",
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9, n);
	return 0;
}
