// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint, served by libmicrohttpd on a thread of its own: the
 * agent's loop renders the exposition text (metrics_server_publish) and
 * never waits on a client; the server thread answers every scraper with the
 * latest text and never waits on the loop. Idle, slow or many clients are
 * the library's to bound (connection limits, per address and in all, and
 * an idle timeout): four threads holding idle connections made 2 of 3
 * scrapes time out with the single-threaded server this replaces.
 */
#include "metrics_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"

#define BACKLOG			64
#define CONNECTION_LIMIT	64	/* at once, all clients */
#define PER_ADDRESS_LIMIT	16	/* at once, one client address: one cannot take all */
#define IDLE_TIMEOUT_S		5	/* a connection that sends nothing for this long is closed */
#define REQUEST_MEMORY		(16 << 10)	/* request line and headers */

struct metrics_server {
	int fd;
	char name[INET6_ADDRSTRLEN + 16];	/* "127.0.0.1:9433", for messages */
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;		/* guards body */
	char *body;			/* the latest exposition text, NULL before the first */
	size_t body_len;
	unsigned long long served;	/* answers sent (any status) */
};

static void set_why(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int start_serving(struct metrics_server *m, char *why, size_t why_len);

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
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, BACKLOG)) {
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
	int rc;

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
	rc = start_serving(m, why, why_len);
	if (rc) {
		close(m->fd);
		free(m);
		return rc;
	}
	pr_debug("metrics: listening on http://%s/metrics", m->name);
	*out = m;
	return 0;
}

/* ---- answering ---- */

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status,
				   const char *text, size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text,
								MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* On the server's thread: GET or HEAD of /metrics or / gets the latest
 * text (503 before the first), another path 404, another method 405. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **state)
{
	static int first_call;
	struct metrics_server *m = cls;
	enum MHD_Result ret;
	const char *plain = "text/plain; charset=utf-8";

	(void)version;
	(void)upload_data;
	if (!*state) {
		*state = &first_call;	/* headers now; answer on the next call */
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;	/* a body is read and ignored */
		return MHD_YES;
	}
	__atomic_add_fetch(&m->served, 1, __ATOMIC_RELAXED);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", 19,
				   plain);
	if (strcmp(url, "/metrics") && strcmp(url, "/"))
		return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", 24,
				   plain);
	pthread_mutex_lock(&m->lock);
	if (m->body)
		ret = answer_text(conn, MHD_HTTP_OK, m->body, m->body_len,
				  "text/plain; version=0.0.4; charset=utf-8");
	else
		ret = answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "no metrics yet: the agent is starting\n", 38, plain);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void on_library_error(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pr_debug("metrics: %s", msg);
}

static int start_serving(struct metrics_server *m, char *why, size_t why_len)
{
	char ebuf[128];
	int err = pthread_mutex_init(&m->lock, NULL);

	if (err) {
		set_why(why, why_len, "cannot serve metrics: %s", err_text(err, ebuf, sizeof(ebuf)));
		return -err;
	}
	m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				     MHD_USE_ERROR_LOG,
				     0, NULL, NULL, on_request, m,
				     MHD_OPTION_LISTEN_SOCKET, m->fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_ADDRESS_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
				     MHD_OPTION_EXTERNAL_LOGGER, on_library_error, NULL,
				     MHD_OPTION_END);
	if (!m->daemon) {
		pthread_mutex_destroy(&m->lock);
		set_why(why, why_len, "cannot serve metrics on %s: libmicrohttpd would not start",
			m->name);
		return -EIO;
	}
	return 0;
}

int metrics_server_publish(struct metrics_server *m, const char *text, size_t len)
{
	char *copy;

	if (!m)
		return -EINVAL;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&m->lock);
	free(m->body);
	m->body = copy;
	m->body_len = len;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int metrics_server_fd(const struct metrics_server *m)
{
	return m ? m->fd : -1;
}

unsigned long long metrics_server_answers(const struct metrics_server *m)
{
	return m ? __atomic_load_n(&m->served, __ATOMIC_RELAXED) : 0;
}

void metrics_server_close(struct metrics_server *m)
{
	if (!m)
		return;
	if (m->daemon) {
		MHD_stop_daemon(m->daemon);	/* joins its thread */
		pthread_mutex_destroy(&m->lock);
	}
	if (m->fd >= 0)
		close(m->fd);
	free(m->body);
	free(m);
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
