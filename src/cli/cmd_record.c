// SPDX-License-Identifier: MIT
/*
 * leakbpf record -- CMD: trace CMD from its first instruction and report
 * what is still allocated when its Python program is done.
 *
 * Timeline of the child: exec (ptrace stop) -> entry point (BPF SIGURG:
 * libc and the interpreter are mapped now, probes go in, the allocator table
 * is redirected) -> Py_FinalizeEx (BPF freezes the counts and sends SIGURG:
 * the report is symbolised while every code object is alive, then the table
 * is restored and the child let go) -> exit. A program that never finalizes
 * (native, os._exit, killed) is reported at its exit stop instead.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "launch.h"
#include "log.h"
#include "proc.h"
#include "report.h"
#include "target_file.h"

#define EXIT_NOT_FOUND 127

struct record_args {
	bool json;
	const char *output;
	uint32_t limit;
	struct session_opts trace;
	char **cmd;
};

enum record_stage {
	STAGE_WAIT_EXEC,	/* not yet running CMD's image */
	STAGE_WAIT_ENTRY,	/* probe on the entry point, waiting for it */
	STAGE_TRACING,
	STAGE_DONE,		/* report taken, child let go */
};

struct recorder {
	struct record_args args;
	struct session session;
	struct launched child;
	enum record_stage stage;
	bool have_report;
	struct report report;
	int exit_status;
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int parse_args(int argc, char **argv, struct record_args *a)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		TRACE_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	int opt, r;

	memset(a, 0, sizeof(*a));
	a->limit = 10;
	trace_options_defaults(&a->trace);
	a->trace.stop_at_finalize = true;
	opterr = 0;
	/* '+': stop at the first non-option, CMD's own options are CMD's */
	while ((opt = getopt_long(argc, argv, "+:o:hv", longopts, NULL)) != -1) {
		r = trace_option("record", opt, optarg, &a->trace);
		if (r < 0)
			return EXIT_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'j':
			a->json = true;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'l':
			if (parse_u32(optarg, 0, 1u << 30, &a->limit))
				return usage_error("record", "--limit takes a number of rows, not '%s'", optarg);
			break;
		default:
			return common_option("record", opt, argv);
		}
	}
	if (optind >= argc)
		return usage_error("record", "no command to run: leakbpf record -- CMD [ARGS...]");
	a->cmd = argv + optind;
	return 0;
}

/* The new image is mapped but its dynamic loader has not run: put a
 * one-shot probe on the entry point, where libraries are all in place. */
static int arm_entry_stop(struct recorder *rec)
{
	pid_t pid = rec->child.pid;
	char host[PATH_MAX];
	struct proc_maps maps;
	const struct proc_mapping *m;
	uint64_t entry;
	int err;

	err = launch_entry_point(pid, &entry);
	if (!err)
		err = proc_maps_read(pid, &maps);
	if (err)
		return err;
	m = proc_maps_find_addr(&maps, entry);
	if (!m || !m->path) {
		proc_maps_free(&maps);
		return -ENOENT;
	}
	err = target_mapped_file(pid, m, host, sizeof(host));
	if (!err)
		err = tracer_attach_stop(rec->session.tracer, pid, host, entry - m->start + m->offset);
	proc_maps_free(&maps);
	return err;
}

static void take_report(struct recorder *rec)
{
	int err;

	if (rec->have_report)
		return;
	err = session_snapshot(&rec->session, &rec->report);
	if (err)
		pr_err("reading the maps failed: %s", strerror(-err));
	else
		rec->have_report = true;
}

/* Report, restore the table, remove the probes: the child is then exactly
 * as it would be untraced. */
static void finish_tracing(struct recorder *rec)
{
	take_report(rec);
	session_detach(&rec->session);
	rec->stage = STAGE_DONE;
}

static int on_exec(struct recorder *rec)
{
	int err;

	if (rec->stage == STAGE_TRACING) {
		/* CMD exec'd again (a wrapper script): start over on the new image */
		session_detach(&rec->session);
	}
	if (rec->stage == STAGE_DONE)
		return 0;
	err = arm_entry_stop(rec);
	if (err) {
		pr_err("cannot find the entry point of process %d: %s", rec->child.pid, strerror(-err));
		return err;
	}
	rec->stage = STAGE_WAIT_ENTRY;
	return 0;
}

static int on_entry(struct recorder *rec)
{
	int err;

	tracer_detach_stop(rec->session.tracer);
	err = session_attach(&rec->session, rec->child.pid);
	if (err) {
		pr_err("cannot trace %s: %s; it runs on untraced", rec->args.cmd[0], rec->session.why);
		return err;
	}
	rec->stage = STAGE_TRACING;
	return 0;
}

/* One stop of the child; returns -errno to abandon tracing. */
static int handle_stop(struct recorder *rec, enum stop_kind kind, int status)
{
	bool swallow = false;
	int err = 0;

	switch (kind) {
	case STOP_EXEC:
		err = on_exec(rec);
		break;
	case STOP_OUR_SIGNAL:
		swallow = true;
		if (rec->stage == STAGE_WAIT_ENTRY)
			err = on_entry(rec);
		else if (rec->stage == STAGE_TRACING && session_frozen(&rec->session))
			finish_tracing(rec);
		break;
	case STOP_EXIT_EVENT:
		if (rec->stage == STAGE_TRACING)
			finish_tracing(rec);
		break;
	default:
		break;
	}
	if (rec->stage == STAGE_DONE) {
		/* nothing more to see: let the child run untraced */
		return launch_detach(&rec->child, swallow ? STOP_NONE : kind, status);
	}
	if (launch_resume(&rec->child, kind, status, swallow) && !err)
		err = -errno;
	return err;
}

static int write_report(struct recorder *rec)
{
	struct report_format fmt = { .json = rec->args.json, .limit = rec->args.limit };
	FILE *out = stdout;
	size_t i;
	int err;

	if (!rec->have_report)
		return 0;
	/* record compares with nothing: growth is everything outstanding */
	for (i = 0; i < rec->report.nrows; i++) {
		rec->report.rows[i].bytes_delta = rec->report.rows[i].bytes;
		rec->report.rows[i].count_delta = rec->report.rows[i].count;
	}
	if (rec->args.output) {
		out = fopen(rec->args.output, "w");
		if (!out) {
			fprintf(stderr, "leakbpf record: cannot write %s: %s\n", rec->args.output,
				strerror(errno));
			return -errno;
		}
	}
	err = report_print(out, &rec->report, 1, &fmt);
	if (out != stdout && fclose(out))
		err = -errno;
	if (err)
		fprintf(stderr, "leakbpf record: writing the report failed: %s\n", strerror(-err));
	return err;
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Runs until the child is gone. */
static int supervise(struct recorder *rec)
{
	enum stop_kind kind;
	int status, err;

	for (;;) {
		if (stop_requested && rec->stage != STAGE_DONE) {
			/* leakbpf asked to stop: report, restore and let CMD run on */
			pr_warn("stopping: %s keeps running as process %d", rec->args.cmd[0],
				rec->child.pid);
			if (rec->stage == STAGE_TRACING)
				take_report(rec);
			session_detach(&rec->session);
			kill(rec->child.pid, SIGSTOP);	/* make it stop so ptrace can detach */
			rec->stage = STAGE_DONE;
		}
		if (rec->stage == STAGE_TRACING) {
			session_pump(&rec->session, 5);
			err = launch_wait(&rec->child, false, &kind, &status);
		} else {
			err = launch_wait(&rec->child, true, &kind, &status);
		}
		if (err)
			return err;
		if (kind == STOP_NONE)
			continue;
		if (kind == STOP_GONE) {
			rec->exit_status = status;
			if (rec->stage == STAGE_TRACING) {
				session_mark_exited(&rec->session);
				finish_tracing(rec);
			}
			return 0;
		}
		if (stop_requested && rec->stage == STAGE_DONE && rec->child.traced) {
			launch_detach(&rec->child, kind == STOP_GROUP ? STOP_NONE : kind, status);
			kill(rec->child.pid, SIGCONT);
			return 1;
		}
		err = handle_stop(rec, kind, status);
		if (err) {
			/* cannot trace: never take the command down with us */
			session_detach(&rec->session);
			rec->stage = STAGE_DONE;
			launch_detach(&rec->child, kind, status);
		}
	}
}

int cmd_record(int argc, char **argv)
{
	struct sigaction stop = { .sa_handler = on_stop_signal };
	struct recorder rec;
	int err, rc;

	memset(&rec, 0, sizeof(rec));
	err = parse_args(argc, argv, &rec.args);
	if (err)
		return err < 0 ? 0 : err;
	if (preflight_check("record"))
		return 1;
	restore_left_redirects();
	err = session_open(&rec.session, &rec.args.trace);
	if (err)
		return 1;
	/* ^C reaches CMD through the terminal: CMD decides, we report */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGHUP, &stop, NULL);
	/* like time(1) and perf stat, the report never shares a stream with
	 * the command's output: `record --json -- CMD | jq .` works whatever
	 * CMD prints. Without -o the report has standard output to itself. */
	err = launch_start(rec.args.cmd, !rec.args.output, &rec.child);
	if (err) {
		fprintf(stderr, "leakbpf record: cannot start %s: %s\n", rec.args.cmd[0], strerror(-err));
		session_close(&rec.session);
		return 1;
	}
	rc = supervise(&rec);
	err = launch_exec_error(&rec.child);
	if (err) {
		fprintf(stderr, "leakbpf record: cannot run '%s': %s (check the name and PATH)\n",
			rec.args.cmd[0], strerror(err));
		session_close(&rec.session);
		return EXIT_NOT_FOUND;
	}
	if (rc < 0)
		pr_err("tracing failed: %s", strerror(-rc));
	/* the target is left as it was before anything is written (a full pipe
	 * may block), but the report's rows point into the session's
	 * symboliser: close the session only after printing */
	session_detach(&rec.session);
	if (write_report(&rec))
		rc = 1;
	report_free(&rec.report);
	session_close(&rec.session);
	if (rc)
		return 1;
	return exit_code_of(rec.exit_status);
}
