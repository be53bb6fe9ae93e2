/* SPDX-License-Identifier: MIT */
/* Interned strings: equal strings share one pointer, so stacks of resolved
 * frames compare and hash by pointer. Lives as long as the tool. */
#ifndef LEAKBPF_STRTAB_H
#define LEAKBPF_STRTAB_H

#include <stddef.h>

/* Returns the interned copy of s (NULL on out of memory). */
const char *strtab_intern(const char *s);
const char *strtab_intern_n(const char *s, size_t n);
void strtab_free_all(void);

#endif
