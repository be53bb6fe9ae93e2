/* SPDX-License-Identifier: MIT */
/* Where to put a uprobe in a function so that a hit costs one trap. */
#ifndef LEAKBPF_PROBE_POINT_H
#define LEAKBPF_PROBE_POINT_H

#include <stddef.h>
#include <stdint.h>

/*
 * A uprobe on an instruction the kernel can emulate (push, jmp, call) costs
 * one trap; on anything else (test, mov, cmp) the instruction is also
 * single-stepped out of line, which costs several times more (measured here:
 * ~0.7 us for malloc, whose entry is a push, against ~10 us for free, whose
 * entry is `test %rdi,%rdi`).
 *
 * glibc's free() begins with `test %rdi,%rdi; je <return>`: the NULL check.
 * A probe on the instruction after it, when that is a push, sees every free
 * of a real block with %rdi and %rsp as they were at entry, and misses only
 * free(NULL), which frees nothing. Returns that instruction's offset from
 * the entry, or 0 (probe the entry) when the code is not of that shape.
 */
uint64_t probe_point_past_null_check(const uint8_t *code, size_t len);

#endif
