// SPDX-License-Identifier: MIT
/* /proc parsing: maps lines of every shape, lookups, our own process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "proc.h"
#include "testing.h"

static const char maps_text[] =
	"00400000-00421000 r--p 00000000 fe:01 1183512                            /usr/bin/python3.11\n"
	"00421000-006a6000 r-xp 00021000 fe:01 1183512                            /usr/bin/python3.11\n"
	"00959000-00a5b000 rw-p 00558000 fe:01 1183512                            /usr/bin/python3.11\n"
	"01f8b000-02030000 rw-p 00000000 00:00 0                                  [heap]\n"
	"7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0 \n"
	"7f1e30a00000-7f1e30a28000 r--p 00000000 fe:01 1048631                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1e30a28000-7f1e30b9d000 r-xp 00028000 fe:01 1048631                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"7f1e31000000-7f1e31001000 r--p 00000000 fe:01 99                         /tmp/with space (deleted)\n"
	"7ffd5a1e2000-7ffd5a203000 rw-p 00000000 00:00 0                          [stack]\n";

static bool is_libc(const char *base)
{
	return !strncmp(base, "libc.so", 7);
}

static void test_parse(void)
{
	struct proc_maps maps;
	const struct proc_mapping *m;

	CHECK(proc_maps_parse(maps_text, &maps) == 0, "parse");
	CHECK(maps.n == 9, "n=%zu", maps.n);
	CHECK(maps.v[1].start == 0x421000 && maps.v[1].end == 0x6a6000, "range");
	CHECK(maps.v[1].offset == 0x21000, "offset");
	CHECK(!strcmp(maps.v[1].perms, "r-xp"), "perms %s", maps.v[1].perms);
	CHECK(maps.v[1].inode == 1183512 && maps.v[1].dev_major == 0xfe, "inode/dev");
	CHECK(maps.v[3].path == NULL, "[heap] is not a file");
	CHECK(maps.v[4].path == NULL, "anonymous");
	CHECK(maps.v[7].path && !strcmp(maps.v[7].path, "/tmp/with space (deleted)"), "spaces kept");
	m = proc_maps_find_addr(&maps, 0x7f1e30a28010);
	CHECK(m && m->offset == 0x28000, "find_addr in libc text");
	CHECK(proc_maps_find_addr(&maps, 0x300000) == NULL, "below everything");
	CHECK(proc_maps_find_addr(&maps, 0x006a6000) == NULL, "end is exclusive");
	m = proc_maps_find(&maps, is_libc);
	CHECK(m && m->start == 0x7f1e30a00000, "find by basename");
	m = proc_maps_first_of(&maps, &maps.v[2]);
	CHECK(m == &maps.v[0], "first mapping of the executable");
	proc_maps_free(&maps);
}

static void test_self(void)
{
	struct proc_maps maps;
	uint64_t t0 = 0;
	char comm[32];
	int x = 42, y = 0;

	CHECK(proc_maps_read(getpid(), &maps) == 0, "read own maps");
	CHECK(maps.n > 5, "has mappings");
	CHECK(proc_maps_find_addr(&maps, (uint64_t)(uintptr_t)&x) != NULL, "stack is mapped");
	proc_maps_free(&maps);
	CHECK(proc_start_time(getpid(), &t0) == 0 && t0 > 0, "start time");
	/* the re-exec through /proc/self/exe renamed us "exe": name ourselves */
	prctl(PR_SET_NAME, "lb-unit-comm");
	CHECK(proc_comm(getpid(), comm, sizeof(comm)) == 0 && !strcmp(comm, "lb-unit-comm"), "comm %s", comm);
	CHECK(proc_read_mem(getpid(), (uint64_t)(uintptr_t)&x, &y, sizeof(y)) == 0 && y == 42, "read mem");
	CHECK(proc_read_mem(getpid(), 8, &y, sizeof(y)) < 0, "unmapped read fails");
	CHECK(proc_is_running(getpid()), "running");
	CHECK(!proc_exists(4194304 + 1), "no such pid");
}

static void test_env(void)
{
	char buf[64];

	setenv("LEAKBPF_TEST_VAR", "hello", 1);
	/* our own environ file shows the environment we started with */
	CHECK(proc_getenv(getpid(), "PATH", buf, sizeof(buf)) == 0, "PATH present");
	CHECK(proc_getenv(getpid(), "LEAKBPF_NO_SUCH_VAR", buf, sizeof(buf)) == -ENOENT, "absent");
	CHECK(proc_has_arg(getpid(), "--unit-arg", false), "argv seen");
	CHECK(!proc_has_arg(getpid(), "--unit", false), "exact match only");
	CHECK(proc_has_arg(getpid(), "--unit", true), "prefix match");
}

int main(int argc, char **argv)
{
	/* re-exec with a known argument for the argv checks */
	if (argc < 2) {
		char *args[] = { argv[0], "--unit-arg", NULL };

		execv("/proc/self/exe", args);
		return 1;
	}
	test_parse();
	test_self();
	test_env();
	return tests_summary();
}
