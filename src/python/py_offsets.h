/* SPDX-License-Identifier: MIT */
/*
 * Built-in CPython layouts (x86_64, default GIL builds) for the versions whose
 * interpreter does not describe itself. 3.13+ publish _Py_DebugOffsets at the
 * start of _PyRuntime; the 3.13 table here is a fallback and a cross-check for
 * it. Every value is checked against the installed interpreters' headers and
 * against the live interpreters by tests/unit/check_py_offsets.sh.
 */
#ifndef LEAKBPF_PY_OFFSETS_H
#define LEAKBPF_PY_OFFSETS_H

#include "leakbpf_shared.h"

/* Layout for CPython major.minor (3.8 .. 3.13), NULL if unknown. The table's
 * version_hex is PY_VERSION_HEX with micro/level/serial cleared (0x030b0000). */
const struct lb_py_offsets *py_offsets_builtin(unsigned major, unsigned minor);

#endif /* LEAKBPF_PY_OFFSETS_H */
