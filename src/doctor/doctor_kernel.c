// SPDX-License-Identifier: MIT
/*
 * The kernel and leakbpf's privileges as leakbpf needs them. Each check
 * looks at the thing itself (the BTF file, the uprobe PMU, a ring buffer
 * map, the programs loading, a trap timed) rather than at version numbers,
 * where it can.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "doctor.h"
#include "proc.h"
#include "tracer.h"
#include "uprobe_set.h"

#define K "kernel"

static const struct { int bit; const char *name, *why; bool required; } caps[] = {
	{ CAP_BPF, "CAP_BPF", "load BPF programs and maps", true },
	{ CAP_PERFMON, "CAP_PERFMON", "attach uprobes and tracepoints", true },
	{ CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "read other processes' memory and files (/proc/PID/mem, /proc/PID/root)", true },
	{ CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "the kernel's BPF run-time statistics (without it the BPF time a hit is assumed)", false },
};

static void check_privileges(struct findings *f)
{
	uint64_t eff = 0;
	size_t i;

	proc_status_mask(getpid(), "CapEff", &eff);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		bool have = eff & (1ULL << caps[i].bit);

		if (have)
			finding_add(f, FINDING_OK, "privileges", caps[i].name, NULL, "%s: present (%s)",
				    caps[i].name, caps[i].why);
		else
			finding_add(f, caps[i].required ? FINDING_PROBLEM : FINDING_WARNING, "privileges",
				    caps[i].name,
				    caps[i].required ? "run as root, or add the capability (the DaemonSet adds BPF, PERFMON and SYS_PTRACE)"
						     : "optional; deploy/kubernetes/privileged-patch.yaml adds it",
				    "%s: missing (needed to %s)", caps[i].name, caps[i].why);
	}
}

/* Loads a 6-instruction program that calls bpf_probe_write_user: the
 * kernel refuses it under lockdown (and without CAP_SYS_ADMIN). */
static int probe_write_user_allowed(void)
{
	struct bpf_insn prog[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_probe_write_user },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "lb_lockdown", "GPL", prog,
			       sizeof(prog) / sizeof(prog[0]), NULL);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* "[none] integrity confidentiality" -> "none" */
static void check_lockdown(struct findings *f)
{
	char buf[128] = "", *l, *r;
	FILE *fp = fopen("/sys/kernel/security/lockdown", "re");

	if (fp) {
		if (!fgets(buf, sizeof(buf), fp))
			buf[0] = '\0';
		fclose(fp);
	}
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!l || !r) {
		/* securityfs not mounted (a container): ask the verifier */
		int err = probe_write_user_allowed();

		if (!err)
			finding_add(f, FINDING_OK, K, "lockdown", NULL,
				    "lockdown: none (a program calling bpf_probe_write_user loads)");
		else
			finding_add(f, FINDING_OK, K, "lockdown", NULL,
				    "lockdown: integrity or stricter, or no CAP_SYS_ADMIN (bpf_probe_write_user refused: %s), which leakbpf never uses: the allocator redirect writes with process_vm_writev",
				    strerror(-err));
		return;
	}
	*r = '\0';
	l++;
	if (!strcmp(l, "confidentiality"))
		finding_add(f, FINDING_PROBLEM, K, "lockdown",
			    "boot with lockdown=integrity or none (the kernel command line)",
			    "lockdown: confidentiality: BPF may not read kernel memory, which the stack walker needs (task and thread state)");
	else if (!strcmp(l, "integrity"))
		finding_add(f, FINDING_OK, K, "lockdown", NULL,
			    "lockdown: integrity: bpf_probe_write_user is forbidden, which leakbpf never uses (the allocator redirect writes with process_vm_writev)");
	else
		finding_add(f, FINDING_OK, K, "lockdown", NULL, "lockdown: %s", l);
}

static void check_kernel_version(struct findings *f, unsigned *major, unsigned *minor)
{
	struct utsname u;

	*major = *minor = 0;
	if (!uname(&u))
		sscanf(u.release, "%u.%u", major, minor);
	if (*major > 5 || (*major == 5 && *minor >= 17))
		finding_add(f, FINDING_OK, K, "version", NULL, "Linux %s", u.release);
	else
		finding_add(f, FINDING_PROBLEM, K, "version", "use Linux 5.17 or later",
			    "Linux %s: leakbpf needs 5.17+ (bpf_loop, ring buffers, BTF tracepoints)",
			    u.release);
}

static void check_files(struct findings *f)
{
	struct stat st;

	if (!stat("/sys/kernel/btf/vmlinux", &st))
		finding_add(f, FINDING_OK, K, "btf", NULL, "BTF: /sys/kernel/btf/vmlinux (%.1f MB)",
			    st.st_size / 1e6);
	else
		finding_add(f, FINDING_PROBLEM, K, "btf",
			    "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (in a pod: mount /sys/kernel/btf)",
			    "BTF: /sys/kernel/btf/vmlinux missing: the programs cannot be relocated (CO-RE)");
	if (!access("/sys/bus/event_source/devices/uprobe", F_OK))
		finding_add(f, FINDING_OK, K, "uprobes", NULL, "uprobes: the uprobe PMU is there");
	else
		finding_add(f, FINDING_PROBLEM, K, "uprobes", "use a kernel with CONFIG_UPROBE_EVENTS=y",
			    "uprobes: no uprobe PMU (/sys/bus/event_source/devices/uprobe)");
}

static void check_bpf(struct findings *f, unsigned major, unsigned minor)
{
	struct tracer_opts opts = { .max_allocs = 1024, .max_stacks = 1024 };
	struct tracer *t = NULL;
	double trap_ns = 0;
	int r, err;

	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	if (r == 1)
		finding_add(f, FINDING_OK, K, "ringbuf", NULL, "BPF ring buffers: supported");
	else
		finding_add(f, FINDING_PROBLEM, K, "ringbuf", "use Linux 5.8 or later, as root",
			    "BPF ring buffers: %s", r == 0 ? "not supported" : strerror(-r));
	if (uprobe_multi_supported())
		finding_add(f, FINDING_OK, K, "uprobe_multi", NULL,
			    "uprobe_multi links: supported (one link and one RCU grace period for all of a process's probes)");
	else
		finding_add(f, FINDING_WARNING, K, "uprobe_multi", "Linux 6.6+ detaches much faster",
			    "uprobe_multi links: not supported: one link per probe (each detach waits ~100 ms)");
	/* sessions (6.10): one program for entry and return; not needed */
	finding_add(f, FINDING_OK, K, "uprobe_session", NULL, "uprobe sessions: %s (leakbpf does not need them)",
		    major > 6 || (major == 6 && minor >= 10) ? "available" : "not in this kernel");
	err = tracer_open(&opts, &t);
	if (err) {
		finding_add(f, FINDING_PROBLEM, K, "programs", "run leakbpf doctor -vv for the verifier's log",
			    "leakbpf's BPF programs do not load: %s", strerror(-err));
		return;
	}
	finding_add(f, FINDING_OK, K, "programs", NULL,
		    "leakbpf's BPF programs load (allocator probes, stack walker, fork/exec/exit tracepoints)");
	err = tracer_enable_stats(t);
	if (err)
		finding_add(f, FINDING_WARNING, K, "bpf_stats",
			    "optional: CAP_SYS_ADMIN turns them on (deploy/kubernetes/privileged-patch.yaml)",
			    "BPF run-time statistics: refused (%s): leakbpf assumes 1.6 us of BPF time a probe hit",
			    strerror(-err));
	else
		finding_add(f, FINDING_OK, K, "bpf_stats", NULL,
			    "BPF run-time statistics: on while leakbpf runs (its BPF time is measured)");
	/* optimised uprobes (a nop5 turned into a call, no trap) show as a
	 * trap far below a microsecond */
	if (!tracer_calibrate_trap(t, &trap_ns))
		finding_add(f, trap_ns > 5000 ? FINDING_WARNING : FINDING_OK, K, "uprobe_cost",
			    trap_ns > 5000 ? "keep --max-overhead (sampled mode) as it is; avoid --mode full on busy processes" : NULL,
			    "one uprobe trap costs %.2f us here (measured)%s", trap_ns / 1e3,
			    trap_ns < 300 ? ": optimised uprobes" :
			    trap_ns > 5000 ? ": slow (nested virtualisation?), every traced allocation pays it" : "");
	tracer_free(t);
}

void doctor_kernel(struct findings *f)
{
	unsigned major, minor;

	check_kernel_version(f, &major, &minor);
	check_files(f);
	check_lockdown(f);
	check_privileges(f);
	check_bpf(f, major, minor);
}
