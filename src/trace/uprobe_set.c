// SPDX-License-Identifier: MIT
#include "uprobe_set.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Newer than the uapi headers of Debian 12 (Linux 6.1): the kernel's values. */
#define LB_BPF_TRACE_UPROBE_MULTI 48
#define LB_BPF_F_UPROBE_MULTI_RETURN 1u

struct uprobe_set {
	int fd;				/* the uprobe_multi link, or -1 */
	size_t nlinks;
	struct bpf_link *links[];	/* per-probe links otherwise */
};

/* union bpf_attr's link_create with its uprobe_multi member (Linux 6.6). */
struct link_create_uprobe_multi {
	__u32 prog_fd;
	__u32 target_fd;
	__u32 attach_type;
	__u32 flags;
	__u64 path;
	__u64 offsets;
	__u64 ref_ctr_offsets;
	__u64 cookies;
	__u32 cnt;
	__u32 multi_flags;
	__u32 pid;
	__u32 pad;
};

static int link_create_multi(int prog_fd, pid_t pid, const char *path, const uint64_t *offsets,
			     const uint64_t *cookies, size_t n, bool retprobe)
{
	struct link_create_uprobe_multi attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = (__u32)prog_fd;
	attr.attach_type = LB_BPF_TRACE_UPROBE_MULTI;
	attr.path = (__u64)(uintptr_t)path;
	attr.offsets = (__u64)(uintptr_t)offsets;
	attr.cookies = (__u64)(uintptr_t)cookies;
	attr.cnt = (__u32)n;
	attr.multi_flags = retprobe ? LB_BPF_F_UPROBE_MULTI_RETURN : 0;
	attr.pid = (__u32)pid;
	fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

static bool probe_multi(void)
{
	/* r0 = 0; exit */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = (enum bpf_attach_type)LB_BPF_TRACE_UPROBE_MULTI);
	uint64_t offset = 0;	/* the ELF header: never executable, never hit */
	int prog, link;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &opts);
	if (prog < 0)
		return false;
	link = link_create_multi(prog, getpid(), "/proc/self/exe", &offset, NULL, 1, false);
	close(prog);
	if (link < 0)
		return false;
	close(link);
	return true;
}

bool uprobe_multi_supported(void)
{
	static int known = -1;
	const char *force = getenv("LEAKBPF_UPROBE_MULTI");

	/* LEAKBPF_UPROBE_MULTI=0 takes the older kernels' path (for tests) */
	if (known < 0)
		known = force && !strcmp(force, "0") ? 0 : probe_multi();
	return known;
}

int uprobe_set_prepare(struct bpf_program *prog)
{
	return bpf_program__set_expected_attach_type(prog,
		(enum bpf_attach_type)LB_BPF_TRACE_UPROBE_MULTI);
}

int uprobe_set_attach(const struct bpf_program *prog, bool multi, pid_t pid,
		      const char *path, const uint64_t *offsets, const uint64_t *cookies,
		      size_t n, bool retprobe, struct uprobe_set **out)
{
	struct uprobe_set *s = calloc(1, sizeof(*s) + (multi ? 0 : n) * sizeof(s->links[0]));
	size_t i;
	int err;

	if (!s)
		return -ENOMEM;
	s->fd = -1;
	if (multi) {
		s->fd = link_create_multi(bpf_program__fd(prog), pid, path, offsets, cookies, n,
					  retprobe);
		if (s->fd < 0) {
			err = s->fd;
			free(s);
			return err;
		}
		*out = s;
		return 0;
	}
	for (i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uopts, .retprobe = retprobe,
			    .bpf_cookie = cookies ? cookies[i] : 0);

		s->links[i] = bpf_program__attach_uprobe_opts(prog, pid, path, offsets[i], &uopts);
		if (!s->links[i]) {
			err = -errno;
			uprobe_set_destroy(s);
			return err;
		}
		s->nlinks++;
	}
	*out = s;
	return 0;
}

void uprobe_set_destroy(struct uprobe_set *s)
{
	size_t i;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	for (i = 0; i < s->nlinks; i++)
		bpf_link__destroy(s->links[i]);
	free(s);
}
