// SPDX-License-Identifier: MIT
/* Interpreter identity read from the files themselves: the version (from
 * Py_Version or Py_GetVersion's PY_VERSION) of every installed interpreter,
 * and 3.13's _Py_DebugOffsets, taken from _PyRuntime's static initialiser in
 * libpython, against the built-in 3.13 table. Missing interpreters skip. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf_image.h"
#include "py_debug_offsets.h"
#include "py_offsets.h"
#include "py_version.h"
#include "testing.h"

struct install {
	const char *path;	/* the ELF holding the interpreter */
	const char *version;	/* what `python -V` says */
};

static const struct install installs[] = {
	{ "/root/.pyenv/versions/3.8.18/lib/libpython3.8.so.1.0", "3.8.18" },
	{ "/root/.pyenv/versions/3.9.18/lib/libpython3.9.so.1.0", "3.9.18" },
	{ "/root/.pyenv/versions/3.10.13/lib/libpython3.10.so.1.0", "3.10.13" },
	{ "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0", "3.11.7" },
	{ "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0", "3.12.1" },
	{ "/root/.pyenv/versions/3.13.0/lib/libpython3.13.so.1.0", "3.13.0" },
	{ "/usr/bin/python3.11", "3.11.2" },
};

static void test_parse(void)
{
	unsigned a, b, c;

	CHECK(py_version_parse("3.10.13", &a, &b, &c) && a == 3 && b == 10 && c == 13, "plain");
	CHECK(py_version_parse("3.13.0rc2", &a, &b, &c) && b == 13 && c == 0, "release tag");
	CHECK(py_version_parse("3.12.1+", &a, &b, &c) && c == 1, "post-release '+'");
	CHECK(!py_version_parse("3.8", &a, &b, &c), "no micro");
	CHECK(!py_version_parse("2.7.18", &a, &b, &c), "not Python 3");
	CHECK(!py_version_parse("3.8.18 (default)", &a, &b, &c), "trailing text");
	CHECK(!py_version_parse("/root/.pyenv/versions/3.8.18", &a, &b, &c), "a path");
}

static void test_versions(void)
{
	size_t i;

	for (i = 0; i < sizeof(installs) / sizeof(installs[0]); i++) {
		struct elf_image *img;
		unsigned a = 0, b = 0, c = 0;
		const char *method = NULL;
		char got[32];

		if (access(installs[i].path, R_OK)) {
			printf("skip %s: not installed\n", installs[i].path);
			continue;
		}
		CHECK(elf_image_open(installs[i].path, &img) == 0, "open %s", installs[i].path);
		CHECK(py_version_from_image(img, &a, &b, &c, &method) == 0, "version of %s",
		      installs[i].path);
		snprintf(got, sizeof(got), "%u.%u.%u", a, b, c);
		CHECK(!strcmp(got, installs[i].version), "%s: %s (by %s), expected %s",
		      installs[i].path, got, method ? method : "-", installs[i].version);
		elf_image_close(img);
	}
}

static void test_debug_offsets_313(void)
{
	const char *path = installs[5].path;
	const struct lb_py_offsets *builtin = py_offsets_builtin(3, 13);
	struct lb_py_offsets off;
	struct elf_symbol sym;
	struct elf_image *img;
	size_t n = py_debug_offsets_size();
	char why[200] = "";
	uint8_t *raw;

	if (access(path, R_OK)) {
		printf("skip 3.13 debug offsets: %s not installed\n", path);
		return;
	}
	CHECK(builtin != NULL, "3.13 has a built-in table");
	raw = calloc(1, n);
	CHECK(elf_image_open(path, &img) == 0, "open %s", path);
	CHECK(elf_image_find_symbol(img, "_PyRuntime", &sym) == 0, "_PyRuntime in %s", path);
	CHECK(elf_image_read(img, sym.vaddr, raw, n) == 0, "read _PyRuntime's initialiser");
	/* an empty table: every field the debug offsets give must be filled */
	memset(&off, 0x7f, sizeof(off));
	CHECK(py_debug_offsets_apply(raw, n, 13, &off, why, sizeof(why)) == 0, "apply: %s", why);
#define SAME(f) CHECK(off.f == builtin->f, #f ": _Py_DebugOffsets %d, table %d", off.f, builtin->f)
	SAME(runtime_interpreters_head);
	SAME(interp_next);
	SAME(interp_threads_head);
	SAME(tstate_next);
	SAME(tstate_thread_id);
	SAME(tstate_native_thread_id);
	SAME(tstate_frame);
	SAME(cframe_current_frame);
	SAME(frame_previous);
	SAME(frame_code);
	SAME(frame_instr);
	SAME(frame_owner);
	SAME(code_code_adaptive);
	SAME(code_firstlineno);
	SAME(code_filename);
	SAME(code_name);
	SAME(code_qualname);
	SAME(code_linetable);
	SAME(bytes_size);
	SAME(bytes_data);
	SAME(unicode_length);
	SAME(unicode_state);
	SAME(unicode_ascii_data);
#undef SAME
	/* refusals */
	CHECK(py_debug_offsets_apply(raw, n, 14, &off, why, sizeof(why)) == -EPROTO,
	      "3.13's offsets offered as 3.14 are refused");
	raw[16] = 1;	/* free_threaded */
	CHECK(py_debug_offsets_apply(raw, n, 13, &off, why, sizeof(why)) == -ENOTSUP &&
	      strstr(why, "free-threaded"), "free-threaded build refused: %s", why);
	raw[0] = 'X';
	CHECK(py_debug_offsets_apply(raw, n, 13, &off, why, sizeof(why)) == -EPROTO, "bad cookie");
	CHECK(py_debug_offsets_apply(raw, 8, 13, &off, why, sizeof(why)) == -EPROTO, "cut short");
	elf_image_close(img);
	free(raw);
}

int main(void)
{
	test_parse();
	test_versions();
	test_debug_offsets_313();
	return tests_summary();
}
