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
	return CHECK_DONE();
}
