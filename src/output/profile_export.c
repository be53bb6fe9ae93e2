// SPDX-License-Identifier: MIT
/* FlameGraph folded text and pprof profile.proto from stack rows. The
 * protobuf is encoded by hand (a handful of message types, all varints and
 * length-delimited fields) so leakbpf needs no protobuf library; zlib adds
 * the gzip wrapper pprof expects on disk. */
#include "fnv.h"
#include "profile_export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "u64map.h"

/* ---- growable byte buffer; the first error sticks, later writes are dropped,
 * so encoders check once at the end instead of after every field ---- */

struct bytes {
	unsigned char *p;
	size_t len, cap;
	int err;
};

static void bytes_put(struct bytes *b, const void *src, size_t n)
{
	if (b->err || !n)
		return;
	if (n > b->cap - b->len) {
		size_t ncap = b->cap ? b->cap : 256;
		unsigned char *np;

		while (ncap - b->len < n) {
			if (ncap > SIZE_MAX / 2) {
				b->err = -ENOMEM;
				return;
			}
			ncap *= 2;
		}
		np = realloc(b->p, ncap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void bytes_putc(struct bytes *b, char c)
{
	bytes_put(b, &c, 1);
}

static void bytes_puts(struct bytes *b, const char *s)
{
	bytes_put(b, s, strlen(s));
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	*b = (struct bytes){ 0 };
}

/* Room for element n of an array of cap elements: the array itself (moved
 * perhaps), NULL on out of memory with the old one untouched. */
static void *grow_array(void *arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > SIZE_MAX / elem)
		return NULL;
	p = realloc(arr, ncap * elem);
	if (p)
		*cap = ncap;
	return p;
}

/* ---- string -> index map over borrowed keys (the caller keeps them alive
 * for the map's lifetime: row strings, or copies the caller owns) ---- */

struct strmap_slot {
	const char *key;	/* NULL = empty */
	size_t len;
	size_t value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap, used;
};

static size_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = fnv1a(LB_FNV_BASIS, s, n);

	return (size_t)(h ^ h >> 32);
}

/* The slot holding s, or the empty one where it would go. cap must be > 0. */
static struct strmap_slot *strmap_slot(const struct strmap *m, const char *s, size_t n)
{
	size_t i = hash_bytes(s, n) & (m->cap - 1);

	while (m->slots[i].key &&
	       !(m->slots[i].len == n && !memcmp(m->slots[i].key, s, n)))
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *s, size_t n)
{
	struct strmap_slot *slot;

	if (!m->cap)
		return NULL;
	slot = strmap_slot(m, s, n);
	return slot->key ? slot : NULL;
}

static int strmap_grow(struct strmap *m)
{
	struct strmap old = *m;
	size_t i;

	m->cap = old.cap ? old.cap * 2 : 64;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		*m = old;
		return -ENOMEM;
	}
	for (i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*strmap_slot(m, old.slots[i].key, old.slots[i].len) = old.slots[i];
	free(old.slots);
	return 0;
}

/* Adds s, which must not be in the map yet. */
static int strmap_insert(struct strmap *m, const char *s, size_t n, size_t value)
{
	struct strmap_slot *slot;

	if ((m->used + 1) * 2 > m->cap && strmap_grow(m))
		return -ENOMEM;
	slot = strmap_slot(m, s, n);
	*slot = (struct strmap_slot){ .key = s, .len = n, .value = value };
	m->used++;
	return 0;
}

static void strmap_free(struct strmap *m)
{
	free(m->slots);
	*m = (struct strmap){ 0 };
}

static bool has_root(const struct export_row *r)
{
	return r->root && *r->root;
}

/* ---- FlameGraph folded ---- */

struct folded {
	char *line;	/* the stack part, owned */
	int64_t value;
};

/* Lines in first-seen order, indexed so duplicates add up. */
struct folded_set {
	struct strmap index;
	struct folded *lines;
	size_t n, cap;
};

/* ';' separates frames and a newline ends the record: a name holding either
 * would split its frame or line in two. */
static void put_escaped(struct bytes *b, const char *s)
{
	for (; s && *s; s++) {
		char c = *s;

		if (c == ';')
			c = ':';
		else if (c == '\n' || c == '\r')
			c = ' ';
		bytes_putc(b, c);
	}
}

static void put_folded_frame(struct bytes *b, const struct export_frame *f)
{
	char num[16];

	put_escaped(b, f->function);
	bytes_puts(b, " (");
	put_escaped(b, f->file);
	if (f->line) {
		snprintf(num, sizeof(num), ":%d", f->line);
		bytes_puts(b, num);
	}
	bytes_putc(b, ')');
}

/* The row's stack, root outermost, as a NUL-terminated string in b. */
static void fold_row(struct bytes *b, const struct export_row *r)
{
	bool sep = has_root(r);
	size_t i;

	b->len = 0;
	if (sep)
		put_escaped(b, r->root);
	for (i = r->nframes; i-- > 0; sep = true) {
		if (sep)
			bytes_putc(b, ';');
		put_folded_frame(b, &r->frames[i]);
	}
	/* an empty stack would make "VALUE" alone, which readers reject;
	 * its bytes still belong in the total */
	if (!has_root(r) && !r->nframes)
		bytes_puts(b, "[unknown]");
	bytes_putc(b, '\0');
}

static int64_t add_saturating(int64_t a, int64_t b)
{
	int64_t sum;

	/* both are positive: only an upward overflow is possible */
	return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

static int folded_add(struct folded_set *set, const char *line, size_t len, int64_t value)
{
	struct strmap_slot *slot = strmap_find(&set->index, line, len);
	struct folded *lines;
	char *copy;

	if (slot) {
		set->lines[slot->value].value =
			add_saturating(set->lines[slot->value].value, value);
		return 0;
	}
	lines = grow_array(set->lines, &set->cap, set->n, sizeof(*set->lines));
	if (!lines)
		return -ENOMEM;
	set->lines = lines;
	copy = strndup(line, len);
	if (!copy)
		return -ENOMEM;
	if (strmap_insert(&set->index, copy, len, set->n)) {
		free(copy);
		return -ENOMEM;
	}
	set->lines[set->n++] = (struct folded){ .line = copy, .value = value };
	return 0;
}

static int folded_write(FILE *out, const struct folded_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (fprintf(out, "%s %" PRId64 "\n", set->lines[i].line, set->lines[i].value) < 0)
			return -EIO;
	return fflush(out) || ferror(out) ? -EIO : 0;
}

static void folded_free(struct folded_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		free(set->lines[i].line);
	free(set->lines);
	strmap_free(&set->index);
}

int export_collapsed(FILE *out, const struct export_row *rows, size_t n)
{
	struct folded_set set = { 0 };
	struct bytes line = { 0 };
	size_t i;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		/* a flame graph of growth: shrinking stacks have no width */
		if (rows[i].bytes_delta <= 0)
			continue;
		fold_row(&line, &rows[i]);
		err = line.err ? line.err
			       : folded_add(&set, (const char *)line.p, line.len - 1,
					    rows[i].bytes_delta);
	}
	if (!err)
		err = folded_write(out, &set);
	folded_free(&set);
	bytes_free(&line);
	return err;
}

/* ---- protobuf encoding ---- */

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* int64 fields take negative values as their 64-bit two's complement (ten
 * bytes), so every integer goes through here as uint64. */
static void pb_varint(struct bytes *b, uint64_t v)
{
	unsigned char buf[10];
	size_t n = 0;

	do {
		buf[n] = v & 0x7f;
		v >>= 7;
		if (v)
			buf[n] |= 0x80;
		n++;
	} while (v);
	bytes_put(b, buf, n);
}

static void pb_key(struct bytes *b, unsigned field, unsigned wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

/* A scalar field; proto3 leaves fields at their default 0 out. */
static void pb_int(struct bytes *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	pb_key(b, field, WIRE_VARINT);
	pb_varint(b, v);
}

static void pb_len(struct bytes *b, unsigned field, const void *p, size_t n)
{
	pb_key(b, field, WIRE_LEN);
	pb_varint(b, n);
	bytes_put(b, p, n);
}

/* An embedded message (or packed array) already encoded into sub, which is
 * emptied for reuse: the length prefix needs the whole body first. */
static void pb_sub(struct bytes *b, unsigned field, struct bytes *sub)
{
	if (sub->err && !b->err)
		b->err = sub->err;
	pb_len(b, field, sub->p, sub->len);
	sub->len = 0;
}

/* ---- pprof tables ---- */

/* perftools.profiles field numbers (google/pprof proto/profile.proto) */
enum {
	PROFILE_SAMPLE_TYPE = 1, PROFILE_SAMPLE = 2, PROFILE_MAPPING = 3, PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5, PROFILE_STRING_TABLE = 6, PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10, PROFILE_PERIOD_TYPE = 11, PROFILE_PERIOD = 12,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUE_TYPE_TYPE = 1, VALUE_TYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1, SAMPLE_VALUE = 2, SAMPLE_LABEL = 3,
	LABEL_KEY = 1, LABEL_STR = 2,
	MAPPING_ID = 1, MAPPING_HAS_FUNCTIONS = 7, MAPPING_HAS_FILENAMES = 8,
	MAPPING_HAS_LINE_NUMBERS = 9,
	LOCATION_ID = 1, LOCATION_MAPPING_ID = 2, LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1, LINE_LINE = 2,
	FUNCTION_ID = 1, FUNCTION_NAME = 2, FUNCTION_FILENAME = 4,
};

struct pprof_function {
	int64_t name, filename;	/* string table indexes */
};

struct pprof_location {
	uint64_t function_id;
	int64_t line;
};

struct pprof {
	struct strmap string_index;	/* string -> its index in strings */
	const char **strings;		/* borrowed from the rows and literals */
	size_t nstrings, strings_cap;
	struct u64map function_index;	/* (name, filename) -> function id */
	struct pprof_function *functions;	/* id - 1 */
	size_t nfunctions, functions_cap;
	struct u64map location_index;	/* (function id, line) -> location id */
	struct pprof_location *locations;	/* id - 1 */
	size_t nlocations, locations_cap;
	struct bytes msg, inner;	/* scratch for nested messages */
	int err;			/* first failure; sticky */
};

/* Index of s in the string table, added if new (0 after a failure). */
static int64_t pp_string(struct pprof *p, const char *s)
{
	struct strmap_slot *slot;
	const char **strings;
	size_t n;

	if (!s)
		s = "";
	n = strlen(s);
	slot = strmap_find(&p->string_index, s, n);
	if (slot)
		return (int64_t)slot->value;
	if (p->err)
		return 0;
	/* the index keys below hold two ids in 32 bits each */
	if (p->nstrings >= UINT32_MAX - 1) {
		p->err = -ENOMEM;
		return 0;
	}
	strings = grow_array(p->strings, &p->strings_cap, p->nstrings, sizeof(*p->strings));
	if (!strings || strmap_insert(&p->string_index, s, n, p->nstrings)) {
		if (strings)
			p->strings = strings;
		p->err = -ENOMEM;
		return 0;
	}
	p->strings = strings;
	p->strings[p->nstrings] = s;
	return (int64_t)p->nstrings++;
}

/* Function id (from 1) for the frame's (name, filename); 0 after a failure. */
static uint64_t pp_function(struct pprof *p, const struct export_frame *f)
{
	int64_t name = pp_string(p, f->function), filename = pp_string(p, f->file);
	/* name + 1 keeps the key non-zero, as u64map wants */
	uint64_t key = (uint64_t)(name + 1) << 32 | (uint64_t)filename;
	struct pprof_function *functions;
	void *id;

	if (p->err)
		return 0;
	id = u64map_get(&p->function_index, key);
	if (id)
		return (uintptr_t)id;
	if (p->nfunctions >= UINT32_MAX - 1) {
		p->err = -ENOMEM;
		return 0;
	}
	functions = grow_array(p->functions, &p->functions_cap, p->nfunctions,
			       sizeof(*p->functions));
	if (!functions) {
		p->err = -ENOMEM;
		return 0;
	}
	p->functions = functions;
	if (u64map_put(&p->function_index, key, (void *)(uintptr_t)(p->nfunctions + 1))) {
		p->err = -ENOMEM;
		return 0;
	}
	functions[p->nfunctions] = (struct pprof_function){ name, filename };
	return ++p->nfunctions;
}

/* Location id (from 1) for the frame's (function, line); 0 after a failure.
 * One Line per Location: Python frames have no inlining to express. */
static uint64_t pp_location(struct pprof *p, const struct export_frame *f)
{
	uint64_t function_id = pp_function(p, f);
	uint64_t key = function_id << 32 | (uint32_t)f->line;
	struct pprof_location *locations;
	void *id;

	if (p->err)
		return 0;
	id = u64map_get(&p->location_index, key);
	if (id)
		return (uintptr_t)id;
	locations = grow_array(p->locations, &p->locations_cap, p->nlocations,
			       sizeof(*p->locations));
	if (!locations) {
		p->err = -ENOMEM;
		return 0;
	}
	p->locations = locations;
	if (u64map_put(&p->location_index, key, (void *)(uintptr_t)(p->nlocations + 1))) {
		p->err = -ENOMEM;
		return 0;
	}
	locations[p->nlocations] = (struct pprof_location){ function_id, f->line };
	return ++p->nlocations;
}

static void pprof_free(struct pprof *p)
{
	strmap_free(&p->string_index);
	free(p->strings);
	u64map_clear(&p->function_index, NULL);
	free(p->functions);
	u64map_clear(&p->location_index, NULL);
	free(p->locations);
	bytes_free(&p->msg);
	bytes_free(&p->inner);
}

/* ---- pprof messages ---- */

static void pp_value_type(struct pprof *p, struct bytes *out, unsigned field,
			  const char *type, const char *unit)
{
	pb_int(&p->msg, VALUE_TYPE_TYPE, pp_string(p, type));
	pb_int(&p->msg, VALUE_TYPE_UNIT, pp_string(p, unit));
	pb_sub(out, field, &p->msg);
}

/* Order of the values in every Sample; pp_sample follows it. */
static void pp_sample_types(struct pprof *p, struct bytes *out)
{
	pp_value_type(p, out, PROFILE_SAMPLE_TYPE, "growth_space", "bytes");
	pp_value_type(p, out, PROFILE_SAMPLE_TYPE, "growth_objects", "count");
	pp_value_type(p, out, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
	pp_value_type(p, out, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
}

/* location_id and value are packed (one length-delimited run of varints), as
 * proto3 encodes repeated scalars; readers accept either form but packed is
 * what they expect and is smaller. */
static void pp_sample(struct pprof *p, struct bytes *out, const struct export_row *r)
{
	int64_t values[4] = { r->bytes_delta, r->count_delta, r->bytes, r->count };
	size_t i;

	/* innermost first: pprof puts the leaf at location_id[0] */
	for (i = 0; i < r->nframes; i++)
		pb_varint(&p->inner, pp_location(p, &r->frames[i]));
	if (r->nframes)
		pb_sub(&p->msg, SAMPLE_LOCATION_ID, &p->inner);
	for (i = 0; i < 4; i++)
		pb_varint(&p->inner, (uint64_t)values[i]);
	pb_sub(&p->msg, SAMPLE_VALUE, &p->inner);
	if (has_root(r)) {
		pb_int(&p->inner, LABEL_KEY, pp_string(p, "process"));
		pb_int(&p->inner, LABEL_STR, pp_string(p, r->root));
		pb_sub(&p->msg, SAMPLE_LABEL, &p->inner);
	}
	pb_sub(out, PROFILE_SAMPLE, &p->msg);
}

/* The one Mapping every Location points at, flagged as already symbolized:
 * without it pprof invents one and tries to find a binary to symbolize
 * against ("Main binary filename not available."). */
static void pp_mapping(struct pprof *p, struct bytes *out)
{
	pb_int(&p->msg, MAPPING_ID, 1);
	pb_int(&p->msg, MAPPING_HAS_FUNCTIONS, 1);
	pb_int(&p->msg, MAPPING_HAS_FILENAMES, 1);
	pb_int(&p->msg, MAPPING_HAS_LINE_NUMBERS, 1);
	pb_sub(out, PROFILE_MAPPING, &p->msg);
}

static void pp_locations(struct pprof *p, struct bytes *out)
{
	size_t i;

	for (i = 0; i < p->nlocations; i++) {
		pb_int(&p->msg, LOCATION_ID, i + 1);
		pb_int(&p->msg, LOCATION_MAPPING_ID, 1);
		pb_int(&p->inner, LINE_FUNCTION_ID, p->locations[i].function_id);
		pb_int(&p->inner, LINE_LINE, (uint64_t)p->locations[i].line);
		pb_sub(&p->msg, LOCATION_LINE, &p->inner);
		pb_sub(out, PROFILE_LOCATION, &p->msg);
	}
}

static void pp_functions(struct pprof *p, struct bytes *out)
{
	size_t i;

	for (i = 0; i < p->nfunctions; i++) {
		pb_int(&p->msg, FUNCTION_ID, i + 1);
		pb_int(&p->msg, FUNCTION_NAME, (uint64_t)p->functions[i].name);
		pb_int(&p->msg, FUNCTION_FILENAME, (uint64_t)p->functions[i].filename);
		pb_sub(out, PROFILE_FUNCTION, &p->msg);
	}
}

/* The whole Profile into out. Fields may come in any order on the wire, so
 * the string table goes last, once everything has interned its strings. */
static void pp_profile(struct pprof *p, struct bytes *out, const struct export_row *rows,
		       size_t n, int64_t time_nanos, int64_t duration_nanos)
{
	int64_t default_type;
	size_t i;

	pp_string(p, "");	/* string_table[0] must be "" */
	pp_sample_types(p, out);
	for (i = 0; i < n; i++)
		pp_sample(p, out, &rows[i]);
	pp_mapping(p, out);
	pp_locations(p, out);
	pp_functions(p, out);
	pb_int(out, PROFILE_TIME_NANOS, (uint64_t)time_nanos);
	pb_int(out, PROFILE_DURATION_NANOS, (uint64_t)duration_nanos);
	pp_value_type(p, out, PROFILE_PERIOD_TYPE, "space", "bytes");
	pb_int(out, PROFILE_PERIOD, 1);
	default_type = pp_string(p, "growth_space");
	pb_int(out, PROFILE_DEFAULT_SAMPLE_TYPE, (uint64_t)default_type);
	for (i = 0; i < p->nstrings; i++)
		pb_len(out, PROFILE_STRING_TABLE, p->strings[i], strlen(p->strings[i]));
}

/* ---- gzip ---- */

static int gzip_write(FILE *out, const unsigned char *data, size_t len)
{
	/* avail_in is 32 bits wide: bigger bodies go in pieces */
	const size_t piece_max = 1u << 30;
	unsigned char chunk[16384];
	z_stream zs = { 0 };
	int flush, zerr, err = 0;

	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
	zerr = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			    Z_DEFAULT_STRATEGY);
	if (zerr != Z_OK)
		return zerr == Z_MEM_ERROR ? -ENOMEM : -EIO;
	zs.next_in = (unsigned char *)data;
	do {
		size_t piece = len < piece_max ? len : piece_max;

		zs.avail_in = (uInt)piece;
		len -= piece;
		flush = len ? Z_NO_FLUSH : Z_FINISH;
		/* zlib's own loop (zpipe.c): output space left over means
		 * deflate took all the input it was given */
		do {
			size_t have;

			zs.next_out = chunk;
			zs.avail_out = sizeof(chunk);
			deflate(&zs, flush);	/* cannot fail on a valid stream */
			have = sizeof(chunk) - zs.avail_out;
			if (fwrite(chunk, 1, have, out) != have) {
				err = -EIO;
				break;
			}
		} while (zs.avail_out == 0);
	} while (!err && flush != Z_FINISH);
	deflateEnd(&zs);
	return err;
}

int export_pprof(FILE *out, const struct export_row *rows, size_t n, int64_t time_nanos,
		 int64_t duration_nanos)
{
	struct pprof p = { 0 };
	struct bytes body = { 0 };
	int err;

	pp_profile(&p, &body, rows, n, time_nanos, duration_nanos);
	err = p.err ? p.err : body.err;
	if (!err)
		err = gzip_write(out, body.p, body.len);
	if (!err && (fflush(out) || ferror(out)))
		err = -EIO;
	pprof_free(&p);
	bytes_free(&body);
	return err;
}
