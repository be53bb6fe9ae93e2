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
