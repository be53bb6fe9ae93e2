// SPDX-License-Identifier: MIT
/* /proc parsing: maps lines of every shape, lookups, our own process. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sys/wait.h>
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

static void test_mem_rollup(void)
{
	static const char text[] =
		"55bdbf935000-7ffe15cf3000 ---p 00000000 00:00 0                          [rollup]\n"
		"Rss:                1752 kB\nPss:                 562 kB\nPss_Dirty:           112 kB\n"
		"Shared_Clean:       1600 kB\nShared_Dirty:          0 kB\nPrivate_Clean:        40 kB\n"
		"Private_Dirty:       112 kB\nAnonymous:           112 kB\nSwap:                  8 kB\n";
	struct proc_mem m, before, after;
	size_t len = 32 << 20, i;
	char *buf;
	int ready[2], go[2];
	char c;
	pid_t child;

	CHECK(proc_mem_rollup_parse(text, &m) == 0 && m.rss == 1752 * 1024 && m.pss == 562 * 1024 &&
	      m.uss == 152 * 1024 && m.shared == 1600 * 1024 && m.anon == 112 * 1024 &&
	      m.swap == 8 * 1024, "smaps_rollup parsed");
	CHECK(proc_mem_rollup_parse("nothing here\n", &m) == -EINVAL, "no Rss: refused");

	/* a pre-forked worker: 32 MiB touched by the parent, shared after
	 * fork; the child writing it un-shares it without allocating */
	buf = malloc(len);
	if (!buf || pipe(ready) || pipe(go))
		return;
	memset(buf, 1, len);
	child = fork();
	if (child == 0) {
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		for (i = 0; i < len; i += 4096)
			buf[i] = 2;
		if (write(ready[1], "w", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CHECK(read(ready[0], &c, 1) == 1 && proc_mem_rollup(child, &before) == 0, "child read");
	CHECK(write(go[1], "g", 1) == 1 && read(ready[0], &c, 1) == 1 &&
	      proc_mem_rollup(child, &after) == 0, "child read after writing");
	CHECK(before.shared >= len && after.uss >= before.uss + len - (1 << 20) &&
	      after.shared + len - (1 << 20) <= before.shared,
	      "copy-on-write un-sharing shows as shared -> private (shared %llu -> %llu, uss %llu -> %llu)",
	      (unsigned long long)before.shared, (unsigned long long)after.shared,
	      (unsigned long long)before.uss, (unsigned long long)after.uss);
	CHECK(after.rss >= after.uss && after.pss <= after.rss, "rss >= pss, uss");
	if (write(go[1], "g", 1) != 1)
		perror("write");
	waitpid(child, NULL, 0);
	free(buf);
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
	test_mem_rollup();
	return tests_summary();
}
