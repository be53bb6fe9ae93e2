/* SPDX-License-Identifier: MIT */
/*
 * Finding CPython's allocator tables in an interpreter image.
 *
 * The disassembler is a tiny abstract interpreter over x86-64: each general
 * purpose register holds "unknown", a constant, "*(A) + d" or "*(*(A) + d)"
 * (A a link-time address), which covers direct RIP-relative / absolute loads
 * and the GOT indirection of libpython3.12+.so. Paths are explored
 * breadth-first from the entry, so in LTO builds, where the wrapper first
 * tests its own table's malloc slot against the inlined default and only
 * later (pymalloc falling back to the RAW domain) touches another table, the
 * wrapper's own dispatch is reached first.
 */
#include "alloc_tables.h"

#include "x86_decoder.h"
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- register file ---------------------------------------------------- */

enum { NGPR = X86_NGPR, GPR_RDI = 7 };

enum vkind {
	V_UNK = 0,
	V_CONST,	/* value = a */
	V_DEREF,	/* value = *(a) + d */
	V_DEREF2,	/* value = *(*(a) + d) */
};

struct val {
	enum vkind kind;
	uint64_t a;
	int64_t d;
};

enum lkind { L_NONE = 0, L_ABS, L_IND };

struct loc {		/* a memory location */
	enum lkind kind;
	uint64_t a;	/* L_ABS: the address; L_IND: where the base pointer is */
	int64_t d;	/* L_IND: *(a) + d */
};

struct thread {
	uint64_t ip;
	struct val r[NGPR];
};

static struct val reg_val(const struct thread *t, unsigned reg)
{
	bool is64;
	int i = x86_gpr_index(reg, &is64);

	if (i < 0 || !is64)
		return (struct val){ V_UNK, 0, 0 };
	return t->r[i];
}

static struct loc mem_loc(const struct thread *t, const cs_insn *insn,
			  const cs_x86_op *op)
{
	const x86_op_mem *m = &op->mem;
	struct val b;

	if (m->segment != X86_REG_INVALID || m->index != X86_REG_INVALID)
		return (struct loc){ L_NONE, 0, 0 };
	if (m->base == X86_REG_RIP)
		return (struct loc){ L_ABS, insn->address + insn->size + (uint64_t)m->disp, 0 };
	if (m->base == X86_REG_INVALID)
		return (struct loc){ L_ABS, (uint64_t)m->disp, 0 };
	b = reg_val(t, m->base);
	if (b.kind == V_CONST)
		return (struct loc){ L_ABS, b.a + (uint64_t)m->disp, 0 };
	if (b.kind == V_DEREF)
		return (struct loc){ L_IND, b.a, b.d + m->disp };
	return (struct loc){ L_NONE, 0, 0 };
}

static struct val load_from(struct loc l)
{
	if (l.kind == L_ABS)
		return (struct val){ V_DEREF, l.a, 0 };
	if (l.kind == L_IND)
		return (struct val){ V_DEREF2, l.a, l.d };
	return (struct val){ V_UNK, 0, 0 };
}

/* The slot an indirect call/jmp goes through, if known. */
static struct loc target_slot(const struct thread *t, const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;
	struct val v;

	if (x->op_count < 1)
		return (struct loc){ L_NONE, 0, 0 };
	if (x->operands[0].type == X86_OP_MEM)
		return mem_loc(t, insn, &x->operands[0]);
	if (x->operands[0].type != X86_OP_REG)
		return (struct loc){ L_NONE, 0, 0 };
	v = reg_val(t, x->operands[0].reg);
	if (v.kind == V_DEREF && v.d == 0)
		return (struct loc){ L_ABS, v.a, 0 };
	if (v.kind == V_DEREF2)
		return (struct loc){ L_IND, v.a, v.d };
	return (struct loc){ L_NONE, 0, 0 };
}

/* Is rdi the ctx slot (slot - 8) of the table whose malloc slot is s? */
static bool rdi_is_ctx(const struct thread *t, struct loc s)
{
	const struct val *v = &t->r[GPR_RDI];

	if (s.kind == L_ABS)
		return v->kind == V_DEREF && v->d == 0 && v->a == s.a - 8;
	if (s.kind == L_IND)
		return v->kind == V_DEREF2 && v->a == s.a && v->d == s.d - 8;
	return false;
}

static void clobber_call(struct thread *t)
{
	static const int volatile_regs[] = { 0, 1, 2, 6, 7, 8, 9, 10, 11 };
	size_t i;

	for (i = 0; i < sizeof(volatile_regs) / sizeof(volatile_regs[0]); i++)
		t->r[volatile_regs[i]] = (struct val){ V_UNK, 0, 0 };
}

/* Data movement we model; everything else written becomes unknown. */
static void step_data(csh cs, struct thread *t, const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0, k;
	struct val nv = { V_UNK, 0, 0 };
	int dst = -1;
	bool is64 = false;

	if (x->op_count == 2 && x->operands[0].type == X86_OP_REG)
		dst = x86_gpr_index(x->operands[0].reg, &is64);
	if (dst >= 0) {
		const cs_x86_op *src = &x->operands[1];

		switch (insn->id) {
		case X86_INS_MOV:
		case X86_INS_MOVABS:
			if (src->type == X86_OP_IMM && (is64 || x->operands[0].size == 4))
				/* 32-bit writes zero-extend (mov $addr,%esi) */
				nv = (struct val){ V_CONST,
					is64 ? (uint64_t)src->imm
					     : (uint64_t)(uint32_t)src->imm, 0 };
			else if (!is64)
				break;
			else if (src->type == X86_OP_REG)
				nv = reg_val(t, src->reg);
			else if (src->type == X86_OP_MEM && src->size == 8)
				nv = load_from(mem_loc(t, insn, src));
			break;
		case X86_INS_LEA:
			if (is64 && src->type == X86_OP_MEM) {
				struct loc l = mem_loc(t, insn, src);

				if (l.kind == L_ABS)
					nv = (struct val){ V_CONST, l.a, 0 };
				else if (l.kind == L_IND)
					nv = (struct val){ V_DEREF, l.a, l.d };
			}
			break;
		case X86_INS_ADD:
		case X86_INS_SUB:
			if (is64 && src->type == X86_OP_IMM) {
				int64_t delta = insn->id == X86_INS_ADD ? src->imm : -src->imm;

				nv = t->r[dst];
				if (nv.kind == V_CONST)
					nv.a += (uint64_t)delta;
				else if (nv.kind == V_DEREF)
					nv.d += delta;
				else
					nv.kind = V_UNK;
			}
			break;
		default:
			break;
		}
	}
	if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) == CS_ERR_OK) {
		for (k = 0; k < nwr; k++) {
			int i = x86_gpr_index(wr[k], NULL);

			if (i >= 0)
				t->r[i] = (struct val){ V_UNK, 0, 0 };
		}
	} else if (dst >= 0) {
		t->r[dst] = (struct val){ V_UNK, 0, 0 };
	}
	if (dst >= 0 && nv.kind != V_UNK)
		t->r[dst] = nv;
}

enum { MAX_THREADS = 64, MAX_VISITS = 4, MAX_STEPS = 20000 };

struct walk {
	const uint8_t *code;
	size_t len;
	uint64_t base;
	uint8_t *visits;
	struct thread q[MAX_THREADS];
	size_t head, count;
};

static void push(struct walk *w, const struct thread *t)
{
	uint64_t off;

	if (t->ip < w->base || t->ip - w->base >= w->len)
		return;		/* leaves the function (cold part, tail call) */
	off = t->ip - w->base;
	if (w->visits[off] >= MAX_VISITS || w->count == MAX_THREADS)
		return;
	w->visits[off]++;
	w->q[(w->head + w->count++) % MAX_THREADS] = *t;
}

static bool is_jcc(csh cs, const cs_insn *insn)
{
	return insn->id != X86_INS_JMP && cs_insn_group(cs, insn, X86_GRP_JUMP);
}

int alloc_table_from_wrapper_ex(const uint8_t *code, size_t len, uint64_t func_vaddr,
				alloc_read_ptr_fn read_ptr, void *arg,
				uint64_t *table_vaddr)
{
	struct x86_decoder d;
	struct walk *w;
	struct thread t0;
	cs_insn *insn;
	csh cs;
	int ret = -ENOENT, steps = 0;

	if (!code || !len || !table_vaddr || len > (1u << 20) ||
	    func_vaddr + len < func_vaddr)
		return -EINVAL;
	if (x86_decoder_open(&d))
		return -ENOMEM;
	cs = d.cs;
	insn = d.insn;
	w = calloc(1, sizeof(*w));
	if (w)
		w->visits = calloc(len, 1);
	if (!w || !w->visits) {
		ret = -ENOMEM;
		goto out;
	}
	w->code = code;
	w->len = len;
	w->base = func_vaddr;
	memset(&t0, 0, sizeof(t0));
	t0.ip = func_vaddr;
	push(w, &t0);

	while (w->count && steps++ < MAX_STEPS) {
		struct thread t = w->q[w->head];
		const uint8_t *p = code + (t.ip - func_vaddr);
		size_t left = len - (size_t)(t.ip - func_vaddr);
		uint64_t addr = t.ip;
		const cs_x86 *x;

		w->head = (w->head + 1) % MAX_THREADS;
		w->count--;
		if (!cs_disasm_iter(cs, &p, &left, &addr, insn))
			continue;	/* undecodable or truncated: drop path */
		x = &insn->detail->x86;
		t.ip = addr;		/* next instruction */

		if (cs_insn_group(cs, insn, X86_GRP_RET) ||
		    cs_insn_group(cs, insn, X86_GRP_INT) ||
		    insn->id == X86_INS_UD2 || insn->id == X86_INS_HLT)
			continue;

		if (insn->id == X86_INS_JMP || insn->id == X86_INS_CALL) {
			bool direct = x->op_count == 1 && x->operands[0].type == X86_OP_IMM;

			if (direct) {
				if (insn->id == X86_INS_JMP) {
					t.ip = (uint64_t)x->operands[0].imm;
				} else {
					clobber_call(&t);
				}
				push(w, &t);
				continue;
			}
			{
				struct loc s = target_slot(&t, insn);

				if (s.kind != L_NONE && rdi_is_ctx(&t, s)) {
					if (s.kind == L_ABS) {
						*table_vaddr = s.a - 8;
						ret = 0;
					} else if (!read_ptr) {
						ret = -ENXIO;
					} else {
						uint64_t p0;

						ret = read_ptr(arg, s.a, &p0);
						if (!ret)
							*table_vaddr = p0 + (uint64_t)s.d - 8;
						else
							ret = -ENXIO;
					}
					goto out;
				}
			}
			if (insn->id == X86_INS_CALL) {
				clobber_call(&t);
				push(w, &t);
			}
			continue;
		}

		if (is_jcc(cs, insn)) {
			struct thread taken = t;

			if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
				taken.ip = (uint64_t)x->operands[0].imm;
				push(w, &taken);
			}
			push(w, &t);
			continue;
		}

		step_data(cs, &t, insn);
		push(w, &t);
	}
out:
	if (w)
		free(w->visits);
	free(w);
	x86_decoder_close(&d);
	return ret;
}

int alloc_table_from_wrapper(const uint8_t *code, size_t len, uint64_t func_vaddr,
			     uint64_t *table_vaddr)
{
	return alloc_table_from_wrapper_ex(code, len, func_vaddr, NULL, NULL,
					   table_vaddr);
}

/* ---- reading pointers out of the image ------------------------------- */

int alloc_image_read_ptr(void *arg, uint64_t vaddr, uint64_t *value)
{
	const struct elf_image *img = arg;
	uint64_t rela, rela_size, off;
	Elf64_Rela chunk[512];
	int err;

	if (!img || !value)
		return -EINVAL;
	if (!elf_image_section(img, ".rela.dyn", &rela, &rela_size)) {
		for (off = 0; off + sizeof(Elf64_Rela) <= rela_size;) {
			size_t n = (rela_size - off) / sizeof(Elf64_Rela), i;

			if (n > sizeof(chunk) / sizeof(chunk[0]))
				n = sizeof(chunk) / sizeof(chunk[0]);
			err = elf_image_read(img, rela + off, chunk, n * sizeof(Elf64_Rela));
			if (err)
				break;
			for (i = 0; i < n; i++) {
				const Elf64_Rela *r = &chunk[i];
				uint32_t type = ELF64_R_TYPE(r->r_info);
				uint64_t dynsym, dynsym_size;
				Elf64_Sym s;

				if (r->r_offset != vaddr)
					continue;
				if (type == R_X86_64_RELATIVE) {
					*value = (uint64_t)r->r_addend;
					return 0;
				}
				if (type != R_X86_64_GLOB_DAT && type != R_X86_64_64)
					return -ENOENT;	/* IRELATIVE, TPOFF, ... */
				if (elf_image_section(img, ".dynsym", &dynsym, &dynsym_size) ||
				    (ELF64_R_SYM(r->r_info) + 1) * sizeof(s) > dynsym_size ||
				    elf_image_read(img, dynsym + ELF64_R_SYM(r->r_info) * sizeof(s),
						   &s, sizeof(s)))
					return -ENOENT;
				if (s.st_shndx == SHN_UNDEF)
					return -ENOENT;	/* defined elsewhere */
				*value = s.st_value +
					 (type == R_X86_64_64 ? (uint64_t)r->r_addend : 0);
				return 0;
			}
			off += n * sizeof(Elf64_Rela);
		}
	}
	/* no dynamic relocation: the file holds the value (ET_EXEC, RELR) */
	return elf_image_read(img, vaddr, value, sizeof(*value));
}

/* ---- validation ------------------------------------------------------ */

static bool in_sections(const struct elf_image *img, uint64_t addr, uint64_t size,
			const char *const *names)
{
	for (; *names; names++) {
		uint64_t va, sz;

		if (!elf_image_section(img, *names, &va, &sz) &&
		    addr >= va && addr + size <= va + sz)
			return true;
	}
	return false;
}

static const char *const writable_sections[] = {
	/* 3.12+ keep _PyRuntime in its own .PyRuntime section */
	".data", ".bss", ".data.rel", ".data.rel.local", ".PyRuntime", NULL
};
/* GNU ld and lld fold .text.hot/.unlikely/.startup into .text by default */
static const char *const text_sections[] = {
	".text", ".text.hot", ".text.unlikely", ".text.startup", NULL
};

/* Fills out->dflt from the file and checks the candidate tables. With
 * need_defaults, every slot's initial value must be a .text address. */
static bool validate(const struct elf_image *img, struct alloc_tables *out,
		     bool need_defaults)
{
	int d, e, s;

	memset(out->dflt, 0, sizeof(out->dflt));
	for (d = 0; d < 3; d++) {
		uint64_t a = out->table[d];

		if (!a || (a & 7) ||
		    !in_sections(img, a, ALLOC_TABLE_SIZE, writable_sections))
			return false;
		for (e = 0; e < d; e++) {
			uint64_t b = out->table[e];

			if ((a > b ? a - b : b - a) < ALLOC_TABLE_SIZE)
				return false;
		}
		for (s = 0; s < 4; s++) {
			uint64_t fn = 0;

			if (alloc_image_read_ptr((void *)img, a + 8 + 8 * (uint64_t)s, &fn) ||
			    !fn) {
				if (need_defaults)
					return false;
				continue;
			}
			if (!in_sections(img, fn, 1, text_sections))
				return false;
			out->dflt[d][s] = fn;
		}
	}
	return true;
}

/* ---- the three methods ----------------------------------------------- */

static int by_symtab(const struct elf_image *img, unsigned minor, uint64_t t[3])
{
	static const char *const names[3] = { "_PyMem_Raw", "_PyMem", "_PyObject" };
	int d;

	if (minor >= 12 || !elf_image_has_symtab(img))
		return -ENOENT;
	for (d = 0; d < 3; d++) {
		struct elf_symbol sym;

		if (elf_image_find_symbol(img, names[d], &sym) || !sym.local ||
		    sym.function || (sym.size && sym.size != ALLOC_TABLE_SIZE))
			return -ENOENT;
		t[d] = sym.vaddr;
	}
	return 0;
}

/* offsetof(_PyRuntimeState, allocators.standard.raw); mem and obj follow
 * at +40 and +80. Checked against pycore_runtime.h built with
 * Py_BUILD_CORE for 3.12.1 and 3.13.0; 3.14 from the notes (3.14.7). */
static int runtime_offset(unsigned minor, uint64_t *off)
{
	switch (minor) {
	case 12: *off = 96; return 0;
	case 13: *off = 704; return 0;
	case 14: *off = 880; return 0;
	default: return -ENOENT;
	}
}

static int by_runtime(const struct elf_image *img, unsigned minor, uint64_t t[3])
{
	struct elf_symbol sym;
	uint64_t off;
	int d;

	if (minor < 12 || runtime_offset(minor, &off) ||
	    elf_image_find_symbol(img, "_PyRuntime", &sym) || sym.function ||
	    (sym.size && sym.size < off + 3 * ALLOC_TABLE_SIZE))
		return -ENOENT;
	for (d = 0; d < 3; d++)
		t[d] = sym.vaddr + off + (uint64_t)d * ALLOC_TABLE_SIZE;
	return 0;
}

static int by_disassembly(const struct elf_image *img, uint64_t t[3])
{
	static const char *const wrappers[3] = {
		"PyMem_RawMalloc", "PyMem_Malloc", "PyObject_Malloc"
	};
	int d;

	for (d = 0; d < 3; d++) {
		struct elf_symbol sym;
		uint8_t *buf;
		size_t len;
		int err;

		if (elf_image_find_symbol(img, wrappers[d], &sym) || !sym.function)
			return -ENOENT;
		len = sym.size ? (size_t)sym.size : 128;
		if (len > 65536)
			len = 65536;
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
		err = elf_image_read(img, sym.vaddr, buf, len);
		while (err && !sym.size && len > 16) {
			len /= 2;	/* unsized symbol near a segment end */
			err = elf_image_read(img, sym.vaddr, buf, len);
		}
		if (!err)
			err = alloc_table_from_wrapper_ex(buf, len, sym.vaddr,
							  alloc_image_read_ptr,
							  (void *)img, &t[d]);
		free(buf);
		if (err)
			return -ENOENT;
	}
	return 0;
}

int alloc_tables_find(const struct elf_image *img, unsigned minor, struct alloc_tables *out)
{
	struct alloc_tables dis = { { 0 }, NULL, { { 0 } } };
	bool have_dis;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!img)
		return -EINVAL;

	have_dis = !by_disassembly(img, dis.table) && validate(img, &dis, false);
	if (have_dis)
		dis.method = "disassembly";

	if (!by_symtab(img, minor, out->table) && validate(img, out, false) &&
	    (!have_dis || !memcmp(out->table, dis.table, sizeof(dis.table)))) {
		out->method = "symtab";
		return 0;
	}
	if (!by_runtime(img, minor, out->table) && validate(img, out, true) &&
	    (!have_dis || !memcmp(out->table, dis.table, sizeof(dis.table)))) {
		out->method = "runtime";
		return 0;
	}
	if (have_dis) {
		*out = dis;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -ENOENT;
}
