/* SPDX-License-Identifier: MIT */
/*
 * Where CPython gives an object its first reference: the `ob_refcnt = 1`
 * store of _Py_NewReference, wherever the compiler put a copy of it.
 *
 * Why: CPython reuses dead floats, tuples, lists and dicts from free lists
 * without calling any allocator, so an allocator probe credits the object
 * to the line that first malloc'ed the memory. Every (re)born object passes
 * through _Py_NewReference, which is how tracemalloc moves a reused block
 * to its new line. LTO builds inline it at hundreds of call sites (Debian's
 * 3.11: 286 copies, 14 calls of the out-of-line one), so probing the
 * function is not enough: each inlined copy is found by the tracing check
 * it carries next to its store, and probed at the store, where a register
 * holds the object.
 *
 * The check reads a flag leakbpf never writes:
 *   3.8-3.11  _Py_tracemalloc_config.tracing (exported data, +4)
 *   3.12      _PyRuntime.tracemalloc.config.tracing (as _PyTraceMalloc_IsTracing reads it)
 *   3.13      _PyRuntime.ref_tracer.tracer_func (as PyRefTracer_GetTracer reads it)
 * Up to 3.12 the store follows the check, on the path where the flag is 0;
 * in 3.13 it comes just before it.
 */
#ifndef LEAKBPF_PY_NEWREF_SITES_H
#define LEAKBPF_PY_NEWREF_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "alloc_tables.h"
#include "elf_image.h"

struct newref_site {
	uint64_t vaddr;		/* link-time address of the store */
	uint32_t reg;		/* enum lb_reg: the register holding the object */
};

struct newref_sites {
	struct newref_site *v;
	size_t n, cap;
	size_t flag_reads;	/* checks of the flag found */
	size_t unmatched;	/* of those, without a store we could use */
};

enum newref_order {
	NEWREF_STORE_AFTER_CHECK,	/* 3.8-3.12 */
	NEWREF_STORE_BEFORE_CHECK,	/* 3.13 */
};

/*
 * Pure, unit-testable: scans code (link-time address vaddr) for reads of
 * the flag at flag_vaddr and the refcount stores that go with them.
 * read_ptr (may be NULL) resolves pointers the code loads from memory
 * (GOT slots of a shared libpython). Sites are appended to out (sorted,
 * no duplicates). 0 or -ENOMEM/-EINVAL.
 */
int newref_scan(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t flag_vaddr,
		enum newref_order order, alloc_read_ptr_fn read_ptr, void *arg,
		struct newref_sites *out);

/*
 * The flag's link-time address in img for CPython 3.minor, read from the
 * exported symbol or getter that names it. 0, -ENOENT, -ENOTSUP (a version
 * without a known flag).
 */
int newref_flag(const struct elf_image *img, unsigned minor, uint64_t *flag_vaddr,
		enum newref_order *order);

/* Both: every site of img's .text. 0 or -errno (-EFBIG: a .text over
 * 64 MiB; -E2BIG: over 4096 sites, neither a CPython we know); out
 * initialised always. */
int newref_sites_find(const struct elf_image *img, unsigned minor, struct newref_sites *out);

/* newref_sites_find for the file at path (img opened from it), answered
 * from the last few files scanned when it is the same file (device,
 * inode, size, mtime). */
int newref_sites_find_file(const char *path, const struct elf_image *img, unsigned minor,
			   struct newref_sites *out);

void newref_sites_free(struct newref_sites *s);

/* tp_flags bits that put a two-pointer pre-header before an object's GC
 * header in CPython 3.minor (what BPF subtracts to find its block):
 * Py_TPFLAGS_MANAGED_DICT in 3.11, also MANAGED_WEAKREF from 3.12. */
uint32_t py_preheader_flags(unsigned minor);

#endif
