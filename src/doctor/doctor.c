// SPDX-License-Identifier: MIT
/* Findings: collected, then printed as text or JSON. */
#include "doctor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

void finding_add(struct findings *f, enum finding_level level, const char *subject,
		 const char *check, const char *fix, const char *fmt, ...)
{
	struct finding *x;
	va_list ap;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		struct finding *v = realloc(f->v, cap * sizeof(*v));

		if (!v)
			return;		/* out of memory: the finding is dropped */
		f->v = v;
		f->cap = cap;
	}
	x = &f->v[f->n++];
	memset(x, 0, sizeof(*x));
	x->level = level;
	snprintf(x->subject, sizeof(x->subject), "%s", subject);
	snprintf(x->check, sizeof(x->check), "%s", check);
	snprintf(x->fix, sizeof(x->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(x->message, sizeof(x->message), fmt, ap);
	va_end(ap);
}

void findings_free(struct findings *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

const char *finding_level_name(enum finding_level l)
{
	return l == FINDING_PROBLEM ? "problem" : l == FINDING_WARNING ? "warning" : "ok";
}

int findings_print(FILE *out, const struct findings *f, int json)
{
	size_t i;

	if (json) {
		struct json_writer w;

		json_init(&w, out);
		json_object_begin(&w);
		json_key(&w, "findings");
		json_array_begin(&w);
		for (i = 0; i < f->n; i++) {
			json_object_begin(&w);
			json_kv_string(&w, "level", finding_level_name(f->v[i].level));
			json_kv_string(&w, "subject", f->v[i].subject);
			json_kv_string(&w, "check", f->v[i].check);
			json_kv_string(&w, "message", f->v[i].message);
			json_kv_string(&w, "fix", f->v[i].fix);
			json_object_end(&w);
		}
		json_array_end(&w);
		json_object_end(&w);
		fputc('\n', out);
	} else {
		for (i = 0; i < f->n; i++) {
			fprintf(out, "%-8s %s: %s", finding_level_name(f->v[i].level), f->v[i].subject,
				f->v[i].message);
			if (f->v[i].fix[0])
				fprintf(out, " -> %s", f->v[i].fix);
			fputc('\n', out);
		}
	}
	return ferror(out) ? -EIO : 0;
}
