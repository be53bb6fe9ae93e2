// SPDX-License-Identifier: MIT
/* The metrics endpoint over real loopback sockets: the answers to good, bad
 * and hostile clients, the time a bad client can cost the agent, address
 * parsing, and label escaping. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
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

struct body_ctx {
	int calls;
	int fail;		/* return nonzero */
	size_t big;		/* write this many bytes instead of BODY */
};

static int write_body(void *vctx, FILE *out)
{
	static const char block[4096] = { [0 ... 4095] = 'x' };
	struct body_ctx *ctx = vctx;
	size_t i;

	ctx->calls++;
	if (ctx->big) {
		for (i = 0; i < ctx->big; i += sizeof(block))
			fwrite(block, 1, sizeof(block), out);
	} else {
		fputs(BODY, out);
	}
	return ctx->fail;
}

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

/* Sends req (len bytes) from a client in this process, lets the server
 * answer, reads the reply. Returns what serve returned. */
static int exchange(struct metrics_server *m, int port, const char *req, size_t len,
		    struct body_ctx *ctx, struct reply *r)
{
	int fd = connect_to(AF_INET, port, 0), served;

	if (fd < 0 || send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		if (fd >= 0)
			close(fd);
		return -1000;
	}
	served = metrics_server_serve(m, write_body, ctx);
	parse_reply(r, read_all(fd, r->raw, sizeof(r->raw)));
	close(fd);
	return served;
}

static int get(struct metrics_server *m, int port, const char *req, struct reply *r)
{
	struct body_ctx ctx = { 0 };

	return exchange(m, port, req, strlen(req), &ctx, r);
}

static void test_answers(struct metrics_server *m, int port)
{
	static struct reply r;
	struct body_ctx ctx = { 0 };
	char big[9000];
	int served;

	served = get(m, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &r);
	CHECK(served == 1, "served %d", served);
	CHECK(r.status == 200, "GET /metrics: %d", r.status);
	CHECK(r.body_len == strlen(BODY) && !memcmp(r.body, BODY, r.body_len), "body '%s'", r.body);
	CHECK(r.content_length == (long)strlen(BODY), "Content-Length %ld", r.content_length);
	CHECK(has_header(&r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
	      "type: %s", r.raw);
	CHECK(has_header(&r, "\r\nConnection: close\r\n"), "close: %s", r.raw);

	CHECK(get(m, port, "GET / HTTP/1.0\r\n\r\n", &r) == 1 && r.status == 200, "/: %d", r.status);
	CHECK(get(m, port, "GET /metrics?name[]=up HTTP/1.0\r\n\r\n", &r) == 1 && r.status == 200,
	      "query: %d", r.status);
	/* bare '\n' line ends, and empty lines before the request */
	CHECK(get(m, port, "\r\nGET /metrics HTTP/1.0\nHost: x\n\n", &r) == 1 && r.status == 200 &&
	      r.body_len == strlen(BODY), "bare LF: %d", r.status);

	CHECK(get(m, port, "HEAD /metrics HTTP/1.1\r\n\r\n", &r) == 1 && r.status == 200, "HEAD %d",
	      r.status);
	CHECK(r.content_length == (long)strlen(BODY) && r.body_len == 0,
	      "HEAD: length %ld, body %zu", r.content_length, r.body_len);

	CHECK(get(m, port, "GET /nope HTTP/1.1\r\n\r\n", &r) == 1 && r.status == 404, "404: %d",
	      r.status);
	CHECK(r.content_length == (long)r.body_len, "404 length %ld/%zu", r.content_length, r.body_len);
	CHECK(get(m, port, "GET /metrics/x HTTP/1.1\r\n\r\n", &r) == 1 && r.status == 404, "%d",
	      r.status);

	CHECK(get(m, port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &r) == 1 &&
	      r.status == 405, "POST: %d", r.status);
	CHECK(has_header(&r, "\r\nAllow: GET, HEAD\r\n"), "Allow: %s", r.raw);
	CHECK(get(m, port, "get /metrics HTTP/1.1\r\n\r\n", &r) == 1 && r.status == 405,
	      "methods are case-sensitive: %d", r.status);

	CHECK(get(m, port, "garbage\r\n\r\n", &r) == 1 && r.status == 400, "garbage: %d", r.status);
	CHECK(get(m, port, "GET /metrics\r\n\r\n", &r) == 1 && r.status == 400, "no version: %d",
	      r.status);
	CHECK(get(m, port, "GET metrics HTTP/1.1\r\n\r\n", &r) == 1 && r.status == 400,
	      "target without /: %d", r.status);
	CHECK(get(m, port, "GET /metrics HTTP/1.1 x\r\n\r\n", &r) == 1 && r.status == 400,
	      "junk after version: %d", r.status);

	/* headers past 8 KiB */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	CHECK(exchange(m, port, big, sizeof(big), &ctx, &r) == 1 && r.status == 431, "big: %d",
	      r.status);
	/* a request line past 8 KiB */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	CHECK(exchange(m, port, big, sizeof(big), &ctx, &r) == 1 && r.status == 400,
	      "long line: %d", r.status);
	CHECK(ctx.calls == 0, "the body is made only when asked for (%d)", ctx.calls);

	/* the body fails: 500, and the body is made once for two clients */
	ctx = (struct body_ctx){ .fail = 1 };
	CHECK(exchange(m, port, "GET / HTTP/1.0\r\n\r\n", 18, &ctx, &r) == 1 && r.status == 500,
	      "failing body: %d", r.status);
	CHECK(metrics_server_serve(m, NULL, NULL) == 0, "nothing pending");
}

static void test_shared_body(struct metrics_server *m, int port)
{
	static struct reply r1, r2;
	struct body_ctx ctx = { 0 };
	const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
	int a = connect_to(AF_INET, port, 0), b = connect_to(AF_INET, port, 0);

	send(a, req, strlen(req), MSG_NOSIGNAL);
	send(b, req, strlen(req), MSG_NOSIGNAL);
	CHECK(metrics_server_serve(m, write_body, &ctx) == 2, "two at once");
	parse_reply(&r1, read_all(a, r1.raw, sizeof(r1.raw)));
	parse_reply(&r2, read_all(b, r2.raw, sizeof(r2.raw)));
	CHECK(r1.status == 200 && r2.status == 200, "%d %d", r1.status, r2.status);
	CHECK(ctx.calls == 1, "body made %d times for one call", ctx.calls);
	close(a);
	close(b);
}

/* Clients that do not behave must not hold the agent. */
static void test_stalls(struct metrics_server *m, int port)
{
	static struct reply r;
	struct body_ctx ctx = { 0 };
	int fds[17], fd, good, i, served;
	int64_t t;

	/* connects, sends nothing: waited for (~1 s), then hung up on */
	fd = connect_to(AF_INET, port, 0);
	t = now_ms();
	served = metrics_server_serve(m, write_body, &ctx);
	t = now_ms() - t;
	CHECK(served == 0, "silent client answered (%d)", served);
	CHECK(t >= 900 && t < 1500, "silent client took %lld ms", (long long)t);
	CHECK(read_all(fd, r.raw, sizeof(r.raw)) == 0, "silent client got '%s'", r.raw);
	close(fd);

	/* 17 silent clients: one second for the 16 of a call, not one each */
	for (i = 0; i < 17; i++)
		fds[i] = connect_to(AF_INET, port, 0);
	t = now_ms();
	served = metrics_server_serve(m, write_body, &ctx);
	t = now_ms() - t;
	CHECK(served == 0 && t < 1500, "16 silent clients: %d in %lld ms", served, (long long)t);
	t = now_ms();
	served = metrics_server_serve(m, write_body, &ctx);
	t = now_ms() - t;
	CHECK(served == 0 && t < 1500, "the 17th: %d in %lld ms", served, (long long)t);
	for (i = 0; i < 17; i++)
		close(fds[i]);

	/* a silent client does not keep a good one from its answer */
	fd = connect_to(AF_INET, port, 0);
	good = connect_to(AF_INET, port, 0);
	send(good, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
	served = metrics_server_serve(m, write_body, &ctx);
	parse_reply(&r, read_all(good, r.raw, sizeof(r.raw)));
	CHECK(served == 1 && r.status == 200, "beside a silent one: %d, %d", served, r.status);
	close(fd);
	close(good);

	/* a request that stops half way: 408 after the second */
	t = now_ms();
	served = get(m, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n", &r);
	t = now_ms() - t;
	CHECK(served == 1 && r.status == 408 && t < 1500, "half a request: %d in %lld ms",
	      r.status, (long long)t);

	/* not HTTP at all (a TLS hello): turned away at once */
	t = now_ms();
	served = get(m, port, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", &r);
	t = now_ms() - t;
	CHECK(served == 1 && r.status == 400 && t < 500, "TLS hello: %d in %lld ms", r.status,
	      (long long)t);

	/* a client that asks for 8 MiB and never reads: ~1 s, then given up */
	ctx = (struct body_ctx){ .big = 8 << 20 };
	fd = connect_to(AF_INET, port, 4096);
	send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
	t = now_ms();
	served = metrics_server_serve(m, write_body, &ctx);
	t = now_ms() - t;
	CHECK(served == 1 && t < 1600, "non-reader: %d in %lld ms", served, (long long)t);
	close(fd);

	/* clients that leave before the answer: no SIGPIPE (it is not
	 * ignored here, it would kill this test) */
	for (i = 0; i < 2; i++) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		fd = connect_to(AF_INET, port, 4096);
		send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
		if (i)	/* reset instead of a clean close */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		served = metrics_server_serve(m, write_body, &ctx);
		CHECK(served >= 0, "client gone (%d): %d", i, served);
	}
}

/* A client in another process that sends its request in pieces, and one
 * that half-closes after the request line. */
static void test_forked_client(struct metrics_server *m, int port)
{
	struct pollfd pfd = { .fd = metrics_server_fd(m), .events = POLLIN };
	struct body_ctx ctx = { 0 };
	int k, status, served;
	pid_t pid;

	for (k = 0; k < 2; k++) {
		pid = fork();
		if (pid == 0) {
			static struct reply r;
			int fd = connect_to(AF_INET, port, 0);

			if (fd < 0)
				_exit(2);
			if (k == 0) {
				send(fd, "GET /met", 8, MSG_NOSIGNAL);
				usleep(200 * 1000);
				send(fd, "rics HTTP/1.1\r\nHost: x\r\n\r\n", 26, MSG_NOSIGNAL);
			} else {
				send(fd, "GET /metrics HTTP/1.0\r\n", 23, MSG_NOSIGNAL);
				shutdown(fd, SHUT_WR);
			}
			parse_reply(&r, read_all(fd, r.raw, sizeof(r.raw)));
			_exit(r.status == 200 && r.body_len == strlen(BODY) ? 0 : 1);
		}
		CHECK(poll(&pfd, 1, 2000) == 1, "the listening fd polls readable");
		served = metrics_server_serve(m, write_body, &ctx);
		CHECK(served == 1, "forked client %d: served %d", k, served);
		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0, "forked client %d: status %#x", k, status);
	}
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
		fd = connect_to(AF_INET6, port, 0);
		send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
		CHECK(metrics_server_serve(m, write_body, &(struct body_ctx){ 0 }) == 1, "IPv6 serve");
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
	CHECK(metrics_server_fd(m) >= 0, "fd");
	test_answers(m, port);
	test_shared_body(m, port);
	test_stalls(m, port);
	test_forked_client(m, port);
	test_addresses(port);
	metrics_server_close(m);
	return tests_summary();
}
