/*
 * fuzz_proxyproto: the PROXY protocol decoder on arbitrary bytes, with the
 * properties a caller relies on:
 *  - consumed <= n on OK, and the header alone decodes the same; one byte
 *    less is PARTIAL (the decoder never needs bytes after the header);
 *  - PARTIAL and INVALID are monotonic: a prefix of a PARTIAL input is
 *    PARTIAL, a prefix of an INVALID one is never OK; PARTIAL never with
 *    PROXYPROTO_MAX bytes buffered;
 *  - every decoded header re-encodes (v1, v2, v2 with the SSL TLV) to a
 *    header that decodes to the same addresses;
 *  - differential: the input's first token, as a v1 TCP4 or TCP6 source
 *    address, is accepted exactly when libc's inet_pton accepts it, with the
 *    same value.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proxyproto.h"

static proxyproto_status_t
fuzz_pp_decode(const void *data, size_t n, proxyproto_addr_t *a, size_t *c)
{
	uint8_t *p = fuzz_dup(data, n);
	proxyproto_status_t st;

	st = proxyproto_decode(p, n, a, c);
	free(p);
	return st;
}

/* Address bytes of a decoded endpoint. */
static const uint8_t *
fuzz_pp_bytes(const struct sockaddr_storage *ss, int family, uint16_t *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	FUZZ_CHECK(ss->ss_family == family);
	if (family == AF_INET) {
		*port = sin->sin_port;
		return (const uint8_t *)&sin->sin_addr;
	}
	*port = sin6->sin6_port;
	return (const uint8_t *)&sin6->sin6_addr;
}

static int
fuzz_pp_eq(const proxyproto_addr_t *x, const proxyproto_addr_t *y)
{
	size_t alen;
	uint16_t px, py;

	if (x->family != y->family)
		return 0;
	if (x->family == AF_UNSPEC)
		return 1;
	alen = x->family == AF_INET ? 4 : 16;
	if (memcmp(fuzz_pp_bytes(&x->src, x->family, &px),
	    fuzz_pp_bytes(&y->src, y->family, &py), alen) != 0 || px != py)
		return 0;
	return memcmp(fuzz_pp_bytes(&x->dst, x->family, &px),
	    fuzz_pp_bytes(&y->dst, y->family, &py), alen) == 0 && px == py;
}

static void
fuzz_pp_reencode(const proxyproto_addr_t *a)
{
	char line[PROXYPROTO_V1_MAX];
	uint8_t bin[PROXYPROTO_V2_MAX];
	proxyproto_addr_t b;
	size_t len, c;

	FUZZ_CHECK(a->family == AF_UNSPEC || a->family == AF_INET ||
	    a->family == AF_INET6);

	FUZZ_CHECK(proxyproto_v1_encode(a, line, sizeof(line), &len) == 0);
	FUZZ_CHECK(fuzz_pp_decode(line, len, &b, &c) == PROXYPROTO_OK);
	FUZZ_CHECK(c == len && fuzz_pp_eq(a, &b));

	FUZZ_CHECK(proxyproto_v2_encode(a, NULL, NULL, bin, sizeof(bin),
	    &len) == 0);
	FUZZ_CHECK(fuzz_pp_decode(bin, len, &b, &c) == PROXYPROTO_OK);
	FUZZ_CHECK(c == len && fuzz_pp_eq(a, &b));

	FUZZ_CHECK(proxyproto_v2_encode(a, "TLSv1.3", "TLS_AES_256_GCM_SHA384",
	    bin, sizeof(bin), &len) == 0);
	FUZZ_CHECK(fuzz_pp_decode(bin, len, &b, &c) == PROXYPROTO_OK);
	FUZZ_CHECK(c == len && fuzz_pp_eq(a, &b));
}

/* Longest token tried as an address; any line built from it fits 107. */
#define FUZZ_PP_TOK_MAX 64

static void
fuzz_pp_token(const uint8_t *data, size_t size)
{
	static const struct {
		int family;
		const char *pre, *post;
	} t[] = {
		{ AF_INET, "PROXY TCP4 ", " 0.0.0.0 0 0\r\n" },
		{ AF_INET6, "PROXY TCP6 ", " :: 0 0\r\n" },
	};
	char tok[FUZZ_PP_TOK_MAX + 1], line[PROXYPROTO_V1_MAX];
	uint8_t want[16];
	proxyproto_addr_t a;
	size_t i, k, len, c;
	uint16_t port;
	int ok;

	for (k = 0; k < size && k < FUZZ_PP_TOK_MAX && data[k] != ' ' &&
	    data[k] != '\r' && data[k] != '\n'; k++)
		;
	memcpy(tok, data, k);
	tok[k] = '\0';
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = strlen(t[i].pre);
		memcpy(line, t[i].pre, len);
		memcpy(line + len, tok, k);
		memcpy(line + len + k, t[i].post, strlen(t[i].post));
		len += k + strlen(t[i].post);
		FUZZ_CHECK(len <= sizeof(line));

		/* A NUL would end inet_pton's string; to us it is a byte. */
		ok = memchr(tok, '\0', k) == NULL &&
		    inet_pton(t[i].family, tok, want) == 1;
		if (ok) {
			FUZZ_CHECK(fuzz_pp_decode(line, len, &a, &c) ==
			    PROXYPROTO_OK);
			FUZZ_CHECK(c == len && a.family == t[i].family);
			FUZZ_CHECK(memcmp(fuzz_pp_bytes(&a.src, a.family,
			    &port), want, t[i].family == AF_INET ? 4 : 16) ==
			    0);
		} else {
			FUZZ_CHECK(fuzz_pp_decode(line, len, &a, &c) ==
			    PROXYPROTO_INVALID);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	proxyproto_addr_t a, b;
	size_t c = SIZE_MAX, c2 = SIZE_MAX;

	switch (fuzz_pp_decode(data, size, &a, &c)) {
	case PROXYPROTO_OK:
		FUZZ_CHECK(c > 0 && c <= size && c <= PROXYPROTO_MAX);
		FUZZ_CHECK(fuzz_pp_decode(data, c, &b, &c2) == PROXYPROTO_OK);
		FUZZ_CHECK(c2 == c && fuzz_pp_eq(&a, &b));
		FUZZ_CHECK(fuzz_pp_decode(data, c - 1, &b, &c2) ==
		    PROXYPROTO_PARTIAL);
		fuzz_pp_reencode(&a);
		break;
	case PROXYPROTO_PARTIAL:
		FUZZ_CHECK(c == SIZE_MAX && size < PROXYPROTO_MAX);
		if (size > 0)
			FUZZ_CHECK(fuzz_pp_decode(data, size - 1, &b, &c2) ==
			    PROXYPROTO_PARTIAL);
		break;
	case PROXYPROTO_INVALID:
		FUZZ_CHECK(c == SIZE_MAX && size > 0);
		FUZZ_CHECK(fuzz_pp_decode(data, size - 1, &b, &c2) !=
		    PROXYPROTO_OK);
		break;
	default:
		FUZZ_CHECK(0);
	}
	FUZZ_CHECK(c2 == SIZE_MAX || c2 == c);
	fuzz_pp_token(data, size);
	return 0;
}
