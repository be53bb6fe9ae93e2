// SPDX-License-Identifier: MIT
/*
 * The agent's state in Prometheus text format: per process its outstanding
 * bytes, growth rate and memory; its fastest growing stacks as labels (at
 * most AGENT_TOP_LABELS per process, so the series count stays bounded by
 * the number of processes); the agent's own cost and everything it lost.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "metrics_server.h"
#include "proc.h"
#include "report.h"
#include "tracer.h"

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* pid="..",comm="..",role="..",group="..", and where it runs (container,
 * pod, namespace; empty on the host): who a process is. */
static void proc_labels(const struct agent_proc *p, char *buf, size_t len)
{
	const struct container_info *c = &p->s.container;
	char comm[80], pod[300], ns[140];

	metrics_escape_label(p->s.comm, comm, sizeof(comm));
	metrics_escape_label(c->pod_name, pod, sizeof(pod));
	metrics_escape_label(c->pod_namespace, ns, sizeof(ns));
	snprintf(buf, len,
		 "pid=\"%d\",comm=\"%s\",role=\"%s\",group=\"%d\",ns_pid=\"%d\",container=\"%.12s\","
		 "pod=\"%s\",namespace=\"%s\"",
		 p->pid, comm, proc_role_name(p->role), p->group, c->ns_pid, c->id, pod, ns);
}

typedef double (*proc_value_fn)(const struct agent_proc *p);

static double v_bytes(const struct agent_proc *p) { return (double)p->total_bytes; }
static double v_count(const struct agent_proc *p) { return (double)p->total_count; }
static double v_rate(const struct agent_proc *p) { return p->rate; }
static double v_rss(const struct agent_proc *p) { return (double)p->mem.rss; }
static double v_pss(const struct agent_proc *p) { return (double)p->mem.pss; }
static double v_uss(const struct agent_proc *p) { return (double)p->mem.uss; }
static double v_shared(const struct agent_proc *p) { return (double)p->mem.shared; }
static double v_overhead(const struct agent_proc *p)
{
	return p->s.sampled.on ? p->s.sampled.overhead : -1;
}

static void per_process(FILE *out, const struct agent *a, const char *name, const char *help,
			proc_value_fn fn)
{
	char labels[768];
	size_t i;

	header(out, name, "gauge", help);
	for (i = 0; i < a->nprocs; i++) {
		const struct agent_proc *p = a->procs[i];
		double v;

		if (!p->traced || !p->have_snapshot)
			continue;
		v = fn(p);
		if (v < 0 && fn == v_overhead)
			continue;	/* not measured yet */
		proc_labels(p, labels, sizeof(labels));
		fprintf(out, "%s{%s} %.17g\n", name, labels, v);
	}
}

static void top_stacks(FILE *out, const struct agent *a)
{
	char labels[768], where[400];
	size_t i;
	int k;

	header(out, "leakbpf_stack_growth_bytes_per_second", "gauge",
	       "Fastest growing stacks of each process (innermost frame), outstanding bytes per second over the last 5 minutes");
	for (i = 0; i < a->nprocs; i++) {
		const struct agent_proc *p = a->procs[i];

		proc_labels(p, labels, sizeof(labels));
		for (k = 0; k < p->ntop; k++) {
			metrics_escape_label(p->top[k].where, where, sizeof(where));
			fprintf(out, "leakbpf_stack_growth_bytes_per_second{%s,rank=\"%d\",stack=\"%s\"} %.17g\n",
				labels, k + 1, where, p->top[k].rate);
		}
	}
	header(out, "leakbpf_stack_outstanding_bytes", "gauge",
	       "Outstanding bytes of the stacks in leakbpf_stack_growth_bytes_per_second");
	for (i = 0; i < a->nprocs; i++) {
		const struct agent_proc *p = a->procs[i];

		proc_labels(p, labels, sizeof(labels));
		for (k = 0; k < p->ntop; k++) {
			metrics_escape_label(p->top[k].where, where, sizeof(where));
			fprintf(out, "leakbpf_stack_outstanding_bytes{%s,rank=\"%d\",stack=\"%s\"} %" PRId64 "\n",
				labels, k + 1, where, p->top[k].bytes);
		}
	}
}

static void counter(FILE *out, const char *name, const char *help, uint64_t v)
{
	header(out, name, "counter", help);
	fprintf(out, "%s %" PRIu64 "\n", name, v);
}

static void own_cost(FILE *out, const struct agent *a)
{
	uint64_t ticks = 0, hits = 0, bpf_ns = 0, dropped = 0;
	struct proc_mem self = { 0 };
	size_t i;
	int c;

	proc_cpu_ticks(getpid(), &ticks);
	proc_mem_rollup(getpid(), &self);
	header(out, "leakbpf_agent_cpu_seconds_total", "counter", "CPU time of the agent process");
	fprintf(out, "leakbpf_agent_cpu_seconds_total %.2f\n", (double)ticks / (double)sysconf(_SC_CLK_TCK));
	header(out, "leakbpf_agent_resident_bytes", "gauge", "Resident memory of the agent process");
	fprintf(out, "leakbpf_agent_resident_bytes %" PRIu64 "\n", self.rss);
	if (!tracer_read_cost(a->tracer, &hits, &bpf_ns)) {
		counter(out, "leakbpf_probe_hits_total", "Allocator probe hits in traced processes (each costs them a trap)", hits);
		header(out, "leakbpf_bpf_seconds_total", "counter", "Time the BPF programs ran");
		fprintf(out, "leakbpf_bpf_seconds_total %.6f\n", (double)bpf_ns / 1e9);
	}
	header(out, "leakbpf_processes_traced", "gauge", "Processes traced now");
	for (i = 0, c = 0; i < a->nprocs; i++)
		c += a->procs[i]->traced;
	fprintf(out, "leakbpf_processes_traced %d\n", c);
	counter(out, "leakbpf_attached_total", "Processes attached since start", a->stats.attached);
	counter(out, "leakbpf_exited_total", "Traced processes that exited", a->stats.exited);
	counter(out, "leakbpf_attach_failures_total", "Processes that could not be traced", a->stats.attach_failures);
	counter(out, "leakbpf_snapshots_total", "Snapshots written to the store", a->stats.snapshots);
	counter(out, "leakbpf_final_snapshots_total", "Snapshots of a traced process's last state, taken as it ended", a->stats.final_snapshots);
	counter(out, "leakbpf_snapshot_failures_total", "Snapshots that could not be taken or written", a->stats.snapshot_failures);
	header(out, "leakbpf_store_seconds_total", "counter", "Time spent taking and writing snapshots");
	fprintf(out, "leakbpf_store_seconds_total %.3f\n", a->stats.store_seconds);

	for (i = 0; i < a->nprocs; i++)
		dropped += a->procs[i]->s.sampled.dropped;
	header(out, "leakbpf_lost_total", "counter",
	       "What the tracer lost, by reason (a loss makes numbers too low)");
	for (c = 0; c < LB_CNT__COUNT; c++)
		if (counter_is_loss(c))
			fprintf(out, "leakbpf_lost_total{reason=\"%s\"} %" PRIu64 "\n", counter_name(c),
				a->counters[c]);
	fprintf(out, "leakbpf_lost_total{reason=\"samples_table_full\"} %" PRIu64 "\n", dropped);
	fprintf(out, "leakbpf_lost_total{reason=\"max_processes\"} %" PRIu64 "\n",
		a->stats.skipped_max_processes);
	header(out, "leakbpf_events_total", "counter", "What the tracer counted, by kind");
	for (c = 0; c < LB_CNT__COUNT; c++)
		if (!counter_is_loss(c))
			fprintf(out, "leakbpf_events_total{kind=\"%s\"} %" PRIu64 "\n", counter_name(c),
				a->counters[c]);
}

int agent_metrics_write(void *agent, FILE *out)
{
	const struct agent *a = agent;

	per_process(out, a, "leakbpf_process_outstanding_bytes",
		    "Bytes allocated and not freed, by Python stack summed (estimated in sampled mode)", v_bytes);
	per_process(out, a, "leakbpf_process_outstanding_allocations",
		    "Blocks allocated and not freed", v_count);
	per_process(out, a, "leakbpf_process_growth_bytes_per_second",
		    "Change of outstanding bytes per second over the last 5 minutes", v_rate);
	per_process(out, a, "leakbpf_process_rss_bytes", "Resident set size (smaps_rollup)", v_rss);
	per_process(out, a, "leakbpf_process_pss_bytes",
		    "Proportional set size: shared pages divided among their sharers", v_pss);
	per_process(out, a, "leakbpf_process_uss_bytes",
		    "Unique set size: private pages only (grows when copy-on-write pages are un-shared)", v_uss);
	per_process(out, a, "leakbpf_process_shared_bytes", "Resident pages shared with other processes", v_shared);
	per_process(out, a, "leakbpf_process_overhead_ratio",
		    "Share of the process's CPU time spent in leakbpf's probes over the last sampling period", v_overhead);
	top_stacks(out, a);
	agent_generations_write(a, out);
	own_cost(out, a);
	return ferror(out) ? -1 : 0;
}
