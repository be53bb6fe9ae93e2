// SPDX-License-Identifier: MIT
/* Folded text checked byte for byte; the pprof file gunzipped and decoded by
 * a small protobuf reader here, independent of the writer's encoder. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "profile_export.h"
#include "testing.h"

/* ---- shared rows ---- */

static const struct export_frame stack_a[] = {	/* innermost first */
	{ "app/a.py", "alloc", 10 },
	{ "app/m.py", "main", 3 },
};
static const struct export_frame stack_native[] = {
	{ "libc.so.6", "native_alloc", 0 },
	{ "app/m.py", "main", 3 },
};
static const struct export_frame stack_odd[] = { { "we\nird.py", "f;g", 5 } };
/* the same frame as stack_odd once escaped */
static const struct export_frame stack_odd2[] = { { "we ird.py", "f:g", 5 } };

#define ROW(r, s, n, bd) { .root = (r), .frames = (s), .nframes = (n), .bytes_delta = (bd) }

static char *collapsed(const struct export_row *rows, size_t n, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*rc = export_collapsed(f, rows, n);
	fclose(f);
	return buf;
}

static void test_collapsed(void)
{
	const struct export_row rows[] = {
		ROW("app 1", stack_a, 2, 100),
		ROW("app 2", stack_odd, 1, 7),
		ROW("app 1", stack_a, 2, 0),		/* no growth: left out */
		ROW("app 1", stack_native, 2, -5),	/* shrank: left out */
		ROW("app 1", stack_a, 2, 50),		/* adds to the first */
		ROW("app 2", stack_odd2, 1, 3),		/* equal once escaped */
		ROW("app 1", stack_native, 2, 20),
		ROW(NULL, NULL, 0, 1),			/* nothing known */
		ROW("x;y\nz", stack_a, 1, 2),		/* escaped root */
		ROW(NULL, stack_a, 1, 4),		/* no root */
		ROW("", stack_native, 1, 6),		/* empty root = none */
	};
	const char *want =
		"app 1;main (app/m.py:3);alloc (app/a.py:10) 150\n"
		"app 2;f:g (we ird.py:5) 10\n"
		"app 1;main (app/m.py:3);native_alloc (libc.so.6) 20\n"
		"[unknown] 1\n"
		"x:y z;alloc (app/a.py:10) 2\n"
		"alloc (app/a.py:10) 4\n"
		"native_alloc (libc.so.6) 6\n";
	int rc;
	char *got = collapsed(rows, sizeof(rows) / sizeof(rows[0]), &rc);

	CHECK(rc == 0, "rc %d", rc);
	CHECK(got && !strcmp(got, want), "got:\n%s", got ? got : "(null)");
	free(got);

	got = collapsed(rows, 0, &rc);
	CHECK(rc == 0 && got && !*got, "no rows, no lines: '%s'", got ? got : "(null)");
	free(got);
}

/* A stream that takes the bytes into its buffer and fails on the flush. */
static void test_write_errors(void)
{
	const struct export_row row = ROW("app", stack_a, 2, 1);
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		return;
	CHECK(export_collapsed(f, &row, 1) == -EIO, "collapsed to a full disk");
	clearerr(f);
	CHECK(export_pprof(f, &row, 1, 1, 1) == -EIO, "pprof to a full disk");
	fclose(f);
}

/* ---- a protobuf reader, just enough for profile.proto ---- */

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;
	int shift;

	for (shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		v |= (uint64_t)(*r->p & 0x7f) << shift;
		if (!(*r->p++ & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

/* Next field: a varint into *v, or a length-delimited body into *sub. */
static bool rd_field(struct rd *r, unsigned *field, unsigned *wire, uint64_t *v, struct rd *sub)
{
	uint64_t key, len;

	if (r->bad || r->p >= r->end)
		return false;
	key = rd_varint(r);
	*field = key >> 3;
	*wire = key & 7;
	if (*wire == 0) {
		*v = rd_varint(r);
	} else if (*wire == 2) {
		len = rd_varint(r);
		if (len > (uint64_t)(r->end - r->p)) {
			r->bad = true;
			return false;
		}
		*sub = (struct rd){ r->p, r->p + len, false };
		r->p += len;
	} else {
		r->bad = true;	/* the writer uses no other wire type */
	}
	return !r->bad;
}

#define MAXN 32

struct t_sample {
	uint64_t loc[MAXN];
	size_t nloc;
	int64_t val[MAXN];
	size_t nval;
	int64_t label_key, label_str;
	size_t nlabels;
};

struct t_location {
	uint64_t id, mapping_id, function_id;
	int64_t line;
	size_t nlines;
};

struct t_function {
	uint64_t id;
	int64_t name, filename;
};

struct t_profile {
	int64_t st_type[MAXN], st_unit[MAXN];
	size_t nst;
	struct t_sample s[MAXN];
	size_t ns;
	struct t_location l[MAXN];
	size_t nl;
	struct t_function f[MAXN];
	size_t nf;
	char *str[MAXN];
	size_t nstr;
	uint64_t mapping_id[MAXN], mapping_flags[MAXN];	/* flags: bit n = field n */
	size_t nmappings;
	int64_t time_nanos, duration_nanos, period, pt_type, pt_unit, default_type;
	bool unpacked, bad;
};

static void read_value_type(struct rd r, int64_t *type, int64_t *unit)
{
	unsigned field, wire;
	uint64_t v = 0;
	struct rd sub;

	while (rd_field(&r, &field, &wire, &v, &sub)) {
		if (field == 1 && wire == 0)
			*type = v;
		else if (field == 2 && wire == 0)
			*unit = v;
	}
}

/* Packed only: the brief wants proto3's encoding of repeated scalars. */
static size_t read_packed(struct rd sub, unsigned wire, uint64_t *out, bool *unpacked)
{
	size_t n = 0;

	if (wire != 2) {
		*unpacked = true;
		return 0;
	}
	while (sub.p < sub.end && !sub.bad && n < MAXN)
		out[n++] = rd_varint(&sub);
	return n;
}

static void read_sample(struct rd r, struct t_sample *s, bool *unpacked)
{
	unsigned field, wire, f2, w2;
	uint64_t v = 0, v2 = 0, vals[MAXN];
	struct rd sub, sub2;
	size_t i;

	while (rd_field(&r, &field, &wire, &v, &sub)) {
		if (field == 1) {
			s->nloc = read_packed(sub, wire, s->loc, unpacked);
		} else if (field == 2) {
			s->nval = read_packed(sub, wire, vals, unpacked);
			for (i = 0; i < s->nval; i++)
				s->val[i] = (int64_t)vals[i];
		} else if (field == 3 && wire == 2) {
			s->nlabels++;
			while (rd_field(&sub, &f2, &w2, &v2, &sub2)) {
				if (f2 == 1)
					s->label_key = v2;
				else if (f2 == 2)
					s->label_str = v2;
			}
		}
	}
}

static void read_location(struct rd r, struct t_location *l)
{
	unsigned field, wire, f2, w2;
	uint64_t v = 0, v2 = 0;
	struct rd sub, sub2;

	while (rd_field(&r, &field, &wire, &v, &sub)) {
		if (field == 1 && wire == 0) {
			l->id = v;
		} else if (field == 2 && wire == 0) {
			l->mapping_id = v;
		} else if (field == 4 && wire == 2) {
			l->nlines++;
			while (rd_field(&sub, &f2, &w2, &v2, &sub2)) {
				if (f2 == 1)
					l->function_id = v2;
				else if (f2 == 2)
					l->line = v2;
			}
		}
	}
}

static void read_function(struct rd r, struct t_function *f)
{
	unsigned field, wire;
	uint64_t v = 0;
	struct rd sub;

	while (rd_field(&r, &field, &wire, &v, &sub)) {
		if (field == 1)
			f->id = v;
		else if (field == 2)
			f->name = v;
		else if (field == 4)
			f->filename = v;
	}
}

static void read_mapping(struct rd r, uint64_t *id, uint64_t *flags)
{
	unsigned field, wire;
	uint64_t v = 0;
	struct rd sub;

	while (rd_field(&r, &field, &wire, &v, &sub)) {
		if (field == 1)
			*id = v;
		else if (field >= 7 && field <= 10 && v)
			*flags |= 1u << field;
	}
}

static void read_profile(struct rd r, struct t_profile *p)
{
	unsigned field, wire;
	uint64_t v = 0;
	struct rd sub;

	while (rd_field(&r, &field, &wire, &v, &sub)) {
		if (field == 1 && p->nst < MAXN)
			read_value_type(sub, &p->st_type[p->nst], &p->st_unit[p->nst]), p->nst++;
		else if (field == 2 && p->ns < MAXN)
			read_sample(sub, &p->s[p->ns++], &p->unpacked);
		else if (field == 3 && wire == 2 && p->nmappings < MAXN)
			read_mapping(sub, &p->mapping_id[p->nmappings],
				     &p->mapping_flags[p->nmappings]), p->nmappings++;
		else if (field == 4 && p->nl < MAXN)
			read_location(sub, &p->l[p->nl++]);
		else if (field == 5 && p->nf < MAXN)
			read_function(sub, &p->f[p->nf++]);
		else if (field == 6 && wire == 2 && p->nstr < MAXN)
			p->str[p->nstr++] = strndup((const char *)sub.p, sub.end - sub.p);
		else if (field == 9)
			p->time_nanos = v;
		else if (field == 10)
			p->duration_nanos = v;
		else if (field == 11)
			read_value_type(sub, &p->pt_type, &p->pt_unit);
		else if (field == 12)
			p->period = v;
		else if (field == 14)
			p->default_type = v;
	}
	p->bad = r.bad || r.p != r.end;
}

static const char *str_at(const struct t_profile *p, int64_t i)
{
	return i >= 0 && (size_t)i < p->nstr ? p->str[i] : "<out of range>";
}

static const struct t_location *location_by_id(const struct t_profile *p, uint64_t id)
{
	size_t i;

	for (i = 0; i < p->nl; i++)
		if (p->l[i].id == id)
			return &p->l[i];
	return NULL;
}

static const struct t_function *function_by_id(const struct t_profile *p, uint64_t id)
{
	size_t i;

	for (i = 0; i < p->nf; i++)
		if (p->f[i].id == id)
			return &p->f[i];
	return NULL;
}

/* ---- gunzip ---- */

static unsigned char *read_all(FILE *f, size_t *len)
{
	unsigned char *buf = NULL;
	size_t cap = 0, n;

	*len = 0;
	rewind(f);
	do {
		if (*len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				return NULL;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n);
	return buf;
}

static unsigned char *gunzip(const unsigned char *in, size_t len, size_t *outlen)
{
	z_stream zs = { 0 };
	size_t cap = 1 << 16;
	unsigned char *out = malloc(cap);
	int zerr;

	/* 15 + 16: gzip only, a zlib or raw stream is refused */
	if (!out || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	zs.next_in = (unsigned char *)in;
	zs.avail_in = len;
	do {
		if (zs.total_out == cap) {
			unsigned char *n = realloc(out, cap * 2);

			if (!n)
				break;
			out = n;
			cap *= 2;
		}
		zs.next_out = out + zs.total_out;
		zs.avail_out = cap - zs.total_out;
		zerr = inflate(&zs, Z_NO_FLUSH);
	} while (zerr == Z_OK);
	*outlen = zs.total_out;
	inflateEnd(&zs);
	if (zerr != Z_STREAM_END || zs.avail_in) {	/* truncated or trailing junk */
		free(out);
		return NULL;
	}
	return out;
}

/* ---- pprof ---- */

/* Sample i's stack, resolved through its location ids, against the row's
 * frames (both innermost first). */
static void check_stack(const struct t_profile *p, size_t i, const struct export_row *row)
{
	const struct t_sample *s = &p->s[i];
	size_t j;

	CHECK(s->nloc == row->nframes, "sample %zu: %zu locations", i, s->nloc);
	for (j = 0; j < s->nloc && j < row->nframes; j++) {
		const struct t_location *l = location_by_id(p, s->loc[j]);
		const struct t_function *f = l ? function_by_id(p, l->function_id) : NULL;

		CHECK(l && l->nlines == 1, "sample %zu frame %zu: location %llu", i, j,
		      (unsigned long long)s->loc[j]);
		if (!l || !f) {
			CHECK(f, "sample %zu frame %zu: no function", i, j);
			continue;
		}
		CHECK(!strcmp(str_at(p, f->name), row->frames[j].function) &&
		      !strcmp(str_at(p, f->filename), row->frames[j].file) &&
		      l->line == row->frames[j].line,
		      "sample %zu frame %zu: %s %s:%lld", i, j, str_at(p, f->name),
		      str_at(p, f->filename), (long long)l->line);
	}
}

static void check_tables(const struct t_profile *p)
{
	size_t i, j;

	CHECK(p->nstr > 0 && !strcmp(p->str[0], ""), "string_table[0] is \"\"");
	for (i = 0; i < p->nstr; i++)
		for (j = i + 1; j < p->nstr; j++)
			CHECK(strcmp(p->str[i], p->str[j]), "'%s' twice", p->str[i]);
	/* alloc:10, main:3, alloc:12, native_alloc:0 */
	CHECK(p->nl == 4, "%zu locations", p->nl);
	/* alloc in a.py, main in m.py, native_alloc in libc */
	CHECK(p->nf == 3, "%zu functions", p->nf);
	for (i = 0; i < p->nl; i++)
		CHECK(p->l[i].id != 0 && location_by_id(p, p->l[i].id) == &p->l[i],
		      "location id %llu unique", (unsigned long long)p->l[i].id);
	/* one mapping, marked symbolized (functions, filenames, line numbers:
	 * fields 7, 8, 9), that every location uses */
	CHECK(p->nmappings == 1 && p->mapping_id[0] == 1 &&
	      p->mapping_flags[0] == (1u << 7 | 1u << 8 | 1u << 9),
	      "%zu mappings, flags %#llx", p->nmappings,
	      (unsigned long long)p->mapping_flags[0]);
	for (i = 0; i < p->nl; i++)
		CHECK(p->l[i].mapping_id == 1, "location %zu: mapping %llu", i,
		      (unsigned long long)p->l[i].mapping_id);
	for (i = 0; i < p->nf; i++)
		CHECK(p->f[i].id != 0 && function_by_id(p, p->f[i].id) == &p->f[i],
		      "function id %llu unique", (unsigned long long)p->f[i].id);
}

static void check_header(const struct t_profile *p)
{
	static const char *const types[][2] = {
		{ "growth_space", "bytes" }, { "growth_objects", "count" },
		{ "inuse_space", "bytes" }, { "inuse_objects", "count" },
	};
	size_t i;

	CHECK(p->nst == 4, "%zu sample types", p->nst);
	for (i = 0; i < 4 && i < p->nst; i++)
		CHECK(!strcmp(str_at(p, p->st_type[i]), types[i][0]) &&
		      !strcmp(str_at(p, p->st_unit[i]), types[i][1]),
		      "sample type %zu: %s/%s", i, str_at(p, p->st_type[i]),
		      str_at(p, p->st_unit[i]));
	CHECK(!strcmp(str_at(p, p->default_type), "growth_space"), "default %s",
	      str_at(p, p->default_type));
	CHECK(!strcmp(str_at(p, p->pt_type), "space") && !strcmp(str_at(p, p->pt_unit), "bytes"),
	      "period type %s/%s", str_at(p, p->pt_type), str_at(p, p->pt_unit));
	CHECK(p->period == 1, "period %lld", (long long)p->period);
	CHECK(p->time_nanos == 1700000000123456789LL, "time %lld", (long long)p->time_nanos);
	CHECK(p->duration_nanos == 30000000000LL, "duration %lld", (long long)p->duration_nanos);
}

static void test_pprof(void)
{
	static const struct export_frame stack_b[] = {
		{ "app/a.py", "alloc", 12 },		/* same function, new line */
		{ "libc.so.6", "native_alloc", 0 },
		{ "app/m.py", "main", 3 },
	};
	const struct export_row rows[] = {
		{ "app 1", stack_a, 2, 1000, 10, 100, 1 },
		{ "app 2", stack_b, 3, 50, 2, -20, -1 },	/* shrank: still a sample */
		{ NULL, stack_a + 1, 1, 0, 0, 0, 0 },		/* no root: no label */
	};
	const size_t n = sizeof(rows) / sizeof(rows[0]);
	struct t_profile *p = calloc(1, sizeof(*p));
	unsigned char *gz, *raw = NULL;
	size_t gzlen, rawlen = 0, i, j;
	FILE *f = tmpfile();
	int rc;

	if (!f || !p) {
		CHECK(f && p, "tmpfile");
		return;
	}
	rc = export_pprof(f, rows, n, 1700000000123456789LL, 30000000000LL);
	CHECK(rc == 0, "rc %d", rc);
	gz = read_all(f, &gzlen);
	fclose(f);
	CHECK(gz && gzlen > 2 && gz[0] == 0x1f && gz[1] == 0x8b, "gzip magic");
	if (gz)
		raw = gunzip(gz, gzlen, &rawlen);
	CHECK(raw, "gunzip");
	if (!raw)
		goto out;
	read_profile((struct rd){ raw, raw + rawlen, false }, p);
	CHECK(!p->bad, "protobuf well formed");
	CHECK(!p->unpacked, "location_id and value packed");
	check_header(p);
	check_tables(p);
	CHECK(p->ns == n, "%zu samples", p->ns);
	for (i = 0; i < p->ns && i < n; i++) {
		const struct t_sample *s = &p->s[i];
		int64_t want[4] = { rows[i].bytes_delta, rows[i].count_delta, rows[i].bytes,
				    rows[i].count };

		CHECK(s->nval == 4, "sample %zu: %zu values", i, s->nval);
		for (j = 0; j < 4 && j < s->nval; j++)
			CHECK(s->val[j] == want[j], "sample %zu value %zu: %lld", i, j,
			      (long long)s->val[j]);
		check_stack(p, i, &rows[i]);
		if (rows[i].root)
			CHECK(s->nlabels == 1 && !strcmp(str_at(p, s->label_key), "process") &&
			      !strcmp(str_at(p, s->label_str), rows[i].root),
			      "sample %zu label %s=%s", i, str_at(p, s->label_key),
			      str_at(p, s->label_str));
		else
			CHECK(s->nlabels == 0, "sample %zu: %zu labels", i, s->nlabels);
	}
	/* main:3 is one Location whichever sample reaches it */
	CHECK(p->s[0].nloc == 2 && p->s[1].nloc == 3 && p->s[2].nloc == 1 &&
	      p->s[0].loc[1] == p->s[1].loc[2] && p->s[0].loc[1] == p->s[2].loc[0],
	      "shared location");
out:
	for (i = 0; i < p->nstr; i++)
		free(p->str[i]);
	free(p);
	free(gz);
	free(raw);
}

/* No rows still makes a valid profile: the header and "" alone. */
static void test_pprof_empty(void)
{
	struct t_profile *p = calloc(1, sizeof(*p));
	unsigned char *gz = NULL, *raw = NULL;
	size_t gzlen, rawlen = 0, i;
	FILE *f = tmpfile();

	if (!f || !p) {
		CHECK(f && p, "tmpfile");
		return;
	}
	CHECK(export_pprof(f, NULL, 0, 1700000000123456789LL, 30000000000LL) == 0, "empty");
	gz = read_all(f, &gzlen);
	fclose(f);
	raw = gz ? gunzip(gz, gzlen, &rawlen) : NULL;
	CHECK(raw, "gunzip empty");
	if (raw) {
		read_profile((struct rd){ raw, raw + rawlen, false }, p);
		CHECK(!p->bad && p->ns == 0 && p->nl == 0 && p->nf == 0, "nothing sampled");
		check_header(p);
	}
	for (i = 0; i < p->nstr; i++)
		free(p->str[i]);
	free(p);
	free(gz);
	free(raw);
}

int main(void)
{
	test_collapsed();
	test_write_errors();
	test_pprof();
	test_pprof_empty();
	return tests_summary();
}
