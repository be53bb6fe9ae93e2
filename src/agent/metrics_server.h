/* SPDX-License-Identifier: MIT */
/* A tiny HTTP endpoint for Prometheus (and curl) inside the agent's own
 * single-threaded poll loop: the agent polls metrics_server_fd() and calls
 * metrics_server_serve() when it is readable. Every wait on a client is
 * bounded, so no client can stall or crash the agent. */
#ifndef LEAKBPF_METRICS_SERVER_H
#define LEAKBPF_METRICS_SERVER_H

#include <stddef.h>
#include <stdio.h>

struct metrics_server;

/* addr: "127.0.0.1:9433", "0.0.0.0:9433", "[::1]:9433", "localhost:9433" or
 * ":9433" (= 127.0.0.1: loopback unless told otherwise). A name that
 * resolves to both families listens on IPv4. Binds and listens (SO_REUSEADDR,
 * non-blocking, CLOEXEC). On failure returns -errno (-EINVAL for an address
 * that cannot be parsed or resolved) and writes one sentence for the user
 * into why (if why_len > 0). */
int metrics_server_open(const char *addr, struct metrics_server **out,
			char *why, size_t why_len);
/* The form of addr checked without binding (--check-config): 0 or -EINVAL
 * with why. */
int metrics_addr_check(const char *addr, char *why, size_t why_len);
/* The listening fd, for poll(); -1 for NULL. */
int metrics_server_fd(const struct metrics_server *m);

/* Writes the exposition text into out (an open_memstream FILE); returning
 * nonzero, or a write error on out, makes the answer 500. Called at most once
 * per metrics_server_serve(), only when a client asked for the metrics. */
typedef int (*metrics_body_fn)(void *ctx, FILE *out);

/* Accepts the pending connections (at most 16 a call) and answers each:
 * GET or HEAD of /metrics or / -> 200 (text/plain; version=0.0.4), other
 * paths 404, other methods 405, malformed 400, request over 8 KiB 431 (400
 * for a request line that long), incomplete after 1 s 408; a client that
 * sent nothing is hung up on. The connections are served together: the
 * requests get one shared second, each answer at most 1 s, the call at most
 * ~2 s. Returns how many were answered (any status), 0 if none was pending,
 * or -errno if accept() failed (e.g. -EMFILE: the listening fd then stays
 * readable, the caller should back off). */
int metrics_server_serve(struct metrics_server *m, metrics_body_fn fn, void *ctx);
void metrics_server_close(struct metrics_server *m);

/* Prometheus label value escaping (backslash, double quote, newline) into
 * out, NUL-terminated. Bytes that are not UTF-8 become U+FFFD (Prometheus
 * rejects the whole scrape for one such label). Truncates to out_len without
 * splitting an escape or a character. Returns out. */
char *metrics_escape_label(const char *in, char *out, size_t out_len);

#endif
