/* SPDX-License-Identifier: MIT */
/*
 * CPython line-number tables, decoded in userspace from bytes copied out of
 * the target. Checked against every installed interpreter's own answers by
 * tests/unit/run_linetable_tests.sh.
 */
#ifndef LEAKBPF_LINETABLE_H
#define LEAKBPF_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

/* Line number of the instruction at byte offset instr_offset (bytes from the
 * start of the bytecode; -1 = frame not started: return firstlineno. Like
 * CPython, any negative offset is treated so) in a code object of
 * CPython 3.<minor>, minor 8..14.
 * table/len: the raw bytes of co_lnotab (3.8, 3.9), co_linetable (3.10: the
 * 3.10 format) or co_linetable (3.11+: the location table).
 * On success returns 0 and sets *line (0 if the instruction has no line number,
 * e.g. 3.10 ldelta -128 or 3.11+ code 15). Returns -EINVAL for an unsupported
 * minor or malformed table (truncated varint, etc.), -ERANGE if the offset
 * lies beyond the table (3.10+ only: a 3.8/3.9 lnotab has no end, its last
 * line runs on). The table is only decoded up to the entry holding the
 * offset, so damage after it goes unnoticed. Never reads outside
 * table[0..len). */
int py_linetable_line(unsigned minor, const uint8_t *table, size_t len, int firstlineno,
		      int instr_offset, int *line);

#endif /* LEAKBPF_LINETABLE_H */
