// SPDX-License-Identifier: MIT
/*
 * ELF files through libelf. Symbol tables are read once into a sorted array:
 * the tracer looks up a few names per process but symbolises many native
 * addresses, so binary search over one array pays off.
 */
#include "elf_image.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct elf_sym_entry {
	uint64_t vaddr;
	uint64_t size;
	const char *name;	/* into the file's mapped string table */
	bool local;
	bool function;
	bool from_symtab;
};

struct elf_segment {
	uint64_t vaddr, memsz, offset, filesz;
	uint32_t flags;
};

struct elf_image {
	int fd;
	Elf *elf;
	GElf_Ehdr ehdr;
	struct elf_segment *segs;
	size_t nsegs;
	struct elf_sym_entry *syms;	/* sorted by vaddr */
	size_t nsyms;
	bool has_symtab;
	bool symbols_cut;		/* MAX_SYMBOLS reached */
};

/* Symbols kept per file: a real libpython has ~15k, glibc ~3k; a file of
 * a pod's making with millions would otherwise size the agent's memory */
#define MAX_SYMBOLS (1u << 20)

static int collect_symbols(struct elf_image *img, Elf_Scn *scn, GElf_Shdr *sh,
			   bool is_symtab, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n, i;

	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n && img->nsyms < MAX_SYMBOLS; i++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(data, (int)i, &s))
			continue;
		type = GELF_ST_TYPE(s.st_info);
		if (s.st_shndx == SHN_UNDEF || !s.st_value)
			continue;
		if (type != STT_FUNC && type != STT_OBJECT &&
		    type != STT_GNU_IFUNC && type != STT_NOTYPE)
			continue;
		/* into the mapped string table, which libelf checked ends in
		 * a NUL inside the section: no copy, whatever its length */
		name = elf_strptr(img->elf, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		if (img->nsyms == *cap) {
			size_t ncap = *cap ? *cap * 2 : 1024;
			struct elf_sym_entry *v = realloc(img->syms, ncap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			img->syms = v;
			*cap = ncap;
		}
		img->syms[img->nsyms++] = (struct elf_sym_entry){
			.vaddr = s.st_value,
			.size = s.st_size,
			.name = name,
			.local = GELF_ST_BIND(s.st_info) == STB_LOCAL,
			.function = type == STT_FUNC || type == STT_GNU_IFUNC,
			.from_symtab = is_symtab,
		};
	}
	if (img->nsyms >= MAX_SYMBOLS)
		img->symbols_cut = true;
	return 0;
}

static int cmp_sym(const void *a, const void *b)
{
	const struct elf_sym_entry *x = a, *y = b;

	if (x->vaddr != y->vaddr)
		return x->vaddr < y->vaddr ? -1 : 1;
	/* prefer sized, global names when several share an address */
	if ((x->size == 0) != (y->size == 0))
		return x->size == 0 ? 1 : -1;
	if (x->local != y->local)
		return x->local ? 1 : -1;
	return 0;
}

static int load_symbols(struct elf_image *img)
{
	Elf_Scn *scn = NULL;
	size_t cap = 0;
	int err;

	while ((scn = elf_nextscn(img->elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM)
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			img->has_symtab = true;
		err = collect_symbols(img, scn, &sh, sh.sh_type == SHT_SYMTAB, &cap);
		if (err)
			return err;
	}
	if (img->symbols_cut)
		pr_warn("an ELF file has over %u symbols: the rest are not read", MAX_SYMBOLS);
	if (img->nsyms)
		qsort(img->syms, img->nsyms, sizeof(*img->syms), cmp_sym);
	return 0;
}

static int load_segments(struct elf_image *img)
{
	size_t n, i;

	if (elf_getphdrnum(img->elf, &n))
		return -EINVAL;
	img->segs = calloc(n ? n : 1, sizeof(*img->segs));
	if (!img->segs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(img->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		img->segs[img->nsegs++] = (struct elf_segment){
			.vaddr = ph.p_vaddr, .memsz = ph.p_memsz,
			.offset = ph.p_offset, .filesz = ph.p_filesz,
			.flags = ph.p_flags,
		};
	}
	return 0;
}

int elf_image_open(const char *path, struct elf_image **out)
{
	struct elf_image *img;
	int err;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	/* nonblocking: a FIFO at a path given to us must not hang the open */
	img->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (img->fd < 0) {
		err = -errno;
		free(img);
		return err;
	}
	{
		struct stat st;

		if (fstat(img->fd, &st) || !S_ISREG(st.st_mode)) {
			err = -ENOEXEC;
			goto fail;
		}
	}
	img->elf = elf_begin(img->fd, ELF_C_READ_MMAP, NULL);
	if (!img->elf || elf_kind(img->elf) != ELF_K_ELF ||
	    !gelf_getehdr(img->elf, &img->ehdr) ||
	    gelf_getclass(img->elf) != ELFCLASS64) {
		err = -ENOEXEC;
		goto fail;
	}
	err = load_segments(img);
	if (!err)
		err = load_symbols(img);
	if (err)
		goto fail;
	*out = img;
	return 0;
fail:
	elf_image_close(img);
	return err;
}

void elf_image_close(struct elf_image *img)
{
	if (!img)
		return;
	if (img->elf)
		elf_end(img->elf);
	if (img->fd >= 0)
		close(img->fd);
	free(img->segs);
	free(img->syms);
	free(img);
}

int elf_image_find_symbol(const struct elf_image *img, const char *name,
			  struct elf_symbol *sym)
{
	const struct elf_sym_entry *best = NULL;
	size_t i;

	/* Linear: called a handful of times per process. .symtab wins
	 * because it also knows the local (static) names. */
	for (i = 0; i < img->nsyms; i++) {
		const struct elf_sym_entry *e = &img->syms[i];

		if (strcmp(e->name, name))
			continue;
		if (!best || (e->from_symtab && !best->from_symtab))
			best = e;
	}
	if (!best)
		return -ENOENT;
	*sym = (struct elf_symbol){ .vaddr = best->vaddr, .size = best->size,
				    .local = best->local,
				    .function = best->function };
	return 0;
}

int elf_image_vaddr_to_offset(const struct elf_image *img, uint64_t vaddr,
			      uint64_t *offset)
{
	size_t i;

	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if (vaddr >= s->vaddr && vaddr < s->vaddr + s->filesz) {
			*offset = vaddr - s->vaddr + s->offset;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_image_offset_to_vaddr(const struct elf_image *img, uint64_t offset,
			      uint64_t *vaddr)
{
	size_t i;

	for (i = 0; i < img->nsegs; i++) {
		const struct elf_segment *s = &img->segs[i];

		if (offset >= s->offset && offset < s->offset + s->filesz) {
			*vaddr = offset - s->offset + s->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_image_read(const struct elf_image *img, uint64_t vaddr, void *buf,
		   size_t len)
{
	uint64_t off;
	ssize_t n;
	int err = elf_image_vaddr_to_offset(img, vaddr, &off);

	if (err)
		return err;
	n = pread(img->fd, buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int elf_image_symbolize(const struct elf_image *img, uint64_t vaddr,
			const char **name, uint64_t *offset_in_sym)
{
	size_t lo = 0, hi = img->nsyms;
	const struct elf_sym_entry *e;

	/* last symbol with start <= vaddr */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (img->syms[mid].vaddr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo > 0) {
		e = &img->syms[lo - 1];
		if (e->function || !e->size) {
			/* a sized symbol must contain the address */
			if (e->size && vaddr >= e->vaddr + e->size)
				return -ENOENT;
			*name = e->name;
			*offset_in_sym = vaddr - e->vaddr;
			return 0;
		}
		lo--;
	}
	return -ENOENT;
}

bool elf_image_is_pie_or_dso(const struct elf_image *img)
{
	return img->ehdr.e_type == ET_DYN;
}

bool elf_image_has_symtab(const struct elf_image *img)
{
	return img->has_symtab;
}

uint64_t elf_image_entry(const struct elf_image *img)
{
	return img->ehdr.e_entry;
}

int elf_image_section(const struct elf_image *img, const char *name,
		      uint64_t *vaddr, uint64_t *size)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(img->elf, &shstrndx))
		return -EINVAL;
	while ((scn = elf_nextscn(img->elf, scn))) {
		GElf_Shdr sh;
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(img->elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			*vaddr = sh.sh_addr;
			*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
}
