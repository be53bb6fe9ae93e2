/* SPDX-License-Identifier: MIT */
/*
 * The open-addressing map under inserts and removals in random order,
 * against a plain array: the agent removes a process's stacks and samples
 * when it exits, and a wrong backward shift would lose other entries.
 */
#include <stdint.h>
#include <stdlib.h>

#include "testing.h"
#include "u64map.h"

#define KEYS 5000

int main(void)
{
	static uintptr_t truth[KEYS];	/* value stored for key i+1, 0 = absent */
	struct u64map m = { 0 };
	uint64_t rng = 42;
	size_t i, step, mismatches = 0, present = 0;

	for (step = 0; step < 200000; step++) {
		size_t k;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		/* keys clustered in a small range: long probe runs, many shifts */
		k = (size_t)(rng >> 33) % KEYS;
		if ((rng >> 20) & 1) {
			if (u64map_put(&m, k + 1, (void *)(uintptr_t)(step + 1)))
				break;
			truth[k] = step + 1;
		} else {
			void *v = u64map_remove(&m, k + 1);

			if ((uintptr_t)v != truth[k])
				mismatches++;
			truth[k] = 0;
		}
	}
	CHECK(step == 200000, "put failed at step %zu", step);
	CHECK(!mismatches, "%zu removals returned the wrong value", mismatches);
	for (i = 0; i < KEYS; i++) {
		if ((uintptr_t)u64map_get(&m, i + 1) != truth[i])
			mismatches++;
		present += truth[i] != 0;
	}
	CHECK(!mismatches, "%zu lookups disagree with the reference after removals", mismatches);
	CHECK(m.used == present, "used %zu, present %zu", m.used, present);
	CHECK(u64map_remove(&m, KEYS + 7) == NULL, "removing an absent key");
	u64map_clear(&m, NULL);
	return tests_summary();
}
