// SPDX-License-Identifier: MIT
#include "probe_point.h"

#include <capstone/capstone.h>
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
	cs_insn *insn;
	csh cs;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return 0;
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	insn = cs_malloc(cs);
	if (insn &&
	    cs_disasm_iter(cs, &p, &left, &addr, insn) && tests_rdi_against_itself(insn) &&
	    cs_disasm_iter(cs, &p, &left, &addr, insn) && insn->id == X86_INS_JE &&
	    cs_disasm_iter(cs, &p, &left, &addr, insn) && insn->id == X86_INS_PUSH)
		skip = insn->address;
	if (insn)
		cs_free(insn, 1);
	cs_close(&cs);
	return skip;
}
