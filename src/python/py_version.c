// SPDX-License-Identifier: MIT
/*
 * Which CPython an ELF file holds, read from the file itself, not its name:
 * Py_Version (3.11+, PY_VERSION_HEX), else the PY_VERSION string that the
 * exported Py_GetVersion() hands to snprintf. The string cannot be searched
 * for directly: linkers merge string tails, and "3.8.18" usually lives at the
 * end of "/root/.pyenv/versions/3.8.18". So Py_GetVersion's instructions are
 * decoded and every address they load is tried as the version string.
 */
#include "py_version.h"

#include "x86_decoder.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FUNC_BYTES 512

/* "3.10.13", "3.13.0rc2", "3.12.1+": major.minor.micro, then a release tag
 * or nothing. Returns true and fills the numbers when s is one. */
bool py_version_parse(const char *s, unsigned *major, unsigned *minor, unsigned *micro)
{
	unsigned a, b, c;
	int n = 0;

	if (sscanf(s, "%u.%u.%u%n", &a, &b, &c, &n) != 3 || a != 3 || b > 99 || c > 99)
		return false;
	s += n;
	/* a release tag (a1, b2, rc1) and a '+' for builds past a release */
	while (*s && (isalnum((unsigned char)*s) || *s == '+'))
		s++;
	if (*s)
		return false;
	*major = a;
	*minor = b;
	*micro = c;
	return true;
}

/* Tries the NUL-terminated string at a link-time address. */
static bool version_at(const struct elf_image *img, uint64_t vaddr, unsigned v[3])
{
	char buf[24];
	size_t i;

	if (elf_image_read(img, vaddr, buf, sizeof(buf)))
		return false;
	for (i = 0; i < sizeof(buf) && buf[i]; i++)
		;
	if (i == sizeof(buf))
		return false;
	return py_version_parse(buf, &v[0], &v[1], &v[2]);
}

static int from_get_version(const struct elf_image *img, unsigned v[3])
{
	struct elf_symbol sym;
	uint8_t code[MAX_FUNC_BYTES];
	const uint8_t *p = code;
	size_t len, left;
	uint64_t addr;
	struct x86_decoder d;
	cs_insn *insn;
	int err = -ENOENT;

	if (elf_image_find_symbol(img, "Py_GetVersion", &sym))
		return -ENOENT;
	len = sym.size && sym.size < sizeof(code) ? sym.size : sizeof(code);
	if (elf_image_read(img, sym.vaddr, code, len))
		return -EIO;
	if (x86_decoder_open(&d))
		return -ENOMEM;
	insn = d.insn;
	left = len;
	addr = sym.vaddr;
	while (err && cs_disasm_iter(d.cs, &p, &left, &addr, insn)) {
		const cs_x86 *x = &insn->detail->x86;
		uint8_t i;

		for (i = 0; i < x->op_count && err; i++) {
			const cs_x86_op *op = &x->operands[i];

			/* lea reg, [rip + disp] (PIC) or mov reg, imm (non-PIE) */
			if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP &&
			    version_at(img, insn->address + insn->size + (uint64_t)op->mem.disp, v))
				err = 0;
			else if (op->type == X86_OP_IMM && op->imm > 0 &&
				 version_at(img, (uint64_t)op->imm, v))
				err = 0;
		}
	}
	x86_decoder_close(&d);
	return err;
}

int py_version_from_image(const struct elf_image *img, unsigned *major, unsigned *minor,
			  unsigned *micro, const char **method)
{
	struct elf_symbol sym;
	unsigned v[3];
	uint64_t hex = 0;

	if (!elf_image_find_symbol(img, "Py_Version", &sym) &&
	    !elf_image_read(img, sym.vaddr, &hex, sizeof(hex)) && (hex >> 24) == 3) {
		*major = 3;
		*minor = (unsigned)(hex >> 16) & 0xff;
		*micro = (unsigned)(hex >> 8) & 0xff;
		*method = "Py_Version";
		return 0;
	}
	if (!from_get_version(img, v)) {
		*major = v[0];
		*minor = v[1];
		*micro = v[2];
		*method = "Py_GetVersion";
		return 0;
	}
	return -ENOENT;
}
