/* SPDX-License-Identifier: MIT */
/* The median of a set of byte counts (sorted in place); 0 for none. */
#ifndef LEAKBPF_MEDIAN_H
#define LEAKBPF_MEDIAN_H

#include <stddef.h>
#include <stdint.h>

int64_t median_i64(int64_t *v, size_t n);

#endif
