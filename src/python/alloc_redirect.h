/* SPDX-License-Identifier: MIT */
/*
 * The allocator-table redirect: points the OBJ and MEM domains' malloc and
 * calloc slots of a live CPython at the RAW domain's, so that every object
 * allocation reaches libc malloc, where the probes see it. pymalloc's free and
 * realloc stay in place and hand foreign blocks to the raw allocator.
 *
 * Undone on every exit path: by alloc_redirect_restore on a normal exit or a
 * caught signal, and by a guardian process (its own session, so it survives
 * the tracer being killed) when the tracer dies without restoring.
 */
#ifndef LEAKBPF_ALLOC_REDIRECT_H
#define LEAKBPF_ALLOC_REDIRECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct py_target;

enum redirect_state {
	REDIRECT_OFF = 0,		/* not attempted (not Python) */
	REDIRECT_ON,			/* every object allocation visible */
	REDIRECT_NOT_NEEDED,		/* PYTHONMALLOC=malloc: already visible */
	REDIRECT_UNSAFE,		/* refused: why[] says what was found */
	REDIRECT_FAILED,		/* could not be done: why[] */
	/* malloc slots at libc's while pymalloc still frees: what only our
	 * redirect makes, left by a leakbpf killed with its guardian. Every
	 * allocation is visible; its record restores it (redirect_journal.h) */
	REDIRECT_LEFT,
};

#define REDIRECT_SLOTS 4
/* Slots we never write but read back before restoring: the OBJ and MEM
 * free slots. If the program replaced its allocators wholesale meanwhile
 * (PYTHONMALLOC=malloc applied at start-up, PyMem_SetAllocator) our
 * malloc slots may hold the same value by coincidence; restoring them
 * then would pair pymalloc's malloc with libc's free. */
#define REDIRECT_WITNESSES 2

struct alloc_redirect {
	pid_t pid;
	uint64_t start_time;		/* identifies pid across reuse */
	enum redirect_state state;
	uint64_t slot[REDIRECT_SLOTS];	/* addresses written */
	uint64_t original[REDIRECT_SLOTS];
	uint64_t replacement[REDIRECT_SLOTS];
	uint64_t witness[REDIRECT_WITNESSES];	/* addresses read back */
	uint64_t witness_value[REDIRECT_WITNESSES];	/* what they held when we armed */
	bool armed;			/* the slots hold our values now */
	pid_t guardian;
	int guardian_fd;		/* write end: closing it = "restore now" */
	char journal[256];		/* its record on disk (redirect_journal.h), "" if none */
	char why[200];
};

const char *redirect_state_name(enum redirect_state s);

/* What prepare would decide, without writing anything or
 * starting a guardian (leakbpf doctor). */
void alloc_redirect_check(struct alloc_redirect *r, const struct py_target *t);
/* Sampled mode arms the redirect only during its windows. prepare checks
 * as apply does and starts the guardian (state REDIRECT_ON, not armed);
 * arm writes our values where the slots hold the originals; disarm puts
 * the originals back in the process and in children forked meanwhile. The
 * guardian covers every moment in between. 0 or -errno. */
void alloc_redirect_prepare(struct alloc_redirect *r, const struct py_target *t);
int alloc_redirect_arm(struct alloc_redirect *r);
/* Tells the guardian where r->journal (the redirect's record on disk) is:
 * it removes the record after restoring for a tracer that died. */
void alloc_redirect_tell_guardian(const struct alloc_redirect *r);
/* Full mode, after prepare: armed for good, or (the write failed) undone
 * with r->state REDIRECT_FAILED and why. */
void alloc_redirect_start(struct alloc_redirect *r);
int alloc_redirect_disarm(struct alloc_redirect *r);
/* Puts the original slots back (where they still hold our values) in the
 * process and in its descendants forked meanwhile; stops the guardian. */
int alloc_redirect_restore(struct alloc_redirect *r);

/* Restores one process: each slot that still holds our replacement gets its
 * original back, unless a witness slot changed (the tables are no longer
 * the ones we redirected: nothing is written, -ESTALE). Exposed for the
 * guardian and for tests. */
int alloc_redirect_restore_pid(const struct alloc_redirect *r, pid_t pid);
/* restore_pid on r->pid (if still the same process) and every descendant;
 * how many had a slot put back. For records of a dead leakbpf. */
int alloc_redirect_restore_left(const struct alloc_redirect *r);

#endif
