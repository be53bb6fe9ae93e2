// SPDX-License-Identifier: MIT
/* The metrics endpoint over real loopback sockets: the answers to good, bad
 * and hostile clients, idle clients that cannot delay a scrape, texts
 * published while scrapes are answered, address parsing, label escaping. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "metrics_server.h"
#include "testing.h"

#define BODY "# HELP leakbpf_up 1 while tracing\nleakbpf_up 1\n"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first free port from 19433 up, with fmt ("127.0.0.1:%d") around it. */
static struct metrics_server *open_free(const char *fmt, int *port)
{
	struct metrics_server *m;
	char addr[64], why[256];
	int p, rc;

	for (p = 19433; p < 19433 + 500; p++) {
		snprintf(addr, sizeof(addr), fmt, p);
		rc = metrics_server_open(addr, &m, why, sizeof(why));
		if (!rc) {
			*port = p;
			return m;
		}
		if (rc != -EADDRINUSE && rc != -EACCES)
			break;
	}
	fprintf(stderr, "cannot open %s: %s\n", fmt, why);
	return NULL;
}

static int connect_to(int family, int port, int rcvbuf)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (family == AF_INET ? connect(fd, (void *)&in, sizeof(in))
			      : connect(fd, (void *)&in6, sizeof(in6))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Everything the server sent until it hung up (2 s at most). */
static size_t read_all(int fd, char *buf, size_t cap)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1 && poll(&pfd, 1, 2000) > 0) {
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	return len;
}

struct reply {
	int status;
	long content_length;	/* -1 if absent */
	const char *body;	/* into the buffer */
	size_t body_len;
	char raw[65536];
};

static void parse_reply(struct reply *r, size_t len)
{
	const char *cl, *end;

	r->status = -1;
	r->content_length = -1;
	r->body = "";
	r->body_len = 0;
	if (sscanf(r->raw, "HTTP/1.%*d %d ", &r->status) != 1)
		return;
	end = strstr(r->raw, "\r\n\r\n");
	cl = strstr(r->raw, "\r\nContent-Length: ");
	if (cl && (!end || cl < end))
		r->content_length = strtol(cl + 18, NULL, 10);
	if (end) {
		r->body = end + 4;
		r->body_len = len - (r->body - r->raw);
	}
}

static bool has_header(const struct reply *r, const char *line)
{
	const char *end = strstr(r->raw, "\r\n\r\n"), *h = strstr(r->raw, line);

	return h && end && h < end;
}

/* Connects from source address src (NULL: any) to 127.0.0.1:port. */
static int connect_from(const char *src, int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (src && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
		    bind(fd, (void *)&from, sizeof(from)))) {
		close(fd);
		return -1;
	}
	if (connect(fd, (void *)&in, sizeof(in))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request from src, the reply read until the server hangs up. */
static int fetch_from(const char *src, int port, const char *req, struct reply *r)
{
	int fd = connect_from(src, port);
	size_t len = strlen(req);

	r->status = -1;
	if (fd < 0 || send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	parse_reply(r, read_all(fd, r->raw, sizeof(r->raw)));
	close(fd);
	return r->status;
}

static int get(struct metrics_server *m, int port, const char *req, struct reply *r)
{
	(void)m;
	return fetch_from(NULL, port, req, r);
}

static void test_answers(struct metrics_server *m, int port)
{
	static struct reply r;

	CHECK(get(m, port, "GET /metrics HTTP/1.0\r\n\r\n", &r) == 503,
	      "before the first publish: %d", r.status);
	CHECK(metrics_server_publish(m, BODY, strlen(BODY)) == 0, "publish");
	CHECK(get(m, port, "GET /metrics HTTP/1.0\r\n\r\n", &r) == 200, "GET: %d", r.status);
	CHECK(r.body_len == strlen(BODY) && !memcmp(r.body, BODY, r.body_len), "body '%s'", r.body);
	CHECK(r.content_length == (long)strlen(BODY), "Content-Length %ld", r.content_length);
	CHECK(has_header(&r, "text/plain; version=0.0.4"), "content type: %.300s", r.raw);
	CHECK(get(m, port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) == 200,
	      "GET / (1.1): %d", r.status);
	CHECK(get(m, port, "HEAD /metrics HTTP/1.0\r\n\r\n", &r) == 200 && r.body_len == 0,
	      "HEAD: %d, %zu bytes of body", r.status, r.body_len);
	CHECK(get(m, port, "GET /secrets HTTP/1.0\r\n\r\n", &r) == 404, "404: %d", r.status);
	CHECK(get(m, port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", &r) == 405 &&
	      has_header(&r, "Allow: GET, HEAD"), "POST: %d %.200s", r.status, r.raw);
	CHECK(get(m, port, "garbage\r\n\r\n", &r) == 400 || r.status == -1,
	      "garbage: %d", r.status);
	{
		/* headers past the request memory: refused, not buffered */
		static char big[40000];
		int n = snprintf(big, sizeof(big), "GET /metrics HTTP/1.0\r\nX-Pad: ");

		memset(big + n, 'a', 30000);
		memcpy(big + n + 30000, "\r\n\r\n", 5);
		get(m, port, big, &r);
		CHECK(r.status == -1 || (r.status >= 400 && r.status < 500), "huge headers: %d", r.status);
	}
	CHECK(metrics_server_answers(m) >= 6, "answers counted: %llu", metrics_server_answers(m));
}

/* Idle connections do not delay a scrape: the single-threaded server this
 * replaced let four idle clients make 2 of 3 scrapes time out at 5 s. And
 * one address cannot take every connection: 100 idle ones from 127.0.0.1,
 * a scraper at 127.0.0.2 still gets its answers. */
static void test_idle_clients(struct metrics_server *m, int port)
{
	static struct reply r;
	int idle[100], i, n = 0, ok = 0;
	int64_t t0;

	for (i = 0; i < 4; i++)
		idle[n++] = connect_from(NULL, port);
	for (i = 0, t0 = now_ms(); i < 3; i++)
		ok += get(m, port, "GET /metrics HTTP/1.0\r\n\r\n", &r) == 200;
	CHECK(ok == 3 && now_ms() - t0 < 1500, "4 idle clients: %d of 3 in %lld ms", ok,
	      (long long)(now_ms() - t0));
	while (n < 100)
		idle[n++] = connect_from("127.0.0.1", port);
	for (i = 0, ok = 0, t0 = now_ms(); i < 3; i++)
		ok += fetch_from("127.0.0.2", port, "GET /metrics HTTP/1.0\r\n\r\n", &r) == 200;
	CHECK(ok == 3 && now_ms() - t0 < 1500, "100 idle clients at another address: %d of 3 in %lld ms",
	      ok, (long long)(now_ms() - t0));
	/* an idle connection is let go after the timeout */
	{
		struct pollfd pfd = { .fd = idle[0], .events = POLLIN };
		char c;

		t0 = now_ms();
		CHECK(poll(&pfd, 1, 9000) == 1 && recv(idle[0], &c, 1, 0) <= 0,
		      "idle connection not closed after %lld ms", (long long)(now_ms() - t0));
	}
	for (i = 0; i < n; i++)
		if (idle[i] >= 0)
			close(idle[i]);
}

/* Publishing while scrapes are answered: each answer is one whole text. */
struct publisher {
	struct metrics_server *m;
	volatile int stop;
};

static char text_a[20000], text_b[30000];

static void *publish_loop(void *arg)
{
	static const char *a = text_a, *b = text_b;
	struct publisher *p = arg;
	int i;

	for (i = 0; !p->stop; i++)
		metrics_server_publish(p->m, i & 1 ? a : b, i & 1 ? sizeof(text_a) - 1 : sizeof(text_b) - 1);
	return NULL;
}

static void test_publish_while_serving(struct metrics_server *m, int port)
{
	static struct reply r;
	struct publisher p = { .m = m };
	pthread_t t;
	int i, whole = 0;

	memset(text_a, 'a', sizeof(text_a) - 1);
	memset(text_b, 'b', sizeof(text_b) - 1);
	metrics_server_publish(m, text_b, sizeof(text_b) - 1);	/* before the first answer */
	pthread_create(&t, NULL, publish_loop, &p);
	for (i = 0; i < 50; i++) {
		if (get(m, port, "GET /metrics HTTP/1.0\r\n\r\n", &r) != 200) {
			fprintf(stderr, "answer %d: status %d\n", i, r.status);
			continue;
		}
		whole += (r.body_len == 19999 && r.body[0] == 'a' && r.body[19998] == 'a' &&
			  !memchr(r.body, 'b', r.body_len)) ||
			 (r.body_len == 29999 && r.body[0] == 'b' && r.body[29998] == 'b' &&
			  !memchr(r.body, 'a', r.body_len));
	}
	p.stop = 1;
	pthread_join(t, NULL);
	CHECK(whole == 50, "%d of 50 answers one whole published text", whole);
}

static void check_bound(const char *fmt, int family, const void *want, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct metrics_server *m;
	int port;
	bool ok;

	m = open_free(fmt, &port);
	CHECK(m, "%s: open", what);
	if (!m)
		return;
	ok = !getsockname(metrics_server_fd(m), (void *)&ss, &sl) && ss.ss_family == family;
	if (ok && family == AF_INET)
		ok = !memcmp(&((struct sockaddr_in *)&ss)->sin_addr, want, 4) &&
		     ntohs(((struct sockaddr_in *)&ss)->sin_port) == port;
	CHECK(ok, "%s: bound to the wrong address", what);
	metrics_server_close(m);
}

static void test_addresses(int busy_port)
{
	static const char *const bad[] = {
		"abc", "1.2.3.4:99999", "host:", "", ":0", "::1:9433", "[::1]", "[]:9433",
		"127.0.0.1:94x3", "127.0.0.1:-1", "[1.2.3.4]:9433",
	};
	struct metrics_server *m = (void *)1;
	struct in_addr lo = { htonl(INADDR_LOOPBACK) }, any = { htonl(INADDR_ANY) };
	char addr[64], why[256];
	size_t i;
	int rc, port;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", busy_port);
	rc = metrics_server_open(addr, &m, why, sizeof(why));
	CHECK(rc == -EADDRINUSE && !m, "busy port: %d", rc);
	CHECK(strstr(why, addr) && strstr(why, "address already in use"), "why: %s", why);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		rc = metrics_server_open(bad[i], &m, why, sizeof(why));
		CHECK(rc == -EINVAL && !m, "\"%s\": %d", bad[i], rc);
		CHECK(strstr(why, "metrics-addr") && strstr(why, bad[i]), "\"%s\": why '%s'", bad[i],
		      why);
	}
	CHECK(metrics_server_open(NULL, &m, why, sizeof(why)) == -EINVAL && why[0], "NULL");
	CHECK(metrics_server_open("abc", &m, NULL, 0) == -EINVAL, "no why");
	CHECK(metrics_server_publish(NULL, "x", 1) == -EINVAL, "publish to NULL");
	CHECK(metrics_server_fd(NULL) == -1, "fd of NULL");
	metrics_server_close(NULL);

	/* no host: loopback, never every interface */
	check_bound(":%d", AF_INET, &lo, ":PORT");
	check_bound("0.0.0.0:%d", AF_INET, &any, "0.0.0.0");
	check_bound("localhost:%d", AF_INET, &lo, "localhost");

	/* IPv6 where the machine has it */
	rc = -1;
	for (port = 19533; port < 19633; port++) {
		snprintf(addr, sizeof(addr), "[::1]:%d", port);
		rc = metrics_server_open(addr, &m, why, sizeof(why));
		if (rc != -EADDRINUSE)
			break;
	}
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
		fprintf(stderr, "note: no IPv6 loopback here (%s)\n", why);
	} else {
		static struct reply r;
		int fd;

		CHECK(rc == 0, "[::1]: %d %s", rc, why);
		if (rc)
			return;
		metrics_server_publish(m, BODY, strlen(BODY));
		fd = connect_to(AF_INET6, port, 0);
		send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
		parse_reply(&r, read_all(fd, r.raw, sizeof(r.raw)));
		CHECK(r.status == 200, "IPv6: %d", r.status);
		close(fd);
		metrics_server_close(m);
	}
}

static void test_escape(void)
{
	char out[64];

	CHECK(!strcmp(metrics_escape_label("a\"b\\c\n", out, sizeof(out)), "a\\\"b\\\\c\\n"),
	      "escaped '%s'", out);
	CHECK(!strcmp(metrics_escape_label("plain", out, sizeof(out)), "plain"), "'%s'", out);
	/* never half an escape: a lone trailing backslash would escape the
	 * closing quote */
	CHECK(!strcmp(metrics_escape_label("a\"b", out, 3), "a"), "'%s'", out);
	CHECK(!strcmp(metrics_escape_label("a\"b", out, 4), "a\\\""), "'%s'", out);
	CHECK(!strcmp(metrics_escape_label("ab\\", out, 4), "ab"), "'%s'", out);
	CHECK(!strcmp(metrics_escape_label("abc", out, 1), ""), "'%s'", out);
	CHECK(!strcmp(metrics_escape_label("abcdef", out, 4), "abc"), "'%s'", out);
	/* nor half a character; bytes that are not UTF-8 become U+FFFD */
	CHECK(!strcmp(metrics_escape_label("\xc3\xa9", out, 2), ""), "'%s'", out);
	CHECK(!strcmp(metrics_escape_label("\xc3\xa9", out, 3), "\xc3\xa9"), "'%s'", out);
	CHECK(!strcmp(metrics_escape_label("a\xff" "b", out, sizeof(out)), "a\xef\xbf\xbd" "b"),
	      "'%s'", out);
	CHECK(!strcmp(metrics_escape_label(NULL, out, sizeof(out)), ""), "NULL in");
	CHECK(metrics_escape_label("x", NULL, 0) == NULL, "no room");
}

int main(void)
{
	struct metrics_server *m;
	int port;

	signal(SIGPIPE, SIG_DFL);
	alarm(120);	/* a server that hangs fails the test instead of the run */
	test_escape();
	m = open_free("127.0.0.1:%d", &port);
	CHECK(m, "open");
	if (!m)
		return tests_summary();
	test_answers(m, port);
	test_idle_clients(m, port);
	test_publish_while_serving(m, port);
	test_addresses(port);
	metrics_server_close(m);
	return tests_summary();
}
