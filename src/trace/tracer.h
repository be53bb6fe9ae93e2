/* SPDX-License-Identifier: MIT */
/*
 * The BPF side as seen from userspace: load the programs, attach them to a
 * process, read the maps. The only module that knows the skeleton.
 */
#ifndef LEAKBPF_TRACER_H
#define LEAKBPF_TRACER_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "leakbpf_shared.h"

struct tracer;

struct tracer_opts {
	uint32_t max_allocs;	/* live allocations tracked, all processes */
	uint32_t max_stacks;	/* distinct stacks */
	bool native_always;	/* native stack even when Python frames exist */
};

int tracer_open(const struct tracer_opts *opts, struct tracer **out);
void tracer_free(struct tracer *t);

/* Allocator probes on the libc that pid has mapped. On failure why holds one
 * sentence for the user. */
int tracer_attach_libc(struct tracer *t, pid_t pid, char *why, size_t why_len);
/* Py_FinalizeEx probe (file offset in the interpreter ELF at host_path). */
int tracer_attach_finalize(struct tracer *t, pid_t pid, const char *host_path,
			   uint64_t offset);
/* New-reference probes (src/python/py_newref_sites.c): n branches at file offsets
 * of the interpreter ELF, each with the register (enum lb_reg) that holds
 * the object there. Kept until tracer_detach_pid. */
int tracer_attach_new_reference(struct tracer *t, pid_t pid, const char *host_path,
				const uint64_t *offsets, const uint64_t *regs, size_t n);
/* One-shot stop (SIGURG to the thread) at a file offset; detach with
 * tracer_detach_stop once it fired. */
int tracer_attach_stop(struct tracer *t, pid_t pid, const char *host_path,
		       uint64_t offset);
void tracer_detach_stop(struct tracer *t);
/* Removes every probe attached for pid. */
void tracer_detach_pid(struct tracer *t, pid_t pid);
/* Removes only the allocator probes (sampled mode, between windows). */
/* Whether pid's allocator probes are in (the tracer is their only owner). */
bool tracer_libc_attached(const struct tracer *t, pid_t pid);
void tracer_detach_libc(struct tracer *t, pid_t pid);
/* Hands every live allocation recorded for pid to fn and removes it from
 * the map (sampled mode takes each window's samples over). */
/* Forgets the calls of pid's threads still waiting for their return probe:
 * once the probes are out, those returns never come, and a stale entry
 * would make the thread's next calls look nested (ignored). Returns how
 * many were dropped. */
int tracer_clear_pending(struct tracer *t, pid_t pid);
/* Addresses of the last blocks of pid freed under the probes (at most max);
 * returns how many. */
int tracer_recent_frees(struct tracer *t, pid_t pid, uint64_t *addrs, size_t max);
typedef int (*tracer_alloc_fn)(void *ctx, uint64_t addr, const struct lb_alloc *a);
int tracer_take_allocs(struct tracer *t, pid_t pid, tracer_alloc_fn fn, void *ctx);

int tracer_set_proc(struct tracer *t, pid_t pid, const struct lb_proc *proc);
int tracer_get_proc(struct tracer *t, pid_t pid, struct lb_proc *proc);
/* What BPF counted and flagged of pid (hits, frozen). */
int tracer_get_proc_state(struct tracer *t, pid_t pid, struct lb_proc_state *state);

typedef int (*tracer_event_fn)(void *ctx, const struct lb_event *ev);
/* Whether a stack key has been symbolised (and so may leave the maps). */
typedef bool (*tracer_stack_known_fn)(void *ctx, uint64_t key);
/* Stacks whose totals stayed at zero from one sweep to the next, and that
 * fn says were symbolised, leave the stacks and totals maps (a later
 * allocation there puts them back, with a new-stack event): swept by
 * tracer_poll_events once a second while new stacks arrive. */
void tracer_keep_stacks_known_to(struct tracer *t, tracer_stack_known_fn fn, void *ctx);
/* size bytes of ev are valid: the line table may be shorter than its field. */
typedef void (*tracer_code_fn)(void *ctx, const struct lb_code_event *ev, size_t size);
/* Code objects copied by the probes when first seen (LB_EVENT_CODE) go to
 * fn, whoever polls, ahead of the new-stack events that hold them. */
void tracer_on_code_copied(struct tracer *t, tracer_code_fn fn, void *ctx);
/* Waits up to timeout_ms for new-stack events and hands each to fn.
 * Returns how many were handled, or -errno. */
int tracer_poll_events(struct tracer *t, int timeout_ms, tracer_event_fn fn, void *ctx);

/* ---- the agent: following processes, and one tracer for many ---- */

/* Fork, exec and exit of followed processes (and, with every_exec, every
 * exec on the machine) arrive as LB_EVENT_FORK/EXEC/EXIT events, handed to
 * fn whoever polls. */
int tracer_follow_start(struct tracer *t, bool every_exec, tracer_event_fn fn, void *ctx);
int tracer_follow(struct tracer *t, pid_t pid);
void tracer_unfollow(struct tracer *t, pid_t pid);
/* Probe hits of pid since its entry was first set (tracer_set_proc). */
int tracer_pid_hits(struct tracer *t, pid_t pid, uint64_t *hits);
/* Frees what the maps hold for pid once it is gone: its live allocations,
 * stacks, totals, configuration, counters and follow entry. Returns how many
 * stacks went, or -errno. */
int tracer_forget_pid(struct tracer *t, pid_t pid);

/* Sums the per-CPU counters. */
int tracer_read_counters(struct tracer *t, uint64_t out[LB_CNT__COUNT]);
typedef int (*tracer_totals_fn)(void *ctx, uint64_t key, const struct lb_totals *tot);
int tracer_for_each_totals(struct tracer *t, tracer_totals_fn fn, void *ctx);
int tracer_get_stack(struct tracer *t, uint64_t key, struct lb_stack *out);

/* What tracing costs (src/trace/cost.c): statistics on for as long as the tracer
 * lives, then hits and run time of the tracing programs, cumulative. */
int tracer_enable_stats(struct tracer *t);
int tracer_read_cost(struct tracer *t, uint64_t *hits, uint64_t *bpf_ns);
/* The kernel's run-time statistics are on (they need CAP_SYS_ADMIN). */
bool tracer_stats_on(const struct tracer *t);
/* The cost of one uprobe trap on this machine, in nanoseconds. */
int tracer_calibrate_trap(struct tracer *t, double *trap_ns);

#endif
