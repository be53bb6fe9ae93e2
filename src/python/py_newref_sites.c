// SPDX-License-Identifier: MIT
#include "py_newref_sites.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "leakbpf_shared.h"
#include "x86_decoder.h"

/* Instructions looked at on the flag-is-0 path for the store, and before a
 * 3.13 check for it: the compiler keeps them next to each other. */
#define FORWARD_WINDOW 8
#define BACKWARD_WINDOW 6
/* A getter is a handful of instructions. */
#define GETTER_WINDOW 16
/* The file is the target's: its section sizes and what its code holds are
 * bounded by our limits, not its own. libpython's .text is ~3-5 MiB and
 * holds a few hundred sites (Debian's 3.11: 252). */
#define NEWREF_MAX_TEXT (64u << 20)
#define NEWREF_MAX_SITES 4096

static int lb_reg_of(x86_reg r)
{
	switch (r) {
	case X86_REG_R15: return LB_REG_R15;
	case X86_REG_R14: return LB_REG_R14;
	case X86_REG_R13: return LB_REG_R13;
	case X86_REG_R12: return LB_REG_R12;
	case X86_REG_RBP: return LB_REG_RBP;
	case X86_REG_RBX: return LB_REG_RBX;
	case X86_REG_R11: return LB_REG_R11;
	case X86_REG_R10: return LB_REG_R10;
	case X86_REG_R9: return LB_REG_R9;
	case X86_REG_R8: return LB_REG_R8;
	case X86_REG_RAX: return LB_REG_RAX;
	case X86_REG_RCX: return LB_REG_RCX;
	case X86_REG_RDX: return LB_REG_RDX;
	case X86_REG_RSI: return LB_REG_RSI;
	case X86_REG_RDI: return LB_REG_RDI;
	default: return -1;
	}
}

/* Values some registers are known to hold: an address loaded from a GOT
 * slot or computed with a RIP-relative lea, until the register changes. */
struct known_regs {
	uint64_t v[LB_REG__COUNT];
};

static void forget_all(struct known_regs *k)
{
	memset(k, 0, sizeof(*k));
}

/* A call may change every caller-saved register. */
static void forget_caller_saved(struct known_regs *k)
{
	static const int clobbered[] = { LB_REG_RAX, LB_REG_RCX, LB_REG_RDX, LB_REG_RSI,
					 LB_REG_RDI, LB_REG_R8, LB_REG_R9, LB_REG_R10,
					 LB_REG_R11 };
	size_t i;

	for (i = 0; i < sizeof(clobbered) / sizeof(clobbered[0]); i++)
		k->v[clobbered[i]] = 0;
}

static uint64_t reg_value(const struct known_regs *k, x86_reg r)
{
	int i = lb_reg_of(r);

	return i < 0 ? 0 : k->v[i];
}

/* The address a memory operand names, when it can be known: RIP-relative,
 * absolute, or a known register plus a displacement. 0 otherwise. */
static uint64_t mem_address(const cs_insn *insn, const cs_x86_op *op, const struct known_regs *k)
{
	const x86_op_mem *m = &op->mem;

	if (m->index != X86_REG_INVALID || m->segment != X86_REG_INVALID)
		return 0;
	if (m->base == X86_REG_RIP)
		return insn->address + insn->size + (uint64_t)m->disp;
	if (m->base == X86_REG_INVALID)
		return (uint64_t)m->disp;
	{
		uint64_t base = reg_value(k, m->base);

		return base ? base + (uint64_t)m->disp : 0;
	}
}

/* The registers (bit i: enum lb_reg i) the instruction changes; all of
 * them when capstone cannot say. */
static uint32_t written_regs(csh cs, const cs_insn *insn)
{
	cs_regs rd, wr;
	uint8_t nrd = 0, nwr = 0, i;
	uint32_t mask = 0;

	if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) != CS_ERR_OK)
		return ~0u;
	for (i = 0; i < nwr; i++) {
		int r = lb_reg_of(x86_gpr64(x86_gpr_index(wr[i], NULL)));

		if (r >= 0)
			mask |= 1u << r;
	}
	return mask;
}

/* Tracks what the instruction leaves in registers. */
static void step_known(csh cs, const cs_insn *insn, struct known_regs *k,
		       alloc_read_ptr_fn read_ptr, void *arg)
{
	const cs_x86 *x = &insn->detail->x86;
	uint64_t loaded = 0;
	uint32_t written;
	int dst = -1, r;

	if (cs_insn_group(cs, insn, X86_GRP_CALL)) {
		forget_caller_saved(k);
		return;
	}
	if (cs_insn_group(cs, insn, X86_GRP_RET) || insn->id == X86_INS_JMP) {
		forget_all(k);
		return;
	}
	if (x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
	    x->operands[0].size == 8 && x->operands[1].type == X86_OP_MEM) {
		uint64_t addr = mem_address(insn, &x->operands[1], k);

		dst = lb_reg_of(x->operands[0].reg);
		if (addr && insn->id == X86_INS_LEA)
			loaded = addr;
		else if (addr && insn->id == X86_INS_MOV && read_ptr &&
			 read_ptr(arg, addr, &loaded))
			loaded = 0;
	}
	written = written_regs(cs, insn);
	for (r = 0; r < LB_REG__COUNT; r++)
		if (written & (1u << r))
			k->v[r] = 0;
	if (dst >= 0)
		k->v[dst] = loaded;
}

/* `movq $1, (%reg)`: a new object's first reference. Returns the register
 * (enum lb_reg) or -1. */
static int refcnt_store(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;
	const x86_op_mem *m;

	if (insn->id != X86_INS_MOV || x->op_count != 2 || x->operands[0].type != X86_OP_MEM ||
	    x->operands[0].size != 8 || x->operands[1].type != X86_OP_IMM ||
	    x->operands[1].imm != 1)
		return -1;
	m = &x->operands[0].mem;
	if (m->disp || m->index != X86_REG_INVALID || m->segment != X86_REG_INVALID)
		return -1;
	return lb_reg_of(m->base);
}

struct scan {
	csh cs;
	cs_insn *insn;
	const uint8_t *code;
	size_t len;
	uint64_t vaddr;
};

static bool decode_at(struct scan *s, uint64_t at)
{
	const uint8_t *p;
	size_t left;
	uint64_t a = at;

	if (at < s->vaddr || at >= s->vaddr + s->len)
		return false;
	p = s->code + (at - s->vaddr);
	left = s->len - (at - s->vaddr);
	return cs_disasm_iter(s->cs, &p, &left, &a, s->insn);
}

static uint64_t branch_target(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	return x->op_count == 1 && x->operands[0].type == X86_OP_IMM ? (uint64_t)x->operands[0].imm : 0;
}

/* The check's conditional branch (`test` first when the flag was loaded
 * into reg), starting at `at`: its address, and where the flag-is-0 path
 * goes. False if the code is not that shape. */
static bool check_branch(struct scan *s, uint64_t at, bool loaded_to_reg, x86_reg reg,
			 uint64_t *jcc, uint64_t *zero_path)
{
	if (!decode_at(s, at))
		return false;
	if (loaded_to_reg) {
		const cs_x86 *x = &s->insn->detail->x86;

		if (s->insn->id != X86_INS_TEST || x->op_count != 2 ||
		    x->operands[0].type != X86_OP_REG || x->operands[1].type != X86_OP_REG ||
		    x->operands[0].reg != reg || x->operands[1].reg != reg)
			return false;
		at += s->insn->size;
		if (!decode_at(s, at))
			return false;
	}
	*jcc = at;
	if (s->insn->id == X86_INS_JE)
		*zero_path = branch_target(s->insn);
	else if (s->insn->id == X86_INS_JNE)
		*zero_path = at + s->insn->size;
	else
		return false;
	return *zero_path != 0;
}

/*
 * From the check's conditional branch, the path taken when the flag is 0:
 * the first refcount store on it. The probe goes on the branch, not the
 * store: the kernel emulates a branch in the trap, where a store must be
 * single-stepped out of line (measured here: ~50 us a hit against ~1 us).
 * So the register must hold the object at the branch already: nothing on
 * the way to the store may change it.
 */
static bool store_after_check(struct scan *s, uint64_t next, bool loaded_to_reg, x86_reg reg,
			      struct newref_site *site)
{
	uint64_t at, jcc, zero_path;
	uint32_t written = 0;	/* registers changed on the way */
	int i, r;

	if (!check_branch(s, next, loaded_to_reg, reg, &jcc, &zero_path))
		return false;
	at = zero_path;
	for (i = 0; at && i < FORWARD_WINDOW; i++) {
		if (!decode_at(s, at))
			return false;
		r = refcnt_store(s->insn);
		if (r >= 0) {
			if (written & (1u << r))
				return false;
			site->vaddr = jcc;
			site->reg = (uint32_t)r;
			return true;
		}
		written |= written_regs(s->cs, s->insn);
		if (s->insn->id == X86_INS_JMP) {
			at = branch_target(s->insn);	/* 0 if indirect: stop */
			continue;
		}
		if (cs_insn_group(s->cs, s->insn, X86_GRP_JUMP) ||
		    cs_insn_group(s->cs, s->insn, X86_GRP_CALL) ||
		    cs_insn_group(s->cs, s->insn, X86_GRP_RET) ||
		    cs_insn_group(s->cs, s->insn, X86_GRP_INT))
			return false;
		at += s->insn->size;
	}
	return false;
}

static int add_site(struct newref_sites *out, const struct newref_site *site)
{
	if (out->n >= NEWREF_MAX_SITES)
		return -E2BIG;
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		struct newref_site *v = realloc(out->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		out->v = v;
		out->cap = cap;
	}
	out->v[out->n++] = *site;
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	const struct newref_site *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* Sorts and drops duplicates (two checks may share one store). */
static void settle(struct newref_sites *out)
{
	size_t i, kept = 0;

	qsort(out->v, out->n, sizeof(*out->v), cmp_site);
	for (i = 0; i < out->n; i++)
		if (!kept || out->v[kept - 1].vaddr != out->v[i].vaddr)
			out->v[kept++] = out->v[i];
	out->n = kept;
}

/* 3.13: the store came first; the probe goes on the check's branch (see
 * store_after_check) if nothing from the store to it changes the register. */
static bool branch_after_store(struct scan *s, struct newref_site *site, uint64_t next,
			       bool loaded_to_reg, x86_reg reg)
{
	uint64_t jcc, zero_path, at = site->vaddr;
	int i;

	if (!check_branch(s, next, loaded_to_reg, reg, &jcc, &zero_path))
		return false;
	for (i = 0; at < jcc && i < 2 * BACKWARD_WINDOW; i++) {
		if (!decode_at(s, at))
			return false;
		if (i && (written_regs(s->cs, s->insn) & (1u << site->reg)))
			return false;
		at += s->insn->size;
	}
	if (at != jcc)
		return false;
	site->vaddr = jcc;
	return true;
}

/* A recent instruction, as far as the 3.13 pattern needs it. */
struct recent {
	uint64_t vaddr;
	int store_reg;		/* refcount store's register, or -1 */
	bool flow;		/* a jump, call or return */
};

int newref_scan(const uint8_t *code, size_t len, uint64_t vaddr, uint64_t flag_vaddr,
		enum newref_order order, alloc_read_ptr_fn read_ptr, void *arg,
		struct newref_sites *out)
{
	struct x86_decoder d;
	struct scan s = { .code = code, .len = len, .vaddr = vaddr };
	struct known_regs known;
	struct recent ring[BACKWARD_WINDOW];
	size_t nring = 0;
	uint64_t at = vaddr;
	int err = 0;

	if (!code || !flag_vaddr)
		return -EINVAL;
	if (x86_decoder_open(&d))
		return -ENOMEM;
	s.cs = d.cs;
	s.insn = d.insn;
	forget_all(&known);
	memset(ring, 0, sizeof(ring));
	while (at < vaddr + len && !err) {
		const uint8_t *p = code + (at - vaddr);
		size_t left = len - (at - vaddr);
		uint64_t a = at, next;
		const cs_x86 *x;
		bool flag_read = false, to_reg = false;
		x86_reg reg = X86_REG_INVALID;
		struct recent cur;
		int i;

		if (!cs_disasm_iter(d.cs, &p, &left, &a, d.insn)) {
			at++;		/* data or padding: resynchronise */
			forget_all(&known);
			continue;
		}
		next = a;
		x = &d.insn->detail->x86;
		for (i = 0; i < x->op_count; i++) {
			const cs_x86_op *op = &x->operands[i];

			if (op->type == X86_OP_MEM && (op->access & CS_AC_READ) &&
			    mem_address(d.insn, op, &known) == flag_vaddr) {
				flag_read = true;
				if (d.insn->id == X86_INS_MOV && x->operands[0].type == X86_OP_REG) {
					to_reg = true;
					reg = x->operands[0].reg;
				} else if (d.insn->id != X86_INS_CMP || x->op_count != 2 ||
					   x->operands[1].type != X86_OP_IMM ||
					   x->operands[1].imm != 0) {
					flag_read = false;	/* something else reads it */
				}
			}
		}
		cur.vaddr = at;
		cur.store_reg = refcnt_store(d.insn);
		cur.flow = cs_insn_group(d.cs, d.insn, X86_GRP_JUMP) ||
			   cs_insn_group(d.cs, d.insn, X86_GRP_CALL) ||
			   cs_insn_group(d.cs, d.insn, X86_GRP_RET);
		step_known(d.cs, d.insn, &known, read_ptr, arg);
		if (flag_read) {
			struct newref_site site;
			bool found = false;

			out->flag_reads++;
			if (order == NEWREF_STORE_AFTER_CHECK) {
				found = store_after_check(&s, next, to_reg, reg, &site);
			} else {
				/* the nearest store before the check, with no
				 * jump, call or return in between */
				size_t j;

				for (j = 0; j < nring && !found; j++) {
					const struct recent *r =
						&ring[(nring - 1 - j) % BACKWARD_WINDOW];

					if (r->flow)
						break;
					if (r->store_reg >= 0) {
						site.vaddr = r->vaddr;
						site.reg = (uint32_t)r->store_reg;
						found = true;
					}
				}
				if (found)
					found = branch_after_store(&s, &site, next, to_reg, reg);
			}
			if (found)
				err = add_site(out, &site);
			else
				out->unmatched++;
		}
		ring[nring % BACKWARD_WINDOW] = cur;
		nring++;
		if (nring > 2 * BACKWARD_WINDOW)
			nring -= BACKWARD_WINDOW;	/* same slot, bounded counter */
		at = next;
	}
	x86_decoder_close(&d);
	if (!err)
		settle(out);
	return err;
}

/* The address a small getter returns or reads its result from: the last
 * load into %rax/%eax before its first return. */
static int getter_reads(const struct elf_image *img, const char *name, uint64_t *addr)
{
	struct elf_symbol sym;
	struct x86_decoder d;
	struct known_regs known;
	uint8_t code[GETTER_WINDOW * 15];
	const uint8_t *p = code;
	size_t left = sizeof(code);
	uint64_t a, found = 0;
	int i, err;

	err = elf_image_find_symbol(img, name, &sym);
	if (err)
		return err;
	if (elf_image_read(img, sym.vaddr, code, sizeof(code)))
		return -ENOENT;
	if (x86_decoder_open(&d))
		return -ENOMEM;
	forget_all(&known);
	a = sym.vaddr;
	for (i = 0; i < GETTER_WINDOW && cs_disasm_iter(d.cs, &p, &left, &a, d.insn); i++) {
		const cs_x86 *x = &d.insn->detail->x86;

		if (cs_insn_group(d.cs, d.insn, X86_GRP_RET))
			break;
		if (d.insn->id == X86_INS_MOV && x->op_count == 2 &&
		    x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_MEM &&
		    x86_gpr_index(x->operands[0].reg, NULL) == x86_gpr_index(X86_REG_RAX, NULL)) {
			uint64_t at = mem_address(d.insn, &x->operands[1], &known);

			/* a GOT load of _PyRuntime comes first; the field's
			 * load, from the base it gave, comes last */
			if (at)
				found = at;
		}
		/* a conditional jump over a few instructions: read on */
		step_known(d.cs, d.insn, &known, alloc_image_read_ptr, (void *)img);
	}
	x86_decoder_close(&d);
	if (!found)
		return -ENOENT;
	*addr = found;
	return 0;
}

int newref_flag(const struct elf_image *img, unsigned minor, uint64_t *flag_vaddr,
		enum newref_order *order)
{
	struct elf_symbol sym;
	int err;

	if (minor >= 8 && minor <= 11) {
		/* struct _PyTraceMalloc_Config { initialized; int tracing; ... } */
		err = elf_image_find_symbol(img, "_Py_tracemalloc_config", &sym);
		if (err)
			return err;
		*flag_vaddr = sym.vaddr + 4;
		*order = NEWREF_STORE_AFTER_CHECK;
		return 0;
	}
	if (minor == 12) {
		*order = NEWREF_STORE_AFTER_CHECK;
		return getter_reads(img, "_PyTraceMalloc_IsTracing", flag_vaddr);
	}
	if (minor == 13) {
		*order = NEWREF_STORE_BEFORE_CHECK;
		return getter_reads(img, "PyRefTracer_GetTracer", flag_vaddr);
	}
	return -ENOTSUP;
}

int newref_sites_find(const struct elf_image *img, unsigned minor, struct newref_sites *out)
{
	enum newref_order order;
	uint64_t flag, text, size;
	uint8_t *code;
	int err;

	memset(out, 0, sizeof(*out));
	err = newref_flag(img, minor, &flag, &order);
	if (err)
		return err;
	err = elf_image_section(img, ".text", &text, &size);
	if (err)
		return err;
	if (!size || size > NEWREF_MAX_TEXT)
		return -EFBIG;
	code = malloc(size);
	if (!code)
		return -ENOMEM;
	err = elf_image_read(img, text, code, size);
	if (!err)
		err = newref_scan(code, size, text, flag, order, alloc_image_read_ptr, (void *)img, out);
	free(code);
	return err;
}

void newref_sites_free(struct newref_sites *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

uint32_t py_preheader_flags(unsigned minor)
{
	const uint32_t managed_weakref = 1u << 3, managed_dict = 1u << 4;

	if (minor == 11)
		return managed_dict;
	return minor >= 12 ? managed_weakref | managed_dict : 0;
}

/* The agent attaches to every worker of a service, all running one
 * interpreter binary: scanning its .text costs ~0.3 s, so the last few
 * binaries' sites are kept, by file identity. */
#define SITE_CACHE 8

struct cached_sites {
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
	off_t size;
	unsigned minor;
	struct newref_sites sites;
	uint64_t used;
};

static struct cached_sites site_cache[SITE_CACHE];
static uint64_t site_cache_clock;

static int copy_sites(const struct newref_sites *from, struct newref_sites *to)
{
	*to = *from;
	to->v = malloc((from->n ? from->n : 1) * sizeof(*to->v));
	if (!to->v)
		return -ENOMEM;
	memcpy(to->v, from->v, from->n * sizeof(*to->v));
	to->cap = from->n;
	return 0;
}

int newref_sites_find_file(const char *path, const struct elf_image *img, unsigned minor,
			   struct newref_sites *out)
{
	struct cached_sites *slot = &site_cache[0];
	struct stat st;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	if (stat(path, &st))
		return newref_sites_find(img, minor, out);
	for (i = 0; i < SITE_CACHE; i++) {
		struct cached_sites *c = &site_cache[i];

		if (c->used && c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
		    c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec &&
		    c->minor == minor) {
			c->used = ++site_cache_clock;
			return copy_sites(&c->sites, out);
		}
		if (c->used < slot->used)
			slot = c;	/* least recently used */
	}
	err = newref_sites_find(img, minor, out);
	if (err)
		return err;
	newref_sites_free(&slot->sites);
	if (copy_sites(out, &slot->sites)) {
		slot->used = 0;
		return 0;
	}
	slot->dev = st.st_dev;
	slot->ino = st.st_ino;
	slot->size = st.st_size;
	slot->mtime = st.st_mtim;
	slot->minor = minor;
	slot->used = ++site_cache_clock;
	return 0;
}
