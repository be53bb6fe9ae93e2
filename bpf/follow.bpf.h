/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Following processes for the agent: fork, exec and exit from the
 * scheduler's tracepoints. A fork of a followed process puts the child in
 * the follow map at once (so its own children are followed even before
 * userspace hears of it) and tells userspace, which attaches before the
 * child has done much: a new gunicorn worker is traced from its first
 * request. Threads are not processes here: only thread-group leaders count.
 */
#ifndef LEAKBPF_FOLLOW_BPF_H
#define LEAKBPF_FOLLOW_BPF_H

/* Set by userspace after load: report every exec on the machine (the
 * agent without --pid looks for new Python processes). */
bool follow_every_exec;

static __always_inline void process_event(__u32 type, __u32 pid, __u32 ppid)
{
	struct lb_event ev = {
		.time_ns = bpf_ktime_get_ns(), .pid = pid, .type = type, .ppid = ppid,
	};

	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), BPF_RB_FORCE_WAKEUP))
		count(LB_CNT_EVENTS_DROPPED);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;

	if (ctgid == ptgid || !bpf_map_lookup_elem(&follow, &ptgid))
		return 0;	/* a new thread, or nobody we follow */
	if (bpf_map_update_elem(&follow, &ctgid, &one, BPF_ANY))
		count(LB_CNT_FOLLOW_MAP_FULL);
	process_event(LB_EVENT_FORK, ctgid, ptgid);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(follow_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	if (!follow_every_exec && !bpf_map_lookup_elem(&follow, &tgid))
		return 0;
	process_event(LB_EVENT_EXEC, tgid, BPF_CORE_READ(p, real_parent, tgid));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(follow_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	/* the leader's exit: other threads may linger a moment, /proc tells */
	if (BPF_CORE_READ(p, pid) != tgid || bpf_map_delete_elem(&follow, &tgid))
		return 0;
	process_event(LB_EVENT_EXIT, tgid, 0);
	return 0;
}

#endif
