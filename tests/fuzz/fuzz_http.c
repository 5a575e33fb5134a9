/*
 * fuzz_http: the admin endpoint's request head parser. The input is four
 * control bytes (two split points, little-endian) and then the bytes a
 * client sent. Properties:
 *  - the result for the whole input does not depend on the calls before:
 *    fresh, after one or two prefixes (each on a moved, exact-size copy),
 *    or fed one byte at a time, it is the same, with the same head length;
 *  - a prefix gives HTTP_PARTIAL or the final result, never OK with a head
 *    longer than itself, and PARTIAL while it is shorter than the head;
 *  - with HTTP_HEAD_MAX bytes or more there is always a verdict;
 *  - an OK head is at most HTTP_HEAD_MAX, ends in an empty line, holds no
 *    control octet but CR, LF and HTAB, and its slices lie inside it with
 *    a token method and a path of '/' or "*".
 * http_response is checked along the way with a status and length drawn
 * from the control bytes.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"

#define FUZZ_HTTP_CTL 4

/* Parses a fresh request over an exact copy of p[0..n). */
static http_status_t
fuzz_http_fresh(const uint8_t *p, size_t n, size_t *hl)
{
	http_request_t req;
	uint8_t *q = fuzz_dup(p, n);
	http_status_t st;

	http_request_init(&req);
	st = http_parse(q, n, &req, hl);
	free(q);
	return st;
}

/* A prefix's verdict against the whole input's (st, hl). */
static void
fuzz_http_prefix_ok(http_status_t pst, size_t phl, size_t k,
    http_status_t st, size_t hl)
{
	FUZZ_CHECK(pst == HTTP_PARTIAL || pst == st);
	if (pst == HTTP_OK)
		FUZZ_CHECK(phl == hl && phl <= k);
	if (st == HTTP_OK && k < hl)
		FUZZ_CHECK(pst == HTTP_PARTIAL);
}

static int
fuzz_http_in(const http_slice_t *s, const uint8_t *p, size_t hl)
{
	return s->p >= p && s->len <= hl && s->p + s->len <= p + hl;
}

/* The fields of an OK head, checked against the bytes themselves. */
static void
fuzz_http_check_ok(const uint8_t *p, size_t hl, const http_request_t *req)
{
	FUZZ_CHECK(hl >= 2 && hl <= HTTP_HEAD_MAX);
	FUZZ_CHECK(p[hl - 1] == '\n');
	FUZZ_CHECK(p[hl - 2] == '\n' ||
	    (hl >= 3 && p[hl - 2] == '\r' && p[hl - 3] == '\n'));
	for (size_t i = 0; i < hl; i++)
		FUZZ_CHECK(p[i] >= 0x20 ? p[i] != 0x7f :
		    p[i] == '\r' || p[i] == '\n' || p[i] == '\t');
	FUZZ_CHECK(req->method.len > 0 && fuzz_http_in(&req->method, p, hl));
	for (size_t i = 0; i < req->method.len; i++)
		FUZZ_CHECK(req->method.p[i] > 0x20 && req->method.p[i] < 0x7f);
	FUZZ_CHECK(req->path.len > 0);
	FUZZ_CHECK(req->path.p[0] == '/' ||
	    (req->path.len == 1 && req->path.p[0] == '*'));
	/* Only absolute-form without a path gives the static "/". */
	if (!fuzz_http_in(&req->path, p, hl))
		FUZZ_CHECK(req->path.len == 1 && req->path.p[0] == '/');
	if (req->query.p != NULL)
		FUZZ_CHECK(fuzz_http_in(&req->query, p, hl));
	else
		FUZZ_CHECK(req->query.len == 0);
	FUZZ_CHECK(req->version_minor >= 0 && req->version_minor <= 9);
	FUZZ_CHECK(req->nheaders <= HTTP_HEADERS_MAX);
}

static void
fuzz_http_response(const uint8_t *ctl)
{
	char out[256];
	int status = (ctl[0] | ctl[1] << 8) % 700;
	size_t body = (size_t)(ctl[2] | ctl[3] << 8) * 1000003u;
	size_t cap = ctl[3] % sizeof(out);
	size_t n = http_response(out, cap, status, NULL, body);

	if (n == 0)
		return;
	FUZZ_CHECK(status >= 200 && status <= 599 && n < cap);
	FUZZ_CHECK(out[n] == '\0' && n >= 4 &&
	    memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
	FUZZ_CHECK(memcmp(out, "HTTP/1.1 ", 9) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	uint8_t *whole;
	size_t n, k1, k2, hl = 0, hl2 = 0;
	http_request_t req, inc;
	http_status_t st, st2;

	if (size < FUZZ_HTTP_CTL)
		return 0;
	fuzz_http_response(data);
	p = data + FUZZ_HTTP_CTL;
	n = size - FUZZ_HTTP_CTL;
	k1 = (size_t)(data[0] | data[1] << 8) % (n + 1);
	k2 = (size_t)(data[2] | data[3] << 8) % (n + 1);
	if (k1 > k2) {
		size_t t = k1;
		k1 = k2;
		k2 = t;
	}

	/* The whole input, fresh. */
	whole = fuzz_dup(p, n);
	http_request_init(&req);
	st = http_parse(whole, n, &req, &hl);
	if (n >= HTTP_HEAD_MAX)
		FUZZ_CHECK(st != HTTP_PARTIAL);
	if (st == HTTP_OK)
		fuzz_http_check_ok(whole, hl, &req);
	FUZZ_CHECK((http_status_code(st) == 0) ==
	    (st == HTTP_OK || st == HTTP_PARTIAL));

	/* Each prefix on its own. */
	{
		size_t phl = 0;
		http_status_t pst = fuzz_http_fresh(p, k1, &phl);
		fuzz_http_prefix_ok(pst, phl, k1, st, hl);
		pst = fuzz_http_fresh(p, k2, &phl);
		fuzz_http_prefix_ok(pst, phl, k2, st, hl);
	}

	/* k1, then k2, then everything, on one request. */
	{
		size_t phl = 0;
		uint8_t *q = fuzz_dup(p, k1);
		http_status_t pst;

		http_request_init(&inc);
		pst = http_parse(q, k1, &inc, &phl);
		free(q);
		fuzz_http_prefix_ok(pst, phl, k1, st, hl);
		q = fuzz_dup(p, k2);
		st2 = http_parse(q, k2, &inc, &phl);
		free(q);
		fuzz_http_prefix_ok(st2, phl, k2, st, hl);
		if (pst != HTTP_PARTIAL)
			FUZZ_CHECK(st2 == pst);
		st2 = http_parse(whole, n, &inc, &hl2);
		FUZZ_CHECK(st2 == st);
		if (st == HTTP_OK) {
			FUZZ_CHECK(hl2 == hl);
			fuzz_http_check_ok(whole, hl2, &inc);
			FUZZ_CHECK(inc.method.p == req.method.p &&
			    inc.method.len == req.method.len &&
			    inc.path.p == req.path.p &&
			    inc.path.len == req.path.len &&
			    inc.query.p == req.query.p &&
			    inc.query.len == req.query.len &&
			    inc.version_minor == req.version_minor &&
			    inc.nheaders == req.nheaders);
		}
	}

	/* One byte at a time over the same buffer: O(n) thanks to the
	 * resumed scan (a quadratic parser would time out here). */
	http_request_init(&inc);
	st2 = HTTP_PARTIAL;
	for (size_t k = 0; k <= n && st2 == HTTP_PARTIAL; k++) {
		hl2 = 0;
		st2 = http_parse(whole, k, &inc, &hl2);
		fuzz_http_prefix_ok(st2, hl2, k, st, hl);
	}
	FUZZ_CHECK(st2 == st);
	free(whole);
	return 0;
}
