// SPDX-License-Identifier: MIT
/*
 * target_mapped_file (src/lib/target_file.c): the path leakbpf reads an ELF
 * from and probes is the file the mapping maps (device and inode from
 * /proc/PID/maps), never another one its path leads to. Mappings are made
 * up here with a range map_files does not know, so the checks of the
 * path inside the root (what an agent without CAP_SYS_ADMIN relies on) run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "proc.h"
#include "target_file.h"
#include "testing.h"

static struct proc_mapping mapping_of(const char *path, const char *file)
{
	struct proc_mapping m = { .start = 0x1000, .end = 0x2000, .path = (char *)path };
	struct stat st;

	if (!stat(file, &st)) {
		m.inode = st.st_ino;
		m.dev_major = major(st.st_dev);
		m.dev_minor = minor(st.st_dev);
	}
	return m;
}

int main(void)
{
	char dir[] = "/tmp/leakbpf-tf-XXXXXX", file[128], link[128], out[256], want[300];
	struct proc_mapping m;
	FILE *f;
	int err;

	if (!mkdtemp(dir))
		return 1;
	snprintf(file, sizeof(file), "%s/libapp.so", dir);
	snprintf(link, sizeof(link), "%s/libevil.so", dir);
	f = fopen(file, "w");
	fputs("\x7f" "ELF", f);
	fclose(f);
	/* what a container does: an absolute link to a file it cannot see */
	if (symlink("/etc/hostname", link))
		return 1;

	m = mapping_of(file, file);
	err = target_mapped_file(getpid(), &m, out, sizeof(out));
	snprintf(want, sizeof(want), "/proc/%d/root%s", (int)getpid(), file);
	CHECK(err == 0 && !strcmp(out, want), "the mapped file inside the root: %d %s", err, out);

	m = mapping_of(link, file);
	err = target_mapped_file(getpid(), &m, out, sizeof(out));
	CHECK(err == -ESTALE, "a link to another file is refused: %d %s", err, out);

	m = mapping_of(file, "/etc/hostname");
	err = target_mapped_file(getpid(), &m, out, sizeof(out));
	CHECK(err == -ESTALE, "a file replaced at the mapped path is refused: %d %s", err, out);

	m = mapping_of(NULL, file);
	CHECK(target_mapped_file(getpid(), &m, out, sizeof(out)) == -ENOENT, "anonymous mapping");

	/* a real mapping of ours: map_files names it where we may read it */
	{
		struct proc_maps maps;
		const struct proc_mapping *self = NULL;
		size_t i;

		CHECK(proc_maps_read(getpid(), &maps) == 0, "maps");
		for (i = 0; i < maps.n && !self; i++)
			if (maps.v[i].path && maps.v[i].inode)
				self = &maps.v[i];
		err = self ? target_mapped_file(getpid(), self, out, sizeof(out)) : -ENOENT;
		CHECK(err == 0, "our own first file mapping: %d", err);
		proc_maps_free(&maps);
	}
	unlink(link);
	unlink(file);
	rmdir(dir);
	return tests_summary();
}
