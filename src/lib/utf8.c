// SPDX-License-Identifier: MIT
#include "utf8.h"

#include <stdint.h>
#include <string.h>

size_t utf8_sequence_length(const unsigned char *p)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

size_t utf8_put_printable(char *out, unsigned cp)
{
	static const char hex[] = "0123456789abcdef";

	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
		out[0] = '\\';
		out[1] = 'x';
		out[2] = hex[cp >> 4];
		out[3] = hex[cp & 15];
		return 4;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

void utf8_copy_printable(const char *s, char *out, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char seq[UTF8_PRINTABLE_MAX];
	size_t w = 0, n, step;

	if (!len)
		return;
	while (*p) {
		step = utf8_sequence_length(p);
		if (step == 1) {
			n = utf8_put_printable(seq, *p);
		} else if (step) {
			n = step;
			memcpy(seq, p, n);
			/* C1 controls are two-byte sequences: escape them too */
			if (p[0] == 0xc2 && p[1] < 0xa0)
				n = utf8_put_printable(seq, p[1]);
		} else {
			n = utf8_put_printable(seq, 0xfffd);
			step = 1;
		}
		if (w + n >= len)
			break;
		memcpy(out + w, seq, n);
		w += n;
		p += step;
	}
	out[w] = '\0';
}
