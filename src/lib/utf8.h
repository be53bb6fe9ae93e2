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

#endif
