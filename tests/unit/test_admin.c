/*
 * Unit tests for proxy/admin.c: real servers on 127.0.0.1 (and ::1 when
 * the machine has it), their loop on a thread, plain blocking sockets as
 * clients on the main thread. alarm() bounds the whole run.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "admin.h"
#include "check.h"
#include "http.h"

#define BIG_LEN ((size_t)3 << 20)
#define IO_WAIT_MS 3000      /* a client gives up on a silent server */
#define FAST_TIMEOUT_MS 300  /* head deadline of the "fast" server */
#define CROWD_TIMEOUT_MS 3000

typedef struct {
	uv_loop_t loop;
	uv_async_t stop;
	admin_t *std, *fast, *crowd, *victim, *v6;
	int port_std, port_fast, port_crowd, port_victim, port_v6;
	atomic_int calls;
} srv_t;

static srv_t srv;

static int
is(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static int
handler(void *arg, const char *method, size_t mlen, const char *path,
    size_t plen, admin_buf_t *body, const char **ctype)
{
	srv_t *s = arg;

	atomic_fetch_add(&s->calls, 1);
	if (is(path, plen, "/metrics")) {
		admin_buf_printf(body, "hello %.*s\n", (int)mlen, method);
		*ctype = "text/plain; version=0.0.4";
		return 200;
	}
	if (is(path, plen, "/big")) {
		char chunk[4096];
		for (size_t off = 0; off < BIG_LEN; off += sizeof(chunk)) {
			for (size_t i = 0; i < sizeof(chunk); i++)
				chunk[i] = (char)('a' + (off + i) % 26);
			admin_buf_append(body, chunk, sizeof(chunk));
		}
		return 200;
	}
	if (is(path, plen, "/huge")) {
		static const char chunk[65536];
		while (admin_buf_append(body, chunk, sizeof(chunk)) == 0)
			;
		return 200;
	}
	if (is(path, plen, "/status"))
		return 42;
	if (is(path, plen, "/ctype")) {
		*ctype = "text/plain\r\nSet-Cookie: x=y";
		return 200;
	}
	if (is(path, plen, "/free")) {
		admin_free(s->victim);
		s->victim = NULL;
		return 200;
	}
	admin_buf_printf(body, "not found\n");
	return 404;
}

/* Client side ------------------------------------------------------------ */

static int
cl_connect_to(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	if ((fd = socket(family, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
cl_connect(int port)
{
	return cl_connect_to(AF_INET, port);
}

static void
cl_send(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

/*
 * Reads until EOF (or reset), at most cap bytes, waiting at most
 * IO_WAIT_MS for each read. Returns the length; *eof tells whether the
 * server ended the stream.
 */
static size_t
cl_read_all(int fd, char *out, size_t cap, int *eof)
{
	size_t n = 0;

	*eof = 0;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, IO_WAIT_MS) != 1)
			return n;
		if (n == cap)
			return n;
		r = recv(fd, out + n, cap - n, 0);
		if (r <= 0) {
			*eof = 1;
			return n;
		}
		n += (size_t)r;
	}
}

typedef struct {
	char *buf;       /* owned */
	size_t len;
	int eof;
	int status;
	size_t headlen;  /* with the empty line */
	const char *body;
	size_t bodylen;
} resp_t;

static void
resp_parse(resp_t *r)
{
	const char *e;

	r->status = 0;
	r->body = NULL;
	r->bodylen = 0;
	if (r->len < 12 || memcmp(r->buf, "HTTP/1.1 ", 9) != 0)
		return;
	r->status = (r->buf[9] - '0') * 100 + (r->buf[10] - '0') * 10 +
	    (r->buf[11] - '0');
	if ((e = memmem(r->buf, r->len, "\r\n\r\n", 4)) == NULL)
		return;
	r->headlen = (size_t)(e - r->buf) + 4;
	r->body = r->buf + r->headlen;
	r->bodylen = r->len - r->headlen;
}

/* Does the response head have this exact line? */
static int
resp_has(const resp_t *r, const char *line)
{
	size_t n = strlen(line);

	for (size_t i = 0; i + n + 2 <= r->headlen; i++)
		if ((i == 0 || r->buf[i - 1] == '\n') &&
		    memcmp(r->buf + i, line, n) == 0 &&
		    memcmp(r->buf + i + n, "\r\n", 2) == 0)
			return 1;
	return 0;
}

/* Sends req on a new connection to port and reads the answer to EOF. */
static void
exchange(int port, const void *req, size_t reqlen, resp_t *r)
{
	size_t cap = BIG_LEN + 4096;
	int fd = cl_connect(port);

	memset(r, 0, sizeof(*r));
	r->buf = malloc(cap);
	CHECK(fd != -1 && r->buf != NULL);
	if (fd == -1 || r->buf == NULL)
		return;
	cl_send(fd, req, reqlen);
	r->len = cl_read_all(fd, r->buf, cap, &r->eof);
	close(fd);
	resp_parse(r);
}

static void
exchange_str(int port, const char *req, resp_t *r)
{
	exchange(port, req, strlen(req), r);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Tests ------------------------------------------------------------------ */

static void
test_get(void)
{
	resp_t r;

	exchange_str(srv.port_std, "GET /metrics HTTP/1.1\r\nHost: a\r\n"
	    "User-Agent: test\r\n\r\n", &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.eof);
	CHECK_MEM(r.body, r.bodylen, "hello GET\n", 10);
	CHECK(resp_has(&r, "Content-Type: text/plain; version=0.0.4"));
	CHECK(resp_has(&r, "Content-Length: 10"));
	CHECK(resp_has(&r, "Connection: close"));
	CHECK(resp_has(&r, "Cache-Control: no-store"));
	CHECK(r.headlen > 40 && memmem(r.buf, r.headlen, "\r\nDate: ", 8));
	free(r.buf);

	/* Query strings do not reach the handler's path. */
	exchange_str(srv.port_std, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_MEM(r.body, r.bodylen, "hello GET\n", 10);
	free(r.buf);
}

static void
test_head(void)
{
	resp_t r;

	exchange_str(srv.port_std, "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
	    &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.eof);
	CHECK(resp_has(&r, "Content-Length: 11"));
	CHECK_EQ_INT(r.bodylen, 0);
	free(r.buf);
}

static void
test_not_found(void)
{
	resp_t r;

	exchange_str(srv.port_std, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK_EQ_INT(r.status, 404);
	CHECK_MEM(r.body, r.bodylen, "not found\n", 10);
	free(r.buf);
}

static void
test_method_not_allowed(void)
{
	static const char *const reqs[] = {
		("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		    "\r\nhello"),
		"get /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"DELETE /metrics HTTP/1.0\r\n\r\n",
	};
	int before = atomic_load(&srv.calls);
	resp_t r;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		exchange_str(srv.port_std, reqs[i], &r);
		CHECK_EQ_INT(r.status, 405);
		CHECK(r.eof);
		CHECK(resp_has(&r, "Allow: GET, HEAD"));
		CHECK_MEM(r.body, r.bodylen, "Method Not Allowed\n", 19);
		free(r.buf);
	}
	CHECK_EQ_INT(atomic_load(&srv.calls), before);
}

static void
test_bad_requests(void)
{
	static const struct {
		const char *req;
		size_t len;
		int status;
	} cases[] = {
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, 400 },
		{ "GET / HTTP/1.1\r\n\r\n", 18, 400 },  /* no Host */
		{ "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 28, 400 },
		{ "hello\r\n\r\n", 9, 400 },
		{ "GET / HTTP/2.0\r\n\r\n", 18, 505 },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, 505 },
	};
	int before = atomic_load(&srv.calls);
	static char big[HTTP_HEAD_MAX + 1000];
	resp_t r;
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		exchange(srv.port_std, cases[i].req, cases[i].len, &r);
		CHECK_EQ_INT(r.status, cases[i].status);
		CHECK(r.eof);
		free(r.buf);
	}

	/* Over-long request line: 414. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', HTTP_REQUEST_LINE_MAX);
	exchange(srv.port_std, big, HTTP_REQUEST_LINE_MAX + 5, &r);
	CHECK_EQ_INT(r.status, 414);
	CHECK(r.eof);
	free(r.buf);

	/* Over-long head: 431, although the client sends more after it. */
	n = (size_t)snprintf(big, sizeof(big),
	    "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'v', sizeof(big) - n);
	exchange(srv.port_std, big, sizeof(big), &r);
	CHECK_EQ_INT(r.status, 431);
	CHECK(r.eof);
	CHECK_MEM(r.body, r.bodylen, "Request Header Fields Too Large\n", 32);
	free(r.buf);

	CHECK_EQ_INT(atomic_load(&srv.calls), before);
}

static void
test_handler_errors(void)
{
	static const char *const paths[] = { "/huge", "/status", "/ctype" };
	char req[64];
	resp_t r;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
		    paths[i]);
		exchange_str(srv.port_std, req, &r);
		CHECK_EQ_INT(r.status, 500);
		CHECK_MEM(r.body, r.bodylen, "Internal Server Error\n", 22);
		CHECK(!resp_has(&r, "Set-Cookie: x=y"));
		free(r.buf);
	}
	exchange_str(srv.port_std, "HEAD /huge HTTP/1.1\r\nHost: a\r\n\r\n",
	    &r);
	CHECK_EQ_INT(r.status, 500);
	CHECK(resp_has(&r, "Content-Length: 22"));
	CHECK_EQ_INT(r.bodylen, 0);
	free(r.buf);
}

static void
test_big_body(void)
{
	char want[26];
	resp_t r;
	int ok = 1;

	exchange_str(srv.port_std, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.eof);
	CHECK_EQ_INT(r.bodylen, BIG_LEN);
	for (int i = 0; i < 26; i++)
		want[i] = (char)('a' + i);
	for (size_t i = 0; i < r.bodylen && ok; i++)
		ok = r.body[i] == want[i % 26];
	CHECK(ok);
	free(r.buf);
}

static void
test_one_request_per_connection(void)
{
	static const char two[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
	    "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n";
	resp_t r;

	exchange(srv.port_std, two, sizeof(two) - 1, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.eof);
	CHECK_MEM(r.body, r.bodylen, "hello GET\n", 10);
	CHECK(memmem(r.buf, r.len, "404", 3) == NULL);
	free(r.buf);
}

static void
test_byte_by_byte(void)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
	resp_t r;
	int fd = cl_connect(srv.port_std);

	CHECK(fd != -1);
	if (fd == -1)
		return;
	memset(&r, 0, sizeof(r));
	r.buf = malloc(4096);
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		struct timespec ts = { 0, 3 * 1000000 };
		cl_send(fd, req + i, 1);
		nanosleep(&ts, NULL);
	}
	r.len = cl_read_all(fd, r.buf, 4096, &r.eof);
	close(fd);
	resp_parse(&r);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.eof);
	free(r.buf);
}

/*
 * A client trickling a head, one byte every 50 ms: bytes do not push the
 * deadline back; it gets a 408 and a FIN at FAST_TIMEOUT_MS, and although
 * it goes on sending, the server drops the socket ADMIN_LINGER_MS later
 * (its sends then fail).
 */
static void
test_slowloris(void)
{
	static const char start[] = "GET /metrics HTTP/1.1\r\nX-Slow: ";
	char buf[1024];
	size_t n = 0;
	uint64_t t0 = now_ms(), t408 = 0, tend = 0, tgone = 0;
	int fd = cl_connect(srv.port_fast);

	CHECK(fd != -1);
	if (fd == -1)
		return;
	cl_send(fd, start, sizeof(start) - 1);
	while (now_ms() - t0 < 4000) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 50) == 0) {
			cl_send(fd, "v", 1);
			continue;
		}
		r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		if (r <= 0) {
			tend = now_ms();
			break;
		}
		n += (size_t)r;
		if (t408 == 0 && n >= 12)
			t408 = now_ms();
	}
	/* Go on sending until the server's close makes it fail. */
	while (tend != 0 && now_ms() - t0 < 4000) {
		struct timespec ts = { 0, 50 * 1000000 };
		if (send(fd, "v", 1, MSG_NOSIGNAL) == -1) {
			tgone = now_ms();
			break;
		}
		nanosleep(&ts, NULL);
	}
	close(fd);
	CHECK(n >= 13 && memcmp(buf, "HTTP/1.1 408 ", 13) == 0);
	CHECK(t408 >= t0 + FAST_TIMEOUT_MS - 20);
	CHECK(t408 < t0 + FAST_TIMEOUT_MS + 700);
	CHECK(tend != 0 && tend < t408 + 500);
	CHECK(tgone >= t408 + ADMIN_LINGER_MS - 100);
	CHECK(tgone != 0 && tgone < t408 + ADMIN_LINGER_MS + 700);

	/* Silent from the start: the same. */
	t0 = now_ms();
	fd = cl_connect(srv.port_fast);
	CHECK(fd != -1);
	if (fd == -1)
		return;
	n = 0;
	{
		int eof;
		n = cl_read_all(fd, buf, sizeof(buf), &eof);
		CHECK(eof);
	}
	close(fd);
	CHECK(n >= 13 && memcmp(buf, "HTTP/1.1 408 ", 13) == 0);
	CHECK(now_ms() - t0 >= FAST_TIMEOUT_MS - 20);
	CHECK(now_ms() - t0 < FAST_TIMEOUT_MS + 1500);
}

/* Clients that vanish at every stage; the server answers the next one. */
static void
test_disconnects(void)
{
	static const char partial[] = "GET /metrics HTTP/1.1\r\nHo";
	static const char big[] = "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
	struct linger lg = { 1, 0 };
	resp_t r;
	int fd;

	/* Nothing at all; half a head; half a head with a reset. */
	if ((fd = cl_connect(srv.port_std)) != -1)
		close(fd);
	if ((fd = cl_connect(srv.port_std)) != -1) {
		cl_send(fd, partial, sizeof(partial) - 1);
		close(fd);
	}
	if ((fd = cl_connect(srv.port_std)) != -1) {
		cl_send(fd, partial, sizeof(partial) - 1);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	/* A 3 MiB response nobody reads: reset, or just closed. */
	for (int i = 0; i < 3; i++) {
		if ((fd = cl_connect(srv.port_std)) == -1)
			continue;
		cl_send(fd, big, sizeof(big) - 1);
		if (i == 1) {
			char b[100];
			(void)!recv(fd, b, sizeof(b), 0);
		}
		if (i == 2)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	/* The client half-closes after its request: still answered. */
	if ((fd = cl_connect(srv.port_std)) != -1) {
		int eof;
		char b[1024];
		size_t n;

		cl_send(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25);
		shutdown(fd, SHUT_WR);
		n = cl_read_all(fd, b, sizeof(b), &eof);
		CHECK(eof);
		CHECK(n > 12 && memcmp(b, "HTTP/1.1 200 ", 13) == 0);
		close(fd);
	}
	exchange_str(srv.port_std, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
	    &r);
	CHECK_EQ_INT(r.status, 200);
	free(r.buf);
}

/* ADMIN_CONN_MAX + 1 at once: exactly one is closed at once, the others
 * are served, and so is the next one. */
static void
test_connection_limit(void)
{
	enum { N = ADMIN_CONN_MAX + 1 };
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
	int fds[N], closed = -1, nclosed = 0, nok = 0;
	uint64_t t0;
	resp_t r;

	for (int i = 0; i < N; i++)
		fds[i] = cl_connect(srv.port_crowd);
	/* The refused one sees EOF (or a reset) well before the
	 * others' deadline. */
	t0 = now_ms();
	while (now_ms() - t0 < 1000 && nclosed == 0) {
		struct pollfd pfds[N];
		for (int i = 0; i < N; i++) {
			pfds[i].fd = fds[i];
			pfds[i].events = POLLIN;
			pfds[i].revents = 0;
		}
		if (poll(pfds, N, 100) <= 0)
			continue;
		for (int i = 0; i < N; i++)
			if (pfds[i].revents != 0) {
				char b[16];
				CHECK(recv(fds[i], b, sizeof(b), 0) <= 0);
				closed = i;
				nclosed++;
			}
	}
	CHECK_EQ_INT(nclosed, 1);
	for (int i = 0; i < N; i++) {
		char b[1024];
		size_t n;
		int eof;

		if (i == closed || fds[i] == -1)
			continue;
		cl_send(fds[i], req, sizeof(req) - 1);
		n = cl_read_all(fds[i], b, sizeof(b), &eof);
		if (eof && n > 13 && memcmp(b, "HTTP/1.1 200 ", 13) == 0)
			nok++;
	}
	CHECK_EQ_INT(nok, N - 1);
	for (int i = 0; i < N; i++)
		if (fds[i] != -1)
			close(fds[i]);
	/* Served again once the server has seen those closes. */
	for (int i = 0; i < 40; i++) {
		struct timespec ts = { 0, 25 * 1000000 };
		exchange_str(srv.port_crowd, req, &r);
		free(r.buf);
		if (r.status == 200)
			break;
		nanosleep(&ts, NULL);
	}
	CHECK_EQ_INT(r.status, 200);
}

static void
test_ipv6(void)
{
	resp_t r;
	int fd;
	size_t cap = 4096;

	if (srv.v6 == NULL) {
		fprintf(stderr, "  (no ::1 here: skipped)\n");
		return;
	}
	fd = cl_connect_to(AF_INET6, srv.port_v6);
	CHECK(fd != -1);
	if (fd == -1)
		return;
	memset(&r, 0, sizeof(r));
	r.buf = malloc(cap);
	cl_send(fd, "GET /metrics HTTP/1.1\r\nHost: [::1]\r\n\r\n", 38);
	r.len = cl_read_all(fd, r.buf, cap, &r.eof);
	close(fd);
	resp_parse(&r);
	CHECK_EQ_INT(r.status, 200);
	free(r.buf);
}

/* admin_free from inside the handler: no answer, then no listener. */
static void
test_free_from_handler(void)
{
	resp_t r;
	int fd = -1;

	exchange_str(srv.port_victim, "GET /free HTTP/1.1\r\nHost: a\r\n\r\n",
	    &r);
	CHECK(r.eof);
	CHECK_EQ_INT(r.len, 0);
	free(r.buf);
	for (int i = 0; i < 50; i++) {
		struct timespec ts = { 0, 20 * 1000000 };
		if ((fd = cl_connect(srv.port_victim)) == -1)
			break;
		close(fd);
		nanosleep(&ts, NULL);
	}
	CHECK_EQ_INT(fd, -1);
}

static void
test_buf(void)
{
	admin_buf_t b;
	char *big = calloc(1, ADMIN_BODY_MAX);
	size_t step = ADMIN_BODY_MAX / 8;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	admin_buf_init(&b);
	CHECK_EQ_INT(admin_buf_printf(&b, "%s=%d\n", "x", 42), 0);
	CHECK_MEM(b.data, b.len, "x=42\n", 5);
	CHECK_EQ_INT(admin_buf_append(&b, "", 0), 0);
	CHECK_EQ_INT(b.len, 5);
	admin_buf_cleanup(&b);
	CHECK(b.data == NULL && b.len == 0 && !b.failed);

	/* Exactly ADMIN_BODY_MAX fits; one byte more fails, atomically. */
	for (size_t off = 0; off < ADMIN_BODY_MAX; off += step)
		CHECK_EQ_INT(admin_buf_append(&b, big + off, step), 0);
	CHECK_EQ_INT(b.len, ADMIN_BODY_MAX);
	CHECK(!b.failed);
	CHECK_EQ_INT(admin_buf_append(&b, "x", 1), -1);
	CHECK(b.failed);
	CHECK_EQ_INT(b.len, ADMIN_BODY_MAX);
	CHECK_EQ_INT(admin_buf_append(&b, "", 0), -1); /* failed stays */
	admin_buf_cleanup(&b);

	CHECK_EQ_INT(admin_buf_append(&b, big, ADMIN_BODY_MAX - 3), 0);
	CHECK_EQ_INT(admin_buf_printf(&b, "%s", "abcd"), -1);
	CHECK_EQ_INT(b.len, ADMIN_BODY_MAX - 3);
	CHECK_EQ_INT(admin_buf_printf(&b, "%s", "ab"), -1);
	admin_buf_cleanup(&b);
	CHECK_EQ_INT(admin_buf_append(&b, big, ADMIN_BODY_MAX - 3), 0);
	CHECK_EQ_INT(admin_buf_printf(&b, "%s", "abc"), 0);
	CHECK_EQ_INT(b.len, ADMIN_BODY_MAX);
	CHECK_MEM(b.data + b.len - 3, 3, "abc", 3);
	admin_buf_cleanup(&b);
	free(big);
}

/* Set-up ----------------------------------------------------------------- */

static admin_t *
start(const char *ip, uint64_t timeout_ms, int *port)
{
	struct sockaddr_storage ss;
	char err[128];
	admin_t *a;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL)
		uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)&ss);
	else
		uv_ip4_addr(ip, 0, (struct sockaddr_in *)&ss);
	a = admin_new(&srv.loop, (struct sockaddr *)&ss, handler, &srv, err,
	    sizeof(err));
	if (a == NULL) {
		fprintf(stderr, "admin_new %s: %s\n", ip, err);
		return NULL;
	}
	if (timeout_ms != 0)
		admin_set_timeout(a, timeout_ms);
	CHECK_EQ_INT(admin_sockname(a, &ss), 0);
	*port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	CHECK(*port > 0);
	return a;
}

static void
stop_cb(uv_async_t *h)
{
	admin_free(srv.std);
	admin_free(srv.fast);
	admin_free(srv.crowd);
	admin_free(srv.victim);
	admin_free(srv.v6);
	uv_close((uv_handle_t *)h, NULL);
}

static void *
loop_main(void *arg)
{
	(void)arg;
	uv_run(&srv.loop, UV_RUN_DEFAULT);
	return NULL;
}

/* admin_new's errors, before the loop thread starts. */
static void
test_new_errors(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	char err[128] = "";

	CHECK_EQ_INT(admin_sockname(srv.std, &ss), 0);
	CHECK(admin_new(&srv.loop, (struct sockaddr *)&ss, handler, &srv,
	    err, sizeof(err)) == NULL);
	CHECK(strstr(err, "in use") != NULL);
	err[0] = '\0';
	ss.ss_family = AF_UNIX;
	CHECK(admin_new(&srv.loop, (struct sockaddr *)&ss, handler, &srv,
	    err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
	/* 192.0.2.1 (TEST-NET-1) is not ours. */
	memset(&ss, 0, sizeof(ss));
	uv_ip4_addr("192.0.2.1", 0, a4);
	CHECK(admin_new(&srv.loop, (struct sockaddr *)&ss, handler, &srv,
	    err, sizeof(err)) == NULL);
	admin_free(NULL);
}

int
main(void)
{
	pthread_t th;
	int idle;
	char b[64];

	signal(SIGPIPE, SIG_IGN);
	alarm(60); /* a hang is a failure, not a stuck CI job */
	CHECK_EQ_INT(uv_loop_init(&srv.loop), 0);
	uv_async_init(&srv.loop, &srv.stop, stop_cb);
	srv.std = start("127.0.0.1", 0, &srv.port_std);
	srv.fast = start("127.0.0.1", FAST_TIMEOUT_MS, &srv.port_fast);
	srv.crowd = start("127.0.0.1", CROWD_TIMEOUT_MS, &srv.port_crowd);
	srv.victim = start("127.0.0.1", 0, &srv.port_victim);
	srv.v6 = start("::1", 0, &srv.port_v6);
	if (srv.std == NULL || srv.fast == NULL || srv.crowd == NULL ||
	    srv.victim == NULL)
		return 1;
	RUN(test_new_errors);
	RUN(test_buf);
	if (pthread_create(&th, NULL, loop_main, NULL) != 0)
		return 1;

	RUN(test_get);
	RUN(test_head);
	RUN(test_not_found);
	RUN(test_method_not_allowed);
	RUN(test_bad_requests);
	RUN(test_handler_errors);
	RUN(test_big_body);
	RUN(test_one_request_per_connection);
	RUN(test_byte_by_byte);
	RUN(test_slowloris);
	RUN(test_disconnects);
	RUN(test_connection_limit);
	RUN(test_ipv6);
	RUN(test_free_from_handler);

	/* admin_free closes connections in flight; the loop then ends with
	 * every handle closed. */
	idle = cl_connect(srv.port_std);
	CHECK(idle != -1);
	cl_send(idle, "GET /met", 8);
	uv_async_send(&srv.stop);
	pthread_join(th, NULL);
	CHECK_EQ_INT(uv_loop_close(&srv.loop), 0);
	if (idle != -1) {
		struct pollfd pfd = { .fd = idle, .events = POLLIN };
		CHECK_EQ_INT(poll(&pfd, 1, 0), 1);
		CHECK(recv(idle, b, sizeof(b), 0) <= 0);
		close(idle);
	}
	return CHECK_DONE();
}
