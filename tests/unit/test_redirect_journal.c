// SPDX-License-Identifier: MIT
/*
 * Redirect records (src/python/redirect_journal.c): what is written reads
 * back the same; anything else in the directory (a file of a pod's making
 * if the store were shared, a truncated write) is not taken for one: a
 * record tells leakbpf where to write in a process's memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "redirect_journal.h"
#include "testing.h"

static struct alloc_redirect sample(void)
{
	struct alloc_redirect r = { .pid = 4242, .start_time = 987654, .state = REDIRECT_ON };
	int i;

	for (i = 0; i < REDIRECT_SLOTS; i++) {
		r.slot[i] = 0x7f0000001000ull + 8 * (uint64_t)i;
		r.original[i] = 0x400000 + (uint64_t)i;
		r.replacement[i] = 0x500000 + (uint64_t)i;
	}
	r.witness[0] = 0x7f0000001020ull;
	r.witness[1] = 0x7f0000001048ull;
	r.witness_value[0] = 0x600000;
	r.witness_value[1] = 0x600001;
	return r;
}

static int read_all(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/leakbpf-journal-XXXXXX", sub[128], text[2048], bad[4096];
	struct alloc_redirect r = sample(), back;
	uint64_t wstart = 0;
	pid_t writer = 0;
	struct stat st;
	char *p;

	if (!mkdtemp(dir))
		return 1;
	snprintf(sub, sizeof(sub), "%s/store/redirects", dir);
	CHECK(redirect_journal_write(sub, &r) == 0, "write into a directory made on the way");
	CHECK(strstr(r.journal, "/redirect-4242-987654") != NULL, "path %s", r.journal);
	CHECK(!stat(r.journal, &st) && (st.st_mode & 0777) == 0600, "record mode %o", st.st_mode & 0777);
	CHECK(!stat(sub, &st) && (st.st_mode & 0777) == 0700, "dir mode %o", st.st_mode & 0777);
	CHECK(read_all(r.journal, text, sizeof(text)) == 0, "read back");
	CHECK(redirect_journal_parse(text, &back, &writer, &wstart) == 0, "parse: %s", text);
	CHECK(back.pid == r.pid && back.start_time == r.start_time &&
	      !memcmp(back.slot, r.slot, sizeof(r.slot)) &&
	      !memcmp(back.original, r.original, sizeof(r.original)) &&
	      !memcmp(back.replacement, r.replacement, sizeof(r.replacement)) &&
	      !memcmp(back.witness, r.witness, sizeof(r.witness)) &&
	      !memcmp(back.witness_value, r.witness_value, sizeof(r.witness_value)) &&
	      back.state == REDIRECT_ON && back.guardian_fd == -1, "round trip");
	CHECK(writer == getpid() && wstart > 0, "writer %d start %llu", writer,
	      (unsigned long long)wstart);

	/* a record of a leakbpf that still runs (this one) is not replayed */
	CHECK(redirect_journal_replay(sub) == 0 && access(r.journal, F_OK) == 0,
	      "the writer lives: record kept");

	/* not records: cut short, a witness missing, an extra line, junk */
	p = strstr(text, "witness");
	snprintf(bad, sizeof(bad), "%.*s", (int)(p - text), text);
	CHECK(redirect_journal_parse(bad, &back, &writer, &wstart) == -EINVAL, "no witnesses");
	snprintf(bad, sizeof(bad), "%sslot 1 2 3\n", text);
	CHECK(redirect_journal_parse(bad, &back, &writer, &wstart) == -EINVAL, "a fifth slot");
	snprintf(bad, sizeof(bad), "%s", text);
	bad[strlen(bad) - 1] = '\0';
	CHECK(redirect_journal_parse(bad, &back, &writer, &wstart) == -EINVAL, "no final newline");
	snprintf(bad, sizeof(bad), "%s", text);
	memcpy(strstr(bad, "pid 4242"), "pid -424", 8);
	CHECK(redirect_journal_parse(bad, &back, &writer, &wstart) == -EINVAL, "negative pid");
	CHECK(redirect_journal_parse("#!/bin/sh\nrm -rf /\n", &back, &writer, &wstart) == -EINVAL,
	      "junk");

	redirect_journal_remove(&r);
	CHECK(r.journal[0] == '\0', "path cleared");
	snprintf(text, sizeof(text), "%s/redirect-4242-987654", sub);
	CHECK(access(text, F_OK) && errno == ENOENT, "record removed");
	CHECK(redirect_journal_replay(dir) == 0, "an empty directory: nothing to do");
	snprintf(text, sizeof(text), "rm -rf '%s'", dir);
	CHECK(system(text) == 0, "cleaned up");
	return tests_summary();
}
