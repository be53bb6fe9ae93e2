// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* accept4 */
/* The metrics endpoint: just enough HTTP/1.0 for a Prometheus scraper and
 * curl. One request per connection, answered with Connection: close, so there
 * is no keep-alive, chunking or pipelining to get wrong. The agent is single
 * threaded, so every wait is bounded: the requests of one call share a
 * second, each answer's send() is capped by SO_SNDTIMEO, a call ends within
 * ~2 s whatever the clients do. */
#include "metrics_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clocks.h"
#include "log.h"
#include "utf8.h"

#define MAX_CONNS		16	/* accepted per call; the rest wait in the backlog */
#define REQUEST_MAX		8192	/* request line and headers */
#define REQUEST_TIMEOUT_MS	1000	/* shared by the requests of one call */
#define SEND_TIMEOUT_MS		1000	/* per answer */
#define CALL_BUDGET_MS		2000	/* no answer is sent past this */
#define NO_ANSWER		(-1)	/* the client sent nothing: just hang up */

struct conn {
	int fd;			/* -1 once done */
	size_t len;
	char buf[REQUEST_MAX];
};

struct metrics_server {
	int fd;
	char name[INET6_ADDRSTRLEN + 16];	/* "127.0.0.1:9433", for messages */
	struct conn conns[MAX_CONNS];		/* here, not on the caller's stack */
};

/* What one metrics_server_serve() call shares between its connections: the
 * clock and the body, made once however many scrapers asked. */
struct serve_call {
	metrics_body_fn fn;
	void *ctx;
	int64_t start;		/* ms, CLOCK_MONOTONIC */
	int body_state;		/* 0: not made yet, 1: made, -1: failed */
	char *body;
	size_t body_len;
};

static int64_t now_ms(void)
{
	return (int64_t)(monotonic_ns() / 1000000);
}

static int ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left < 0 ? 0 : left > CALL_BUDGET_MS ? CALL_BUDGET_MS : (int)left;
}

static void set_why(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* strerror() reads as a sentence of its own; ours goes mid-sentence. */
static const char *err_text(int err, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(err));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] += 'a' - 'A';
	return buf;
}

/* ---- the address ---- */

/* Splits "HOST:PORT" / "[V6]:PORT" / ":PORT"; returns NULL or what is wrong. */
static const char *split_addr(const char *addr, char *host, size_t host_len,
			      char *port, size_t port_len, bool *bracketed)
{
	const char *colon, *h = addr, *p;
	size_t hlen, i;
	unsigned long v;

	*bracketed = false;
	if (!addr || !*addr)
		return "it is empty";
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':')
			return "an IPv6 address in brackets must be followed by :PORT";
		h = addr + 1;
		hlen = rb - h;
		colon = rb + 1;
		*bracketed = true;
		if (!hlen)
			return "the brackets are empty";
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return "there is no :PORT";
		hlen = colon - addr;
		if (memchr(addr, ':', hlen))
			return "an IPv6 address must be in brackets, as in [::1]:9433";
	}
	if (hlen >= host_len)
		return "the host name is too long";
	/* no host: loopback, so that metrics are not exposed by accident */
	if (!hlen)
		snprintf(host, host_len, "127.0.0.1");
	else
		memcpy(host, h, hlen), host[hlen] = '\0';

	p = colon + 1;
	for (i = 0; p[i]; i++)
		if (p[i] < '0' || p[i] > '9')
			break;
	if (!i || p[i] || i > 5)
		return "the port must be a number from 1 to 65535";
	v = strtoul(p, NULL, 10);
	if (v < 1 || v > 65535)
		return "the port must be a number from 1 to 65535";
	snprintf(port, port_len, "%lu", v);
	return NULL;
}

static void format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

/* A listening socket on ai, or -errno. */
static int listen_on(const struct addrinfo *ai)
{
	int fd, one = 1, err;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* a restarted agent gets its port back while the old connections
	 * still sit in TIME_WAIT */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 2 * MAX_CONNS)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int gai_errno(int rc)
{
	switch (rc) {
	case EAI_SYSTEM: return errno ? -errno : -EINVAL;
	case EAI_AGAIN: return -EAGAIN;
	case EAI_MEMORY: return -ENOMEM;
	default: return -EINVAL;
	}
}

/* Listens on the first address that works, IPv4 first: "localhost" most
 * often means 127.0.0.1 to whoever scrapes it. Returns the fd or -errno,
 * with the address tried (the first failure's) in name. */
static int listen_any(const struct addrinfo *res, char *name, size_t name_len)
{
	const struct addrinfo *ai;
	int pass, fd, first_err = 0;

	for (pass = 0; pass < 2; pass++) {
		for (ai = res; ai; ai = ai->ai_next) {
			if ((ai->ai_family == AF_INET) != (pass == 0))
				continue;
			fd = listen_on(ai);
			if (fd >= 0 || !first_err)
				format_addr(ai->ai_addr, name, name_len);
			if (fd >= 0)
				return fd;
			if (!first_err)
				first_err = fd;
		}
	}
	return first_err ? first_err : -EADDRNOTAVAIL;
}

int metrics_addr_check(const char *addr, char *why, size_t why_len)
{
	char host[256], port[8];
	bool bracketed;
	const char *bad = split_addr(addr, host, sizeof(host), port, sizeof(port), &bracketed);

	if (!bad)
		return 0;
	set_why(why, why_len, "bad --metrics-addr \"%s\": %s; give HOST:PORT, e.g. "
		"127.0.0.1:9433, [::1]:9433 or :9433", addr ? addr : "", bad);
	return -EINVAL;
}

int metrics_server_open(const char *addr, struct metrics_server **out,
			char *why, size_t why_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct metrics_server *m;
	char host[256], port[8], ebuf[128];
	const char *bad;
	bool bracketed;
	int rc, i;

	if (out)
		*out = NULL;
	set_why(why, why_len, "%s", "");
	bad = split_addr(addr, host, sizeof(host), port, sizeof(port), &bracketed);
	if (bad || !out) {
		set_why(why, why_len, "bad --metrics-addr \"%s\": %s; give HOST:PORT, e.g. "
			"127.0.0.1:9433, [::1]:9433 or :9433", addr ? addr : "",
			bad ? bad : "no place for the result");
		return -EINVAL;
	}
	/* brackets hold an IPv6 literal, never a name to look up */
	if (bracketed)
		hints.ai_family = AF_INET6, hints.ai_flags |= AI_NUMERICHOST;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		int err = gai_errno(rc);

		set_why(why, why_len, "bad --metrics-addr \"%s\": cannot resolve \"%s\" (%s)",
			addr, host, rc == EAI_SYSTEM ? err_text(-err, ebuf, sizeof(ebuf))
						     : gai_strerror(rc));
		return err;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		freeaddrinfo(res);
		set_why(why, why_len, "cannot listen on %s: out of memory", addr);
		return -ENOMEM;
	}
	m->fd = listen_any(res, m->name, sizeof(m->name));
	freeaddrinfo(res);
	if (m->fd < 0) {
		rc = m->fd;
		set_why(why, why_len, "cannot listen on %s: %s; give another --metrics-addr "
			"or --metrics-addr off", m->name, err_text(-rc, ebuf, sizeof(ebuf)));
		free(m);
		return rc;
	}
	for (i = 0; i < MAX_CONNS; i++)
		m->conns[i].fd = -1;
	pr_debug("metrics: listening on http://%s/metrics", m->name);
	*out = m;
	return 0;
}

int metrics_server_fd(const struct metrics_server *m)
{
	return m ? m->fd : -1;
}

void metrics_server_close(struct metrics_server *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < MAX_CONNS; i++)
		if (m->conns[i].fd >= 0)
			close(m->conns[i].fd);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

/* ---- the request ---- */

/* RFC 9110 tchar: what a method name is made of */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "HTTP/d.d", whole or the start of it ('#' is a digit); a partial one may
 * already hold the '\r' that ends the line. */
static bool version_ok(const char *v, size_t n, bool whole)
{
	static const char pattern[] = "HTTP/#.#\r";
	size_t i;

	if (whole && n && v[n - 1] == '\r')
		n--;
	if (whole ? n != 8 : n > 9)
		return false;
	for (i = 0; i < n; i++) {
		if (pattern[i] == '#' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != pattern[i])
			return false;
	}
	return true;
}

struct request_line {
	const char *method, *target;
	size_t method_len, target_len;
};

/* Checks the request line (without its '\n'), or as much of it as has
 * arrived: 400 as soon as it cannot be HTTP, so that a TLS handshake or
 * other garbage is turned away at once instead of after the timeout. */
static int check_line(const char *p, size_t n, bool whole, struct request_line *rl)
{
	size_t i = 0;

	while (i < n && is_tchar(p[i]))
		i++;
	rl->method = p, rl->method_len = i;
	if (i > 32)
		return 400;
	if (i == n)
		return whole ? 400 : 0;
	if (p[i] != ' ' || !i)
		return 400;
	rl->target = p + ++i;
	while (i < n && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f)
		i++;
	rl->target_len = p + i - rl->target;
	if (rl->target_len && rl->target[0] != '/')
		return 400;
	if (i == n)
		return whole ? 400 : 0;
	if (p[i] != ' ' || !rl->target_len)
		return 400;
	i++;
	return version_ok(p + i, n - i, whole) ? 0 : 400;
}

/* Whether the blank line that ends the headers has arrived; nl is the
 * request line's '\n'. Bare '\n' line ends are accepted, as RFC 9112 allows. */
static bool headers_complete(const char *nl, const char *end)
{
	for (; nl; nl = memchr(nl + 1, '\n', end - nl - 1)) {
		if (end - nl > 1 && nl[1] == '\n')
			return true;
		if (end - nl > 2 && nl[1] == '\r' && nl[2] == '\n')
			return true;
	}
	return false;
}

static bool span_is(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && !memcmp(p, s, n);
}

/* The status to answer with for what has arrived so far: 0 while more is
 * needed, NO_ANSWER for a client that sent nothing. Never 0 once buf is full
 * or the client has finished sending (eof): the caller relies on it. */
static int request_status(const char *buf, size_t len, bool eof, bool *head)
{
	const char *p = buf, *end = buf + len, *nl, *q;
	struct request_line rl;
	size_t path_len;
	int status;

	*head = false;
	while (p < end && (*p == '\r' || *p == '\n'))	/* RFC 9112 2.2 */
		p++;
	nl = memchr(p, '\n', end - p);
	status = check_line(p, (nl ? nl : end) - p, nl != NULL, &rl);
	if (status)
		return status;
	if (!nl) {
		if (len >= REQUEST_MAX || (eof && p < end))
			return 400;
		return eof ? NO_ANSWER : 0;
	}
	*head = span_is(rl.method, rl.method_len, "HEAD");
	/* answer only after the headers: closing on unread bytes sends a
	 * reset that can destroy the answer before the client reads it */
	if (!headers_complete(nl, end)) {
		if (len >= REQUEST_MAX)
			return 431;
		if (!eof)
			return 0;
		/* a client that half-closed after its request line is answered */
	}
	if (!*head && !span_is(rl.method, rl.method_len, "GET"))
		return 405;
	q = memchr(rl.target, '?', rl.target_len);
	path_len = q ? (size_t)(q - rl.target) : rl.target_len;
	if (span_is(rl.target, path_len, "/metrics") || span_is(rl.target, path_len, "/"))
		return 200;
	return 404;
}

/* ---- the answer ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	default: return "Internal Server Error";
	}
}

/* Runs fn once per call, into memory: the Content-Length must be known
 * before the first byte goes out. 0 or -1. */
static int make_body(struct serve_call *sc)
{
	FILE *f;
	int rc;

	if (sc->body_state)
		return sc->body_state > 0 ? 0 : -1;
	sc->body_state = -1;
	if (!sc->fn)
		return -1;
	f = open_memstream(&sc->body, &sc->body_len);
	if (!f) {
		pr_warn("metrics: no memory for the metrics: %s", strerror(errno));
		return -1;
	}
	rc = sc->fn(sc->ctx, f);
	if (!rc && ferror(f))
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -ENOMEM;
	if (rc) {
		pr_warn("metrics: producing the metrics failed (%d); answering 500", rc);
		free(sc->body);
		sc->body = NULL;
		return -1;
	}
	sc->body_state = 1;
	return 0;
}

/* Sends all of iov by deadline. The socket is blocking and SO_SNDTIMEO caps
 * each sendmsg() at what is left, so a client that does not read costs that
 * much and no more; MSG_NOSIGNAL because a client that went away must not
 * raise SIGPIPE, which would kill the agent. 0 or -errno. */
static int send_all(int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
	while (iovcnt > 0) {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
		int ms = ms_left(deadline);
		struct timeval tv;
		ssize_t n;

		if (ms < 1)
			ms = 1;		/* still one try: a small answer fits the socket buffer */
		tv.tv_sec = ms / 1000;
		tv.tv_usec = ms % 1000 * 1000;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
			return -errno;
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno != EINTR)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		for (; n > 0 || (iovcnt && !iov->iov_len); iov++, iovcnt--) {
			if ((size_t)n < iov->iov_len) {
				iov->iov_base = (char *)iov->iov_base + n;
				iov->iov_len -= n;
				break;
			}
			n -= iov->iov_len;
		}
		if (iovcnt && !ms_left(deadline))
			return -ETIMEDOUT;
	}
	return 0;
}

static void respond(struct serve_call *sc, int fd, int status, bool head)
{
	char hdr[256], text[64];
	const char *body = text, *type = "text/plain; charset=utf-8";
	size_t body_len;
	struct iovec iov[2];
	int64_t deadline;
	int n, err;

	if (status == 200 && make_body(sc))
		status = 500;
	if (status == 200) {
		body = sc->body;
		body_len = sc->body_len;
		type = "text/plain; version=0.0.4; charset=utf-8";
	} else {
		body_len = snprintf(text, sizeof(text), "%d %s\n", status, reason(status));
	}
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "%sConnection: close\r\n\r\n", status, reason(status), type, body_len,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = n };
	iov[1] = (struct iovec){ .iov_base = (void *)body, .iov_len = head ? 0 : body_len };
	deadline = now_ms() + SEND_TIMEOUT_MS;
	if (deadline > sc->start + CALL_BUDGET_MS)
		deadline = sc->start + CALL_BUDGET_MS;
	err = send_all(fd, iov, 2, deadline);
	if (err)
		pr_debug("metrics: answer %d not delivered: %s", status, strerror(-err));
}

/* Reads what the client already sent before closing: close() on unread
 * bytes sends a reset, which can destroy the answer in flight. */
static void hang_up(struct conn *c)
{
	char sink[4096];
	int i;

	shutdown(c->fd, SHUT_WR);
	for (i = 0; i < 16 && recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	close(c->fd);
	c->fd = -1;
}

enum conn_state { CONN_OPEN, CONN_ANSWERED, CONN_DROPPED };

/* Takes what has arrived; answers and hangs up once the request is whole. */
static enum conn_state conn_read(struct serve_call *sc, struct conn *c)
{
	ssize_t n;
	bool head;
	int status;

	/* request_status() never waits on a full buffer, so there is room */
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return CONN_OPEN;
		pr_debug("metrics: client lost: %s", strerror(errno));
		hang_up(c);
		return CONN_DROPPED;
	}
	c->len += n;
	status = request_status(c->buf, c->len, n == 0, &head);
	if (!status)
		return CONN_OPEN;
	if (status != NO_ANSWER)
		respond(sc, c->fd, status, head);
	hang_up(c);
	return status == NO_ANSWER ? CONN_DROPPED : CONN_ANSWERED;
}

/* accept() errors that concern one connection only (Linux passes pending
 * network errors up through accept) */
static bool accept_error_transient(int err)
{
	switch (err) {
	case EINTR: case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN:
	case ENOPROTOOPT: case EHOSTDOWN: case ENONET: case EHOSTUNREACH:
	case EOPNOTSUPP: case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

/* Accepts up to MAX_CONNS pending connections; how many, or -errno. */
static int accept_pending(struct metrics_server *m)
{
	int n = 0, tries, fd;

	for (tries = 0; n < MAX_CONNS && tries < 2 * MAX_CONNS; tries++) {
		/* blocking socket: reads are poll() + MSG_DONTWAIT, sends are
		 * bounded by SO_SNDTIMEO */
		fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (accept_error_transient(errno))
				continue;
			if (n)
				break;	/* serve those; the error comes back next call */
			return -errno;
		}
		m->conns[n].fd = fd;
		m->conns[n].len = 0;
		n++;
	}
	return n;
}

int metrics_server_serve(struct metrics_server *m, metrics_body_fn fn, void *ctx)
{
	struct serve_call sc = { .fn = fn, .ctx = ctx, .start = now_ms() };
	struct pollfd pfd[MAX_CONNS];
	int n, i, open, answered = 0, left;
	enum conn_state st;

	if (!m)
		return -EINVAL;
	n = accept_pending(m);
	if (n <= 0)
		return n;
	/* all together, so that idle clients cost one second, not one each */
	for (open = n; open > 0 && (left = ms_left(sc.start + REQUEST_TIMEOUT_MS)) > 0;) {
		for (i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = m->conns[i].fd, .events = POLLIN };
		if (poll(pfd, n, left) < 0) {
			if (errno == EINTR)
				continue;
			pr_debug("metrics: poll: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			if (m->conns[i].fd < 0 || !pfd[i].revents)
				continue;
			st = conn_read(&sc, &m->conns[i]);
			open -= st != CONN_OPEN;
			answered += st == CONN_ANSWERED;
		}
	}
	/* time is up: one last look (an answer sent to another client may have
	 * taken the time), then 408 for a partial request */
	for (i = 0; i < n; i++) {
		struct conn *c = &m->conns[i];

		if (c->fd < 0)
			continue;
		st = conn_read(&sc, c);
		if (st == CONN_OPEN && c->len) {
			respond(&sc, c->fd, 408, false);
			st = CONN_ANSWERED;
		}
		if (c->fd >= 0)
			hang_up(c);
		answered += st == CONN_ANSWERED;
	}
	free(sc.body);
	return answered;
}

/* ---- label values ---- */


char *metrics_escape_label(const char *in, char *out, size_t out_len)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t o = 0, step, k;
	const char *piece;

	if (!out || !out_len)
		return out;
	for (; *p; p += step) {
		step = 1;
		k = 2;
		if (*p == '\\')
			piece = "\\\\";
		else if (*p == '"')
			piece = "\\\"";
		else if (*p == '\n')
			piece = "\\n";
		else if ((step = utf8_sequence_length(p)))
			piece = (const char *)p, k = step;
		else	/* file names are bytes, not text */
			piece = "\xef\xbf\xbd", k = 3, step = 1;
		/* whole pieces only: half an escape would eat the closing quote */
		if (o + k >= out_len)
			break;
		memcpy(out + o, piece, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}
