// SPDX-License-Identifier: MIT
#include "probe_point.h"

#include "x86_decoder.h"
#include <stdbool.h>

static bool tests_rdi_against_itself(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	return insn->id == X86_INS_TEST && x->op_count == 2 &&
	       x->operands[0].type == X86_OP_REG && x->operands[0].reg == X86_REG_RDI &&
	       x->operands[1].type == X86_OP_REG && x->operands[1].reg == X86_REG_RDI;
}

uint64_t probe_point_past_null_check(const uint8_t *code, size_t len)
{
	const uint8_t *p = code;
	uint64_t addr = 0, skip = 0;
	size_t left = len;
	struct x86_decoder d;

	if (x86_decoder_open(&d))
		return 0;
	if (cs_disasm_iter(d.cs, &p, &left, &addr, d.insn) && tests_rdi_against_itself(d.insn) &&
	    cs_disasm_iter(d.cs, &p, &left, &addr, d.insn) && d.insn->id == X86_INS_JE &&
	    cs_disasm_iter(d.cs, &p, &left, &addr, d.insn) && d.insn->id == X86_INS_PUSH)
		skip = d.insn->address;
	x86_decoder_close(&d);
	return skip;
}
