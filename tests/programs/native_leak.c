/* SPDX-License-Identifier: MIT */
/*
 * Known native leaks for leakbpf's integration tests.
 *
 * Each leaking function uses exactly one allocation API, with its own size
 * and count (the test keeps the same table in EXPECTED_NATIVE):
 *
 *   leak_malloc          malloc(1000)                       x 7  ->  7000 B
 *   leak_calloc          calloc(3, 700)                     x 5  -> 10500 B
 *   leak_realloc         realloc(seed, 3000)                x 4  -> 12000 B
 *                        (seed = malloc(100) in seed_for_realloc, moved/grown)
 *   leak_posix_memalign  posix_memalign(&p, 64, 5000)       x 3  -> 15000 B
 *   leak_aligned_alloc   aligned_alloc(256, 2048)           x 6  -> 12288 B
 *   leak_mmap            mmap(NULL, 40960, anonymous)       x 2  -> 81920 B
 *
 * churn_and_free() allocates with every API and frees everything again, and
 * seed_for_realloc()'s blocks are all handed to realloc: neither function may
 * appear in a leak report.
 *
 * Usage: native_leak [EXIT_STATUS]. Prints "native_leak: done" on stderr
 * (nothing on stdout, so a report on stdout stays parseable).
 * Build: gcc -O0 -g -fno-omit-frame-pointer -o native_leak native_leak.c
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOINLINE __attribute__((noinline))

static void *volatile keep[64];
static int nkeep;

static void hold(void *p)
{
	if (!p || nkeep >= 64) {
		fprintf(stderr, "native_leak: allocation failed\n");
		exit(99);
	}
	memset(p, 0x5a, 1); /* touch it */
	keep[nkeep++] = p;
}

NOINLINE void leak_malloc(void)
{
	for (int i = 0; i < 7; i++)
		hold(malloc(1000));
}

NOINLINE void leak_calloc(void)
{
	for (int i = 0; i < 5; i++)
		hold(calloc(3, 700));
}

NOINLINE void *seed_for_realloc(void)
{
	void *p = malloc(100);
	if (p)
		memset(p, 1, 100);
	return p;
}

NOINLINE void leak_realloc(void)
{
	for (int i = 0; i < 4; i++) {
		void *p = seed_for_realloc();
		hold(realloc(p, 3000));
	}
}

NOINLINE void leak_posix_memalign(void)
{
	for (int i = 0; i < 3; i++) {
		void *p = NULL;
		if (posix_memalign(&p, 64, 5000) != 0)
			p = NULL;
		hold(p);
	}
}

NOINLINE void leak_aligned_alloc(void)
{
	for (int i = 0; i < 6; i++)
		hold(aligned_alloc(256, 2048));
}

NOINLINE void leak_mmap(void)
{
	for (int i = 0; i < 2; i++) {
		void *p = mmap(NULL, 40960, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		hold(p == MAP_FAILED ? NULL : p);
	}
}

NOINLINE void churn_and_free(void)
{
	for (int i = 0; i < 20; i++) {
		void *a = malloc(1111);
		void *b = calloc(11, 101);
		void *c = realloc(NULL, 1313);
		void *d = NULL;
		void *e = aligned_alloc(128, 1408);
		void *f = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (posix_memalign(&d, 32, 1717) != 0)
			d = NULL;
		c = realloc(c, 4444);
		if (!a || !b || !c || !d || !e || f == MAP_FAILED) {
			fprintf(stderr, "native_leak: allocation failed\n");
			exit(99);
		}
		memset(a, 2, 1111);
		memset(c, 3, 4444);
		free(a);
		free(b);
		free(c);
		free(d);
		free(e);
		munmap(f, 8192);
	}
}

int main(int argc, char **argv)
{
	int status = argc > 1 ? atoi(argv[1]) : 0;

	churn_and_free();
	leak_malloc();
	leak_calloc();
	leak_realloc();
	leak_posix_memalign();
	leak_aligned_alloc();
	leak_mmap();
	churn_and_free();
	fprintf(stderr, "native_leak: done\n");
	return status;
}
