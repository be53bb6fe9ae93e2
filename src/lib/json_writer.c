// SPDX-License-Identifier: MIT
#include "json_writer.h"

#include <inttypes.h>

#include "utf8.h"

void json_init(struct json_writer *w, FILE *out)
{
	w->out = out;
	w->depth = 0;
	w->need_comma[0] = false;
}

/* Separates a value from the previous one at the same level. */
static void before_value(struct json_writer *w)
{
	if (w->need_comma[w->depth])
		fputc(',', w->out);
	w->need_comma[w->depth] = true;
}

static void open_level(struct json_writer *w, char c)
{
	before_value(w);
	fputc(c, w->out);
	if (w->depth < 31)
		w->depth++;
	w->need_comma[w->depth] = false;
}

static void close_level(struct json_writer *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	fputc(c, w->out);
}

void json_object_begin(struct json_writer *w) { open_level(w, '{'); }
void json_object_end(struct json_writer *w) { close_level(w, '}'); }
void json_array_begin(struct json_writer *w) { open_level(w, '['); }
void json_array_end(struct json_writer *w) { close_level(w, ']'); }


/* File names are bytes, not text: a byte that is not UTF-8 becomes U+FFFD so
 * the document stays valid JSON for every reader. */
static void write_escaped(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', out);
	for (; *p; p++) {
		if (*p >= 0x80) {
			size_t n = utf8_sequence_length(p);

			if (n)
				fwrite(p, 1, n, out), p += n - 1;
			else
				fputs("\\ufffd", out);
			continue;
		}
		switch (*p) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

void json_key(struct json_writer *w, const char *key)
{
	before_value(w);
	write_escaped(w->out, key);
	fputc(':', w->out);
	/* the value that follows belongs to this key: no comma before it */
	w->need_comma[w->depth] = false;
}

void json_string(struct json_writer *w, const char *s)
{
	before_value(w);
	write_escaped(w->out, s);
}

void json_int(struct json_writer *w, int64_t v)
{
	before_value(w);
	fprintf(w->out, "%" PRId64, v);
}

void json_uint(struct json_writer *w, uint64_t v)
{
	before_value(w);
	fprintf(w->out, "%" PRIu64, v);
}

void json_double(struct json_writer *w, double v)
{
	before_value(w);
	/* JSON has no NaN or infinity */
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", w->out);
	else	/* 15 digits: wall-clock seconds keep their milliseconds */
		fprintf(w->out, "%.15g", v);
}

void json_bool(struct json_writer *w, bool v)
{
	before_value(w);
	fputs(v ? "true" : "false", w->out);
}

void json_null(struct json_writer *w)
{
	before_value(w);
	fputs("null", w->out);
}

void json_kv_string(struct json_writer *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

void json_kv_int(struct json_writer *w, const char *key, int64_t v)
{
	json_key(w, key);
	json_int(w, v);
}

void json_kv_uint(struct json_writer *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_uint(w, v);
}

void json_kv_double(struct json_writer *w, const char *key, double v)
{
	json_key(w, key);
	json_double(w, v);
}

void json_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}
