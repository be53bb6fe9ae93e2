/* SPDX-License-Identifier: MIT */
/* A capstone x86-64 decoder with instruction details, and one instruction
 * buffer: what every reader of machine code here needs. */
#ifndef LEAKBPF_X86_DECODER_H
#define LEAKBPF_X86_DECODER_H

#include <capstone/capstone.h>

struct x86_decoder {
	csh cs;
	cs_insn *insn;
};

/* 0, or -ENOMEM (nothing to close then). */
int x86_decoder_open(struct x86_decoder *d);
void x86_decoder_close(struct x86_decoder *d);

#endif
