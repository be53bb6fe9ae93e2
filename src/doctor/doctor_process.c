// SPDX-License-Identifier: MIT
/*
 * One process as leakbpf will see it: its interpreter and build, what
 * coverage leakbpf will have and why, allocator hooks and tracemalloc, its
 * place in a gunicorn group, and which of its workers a SIGUSR1/SIGUSR2
 * would kill. The story behind the last one: a profiler started by SIGUSR2
 * killed gunicorn workers, because under --preload the handler registered
 * at import lived in the master and gunicorn resets its workers' signals.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_redirect.h"
#include "container.h"
#include "doctor.h"
#include "proc.h"
#include "target_file.h"
#include "proc_tree.h"
#include "pytarget.h"

/* gunicorn config files are a few KiB: more is not read */
#define CONFIG_READ_MAX (64 * 1024)

static void describe_build(struct findings *f, const char *who, const struct py_target *t)
{
	finding_add(f, FINDING_OK, who, "python", NULL,
		    "CPython %u.%u.%u, %s %s (version from %s, layout from %s)", t->major, t->minor,
		    t->micro, t->shared_lib ? "shared library" : "static in the executable", t->path,
		    t->version_method, t->offsets_method);
	if (t->has_symtab)
		finding_add(f, FINDING_OK, who, "symbols", NULL,
			    "symbols: a full symbol table (allocator tables and defaults found by name)");
	else
		finding_add(f, FINDING_OK, who, "symbols", NULL,
			    "symbols: stripped (LTO/PGO builds inline the allocator): tables found by %s",
			    t->tables_method ? t->tables_method : "nothing");
	if (t->work_clock.kind)
		finding_add(f, FINDING_OK, who, "work_clock", NULL,
			    "sampled mode: the Python work clock was found (samples weighted by work)");
	else
		finding_add(f, FINDING_WARNING, who, "work_clock",
			    "top/agent fall back to wall time, or use --mode full for short captures",
			    "sampled mode: no Python work clock in this build: samples weighted by wall time (sizes too low, ranking holds)");
}

static void describe_coverage(struct findings *f, const char *who, pid_t pid,
			      const struct py_target *t)
{
	struct alloc_redirect r;
	char val[64] = "";

	alloc_redirect_check(&r, t);
	switch (r.state) {
	case REDIRECT_ON:
		finding_add(f, FINDING_OK, who, "coverage", NULL,
			    "coverage: every allocation (libc probes, and pymalloc objects through the guarded allocator redirect)");
		break;
	case REDIRECT_NOT_NEEDED:
		finding_add(f, FINDING_OK, who, "coverage", NULL, "coverage: every allocation (%s)", r.why);
		break;
	case REDIRECT_LEFT:
		finding_add(f, FINDING_WARNING, who, "coverage",
			    "run `leakbpf top --pid PID -n 1` or start the agent: either restores it from its record",
			    "allocator tables: %s", r.why);
		break;
	default:
		finding_add(f, FINDING_WARNING, who, "coverage",
			    "restart it without the allocator hooks, or accept seeing native allocations only",
			    "coverage: native (libc) allocations only, pymalloc objects invisible: the redirect is %s: %s",
			    redirect_state_name(r.state), r.why);
		break;
	}
	if (!proc_getenv(pid, "PYTHONMALLOC", val, sizeof(val)) && val[0])
		finding_add(f, !strcmp(val, "malloc") || !strcmp(val, "pymalloc") ? FINDING_OK : FINDING_WARNING,
			    who, "pythonmalloc",
			    strstr(val, "debug") ? "debug hooks cost time and memory: not for production" : NULL,
			    "PYTHONMALLOC=%s", val);
	if ((!proc_getenv(pid, "PYTHONTRACEMALLOC", val, sizeof(val)) && val[0] && strcmp(val, "0")) ||
	    proc_has_arg(pid, "tracemalloc", true) || proc_has_arg(pid, "-Xtracemalloc", true))
		finding_add(f, FINDING_WARNING, who, "tracemalloc",
			    "stop it (tracemalloc.stop()) or restart without it: leakbpf needs neither",
			    "tracemalloc is on: it slows every allocation 2-20x and owns the allocator tables");
	else if (r.state == REDIRECT_UNSAFE && strstr(r.why, "hooks are installed"))
		finding_add(f, FINDING_WARNING, who, "tracemalloc",
			    "if it is tracemalloc.start(), tracemalloc.stop() gives the allocator back",
			    "allocator hooks installed at run time: tracemalloc.start(), a debug hook or a custom allocator");
	else
		finding_add(f, FINDING_OK, who, "tracemalloc", NULL, "tracemalloc: not on");
}

/* gunicorn's master runs "python -m gunicorn ..." or the gunicorn script:
 * its command line names it. */
static bool is_gunicorn(pid_t pid)
{
	char *cmdline;
	size_t len, i;
	bool yes;

	if (proc_read_file(pid, "cmdline", &cmdline, &len))
		return false;
	for (i = 0; i + 1 < len; i++)
		if (!cmdline[i])
			cmdline[i] = ' ';
	yes = strstr(cmdline, "gunicorn") != NULL;
	free(cmdline);
	return yes;
}

/* The worker's own handlers: a signal without one takes the default
 * action, and SIGUSR1/SIGUSR2's default is to terminate. */
static void check_worker_signals(struct findings *f, pid_t worker, bool preload)
{
	char who[48];
	uint64_t cgt = 0;
	bool usr1, usr2;

	snprintf(who, sizeof(who), "pid %d", worker);
	if (proc_status_mask(worker, "SigCgt", &cgt))
		return;
	/* SigCgt bit n is signal n + 1 */
	usr1 = cgt & (1ULL << (SIGUSR1 - 1));
	usr2 = cgt & (1ULL << (SIGUSR2 - 1));
	if (usr1 && usr2) {
		finding_add(f, FINDING_OK, who, "signals", NULL,
			    "worker: handles SIGUSR1 and SIGUSR2 (SigCgt)");
		return;
	}
	finding_add(f, FINDING_WARNING, who, "signals",
		    "do not send it signals to start a profiler; leakbpf needs no signal, no import and no restart",
		    "worker: no handler for %s%s%s (SigCgt): its default action is to terminate, so a profiler started by that signal kills this worker%s",
		    usr1 ? "" : "SIGUSR1", !usr1 && !usr2 ? " and " : "", usr2 ? "" : "SIGUSR2",
		    preload ? "; under --preload a handler registered at import time lives in the master only (gunicorn resets its workers' signals)" : "");
}

/* A gunicorn setting as given on the command line, in GUNICORN_CMD_ARGS or
 * in the config file (the first that has it); 0 or -ENOENT. *from says
 * where. Each is the target's own text: parsed as numbers, bounded. */
static int gunicorn_setting(pid_t master, const char *opt, const char *name, long *value,
			    const char **from)
{
	char val[512], conf[256] = "gunicorn.conf.py", *text, *p;
	size_t got, nlen = strlen(name);
	int err;

	if (!proc_arg_value(master, opt, val, sizeof(val))) {
		*from = "the command line";
		*value = strtol(val, NULL, 10);
		return 0;
	}
	if (!proc_getenv(master, "GUNICORN_CMD_ARGS", val, sizeof(val)) && (p = strstr(val, opt)) &&
	    (p[strlen(opt)] == ' ' || p[strlen(opt)] == '=')) {
		*from = "GUNICORN_CMD_ARGS";
		*value = strtol(p + strlen(opt) + 1, NULL, 10);
		return 0;
	}
	if (proc_arg_value(master, "--config", conf, sizeof(conf)) &&
	    proc_arg_value(master, "-c", conf, sizeof(conf)))
		snprintf(conf, sizeof(conf), "gunicorn.conf.py");
	if (!strncmp(conf, "python:", 7))
		return -ENOENT;		/* a module: not read */
	text = malloc(CONFIG_READ_MAX);
	if (!text)
		return -ENOMEM;
	err = target_file_read(master, conf, text, CONFIG_READ_MAX, &got);
	for (p = text; !err && p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, name, nlen))
			continue;
		p += nlen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		*from = "the config file";
		*value = strtol(p + 1, NULL, 10);
		free(text);
		return 0;
	}
	free(text);
	return -ENOENT;
}

/* Seconds since the system booted. */
static double uptime_seconds(void)
{
	double up = 0;
	FILE *fp = fopen("/proc/uptime", "re");

	if (fp && fscanf(fp, "%lf", &up) != 1)
		up = 0;
	if (fp)
		fclose(fp);
	return up;
}

/* Workers recycled by max_requests live seconds to minutes each: say so,
 * how old the workers are now, and that leakbpf ranks per generation. */
static void describe_recycling(struct findings *f, const char *who, pid_t master,
			       const pid_t *workers, size_t n)
{
	long max_requests = 0, jitter = 0;
	const char *from = NULL, *jfrom = NULL;
	double up = uptime_seconds(), tick = (double)sysconf(_SC_CLK_TCK), young = -1, old = 0;
	double sum = 0;
	char jtext[48] = "";
	uint64_t start;
	size_t i, aged = 0;

	for (i = 0; i < n; i++) {
		double age;

		if (proc_start_time(workers[i], &start))
			continue;
		age = up - (double)start / tick;
		sum += age;
		aged++;
		if (young < 0 || age < young)
			young = age;
		if (age > old)
			old = age;
	}
	if (gunicorn_setting(master, "--max-requests", "max_requests", &max_requests, &from) ||
	    max_requests <= 0) {
		finding_add(f, FINDING_OK, who, "recycling", NULL,
			    "workers are not recycled by max_requests%s", young >= 0 ?
			    "" : " (no workers now)");
		return;
	}
	if (!gunicorn_setting(master, "--max-requests-jitter", "max_requests_jitter", &jitter,
			      &jfrom) && jitter > 0)
		snprintf(jtext, sizeof(jtext), " (jitter %ld)", jitter);
	if (young < 0) {
		finding_add(f, FINDING_OK, who, "recycling", NULL,
			    "workers are recycled by max_requests=%ld (from %s); none runs now",
			    max_requests, from);
		return;
	}
	finding_add(f, FINDING_OK, who, "recycling", NULL,
		    "workers are recycled by max_requests=%ld%s (from %s): the %zu workers now are %.1f-%.1f s old (recycled at a steady pace, each lives about %.0f s: twice their mean age); a leak there never shows as one worker's trend, and `leakbpf diff` ranks what each worker generation accumulated, line by line (the agent keeps every worker's last state)",
		    max_requests, jtext, from, aged, young, old, 2 * sum / (double)aged);
}

static void describe_group(struct findings *f, const char *who, pid_t pid)
{
	struct proc_table t;
	pid_t group, kids[256];
	enum proc_role role;
	bool preload;
	size_t n, i;
	char val[256] = "";

	if (proc_table_read(&t))
		return;
	role = proc_role_of(&t, pid, &group);
	preload = proc_has_arg(group, "--preload", false) ||
		  (!proc_getenv(group, "GUNICORN_CMD_ARGS", val, sizeof(val)) && strstr(val, "--preload"));
	if (!is_gunicorn(group) && role == PROC_ROLE_PROCESS) {
		finding_add(f, FINDING_OK, who, "role", NULL, "a process on its own (no pre-fork workers)");
		proc_table_free(&t);
		return;
	}
	finding_add(f, FINDING_OK, who, "role", NULL, "%s%s of group %d%s", is_gunicorn(group) ? "gunicorn " : "",
		    proc_role_name(role), group,
		    is_gunicorn(group) ? (preload ? ", --preload: the app is imported in the master and shared copy-on-write" : ", no --preload") : "");
	if (role == PROC_ROLE_WORKER) {
		check_worker_signals(f, pid, preload);
	} else {
		pid_t workers[256];
		size_t nworkers = 0;

		n = proc_table_descendants(&t, group, kids, sizeof(kids) / sizeof(kids[0]));
		for (i = 0; i < n && i < sizeof(kids) / sizeof(kids[0]); i++) {
			pid_t g;

			if (proc_role_of(&t, kids[i], &g) == PROC_ROLE_WORKER && g == group) {
				check_worker_signals(f, kids[i], preload);
				workers[nworkers++] = kids[i];
			}
		}
		if (is_gunicorn(group))
			describe_recycling(f, who, group, workers, nworkers);
	}
	proc_table_free(&t);
}

static void describe_container(struct findings *f, const char *who, pid_t pid)
{
	struct container_info c;
	char id[96];

	if (container_of(pid, &c) || !c.id[0]) {
		finding_add(f, FINDING_OK, who, "container", NULL, "on the node (no container cgroup)");
		return;
	}
	finding_add(f, FINDING_OK, who, "container", NULL, "container %s, pid %d inside%s%s%s%s",
		    container_short(&c, id, sizeof(id)), c.ns_pid, c.pod_uid[0] ? ", pod " : "",
		    c.pod_namespace, c.pod_uid[0] ? "/" : "", c.pod_name);
}

void doctor_process(struct findings *f, pid_t pid)
{
	struct py_target t;
	char who[48], comm[32] = "?";
	int status;

	snprintf(who, sizeof(who), "pid %d", pid);
	if (!proc_exists(pid)) {
		finding_add(f, FINDING_PROBLEM, who, "process", "check the PID (ps -e); in a pod, the agent needs hostPID",
			    "no such process visible here");
		return;
	}
	proc_comm(pid, comm, sizeof(comm));
	finding_add(f, FINDING_OK, who, "process", NULL, "%s", comm);
	describe_container(f, who, pid);
	status = py_target_detect(pid, &t);
	if (status == -ENOENT) {
		finding_add(f, FINDING_PROBLEM, who, "python", "give the PID of a Python process",
			    "not a CPython process: leakbpf would see its native allocations only");
		return;
	}
	if (status) {
		finding_add(f, FINDING_PROBLEM, who, "python", "see README: Supported interpreters",
			    "%s", status == -ENOTSUP ? t.why : strerror(-status));
		return;
	}
	describe_build(f, who, &t);
	describe_coverage(f, who, pid, &t);
	describe_group(f, who, pid);
}
