/*
 * fuzz_dnsmsg: the DNS answer parser and the query builder. The input is
 * one control byte, then a DNS message. Control bit 0 set: the question to
 * check against is read (naively, uncompressed) from the message itself,
 * so that most inputs get past the echo check; clear: the question is
 * "example.com" with the type from control bits 1-3 and id 0x1234.
 * Properties:
 *  - no read outside the message (an exact-size heap copy under ASan);
 *  - counts within their limits, every RR's data inside the answer's
 *    store, names well-formed wire names of at most DNSMSG_NAME_MAX;
 *  - A, AAAA and TLSA data are bytes of the message; RRs are of the asked
 *    type; OK has RRs and the others none;
 *  - secure only with the AD bit and NOERROR/NXDOMAIN; TRUNCATED only
 *    with TC;
 *  - the same input parses to the same answer twice, whatever the answer
 *    storage held before;
 *  - the bytes read as a host name: when dnsmsg_name_from_text takes it,
 *    the query dnsmsg_query builds for it, answered with nothing (QR set),
 *    parses back as NODATA for the same question, and the name's text is
 *    the input without a final dot.
 */
#include <stdint.h>
#include <string.h>

#include "dnsmsg.h"
#include "fuzz.h"

static const uint16_t fuzz_dnsmsg_types[8] = {
	DNSMSG_TYPE_A, DNSMSG_TYPE_AAAA, DNSMSG_TYPE_MX, DNSMSG_TYPE_TXT,
	DNSMSG_TYPE_TLSA, DNSMSG_TYPE_CNAME, DNSMSG_TYPE_SOA, 99,
};

/* A wire name by the definition, independent of dnsmsg.c. */
static int
fuzz_dnsmsg_name_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > DNSMSG_NAME_MAX)
		return 0;
	while (i < n) {
		if (p[i] == 0)
			return i + 1 == n;
		if (p[i] > DNSMSG_LABEL_MAX)
			return 0;
		i += 1 + (size_t)p[i];
	}
	return 0;
}

/* The question of msg, uncompressed only. Returns 0 or -1. */
static int
fuzz_dnsmsg_question(const uint8_t *m, size_t n, uint8_t *qn, size_t *qnl,
    uint16_t *qtype, uint16_t *id)
{
	size_t i = 12, o = 0;

	if (n < 12)
		return -1;
	*id = (uint16_t)(m[0] << 8 | m[1]);
	while (i < n && m[i] != 0) {
		size_t l = m[i];

		if (l > DNSMSG_LABEL_MAX || i + 1 + l > n ||
		    o + 1 + l + 1 > DNSMSG_NAME_MAX)
			return -1;
		memcpy(qn + o, m + i, 1 + l);
		o += 1 + l;
		i += 1 + l;
	}
	if (i + 3 > n)
		return -1;
	qn[o++] = 0;
	*qnl = o;
	*qtype = (uint16_t)(m[i + 1] << 8 | m[i + 2]);
	return 0;
}

static int
fuzz_dnsmsg_in(const uint8_t *hay, size_t hn, const uint8_t *p, size_t n)
{
	return n == 0 || memmem(hay, hn, p, n) != NULL;
}

static void
fuzz_dnsmsg_check(const uint8_t *m, size_t n, uint16_t qtype,
    dnsmsg_status_t st, const dnsmsg_answer_t *a)
{
	FUZZ_CHECK(a->status == st);
	FUZZ_CHECK(a->nrr <= DNSMSG_RR_MAX);
	FUZZ_CHECK(a->ncname <= DNSMSG_CNAME_MAX);
	FUZZ_CHECK(a->store_len <= DNSMSG_STORE_MAX);
	FUZZ_CHECK((st == DNSMSG_ERROR) == (a->error != NULL));
	if (st == DNSMSG_OK)
		FUZZ_CHECK(a->nrr > 0);
	else
		FUZZ_CHECK(a->nrr == 0);
	if (a->secure) {
		FUZZ_CHECK(st == DNSMSG_OK || st == DNSMSG_NODATA ||
		    st == DNSMSG_NXDOMAIN);
		FUZZ_CHECK(n >= 4 && (m[3] & 0x20) != 0);
		FUZZ_CHECK(a->rcode == 0 || a->rcode == 3);
	}
	if (st == DNSMSG_TRUNCATED)
		FUZZ_CHECK((m[2] & 0x02) != 0);
	if (st == DNSMSG_OK || st == DNSMSG_NODATA || st == DNSMSG_NXDOMAIN)
		FUZZ_CHECK(fuzz_dnsmsg_name_ok(a->owner, a->owner_len));
	for (unsigned i = 0; i < a->nrr; i++) {
		const dnsmsg_rr_t *rr = &a->rr[i];
		const uint8_t *d = dnsmsg_rr_data(a, rr);

		FUZZ_CHECK(rr->type == qtype);
		FUZZ_CHECK((size_t)rr->off + rr->len <= a->store_len);
		FUZZ_CHECK(rr->ttl <= 0x7fffffffu && rr->ttl >= a->ttl);
		switch (rr->type) {
		case DNSMSG_TYPE_A:
		case DNSMSG_TYPE_AAAA:
			FUZZ_CHECK(rr->len ==
			    (rr->type == DNSMSG_TYPE_A ? 4 : 16));
			FUZZ_CHECK(fuzz_dnsmsg_in(m, n, d, rr->len));
			break;
		case DNSMSG_TYPE_TLSA:
			FUZZ_CHECK(rr->len <= DNSMSG_TLSA_DATA_MAX);
			FUZZ_CHECK(fuzz_dnsmsg_in(m, n, d, rr->len));
			break;
		case DNSMSG_TYPE_TXT:
			FUZZ_CHECK(rr->len <= DNSMSG_TXT_MAX);
			break;
		case DNSMSG_TYPE_MX:
		case DNSMSG_TYPE_CNAME:
			FUZZ_CHECK(fuzz_dnsmsg_name_ok(rr->name,
			    rr->name_len));
			break;
		default:
			break;
		}
	}
}

/* Two answers to the same input say the same. */
static void
fuzz_dnsmsg_same(const dnsmsg_answer_t *a, const dnsmsg_answer_t *b)
{
	FUZZ_CHECK(a->status == b->status && a->secure == b->secure &&
	    a->ttl == b->ttl && a->rcode == b->rcode &&
	    a->ncname == b->ncname && a->nrr == b->nrr);
	FUZZ_CHECK((a->error == NULL) == (b->error == NULL));
	if (a->status == DNSMSG_OK || a->status == DNSMSG_NODATA ||
	    a->status == DNSMSG_NXDOMAIN)
		FUZZ_CHECK(a->owner_len == b->owner_len &&
		    memcmp(a->owner, b->owner, a->owner_len) == 0);
	for (unsigned i = 0; i < a->nrr; i++) {
		const dnsmsg_rr_t *x = &a->rr[i], *y = &b->rr[i];

		FUZZ_CHECK(x->type == y->type && x->ttl == y->ttl &&
		    x->pref == y->pref && x->usage == y->usage &&
		    x->selector == y->selector && x->mtype == y->mtype &&
		    x->len == y->len && x->name_len == y->name_len);
		FUZZ_CHECK(memcmp(x->name, y->name, x->name_len) == 0);
		FUZZ_CHECK(memcmp(dnsmsg_rr_data(a, x), dnsmsg_rr_data(b, y),
		    x->len) == 0);
	}
}

/* The round trip of the bytes read as a host name. */
static void
fuzz_dnsmsg_query(const uint8_t *p, size_t n, uint16_t qtype, uint16_t id,
    dnsmsg_answer_t *a)
{
	uint8_t qn[DNSMSG_NAME_MAX], q[DNSMSG_QUERY_MAX];
	char text[DNSMSG_NAME_TEXT_MAX];
	size_t qnl, ql, want;
	int tl;
	uint8_t *exact;

	if (n > 300 || dnsmsg_name_from_text((const char *)p, n, qn, &qnl) == -1)
		return;
	FUZZ_CHECK(fuzz_dnsmsg_name_ok(qn, qnl));
	FUZZ_CHECK(dnsmsg_query(q, sizeof(q), &ql, qn, qnl, qtype, id) == 0);
	FUZZ_CHECK(ql <= DNSMSG_QUERY_MAX);
	q[2] |= 0x80; /* QR: the query as an empty answer */
	exact = fuzz_dup(q, ql);
	FUZZ_CHECK(dnsmsg_parse(exact, ql, qn, qnl, qtype, id, a) ==
	    DNSMSG_NODATA);
	free(exact);
	FUZZ_CHECK(a->secure == 1 && a->ncname == 0);
	FUZZ_CHECK(dnsmsg_name_eq(a->owner, a->owner_len, qn, qnl));
	tl = dnsmsg_name_text(qn, qnl, text, sizeof(text));
	FUZZ_CHECK(tl >= 0);
	want = (n > 1 && p[n - 1] == '.') ? n - 1 : n;
	FUZZ_CHECK((size_t)tl == want && memcmp(text, p, want) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static dnsmsg_answer_t a, b;
	uint8_t qn[DNSMSG_NAME_MAX], *m;
	size_t qnl, n;
	uint16_t qtype, id;
	dnsmsg_status_t st, st2;

	if (size < 1)
		return 0;
	n = size - 1;
	qtype = fuzz_dnsmsg_types[(data[0] >> 1) & 7];
	id = 0x1234;
	memcpy(qn, "\7example\3com\0", 13);
	qnl = 13;
	if ((data[0] & 1) && fuzz_dnsmsg_question(data + 1, n, qn, &qnl,
	    &qtype, &id) == -1)
		return 0;

	m = fuzz_dup(data + 1, n);
	memset(&a, 0x5a, sizeof(a));
	st = dnsmsg_parse(m, n, qn, qnl, qtype, id, &a);
	fuzz_dnsmsg_check(m, n, qtype, st, &a);
	memset(&b, 0xa5, sizeof(b));
	st2 = dnsmsg_parse(m, n, qn, qnl, qtype, id, &b);
	FUZZ_CHECK(st2 == st);
	fuzz_dnsmsg_same(&a, &b);
	free(m);

	fuzz_dnsmsg_query(data + 1, n, qtype, id, &b);
	return 0;
}
