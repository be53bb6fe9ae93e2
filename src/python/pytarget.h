/* SPDX-License-Identifier: MIT */
/* Finds the CPython interpreter inside a process and describes it. */
#ifndef LEAKBPF_PYTARGET_H
#define LEAKBPF_PYTARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "leakbpf_shared.h"
#include "py_work_clock.h"

struct py_target {
	pid_t pid;
	char path[PATH_MAX];		/* interpreter ELF as the process names it */
	char host_path[PATH_MAX];	/* the same file reachable from here */
	uint64_t load_bias;		/* runtime address - link-time address */
	bool shared_lib;		/* libpythonX.Y.so rather than the executable */
	bool pie;
	bool has_symtab;
	unsigned major, minor, micro;	/* 0 when unknown */
	const char *version_method;	/* where the version came from */
	const char *offsets_method;	/* "built-in table" or "_Py_DebugOffsets" */
	uint64_t runtime_addr;		/* _PyRuntime */
	uint64_t code_type_addr;	/* PyCode_Type: tells live code objects from reused memory */
	uint64_t finalize_offset;	/* file offset of Py_FinalizeEx, 0 if none */
	struct lb_py_offsets off;
	uint64_t tables[3];		/* raw, mem, obj PyMemAllocatorEx; 0 unknown */
	const char *tables_method;
	uint64_t raw_malloc_default;	/* _PyMem_RawMalloc, 0 unknown (stripped) */
	uint64_t obj_malloc_default;	/* _PyObject_Malloc, 0 unknown */
	uint64_t type_type_addr;	/* PyType_Type: tells objects from other memory */
	uint64_t bytes_type_addr;	/* PyBytes_Type, PyUnicode_Type: immutable values */
	uint64_t unicode_type_addr;	/* whose contents tell one from its successor */
	uint64_t tuple_type_addr;	/* PyTuple_Type, PyFloat_Type: immutable too, and */
	uint64_t float_type_addr;	/* reused from free lists at the same address */
	struct work_clock_loc work_clock; /* link-time (GLOBAL) or interp offset */
	char why[320];			/* why detection failed, for the user */
};

/*
 * 0: a supported CPython, t filled in.
 * -ENOENT: no CPython interpreter in the process.
 * -ENOTSUP: CPython, but not one we can walk (t->why says which and why).
 * other -errno: the process could not be inspected.
 */
int py_target_detect(pid_t pid, struct py_target *t);
/* Address of the work clock in the live process (see py_work_clock.h);
 * -ENOENT if the interpreter has none we know. */
int py_target_work_clock_addr(const struct py_target *t, uint64_t *addr);

#endif
