/*
 * fuzz_http_response: the response head parser and the body decoder of
 * proxy/http.c (the MTA-STS policy fetch). The input is six control bytes
 * and then what a server sent: ctl[0..1] and ctl[2..3] are two split
 * points (little-endian), ctl[4] picks the body bound (a small one, so
 * that it is reached, or STS's 64 KiB), ctl[5] bit 0 says whether the
 * server closes after the bytes. Properties:
 *  - head: the verdict and head length are the same fresh, after two
 *    prefixes on one parser (each on a moved exact-size copy) and fed one
 *    byte at a time; prefixes are PARTIAL or the final verdict; with
 *    HTTP_RESPONSE_HEAD_MAX bytes there is a verdict; an accepted head has
 *    a final code 200-599, HTTP/1.0 or 1.1, and its framing fits its code;
 *  - body (after an accepted head): fed whole, in three pieces at the
 *    split points, and one byte at a time, the decoder gives the same
 *    verdict, the same octets and uses as many; never more than the bound;
 *    a complete Content-Length body has that length, a complete
 *    close-delimited one is all the bytes.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"

#define FUZZ_RESP_CTL 6

/* A prefix's verdict against the whole input's (st, hl). */
static void
fuzz_resp_prefix_ok(http_status_t pst, size_t phl, size_t k,
    http_status_t st, size_t hl)
{
	FUZZ_CHECK(pst == HTTP_PARTIAL || pst == st);
	if (pst == HTTP_OK)
		FUZZ_CHECK(phl == hl && phl <= k);
	if (st == HTTP_OK && k < hl)
		FUZZ_CHECK(pst == HTTP_PARTIAL);
}

/* Parses a fresh response over an exact copy of p[0..k). */
static http_status_t
fuzz_resp_part(const uint8_t *p, size_t k, http_response_t *r, size_t *hl)
{
	uint8_t *q = fuzz_dup(p, k);
	http_status_t st = http_response_parse(q, k, r, hl);

	free(q);
	return st;
}

/* One run of the body decoder over b[0..n) cut at k1 and k2 (k1 <= k2);
 * byte-wise when bytewise. */
static http_status_t
fuzz_resp_body(const http_response_t *r, const uint8_t *b, size_t n,
    size_t k1, size_t k2, int bytewise, int eof, size_t max, uint8_t *out,
    size_t *len, size_t *used)
{
	http_body_t d;
	http_status_t st = HTTP_PARTIAL;
	size_t u;

	http_response_body_init(&d, r, out, max);
	*used = 0;
	if (bytewise) {
		for (size_t i = 0; i < n; i++) {
			uint8_t *q = fuzz_dup(b + i, 1);

			st = http_response_body_feed(&d, q, 1, &u);
			free(q);
			FUZZ_CHECK(u <= 1);
			*used += u;
			if (st != HTTP_PARTIAL)
				break;
		}
		if (n == 0)
			st = http_response_body_feed(&d, b, 0, &u);
	} else {
		const size_t cut[4] = { 0, k1, k2, n };

		for (int i = 0; i < 3; i++) {
			size_t pn = cut[i + 1] - cut[i];
			uint8_t *q = fuzz_dup(b + cut[i], pn);

			st = http_response_body_feed(&d, q, pn, &u);
			free(q);
			FUZZ_CHECK(u <= pn);
			*used += u;
		}
	}
	if (eof)
		st = http_response_body_end(&d);
	FUZZ_CHECK(d.len <= max && d.len <= *used);
	*len = d.len;
	return st;
}

static void
fuzz_resp_bodies(const http_response_t *r, const uint8_t *b, size_t n,
    size_t k1, size_t k2, int eof, size_t max)
{
	uint8_t *o1 = malloc(max), *o2 = malloc(max), *o3 = malloc(max);
	size_t l1, l2, l3, u1, u2, u3;
	http_status_t s1, s2, s3;

	FUZZ_CHECK(o1 != NULL && o2 != NULL && o3 != NULL);
	s1 = fuzz_resp_body(r, b, n, 0, 0, 0, eof, max, o1, &l1, &u1);
	s2 = fuzz_resp_body(r, b, n, k1, k2, 0, eof, max, o2, &l2, &u2);
	s3 = fuzz_resp_body(r, b, n, 0, 0, 1, eof, max, o3, &l3, &u3);
	FUZZ_CHECK(s1 == s2 && s1 == s3);
	if (s1 == HTTP_OK || s1 == HTTP_PARTIAL) {
		FUZZ_CHECK(l1 == l2 && l1 == l3 && u1 == u2 && u1 == u3);
		FUZZ_CHECK(memcmp(o1, o2, l1) == 0 && memcmp(o1, o3, l1) == 0);
	}
	if (s1 == HTTP_OK) {
		if (r->framing == HTTP_FRAMING_LENGTH)
			FUZZ_CHECK(l1 == r->content_length);
		else if (r->framing == HTTP_FRAMING_CLOSE)
			FUZZ_CHECK(l1 == n && u1 == n);
		else if (r->framing == HTTP_FRAMING_NONE)
			FUZZ_CHECK(l1 == 0 && u1 == 0);
	}
	free(o1);
	free(o2);
	free(o3);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p;
	uint8_t *whole;
	size_t n, k1, k2, hl = 0, hl2 = 0, max;
	http_response_t r, inc;
	http_status_t st, st2;

	if (size < FUZZ_RESP_CTL)
		return 0;
	p = data + FUZZ_RESP_CTL;
	n = size - FUZZ_RESP_CTL;
	k1 = (size_t)(data[0] | data[1] << 8) % (n + 1);
	k2 = (size_t)(data[2] | data[3] << 8) % (n + 1);
	if (k1 > k2) {
		size_t t = k1;
		k1 = k2;
		k2 = t;
	}
	max = data[4] >= 0x80 ? 65536 : (size_t)data[4] * 3 + 1;

	whole = fuzz_dup(p, n);
	http_response_init(&r);
	st = http_response_parse(whole, n, &r, &hl);
	if (n >= HTTP_RESPONSE_HEAD_MAX)
		FUZZ_CHECK(st != HTTP_PARTIAL);

	/* k1, k2, then everything on one parser. */
	{
		size_t phl = 0;
		http_status_t pst;

		http_response_init(&inc);
		pst = fuzz_resp_part(p, k1, &inc, &phl);
		fuzz_resp_prefix_ok(pst, phl, k1, st, hl);
		st2 = fuzz_resp_part(p, k2, &inc, &phl);
		fuzz_resp_prefix_ok(st2, phl, k2, st, hl);
		if (pst != HTTP_PARTIAL)
			FUZZ_CHECK(st2 == pst);
		st2 = http_response_parse(whole, n, &inc, &hl2);
		FUZZ_CHECK(st2 == st);
		if (st == HTTP_OK)
			FUZZ_CHECK(hl2 == hl && inc.code == r.code &&
			    inc.framing == r.framing &&
			    inc.text_plain == r.text_plain &&
			    inc.content_length == r.content_length &&
			    inc.version_minor == r.version_minor &&
			    inc.nheaders == r.nheaders);
	}
	/* One byte more per call, on the same buffer. */
	http_response_init(&inc);
	st2 = HTTP_PARTIAL;
	for (size_t k = 0; k <= n && st2 == HTTP_PARTIAL; k++) {
		hl2 = 0;
		st2 = http_response_parse(whole, k, &inc, &hl2);
		fuzz_resp_prefix_ok(st2, hl2, k, st, hl);
	}
	FUZZ_CHECK(st2 == st);

	if (st == HTTP_OK) {
		FUZZ_CHECK(hl <= HTTP_RESPONSE_HEAD_MAX && hl <= n);
		FUZZ_CHECK(r.code >= 200 && r.code <= 599);
		FUZZ_CHECK(r.version_minor == 0 || r.version_minor == 1);
		FUZZ_CHECK(r.nheaders <= HTTP_HEADERS_MAX);
		FUZZ_CHECK((r.framing == HTTP_FRAMING_NONE) ==
		    (r.code == 204 || r.code == 304));
		FUZZ_CHECK(r.framing != HTTP_FRAMING_CHUNKED ||
		    r.version_minor == 1);
		k1 = k1 > hl ? k1 - hl : 0;
		k2 = k2 > hl ? k2 - hl : 0;
		fuzz_resp_bodies(&r, whole + hl, n - hl, k1, k2, data[5] & 1,
		    max);
	}
	free(whole);
	return 0;
}
