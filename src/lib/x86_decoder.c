// SPDX-License-Identifier: MIT
#include "x86_decoder.h"

#include <errno.h>


int x86_decoder_open(struct x86_decoder *d)
{
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &d->cs) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(d->cs, CS_OPT_DETAIL, CS_OPT_ON);
	d->insn = cs_malloc(d->cs);
	if (!d->insn) {
		cs_close(&d->cs);
		return -ENOMEM;
	}
	return 0;
}

void x86_decoder_close(struct x86_decoder *d)
{
	cs_free(d->insn, 1);
	d->insn = NULL;
	cs_close(&d->cs);
}

/* Index 0..15 (rax rcx rdx rbx rsp rbp rsi rdi r8..r15) of the 64-bit
 * register containing reg, or -1; *is64 tells whether reg is that full
 * 64-bit register. */
int x86_gpr_index(unsigned reg, bool *is64)
{
	static const struct { unsigned r64, r32, r16, r8, r8h; } fam[X86_NGPR] = {
		{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL, X86_REG_AH },
		{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL, X86_REG_CH },
		{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL, X86_REG_DH },
		{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL, X86_REG_BH },
		{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL, X86_REG_INVALID },
		{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL, X86_REG_INVALID },
		{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL, X86_REG_INVALID },
		{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL, X86_REG_INVALID },
		{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B, X86_REG_INVALID },
		{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B, X86_REG_INVALID },
		{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B, X86_REG_INVALID },
		{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B, X86_REG_INVALID },
		{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B, X86_REG_INVALID },
		{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B, X86_REG_INVALID },
		{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B, X86_REG_INVALID },
		{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B, X86_REG_INVALID },
	};
	int i;

	if (reg == X86_REG_INVALID)
		return -1;
	for (i = 0; i < X86_NGPR; i++) {
		if (reg == fam[i].r64) {
			if (is64)
				*is64 = true;
			return i;
		}
		if (reg == fam[i].r32 || reg == fam[i].r16 || reg == fam[i].r8 ||
		    reg == fam[i].r8h) {
			if (is64)
				*is64 = false;
			return i;
		}
	}
	return -1;
}

unsigned x86_gpr64(int index)
{
	static const unsigned r64[X86_NGPR] = {
		X86_REG_RAX, X86_REG_RCX, X86_REG_RDX, X86_REG_RBX, X86_REG_RSP, X86_REG_RBP,
		X86_REG_RSI, X86_REG_RDI, X86_REG_R8, X86_REG_R9, X86_REG_R10, X86_REG_R11,
		X86_REG_R12, X86_REG_R13, X86_REG_R14, X86_REG_R15,
	};

	return index >= 0 && index < X86_NGPR ? r64[index] : X86_REG_INVALID;
}
