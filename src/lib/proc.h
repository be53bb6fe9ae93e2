/* SPDX-License-Identifier: MIT */
/* What /proc tells about a process: mappings, status, environment. */
#ifndef LEAKBPF_PROC_H
#define LEAKBPF_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_mapping {
	uint64_t start, end, offset;
	uint64_t inode;
	unsigned dev_major, dev_minor;
	char perms[5];
	char *path;		/* NULL for anonymous mappings */
};

struct proc_maps {
	struct proc_mapping *v;
	size_t n;
};

int proc_maps_read(pid_t pid, struct proc_maps *maps);
/* Parses the text of a maps file (unit-testable). */
int proc_maps_parse(const char *text, struct proc_maps *maps);
void proc_maps_free(struct proc_maps *maps);
const struct proc_mapping *proc_maps_find_addr(const struct proc_maps *maps, uint64_t addr);
/* First file-backed mapping whose path's basename satisfies match(). */
const struct proc_mapping *proc_maps_find(const struct proc_maps *maps,
					  bool (*match)(const char *basename));
/* Lowest-addressed mapping of the same file as m (the ELF's load base). */
const struct proc_mapping *proc_maps_first_of(const struct proc_maps *maps,
					      const struct proc_mapping *m);

/* Reads a whole /proc/PID/<name> file; *out is NUL-terminated, free() it. */
int proc_read_file(pid_t pid, const char *name, char **out, size_t *len);
/* Value of variable `var` in the process's environment, copied into buf.
 * -ENOENT if unset. */
int proc_getenv(pid_t pid, const char *var, char *buf, size_t len);
/* True if any argv element equals arg (or, with prefix, starts with it). */
bool proc_has_arg(pid_t pid, const char *arg, bool prefix);
/* The value of a long option on the command line, "--opt VALUE" or
 * "--opt=VALUE" (the last given); -ENOENT if absent. */
int proc_arg_value(pid_t pid, const char *opt, char *buf, size_t len);
/* Start time (clock ticks since boot, field 22 of stat): identifies a
 * process across PID reuse. */
int proc_start_time(pid_t pid, uint64_t *ticks);
/* CPU time the process has used (utime + stime), in clock ticks. */
int proc_cpu_ticks(pid_t pid, uint64_t *ticks);
int proc_comm(pid_t pid, char *buf, size_t len);

/* Memory of a process from smaps_rollup, in bytes. Heap growth shows in
 * uss and anon; a pre-forked worker un-sharing its parent's pages moves
 * shared into private without any allocation (pss falls as the group's
 * workers diverge, rss stays). */
struct proc_mem {
	uint64_t rss, pss, uss, shared, anon, swap;
};
int proc_mem_rollup(pid_t pid, struct proc_mem *m);
/* Parses the text of smaps_rollup (unit-testable); -EINVAL if it has no Rss. */
int proc_mem_rollup_parse(const char *text, struct proc_mem *m);
/* A hex mask line of /proc/PID/status ("CapEff", "SigCgt", ...). */
int proc_status_mask(pid_t pid, const char *field, uint64_t *mask);
bool proc_exists(pid_t pid);
/* Exists and is not a zombie. */
bool proc_is_running(pid_t pid);

/* Memory of the target through process_vm_readv. -errno on failure. */
int proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);
/* n reads of `each` bytes at addr[i] into bufs + i * each, in few calls;
 * ok[i] says which ranges could be read. 0, or -errno if the process
 * cannot be read at all. */
int proc_read_ranges(pid_t pid, const uint64_t *addr, size_t n, size_t each, uint8_t *bufs,
		     bool *ok);
/* Writes through /proc/PID/mem (works for read-only private mappings too). */
int proc_write_mem(pid_t pid, uint64_t addr, const void *buf, size_t len);

#endif
