// SPDX-License-Identifier: MIT
/* Refuses early, in one line, what would otherwise fail deep inside libbpf. */
#include "cli.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"


static uint64_t effective_caps(void)
{
	uint64_t caps = 0;

	proc_status_mask(getpid(), "CapEff", &caps);
	return caps;
}

static bool has_cap(uint64_t caps, int bit)
{
	return caps & (1ULL << bit);
}

int preflight_check(const char *cmd)
{
	uint64_t caps = effective_caps();
	bool bpf = has_cap(caps, CAP_SYS_ADMIN) ||
		   (has_cap(caps, CAP_BPF) && has_cap(caps, CAP_PERFMON));

	if (!bpf || !has_cap(caps, CAP_SYS_PTRACE)) {
		fprintf(stderr, "leakbpf %s: needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE): run it with sudo\n",
			cmd);
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr, "leakbpf %s: the kernel has no BTF (/sys/kernel/btf/vmlinux): use a kernel built with CONFIG_DEBUG_INFO_BTF=y\n",
			cmd);
		return -ENOTSUP;
	}
	if (access("/sys/bus/event_source/devices/uprobe", F_OK)) {
		fprintf(stderr, "leakbpf %s: the kernel has no uprobes: use a kernel built with CONFIG_UPROBE_EVENTS=y\n",
			cmd);
		return -ENOTSUP;
	}
	return 0;
}
