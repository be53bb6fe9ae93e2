// SPDX-License-Identifier: MIT
#include "u64map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (cap - 1);
}

void *u64map_get(const struct u64map *m, uint64_t key)
{
	size_t i;

	if (!m->cap || !key)
		return NULL;
	for (i = slot_of(key, m->cap); m->slots[i].key; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].key == key)
			return m->slots[i].value;
	return NULL;
}

static int grow(struct u64map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 256, i;
	struct u64map_slot *n = calloc(ncap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->slots[i].key)
			continue;
		for (j = slot_of(m->slots[i].key, ncap); n[j].key; j = (j + 1) & (ncap - 1))
			;
		n[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = n;
	m->cap = ncap;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, void *value)
{
	size_t i;

	if (!key)
		return -EINVAL;
	if ((m->used + 1) * 4 > m->cap * 3 && grow(m))
		return -ENOMEM;
	for (i = slot_of(key, m->cap); m->slots[i].key; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == key) {
			m->slots[i].value = value;
			return 0;
		}
	}
	m->slots[i].key = key;
	m->slots[i].value = value;
	m->used++;
	return 0;
}

/* Linear probing without tombstones: the entries after the hole that
 * probed past it move back into it. */
void *u64map_remove(struct u64map *m, uint64_t key)
{
	size_t mask = m->cap - 1, i, j;
	void *value;

	if (!m->cap || !key)
		return NULL;
	for (i = slot_of(key, m->cap); m->slots[i].key != key; i = (i + 1) & mask)
		if (!m->slots[i].key)
			return NULL;
	value = m->slots[i].value;
	m->slots[i].key = 0;
	m->used--;
	for (j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = slot_of(m->slots[j].key, m->cap);
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);

		if (stays)
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j].key = 0;
		i = j;
	}
	return value;
}

void u64map_clear(struct u64map *m, void (*fn)(void *value))
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		if (m->slots[i].key && fn)
			fn(m->slots[i].value);
	free(m->slots);
	m->slots = NULL;
	m->cap = m->used = 0;
}
