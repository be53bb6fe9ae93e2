// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "pytarget.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_tables.h"
#include "elf_image.h"
#include "log.h"
#include "proc.h"
#include "py_debug_offsets.h"
#include "py_offsets.h"
#include "py_version.h"
#include "target_file.h"

static bool is_libpython(const char *base)
{
	return !strncmp(base, "libpython3", 10) && strstr(base, ".so");
}

/* "python3.11", "libpython3.11.so.1.0", "libpython3.7m.so" -> 3, 11 */
static bool version_from_name(const char *path, unsigned *major, unsigned *minor)
{
	const char *base = strrchr(path, '/');
	const char *p;

	base = base ? base + 1 : path;
	p = strstr(base, "python");
	if (!p)
		return false;
	return sscanf(p + 6, "%u.%u", major, minor) == 2;
}

/* The mapping of the interpreter: libpython if loaded, else the executable. */
static const struct proc_mapping *find_interpreter(pid_t pid, const struct proc_maps *maps,
						   bool *shared)
{
	const struct proc_mapping *m = proc_maps_find(maps, is_libpython);
	char link[32], exe[PATH_MAX];
	ssize_t n;
	size_t i;

	*shared = m != NULL;
	if (m)
		return proc_maps_first_of(maps, m);
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	for (i = 0; i < maps->n; i++)
		if (maps->v[i].path && !strcmp(maps->v[i].path, exe))
			return proc_maps_first_of(maps, &maps->v[i]);
	return NULL;
}

static uint64_t symbol_address(const struct elf_image *img, const char *name, uint64_t bias)
{
	struct elf_symbol sym;

	return elf_image_find_symbol(img, name, &sym) ? 0 : sym.vaddr + bias;
}

static void read_version(const struct elf_image *img, struct py_target *t)
{
	if (!py_version_from_image(img, &t->major, &t->minor, &t->micro, &t->version_method))
		return;
	/* last resort: the file name says at least major.minor */
	t->micro = 0;
	t->version_method = "file name";
	if (!version_from_name(t->path, &t->major, &t->minor))
		t->major = t->minor = 0;
}

static void find_work_clock(const struct elf_image *img, struct py_target *t)
{
	struct elf_symbol sym;
	uint8_t code[512];

	if (elf_image_find_symbol(img, "PyDict_New", &sym) || !sym.function ||
	    elf_image_read(img, sym.vaddr, code, sizeof(code)) ||
	    py_work_clock_find(code, sizeof(code), sym.vaddr, &t->work_clock))
		memset(&t->work_clock, 0, sizeof(t->work_clock));
}

static int describe(struct py_target *t, const struct elf_image *img)
{
	const struct lb_py_offsets *off;
	struct alloc_tables tabs;
	struct elf_symbol sym;
	uint64_t fin;
	int i;

	read_version(img, t);
	if (!t->major) {
		snprintf(t->why, sizeof(t->why), "cannot tell the Python version of %.200s", t->path);
		return -ENOTSUP;
	}
	if (!elf_image_find_symbol(img, "_Py_NegativeRefcount", &sym)) {
		snprintf(t->why, sizeof(t->why), "Python %u.%u in %.200s is a debug build (Py_DEBUG), which leakbpf does not support",
			 t->major, t->minor, t->path);
		return -ENOTSUP;
	}
	off = py_offsets_builtin(t->major, t->minor);
	if (!off) {
		snprintf(t->why, sizeof(t->why), "unsupported Python %u.%u in %.200s (leakbpf walks 3.8 to 3.13)",
			 t->major, t->minor, t->path);
		return -ENOTSUP;
	}
	t->off = *off;
	t->runtime_addr = symbol_address(img, "_PyRuntime", t->load_bias);
	if (!t->runtime_addr) {
		snprintf(t->why, sizeof(t->why), "%.200s exports no _PyRuntime", t->path);
		return -ENOTSUP;
	}
	t->offsets_method = "built-in table";
	if (t->minor >= 13) {
		char why[200];
		struct lb_py_offsets from_target = *off;
		int err = py_debug_offsets_read(t->pid, t->runtime_addr, t->minor, &from_target,
						why, sizeof(why));

		if (err == -ERANGE) {
			/* the program changed its own description (or it is a
			 * build we do not know): our table of that minor version
			 * is ours, and every read through it is bounded anyway */
			pr_warn("process %d: Python %u.%u: %s; using leakbpf's own table of %u.%u",
				t->pid, t->major, t->minor, why, t->major, t->minor);
			t->offsets_method = "built-in table (_Py_DebugOffsets refused)";
		} else if (err) {
			snprintf(t->why, sizeof(t->why), "Python %u.%u in %.100s: %s", t->major,
				 t->minor, t->path, why);
			return -ENOTSUP;
		} else {
			t->off = from_target;
			t->offsets_method = "_Py_DebugOffsets";
		}
	}
	t->code_type_addr = symbol_address(img, "PyCode_Type", t->load_bias);
	if (!elf_image_find_symbol(img, "Py_FinalizeEx", &sym) &&
	    !elf_image_vaddr_to_offset(img, sym.vaddr, &fin))
		t->finalize_offset = fin;
	if (!alloc_tables_find(img, t->minor, &tabs)) {
		for (i = 0; i < 3; i++)
			t->tables[i] = tabs.table[i] + t->load_bias;
		t->tables_method = tabs.method;
	}
	t->raw_malloc_default = symbol_address(img, "_PyMem_RawMalloc", t->load_bias);
	t->obj_malloc_default = symbol_address(img, "_PyObject_Malloc", t->load_bias);
	t->type_type_addr = symbol_address(img, "PyType_Type", t->load_bias);
	t->bytes_type_addr = symbol_address(img, "PyBytes_Type", t->load_bias);
	t->unicode_type_addr = symbol_address(img, "PyUnicode_Type", t->load_bias);
	t->tuple_type_addr = symbol_address(img, "PyTuple_Type", t->load_bias);
	t->float_type_addr = symbol_address(img, "PyFloat_Type", t->load_bias);
	find_work_clock(img, t);
	return 0;
}

int py_target_work_clock_addr(const struct py_target *t, uint64_t *addr)
{
	uint64_t interp;
	int err;

	switch (t->work_clock.kind) {
	case WORK_CLOCK_GLOBAL:
		*addr = t->work_clock.where + t->load_bias;
		return 0;
	case WORK_CLOCK_INTERP:
		/* the main interpreter: the last of the list, the only one
		 * in nearly every program */
		err = proc_read_mem(t->pid, t->runtime_addr + (uint64_t)t->off.runtime_interpreters_head,
				    &interp, sizeof(interp));
		if (err)
			return err;
		if (!interp)
			return -ENOENT;
		*addr = interp + t->work_clock.where;
		return 0;
	default:
		return -ENOENT;
	}
}

int py_target_detect(pid_t pid, struct py_target *t)
{
	const struct proc_mapping *m;
	struct elf_image *img = NULL;
	struct proc_maps maps;
	uint64_t vaddr;
	int err;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	err = proc_maps_read(pid, &maps);
	if (err)
		return err;
	m = find_interpreter(pid, &maps, &t->shared_lib);
	if (!m) {
		err = -ENOENT;
		goto out;
	}
	snprintf(t->path, sizeof(t->path), "%s", m->path);
	err = target_mapped_file(pid, m, t->host_path, sizeof(t->host_path));
	if (!err)
		err = elf_image_open(t->host_path, &img);
	if (err)
		goto out;
	if (!symbol_address(img, "_PyRuntime", 0) && !symbol_address(img, "Py_Initialize", 0)) {
		err = -ENOENT;	/* an ordinary program */
		goto out;
	}
	t->pie = elf_image_is_pie_or_dso(img);
	t->has_symtab = elf_image_has_symtab(img);
	if (elf_image_offset_to_vaddr(img, m->offset, &vaddr)) {
		err = -ENOEXEC;
		goto out;
	}
	t->load_bias = m->start - (vaddr & ~0xfffULL);
	err = describe(t, img);
out:
	elf_image_close(img);
	proc_maps_free(&maps);
	return err;
}
