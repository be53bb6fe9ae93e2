/* SPDX-License-Identifier: MIT */
/* A capstone x86-64 decoder with instruction details, and one instruction
 * buffer: what every reader of machine code here needs. */
#ifndef LEAKBPF_X86_DECODER_H
#define LEAKBPF_X86_DECODER_H

#include <capstone/capstone.h>
#include <stdbool.h>

struct x86_decoder {
	csh cs;
	cs_insn *insn;
};

/* 0, or -ENOMEM (nothing to close then). */
int x86_decoder_open(struct x86_decoder *d);
void x86_decoder_close(struct x86_decoder *d);

/* General-purpose registers, indexed 0..15 in encoding order (rax rcx rdx
 * rbx rsp rbp rsi rdi r8..r15). */
#define X86_NGPR 16
/* Index of the 64-bit register containing reg (eax -> rax's), or -1;
 * *is64 (may be NULL) tells whether reg is that full register. */
int x86_gpr_index(unsigned reg, bool *is64);
/* The 64-bit register of an index, X86_REG_INVALID out of range. */
unsigned x86_gpr64(int index);

#endif
