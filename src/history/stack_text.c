// SPDX-License-Identifier: MIT
#include "stack_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leakbpf_shared.h"
#include "symbolizer.h"

/* the function name of the line after a cut stack's last frame */
#define CUT_MARKER "..."

/* Names never carry our separators into the text. */
static void put_name(FILE *f, const char *s)
{
	for (; s && *s; s++)
		fputc(*s == '\t' || *s == '\n' ? ' ' : *s, f);
}

char *stack_text_format(const struct resolved_stack *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int i;

	if (!f)
		return NULL;
	for (i = 0; i < st->nframes; i++) {
		const struct resolved_frame *fr = &st->frames[i];

		fprintf(f, "%s%d\t", i ? "\n" : "", fr->line);
		put_name(f, fr->function);
		fputc('\t', f);
		put_name(f, fr->file);
	}
	if (st->flags & (LB_STACK_TRUNCATED | LB_STACK_PY_READ_FAILED))
		fprintf(f, "%s0\t" CUT_MARKER "\t%s", st->nframes ? "\n" : "",
			st->flags & LB_STACK_TRUNCATED ? "(deeper frames cut)" : "(a frame could not be read)");
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

size_t stack_text_parse(char *text, struct export_frame *frames, size_t max)
{
	size_t n = 0;
	char *line = text;

	while (line && *line && n < max) {
		char *next = strchr(line, '\n'), *fn, *file;

		if (next)
			*next++ = '\0';
		fn = strchr(line, '\t');
		file = fn ? strchr(fn + 1, '\t') : NULL;
		if (fn && file) {
			*fn++ = '\0';
			*file++ = '\0';
			frames[n++] = (struct export_frame){ .file = file, .function = fn,
							     .line = atoi(line) };
		}
		line = next;
	}
	return n;
}

bool stack_text_is_cut_marker(const struct export_frame *f)
{
	return f->line == 0 && f->function && !strcmp(f->function, CUT_MARKER);
}
