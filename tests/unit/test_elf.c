// SPDX-License-Identifier: MIT
/* ELF lookups against binaries every machine of ours has. */
#include <errno.h>
#include <string.h>

#include "elf_image.h"
#include "testing.h"

static void test_libc(void)
{
	const char *path = "/lib/x86_64-linux-gnu/libc.so.6";
	struct elf_image *img;
	struct elf_symbol sym;
	uint64_t off, back;
	const char *name;
	uint64_t in;
	unsigned char code[4];

	CHECK(elf_image_open(path, &img) == 0, "open %s", path);
	if (!img)
		return;
	CHECK(elf_image_is_pie_or_dso(img), "libc is a DSO");
	CHECK(elf_image_find_symbol(img, "malloc", &sym) == 0 && sym.function, "malloc found");
	CHECK(elf_image_vaddr_to_offset(img, sym.vaddr, &off) == 0, "malloc has a file offset");
	CHECK(elf_image_offset_to_vaddr(img, off, &back) == 0 && back == sym.vaddr, "round trip");
	CHECK(elf_image_symbolize(img, sym.vaddr + 3, &name, &in) == 0 && in == 3,
	      "symbolize inside malloc");
	CHECK(elf_image_read(img, sym.vaddr, code, sizeof(code)) == 0, "read code");
	CHECK(elf_image_find_symbol(img, "no_such_symbol_xyz", &sym) == -ENOENT, "absent symbol");
	elf_image_close(img);
}

static void test_python(void)
{
	struct elf_image *img;
	struct elf_symbol sym;
	uint64_t va, size;

	/* Debian's interpreter: non-PIE, stripped, exports _PyRuntime */
	if (elf_image_open("/usr/bin/python3.11", &img)) {
		printf("skip: /usr/bin/python3.11 not installed\n");
		return;
	}
	CHECK(!elf_image_is_pie_or_dso(img), "non-PIE executable");
	CHECK(!elf_image_has_symtab(img), "stripped");
	CHECK(elf_image_find_symbol(img, "_PyRuntime", &sym) == 0 && !sym.local, "_PyRuntime exported");
	CHECK(elf_image_section(img, ".PyRuntime", &va, &size) == 0 && va == sym.vaddr,
	      ".PyRuntime section starts with _PyRuntime");
	CHECK(elf_image_entry(img) != 0, "entry point");
	elf_image_close(img);
}

static void test_not_elf(void)
{
	struct elf_image *img = NULL;

	CHECK(elf_image_open("/etc/passwd", &img) == -ENOEXEC, "text file refused");
	CHECK(elf_image_open("/nonexistent", &img) == -ENOENT, "missing file");
}

int main(void)
{
	test_libc();
	test_python();
	test_not_elf();
	return tests_summary();
}
