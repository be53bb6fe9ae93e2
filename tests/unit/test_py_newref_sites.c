/* SPDX-License-Identifier: MIT */
/*
 * New-reference sites (src/python/py_newref_sites.c):
 *  - newref_scan on hand-encoded x86-64: the 3.8-3.12 shape (check, then the
 *    store on the flag-is-0 path, across a jump), the 3.13 shape (store,
 *    then check), and near misses that must not count (a store of 2, a
 *    store at an offset, a call before the store);
 *  - newref_sites_find on every interpreter this machine has: the flag is
 *    where the symbol table says, the out-of-line _Py_NewReference (where
 *    there is one) holds a site, and inlined copies are found in the LTO
 *    build. A missing interpreter is a skip that says so.
 */
#include "py_newref_sites.h"
#include "elf_image.h"
#include "leakbpf_shared.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testing.h"

static int skipped;

#define FLAG 0x1000100ull	/* absolute address in the hand-made code */

static void test_after_check(void)
{
	/* 0x400000: cmpl $0, FLAG(abs)   83 3c 25 <disp32> 00
	 *           je +7                 74 07
	 *           call rel32 (tracing)  e8 00 00 00 00
	 *           jmp +0                eb 00   (pad to the je target? no: je lands below)
	 * je target: movq $1, (%r15)      49 c7 07 01 00 00 00 */
	uint8_t code[] = {
		0x83, 0x3c, 0x25, 0x00, 0x01, 0x00, 0x01, 0x00,	/* cmpl $0, 0x1000100 */
		0x74, 0x05,					/* je +5 */
		0xe8, 0x00, 0x00, 0x00, 0x00,			/* call (flag set) */
		0x49, 0xc7, 0x07, 0x01, 0x00, 0x00, 0x00,	/* movq $1, (%r15) */
		0xc3,
	};
	struct newref_sites s = { 0 };
	int err = newref_scan(code, sizeof(code), 0x400000, FLAG, NEWREF_STORE_AFTER_CHECK,
			      NULL, NULL, &s);

	CHECK(!err && s.n == 1, "err %d n %zu", err, s.n);
	if (s.n == 1) {
		/* the probe goes on the branch (emulated), not the store */
		CHECK(s.v[0].vaddr == 0x400008, "site at %#llx", (unsigned long long)s.v[0].vaddr);
		CHECK(s.v[0].reg == LB_REG_R15, "reg %u", s.v[0].reg);
	}
	CHECK(s.flag_reads == 1 && s.unmatched == 0, "reads %zu unmatched %zu", s.flag_reads,
	      s.unmatched);
	newref_sites_free(&s);

	/* jne: the flag-is-0 path falls through, via a jmp to the store */
	uint8_t code2[] = {
		0x8b, 0x04, 0x25, 0x00, 0x01, 0x00, 0x01,	/* mov FLAG, %eax */
		0x85, 0xc0,					/* test %eax, %eax */
		0x75, 0x02,					/* jne +2 */
		0xeb, 0x05,					/* jmp +5 */
		0xe8, 0x00, 0x00, 0x00, 0x00,			/* call */
		0x48, 0xc7, 0x03, 0x01, 0x00, 0x00, 0x00,	/* movq $1, (%rbx) */
		0xc3,
	};
	err = newref_scan(code2, sizeof(code2), 0x400000, FLAG, NEWREF_STORE_AFTER_CHECK,
			  NULL, NULL, &s);
	CHECK(!err && s.n == 1 && s.v[0].reg == LB_REG_RBX && s.v[0].vaddr == 0x400009,
	      "jne shape: n %zu", s.n);
	newref_sites_free(&s);

	/* near misses: $2, an offset, a call first */
	uint8_t miss[] = {
		0x83, 0x3c, 0x25, 0x00, 0x01, 0x00, 0x01, 0x00, 0x74, 0x00,
		0x48, 0xc7, 0x03, 0x02, 0x00, 0x00, 0x00,	/* movq $2, (%rbx) */
		0xc3,
		0x83, 0x3c, 0x25, 0x00, 0x01, 0x00, 0x01, 0x00, 0x74, 0x00,
		0x48, 0xc7, 0x43, 0x08, 0x01, 0x00, 0x00, 0x00,	/* movq $1, 8(%rbx) */
		0xc3,
		0x83, 0x3c, 0x25, 0x00, 0x01, 0x00, 0x01, 0x00, 0x74, 0x00,
		0xe8, 0x00, 0x00, 0x00, 0x00,			/* call */
		0x48, 0xc7, 0x03, 0x01, 0x00, 0x00, 0x00,
		0xc3,
	};
	err = newref_scan(miss, sizeof(miss), 0x400000, FLAG, NEWREF_STORE_AFTER_CHECK,
			  NULL, NULL, &s);
	CHECK(!err && s.n == 0 && s.flag_reads == 3 && s.unmatched == 3,
	      "near misses: n %zu reads %zu unmatched %zu", s.n, s.flag_reads, s.unmatched);
	newref_sites_free(&s);
}

static void test_before_check(void)
{
	uint8_t code[] = {
		0x48, 0xc7, 0x07, 0x01, 0x00, 0x00, 0x00,	/* movq $1, (%rdi) */
		0x48, 0x8b, 0x04, 0x25, 0x00, 0x01, 0x00, 0x01,	/* mov FLAG, %rax */
		0x48, 0x85, 0xc0,				/* test %rax, %rax */
		0x74, 0x00,					/* je (at 0x400012) */
		0xc3,
		0x48, 0xc7, 0x07, 0x01, 0x00, 0x00, 0x00,	/* store, then a call: */
		0xe8, 0x00, 0x00, 0x00, 0x00,			/* not the same object */
		0x48, 0x8b, 0x04, 0x25, 0x00, 0x01, 0x00, 0x01,
		0x48, 0x85, 0xc0, 0x74, 0x00,
		0xc3,
		0x48, 0xc7, 0x07, 0x01, 0x00, 0x00, 0x00,	/* store, then %rdi changes */
		0x48, 0x89, 0xdf,				/* mov %rbx, %rdi */
		0x48, 0x8b, 0x04, 0x25, 0x00, 0x01, 0x00, 0x01,
		0x48, 0x85, 0xc0, 0x74, 0x00,
		0xc3,
	};
	struct newref_sites s = { 0 };
	int err = newref_scan(code, sizeof(code), 0x400000, FLAG, NEWREF_STORE_BEFORE_CHECK,
			      NULL, NULL, &s);

	CHECK(!err && s.n == 1 && s.v[0].vaddr == 0x400012 && s.v[0].reg == LB_REG_RDI,
	      "3.13 shape: n %zu", s.n);
	CHECK(s.flag_reads == 3 && s.unmatched == 2, "reads %zu unmatched %zu", s.flag_reads,
	      s.unmatched);
	newref_sites_free(&s);
}

struct interp {
	const char *path;
	unsigned minor;
	size_t min_sites;	/* inlined copies at least */
};

static const struct interp interps[] = {
	{ "/root/.pyenv/versions/3.8.18/lib/libpython3.8.so.1.0", 8, 20 },
	{ "/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0", 9, 1 },
	{ "/root/.pyenv/versions/3.10.13/lib/libpython3.10.so.1.0", 10, 1 },
	{ "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", 11, 1 },
	{ "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0", 12, 1 },
	{ "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0", 13, 1 },
	{ "/usr/bin/python3.11", 11, 150 },	/* LTO: inlined everywhere */
};

static void test_interpreter(const struct interp *in)
{
	struct elf_image *img;
	struct newref_sites s;
	struct elf_symbol sym;
	size_t i;
	int err;

	if (access(in->path, R_OK)) {
		printf("skip %s: not installed\n", in->path);
		skipped++;
		return;
	}
	err = elf_image_open(in->path, &img);
	CHECK(!err, "open %s: %d", in->path, err);
	if (err)
		return;
	err = newref_sites_find(img, in->minor, &s);
	CHECK(!err, "%s: newref_sites_find %d", in->path, err);
	CHECK(s.n >= in->min_sites, "%s: %zu sites, want >= %zu", in->path, s.n, in->min_sites);
	/* the other readers of the flag are tracemalloc's own functions, a
	 * dozen or two in every build; more means copies went unrecognised */
	CHECK(s.unmatched <= 40, "%s: %zu of %zu checks unmatched", in->path, s.unmatched,
	      s.flag_reads);
	if (!elf_image_find_symbol(img, "_Py_NewReference", &sym) && sym.size) {
		bool inside = false;

		for (i = 0; i < s.n; i++)
			inside |= s.v[i].vaddr >= sym.vaddr && s.v[i].vaddr < sym.vaddr + sym.size;
		CHECK(inside, "%s: no site inside _Py_NewReference", in->path);
	}
	for (i = 0; i < s.n; i++)
		CHECK(s.v[i].reg < LB_REG__COUNT && (!i || s.v[i].vaddr > s.v[i - 1].vaddr),
		      "%s: site %zu", in->path, i);
	printf("%s: %zu sites, %zu checks, %zu unmatched\n", in->path, s.n, s.flag_reads,
	       s.unmatched);
	newref_sites_free(&s);
	elf_image_close(img);
}

/* The second look at the same file comes from the cache: same sites. */
static void test_cache(void)
{
	const char *path = "/usr/bin/python3.11";
	struct newref_sites a, b;
	struct elf_image *img;
	struct timespec t0, t1, t2;
	double first, second;

	if (access(path, R_OK) || elf_image_open(path, &img)) {
		printf("skip cache: %s not installed\n", path);
		skipped++;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(!newref_sites_find_file(path, img, 11, &a), "first scan");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(!newref_sites_find_file(path, img, 11, &b), "second look");
	clock_gettime(CLOCK_MONOTONIC, &t2);
	first = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	second = (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9;
	CHECK(a.n == b.n && a.n && !memcmp(a.v, b.v, a.n * sizeof(*a.v)),
	      "cached sites equal (%zu, %zu)", a.n, b.n);
	CHECK(second * 10 < first, "cached look %.4f s vs scan %.4f s", second, first);
	newref_sites_free(&a);
	newref_sites_free(&b);
	elf_image_close(img);
}

int main(void)
{
	size_t i;

	test_after_check();
	test_before_check();
	for (i = 0; i < sizeof(interps) / sizeof(interps[0]); i++)
		test_interpreter(&interps[i]);
	test_cache();
	printf("%d skipped (interpreters not installed)\n", skipped);
	return tests_summary();
}
