// SPDX-License-Identifier: MIT
#include "py_work_clock.h"
#include "x86_decoder.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define DICT_VERSION_TAG_OFFSET 0x18	/* PyDictObject.ma_version_tag, 3.8-3.13 */
#define MAX_INSNS 96			/* PyDict_New's fast path is ~30 */

struct store {
	bool valid;
	x86_reg value;			/* register stored */
	x86_reg base;			/* X86_REG_RIP for a global */
	int64_t disp;
	uint64_t next_ip;		/* RIP-relative operands count from here */
};

/* `mov qword ptr [mem], reg64`: what a counter write-back looks like. */
static bool as_store(const cs_insn *insn, struct store *s)
{
	const cs_x86 *x = &insn->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];

	if (insn->id != X86_INS_MOV || x->op_count != 2 || dst->type != X86_OP_MEM ||
	    src->type != X86_OP_REG || dst->size != 8 || dst->mem.index != X86_REG_INVALID ||
	    dst->mem.segment != X86_REG_INVALID)
		return false;
	s->valid = true;
	s->value = src->reg;
	s->base = dst->mem.base;
	s->disp = dst->mem.disp;
	s->next_ip = insn->address + insn->size;
	return true;
}

int py_work_clock_find(const uint8_t *code, size_t len, uint64_t vaddr,
		       struct work_clock_loc *out)
{
	struct store last = { 0 }, now;
	const uint8_t *p = code;
	uint64_t addr = vaddr;
	size_t left = len;
	struct x86_decoder d;
	int n, ret = -ENOENT;

	if (!code || !len || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (x86_decoder_open(&d))
		return -ENOMEM;
	/* Straight-line scan: the fast path (free list or new object) stores
	 * the counter and then the tag without a branch in between. */
	for (n = 0; n < MAX_INSNS && cs_disasm_iter(d.cs, &p, &left, &addr, d.insn); n++) {
		if (!as_store(d.insn, &now))
			continue;
		if (last.valid && now.value == last.value && now.disp == DICT_VERSION_TAG_OFFSET &&
		    now.base != last.base && now.base != X86_REG_RIP && now.base != X86_REG_RSP) {
			if (last.base == X86_REG_RIP) {
				out->kind = WORK_CLOCK_GLOBAL;
				out->where = last.next_ip + (uint64_t)last.disp;
				ret = 0;
			} else if (last.base != X86_REG_RSP && last.disp > 0) {
				/* 3.12+: [interp + offset], interp from tstate */
				out->kind = WORK_CLOCK_INTERP;
				out->where = (uint64_t)last.disp;
				ret = 0;
			}
			break;
		}
		last = now;
	}
	x86_decoder_close(&d);
	return ret;
}
