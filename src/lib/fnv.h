/* SPDX-License-Identifier: MIT */
/* FNV-1a over bytes, for userspace's tables and fingerprints: the same hash
 * (and constants) the BPF side uses for stack keys and code ids. */
#ifndef LEAKBPF_FNV_H
#define LEAKBPF_FNV_H

#include <stddef.h>
#include <stdint.h>

#include "leakbpf_shared.h"

/* Folds len bytes at data into h (start from LB_FNV_BASIS). */
static inline uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * LB_FNV_PRIME;
	return h;
}

#endif
