/* SPDX-License-Identifier: MIT */
/* Read-only view of an ELF file on disk: symbols, segments, bytes. */
#ifndef LEAKBPF_ELF_IMAGE_H
#define LEAKBPF_ELF_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_image;

struct elf_symbol {
	uint64_t vaddr;		/* link-time address */
	uint64_t size;
	bool local;		/* STB_LOCAL: present only in .symtab */
	bool function;		/* STT_FUNC (or IFUNC) */
};

/* Opens path (already prefixed with /proc/PID/root when needed).
 * Returns 0 or -errno. */
int elf_image_open(const char *path, struct elf_image **out);
void elf_image_close(struct elf_image *img);

/* Looks name up in .symtab first, then .dynsym. Returns 0, -ENOENT. */
int elf_image_find_symbol(const struct elf_image *img, const char *name,
			  struct elf_symbol *sym);
/* Converts a link-time address to an offset in the file (for uprobes). */
int elf_image_vaddr_to_offset(const struct elf_image *img, uint64_t vaddr,
			      uint64_t *offset);
/* Converts a file offset back to a link-time address (for load bias). */
int elf_image_offset_to_vaddr(const struct elf_image *img, uint64_t offset,
			      uint64_t *vaddr);
/* Copies len bytes at link-time address vaddr out of the file. */
int elf_image_read(const struct elf_image *img, uint64_t vaddr, void *buf,
		   size_t len);
/* Nearest function symbol at or below vaddr: name and offset into it.
 * The name stays valid until elf_image_close. Returns 0 or -ENOENT. */
int elf_image_symbolize(const struct elf_image *img, uint64_t vaddr,
			const char **name, uint64_t *offset_in_sym);

bool elf_image_is_pie_or_dso(const struct elf_image *img);	/* ET_DYN */
bool elf_image_has_symtab(const struct elf_image *img);
uint64_t elf_image_entry(const struct elf_image *img);
/* Link-time address range of a named section; -ENOENT if absent. */
int elf_image_section(const struct elf_image *img, const char *name,
		      uint64_t *vaddr, uint64_t *size);
/* NUL-terminated DT_NEEDED / PT_INTERP style lookups are not needed yet. */

#endif
