/* SPDX-License-Identifier: MIT */
/* UTF-8 validation for text leaving leakbpf (JSON strings, Prometheus
 * labels): file and function names are bytes, and one invalid byte can
 * make a consumer reject the whole document. */
#ifndef LEAKBPF_UTF8_H
#define LEAKBPF_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), 0 if it is not one. Stops at a NUL. */
size_t utf8_sequence_length(const unsigned char *p);

/* Longest output of utf8_put_printable for one code point. */
#define UTF8_PRINTABLE_MAX 6

/*
 * Writes code point cp at out as UTF-8 and returns the bytes written
 * (at most UTF8_PRINTABLE_MAX). Names come from the target: a control
 * character (C0, DEL, C1) would reach a terminal raw from `top` and split
 * the tab- and newline-separated stack text, so it is written as \xNN; a
 * surrogate or anything past U+10FFFF becomes U+FFFD.
 */
size_t utf8_put_printable(char *out, unsigned cp);

/* Copies the NUL-terminated bytes s into out (len bytes, NUL included),
 * control bytes escaped as \xNN and invalid UTF-8 as U+FFFD; cut short,
 * never mid-sequence, when out is full. */
void utf8_copy_printable(const char *s, char *out, size_t len);

#endif
