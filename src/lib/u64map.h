/* SPDX-License-Identifier: MIT */
/* Open-addressing hash map from a non-zero 64-bit key to a pointer. */
#ifndef LEAKBPF_U64MAP_H
#define LEAKBPF_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
	uint64_t key;	/* 0 = empty */
	void *value;
};

struct u64map {
	struct u64map_slot *slots;
	size_t cap, used;
};

void *u64map_get(const struct u64map *m, uint64_t key);
/* Inserts or replaces; returns 0 or -ENOMEM. key must not be 0. */
int u64map_put(struct u64map *m, uint64_t key, void *value);
/* Removes key; returns its value, NULL if absent. */
void *u64map_remove(struct u64map *m, uint64_t key);
/* Calls fn on every value (for freeing), then empties the map. */
void u64map_clear(struct u64map *m, void (*fn)(void *value));

#endif
