/* SPDX-License-Identifier: MIT */
/*
 * Locating CPython's allocator tables (PyMemAllocatorEx for the RAW, MEM and
 * OBJ domains) in an interpreter image on disk, with or without .symtab.
 *
 * PyMemAllocatorEx = { void *ctx @0; malloc @8; calloc @16; realloc @24;
 * free @32 }, 40 bytes.
 *  - 3.8-3.11: static _PyMem_Raw, _PyMem, _PyObject in obmalloc.c (local
 *    symbols, gone when stripped).
 *  - 3.12+:    _PyRuntime.allocators.standard.{raw,mem,obj}.
 *  - Always:   the exported PyMem_RawMalloc / PyMem_Malloc / PyObject_Malloc
 *    call table.malloc(table.ctx, size), which the disassembler follows.
 */
#ifndef LEAKBPF_ALLOC_TABLES_H
#define LEAKBPF_ALLOC_TABLES_H

#include <stddef.h>
#include <stdint.h>
#include "elf_image.h"

enum alloc_domain { ALLOC_DOMAIN_RAW = 0, ALLOC_DOMAIN_MEM = 1, ALLOC_DOMAIN_OBJ = 2 };

/* Slot index i lives at table + 8 + 8 * i (ctx is at +0). */
enum alloc_slot {
	ALLOC_SLOT_MALLOC = 0, ALLOC_SLOT_CALLOC = 1,
	ALLOC_SLOT_REALLOC = 2, ALLOC_SLOT_FREE = 3,
};

#define ALLOC_TABLE_SIZE 40	/* sizeof(PyMemAllocatorEx) on x86-64 */

struct alloc_tables {
	uint64_t table[3];	/* link-time address of each domain's PyMemAllocatorEx; 0 if not found */
	const char *method;	/* "symtab", "runtime" or "disassembly"; NULL if not found */
	/* What the file initialises each table's malloc/calloc/realloc/free
	 * slots to (relocations applied), i.e. the link-time addresses of the
	 * default allocators: _PyMem_Raw{Malloc,Calloc,Realloc,Free} for RAW,
	 * _PyObject_{Malloc,...} (pymalloc) for MEM and OBJ in release builds.
	 * 0 where unknown (e.g. the table lies in .bss). Add the load bias to
	 * compare with a live process. */
	uint64_t dflt[3][4];
};

/*
 * Pure function, unit-testable: the machine code of an exported allocator
 * wrapper (PyObject_Malloc, PyMem_Malloc or PyMem_RawMalloc) at link-time
 * address func_vaddr. It dispatches through table.malloc (slot +8) with
 * table.ctx (slot +0) as first argument; return the table's link-time
 * address (the slot address minus 8). Handles RIP-relative and absolute
 * (non-PIE) memory operands, call or jmp through memory, or a load into a
 * register followed by an indirect call/jmp, including LTO builds that
 * inline pymalloc behind an `if (table.malloc == _PyObject_Malloc)` guard:
 * the control flow is followed breadth-first from the entry and the first
 * dispatch reached wins. Branches leaving [func_vaddr, func_vaddr+len)
 * (cold parts) are not followed.
 * Returns 0, -ENOENT if the pattern is not found, -EINVAL on bad input,
 * -ENXIO if the table is only reachable through a pointer stored in memory
 * (a GOT entry: `mov _PyRuntime@GOTPCREL(%rip),%rax; jmp *0xb8(%rax)`, as
 * libpython3.12+.so does); use alloc_table_from_wrapper_ex for those.
 */
int alloc_table_from_wrapper(const uint8_t *code, size_t len, uint64_t func_vaddr,
			     uint64_t *table_vaddr);

/* Reads the 8-byte pointer the loader leaves at link-time address vaddr,
 * as a link-time address. 0 or -errno. */
typedef int (*alloc_read_ptr_fn)(void *arg, uint64_t vaddr, uint64_t *value);

/* As alloc_table_from_wrapper, but a table reached through a pointer in
 * memory (GOT) is resolved with read_ptr(arg, slot, &value). read_ptr may
 * be NULL (then identical to alloc_table_from_wrapper). */
int alloc_table_from_wrapper_ex(const uint8_t *code, size_t len, uint64_t func_vaddr,
				alloc_read_ptr_fn read_ptr, void *arg,
				uint64_t *table_vaddr);

/* An alloc_read_ptr_fn over an image (arg is a struct elf_image *): applies
 * R_X86_64_RELATIVE / GLOB_DAT / 64 relocations from .rela.dyn, otherwise
 * returns the file's bytes (non-PIE executables, RELR). -ENOENT for
 * addresses without file contents (.bss) or unresolved symbols. */
int alloc_image_read_ptr(void *img, uint64_t vaddr, uint64_t *value);

/*
 * Finds all three tables in img for CPython 3.minor, trying symtab (3.8-3.11
 * local symbols), then _PyRuntime + per-version offsets (3.12: +96/+136/+176,
 * 3.13: +704/+744/+784, 3.14: +880/+920/+960), then disassembly of the
 * exported wrappers. Every candidate must give three distinct,
 * non-overlapping, 8-aligned tables in a writable data section (.data/.bss)
 * whose initial malloc/calloc/realloc/free pointers, where the file has
 * them, point into .text (required for "runtime"). A symtab or runtime
 * answer that the wrappers' disassembly contradicts is dropped in favour of
 * the disassembly (the wrappers are what the interpreter actually uses).
 * Returns 0 if all three were found, else -ENOENT (-EINVAL on bad input);
 * out is always initialised.
 */
int alloc_tables_find(const struct elf_image *img, unsigned minor, struct alloc_tables *out);

#endif
