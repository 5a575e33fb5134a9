/*
 * test_proxyproto: PROXY protocol v1/v2 encoders and the decoder in
 * proxy/proxyproto.c. Every decode runs on a heap copy of exactly n bytes,
 * so a sanitizer build catches any read past n.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "proxyproto.h"

#define L(s) (sizeof(s) - 1)
#define U(s) ((const uint8_t *)(s))

/* Helpers ----------------------------------------------------------------- */

static proxyproto_status_t
dec(const void *s, size_t n, proxyproto_addr_t *out, size_t *consumed)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	proxyproto_status_t st;

	if (copy == NULL)
		abort();
	memcpy(copy, s, n);
	st = proxyproto_decode(copy, n, out, consumed);
	free(copy);
	return st;
}

static proxyproto_status_t
dec_str(const char *s)
{
	proxyproto_addr_t a;
	size_t c;

	return dec(s, strlen(s), &a, &c);
}

static void
set4(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		abort();
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin, sizeof(sin));
}

static void
set6(struct sockaddr_storage *ss, const char *addr, unsigned port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((uint16_t)port);
	if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) != 1)
		abort();
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin6, sizeof(sin6));
}

static void
mk(proxyproto_addr_t *a, int fam, const char *src, unsigned sport,
    const char *dst, unsigned dport)
{
	memset(a, 0, sizeof(*a));
	a->family = fam;
	if (fam == AF_INET) {
		set4(&a->src, src, sport);
		set4(&a->dst, dst, dport);
	} else if (fam == AF_INET6) {
		set6(&a->src, src, sport);
		set6(&a->dst, dst, dport);
	}
}

/* Same family, addresses and ports (sockaddrs built zeroed on both sides). */
static int
addr_eq(const proxyproto_addr_t *x, const proxyproto_addr_t *y)
{
	size_t len;

	if (x->family != y->family)
		return 0;
	if (x->family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (x->family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		len = 0;
	return memcmp(&x->src, &y->src, len) == 0 &&
	    memcmp(&x->dst, &y->dst, len) == 0;
}

/*
 * Every prefix of h[0..n) is PARTIAL and the whole is OK with consumed n;
 * with trailing client bytes it is still OK with consumed n. *got gets the
 * decoded addresses.
 */
static void
check_valid(const void *h, size_t n, proxyproto_addr_t *got)
{
	uint8_t buf[PROXYPROTO_MAX + 16];
	proxyproto_addr_t a;
	size_t i, c, bad = 0;

	if (n > PROXYPROTO_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (dec(h, i, &a, &c) != PROXYPROTO_PARTIAL)
			bad++;
	CHECK_EQ_INT(bad, 0);
	c = 0;
	CHECK_EQ_INT(dec(h, n, got, &c), PROXYPROTO_OK);
	CHECK_EQ_INT(c, n);
	memcpy(buf, h, n);
	memcpy(buf + n, "EHLO x\r\n", 8);
	c = 0;
	CHECK_EQ_INT(dec(buf, n + 8, &a, &c), PROXYPROTO_OK);
	CHECK_EQ_INT(c, n);
	CHECK(addr_eq(&a, got));
}

/*
 * h[0..n) is rejected, first at length at (PARTIAL before it, INVALID from
 * it on, whatever follows); at == 0 means "somewhere", only monotony is
 * checked. out and consumed are never touched on a rejection.
 */
static void
check_invalid_at(const void *h, size_t n, size_t at)
{
	proxyproto_addr_t a, sentinel;
	size_t i, c, first = 0;
	proxyproto_status_t st;

	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (i = 0; i <= n; i++) {
		memcpy(&a, &sentinel, sizeof(a));
		c = 12345;
		st = dec(h, i, &a, &c);
		CHECK(st != PROXYPROTO_OK);
		CHECK_EQ_INT(c, 12345);
		CHECK(memcmp(&a, &sentinel, sizeof(a)) == 0);
		if (st == PROXYPROTO_INVALID && first == 0)
			first = i;
		if (first != 0 && st != PROXYPROTO_INVALID) {
			fprintf(stderr, "INVALID at %zu, then %d at %zu\n",
			    first, (int)st, i);
			CHECK(0);
		}
	}
	CHECK(first != 0);
	if (at != 0)
		CHECK_EQ_INT(first, at);
}

#define CHECK_INVALID(s) check_invalid_at((s), L(s), 0)
#define CHECK_INVALID_AT(s, at) check_invalid_at((s), L(s), (at))

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 header: signature, ver_cmd, fam, then len body bytes. */
static size_t
v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *body, size_t len)
{
	memcpy(out, sig, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (len > 0)
		memcpy(out + 16, body, len);
	return 16 + len;
}

/* 192.168.0.1:56324 -> 192.168.0.11:443, the spec's example. */
static const uint8_t addr4[12] = {
	192, 168, 0, 1, 192, 168, 0, 11, 0xdc, 0x04, 0x01, 0xbb
};

/* v1 encoding ------------------------------------------------------------- */

static void
check_v1(const proxyproto_addr_t *a, const char *want)
{
	char out[PROXYPROTO_V1_MAX];
	size_t len = 0, cap;

	CHECK_EQ_INT(proxyproto_v1_encode(a, out, sizeof(out), &len), 0);
	CHECK_MEM(out, len, want, strlen(want));
	/* Exactly enough room is enough; one byte less is an error. */
	CHECK_EQ_INT(proxyproto_v1_encode(a, out, strlen(want), &len), 0);
	for (cap = 0; cap < strlen(want); cap++)
		CHECK_EQ_INT(proxyproto_v1_encode(a, out, cap, &len), -1);
}

static void
test_v1_encode(void)
{
	proxyproto_addr_t a;

	mk(&a, AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
	check_v1(&a, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	mk(&a, AF_INET, "0.0.0.0", 0, "255.255.255.255", 65535);
	check_v1(&a, "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
	mk(&a, AF_INET6, "2001:db8::1", 12345, "2001:db8:0:0:1:0:0:1", 25);
	check_v1(&a, "PROXY TCP6 2001:db8::1 2001:db8::1:0:0:1 12345 25\r\n");
	mk(&a, AF_INET6, "::", 1, "::1", 2);
	check_v1(&a, "PROXY TCP6 :: ::1 1 2\r\n");
	/* A single zero group is not compressed; the longest run is. */
	mk(&a, AF_INET6, "1:0:2:3:4:5:6:7", 1, "1:0:0:2:0:0:0:3", 2);
	check_v1(&a, "PROXY TCP6 1:0:2:3:4:5:6:7 1:0:0:2::3 1 2\r\n");
	mk(&a, AF_INET6, "fe80::", 1, "::ffff:192.0.2.1", 2);
	check_v1(&a, "PROXY TCP6 fe80:: ::ffff:c000:201 1 2\r\n");
	/* The longest line: 104 bytes (spec section 2.1). */
	mk(&a, AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "ABCD:ef01:2345:6789:abcd:ef01:2345:6789", 65535);
	check_v1(&a, "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "abcd:ef01:2345:6789:abcd:ef01:2345:6789 65535 65535\r\n");
	mk(&a, AF_UNSPEC, NULL, 0, NULL, 0);
	check_v1(&a, "PROXY UNKNOWN\r\n");
}

static void
test_v1_encode_inconsistent(void)
{
	proxyproto_addr_t a;
	char out[PROXYPROTO_V1_MAX];
	size_t len;

	mk(&a, AF_INET, "192.0.2.1", 1, "192.0.2.2", 2);
	a.family = AF_INET6;
	CHECK_EQ_INT(proxyproto_v1_encode(&a, out, sizeof(out), &len), -1);
	mk(&a, AF_INET6, "::1", 1, "::2", 2);
	set4(&a.dst, "192.0.2.2", 2);
	CHECK_EQ_INT(proxyproto_v1_encode(&a, out, sizeof(out), &len), -1);
	a.family = AF_UNIX;
	CHECK_EQ_INT(proxyproto_v1_encode(&a, out, sizeof(out), &len), -1);
}

/* v2 encoding ------------------------------------------------------------- */

static void
check_v2(const proxyproto_addr_t *a, const char *ver, const char *ciph,
    const uint8_t *want, size_t wantlen)
{
	uint8_t out[PROXYPROTO_V2_MAX];
	size_t len = 0, cap;

	CHECK_EQ_INT(proxyproto_v2_encode(a, ver, ciph, out, sizeof(out),
	    &len), 0);
	CHECK_MEM(out, len, want, wantlen);
	CHECK_EQ_INT(proxyproto_v2_encode(a, ver, ciph, out, wantlen, &len),
	    0);
	for (cap = 0; cap < wantlen; cap++)
		CHECK_EQ_INT(proxyproto_v2_encode(a, ver, ciph, out, cap,
		    &len), -1);
}

static void
test_v2_encode(void)
{
	static const uint8_t want4[] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a,
		0x21,       /* version 2, PROXY */
		0x11,       /* TCP over IPv4 */
		0x00, 0x0c, /* 12 address bytes */
		192, 168, 0, 1, 192, 168, 0, 11,
		0xdc, 0x04, /* 56324 */
		0x01, 0xbb  /* 443 */
	};
	static const uint8_t want4tls[] =
	    "\r\n\r\n\0\r\nQUIT\n"
	    "\x21\x11\x00\x37"           /* 12 + 3 + 40 = 55 */
	    "\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
	    "\x20\x00\x28"               /* SSL, 5 + 10 + 25 = 40 */
	    "\x01" "\x00\x00\x00\x01"    /* PP2_CLIENT_SSL, verify 1 */
	    "\x21\x00\x07" "TLSv1.3"
	    "\x23\x00\x16" "TLS_AES_128_GCM_SHA256";
	static const uint8_t want4ver[] =
	    "\r\n\r\n\0\r\nQUIT\n"
	    "\x21\x11\x00\x1f"           /* 12 + 3 + 16 */
	    "\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
	    "\x20\x00\x10" "\x01" "\x00\x00\x00\x01"
	    "\x21\x00\x08" "TLSv1.2x";
	static const uint8_t want6[] =
	    "\r\n\r\n\0\r\nQUIT\n"
	    "\x21\x21\x00\x24"           /* TCP over IPv6, 36 */
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x02"
	    "\x30\x39\x00\x19";          /* 12345, 25 */
	static const uint8_t wantunspec[] =
	    "\r\n\r\n\0\r\nQUIT\n" "\x21\x00\x00\x00";
	proxyproto_addr_t a;

	mk(&a, AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
	check_v2(&a, NULL, NULL, want4, sizeof(want4));
	check_v2(&a, "TLSv1.3", "TLS_AES_128_GCM_SHA256", want4tls,
	    L(want4tls));
	check_v2(&a, "TLSv1.2x", NULL, want4ver, L(want4ver));
	mk(&a, AF_INET6, "2001:db8::1", 12345, "::2", 25);
	check_v2(&a, NULL, NULL, want6, L(want6));
	mk(&a, AF_UNSPEC, NULL, 0, NULL, 0);
	check_v2(&a, NULL, NULL, wantunspec, L(wantunspec));
}

static void
test_v2_encode_reject(void)
{
	char longname[PROXYPROTO_TLS_NAME_MAX + 2];
	uint8_t out[PROXYPROTO_V2_MAX];
	proxyproto_addr_t a, got;
	size_t len, c;

	mk(&a, AF_INET6, "2001:db8::1", 1, "2001:db8::2", 2);
	CHECK_EQ_INT(proxyproto_v2_encode(&a, "", NULL, out, sizeof(out),
	    &len), -1);
	CHECK_EQ_INT(proxyproto_v2_encode(&a, NULL, "a\nb", out, sizeof(out),
	    &len), -1);
	CHECK_EQ_INT(proxyproto_v2_encode(&a, "\xc3\xa9", NULL, out,
	    sizeof(out), &len), -1);
	memset(longname, 'A', sizeof(longname));
	longname[PROXYPROTO_TLS_NAME_MAX + 1] = '\0';
	CHECK_EQ_INT(proxyproto_v2_encode(&a, NULL, longname, out,
	    sizeof(out), &len), -1);
	/* The longest names allowed still decode within our bound. */
	longname[PROXYPROTO_TLS_NAME_MAX] = '\0';
	CHECK_EQ_INT(proxyproto_v2_encode(&a, longname, longname, out,
	    sizeof(out), &len), 0);
	CHECK_EQ_INT(len, PROXYPROTO_V2_ENCODE_MAX - 3 - PROXYPROTO_CN_MAX);
	CHECK(PROXYPROTO_V2_ENCODE_MAX <= PROXYPROTO_V2_MAX);
	CHECK_EQ_INT(dec(out, len, &got, &c), PROXYPROTO_OK);
	/* With the longest CN too: exactly the bound. */
	{
		char cn[PROXYPROTO_CN_MAX + 2];
		proxyproto_ssl_t t = { PP2_CLIENT_SSL, 0, longname, longname,
			cn };

		memset(cn, 'c', sizeof(cn));
		cn[PROXYPROTO_CN_MAX + 1] = '\0';
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out,
		    sizeof(out), &len), -1);
		cn[PROXYPROTO_CN_MAX] = '\0';
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out,
		    sizeof(out), &len), 0);
		CHECK_EQ_INT(len, PROXYPROTO_V2_ENCODE_MAX);
		cn[0] = '\n';
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out,
		    sizeof(out), &len), -1);
		cn[0] = '\0';            /* empty: refused */
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out,
		    sizeof(out), &len), -1);
		t.cn = NULL;
		t.version = longname;
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out,
		    sizeof(out), &len), 0);
		CHECK_EQ_INT(len, PROXYPROTO_V2_ENCODE_MAX - 3 -
		    PROXYPROTO_CN_MAX);
		t.cn = cn;
		memset(cn, 'c', PROXYPROTO_CN_MAX);
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out,
		    sizeof(out), &len), 0);
	}
	CHECK_EQ_INT(dec(out, len, &got, &c), PROXYPROTO_OK);
	CHECK_EQ_INT(c, len);
	CHECK(addr_eq(&a, &got));
	a.family = AF_INET;
	CHECK_EQ_INT(proxyproto_v2_encode(&a, NULL, NULL, out, sizeof(out),
	    &len), -1);
}

/*
 * The SSL TLV with a client certificate, as HAProxy writes it (spec 2.2.5):
 * client bits SSL | CERT_CONN | CERT_SESS, verify 0 only when verified,
 * the CN sub-TLV between version and cipher; without a certificate only
 * PP2_CLIENT_SSL and verify 1.
 */
static void
test_v2_encode_ssl(void)
{
	static const uint8_t want_cert[] =
	    "\r\n\r\n\0\r\nQUIT\n"
	    "\x21\x11\x00\x47"           /* 12 + 3 + 56 = 71 */
	    "\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
	    "\x20\x00\x38"               /* 5 + 10 + 16 + 25 = 56 */
	    "\x07" "\x00\x00\x00\x00"    /* SSL|CERT_CONN|CERT_SESS, 0 */
	    "\x21\x00\x07" "TLSv1.3"
	    "\x22\x00\x0d" "mx.partner.ex"
	    "\x23\x00\x16" "TLS_AES_128_GCM_SHA256";
	static const uint8_t want_untrusted[] =
	    "\r\n\r\n\0\r\nQUIT\n"
	    "\x21\x11\x00\x14"           /* 12 + 3 + 5 */
	    "\xc0\xa8\x00\x01\xc0\xa8\x00\x0b\xdc\x04\x01\xbb"
	    "\x20\x00\x05"
	    "\x07" "\x00\x00\x00\x01";
	proxyproto_ssl_t t = { PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN |
		PP2_CLIENT_CERT_SESS, 0, "TLSv1.3", "TLS_AES_128_GCM_SHA256",
		"mx.partner.ex" };
	uint8_t out[PROXYPROTO_V2_MAX];
	proxyproto_addr_t a, got;
	size_t len = 0, c;

	mk(&a, AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
	CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out, sizeof(out),
	    &len), 0);
	CHECK_MEM(out, len, want_cert, L(want_cert));
	for (size_t cap = 0; cap < L(want_cert); cap++)
		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out, cap, &len),
		    -1);
	CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out, L(want_cert),
	    &len), 0);
	CHECK_EQ_INT(dec(out, len, &got, &c), PROXYPROTO_OK);
	CHECK_EQ_INT(c, len);
	CHECK(addr_eq(&a, &got));
	t.verify = 1;
	t.version = t.cipher = t.cn = NULL;
	CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, &t, out, sizeof(out),
	    &len), 0);
	CHECK_MEM(out, len, want_untrusted, L(want_untrusted));
	/* NULL: no TLV at all, as proxyproto_v2_encode without names. */
	{
		uint8_t plain[PROXYPROTO_V2_MAX];
		size_t plen;

		CHECK_EQ_INT(proxyproto_v2_encode_ssl(&a, NULL, out,
		    sizeof(out), &len), 0);
		CHECK_EQ_INT(proxyproto_v2_encode(&a, NULL, NULL, plain,
		    sizeof(plain), &plen), 0);
		CHECK_MEM(out, len, plain, plen);
	}
}

/* Round trips ------------------------------------------------------------- */

static void
test_round_trip(void)
{
	static const struct {
		int fam;
		const char *src, *dst;
		unsigned sport, dport;
	} t[] = {
		{ AF_INET, "192.0.2.1", "198.51.100.25", 40000, 25 },
		{ AF_INET, "0.0.0.0", "255.255.255.255", 0, 65535 },
		{ AF_INET, "10.0.0.1", "127.0.0.1", 1, 587 },
		{ AF_INET6, "2001:db8::1", "2001:db8::25", 40000, 25 },
		{ AF_INET6, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		  0, 65535 },
		{ AF_INET6, "::ffff:192.0.2.1", "fe80::1:2", 5, 6 },
		{ AF_INET6, "1:0:0:2:0:0:0:3", "0:1:0:1:0:1:0:1", 7, 8 },
		{ AF_UNSPEC, NULL, NULL, 0, 0 },
	};
	char line[PROXYPROTO_V1_MAX];
	uint8_t bin[PROXYPROTO_V2_MAX];
	proxyproto_addr_t a, got;
	size_t i, len;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		mk(&a, t[i].fam, t[i].src, t[i].sport, t[i].dst, t[i].dport);
		CHECK_EQ_INT(proxyproto_v1_encode(&a, line, sizeof(line),
		    &len), 0);
		check_valid(line, len, &got);
		CHECK(addr_eq(&a, &got));

		CHECK_EQ_INT(proxyproto_v2_encode(&a, NULL, NULL, bin,
		    sizeof(bin), &len), 0);
		check_valid(bin, len, &got);
		CHECK(addr_eq(&a, &got));

		/* The SSL TLV is skipped on decode. */
		CHECK_EQ_INT(proxyproto_v2_encode(&a, "TLSv1.3",
		    "TLS_CHACHA20_POLY1305_SHA256", bin, sizeof(bin), &len),
		    0);
		check_valid(bin, len, &got);
		CHECK(addr_eq(&a, &got));
	}
}

/* proxyproto_addr_set ----------------------------------------------------- */

static void
test_addr_set(void)
{
	struct sockaddr_storage s, d;
	struct sockaddr_un sun;
	proxyproto_addr_t a, want;
	char line[PROXYPROTO_V1_MAX];
	size_t len;

	set4(&s, "192.0.2.1", 1000);
	set4(&d, "192.0.2.2", 25);
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	mk(&want, AF_INET, "192.0.2.1", 1000, "192.0.2.2", 25);
	CHECK(addr_eq(&a, &want));

	/* A dual-stack socket's mapped pair is presented as IPv4. */
	set6(&s, "::ffff:192.0.2.1", 1000);
	set6(&d, "::ffff:192.0.2.2", 25);
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	CHECK(addr_eq(&a, &want));
	CHECK_EQ_INT(proxyproto_v1_encode(&a, line, sizeof(line), &len), 0);
	CHECK_MEM(line, len, "PROXY TCP4 192.0.2.1 192.0.2.2 1000 25\r\n",
	    L("PROXY TCP4 192.0.2.1 192.0.2.2 1000 25\r\n"));
	set4(&d, "192.0.2.2", 25);
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	CHECK(addr_eq(&a, &want));

	/* IPv4 with real IPv6: both IPv6. */
	set4(&s, "192.0.2.1", 1000);
	set6(&d, "2001:db8::2", 25);
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	mk(&want, AF_INET6, "::ffff:192.0.2.1", 1000, "2001:db8::2", 25);
	CHECK(addr_eq(&a, &want));
	/* Mapped with real IPv6 stays IPv6. */
	set6(&s, "::ffff:192.0.2.1", 1000);
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	CHECK(addr_eq(&a, &want));
	/* Either side may be the IPv4 one. */
	set6(&s, "2001:db8::1", 1000);
	set4(&d, "192.0.2.2", 25);
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	mk(&want, AF_INET6, "2001:db8::1", 1000, "::ffff:192.0.2.2", 25);
	CHECK(addr_eq(&a, &want));
	set6(&d, "2001:db8::2", 25);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CHECK_EQ_INT(proxyproto_addr_set(&a, (struct sockaddr *)&sun,
	    (struct sockaddr *)&d), -1);
	CHECK_EQ_INT(a.family, AF_UNSPEC);
	CHECK_EQ_INT(proxyproto_addr_set(&a, NULL, (struct sockaddr *)&d),
	    -1);
	CHECK_EQ_INT(a.family, AF_UNSPEC);
}

/* v1 decoding ------------------------------------------------------------- */

static void
check_v1_dec(const char *line, int fam, const char *src, unsigned sport,
    const char *dst, unsigned dport)
{
	proxyproto_addr_t want, got;

	mk(&want, fam, src, sport, dst, dport);
	memset(&got, 0, sizeof(got));
	check_valid(line, strlen(line), &got);
	if (!addr_eq(&got, &want))
		fprintf(stderr, "decoded wrong: %s", line);
	CHECK(addr_eq(&got, &want));
}

static void
test_v1_decode(void)
{
	char max[PROXYPROTO_V1_MAX + 1];

	check_v1_dec("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	    AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
	check_v1_dec("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
	    AF_INET, "0.0.0.0", 0, "255.255.255.255", 65535);
	check_v1_dec("PROXY TCP4 10.200.30.4 1.2.3.4 100 10\r\n",
	    AF_INET, "10.200.30.4", 100, "1.2.3.4", 10);
	check_v1_dec("PROXY TCP6 :: ::1 1 2\r\n",
	    AF_INET6, "::", 1, "::1", 2);
	check_v1_dec("PROXY TCP6 1:: 2001:DB8:0:0:0:0:0:AbCd 1 2\r\n",
	    AF_INET6, "1::", 1, "2001:db8::abcd", 2);
	check_v1_dec("PROXY TCP6 1:2:3:4:5:6:7:8 0001:02:003:0004:5:6:7:8 1 "
	    "2\r\n", AF_INET6, "1:2:3:4:5:6:7:8", 1, "1:2:3:4:5:6:7:8", 2);
	check_v1_dec("PROXY TCP6 1:2:3:4:5:6:7:: ::2:3:4:5:6:7:8 1 2\r\n",
	    AF_INET6, "1:2:3:4:5:6:7:0", 1, "0:2:3:4:5:6:7:8", 2);
	check_v1_dec("PROXY TCP6 1::8 1:2::7:8 1 2\r\n",
	    AF_INET6, "1:0:0:0:0:0:0:8", 1, "1:2:0:0:0:0:7:8", 2);
	check_v1_dec("PROXY TCP6 ::ffff:192.0.2.1 1:2:3:4:5:6:1.2.3.4 1 2\r\n",
	    AF_INET6, "::ffff:c000:201", 1, "1:2:3:4:5:6:102:304", 2);
	check_v1_dec("PROXY TCP6 ::0.0.0.0 1:2:3:4:5::255.255.255.255 1 2\r\n",
	    AF_INET6, "::", 1, "1:2:3:4:5:0:ffff:ffff", 2);
	check_v1_dec("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	check_v1_dec("PROXY UNKNOWN\r\n", AF_UNSPEC, NULL, 0, NULL, 0);
	check_v1_dec("PROXY UNKNOWN \r\n", AF_UNSPEC, NULL, 0, NULL, 0);
	/* Anything before the CRLF after UNKNOWN is ignored, CR included. */
	check_v1_dec("PROXY UNKNOWN 1.2.3.4 ::1 \r 99999\r\n",
	    AF_UNSPEC, NULL, 0, NULL, 0);
	check_v1_dec("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    AF_UNSPEC, NULL, 0, NULL, 0);

	/* The longest line is 107 bytes. A longer one is refused as soon as
	 * CRLF can no longer end by byte 107: when byte 106 is not a CR. */
	memset(max, 'x', sizeof(max));
	memcpy(max, "PROXY UNKNOWN ", 14);
	memcpy(max + PROXYPROTO_V1_MAX - 2, "\r\n", 2);
	max[PROXYPROTO_V1_MAX] = '\0';
	check_v1_dec(max, AF_UNSPEC, NULL, 0, NULL, 0);
	memcpy(max + PROXYPROTO_V1_MAX - 2, "x\r\n", 3);
	check_invalid_at(max, PROXYPROTO_V1_MAX + 1, PROXYPROTO_V1_MAX - 1);
	/* Byte 106 a CR, byte 107 not an LF. */
	memcpy(max + PROXYPROTO_V1_MAX - 2, "\rx\n", 3);
	check_invalid_at(max, PROXYPROTO_V1_MAX + 1, PROXYPROTO_V1_MAX);
}

static void
test_v1_decode_reject(void)
{
	static const char *const t[] = {
		/* Framing. */
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r2\r\n",
		"PROXY TCP4\r1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"PROXY\r\n",
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
		" PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UNKNOWN\n",
		"PROXY UNKNOWN\rx\r\n",
		"PROXY UNKNOWN x\n",
		"PROXY UNKNOWN x\nx\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOW\r\n",
		/* IPv4. */
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n",
		"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.a 5.6.7.8 1 2\r\n",
		"PROXY TCP4 +1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 1 2\r\n",
		/* IPv6. */
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
		"PROXY TCP6 1::2::3 ::1 1 2\r\n",
		"PROXY TCP6 ::: ::1 1 2\r\n",
		"PROXY TCP6 : ::1 1 2\r\n",
		"PROXY TCP6 :1::2 ::1 1 2\r\n",
		"PROXY TCP6 1: ::1 1 2\r\n",
		"PROXY TCP6 ::1: ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3. ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8: ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n",
		"PROXY TCP6 ::1:2:3:4:5:6:7:8 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4::5:6:7:8 ::1 1 2\r\n",
		"PROXY TCP6 12345:: ::1 1 2\r\n",
		"PROXY TCP6 g:: ::1 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP6 [::1] ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3.4.5 ::1 1 2\r\n",
		"PROXY TCP6 ::01.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3 ::1 1 2\r\n",
		"PROXY TCP6 ::256.1.1.1 ::1 1 2\r\n",
		"PROXY TCP6 ::1.256.1.1 ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3.1000 ::1 1 2\r\n",
		"PROXY TCP6 ::1.2..3 ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3.04 ::1 1 2\r\n",
		"PROXY TCP6 ::a.1.1.1 ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3.4:1 ::1 1 2\r\n",
		"PROXY TCP6 ::1.2.3.4::1 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 1:2:3:4:5:6::1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		/* Ports. */
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 4294967297\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
		/* Too long: IPv4 tails make a TCP6 line longer than 107. */
		("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 65535 65535\r\n"),
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int before = check_failures;

		check_invalid_at(t[i], strlen(t[i]), 0);
		if (check_failures != before)
			fprintf(stderr, "  case %zu: %s\n", i, t[i]);
	}
	/* NUL is a byte like any other, not an end. */
	CHECK_INVALID_AT("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 19);
	CHECK_INVALID_AT("PROXY UNKNOWN\0\r\n", 14);
}

/* Where exactly rejection happens: at the first byte no header can have. */
static void
test_v1_reject_early(void)
{
	CHECK_INVALID_AT("EHLO x\r\n", 1);
	CHECK_INVALID_AT("HELO x\r\n", 1);
	CHECK_INVALID_AT("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1);
	CHECK_INVALID_AT("POST / HTTP/1.1\r\n", 2);
	CHECK_INVALID_AT("PROXX", 5);
	CHECK_INVALID_AT("PROXY\r\n", 6);
	CHECK_INVALID_AT("PROXY TCP7", 10);
	CHECK_INVALID_AT("PROXY TCP4 01", 13);
	CHECK_INVALID_AT("PROXY TCP4 1.2.3.4:25", 19);
	CHECK_INVALID_AT("PROXY TCP4 256", 14);
	CHECK_INVALID_AT("PROXY TCP6 1:2:3:4:5:6:7:8:", 27);
	CHECK_INVALID_AT("PROXY TCP6 1::2::", 17);
	CHECK_INVALID_AT("PROXY TCP6 :1", 13);
	CHECK_INVALID_AT("PROXY TCP6 1:2:3:4:5:6:7:1.", 27);
	CHECK_INVALID_AT("PROXY TCP6 1:2:3:4:5:6::1.", 26);
	CHECK_INVALID_AT("PROXY TCP6 1:2:3:4:5:6:7::8", 27);
	CHECK_INVALID_AT("PROXY TCP6 ::1.2.3.4.", 21);
	CHECK_INVALID_AT("PROXY TCP6 1.", 13);
	CHECK_INVALID_AT("PROXY TCP6 :::", 14);
	CHECK_INVALID_AT("PROXY TCP4 1.2.3.4 5.6.7.8 65536", 32);
	CHECK_INVALID_AT("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31);
	CHECK_INVALID_AT("PROXY UNKNOWN\n", 14);
	/* Two 45-byte IPv6 addresses end at byte 102, and " 0 0\r\n" no
	 * longer fits in 107: refused when the second one reaches 45 bytes,
	 * before the ports are seen. */
	CHECK_INVALID_AT("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 1 2\r\n", 102);
}

/* v2 decoding ------------------------------------------------------------- */

static void
test_v2_decode(void)
{
	uint8_t h[PROXYPROTO_MAX], body[PROXYPROTO_V2_LEN_MAX];
	proxyproto_addr_t got, want;
	size_t n;

	/* TCP over IPv4 with TLVs of several types after the addresses. */
	memcpy(body, addr4, 12);
	memcpy(body + 12, "\x04\x00\x00", 3);                 /* empty NOOP */
	memcpy(body + 15, "\x05\x00\x04" "abcd", 7);          /* UNIQUE_ID */
	memcpy(body + 22, "\x20\x00\x0a\x07\0\0\0\0"
	    "\x22\x00\x02" "cn", 13);                         /* SSL, CN */
	memcpy(body + 35, "\xea\x00\x01" "x", 4);             /* custom */
	n = v2(h, 0x21, 0x11, body, 39);
	check_valid(h, n, &got);
	mk(&want, AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
	CHECK(addr_eq(&got, &want));

	/* TCP over IPv6. */
	memset(body, 0, 36);
	body[0] = 0x20; body[1] = 0x01; body[15] = 1;
	body[31] = 2;
	body[32] = 0; body[33] = 25; body[34] = 0xff; body[35] = 0xff;
	n = v2(h, 0x21, 0x21, body, 36);
	check_valid(h, n, &got);
	mk(&want, AF_INET6, "2001::1", 25, "::2", 65535);
	CHECK(addr_eq(&got, &want));

	/* LOCAL, as load balancers send for health checks: no address. */
	n = v2(h, 0x20, 0x00, NULL, 0);
	check_valid(h, n, &got);
	CHECK_EQ_INT(got.family, AF_UNSPEC);
	/* LOCAL ignores the block, family and contents alike. */
	n = v2(h, 0x20, 0x11, addr4, 12);
	check_valid(h, n, &got);
	CHECK_EQ_INT(got.family, AF_UNSPEC);
	n = v2(h, 0x20, 0x21, U("\xff\xff\xff"), 3);
	check_valid(h, n, &got);
	CHECK_EQ_INT(got.family, AF_UNSPEC);

	/* PROXY with UNSPEC, or a family we do not implement: UNSPEC. */
	n = v2(h, 0x21, 0x00, U("\x04\x00\x01z"), 4);
	check_valid(h, n, &got);
	CHECK_EQ_INT(got.family, AF_UNSPEC);
	n = v2(h, 0x21, 0x12, addr4, 12);
	check_valid(h, n, &got);
	CHECK_EQ_INT(got.family, AF_UNSPEC);
	memset(body, 0, 216);
	n = v2(h, 0x21, 0x31, body, 216);
	check_valid(h, n, &got);
	CHECK_EQ_INT(got.family, AF_UNSPEC);

	/* The largest accepted header: one big NOOP TLV. */
	memset(body, 0, sizeof(body));
	memcpy(body, addr4, 12);
	body[12] = 0x04;
	body[13] = (uint8_t)((PROXYPROTO_V2_LEN_MAX - 15) >> 8);
	body[14] = (uint8_t)(PROXYPROTO_V2_LEN_MAX - 15);
	n = v2(h, 0x21, 0x11, body, PROXYPROTO_V2_LEN_MAX);
	CHECK_EQ_INT(n, PROXYPROTO_MAX);
	check_valid(h, n, &got);
	mk(&want, AF_INET, "192.168.0.1", 56324, "192.168.0.11", 443);
	CHECK(addr_eq(&got, &want));
}

static void
test_v2_decode_reject(void)
{
	uint8_t h[PROXYPROTO_MAX + 1], body[PROXYPROTO_V2_LEN_MAX + 1];
	size_t i, n;
	static const uint8_t badfam[] = {
		0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff
	};
	static const uint8_t badvc[] = { 0x11, 0x31, 0x01, 0xf1, 0x22, 0x2f };

	/* Any signature byte wrong: rejected at that byte. */
	for (i = 0; i < 12; i++) {
		n = v2(h, 0x21, 0x11, addr4, 12);
		h[i] ^= 0x01;
		check_invalid_at(h, n, i + 1);
	}
	/* Version other than 2, command other than LOCAL and PROXY. */
	for (i = 0; i < sizeof(badvc); i++) {
		n = v2(h, badvc[i], 0x11, addr4, 12);
		check_invalid_at(h, n, 13);
	}
	/* Undefined family/transport bytes, whatever the command. */
	for (i = 0; i < sizeof(badfam); i++) {
		n = v2(h, 0x21, badfam[i], addr4, 12);
		check_invalid_at(h, n, 14);
		n = v2(h, 0x20, badfam[i], addr4, 12);
		check_invalid_at(h, n, 14);
	}
	/* Address block shorter than the family needs. */
	n = v2(h, 0x21, 0x11, addr4, 11);
	check_invalid_at(h, n, 16);
	memset(body, 0, sizeof(body));
	n = v2(h, 0x21, 0x21, body, 35);
	check_invalid_at(h, n, 16);
	n = v2(h, 0x21, 0x31, body, 215);
	check_invalid_at(h, n, 16);
	/* Length beyond our bound: rejected as soon as it is read. */
	memcpy(body, addr4, 12);
	body[12] = 0x04;
	body[13] = (uint8_t)((PROXYPROTO_V2_LEN_MAX + 1 - 15) >> 8);
	body[14] = (uint8_t)(PROXYPROTO_V2_LEN_MAX + 1 - 15);
	n = v2(h, 0x21, 0x11, body, PROXYPROTO_V2_LEN_MAX + 1);
	check_invalid_at(h, n, 16);
	n = v2(h, 0x20, 0x00, body, PROXYPROTO_V2_LEN_MAX + 1);
	check_invalid_at(h, n, 16);
	h[14] = 0xff;
	h[15] = 0xff;
	check_invalid_at(h, 16, 16);

	/* TLVs: room left for less than a TLV header. */
	memcpy(body, addr4, 12);
	memcpy(body + 12, "\x04\x00", 2);
	n = v2(h, 0x21, 0x11, body, 13);
	check_invalid_at(h, n, 16);
	n = v2(h, 0x21, 0x11, body, 14);
	check_invalid_at(h, n, 16);
	/* A TLV longer than what is left: rejected at its header. */
	memcpy(body + 12, "\x04\x00\x02" "a", 4);
	n = v2(h, 0x21, 0x11, body, 16);
	check_invalid_at(h, n, 16 + 15);
	memcpy(body + 12, "\x04\x00\x00" "\x04\x00\x01" "a" "\x20\xff\xff",
	    10);
	n = v2(h, 0x21, 0x11, body, 22);
	check_invalid_at(h, n, 16 + 22);
	/* A trailing byte after whole TLVs. */
	memcpy(body + 12, "\x04\x00\x00" "z", 4);
	n = v2(h, 0x21, 0x11, body, 16);
	check_invalid_at(h, n, 16 + 15);
}

static void
test_garbage(void)
{
	static const uint8_t http2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	CHECK_EQ_INT(dec_str(""), PROXYPROTO_PARTIAL);
	CHECK_EQ_INT(dec_str("P"), PROXYPROTO_PARTIAL);
	CHECK_EQ_INT(dec_str("\r"), PROXYPROTO_PARTIAL);
	CHECK_INVALID_AT("\r\n\r\nQUIT\r\n", 5);
	CHECK_INVALID_AT("\r\n\r\n\0\r\nQUIT\r", 12);
	CHECK_INVALID_AT("\n", 1);
	CHECK_INVALID_AT("\0", 1);
	CHECK_INVALID_AT("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 1);
	CHECK_INVALID_AT("QUIT\r\n", 1);
	CHECK_INVALID_AT("STARTTLS\r\n", 1);
	check_invalid_at(http2, L(http2), 3);
}

int
main(void)
{
	RUN(test_v1_encode);
	RUN(test_v1_encode_inconsistent);
	RUN(test_v2_encode);
	RUN(test_v2_encode_reject);
	RUN(test_v2_encode_ssl);
	RUN(test_round_trip);
	RUN(test_addr_set);
	RUN(test_v1_decode);
	RUN(test_v1_decode_reject);
	RUN(test_v1_reject_early);
	RUN(test_v2_decode);
	RUN(test_v2_decode_reject);
	RUN(test_garbage);
	return CHECK_DONE();
}
