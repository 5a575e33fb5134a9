/* Unit tests for proxy/http.c: the request head parser and response heads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http.h"

/* A heap copy of exactly n bytes, so ASan builds see reads past n. */
static uint8_t *
dup_exact(const void *p, size_t n)
{
	uint8_t *q = malloc(n > 0 ? n : 1);

	if (q == NULL)
		abort();
	memcpy(q, p, n);
	return q;
}

/* http_parse on a fresh request over an exact copy of p[0..n). */
static http_status_t
parse_fresh(const void *p, size_t n, size_t *headlen)
{
	http_request_t req;
	uint8_t *q = dup_exact(p, n);
	http_status_t st;

	http_request_init(&req);
	st = http_parse(q, n, &req, headlen);
	free(q);
	return st;
}

/*
 * parse_all parses p[0..n) and checks that the answer does not depend on
 * how the bytes arrive: fed one byte more per call (each call on a new
 * exact copy, as if the buffer moved), the results are PARTIAL up to the
 * deciding byte and the final result afterwards, and each prefix parsed on
 * its own agrees with the incremental result at that length; a prefix
 * then the whole input gives the whole input's result. Returns the result
 * for the whole input; *req holds its fields (pointing into p).
 */
static http_status_t
parse_all(const void *p, size_t n, http_request_t *req, size_t *headlen)
{
	http_request_t inc;
	http_status_t whole, last = HTTP_PARTIAL;
	size_t hl_whole = 0;

	http_request_init(req);
	whole = http_parse(p, n, req, &hl_whole);
	*headlen = hl_whole;

	http_request_init(&inc);
	for (size_t k = 0; k <= n; k++) {
		uint8_t *q = dup_exact(p, k);
		size_t hl_inc = 0, hl_fresh = 0;
		http_status_t st = http_parse(q, k, &inc, &hl_inc);
		/* Parsing every prefix afresh is quadratic: for the long
		 * heads of the limit tests, both ends and a sample. */
		int all = n <= 1024 || k < 256 || n - k < 256 || k % 61 == 0;

		if (last != HTTP_PARTIAL)
			CHECK_EQ_INT(st, last);
		CHECK(st == HTTP_PARTIAL || st == whole);
		if (st == HTTP_OK) {
			CHECK_EQ_INT(hl_inc, hl_whole);
			CHECK(k >= hl_whole);
		}
		if (whole == HTTP_OK && k < hl_whole)
			CHECK_EQ_INT(st, HTTP_PARTIAL);
		last = st;
		free(q);
		if (all) {
			CHECK_EQ_INT(parse_fresh(p, k, &hl_fresh), st);
			if (st == HTTP_OK)
				CHECK_EQ_INT(hl_fresh, hl_whole);
		}

		/* A prefix, then the whole input, on one request. */
		if (k < n && all) {
			http_request_t two;
			size_t hl_two = 0;

			http_request_init(&two);
			q = dup_exact(p, k);
			http_parse(q, k, &two, &hl_two);
			free(q);
			CHECK_EQ_INT(http_parse(p, n, &two, &hl_two), whole);
			if (whole == HTTP_OK)
				CHECK_EQ_INT(hl_two, hl_whole);
		}
	}
	CHECK_EQ_INT(last, whole);
	return whole;
}

static http_status_t
parse_str(const char *s, http_request_t *req, size_t *headlen)
{
	return parse_all(s, strlen(s), req, headlen);
}

#define CHECK_SLICE(sl, str) CHECK_MEM((sl).p, (sl).len, (str), strlen(str))

static void
test_get(void)
{
	static const char h[] = "GET /metrics HTTP/1.1\r\nHost: localhost:9090"
	    "\r\nUser-Agent: Prometheus/2.45\r\nAccept: */*\r\n\r\n";
	http_request_t r;
	size_t hl = 0;

	CHECK_EQ_INT(parse_str(h, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(h) - 1);
	CHECK_SLICE(r.method, "GET");
	CHECK_SLICE(r.path, "/metrics");
	CHECK(r.query.p == NULL);
	CHECK_EQ_INT(r.query.len, 0);
	CHECK_EQ_INT(r.version_minor, 1);
	CHECK_EQ_INT(r.nheaders, 3);
	/* The slices point into the buffer given. */
	CHECK(r.method.p == (const uint8_t *)h);
	CHECK(r.path.p == (const uint8_t *)h + 4);
}

static void
test_trailing_bytes(void)
{
	/* A body or a pipelined request after the head is not read. */
	static const char h[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	    "GET /x HTTP/1.1\r\n\x01\x00garbage";
	http_request_t r;
	size_t hl = 0;

	CHECK_EQ_INT(parse_all(h, sizeof(h) - 1, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, 27);
	CHECK_SLICE(r.path, "/");
}

static void
test_head_and_methods(void)
{
	http_request_t r;
	size_t hl;

	CHECK_EQ_INT(parse_str("HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n", &r,
	    &hl), HTTP_OK);
	CHECK_SLICE(r.method, "HEAD");
	CHECK_SLICE(r.path, "/healthz");
	/* Any token is a method for the parser; the server picks. */
	CHECK_EQ_INT(parse_str("POST /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 3\r\n\r\nabc", &r, &hl), HTTP_OK);
	CHECK_SLICE(r.method, "POST");
	CHECK_EQ_INT(parse_str("M-SEARCH~! / HTTP/1.1\r\nHost: a\r\n\r\n", &r,
	    &hl), HTTP_OK);
	CHECK_SLICE(r.method, "M-SEARCH~!");
	/* Methods are case-sensitive: kept as sent. */
	CHECK_EQ_INT(parse_str("get / HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl),
	    HTTP_OK);
	CHECK_SLICE(r.method, "get");
	CHECK_EQ_INT(parse_str("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r,
	    &hl), HTTP_OK);
	CHECK_SLICE(r.path, "*");
	CHECK_EQ_INT(parse_str("GET * HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl),
	    HTTP_BAD);
}

static void
test_query(void)
{
	http_request_t r;
	size_t hl;

	CHECK_EQ_INT(parse_str("GET /a/b?x=1&y=%2F/?z HTTP/1.1\r\nHost: a\r\n"
	    "\r\n", &r, &hl), HTTP_OK);
	CHECK_SLICE(r.path, "/a/b");
	CHECK_SLICE(r.query, "x=1&y=%2F/?z");
	CHECK_EQ_INT(parse_str("GET /?  HTTP/1.1\r\n\r\n", &r, &hl), HTTP_BAD);
	/* An empty query is still a query. */
	CHECK_EQ_INT(parse_str("GET /m? HTTP/1.1\r\nHost: a\r\n\r\n", &r, &hl),
	    HTTP_OK);
	CHECK_SLICE(r.path, "/m");
	CHECK(r.query.p != NULL);
	CHECK_EQ_INT(r.query.len, 0);
	CHECK_EQ_INT(parse_str("GET /%41%7e:@!$&'()*+,;=-._~ HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", &r, &hl), HTTP_OK);
	CHECK_SLICE(r.path, "/%41%7e:@!$&'()*+,;=-._~");
	CHECK(r.query.p == NULL);
}

static void
test_absolute_form(void)
{
	http_request_t r;
	size_t hl;

	CHECK_EQ_INT(parse_str("GET http://h:9/metrics?a HTTP/1.1\r\nHost: h:9"
	    "\r\n\r\n", &r, &hl), HTTP_OK);
	CHECK_SLICE(r.path, "/metrics");
	CHECK_SLICE(r.query, "a");
	CHECK_EQ_INT(parse_str("GET HTTPS://[::1]:9 HTTP/1.1\r\nHost: [::1]:9"
	    "\r\n\r\n", &r, &hl), HTTP_OK);
	CHECK_SLICE(r.path, "/");
	CHECK(r.query.p == NULL);
	CHECK_EQ_INT(parse_str("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n",
	    &r, &hl), HTTP_OK);
	CHECK_SLICE(r.path, "/");
	CHECK_SLICE(r.query, "q");
	CHECK_EQ_INT(parse_str("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", &r,
	    &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", &r,
	    &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET http:/h HTTP/1.1\r\nHost: h\r\n\r\n", &r,
	    &hl), HTTP_BAD);
}

static void
test_versions_and_host(void)
{
	http_request_t r;
	size_t hl;

	/* HTTP/1.0 may leave Host out; 1.1 (and later 1.x) may not. */
	CHECK_EQ_INT(parse_str("GET / HTTP/1.0\r\n\r\n", &r, &hl), HTTP_OK);
	CHECK_EQ_INT(r.version_minor, 0);
	CHECK_EQ_INT(r.nheaders, 0);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\n\r\n", &r, &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.9\r\nHoSt: a\r\n\r\n", &r, &hl),
	    HTTP_OK);
	CHECK_EQ_INT(r.version_minor, 9);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
	    &r, &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n",
	    &r, &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", &r, &hl),
	    HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", &r, &hl),
	    HTTP_BAD);
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost: \t[::1]:8080 \r\n\r\n",
	    &r, &hl), HTTP_OK);
	/* Empty Host is valid (RFC 9112 3.2). */
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r, &hl),
	    HTTP_OK);

	CHECK_EQ_INT(parse_str("GET / HTTP/2.0\r\n\r\n", &r, &hl),
	    HTTP_BAD_VERSION);
	CHECK_EQ_INT(parse_str("GET / HTTP/0.9\r\n\r\n", &r, &hl),
	    HTTP_BAD_VERSION);
	/* The HTTP/2 preface gets a 505, not a 400. */
	CHECK_EQ_INT(parse_str("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &r, &hl),
	    HTTP_BAD_VERSION);
	/* Decided at the end of the request line: no header needed. */
	CHECK_EQ_INT(parse_fresh("GET / HTTP/3.0\r\n", 16, &hl),
	    HTTP_BAD_VERSION);
}

static void
test_bad(void)
{
	static const char *const bad[] = {
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
		"GET /  HTTP/1.1\r\nHost: a\r\n\r\n",
		" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\r\n\r\n",
		"GET\r\n\r\n",
		"GET / http/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.x\r\nHost: a\r\n\r\n",
		"GET / HTTP/11\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\tHost: a\r\n\r\n",
		"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET foo HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a% HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a<b> HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /?a b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\rHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
		"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost a\r\n\r\n",
		"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nX(y): a\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  /* TLS hello */
	};
	http_request_t r;
	size_t hl;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_status_t st = parse_str(bad[i], &r, &hl);
		if (st != HTTP_BAD)
			fprintf(stderr, "bad[%zu]: %d\n", i, (int)st);
		CHECK_EQ_INT(st, HTTP_BAD);
	}
}

static void
test_nul(void)
{
	static const char nul_line[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char nul_value[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b"
	    "\r\n\r\n";
	static const char nul_first[] = "\0GET / HTTP/1.1\r\n\r\n";
	http_request_t r;
	size_t hl;

	CHECK_EQ_INT(parse_all(nul_line, sizeof(nul_line) - 1, &r, &hl),
	    HTTP_BAD);
	CHECK_EQ_INT(parse_all(nul_value, sizeof(nul_value) - 1, &r, &hl),
	    HTTP_BAD);
	CHECK_EQ_INT(parse_all(nul_first, sizeof(nul_first) - 1, &r, &hl),
	    HTTP_BAD);
	/* Decided at the NUL, before any line ends. */
	CHECK_EQ_INT(parse_fresh(nul_first, 1, &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_fresh(nul_line, 6, &hl), HTTP_BAD);
	CHECK_EQ_INT(parse_fresh(nul_line, 5, &hl), HTTP_PARTIAL);
}

static void
test_values_tolerated(void)
{
	http_request_t r;
	size_t hl;

	/* Octets over 0x7f are fine in values, not in names. */
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: "
	    "caf\xc3\xa9\t \r\nConnection: keep-alive\r\n"
	    "Transfer-Encoding: chunked\r\nX:\r\n!#$%&'*+-.^_`|~9: v\r\n\r\n",
	    &r, &hl), HTTP_BAD);
	/* Tabs, odd spacing and fields we do not use are all fine. */
	CHECK_EQ_INT(parse_str("GET / HTTP/1.1\r\nHost: a\r\nX-Y: "
	    "caf\xc3\xa9\t \r\nConnection: keep-alive\r\n"
	    "Transfer-Encoding: chunked\r\nX:\r\n!#$%&'*+-.^_`|~9: v\r\n\r\n",
	    &r, &hl), HTTP_OK);
	CHECK_EQ_INT(r.nheaders, 6);
}

static void
test_bare_lf(void)
{
	static const char lf[] = "GET /x HTTP/1.1\nHost: a\n\n";
	static const char mixed[] = "GET /x HTTP/1.1\r\nHost: a\n\r\nrest";
	static const char mixed2[] = "GET /x HTTP/1.1\nHost: a\r\n\n";
	http_request_t r;
	size_t hl;

	CHECK_EQ_INT(parse_str(lf, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(lf) - 1);
	CHECK_SLICE(r.path, "/x");
	CHECK_EQ_INT(parse_str(mixed, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(mixed) - 1 - 4);
	CHECK_EQ_INT(parse_str(mixed2, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(mixed2) - 1);
	/* A CR at the end is not judged until the next byte. */
	CHECK_EQ_INT(parse_fresh("GET / HTTP/1.0\r", 15, &hl), HTTP_PARTIAL);
	CHECK_EQ_INT(parse_fresh("GET / HTTP/1.0\rX", 16, &hl), HTTP_BAD);
}

static void
test_leading_empty_lines(void)
{
	static const char h[] = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	http_request_t r;
	size_t hl;

	CHECK_EQ_INT(parse_str(h, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(h) - 1);
	CHECK(r.method.p == (const uint8_t *)h + 5);
}

/* Writes "GET /aaa... HTTP/1.1\r\n" of exactly len bytes into b. */
static size_t
make_request_line(char *b, size_t len)
{
	static const char pre[] = "GET /", post[] = " HTTP/1.1\r\n";
	size_t fill = len - (sizeof(pre) - 1) - (sizeof(post) - 1);

	memcpy(b, pre, sizeof(pre) - 1);
	memset(b + sizeof(pre) - 1, 'a', fill);
	memcpy(b + sizeof(pre) - 1 + fill, post, sizeof(post) - 1);
	return len;
}

static void
test_request_line_limit(void)
{
	static char b[HTTP_HEAD_MAX + 64];
	http_request_t r;
	size_t n, hl;

	/* Exactly HTTP_REQUEST_LINE_MAX with its CRLF: fine. */
	n = make_request_line(b, HTTP_REQUEST_LINE_MAX);
	memcpy(b + n, "Host: a\r\n\r\n", 11);
	CHECK_EQ_INT(parse_all(b, n + 11, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(r.path.len, HTTP_REQUEST_LINE_MAX - 15);
	/* One more: 414, decided at the CR whose LF would not fit. */
	n = make_request_line(b, HTTP_REQUEST_LINE_MAX + 1);
	memcpy(b + n, "Host: a\r\n\r\n", 11);
	CHECK_EQ_INT(parse_all(b, n + 11, &r, &hl), HTTP_URI_TOO_LONG);
	CHECK_EQ_INT(parse_fresh(b, HTTP_REQUEST_LINE_MAX, &hl),
	    HTTP_URI_TOO_LONG);
	CHECK_EQ_INT(parse_fresh(b, HTTP_REQUEST_LINE_MAX - 1, &hl),
	    HTTP_PARTIAL);
	/* With a bare LF: exactly at the limit, then one over. */
	n = make_request_line(b, HTTP_REQUEST_LINE_MAX + 1);
	b[n - 2] = '\n';
	memcpy(b + n - 1, "Host: a\n\n", 9);
	CHECK_EQ_INT(parse_fresh(b, n + 8, &hl), HTTP_OK);
	n = make_request_line(b, HTTP_REQUEST_LINE_MAX + 2);
	b[n - 2] = '\n';
	memcpy(b + n - 1, "Host: a\n\n", 9);
	CHECK_EQ_INT(parse_fresh(b, n + 8, &hl), HTTP_URI_TOO_LONG);
	/* A line without an end: 414 as soon as no LF can fit. */
	memset(b, 'A', HTTP_REQUEST_LINE_MAX + 1);
	CHECK_EQ_INT(parse_fresh(b, HTTP_REQUEST_LINE_MAX - 1, &hl),
	    HTTP_PARTIAL);
	CHECK_EQ_INT(parse_fresh(b, HTTP_REQUEST_LINE_MAX, &hl),
	    HTTP_URI_TOO_LONG);
	/* The bound is per line: leading empty lines do not count. */
	memcpy(b, "\r\n\r\n", 4);
	n = make_request_line(b + 4, HTTP_REQUEST_LINE_MAX);
	memcpy(b + 4 + n, "Host: a\r\n\r\n", 11);
	CHECK_EQ_INT(parse_fresh(b, n + 15, &hl), HTTP_OK);
	/* Header lines may be longer than a request line. */
	n = make_request_line(b, 20);
	memcpy(b + n, "Host: a\r\nX: ", 12);
	memset(b + n + 12, 'v', HTTP_REQUEST_LINE_MAX);
	memcpy(b + n + 12 + HTTP_REQUEST_LINE_MAX, "\r\n\r\n", 4);
	CHECK_EQ_INT(parse_fresh(b, n + 16 + HTTP_REQUEST_LINE_MAX, &hl),
	    HTTP_OK);
}

/* A head of exactly total bytes: request line, Host, one long field. */
static size_t
make_head(char *b, size_t total, const char *end)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t el = strlen(end);
	size_t fill = total - (sizeof(pre) - 1) - el;

	memcpy(b, pre, sizeof(pre) - 1);
	memset(b + sizeof(pre) - 1, 'v', fill);
	memcpy(b + sizeof(pre) - 1 + fill, end, el);
	return total;
}

static void
test_head_limit(void)
{
	static char b[HTTP_HEAD_MAX + 64];
	http_request_t r;
	size_t n, hl = 0;

	n = make_head(b, HTTP_HEAD_MAX, "\r\n\r\n");
	CHECK_EQ_INT(parse_all(b, n, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, HTTP_HEAD_MAX);
	n = make_head(b, HTTP_HEAD_MAX, "\n\n");
	CHECK_EQ_INT(parse_fresh(b, n, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, HTTP_HEAD_MAX);

	n = make_head(b, HTTP_HEAD_MAX + 1, "\r\n\r\n");
	CHECK_EQ_INT(parse_all(b, n, &r, &hl), HTTP_TOO_LARGE);
	CHECK_EQ_INT(parse_fresh(b, HTTP_HEAD_MAX - 2, &hl), HTTP_PARTIAL);
	/* Its last CR is at HTTP_HEAD_MAX - 1: the LF cannot fit. */
	CHECK_EQ_INT(parse_fresh(b, HTTP_HEAD_MAX, &hl), HTTP_TOO_LARGE);
	n = make_head(b, HTTP_HEAD_MAX + 1, "\n\n");
	CHECK_EQ_INT(parse_all(b, n, &r, &hl), HTTP_TOO_LARGE);
	/* A field line ends at HTTP_HEAD_MAX: no room for the empty line. */
	CHECK_EQ_INT(parse_fresh(b, HTTP_HEAD_MAX - 1, &hl), HTTP_PARTIAL);
	CHECK_EQ_INT(parse_fresh(b, HTTP_HEAD_MAX, &hl), HTTP_TOO_LARGE);
	/* The server's buffer holds HTTP_HEAD_MAX bytes: a verdict is due
	 * by then, whatever they are. */
	memset(b, 'v', sizeof(b));
	n = make_head(b, HTTP_HEAD_MAX - 1, "\r\n");
	CHECK_EQ_INT(parse_fresh(b, HTTP_HEAD_MAX - 1, &hl), HTTP_PARTIAL);
	CHECK_EQ_INT(parse_fresh(b, HTTP_HEAD_MAX, &hl), HTTP_TOO_LARGE);
	n = make_head(b, HTTP_HEAD_MAX, "x");
	CHECK_EQ_INT(parse_fresh(b, n, &hl), HTTP_TOO_LARGE);
}

static void
test_header_count(void)
{
	static char b[HTTP_HEAD_MAX];
	http_request_t r;
	size_t n, hl;

	n = (size_t)snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < HTTP_HEADERS_MAX; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "X%d: %d\r\n", i,
		    i);
	memcpy(b + n, "\r\n", 2);
	CHECK_EQ_INT(parse_all(b, n + 2, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(r.nheaders, HTTP_HEADERS_MAX);
	n += (size_t)snprintf(b + n, sizeof(b) - n, "X: y\r\n\r\n");
	CHECK_EQ_INT(parse_fresh(b, n, &hl), HTTP_TOO_LARGE);
	CHECK_EQ_INT(http_status_code(HTTP_TOO_LARGE), 431);
}

static void
test_sticky(void)
{
	static const char h[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nmore";
	http_request_t r;
	size_t hl = 0;
	uint8_t *q;

	http_request_init(&r);
	CHECK_EQ_INT(http_parse((const uint8_t *)h, 20, &r, &hl),
	    HTTP_PARTIAL);
	/* Shorter than before: the caller broke the contract. */
	CHECK_EQ_INT(http_parse((const uint8_t *)h, 10, &r, &hl), HTTP_BAD);
	CHECK_EQ_INT(http_parse((const uint8_t *)h, 27, &r, &hl), HTTP_BAD);

	http_request_init(&r);
	CHECK_EQ_INT(http_parse((const uint8_t *)h, 27, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, 27);
	/* Called again on a moved copy: same answer, new pointers. */
	q = dup_exact(h, sizeof(h) - 1);
	hl = 0;
	CHECK_EQ_INT(http_parse(q, sizeof(h) - 1, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, 27);
	CHECK(r.path.p == q + 4);
	free(q);

	http_request_init(&r);
	CHECK_EQ_INT(http_parse((const uint8_t *)"", 0, &r, &hl),
	    HTTP_PARTIAL);
	CHECK_EQ_INT(http_parse(NULL, 0, &r, &hl), HTTP_PARTIAL);
}

static void
test_status_codes(void)
{
	CHECK_EQ_INT(http_status_code(HTTP_PARTIAL), 0);
	CHECK_EQ_INT(http_status_code(HTTP_OK), 0);
	CHECK_EQ_INT(http_status_code(HTTP_BAD), 400);
	CHECK_EQ_INT(http_status_code(HTTP_TOO_LARGE), 431);
	CHECK_EQ_INT(http_status_code(HTTP_URI_TOO_LONG), 414);
	CHECK_EQ_INT(http_status_code(HTTP_BAD_VERSION), 505);
	CHECK(strcmp(http_reason(200), "OK") == 0);
	CHECK(strcmp(http_reason(405), "Method Not Allowed") == 0);
	CHECK(strcmp(http_reason(431), "Request Header Fields Too Large") == 0);
	CHECK(strcmp(http_reason(299), "") == 0);
}

static void
test_response(void)
{
	static const char want200[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4\r\n"
	    "Content-Length: 1234\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n";
	static const char want404[] = "HTTP/1.1 404 Not Found\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 0\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n";
	static const char want405[] = "HTTP/1.1 405 Method Not Allowed\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 19\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n"
	    "Allow: GET, HEAD\r\n\r\n";
	static const char want204[] = "HTTP/1.1 204 No Content\r\n"
	    "Cache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n";
	char out[512];
	size_t n;

	n = http_response(out, sizeof(out), 200, "text/plain; version=0.0.4",
	    1234);
	CHECK_MEM(out, n, want200, sizeof(want200) - 1);
	CHECK_EQ_INT(out[n], '\0');
	n = http_response(out, sizeof(out), 404, NULL, 0);
	CHECK_MEM(out, n, want404, sizeof(want404) - 1);
	n = http_response_extra(out, sizeof(out), 405, NULL, 19,
	    "Allow: GET, HEAD\r\n");
	CHECK_MEM(out, n, want405, sizeof(want405) - 1);
	n = http_response(out, sizeof(out), 204, NULL, 0);
	CHECK_MEM(out, n, want204, sizeof(want204) - 1);
	CHECK_EQ_INT(http_response(out, sizeof(out), 204, NULL, 1), 0);
	n = http_response(out, sizeof(out), 299, NULL, 0);
	CHECK(n > 0 && memcmp(out, "HTTP/1.1 299 \r\n", 15) == 0);

	/* Exactly enough room (with the NUL), and one byte less. */
	CHECK_EQ_INT(http_response(out, sizeof(want200), 200,
	    "text/plain; version=0.0.4", 1234), sizeof(want200) - 1);
	CHECK_EQ_INT(http_response(out, sizeof(want200) - 1, 200,
	    "text/plain; version=0.0.4", 1234), 0);
	CHECK_EQ_INT(http_response(out, 10, 200, NULL, 0), 0);
	CHECK_EQ_INT(http_response(out, 0, 200, NULL, 0), 0);

	CHECK_EQ_INT(http_response(out, sizeof(out), 199, NULL, 0), 0);
	CHECK_EQ_INT(http_response(out, sizeof(out), 600, NULL, 0), 0);
	CHECK_EQ_INT(http_response(out, sizeof(out), -200, NULL, 0), 0);
	CHECK_EQ_INT(http_response(out, sizeof(out), 200,
	    "text/plain\r\nSet-Cookie: x", 0), 0);
	CHECK_EQ_INT(http_response(out, sizeof(out), 200, "a\nb", 0), 0);
	CHECK_EQ_INT(http_response_extra(out, sizeof(out), 200, NULL, 0,
	    "X: y"), 0);
	CHECK_EQ_INT(http_response_extra(out, sizeof(out), 200, NULL, 0,
	    "X: y\n"), 0);
	CHECK_EQ_INT(http_response_extra(out, sizeof(out), 200, NULL, 0,
	    "X: y\rZ: w\r\n"), 0);
	CHECK_EQ_INT(http_response_extra(out, sizeof(out), 200, NULL, 0,
	    "X: y\r\n\r\nbody"), 0);
	CHECK_EQ_INT(http_response_extra(out, sizeof(out), 200, NULL, 0,
	    "\r\n"), 0);
	n = http_response_extra(out, sizeof(out), 200, NULL, 0,
	    "A: b\r\nC: d\r\n");
	CHECK(n > 14 && memcmp(out + n - 14, "A: b\r\nC: d\r\n\r\n", 14) == 0);
	n = http_response_extra(out, sizeof(out), 200, NULL, 0, "");
	CHECK(n > 0 && memcmp(out + n - 21, "Connection: close\r\n\r\n",
	    21) == 0);
}

static void
test_date(void)
{
	char b[HTTP_DATE_LEN + 1];

	CHECK_EQ_INT(http_date(b, sizeof(b), 784111777), 0);
	CHECK_MEM(b, strlen(b), "Sun, 06 Nov 1994 08:49:37 GMT",
	    HTTP_DATE_LEN);
	CHECK_EQ_INT(http_date(b, sizeof(b), 0), 0);
	CHECK_MEM(b, strlen(b), "Thu, 01 Jan 1970 00:00:00 GMT",
	    HTTP_DATE_LEN);
	CHECK_EQ_INT(http_date(b, sizeof(b), 951782400), 0);
	CHECK_MEM(b, strlen(b), "Tue, 29 Feb 2000 00:00:00 GMT",
	    HTTP_DATE_LEN);
	CHECK_EQ_INT(http_date(b, sizeof(b) - 1, 0), -1);
	if (sizeof(time_t) > 4)
		CHECK_EQ_INT(http_date(b, sizeof(b), (time_t)400000000000),
		    -1);
}

/* Response heads --------------------------------------------------------- */

/*
 * rparse parses a response head from p[0..n) and checks, as parse_all does
 * for requests, that the verdict does not depend on the splits: one byte
 * more per call on a moved exact copy, and every prefix afresh (sampled
 * for long heads). Returns the verdict for the whole input.
 */
static http_status_t
rparse_n(const void *p, size_t n, http_response_t *resp, size_t *headlen)
{
	http_response_t inc;
	http_status_t whole, last = HTTP_PARTIAL;
	uint8_t *q = dup_exact(p, n);
	size_t hl_whole = 0;

	http_response_init(resp);
	whole = http_response_parse(q, n, resp, &hl_whole);
	free(q);
	*headlen = hl_whole;
	http_response_init(&inc);
	for (size_t k = 0; k <= n; k++) {
		size_t hl = 0;
		http_status_t st;

		q = dup_exact(p, k);
		st = http_response_parse(q, k, &inc, &hl);
		free(q);
		if (last != HTTP_PARTIAL)
			CHECK_EQ_INT(st, last);
		CHECK(st == HTTP_PARTIAL || st == whole);
		if (st == HTTP_OK)
			CHECK_EQ_INT(hl, hl_whole);
		if (n <= 1024 || k % 97 == 0 || n - k < 64) {
			http_response_t fresh;
			size_t hf = 0;

			http_response_init(&fresh);
			q = dup_exact(p, k);
			CHECK_EQ_INT(http_response_parse(q, k, &fresh, &hf),
			    st);
			free(q);
		}
		last = st;
	}
	CHECK_EQ_INT(last, whole);
	if (whole == HTTP_OK)
		CHECK(inc.code == resp->code && inc.framing == resp->framing &&
		    inc.text_plain == resp->text_plain &&
		    inc.content_length == resp->content_length &&
		    inc.version_minor == resp->version_minor);
	return whole;
}

static http_status_t
rparse(const char *s, http_response_t *resp)
{
	size_t hl;

	return rparse_n(s, strlen(s), resp, &hl);
}

/* The head is refused with st. */
static void
rbad(const char *s, http_status_t st)
{
	http_response_t r;

	if (rparse(s, &r) != st)
		fprintf(stderr, "  got %d: [%s]\n", rparse(s, &r), s);
	CHECK_EQ_INT(rparse(s, &r), st);
}

static void
test_response_status_line(void)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
	http_response_t r;
	size_t hl;

	CHECK_EQ_INT(rparse_n(ok, sizeof(ok) - 1, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(ok) - 1 - 5);
	CHECK_EQ_INT(r.code, 200);
	CHECK_EQ_INT(r.version_minor, 1);
	CHECK_EQ_INT(r.text_plain, 1);
	CHECK_EQ_INT(r.framing, HTTP_FRAMING_LENGTH);
	CHECK_EQ_INT(r.content_length, 5);
	CHECK_EQ_INT(r.nheaders, 2);

	CHECK_EQ_INT(rparse("HTTP/1.0 200 OK\n\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.version_minor, 0);
	CHECK_EQ_INT(r.framing, HTTP_FRAMING_CLOSE);
	CHECK_EQ_INT(r.text_plain, 0);
	CHECK_EQ_INT(rparse("HTTP/1.1 404 Not Found\r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.code, 404);
	CHECK_EQ_INT(rparse("HTTP/1.1 301 Moved Permanently\r\nLocation: "
	    "https://evil.example/\r\nContent-Length: 0\r\n\r\n", &r),
	    HTTP_OK);
	CHECK_EQ_INT(r.code, 301);
	/* The reason phrase: anything printable, or nothing at all. */
	CHECK_EQ_INT(rparse("HTTP/1.1 200\r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(rparse("HTTP/1.1 200 \r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(rparse("HTTP/1.1 200 D\xc3\xa9j\xe0\tvu  !\r\n\r\n", &r),
	    HTTP_OK);
	CHECK_EQ_INT(rparse("HTTP/1.1 599 x\r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.code, 599);

	rbad("HTTP/1.2 200 OK\r\n\r\n", HTTP_BAD_VERSION);
	rbad("HTTP/2.0 200 OK\r\n\r\n", HTTP_BAD_VERSION);
	rbad("HTTP/0.9 200 OK\r\n\r\n", HTTP_BAD_VERSION);
	rbad("HTTP/2 200 OK\r\n\r\n", HTTP_BAD);
	rbad("http/1.1 200 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 20 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 2000 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 600 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 099 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 2x0 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1  200 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1\t200 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200\tOK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 O\x01K\r\n\r\n", HTTP_BAD);
	rbad("\r\nHTTP/1.1 200 OK\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\r\n\r\n", HTTP_BAD);
	rbad("SMTP/1.1 200 OK\r\n\r\n", HTTP_BAD);
	/* 101 was never asked for. */
	rbad("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
	    HTTP_BAD);
}

static void
test_response_interim(void)
{
	static const char two[] = "HTTP/1.1 100 Continue\r\n"
	    "Content-Length: 9\r\nContent-Type: text/html\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 2\r\n\r\nok";
	http_response_t r;
	size_t hl;

	/* Skipped, their fields forgotten: no duplicate, no stale value. */
	CHECK_EQ_INT(rparse_n(two, sizeof(two) - 1, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, sizeof(two) - 1 - 2);
	CHECK_EQ_INT(r.code, 200);
	CHECK_EQ_INT(r.content_length, 2);
	CHECK_EQ_INT(r.text_plain, 1);
	CHECK_EQ_INT(r.nheaders, 2);
	CHECK_EQ_INT(rparse("HTTP/1.1 100 Continue\r\nContent-Type: "
	    "text/plain\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.text_plain, 0);
	CHECK_EQ_INT(rparse("HTTP/1.1 100 Continue\r\n\r\n", &r),
	    HTTP_PARTIAL);
	rbad("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX : y\r\n\r\n",
	    HTTP_BAD);
	rbad("HTTP/1.1 100 Continue\r\nX : y\r\n\r\n", HTTP_BAD);
}

static void
test_response_fields(void)
{
	http_response_t r;

	/* Content-Type: the media type alone, case-insensitive. */
	static const struct {
		const char *ct;
		int plain;
	} cts[] = {
		{ "text/plain", 1 }, { "TEXT/Plain", 1 },
		{ "text/plain; charset=utf-8", 1 },
		{ "text/plain ;charset=\"x\"", 1 }, { " text/plain\t", 1 },
		{ "text/plain;", 1 }, { "text/html", 0 }, { "text/plainx", 0 },
		{ "text/plain/x", 0 }, { "text/plai", 0 }, { "", 0 },
		{ "text/plain, text/html", 0 }, { "text /plain", 0 },
		{ "application/octet-stream", 0 },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type:%s"
		    "\r\n\r\n", cts[i].ct);
		CHECK_EQ_INT(rparse(buf, &r), HTTP_OK);
		if (r.text_plain != cts[i].plain)
			fprintf(stderr, "  content-type [%s]\n", cts[i].ct);
		CHECK_EQ_INT(r.text_plain, cts[i].plain);
	}
	rbad("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "content-type: text/plain\r\n\r\n", HTTP_BAD);

	/* Content-Length: 1*DIGIT, once. */
	CHECK_EQ_INT(rparse("HTTP/1.1 200 OK\r\ncontent-length:  007 \r\n\r\n",
	    &r), HTTP_OK);
	CHECK_EQ_INT(r.content_length, 7);
	CHECK_EQ_INT(rparse("HTTP/1.1 200 OK\r\nContent-Length: "
	    "99999999999999999999999999\r\n\r\n", &r), HTTP_OK);
	CHECK(r.content_length == UINT64_MAX);
	rbad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
	    "\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", HTTP_BAD);

	/* Transfer-Encoding: exactly chunked, once, never with a length. */
	CHECK_EQ_INT(rparse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n"
	    "\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.framing, HTTP_FRAMING_CHUNKED);
	rbad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	    HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    HTTP_BAD);
	/* 204 and 304 have no body, whatever the fields say. */
	CHECK_EQ_INT(rparse("HTTP/1.1 204 No Content\r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.framing, HTTP_FRAMING_NONE);
	CHECK_EQ_INT(rparse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9"
	    "\r\n\r\n", &r), HTTP_OK);
	CHECK_EQ_INT(r.framing, HTTP_FRAMING_NONE);

	/* Field syntax, as in requests. */
	rbad("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", HTTP_BAD);
	rbad("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", HTTP_BAD);
	rparse("HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\t x\r\n\r\n", &r);
	CHECK_EQ_INT(r.status_, HTTP_OK);
	{
		static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
		size_t hl;

		CHECK_EQ_INT(rparse_n(nul, sizeof(nul) - 1, &r, &hl), HTTP_BAD);
	}
}

static void
test_response_limits(void)
{
	static char buf[HTTP_RESPONSE_HEAD_MAX + 64];
	http_response_t r;
	size_t off, hl;

	/* The status line: HTTP_STATUS_LINE_MAX with its CRLF. */
	off = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 ");
	memset(buf + off, 'x', HTTP_STATUS_LINE_MAX - 2 - off);
	memcpy(buf + HTTP_STATUS_LINE_MAX - 2, "\r\n\r\n", 5);
	CHECK_EQ_INT(rparse_n(buf, HTTP_STATUS_LINE_MAX + 2, &r, &hl),
	    HTTP_OK);
	memset(buf + off, 'x', HTTP_STATUS_LINE_MAX - 1 - off);
	memcpy(buf + HTTP_STATUS_LINE_MAX - 1, "\r\n\r\n", 5);
	CHECK_EQ_INT(rparse_n(buf, HTTP_STATUS_LINE_MAX + 3, &r, &hl),
	    HTTP_TOO_LARGE);

	/* HTTP_HEADERS_MAX field lines, not one more. */
	off = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < HTTP_HEADERS_MAX; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "X-%d: y\r\n", i);
	memcpy(buf + off, "\r\n", 3);
	CHECK_EQ_INT(rparse_n(buf, off + 2, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(r.nheaders, HTTP_HEADERS_MAX);
	memcpy(buf + off, "Z: 1\r\n\r\n", 9);
	CHECK_EQ_INT(rparse_n(buf, off + 8, &r, &hl), HTTP_TOO_LARGE);

	/* The whole head: HTTP_RESPONSE_HEAD_MAX, its empty line included. */
	off = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nX: ");
	memset(buf + off, 'v', HTTP_RESPONSE_HEAD_MAX - 4 - off);
	memcpy(buf + HTTP_RESPONSE_HEAD_MAX - 4, "\r\n\r\n", 4);
	CHECK_EQ_INT(rparse_n(buf, HTTP_RESPONSE_HEAD_MAX, &r, &hl), HTTP_OK);
	CHECK_EQ_INT(hl, HTTP_RESPONSE_HEAD_MAX);
	buf[HTTP_RESPONSE_HEAD_MAX - 4] = 'v';
	memcpy(buf + HTTP_RESPONSE_HEAD_MAX - 3, "\r\n\r\n", 4);
	CHECK_EQ_INT(rparse_n(buf, HTTP_RESPONSE_HEAD_MAX + 1, &r, &hl),
	    HTTP_TOO_LARGE);
	/* At the bound the verdict comes without a byte more. */
	CHECK_EQ_INT(rparse_n(buf, HTTP_RESPONSE_HEAD_MAX, &r, &hl),
	    HTTP_TOO_LARGE);
}

/* Response bodies -------------------------------------------------------- */

/*
 * body feeds a response's bytes: the head is parsed, then the body bytes
 * b[0..n) go to the decoder whole, byte by byte, and in two pieces at
 * every split (every tenth for long bodies); eof says whether the server
 * closes after them. All runs must agree on the verdict, the decoded
 * bytes and the octets used. Returns the verdict; the body in out.
 */
static http_status_t
body_run(const char *head, const void *b, size_t n, size_t max, int eof,
    uint8_t *out, size_t *outlen)
{
	http_response_t r;
	http_status_t whole = HTTP_PARTIAL;
	size_t used_whole = 0;

	if (rparse(head, &r) != HTTP_OK) {
		CHECK(0);
		return HTTP_BAD;
	}
	for (size_t split = 0; split <= n + 1; split++) {
		http_body_t d;
		uint8_t *o, *q;
		http_status_t st = HTTP_PARTIAL;
		size_t used = 0, u;

		if (split > 0 && split <= n && n > 256 && split % 10 != 0)
			continue;
		o = malloc(max > 0 ? max : 1);
		q = dup_exact(b, n);
		if (o == NULL)
			abort();
		http_response_body_init(&d, &r, o, max);
		if (split == n + 1) {
			/* Byte by byte. */
			for (size_t i = 0; i < n; i++) {
				st = http_response_body_feed(&d, q + i, 1, &u);
				used += u;
			}
			if (n == 0)
				st = http_response_body_feed(&d, q, 0, &u);
		} else {
			st = http_response_body_feed(&d, q, split, &u);
			used += u;
			st = http_response_body_feed(&d, q + split, n - split,
			    &u);
			used += u;
		}
		if (eof)
			st = http_response_body_end(&d);
		if (split == 0) {
			whole = st;
			used_whole = used;
			memcpy(out, o, d.len);
			*outlen = d.len;
		} else {
			CHECK_EQ_INT(st, whole);
			if (st == HTTP_OK) {
				CHECK_EQ_INT(used, used_whole);
				CHECK_MEM(o, d.len, out, *outlen);
			}
		}
		CHECK(d.len <= max);
		free(o);
		free(q);
	}
	return whole;
}

static http_status_t
body_str(const char *head, const char *b, size_t max, int eof,
    uint8_t *out, size_t *outlen)
{
	return body_run(head, b, strlen(b), max, eof, out, outlen);
}

#define H_LEN(n) "HTTP/1.1 200 OK\r\nContent-Length: " #n "\r\n\r\n"
#define H_CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define H_CLOSE "HTTP/1.1 200 OK\r\n\r\n"

static void
test_body_length(void)
{
	uint8_t out[64];
	size_t len;
	http_response_t r;
	http_body_t d;
	size_t u;

	CHECK_EQ_INT(body_str(H_LEN(5), "hello", 64, 0, out, &len), HTTP_OK);
	CHECK_MEM(out, len, "hello", 5);
	/* What follows the body is not the body's. */
	CHECK_EQ_INT(body_str(H_LEN(5), "helloEXTRA", 64, 0, out, &len),
	    HTTP_OK);
	CHECK_MEM(out, len, "hello", 5);
	rparse(H_LEN(5), &r);
	http_response_body_init(&d, &r, out, sizeof(out));
	CHECK_EQ_INT(http_response_body_feed(&d, (const uint8_t *)"helloX", 6,
	    &u), HTTP_OK);
	CHECK_EQ_INT(u, 5);
	/* Short: partial, then truncated at the close. */
	CHECK_EQ_INT(body_str(H_LEN(5), "hell", 64, 0, out, &len),
	    HTTP_PARTIAL);
	CHECK_EQ_INT(body_str(H_LEN(5), "hell", 64, 1, out, &len), HTTP_BAD);
	/* The bound: max octets, not one more, refused before any byte. */
	CHECK_EQ_INT(body_str(H_LEN(5), "hello", 5, 0, out, &len), HTTP_OK);
	CHECK_EQ_INT(body_str(H_LEN(6), "", 5, 0, out, &len), HTTP_TOO_LARGE);
	CHECK_EQ_INT(body_str(H_LEN(0), "", 0, 0, out, &len), HTTP_OK);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(body_str("HTTP/1.1 200 OK\r\nContent-Length: "
	    "99999999999999999999\r\n\r\n", "", 64, 0, out, &len),
	    HTTP_TOO_LARGE);
	/* No body: 204 and 304. */
	CHECK_EQ_INT(body_str("HTTP/1.1 204 No Content\r\n\r\n", "", 64, 0,
	    out, &len), HTTP_OK);
	CHECK_EQ_INT(body_str("HTTP/1.1 304 Not Modified\r\nContent-Length: 5"
	    "\r\n\r\n", "hello", 64, 0, out, &len), HTTP_OK);
	CHECK_EQ_INT(len, 0);
}

static void
test_body_close(void)
{
	uint8_t out[64];
	size_t len;

	CHECK_EQ_INT(body_str(H_CLOSE, "version: STSv1\n", 64, 0, out, &len),
	    HTTP_PARTIAL);
	CHECK_EQ_INT(body_str(H_CLOSE, "version: STSv1\n", 64, 1, out, &len),
	    HTTP_OK);
	CHECK_MEM(out, len, "version: STSv1\n", 15);
	CHECK_EQ_INT(body_str(H_CLOSE, "", 64, 1, out, &len), HTTP_OK);
	CHECK_EQ_INT(len, 0);
	CHECK_EQ_INT(body_str(H_CLOSE, "12345", 5, 1, out, &len), HTTP_OK);
	CHECK_EQ_INT(body_str(H_CLOSE, "123456", 5, 1, out, &len),
	    HTTP_TOO_LARGE);
	CHECK_EQ_INT(body_str(H_CLOSE, "123456", 5, 0, out, &len),
	    HTTP_TOO_LARGE);
}

static void
test_body_chunked(void)
{
	static uint8_t out[HTTP_CHUNK_FRAMING_MAX * 2];
	static char big[HTTP_CHUNK_FRAMING_MAX * 8];
	size_t len, off;

	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhello\r\n0\r\n\r\n", 64, 0,
	    out, &len), HTTP_OK);
	CHECK_MEM(out, len, "hello", 5);
	CHECK_EQ_INT(body_str(H_CHUNKED, "3\r\nabc\r\nA\r\n0123456789\r\n"
	    "000\r\n\r\n", 64, 0, out, &len), HTTP_OK);
	CHECK_MEM(out, len, "abc0123456789", 13);
	CHECK_EQ_INT(body_str(H_CHUNKED, "0005\r\nhello\r\n0\r\n\r\nafter", 64,
	    0, out, &len), HTTP_OK);
	CHECK_EQ_INT(body_str(H_CHUNKED, "0\r\n\r\n", 64, 0, out, &len),
	    HTTP_OK);
	CHECK_EQ_INT(len, 0);
	/* Extensions and trailers are skipped. */
	CHECK_EQ_INT(body_str(H_CHUNKED, "5;a=b;c=\"d;e\"\r\nhello\r\n"
	    "5 ; x\r\nworld\r\n0;last\r\nX-Trailer: t\r\nY: \r\n\r\n", 64, 0,
	    out, &len), HTTP_OK);
	CHECK_MEM(out, len, "helloworld", 10);
	/* Data bytes are data, even line ends and NUL. */
	CHECK_EQ_INT(body_run(H_CHUNKED, "4\r\n\r\n\0\n\r\n0\r\n\r\n", 14, 64,
	    0, out, &len), HTTP_OK);
	CHECK_MEM(out, len, "\r\n\0\n", 4);

	/* Framing: CRLF only, hex sizes, CRLF after the data. */
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\nhello\r\n0\r\n\r\n", 64, 0, out,
	    &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhello\n0\r\n\r\n", 64, 0, out,
	    &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhelloX\r\n0\r\n\r\n", 64, 0,
	    out, &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhelloX\n0\r\n\r\n", 64, 0,
	    out, &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhello\r\n0\r\n\n", 64, 0, out,
	    &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "\r\nhello\r\n0\r\n\r\n", 64, 0, out,
	    &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "g\r\n", 64, 0, out, &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "-5\r\n", 64, 0, out, &len),
	    HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, " 5\r\n", 64, 0, out, &len),
	    HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "0x5\r\n", 64, 0, out, &len),
	    HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5;a\x01\r\n", 64, 0, out, &len),
	    HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "0\r\n folded\r\n\r\n", 64, 0, out,
	    &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "0\r\nX: a\x7f\r\n\r\n", 64, 0, out,
	    &len), HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "0\r\nX: a\nY: b\r\n\r\n", 64, 0,
	    out, &len), HTTP_BAD);
	/* Truncated: partial, then bad at the close. */
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhel", 64, 0, out, &len),
	    HTTP_PARTIAL);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhel", 64, 1, out, &len),
	    HTTP_BAD);
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhello\r\n0\r\n", 64, 1, out,
	    &len), HTTP_BAD);

	/* The body bound, decided by the size before its data comes. */
	CHECK_EQ_INT(body_str(H_CHUNKED, "5\r\nhello\r\n0\r\n\r\n", 5, 0, out,
	    &len), HTTP_OK);
	CHECK_EQ_INT(body_str(H_CHUNKED, "3\r\nhel\r\n3\r\n", 5, 0, out,
	    &len), HTTP_TOO_LARGE);
	CHECK_EQ_INT(body_str(H_CHUNKED, "6\r\n", 5, 0, out, &len),
	    HTTP_TOO_LARGE);
	CHECK_EQ_INT(body_str(H_CHUNKED, "ffffffffffffffffffffffff\r\n", 64,
	    0, out, &len), HTTP_TOO_LARGE);
	/* Leading zeros are fine until the line bound. */
	memset(big, '0', HTTP_CHUNK_LINE_MAX - 2);
	memcpy(big + HTTP_CHUNK_LINE_MAX - 2, "\r\n\r\n", 5);
	CHECK_EQ_INT(body_str(H_CHUNKED, big, 64, 0, out, &len), HTTP_OK);
	memset(big, '0', HTTP_CHUNK_LINE_MAX - 1);
	memcpy(big + HTTP_CHUNK_LINE_MAX - 1, "\r\n\r\n", 5);
	CHECK_EQ_INT(body_str(H_CHUNKED, big, 64, 0, out, &len),
	    HTTP_TOO_LARGE);
	/* An extension as long. */
	memcpy(big, "1;", 2);
	memset(big + 2, 'e', HTTP_CHUNK_LINE_MAX);
	big[HTTP_CHUNK_LINE_MAX + 2] = '\0';
	CHECK_EQ_INT(body_str(H_CHUNKED, big, 64, 0, out, &len),
	    HTTP_TOO_LARGE);
	/* A trailer line as long. */
	memcpy(big, "0\r\nX:", 5);
	memset(big + 5, 't', HTTP_CHUNK_LINE_MAX);
	big[HTTP_CHUNK_LINE_MAX + 5] = '\0';
	CHECK_EQ_INT(body_str(H_CHUNKED, big, 64, 0, out, &len),
	    HTTP_TOO_LARGE);
	/* HTTP_HEADERS_MAX trailer lines, not one more. */
	off = (size_t)snprintf(big, sizeof(big), "0\r\n");
	for (int i = 0; i < HTTP_HEADERS_MAX; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off,
		    "T: %d\r\n", i);
	snprintf(big + off, sizeof(big) - off, "\r\n");
	CHECK_EQ_INT(body_str(H_CHUNKED, big, 64, 0, out, &len), HTTP_OK);
	snprintf(big + off, sizeof(big) - off, "T: x\r\n\r\n");
	CHECK_EQ_INT(body_str(H_CHUNKED, big, 64, 0, out, &len),
	    HTTP_TOO_LARGE);
	/* The framing bound: many one-octet chunks (5 framing octets each). */
	off = 0;
	for (int i = 0; i < HTTP_CHUNK_FRAMING_MAX / 5 - 1; i++)
		off += (size_t)snprintf(big + off, sizeof(big) - off,
		    "1\r\nx\r\n");
	snprintf(big + off, sizeof(big) - off, "0\r\n\r\n");
	CHECK_EQ_INT(body_str(H_CHUNKED, big, sizeof(out), 0, out, &len),
	    HTTP_OK);
	CHECK_EQ_INT(len, HTTP_CHUNK_FRAMING_MAX / 5 - 1);
	snprintf(big + off, sizeof(big) - off, "1\r\nx\r\n1\r\nx\r\n0\r\n\r\n");
	CHECK_EQ_INT(body_str(H_CHUNKED, big, sizeof(out), 0, out, &len),
	    HTTP_TOO_LARGE);
}

int
main(void)
{
	RUN(test_get);
	RUN(test_trailing_bytes);
	RUN(test_head_and_methods);
	RUN(test_query);
	RUN(test_absolute_form);
	RUN(test_versions_and_host);
	RUN(test_bad);
	RUN(test_nul);
	RUN(test_values_tolerated);
	RUN(test_bare_lf);
	RUN(test_leading_empty_lines);
	RUN(test_request_line_limit);
	RUN(test_head_limit);
	RUN(test_header_count);
	RUN(test_sticky);
	RUN(test_status_codes);
	RUN(test_response);
	RUN(test_date);
	RUN(test_response_status_line);
	RUN(test_response_interim);
	RUN(test_response_fields);
	RUN(test_response_limits);
	RUN(test_body_length);
	RUN(test_body_close);
	RUN(test_body_chunked);
	return CHECK_DONE();
}
