/*
 * Unit tests for proxy/dnsmsg.c: query building, answer parsing (every
 * type, CNAME chains, compression, RCODEs, AD), limits, and answers
 * captured from a real validating resolver (dnsmsg_real.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dnsmsg.h"
#include "dnsmsg_real.h"

/* A message under construction. */
typedef struct {
	uint8_t b[8192];
	size_t n;
} msg_t;

static void
put8(msg_t *m, unsigned v)
{
	if (m->n >= sizeof(m->b))
		abort();
	m->b[m->n++] = (uint8_t)v;
}

static void
put16(msg_t *m, unsigned v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void
put32(msg_t *m, uint32_t v)
{
	put16(m, v >> 16);
	put16(m, v & 0xffff);
}

static void
putbytes(msg_t *m, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(m, ((const uint8_t *)p)[i]);
}

/* A text name, uncompressed, written label by label (independently of
 * dnsmsg_name_from_text). "" is the root. */
static void
putname(msg_t *m, const char *s)
{
	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t l = dot != NULL ? (size_t)(dot - s) : strlen(s);

		put8(m, (unsigned)l);
		putbytes(m, s, l);
		s += l;
		if (*s == '.')
			s++;
	}
	put8(m, 0);
}

static void
putptr(msg_t *m, unsigned off)
{
	put16(m, 0xc000 | off);
}

#define ID 0x1234
#define F_QR 0x8000
#define F_AA 0x0400
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080
#define F_AD 0x0020
#define RESP (F_QR | F_RD | F_RA)

/* Header and question (qname text, qtype, IN) at offset 12. */
static void
start(msg_t *m, unsigned flags, unsigned an, unsigned ns, unsigned ar,
    const char *qname, unsigned qtype)
{
	m->n = 0;
	put16(m, ID);
	put16(m, flags);
	put16(m, 1);
	put16(m, an);
	put16(m, ns);
	put16(m, ar);
	putname(m, qname);
	put16(m, qtype);
	put16(m, DNSMSG_CLASS_IN);
}

/* An RR whose owner has been written; returns the RDLENGTH's offset. */
static size_t
rr_head(msg_t *m, unsigned type, uint32_t ttl)
{
	size_t at;

	put16(m, type);
	put16(m, DNSMSG_CLASS_IN);
	put32(m, ttl);
	at = m->n;
	put16(m, 0);
	return at;
}

static void
rr_end(msg_t *m, size_t at)
{
	size_t len = m->n - at - 2;

	m->b[at] = (uint8_t)(len >> 8);
	m->b[at + 1] = (uint8_t)len;
}

/* Owner = the question's name (pointer to 12). */
static void
rr_a(msg_t *m, uint32_t ttl, uint8_t last)
{
	size_t at;

	putptr(m, 12);
	at = rr_head(m, DNSMSG_TYPE_A, ttl);
	put8(m, 192);
	put8(m, 0);
	put8(m, 2);
	put8(m, last);
	rr_end(m, at);
}

/* An OPT record (payload 1232, extended RCODE bits ext). */
static void
rr_opt(msg_t *m, unsigned ext)
{
	put8(m, 0);
	put16(m, DNSMSG_TYPE_OPT);
	put16(m, 1232);
	put32(m, (uint32_t)ext << 24);
	put16(m, 0);
}

/* An authority SOA for the zone "example." with the given TTL, MINIMUM. */
static void
rr_soa(msg_t *m, uint32_t ttl, uint32_t minimum)
{
	size_t at;

	putname(m, "example");
	at = rr_head(m, DNSMSG_TYPE_SOA, ttl);
	putname(m, "ns.example");
	putname(m, "host.example");
	put32(m, 1);
	put32(m, 3600);
	put32(m, 600);
	put32(m, 86400);
	put32(m, minimum);
	rr_end(m, at);
}

static uint8_t qn[DNSMSG_NAME_MAX];
static size_t qnl;

static void
setq(const char *text)
{
	if (dnsmsg_name_from_text(text, strlen(text), qn, &qnl) == -1)
		abort();
}

/*
 * Parses m (an exact heap copy, so ASan sees overreads) against the
 * question (qn, qtype, ID). Every prefix of the message is parsed too: a
 * cut message is never OK/NODATA/NXDOMAIN unless the cut is at the end.
 */
static dnsmsg_status_t
parse(const msg_t *m, unsigned qtype, dnsmsg_answer_t *ans)
{
	uint8_t *q = malloc(m->n > 0 ? m->n : 1);
	dnsmsg_status_t st;
	dnsmsg_answer_t *pa = malloc(sizeof(*pa));

	if (q == NULL || pa == NULL)
		abort();
	memcpy(q, m->b, m->n);
	st = dnsmsg_parse(q, m->n, qn, qnl, (uint16_t)qtype, ID, ans);
	free(q);
	for (size_t k = 0; k < m->n; k++) {
		dnsmsg_status_t pst;

		q = malloc(k > 0 ? k : 1);
		memcpy(q, m->b, k);
		pst = dnsmsg_parse(q, k, qn, qnl, (uint16_t)qtype, ID, pa);
		free(q);
		/* A header and question cut after TC is still TRUNCATED. */
		CHECK(pst == DNSMSG_ERROR || pst == DNSMSG_TRUNCATED);
	}
	free(pa);
	return st;
}

static dnsmsg_answer_t *
ans_new(void)
{
	dnsmsg_answer_t *a = calloc(1, sizeof(*a));

	if (a == NULL)
		abort();
	return a;
}

/* Names ------------------------------------------------------------------- */

static void
test_name_text(void)
{
	uint8_t w[DNSMSG_NAME_MAX];
	size_t wl;
	char t[DNSMSG_NAME_TEXT_MAX];
	char big[300];

	CHECK_EQ_INT(dnsmsg_name_from_text("Mx1.Example.com.", 16, w, &wl), 0);
	CHECK_MEM(w, wl, "\3Mx1\7Example\3com\0", 17);
	CHECK_EQ_INT(dnsmsg_name_text(w, wl, t, sizeof(t)), 15);
	CHECK(strcmp(t, "Mx1.Example.com") == 0);
	CHECK_EQ_INT(dnsmsg_name_from_text("_25._tcp.mx", 11, w, &wl), 0);
	CHECK_EQ_INT(dnsmsg_name_from_text(".", 1, w, &wl), 0);
	CHECK_EQ_INT(wl, 1);
	CHECK_EQ_INT(dnsmsg_name_text(w, wl, t, sizeof(t)), 1);
	CHECK(strcmp(t, ".") == 0);
	CHECK_EQ_INT(dnsmsg_name_from_text("", 0, w, &wl), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text("a..b", 4, w, &wl), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text(".a", 2, w, &wl), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text("a..", 3, w, &wl), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text("a b", 3, w, &wl), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text("a\\.b", 4, w, &wl), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text("a\0b", 3, w, &wl), -1);
	/* Labels: 63 octets, not 64. */
	memset(big, 'a', 64);
	CHECK_EQ_INT(dnsmsg_name_from_text(big, 63, w, &wl), 0);
	CHECK_EQ_INT(wl, 65);
	CHECK_EQ_INT(dnsmsg_name_from_text(big, 64, w, &wl), -1);
	/* Names: 253 characters (255 octets in wire form), not 254. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (i % 2) ? '.' : 'a';
	CHECK_EQ_INT(dnsmsg_name_from_text(big, 253, w, &wl), 0);
	CHECK_EQ_INT(wl, 255);
	CHECK_EQ_INT(dnsmsg_name_text(w, wl, t, sizeof(t)), 253);
	CHECK_EQ_INT(dnsmsg_name_text(w, wl, t, 253), -1);
	CHECK_EQ_INT(dnsmsg_name_from_text(big, 255, w, &wl), -1);
	/* Text refuses octets a host name does not have. */
	CHECK_EQ_INT(dnsmsg_name_text((const uint8_t *)"\3a.b\0", 5, t,
	    sizeof(t)), -1);
	CHECK_EQ_INT(dnsmsg_name_text((const uint8_t *)"\3abc", 4, t,
	    sizeof(t)), -1);
	CHECK_EQ_INT(dnsmsg_name_text((const uint8_t *)"\1a\0\0", 4, t,
	    sizeof(t)), -1);
	CHECK(dnsmsg_name_eq((const uint8_t *)"\3ABC\0", 5,
	    (const uint8_t *)"\3abc\0", 5));
	CHECK(!dnsmsg_name_eq((const uint8_t *)"\3abd\0", 5,
	    (const uint8_t *)"\3abc\0", 5));
}

/* Queries ----------------------------------------------------------------- */

static void
test_query(void)
{
	static const uint8_t want[] = {
		0xbe, 0xef, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0, 52, 0, 1,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,
	};
	uint8_t q[DNSMSG_QUERY_MAX];
	size_t ql;
	dnsmsg_answer_t *a = ans_new();

	setq("example.com");
	CHECK_EQ_INT(dnsmsg_query(q, sizeof(q), &ql, qn, qnl,
	    DNSMSG_TYPE_TLSA, 0xbeef), 0);
	CHECK_MEM(q, ql, want, sizeof(want));
	CHECK_EQ_INT(dnsmsg_query(q, sizeof(want) - 1, &ql, qn, qnl,
	    DNSMSG_TYPE_TLSA, 0xbeef), -1);
	CHECK_EQ_INT(dnsmsg_query(q, sizeof(q), &ql,
	    (const uint8_t *)"\3abc", 4, DNSMSG_TYPE_A, 1), -1);

	/* The query, answered with nothing (QR set), parses back. */
	CHECK_EQ_INT(dnsmsg_query(q, sizeof(q), &ql, qn, qnl,
	    DNSMSG_TYPE_TLSA, 0xbeef), 0);
	q[2] |= 0x80;
	CHECK_EQ_INT(dnsmsg_parse(q, ql, qn, qnl, DNSMSG_TYPE_TLSA, 0xbeef, a),
	    DNSMSG_NODATA);
	CHECK_MEM(a->owner, a->owner_len, qn, qnl);
	/* The longest name gives the longest query. */
	{
		char big[254];

		for (size_t i = 0; i < 253; i++)
			big[i] = (i % 2) ? '.' : 'a';
		big[253] = '\0';
		setq(big);
		CHECK_EQ_INT(dnsmsg_query(q, sizeof(q), &ql, qn, qnl,
		    DNSMSG_TYPE_A, 7), 0);
		CHECK_EQ_INT(ql, DNSMSG_QUERY_MAX);
	}
	free(a);
}

/* Types ------------------------------------------------------------------- */

static void
test_a_aaaa(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	size_t at;

	setq("example.com");
	start(&m, RESP | F_AD, 2, 0, 1, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	rr_a(&m, 200, 2);
	rr_opt(&m, 0);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_OK);
	CHECK_EQ_INT(a->nrr, 2);
	CHECK_EQ_INT(a->secure, 1);
	CHECK_EQ_INT(a->ttl, 200);
	CHECK_EQ_INT(a->ncname, 0);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[0]), a->rr[0].len,
	    "\xc0\x00\x02\x01", 4);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[1]), a->rr[1].len,
	    "\xc0\x00\x02\x02", 4);

	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_AAAA);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_AAAA, 60);
	putbytes(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_AAAA, a), DNSMSG_OK);
	CHECK_EQ_INT(a->secure, 0);
	CHECK_EQ_INT(a->rr[0].len, 16);
	CHECK_EQ_INT(dnsmsg_rr_data(a, &a->rr[0])[15], 1);

	/* A 5-octet A RR is malformed. */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_A, 60);
	putbytes(&m, "\1\2\3\4\5", 5);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	free(a);
}

static void
test_mx(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	char t[DNSMSG_NAME_TEXT_MAX];
	size_t at;

	setq("example.com");
	start(&m, RESP, 2, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 300);
	put16(&m, 10);
	put8(&m, 3);
	putbytes(&m, "mx1", 3);
	putptr(&m, 12);                 /* mx1.example.com */
	rr_end(&m, at);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 300);
	put16(&m, 20);
	putname(&m, "backup.example.net");
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_OK);
	CHECK_EQ_INT(a->nrr, 2);
	CHECK_EQ_INT(a->rr[0].pref, 10);
	CHECK_EQ_INT(dnsmsg_name_text(a->rr[0].name, a->rr[0].name_len, t,
	    sizeof(t)), 15);
	CHECK(strcmp(t, "mx1.example.com") == 0);
	CHECK_EQ_INT(a->rr[1].pref, 20);
	CHECK_EQ_INT(dnsmsg_name_text(a->rr[1].name, a->rr[1].name_len, t,
	    sizeof(t)), 18);
	CHECK(strcmp(t, "backup.example.net") == 0);

	/* An octet after the exchange's name is malformed. */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 300);
	put16(&m, 10);
	putptr(&m, 12);
	put8(&m, 0);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);
	/* A name running past its RDATA is malformed. */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 300);
	put16(&m, 10);
	put8(&m, 3);
	putbytes(&m, "mx1", 3);
	rr_end(&m, at);
	put8(&m, 0);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);
	free(a);
}

static void
test_txt(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	size_t at;
	static char big[DNSMSG_TXT_MAX + 1];

	setq("_mta-sts.example.com");
	start(&m, RESP, 2, 0, 0, "_mta-sts.example.com", DNSMSG_TYPE_TXT);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_TXT, 300);
	put8(&m, 8);
	putbytes(&m, "v=STSv1;", 8);
	put8(&m, 0);                    /* an empty string is allowed */
	put8(&m, 7);
	putbytes(&m, " id=123", 7);
	rr_end(&m, at);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_TXT, 300);
	put8(&m, 3);
	putbytes(&m, "two", 3);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TXT, a), DNSMSG_OK);
	CHECK_EQ_INT(a->nrr, 2);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[0]), a->rr[0].len,
	    "v=STSv1; id=123", 15);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[1]), a->rr[1].len, "two", 3);

	/* A string longer than the RDATA left. */
	start(&m, RESP, 1, 0, 0, "_mta-sts.example.com", DNSMSG_TYPE_TXT);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_TXT, 300);
	put8(&m, 9);
	putbytes(&m, "v=STSv1;", 8);
	rr_end(&m, at);
	put8(&m, 'x');
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TXT, a), DNSMSG_ERROR);

	/* DNSMSG_TXT_MAX octets in one RR, not one more. */
	memset(big, 'x', sizeof(big));
	for (size_t extra = 0; extra <= 1; extra++) {
		size_t left = DNSMSG_TXT_MAX + extra;

		start(&m, RESP, 1, 0, 0, "_mta-sts.example.com",
		    DNSMSG_TYPE_TXT);
		putptr(&m, 12);
		at = rr_head(&m, DNSMSG_TYPE_TXT, 300);
		while (left > 0) {
			size_t k = left > 255 ? 255 : left;

			put8(&m, (unsigned)k);
			putbytes(&m, big, k);
			left -= k;
		}
		rr_end(&m, at);
		CHECK_EQ_INT(dnsmsg_parse(m.b, m.n, qn, qnl, DNSMSG_TYPE_TXT,
		    ID, a), extra ? DNSMSG_ERROR : DNSMSG_OK);
	}
	free(a);
}

static void
test_tlsa(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	size_t at;
	static uint8_t data[DNSMSG_TLSA_DATA_MAX + 1];

	setq("_25._tcp.mx1.example.com");
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	start(&m, RESP | F_AD, 2, 0, 0, "_25._tcp.mx1.example.com",
	    DNSMSG_TYPE_TLSA);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_TLSA, 3600);
	put8(&m, 3);
	put8(&m, 1);
	put8(&m, 1);
	putbytes(&m, data, 32);
	rr_end(&m, at);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_TLSA, 3600);
	put8(&m, 2);
	put8(&m, 0);
	put8(&m, 2);
	putbytes(&m, data + 1, 64);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_OK);
	CHECK_EQ_INT(a->nrr, 2);
	CHECK_EQ_INT(a->secure, 1);
	CHECK_EQ_INT(a->rr[0].usage, 3);
	CHECK_EQ_INT(a->rr[0].selector, 1);
	CHECK_EQ_INT(a->rr[0].mtype, 1);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[0]), a->rr[0].len, data, 32);
	CHECK_EQ_INT(a->rr[1].usage, 2);
	CHECK_EQ_INT(a->rr[1].selector, 0);
	CHECK_EQ_INT(a->rr[1].mtype, 2);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[1]), a->rr[1].len, data + 1, 64);

	/* Two octets of RDATA. */
	start(&m, RESP, 1, 0, 0, "_25._tcp.mx1.example.com",
	    DNSMSG_TYPE_TLSA);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_TLSA, 3600);
	put8(&m, 3);
	put8(&m, 1);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_ERROR);

	/* DNSMSG_TLSA_DATA_MAX octets of data, not one more. */
	for (size_t extra = 0; extra <= 1; extra++) {
		start(&m, RESP, 1, 0, 0, "_25._tcp.mx1.example.com",
		    DNSMSG_TYPE_TLSA);
		putptr(&m, 12);
		at = rr_head(&m, DNSMSG_TYPE_TLSA, 3600);
		put8(&m, 2);
		put8(&m, 0);
		put8(&m, 0);
		putbytes(&m, data, DNSMSG_TLSA_DATA_MAX + extra);
		rr_end(&m, at);
		CHECK_EQ_INT(dnsmsg_parse(m.b, m.n, qn, qnl, DNSMSG_TYPE_TLSA,
		    ID, a), extra ? DNSMSG_ERROR : DNSMSG_OK);
	}
	free(a);
}

/* More RRs of the asked type than DNSMSG_RR_MAX is an error, not a cut. */
static void
test_rr_max(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();

	setq("example.com");
	for (unsigned n = DNSMSG_RR_MAX; n <= DNSMSG_RR_MAX + 1; n++) {
		start(&m, RESP, n, 0, 0, "example.com", DNSMSG_TYPE_A);
		for (unsigned i = 0; i < n; i++)
			rr_a(&m, 300, (uint8_t)i);
		CHECK_EQ_INT(dnsmsg_parse(m.b, m.n, qn, qnl, DNSMSG_TYPE_A, ID,
		    a), n == DNSMSG_RR_MAX ? DNSMSG_OK : DNSMSG_ERROR);
	}
	CHECK_EQ_INT(a->nrr, 0);
	free(a);
}

/* RRs of other types or owners in the answer section are skipped. */
static void
test_skip_others(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	size_t at;

	setq("example.com");
	start(&m, RESP, 3, 0, 0, "example.com", DNSMSG_TYPE_A);
	putptr(&m, 12);
	at = rr_head(&m, 46, 10);            /* an RRSIG: skipped */
	putbytes(&m, "whatever", 8);
	rr_end(&m, at);
	putname(&m, "other.example.com");    /* another owner: skipped */
	at = rr_head(&m, DNSMSG_TYPE_A, 10);
	putbytes(&m, "\1\1\1\1", 4);
	rr_end(&m, at);
	rr_a(&m, 300, 9);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_OK);
	CHECK_EQ_INT(a->nrr, 1);
	CHECK_EQ_INT(a->ttl, 300);
	CHECK_EQ_INT(dnsmsg_rr_data(a, &a->rr[0])[3], 9);
	free(a);
}

/* CNAMEs ------------------------------------------------------------------ */

/* A CNAME RR from owner (text) to target (text), uncompressed. */
static void
rr_cname(msg_t *m, const char *owner, const char *target, uint32_t ttl)
{
	size_t at;

	putname(m, owner);
	at = rr_head(m, DNSMSG_TYPE_CNAME, ttl);
	putname(m, target);
	rr_end(m, at);
}

static void
test_cname_chain(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	char t[DNSMSG_NAME_TEXT_MAX];
	size_t at;

	/* Listed out of order: the chain is followed by name, not place. */
	setq("www.example.com");
	start(&m, RESP | F_AD, 3, 0, 0, "www.example.com", DNSMSG_TYPE_A);
	rr_cname(&m, "C1.example.net", "c2.example.org", 50);
	putname(&m, "c2.example.org");
	at = rr_head(&m, DNSMSG_TYPE_A, 400);
	putbytes(&m, "\x0a\0\0\x01", 4);
	rr_end(&m, at);
	rr_cname(&m, "WWW.example.com", "c1.example.net", 500);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_OK);
	CHECK_EQ_INT(a->ncname, 2);
	CHECK_EQ_INT(a->nrr, 1);
	CHECK_EQ_INT(a->ttl, 50);
	CHECK_EQ_INT(dnsmsg_name_text(a->owner, a->owner_len, t, sizeof(t)),
	    14);
	CHECK(strcmp(t, "c2.example.org") == 0);

	/* A chain to a name without data: NODATA for the target. */
	start(&m, RESP, 1, 0, 0, "www.example.com", DNSMSG_TYPE_A);
	rr_cname(&m, "www.example.com", "c1.example.net", 50);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_NODATA);
	CHECK_EQ_INT(a->ncname, 1);
	/* ... NXDOMAIN for the target (RFC 6604). */
	start(&m, RESP | 3, 1, 0, 0, "www.example.com", DNSMSG_TYPE_A);
	rr_cname(&m, "www.example.com", "c1.example.net", 50);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_NXDOMAIN);
	CHECK_EQ_INT(a->ncname, 1);

	/* Asking for the CNAME itself: no following. */
	start(&m, RESP, 1, 0, 0, "www.example.com", DNSMSG_TYPE_CNAME);
	rr_cname(&m, "www.example.com", "c1.example.net", 50);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_CNAME, a), DNSMSG_OK);
	CHECK_EQ_INT(a->ncname, 0);
	CHECK_EQ_INT(a->nrr, 1);
	CHECK_MEM(a->rr[0].name, a->rr[0].name_len,
	    "\2c1\7example\3net\0", 16);

	/* Two CNAMEs at one name. */
	start(&m, RESP, 2, 0, 0, "www.example.com", DNSMSG_TYPE_A);
	rr_cname(&m, "www.example.com", "c1.example.net", 50);
	rr_cname(&m, "www.example.com", "c2.example.net", 50);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	free(a);
}

/* n CNAMEs n0 -> n1 -> ... -> nn, then an A at nn. */
static void
chain_msg(msg_t *m, unsigned n)
{
	char o[16], t[16];

	start(m, RESP, n + 1, 0, 0, "n0.example", DNSMSG_TYPE_A);
	for (unsigned i = 0; i < n; i++) {
		snprintf(o, sizeof(o), "n%u.example", i);
		snprintf(t, sizeof(t), "n%u.example", i + 1);
		rr_cname(m, o, t, 100);
	}
	snprintf(o, sizeof(o), "n%u.example", n);
	putname(m, o);
	{
		size_t at = rr_head(m, DNSMSG_TYPE_A, 100);

		putbytes(m, "\1\2\3\4", 4);
		rr_end(m, at);
	}
}

static void
test_cname_limits(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();

	setq("n0.example");
	chain_msg(&m, DNSMSG_CNAME_MAX);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_OK);
	CHECK_EQ_INT(a->ncname, DNSMSG_CNAME_MAX);
	chain_msg(&m, DNSMSG_CNAME_MAX + 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);

	/* Loops: to itself, and back to the question's name. */
	start(&m, RESP, 1, 0, 0, "n0.example", DNSMSG_TYPE_A);
	rr_cname(&m, "n0.example", "N0.example", 100);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	CHECK(a->error != NULL && strcmp(a->error, "CNAME loop") == 0);
	start(&m, RESP, 3, 0, 0, "n0.example", DNSMSG_TYPE_A);
	rr_cname(&m, "n0.example", "n1.example", 100);
	rr_cname(&m, "n1.example", "n2.example", 100);
	rr_cname(&m, "n2.example", "n1.example", 100);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	CHECK(a->error != NULL && strcmp(a->error, "CNAME loop") == 0);
	free(a);
}

/* Compression ------------------------------------------------------------- */

static void
test_compression(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();
	size_t at, p1, p2;

	setq("example.com");
	/* Pointer to pointer to pointer, all backwards: fine. */
	start(&m, RESP, 3, 0, 0, "example.com", DNSMSG_TYPE_MX);
	p1 = m.n;
	putptr(&m, 12);                     /* owner: example.com */
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 1);
	p2 = m.n;
	put8(&m, 1);
	put8(&m, 'a');
	putptr(&m, (unsigned)p1);           /* a -> (ptr) -> example.com */
	rr_end(&m, at);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 2);
	put8(&m, 1);
	put8(&m, 'b');
	putptr(&m, (unsigned)p2);           /* b.a.example.com */
	rr_end(&m, at);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 3);
	putptr(&m, (unsigned)p2);           /* straight to a pointer chain */
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_OK);
	CHECK_EQ_INT(a->nrr, 3);
	CHECK_MEM(a->rr[0].name, a->rr[0].name_len,
	    "\1a\7example\3com\0", 15);
	CHECK_MEM(a->rr[1].name, a->rr[1].name_len,
	    "\1b\1a\7example\3com\0", 17);
	CHECK_MEM(a->rr[2].name, a->rr[2].name_len,
	    "\1a\7example\3com\0", 15);

	/* A pointer to itself. */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 1);
	putptr(&m, (unsigned)m.n);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);

	/* A label, then a pointer back to that label: a loop through an
	 * earlier offset (pointing before the pointer is not enough). */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 1);
	p1 = m.n;
	put8(&m, 1);
	put8(&m, 'x');
	putptr(&m, (unsigned)p1);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);

	/* A forward pointer (to a valid name further on). */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 1);
	putptr(&m, (unsigned)m.n + 2);
	putname(&m, "fwd");
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);

	/* A backward pointer to a place holding a forward pointer: each
	 * pointer must point before the labels that led to it, not only
	 * before the name's start. */
	start(&m, RESP, 2, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(&m, 12);
	at = rr_head(&m, 99, 10);
	p1 = m.n;
	putptr(&m, (unsigned)m.n + 2);      /* forward, to "fwd" below */
	putname(&m, "fwd");
	rr_end(&m, at);
	putptr(&m, 12);
	at = rr_head(&m, DNSMSG_TYPE_MX, 10);
	put16(&m, 1);
	putptr(&m, (unsigned)p1);
	rr_end(&m, at);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);

	/* Pointers past the end, and a pointer cut in half. */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	putptr(&m, 0x3fff);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	put8(&m, 0xc0);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);

	/* Extended label types (0x40, 0x80) are refused, even with the
	 * octets a label of that length would have. */
	for (unsigned lt = 0x40; lt <= 0x80; lt += 0x40) {
		start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
		putptr(&m, 12);
		at = rr_head(&m, DNSMSG_TYPE_MX, 10);
		put16(&m, 1);
		put8(&m, lt);
		for (unsigned i = 0; i < lt; i++)
			put8(&m, 'x');
		put8(&m, 0);
		rr_end(&m, at);
		CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);
	}

	/* A name over 255 octets through pointers: 4 x 63-octet labels. */
	{
		char l63[64];

		memset(l63, 'q', 63);
		l63[63] = '\0';
		start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_MX);
		putptr(&m, 12);
		at = rr_head(&m, DNSMSG_TYPE_MX, 10);
		put16(&m, 1);
		p1 = m.n;
		put8(&m, 63);
		putbytes(&m, l63, 63);
		put8(&m, 63);
		putbytes(&m, l63, 63);
		put8(&m, 0);
		rr_end(&m, at);
		CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_OK);
		/* 2 more labels then the 2 above: 4*64 + 1 = 257 octets. */
		m.b[7] = 2;
		putptr(&m, 12);
		at = rr_head(&m, DNSMSG_TYPE_MX, 10);
		put16(&m, 2);
		put8(&m, 63);
		putbytes(&m, l63, 63);
		put8(&m, 63);
		putbytes(&m, l63, 63);
		putptr(&m, (unsigned)p1);
		rr_end(&m, at);
		CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);
	}
	free(a);
}

/*
 * A name reached through n + 2 pointer hops, each strictly backwards: an
 * unknown RR holds "a" + pointer to the question and then n pointers, each
 * to the one before; the MX exchange points to the last.
 */
static void
hops_msg(msg_t *m, unsigned n)
{
	size_t at, prev;

	start(m, RESP, 2, 0, 0, "example.com", DNSMSG_TYPE_MX);
	putptr(m, 12);
	at = rr_head(m, 99, 10);
	prev = m->n;
	put8(m, 1);
	put8(m, 'a');
	putptr(m, 12);
	for (unsigned i = 0; i < n; i++) {
		size_t here = m->n;

		putptr(m, (unsigned)prev);
		prev = here;
	}
	rr_end(m, at);
	putptr(m, 12);
	at = rr_head(m, DNSMSG_TYPE_MX, 10);
	put16(m, 5);
	putptr(m, (unsigned)prev);
	rr_end(m, at);
}

static void
test_pointer_hops(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();

	setq("example.com");
	hops_msg(&m, DNSMSG_PTR_HOPS_MAX - 2);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_OK);
	CHECK_MEM(a->rr[0].name, a->rr[0].name_len,
	    "\1a\7example\3com\0", 15);
	hops_msg(&m, DNSMSG_PTR_HOPS_MAX - 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_MX, a), DNSMSG_ERROR);
	free(a);
}

/* Header, question, RCODEs ------------------------------------------------ */

static void
test_header(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();

	setq("example.com");
	/* Case in the echoed question does not matter. */
	start(&m, RESP, 1, 0, 0, "EXAMPLE.Com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_OK);
	/* Another name, type, class; wrong id; no QR; two questions. */
	start(&m, RESP, 1, 0, 0, "example.org", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	CHECK(strcmp(a->error, "question mismatch") == 0);
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_AAAA);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	m.b[m.n - 1] = 3;                       /* class CH */
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	m.b[1] ^= 1;
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	CHECK(strcmp(a->error, "id mismatch") == 0);
	start(&m, F_RD | F_RA, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP | 0x0800, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);                       /* opcode IQUERY */
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP, 0, 0, 0, "example.com", DNSMSG_TYPE_A);
	m.b[5] = 2;
	putname(&m, "example.com");
	put16(&m, DNSMSG_TYPE_A);
	put16(&m, DNSMSG_CLASS_IN);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP, 0, 0, 0, "example.com", DNSMSG_TYPE_A);
	m.b[5] = 0;
	m.n = 12;
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);

	/* Trailing octets, and a count promising more RRs than there are. */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	put8(&m, 0);
	/* (Not parse(): the prefix without the extra octet is fine.) */
	CHECK_EQ_INT(dnsmsg_parse(m.b, m.n, qn, qnl, DNSMSG_TYPE_A, ID, a),
	    DNSMSG_ERROR);
	CHECK(strcmp(a->error, "trailing octets") == 0);
	start(&m, RESP, 2, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	start(&m, RESP, 1, 1, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);

	/* TC: reported, whatever follows. */
	start(&m, RESP | F_TC | F_AD, 5, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_TRUNCATED);
	CHECK_EQ_INT(a->secure, 0);
	CHECK_EQ_INT(a->nrr, 0);

	/* A TTL with the top bit set counts as 0 (RFC 2181 8). */
	start(&m, RESP, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 0x80000001u, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_OK);
	CHECK_EQ_INT(a->ttl, 0);
	free(a);
}

static void
test_rcode_ad(void)
{
	msg_t m;
	dnsmsg_answer_t *a = ans_new();

	setq("example.com");
	/* SERVFAIL (a bogus answer) is never secure, AD or not. */
	start(&m, RESP | F_AD | 2, 0, 0, 1, "example.com", DNSMSG_TYPE_TLSA);
	rr_opt(&m, 0);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_SERVFAIL);
	CHECK_EQ_INT(a->secure, 0);
	CHECK_EQ_INT(a->rcode, 2);
	/* NXDOMAIN, authenticated denial: secure, negative TTL from SOA. */
	start(&m, RESP | F_AD | 3, 0, 1, 0, "example.com", DNSMSG_TYPE_TLSA);
	rr_soa(&m, 3600, 300);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_NXDOMAIN);
	CHECK_EQ_INT(a->secure, 1);
	CHECK_EQ_INT(a->ttl, 300);
	start(&m, RESP | 3, 0, 1, 0, "example.com", DNSMSG_TYPE_TLSA);
	rr_soa(&m, 60, 300);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_NXDOMAIN);
	CHECK_EQ_INT(a->secure, 0);
	CHECK_EQ_INT(a->ttl, 60);
	/* NODATA, with and without AD; no SOA: TTL 0. */
	start(&m, RESP | F_AD, 0, 1, 0, "example.com", DNSMSG_TYPE_TLSA);
	rr_soa(&m, 3600, 900);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_NODATA);
	CHECK_EQ_INT(a->secure, 1);
	CHECK_EQ_INT(a->ttl, 900);
	start(&m, RESP, 0, 0, 0, "example.com", DNSMSG_TYPE_TLSA);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_NODATA);
	CHECK_EQ_INT(a->secure, 0);
	CHECK_EQ_INT(a->ttl, 0);
	/* A malformed SOA is an error. */
	start(&m, RESP, 0, 1, 0, "example.com", DNSMSG_TYPE_TLSA);
	putname(&m, "example");
	{
		size_t at = rr_head(&m, DNSMSG_TYPE_SOA, 60);

		putname(&m, "ns.example");
		put32(&m, 1);
		rr_end(&m, at);
	}
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_TLSA, a), DNSMSG_ERROR);
	/* REFUSED, NOTIMP, FORMERR: errors. */
	for (unsigned rc = 1; rc <= 5; rc++) {
		if (rc == 2 || rc == 3)
			continue;
		start(&m, RESP | F_AD | rc, 0, 0, 0, "example.com",
		    DNSMSG_TYPE_A);
		CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
		CHECK_EQ_INT(a->secure, 0);
	}
	/* The OPT's extended RCODE counts: 0 + ext 1 = BADVERS (16). */
	start(&m, RESP | F_AD, 1, 0, 1, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	rr_opt(&m, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	CHECK_EQ_INT(a->rcode, 16);
	/* Two OPT records. */
	start(&m, RESP, 1, 0, 2, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	rr_opt(&m, 0);
	rr_opt(&m, 0);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	/* NXDOMAIN carrying data of the asked type is contradictory. */
	start(&m, RESP | 3, 1, 0, 0, "example.com", DNSMSG_TYPE_A);
	rr_a(&m, 300, 1);
	CHECK_EQ_INT(parse(&m, DNSMSG_TYPE_A, a), DNSMSG_ERROR);
	free(a);
}

/* Real answers ------------------------------------------------------------- */

static dnsmsg_status_t
parse_real(const uint8_t *p, size_t n, const char *name, unsigned type,
    dnsmsg_answer_t *a)
{
	msg_t m;

	setq(name);
	memcpy(m.b, p, n);
	m.n = n;
	return dnsmsg_parse(m.b, m.n, qn, qnl, (uint16_t)type, 0x5a5a, a);
}

static void
test_real(void)
{
	dnsmsg_answer_t *a = ans_new();
	char t[DNSMSG_NAME_TEXT_MAX];
	static const uint8_t spki[] = {
		0x0f, 0xe7, 0x27, 0xb6, 0x4d, 0x81, 0x0f, 0x5b, 0x1e, 0xc2,
		0x5b, 0xe9, 0xb3, 0x91, 0x66, 0xd0, 0x0c, 0xe4, 0xcc, 0x1c,
		0xb4, 0x89, 0xc8, 0x52, 0x6c, 0xc5, 0x47, 0x8e, 0x30, 0xc7,
		0x3f, 0x05,
	};

	/* A TLSA behind a CNAME, signed: the RRs are the target's (the TLSA
	 * base domain stays the asked one, RFC 7672 2.2.3: the caller's). */
	CHECK_EQ_INT(parse_real(real_tlsa_cname, sizeof(real_tlsa_cname),
	    "_25._tcp.alias.lab.test", DNSMSG_TYPE_TLSA, a), DNSMSG_OK);
	CHECK_EQ_INT(a->secure, 1);
	CHECK_EQ_INT(a->ncname, 1);
	CHECK_EQ_INT(a->nrr, 1);
	CHECK_EQ_INT(a->ttl, 290);
	CHECK_EQ_INT(dnsmsg_name_text(a->owner, a->owner_len, t, sizeof(t)),
	    21);
	CHECK(strcmp(t, "_25._tcp.mx1.lab.test") == 0);
	CHECK_EQ_INT(a->rr[0].usage, 3);
	CHECK_EQ_INT(a->rr[0].selector, 1);
	CHECK_EQ_INT(a->rr[0].mtype, 1);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[0]), a->rr[0].len, spki,
	    sizeof(spki));
	/* The same bytes asked as another name or id are refused. */
	setq("_25._tcp.mx1.lab.test");
	CHECK_EQ_INT(dnsmsg_parse(real_tlsa_cname, sizeof(real_tlsa_cname),
	    qn, qnl, DNSMSG_TYPE_TLSA, 0x5a5a, a), DNSMSG_ERROR);
	setq("_25._tcp.alias.lab.test");
	CHECK_EQ_INT(dnsmsg_parse(real_tlsa_cname, sizeof(real_tlsa_cname),
	    qn, qnl, DNSMSG_TYPE_TLSA, 0x5a5b, a), DNSMSG_ERROR);

	/* TLSA changed after signing: unbound says SERVFAIL. */
	CHECK_EQ_INT(parse_real(real_tlsa_bogus, sizeof(real_tlsa_bogus),
	    "_25._tcp.mx1.bad.test", DNSMSG_TYPE_TLSA, a), DNSMSG_SERVFAIL);
	CHECK_EQ_INT(a->secure, 0);
	/* An unsigned zone: data, but not secure. */
	CHECK_EQ_INT(parse_real(real_tlsa_insecure, sizeof(real_tlsa_insecure),
	    "_25._tcp.mx1.plain.test", DNSMSG_TYPE_TLSA, a), DNSMSG_OK);
	CHECK_EQ_INT(a->secure, 0);
	CHECK_EQ_INT(a->nrr, 1);
	/* Authenticated NXDOMAIN and NODATA. */
	CHECK_EQ_INT(parse_real(real_nxdomain, sizeof(real_nxdomain),
	    "nope.lab.test", DNSMSG_TYPE_A, a), DNSMSG_NXDOMAIN);
	CHECK_EQ_INT(a->secure, 1);
	CHECK(a->ttl > 0 && a->ttl <= 300);
	CHECK_EQ_INT(parse_real(real_nodata, sizeof(real_nodata),
	    "mx1.lab.test", DNSMSG_TYPE_AAAA, a), DNSMSG_NODATA);
	CHECK_EQ_INT(a->secure, 1);
	/* MX and TXT. */
	CHECK_EQ_INT(parse_real(real_mx, sizeof(real_mx), "lab.test",
	    DNSMSG_TYPE_MX, a), DNSMSG_OK);
	CHECK_EQ_INT(a->secure, 1);
	CHECK_EQ_INT(a->rr[0].pref, 10);
	CHECK_EQ_INT(dnsmsg_name_text(a->rr[0].name, a->rr[0].name_len, t,
	    sizeof(t)), 12);
	CHECK(strcmp(t, "mx1.lab.test") == 0);
	CHECK_EQ_INT(parse_real(real_txt, sizeof(real_txt), "_mta-sts.lab.test",
	    DNSMSG_TYPE_TXT, a), DNSMSG_OK);
	CHECK_MEM(dnsmsg_rr_data(a, &a->rr[0]), a->rr[0].len,
	    "v=STSv1; id=20261201T000000;", 28);
	free(a);
}

int
main(void)
{
	RUN(test_name_text);
	RUN(test_query);
	RUN(test_a_aaaa);
	RUN(test_mx);
	RUN(test_txt);
	RUN(test_tlsa);
	RUN(test_rr_max);
	RUN(test_skip_others);
	RUN(test_cname_chain);
	RUN(test_cname_limits);
	RUN(test_compression);
	RUN(test_pointer_hops);
	RUN(test_header);
	RUN(test_rcode_ad);
	RUN(test_real);
	return CHECK_DONE();
}
