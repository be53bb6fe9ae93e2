/* SPDX-License-Identifier: MIT */
/*
 * A set of uprobes of one BPF program in one file, attached and removed as a
 * unit: one uprobe_multi link where the kernel has them (Linux 6.6+), one
 * perf-event link per probe otherwise. Each probe carries a cookie the
 * program reads with bpf_get_attach_cookie().
 *
 * Why it matters: the kernel waits for an RCU grace period when it removes
 * a uprobe (~110 ms measured here). Per-probe links wait once per probe,
 * one after another (22 probes: 2.4 s at every detach); a multi link waits
 * once for all of its probes.
 */
#ifndef LEAKBPF_UPROBE_SET_H
#define LEAKBPF_UPROBE_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bpf_program;
struct uprobe_set;

/* Whether this kernel accepts uprobe_multi links (probed once, cached;
 * LEAKBPF_UPROBE_MULTI=0 in the environment says no, to test the other path). */
bool uprobe_multi_supported(void);
/* Before the skeleton is loaded: make prog attachable by uprobe_multi. */
int uprobe_set_prepare(struct bpf_program *prog);

/* Attaches prog at the file offsets of path (a path this process can open,
 * such as /proc/PID/root/...) for pid only; retprobe for return probes.
 * 0 or -errno; on failure nothing stays attached. */
int uprobe_set_attach(const struct bpf_program *prog, bool multi, pid_t pid,
		      const char *path, const uint64_t *offsets, const uint64_t *cookies,
		      size_t n, bool retprobe, struct uprobe_set **out);
/* Removes every probe of the set. NULL is fine. */
void uprobe_set_destroy(struct uprobe_set *s);

#endif
