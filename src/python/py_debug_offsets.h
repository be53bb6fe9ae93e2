/* SPDX-License-Identifier: MIT */
/* A 3.13+ interpreter's own description of its layout (_Py_DebugOffsets). */
#ifndef LEAKBPF_PY_DEBUG_OFFSETS_H
#define LEAKBPF_PY_DEBUG_OFFSETS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "leakbpf_shared.h"

/* Overwrites the fields of off that _Py_DebugOffsets gives with the values
 * of the live process pid (its _PyRuntime at runtime_addr); the others keep
 * the built-in values for that minor version. 0, or -errno with why set:
 * -EPROTO no cookie or another version, -ENOTSUP free-threaded build or a
 * layout this build does not know, -ERANGE an offset out of range. */
int py_debug_offsets_read(pid_t pid, uint64_t runtime_addr, unsigned minor,
			  struct lb_py_offsets *off, char *why, size_t why_len);
/* The same on a copy already read: raw holds len bytes from the start of
 * _PyRuntime (exposed for the unit tests). */
int py_debug_offsets_apply(const void *raw, size_t len, unsigned minor,
			   struct lb_py_offsets *off, char *why, size_t why_len);
/* Bytes of _PyRuntime that py_debug_offsets_apply reads. */
size_t py_debug_offsets_size(void);

#endif
