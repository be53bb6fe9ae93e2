/* SPDX-License-Identifier: MIT */
/*
 * test_linetable [MINOR CASES_FILE]
 *
 * Hand-written cases for py_linetable_line, then, if given, every case that
 * gen_linetable_cases.py wrote for a CPython 3.MINOR interpreter. Each table
 * is copied to the edge of a PROT_NONE page (after it, then before it) so a
 * read outside table[0..len) crashes the test instead of passing unnoticed.
 * Ends with one line "N passed, N failed"; exits 1 on any failure.
 */
#define _GNU_SOURCE
#include "linetable.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned long passed, failed;

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	if (++failed <= 50) {
		fputs("FAIL: ", stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		putchar('\n');
	}
}

/* A copy of src ending right before (after=1) or starting right after
 * (after=0) an inaccessible page. */
struct guarded {
	uint8_t *map, *p;
	size_t maplen;
};

static void guard(struct guarded *g, const uint8_t *src, size_t len, int after)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = len ? (len + pg - 1) / pg * pg : pg;

	g->maplen = body + pg;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (after) {
		mprotect(g->map + body, pg, PROT_NONE);
		g->p = g->map + body - len;
	} else {
		mprotect(g->map, pg, PROT_NONE);
		g->p = g->map + pg;
	}
	if (src && len)
		memcpy(g->p, src, len);
}

static void unguard(struct guarded *g)
{
	munmap(g->map, g->maplen);
}

/* The same table guarded both ways; every lookup runs on both copies. */
struct table {
	struct guarded a, b;
	const uint8_t *t;
	size_t len;
};

static void table_init(struct table *tb, const uint8_t *t, size_t len)
{
	guard(&tb->a, t, len, 1);
	guard(&tb->b, t, len, 0);
	tb->t = t;
	tb->len = len;
}

static void table_free(struct table *tb)
{
	unguard(&tb->a);
	unguard(&tb->b);
}

/* Both copies must agree; -999 if they don't. */
static int table_line(const struct table *tb, unsigned minor, int first, int off, int *line)
{
	int la = -7, lb = -7, ra, rb;

	ra = py_linetable_line(minor, tb->t ? tb->a.p : NULL, tb->len, first, off, &la);
	rb = py_linetable_line(minor, tb->t ? tb->b.p : NULL, tb->len, first, off, &lb);
	if (ra != rb || (!ra && la != lb))
		return -999;
	*line = la;
	return ra;
}

static int lookup(unsigned minor, const uint8_t *t, size_t len, int first, int off, int *line)
{
	struct table tb;
	int rc;

	table_init(&tb, t, len);
	rc = table_line(&tb, minor, first, off, line);
	table_free(&tb);
	return rc;
}

static void expect(unsigned minor, const uint8_t *t, size_t len, int first, int off, int want_rc,
		   int want_line, const char *what)
{
	int line = -7, rc = lookup(minor, t, len, first, off, &line);

	check(rc == want_rc && (rc || line == want_line),
	      "3.%u %s offset %d: rc %d line %d, want rc %d line %d", minor, what, off, rc, line,
	      want_rc, want_line);
}

static void hand_cases(void)
{
	/* Objects/lnotab_notes.txt's example: (0,1) (6,2) (50,7) (350,207) (361,208),
	 * with the 300/200 jump split as the compiler does. */
	static const uint8_t lnotab[] = { 6, 1, 44, 5, 255, 0, 45, 127, 0, 73, 11, 1 };
	static const uint8_t lnotab_neg[] = { 2, 5, 2, 0xfb };
	/* 3.10: [0,4) +0, [4,6) no line, [6,12) +2, two empty +127 steps,
	 * [12,14) -100, [14,268) +1. */
	static const uint8_t lt310[] = { 4, 0, 2, 0x80, 6, 2, 0, 127, 0, 127, 2, 0x9c, 254, 1 };
	/* 3.11+: short (1 unit), one-line +1 (2 units), no-column -70 (1 unit,
	 * 2-byte svarint), long +300 (3 units, col 199), none (2 units), short. */
	static const uint8_t loc[] = { 0x88, 0x05, 0xd9, 0x04, 0x08, 0xe8, 0x4d, 0x02,
				       0xf2, 0x58, 0x09, 0x00, 0x48, 0x03, 0x01, 0xf9, 0x80, 0x00 };
	static const struct { const char *what; uint8_t t[8]; size_t len; } bad_loc[] = {
		{ "no entry bit", { 0x08 }, 1 },
		{ "truncated varint", { 0xe8, 0x4d }, 2 },
		{ "varint runs into entry", { 0xe8, 0x4d, 0x82 }, 3 },
		{ "one-line missing column", { 0xd9, 0x04 }, 2 },
		{ "short missing byte", { 0x88 }, 1 },
		{ "long missing end col", { 0xf2, 0x58, 0x09, 0x00, 0x48, 0x03 }, 6 },
		{ "7-group varint", { 0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01 }, 8 },
		{ "varint > 32 bits", { 0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f }, 7 },
		{ "line > INT_MAX", { 0xe8, 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x03 }, 7 },
		{ "line < 0", { 0xe8, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x03 }, 7 },
	};
	static const uint8_t lazy[] = { 0x88, 0x05, 0x00 };
	static const uint8_t odd[] = { 2 };
	unsigned m;
	int line;

	for (m = 0; m < 20; m++) {
		if (m >= 8 && m <= 14)
			continue;
		expect(m, lnotab, sizeof(lnotab), 1, 0, -EINVAL, 0, "unsupported minor");
	}
	for (m = 8; m <= 14; m++) {
		check(py_linetable_line(m, lnotab, sizeof(lnotab), 1, 0, NULL) == -EINVAL,
		      "3.%u NULL line accepted", m);
		expect(m, NULL, 3, 1, 0, -EINVAL, 0, "NULL table with length");
		expect(m, NULL, 0, 42, -1, 0, 42, "not started, NULL table");
		expect(m, lnotab, sizeof(lnotab), 42, -1, 0, 42, "not started");
		expect(m, lnotab, sizeof(lnotab), 42, -2, 0, 42, "negative");
		expect(m, lnotab, sizeof(lnotab), 42, INT_MIN, 0, 42, "INT_MIN");
		/* 3.8/3.9: an empty lnotab means all code is on firstlineno. */
		expect(m, odd, 0, 42, 0, m <= 9 ? 0 : -ERANGE, 42, "empty table");
		expect(m, odd, 0, 42, 1000, m <= 9 ? 0 : -ERANGE, 42, "empty table");
		if (m <= 10)
			expect(m, odd, sizeof(odd), 42, 0, -EINVAL, 0, "odd length");
	}
	for (m = 8; m <= 9; m++) {
		static const int off[] = { 0, 4, 6, 48, 50, 348, 350, 360, 361, 362, 100000 };
		static const int want[] = { 1, 1, 2, 2, 7, 7, 207, 207, 208, 208, 208 };

		for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
			expect(m, lnotab, sizeof(lnotab), 1, off[i], 0, want[i], "lnotab_notes");
		expect(m, lnotab_neg, sizeof(lnotab_neg), 10, 0, 0, 10, "negative delta");
		expect(m, lnotab_neg, sizeof(lnotab_neg), 10, 2, 0, 15, "negative delta");
		expect(m, lnotab_neg, sizeof(lnotab_neg), 10, 4, 0, 10, "negative delta");
		expect(m, lnotab_neg, sizeof(lnotab_neg), 10, 9999, 0, 10, "negative delta");
	}
	{
		static const int off[] = { 0, 3, 4, 5, 6, 11, 12, 13, 14, 267, 268, 100000 };
		static const int want[] = { 50, 50, 0, 0, 52, 52, 206, 206, 207, 207, -ERANGE, -ERANGE };

		for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
			expect(10, lt310, sizeof(lt310), 50, off[i], want[i] < 0 ? want[i] : 0,
			       want[i], "3.10 table");
		expect(10, lt310, 4, 50, 6, -ERANGE, 0, "3.10 prefix");
	}
	for (m = 11; m <= 14; m++) {
		static const int off[] = { 0, 1, 2, 5, 6, 7, 8, 13, 14, 17, 18, 19, 20, 1000 };
		static const int want[] = { 100, 100, 101, 101, 31, 31, 331, 331,
					    0, 0, 331, 331, -ERANGE, -ERANGE };

		for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
			expect(m, loc, sizeof(loc), 100, off[i], want[i] < 0 ? want[i] : 0,
			       want[i], "location table");
		for (size_t i = 0; i < sizeof(bad_loc) / sizeof(bad_loc[0]); i++)
			expect(m, bad_loc[i].t, bad_loc[i].len, 100, 0, -EINVAL, 0, bad_loc[i].what);
		/* Decoding stops at the target's entry: later damage is not seen. */
		expect(m, lazy, sizeof(lazy), 100, 0, 0, 100, "damage after target");
		expect(m, lazy, sizeof(lazy), 100, 2, -EINVAL, 0, "damage at target");
		check(lookup(m, loc, sizeof(loc), 1, 6, &line) == -EINVAL,
		      "3.%u line 1 - 70 < 0 not rejected", m);
	}
}

/* Random tables: no crash (the guard pages), only the documented results. */
static void fuzz(void)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	uint8_t t[48];

	for (unsigned m = 8; m <= 14; m++) {
		int ok = 1;

		for (int round = 0; round < 500; round++) {
			size_t len = round % sizeof(t);

			for (size_t i = 0; i < len; i++) {
				s ^= s << 13, s ^= s >> 7, s ^= s << 17;
				t[i] = (uint8_t)s;
				if (m >= 11 && (s >> 40) % 3 == 0)
					t[i] |= 0x80;	/* more plausible entries */
			}
			struct table tb;

			table_init(&tb, t, len);
			for (int off = -1; off < 140; off++) {
				int line = -7, rc = table_line(&tb, m, 7, off, &line);

				if (!(rc == -EINVAL || rc == -ERANGE || (rc == 0 && line >= 0)))
					ok = 0;
			}
			table_free(&tb);
		}
		check(ok, "3.%u fuzz: undocumented result", m);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Checks one code object: every code unit, the ends, and truncated copies. */
static void check_code(unsigned minor, const char *name, int first, int nbytes,
		       const uint8_t *t, size_t len, const int *want)
{
	int nunits = nbytes / 2, line, rc;
	struct table tb;

	table_init(&tb, t, len);
	for (int u = 0; u < nunits; u++) {
		rc = table_line(&tb, minor, first, 2 * u, &line);
		check(rc == 0 && line == want[u], "3.%u %s offset %d: rc %d line %d, want %d",
		      minor, name, 2 * u, rc, line, want[u]);
	}
	table_free(&tb);
	expect(minor, t, len, first, -1, 0, first, name);
	/* A 3.8/3.9 lnotab has no end: the last line runs on. */
	expect(minor, t, len, first, nbytes, minor <= 9 ? 0 : -ERANGE,
	       nunits ? want[nunits - 1] : first, name);

	/* Truncated copies (as a short read of the target would give) must fail
	 * or give the full table's answer; 3.8/3.9 can only catch odd lengths. */
	size_t step = len > 64 ? len / 64 : 1;
	int ustep = nunits > 128 ? nunits / 128 : 1, ok = 1;

	for (size_t p = 0; p < len; p += step) {
		table_init(&tb, t, p);
		for (int u = 0; u < nunits; u += ustep) {
			rc = table_line(&tb, minor, first, 2 * u, &line);
			if (minor <= 9)
				ok &= (p & 1) ? rc == -EINVAL : rc == 0;
			else
				ok &= rc == -EINVAL || rc == -ERANGE || (rc == 0 && line == want[u]);
		}
		table_free(&tb);
	}
	check(ok, "3.%u %s: truncated table gave a wrong answer", minor, name);
}

static int run_file(unsigned minor, const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, *save, *tok;
	size_t cap = 0;
	unsigned ncodes = 0;
	int lineno = 0;

	if (!f) {
		perror(path);
		return -1;
	}
	while (getline(&buf, &cap, f) > 0) {
		lineno++;
		tok = strtok_r(buf, " \n", &save);
		if (!tok)
			continue;
		if (!strcmp(tok, "minor")) {
			tok = strtok_r(NULL, " \n", &save);
			check(tok && strtoul(tok, NULL, 10) == minor,
			      "%s: cases are for 3.%s, not 3.%u", path, tok ? tok : "?", minor);
			continue;
		}
		if (strcmp(tok, "code"))
			goto bad;

		char *name = strtok_r(NULL, " \n", &save);
		char *sfirst = strtok_r(NULL, " \n", &save);
		char *snbytes = strtok_r(NULL, " \n", &save);
		char *hex = strtok_r(NULL, " \n", &save);

		if (!name || !sfirst || !snbytes || !hex)
			goto bad;

		int first = atoi(sfirst), nbytes = atoi(snbytes), n = 0;
		size_t len = strcmp(hex, "-") ? strlen(hex) / 2 : 0;
		uint8_t *t = malloc(len + 1);
		int *want = malloc(sizeof(int) * (size_t)(nbytes / 2 + 1));

		if (!t || !want)
			exit(2);
		for (size_t i = 0; i < len; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

			if (hi < 0 || lo < 0)
				goto bad;
			t[i] = (uint8_t)(hi << 4 | lo);
		}
		while ((tok = strtok_r(NULL, " \n", &save)) && n < nbytes / 2)
			want[n++] = atoi(tok);
		if (n != nbytes / 2 || tok)
			goto bad;
		check_code(minor, name, first, nbytes, t, len, want);
		free(t);
		free(want);
		ncodes++;
	}
	free(buf);
	fclose(f);
	check(ncodes > 0, "%s: no code objects", path);
	return 0;
bad:
	fprintf(stderr, "%s:%d: malformed case line\n", path, lineno);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc != 1 && argc != 3) {
		fprintf(stderr, "usage: %s [MINOR CASES_FILE]\n", argv[0]);
		return 2;
	}
	hand_cases();
	fuzz();
	if (argc == 3)
		check(run_file((unsigned)strtoul(argv[1], NULL, 10), argv[2]) == 0,
		      "cannot read %s", argv[2]);
	printf("%lu passed, %lu failed\n", passed, failed);
	return failed ? 1 : 0;
}
