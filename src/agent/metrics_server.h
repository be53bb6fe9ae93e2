/* SPDX-License-Identifier: MIT */
/* The agent's HTTP endpoint for Prometheus (and curl), served by
 * libmicrohttpd on its own thread: the agent publishes the exposition text
 * when it has new figures, and the server answers every scrape with the
 * latest one. Neither waits on the other. */
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
/* The text every scrape gets from now on (copied): GET or HEAD of /metrics
 * or / -> 200 (text/plain; version=0.0.4), 503 before the first publish;
 * other paths 404, other methods 405. Connections: at most 64 at once, 16
 * from one address, closed after 5 s without a byte; a request's line and
 * headers at most 16 KiB. 0 or -errno. */
int metrics_server_publish(struct metrics_server *m, const char *text, size_t len);
/* The listening socket (where it is bound); -1 for NULL. */
int metrics_server_fd(const struct metrics_server *m);
/* Requests answered so far (any status). */
unsigned long long metrics_server_answers(const struct metrics_server *m);
void metrics_server_close(struct metrics_server *m);

/* Prometheus label value escaping (backslash, double quote, newline) into
 * out, NUL-terminated. Bytes that are not UTF-8 become U+FFFD (Prometheus
 * rejects the whole scrape for one such label). Truncates to out_len without
 * splitting an escape or a character. Returns out. */
char *metrics_escape_label(const char *in, char *out, size_t out_len);

#endif
