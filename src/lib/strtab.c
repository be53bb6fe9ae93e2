// SPDX-License-Identifier: MIT
#include "fnv.h"
#include "strtab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char **slots;
static size_t nslots, nused;

static uint64_t hash_bytes(const char *s, size_t n)
{
	return fnv1a(LB_FNV_BASIS, s, n);
}

static int grow(void)
{
	size_t ncap = nslots ? nslots * 2 : 1024, i;
	char **n = calloc(ncap, sizeof(*n));

	if (!n)
		return -1;
	for (i = 0; i < nslots; i++) {
		size_t j;

		if (!slots[i])
			continue;
		j = hash_bytes(slots[i], strlen(slots[i])) & (ncap - 1);
		while (n[j])
			j = (j + 1) & (ncap - 1);
		n[j] = slots[i];
	}
	free(slots);
	slots = n;
	nslots = ncap;
	return 0;
}

const char *strtab_intern_n(const char *s, size_t n)
{
	size_t j;
	char *copy;

	if ((nused + 1) * 2 > nslots && grow())
		return NULL;
	j = hash_bytes(s, n) & (nslots - 1);
	while (slots[j]) {
		if (!strncmp(slots[j], s, n) && slots[j][n] == '\0')
			return slots[j];
		j = (j + 1) & (nslots - 1);
	}
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	slots[j] = copy;
	nused++;
	return copy;
}

const char *strtab_intern(const char *s)
{
	return strtab_intern_n(s, strlen(s));
}

void strtab_free_all(void)
{
	size_t i;

	for (i = 0; i < nslots; i++)
		free(slots[i]);
	free(slots);
	slots = NULL;
	nslots = nused = 0;
}
