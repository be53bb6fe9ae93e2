/* SPDX-License-Identifier: MIT */
/*
 * The Python work clock: a counter inside the interpreter that advances with
 * the work the program does, read from outside to weight sampling windows.
 *
 * A sampling window slows the target down (every allocation traps), so a
 * window of W ms wall time covers much less than W ms of the program's
 * work. Weighting samples by wall time would underestimate by that factor
 * (~12x on this machine). The weight must be "work in all" over "work in the
 * windows", measured by something the traps do not slow: the dict version
 * counter, which CPython bumps on every dict creation and mutation
 * (pydict_global_version in 3.8-3.11, interp->dict_state.global_version in
 * 3.12+). Only its ratio matters, not its step (1, 256 or 4096).
 *
 * Found by reading PyDict_New, which every version has exported: the new
 * dict's version tag (ma_version_tag, +0x18) is stored from the register
 * that was just written back to the counter.
 */
#ifndef LEAKBPF_PY_WORK_CLOCK_H
#define LEAKBPF_PY_WORK_CLOCK_H

#include <stddef.h>
#include <stdint.h>

enum work_clock_kind {
	WORK_CLOCK_NONE = 0,
	WORK_CLOCK_GLOBAL,		/* a global at link-time address `where` */
	WORK_CLOCK_INTERP,		/* at offset `where` in PyInterpreterState */
};

struct work_clock_loc {
	enum work_clock_kind kind;
	uint64_t where;
};

/* Pure, unit-testable: reads the machine code of PyDict_New at link-time
 * address vaddr. 0, -ENOENT if the pattern is absent, -EINVAL. */
int py_work_clock_find(const uint8_t *code, size_t len, uint64_t vaddr,
		       struct work_clock_loc *out);

#endif
