/* SPDX-License-Identifier: MIT */
/* The CPython version an interpreter ELF holds, from its contents. */
#ifndef LEAKBPF_PY_VERSION_H
#define LEAKBPF_PY_VERSION_H

#include <stdbool.h>
#include "elf_image.h"

/* Parses "3.10.13", "3.13.0rc2", "3.12.1+". */
bool py_version_parse(const char *s, unsigned *major, unsigned *minor, unsigned *micro);
/* From Py_Version (3.11+) or the PY_VERSION string Py_GetVersion uses; method
 * names which. 0 or -ENOENT (not a CPython this can read). */
int py_version_from_image(const struct elf_image *img, unsigned *major, unsigned *minor,
			  unsigned *micro, const char **method);

#endif
