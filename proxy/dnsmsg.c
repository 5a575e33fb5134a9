/*
 * dnsmsg: DNS query building and answer parsing. Every read goes through a
 * CBS bounded by the message; see dnsmsg.h for what is checked.
 */
#include <string.h>

#include <openssl/bytestring.h>

#include "dnsmsg.h"

/* Header flag bits (RFC 1035 4.1.1, RFC 4035 3.2.3). */
#define DNSMSG_F_QR 0x8000
#define DNSMSG_F_OPCODE 0x7800
#define DNSMSG_F_TC 0x0200
#define DNSMSG_F_RD 0x0100
#define DNSMSG_F_AD 0x0020
#define DNSMSG_F_RCODE 0x000f
#define DNSMSG_HDR_LEN 12

/* Name text ---------------------------------------------------------------- */

/* The octets a host-name label may hold here: LDH plus '_' (_25._tcp). */
static int
dnsmsg_is_host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static uint8_t
dnsmsg_fold(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

int
dnsmsg_name_from_text(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
	size_t o = 0, i = 0;

	if (n == 1 && s[0] == '.') {
		out[0] = 0;
		*outlen = 1;
		return 0;
	}
	if (n == 0)
		return -1;
	if (s[n - 1] == '.')
		n--;
	while (i < n) {
		size_t start = i;

		while (i < n && s[i] != '.') {
			if (!dnsmsg_is_host_char((uint8_t)s[i]))
				return -1;
			i++;
		}
		if (i == start || i - start > DNSMSG_LABEL_MAX)
			return -1;
		/* The label, its length octet and the root's octet fit. */
		if (o + 1 + (i - start) + 1 > DNSMSG_NAME_MAX)
			return -1;
		out[o++] = (uint8_t)(i - start);
		memcpy(out + o, s + start, i - start);
		o += i - start;
		if (i < n) {
			i++; /* the '.' */
			if (i == n)
				return -1; /* "a..": an empty last label */
		}
	}
	out[o++] = 0;
	*outlen = o;
	return 0;
}

/*
 * dnsmsg_name_valid: name[0..len) is exactly one uncompressed wire name:
 * labels of 1..63 octets, the root's zero octet last, at most
 * DNSMSG_NAME_MAX in all.
 */
static int
dnsmsg_name_valid(const uint8_t *name, size_t len)
{
	CBS c, label;
	uint8_t l;

	if (len == 0 || len > DNSMSG_NAME_MAX)
		return 0;
	CBS_init(&c, name, len);
	for (;;) {
		if (!CBS_get_u8(&c, &l))
			return 0;
		if (l == 0)
			return CBS_len(&c) == 0;
		if (l > DNSMSG_LABEL_MAX || !CBS_get_bytes(&c, &label, l))
			return 0;
	}
}

int
dnsmsg_name_text(const uint8_t *name, size_t len, char *out, size_t cap)
{
	CBS c, label;
	uint8_t l;
	size_t o = 0;

	if (!dnsmsg_name_valid(name, len) || cap == 0)
		return -1;
	if (len == 1) {
		if (cap < 2)
			return -1;
		out[0] = '.';
		out[1] = '\0';
		return 1;
	}
	CBS_init(&c, name, len);
	while (CBS_get_u8(&c, &l) && l != 0) {
		if (!CBS_get_bytes(&c, &label, l))
			return -1;
		/* A '.' before every label but the first, the label, a NUL. */
		if (o + (o > 0) + l + 1 > cap)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t ch = CBS_data(&label)[i];

			if (!dnsmsg_is_host_char(ch))
				return -1;
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return (int)o;
}

int
dnsmsg_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return 0;
	/* Length octets are at most 63, below 'A': folding leaves them. */
	for (size_t i = 0; i < alen; i++)
		if (dnsmsg_fold(a[i]) != dnsmsg_fold(b[i]))
			return 0;
	return 1;
}

/* Query ------------------------------------------------------------------- */

int
dnsmsg_query(uint8_t *out, size_t cap, size_t *outlen, const uint8_t *qname,
    size_t qname_len, uint16_t qtype, uint16_t id)
{
	CBB cbb;
	uint8_t *p;
	size_t n;

	if (!dnsmsg_name_valid(qname, qname_len))
		return -1;
	if (!CBB_init_fixed(&cbb, out, cap))
		return -1;
	if (!CBB_add_u16(&cbb, id) ||
	    !CBB_add_u16(&cbb, DNSMSG_F_RD | DNSMSG_F_AD) ||
	    !CBB_add_u16(&cbb, 1) ||        /* QDCOUNT */
	    !CBB_add_u16(&cbb, 0) ||        /* ANCOUNT */
	    !CBB_add_u16(&cbb, 0) ||        /* NSCOUNT */
	    !CBB_add_u16(&cbb, 1) ||        /* ARCOUNT: the OPT record */
	    !CBB_add_bytes(&cbb, qname, qname_len) ||
	    !CBB_add_u16(&cbb, qtype) ||
	    !CBB_add_u16(&cbb, DNSMSG_CLASS_IN) ||
	    /* OPT (RFC 6891 6.1.2): root owner, CLASS = payload size, TTL =
	     * extended RCODE 0, version 0, flags 0 (DO clear), no RDATA. */
	    !CBB_add_u8(&cbb, 0) ||
	    !CBB_add_u16(&cbb, DNSMSG_TYPE_OPT) ||
	    !CBB_add_u16(&cbb, DNSMSG_UDP_PAYLOAD) ||
	    !CBB_add_u32(&cbb, 0) ||
	    !CBB_add_u16(&cbb, 0) ||
	    !CBB_finish(&cbb, &p, &n)) {
		CBB_cleanup(&cbb);
		return -1;
	}
	*outlen = n;
	return 0;
}

/* Parsing ----------------------------------------------------------------- */

/* A message being parsed: the whole of it (for compression pointers). */
typedef struct {
	const uint8_t *msg;
	size_t len;
} dnsmsg_in_t;

/*
 * dnsmsg_get_name reads the name at the cursor cur (a CBS inside in->msg)
 * into out[0..DNSMSG_NAME_MAX), uncompressed; *outlen gets its length.
 * cur moves past the name's octets in place (up to the root octet or the
 * first pointer). A pointer must point strictly before the first octet of
 * the labels being read when it is met (the name's start, then each
 * pointer's target), so the offsets only ever go down: no loop, no
 * forward reference. Returns 0 or -1.
 */
static int
dnsmsg_get_name(const dnsmsg_in_t *in, CBS *cur, uint8_t *out, size_t *outlen)
{
	CBS seg, label;
	size_t seg_start, n = 0;
	unsigned hops = 0;
	int jumped = 0;
	uint8_t l, lo;

	seg = *cur;
	seg_start = (size_t)(CBS_data(cur) - in->msg);
	for (;;) {
		if (!CBS_get_u8(&seg, &l))
			return -1;
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (!CBS_get_u8(&seg, &lo))
				return -1;
			target = (size_t)(l & 0x3f) << 8 | lo;
			if (target >= seg_start || ++hops > DNSMSG_PTR_HOPS_MAX)
				return -1;
			if (!jumped) {
				*cur = seg;
				jumped = 1;
			}
			seg_start = target;
			CBS_init(&seg, in->msg + target, in->len - target);
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1; /* 0x40, 0x80: extended label types */
		if (l == 0)
			break;
		/* The label, its length octet and the root's octet fit. */
		if (n + 1 + l + 1 > DNSMSG_NAME_MAX ||
		    !CBS_get_bytes(&seg, &label, l))
			return -1;
		out[n++] = l;
		memcpy(out + n, CBS_data(&label), l);
		n += l;
	}
	out[n++] = 0;
	if (!jumped)
		*cur = seg;
	*outlen = n;
	return 0;
}

/* An RR's fixed part, with its RDATA as a CBS inside the message. */
typedef struct {
	uint8_t owner[DNSMSG_NAME_MAX];
	size_t owner_len;
	uint16_t type, class;
	uint32_t ttl;
	CBS rdata;
} dnsmsg_rrin_t;

static uint32_t
dnsmsg_ttl(uint32_t raw)
{
	return raw > 0x7fffffffu ? 0 : raw; /* RFC 2181 8 */
}

/* Reads one RR at cur into rr; cur moves past it. Returns 0 or -1. */
static int
dnsmsg_get_rr(const dnsmsg_in_t *in, CBS *cur, dnsmsg_rrin_t *rr)
{
	uint16_t rdlen;

	if (dnsmsg_get_name(in, cur, rr->owner, &rr->owner_len) == -1 ||
	    !CBS_get_u16(cur, &rr->type) || !CBS_get_u16(cur, &rr->class) ||
	    !CBS_get_u32(cur, &rr->ttl) || !CBS_get_u16(cur, &rdlen) ||
	    !CBS_get_bytes(cur, &rr->rdata, rdlen))
		return -1;
	return 0;
}

/*
 * Reads a name that must fill the rest of rdata (CNAME target, MX
 * exchange). Compression pointers refer to the whole message.
 */
static int
dnsmsg_rdata_name(const dnsmsg_in_t *in, CBS *rdata, uint8_t *out,
    size_t *outlen)
{
	if (dnsmsg_get_name(in, rdata, out, outlen) == -1)
		return -1;
	return CBS_len(rdata) == 0 ? 0 : -1;
}

static dnsmsg_status_t
dnsmsg_fail(dnsmsg_answer_t *ans, const char *why)
{
	ans->status = DNSMSG_ERROR;
	ans->error = why;
	ans->secure = 0;
	ans->ttl = 0;
	ans->nrr = 0;
	ans->store_len = 0;
	return DNSMSG_ERROR;
}

/* Appends p[0..n) to the store; rr gets its place. Returns 0 or -1. */
static int
dnsmsg_store(dnsmsg_answer_t *ans, dnsmsg_rr_t *rr, const uint8_t *p,
    size_t n)
{
	if (n > (size_t)DNSMSG_STORE_MAX - ans->store_len)
		return -1;
	if (n > 0)
		memcpy(ans->store + ans->store_len, p, n);
	rr->off = ans->store_len;
	rr->len = (uint16_t)n;
	ans->store_len = (uint16_t)(ans->store_len + n);
	return 0;
}

/*
 * Decodes the RDATA of rr (of the asked type) into out. Returns NULL, or
 * why it cannot be used.
 */
static const char *
dnsmsg_rdata(const dnsmsg_in_t *in, dnsmsg_rrin_t *rr, dnsmsg_answer_t *ans,
    dnsmsg_rr_t *out)
{
	CBS rd = rr->rdata, s;
	size_t nl;

	memset(out, 0, sizeof(*out));
	out->type = rr->type;
	out->ttl = dnsmsg_ttl(rr->ttl);
	switch (rr->type) {
	case DNSMSG_TYPE_A:
	case DNSMSG_TYPE_AAAA:
		if (CBS_len(&rd) != (rr->type == DNSMSG_TYPE_A ? 4u : 16u))
			return "bad address length";
		if (dnsmsg_store(ans, out, CBS_data(&rd), CBS_len(&rd)) == -1)
			return "store full";
		return NULL;
	case DNSMSG_TYPE_MX:
		if (!CBS_get_u16(&rd, &out->pref) ||
		    dnsmsg_rdata_name(in, &rd, out->name, &nl) == -1)
			return "bad MX";
		out->name_len = (uint16_t)nl;
		return NULL;
	case DNSMSG_TYPE_CNAME:
		if (dnsmsg_rdata_name(in, &rd, out->name, &nl) == -1)
			return "bad CNAME";
		out->name_len = (uint16_t)nl;
		return NULL;
	case DNSMSG_TYPE_TXT: {
		size_t start = ans->store_len, total = 0;

		/* One or more character-strings (RFC 1035 3.3.14). */
		if (CBS_len(&rd) == 0)
			return "empty TXT";
		while (CBS_len(&rd) > 0) {
			if (!CBS_get_u8_length_prefixed(&rd, &s))
				return "bad TXT";
			total += CBS_len(&s);
			if (total > DNSMSG_TXT_MAX)
				return "TXT over DNSMSG_TXT_MAX";
			if (CBS_len(&s) > (size_t)DNSMSG_STORE_MAX - ans->store_len)
				return "store full";
			memcpy(ans->store + ans->store_len, CBS_data(&s),
			    CBS_len(&s));
			ans->store_len = (uint16_t)(ans->store_len +
			    CBS_len(&s));
		}
		out->off = (uint16_t)start;
		out->len = (uint16_t)total;
		return NULL;
	}
	case DNSMSG_TYPE_TLSA:
		/* RFC 6698 2.1: usage, selector, matching type, data. */
		if (!CBS_get_u8(&rd, &out->usage) ||
		    !CBS_get_u8(&rd, &out->selector) ||
		    !CBS_get_u8(&rd, &out->mtype))
			return "bad TLSA";
		if (CBS_len(&rd) > DNSMSG_TLSA_DATA_MAX)
			return "TLSA data over DNSMSG_TLSA_DATA_MAX";
		if (dnsmsg_store(ans, out, CBS_data(&rd), CBS_len(&rd)) == -1)
			return "store full";
		return NULL;
	default:
		/* Another asked type: the RDATA is kept as it is. */
		if (dnsmsg_store(ans, out, CBS_data(&rd), CBS_len(&rd)) == -1)
			return "store full";
		return NULL;
	}
}

/*
 * Walks the authority and additional sections (after the answer section,
 * at cur): every RR must be well formed. *ext gets the extended RCODE bits
 * of an OPT record (RFC 6891 6.1.3), *soa_ttl the negative TTL of an
 * authority SOA (RFC 2308 5) or 0. Returns NULL or why not.
 */
static const char *
dnsmsg_rest(const dnsmsg_in_t *in, CBS *cur, uint16_t nscount,
    uint16_t arcount, unsigned *ext, uint32_t *soa_ttl)
{
	dnsmsg_rrin_t rr;
	unsigned nopt = 0;
	int has_soa = 0;

	*ext = 0;
	*soa_ttl = 0;
	for (unsigned i = 0; i < nscount; i++) {
		if (dnsmsg_get_rr(in, cur, &rr) == -1)
			return "bad authority RR";
		if (rr.type == DNSMSG_TYPE_SOA && rr.class == DNSMSG_CLASS_IN &&
		    !has_soa) {
			uint8_t name[DNSMSG_NAME_MAX];
			size_t nl;
			uint32_t serial, refresh, retry, expire, minimum;
			CBS rd = rr.rdata;

			if (dnsmsg_get_name(in, &rd, name, &nl) == -1 ||
			    dnsmsg_get_name(in, &rd, name, &nl) == -1 ||
			    !CBS_get_u32(&rd, &serial) ||
			    !CBS_get_u32(&rd, &refresh) ||
			    !CBS_get_u32(&rd, &retry) ||
			    !CBS_get_u32(&rd, &expire) ||
			    !CBS_get_u32(&rd, &minimum) || CBS_len(&rd) != 0)
				return "bad SOA";
			*soa_ttl = dnsmsg_ttl(rr.ttl);
			if (dnsmsg_ttl(minimum) < *soa_ttl)
				*soa_ttl = dnsmsg_ttl(minimum);
			has_soa = 1;
		}
	}
	for (unsigned i = 0; i < arcount; i++) {
		if (dnsmsg_get_rr(in, cur, &rr) == -1)
			return "bad additional RR";
		if (rr.type == DNSMSG_TYPE_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root. */
			if (++nopt > 1 || rr.owner_len != 1)
				return "bad OPT";
			*ext = rr.ttl >> 24;
		}
	}
	if (CBS_len(cur) != 0)
		return "trailing octets";
	return NULL;
}

/*
 * Finds in the answer section (an - the answer count, at start) the CNAME
 * owned by name; *found is 0 or 1, target gets it. Returns NULL or why not.
 */
static const char *
dnsmsg_find_cname(const dnsmsg_in_t *in, CBS start, uint16_t an,
    const uint8_t *name, size_t name_len, int *found, uint8_t *target,
    size_t *target_len, uint32_t *ttl)
{
	dnsmsg_rrin_t rr;
	CBS cur = start;

	*found = 0;
	for (unsigned i = 0; i < an; i++) {
		if (dnsmsg_get_rr(in, &cur, &rr) == -1)
			return "bad answer RR";
		if (rr.type != DNSMSG_TYPE_CNAME ||
		    rr.class != DNSMSG_CLASS_IN ||
		    !dnsmsg_name_eq(rr.owner, rr.owner_len, name, name_len))
			continue;
		/* RFC 2181 10.1: one CNAME per name. */
		if (*found)
			return "two CNAMEs at one name";
		if (dnsmsg_rdata_name(in, &rr.rdata, target, target_len) == -1)
			return "bad CNAME";
		*ttl = dnsmsg_ttl(rr.ttl);
		*found = 1;
	}
	return NULL;
}

dnsmsg_status_t
dnsmsg_parse(const uint8_t *msg, size_t len, const uint8_t *qname,
    size_t qname_len, uint16_t qtype, uint16_t id, dnsmsg_answer_t *ans)
{
	dnsmsg_in_t in = { msg, len };
	uint16_t rid, flags, qd, an, ns, ar, t, c;
	uint8_t name[DNSMSG_NAME_MAX];
	/* The chain: chain[0] is the question, chain[i] the i-th target. */
	uint8_t chain[DNSMSG_CNAME_MAX + 1][DNSMSG_NAME_MAX];
	size_t chain_len[DNSMSG_CNAME_MAX + 1], nl;
	unsigned depth = 0, ext, rcode;
	uint32_t ttl = UINT32_MAX, soa_ttl;
	const char *why;
	CBS cur, answers;

	memset(ans, 0, offsetof(dnsmsg_answer_t, rr));
	ans->store_len = 0;
	if (!dnsmsg_name_valid(qname, qname_len))
		return dnsmsg_fail(ans, "bad query name");
	if (len > DNSMSG_MSG_MAX)
		return dnsmsg_fail(ans, "message too long");
	CBS_init(&cur, msg, len);
	if (!CBS_get_u16(&cur, &rid) || !CBS_get_u16(&cur, &flags) ||
	    !CBS_get_u16(&cur, &qd) || !CBS_get_u16(&cur, &an) ||
	    !CBS_get_u16(&cur, &ns) || !CBS_get_u16(&cur, &ar))
		return dnsmsg_fail(ans, "short header");
	ans->rcode = flags & DNSMSG_F_RCODE;
	if (!(flags & DNSMSG_F_QR) || (flags & DNSMSG_F_OPCODE) != 0)
		return dnsmsg_fail(ans, "not a response to a query");
	if (rid != id)
		return dnsmsg_fail(ans, "id mismatch");
	if (qd != 1)
		return dnsmsg_fail(ans, "not one question");
	if (dnsmsg_get_name(&in, &cur, name, &nl) == -1 ||
	    !CBS_get_u16(&cur, &t) || !CBS_get_u16(&cur, &c))
		return dnsmsg_fail(ans, "bad question");
	if (!dnsmsg_name_eq(name, nl, qname, qname_len) || t != qtype ||
	    c != DNSMSG_CLASS_IN)
		return dnsmsg_fail(ans, "question mismatch");
	if (flags & DNSMSG_F_TC) {
		ans->status = DNSMSG_TRUNCATED;
		return DNSMSG_TRUNCATED;
	}

	/* Every section is read once for structure, OPT and SOA. */
	answers = cur;
	for (unsigned i = 0; i < an; i++) {
		dnsmsg_rrin_t rr;

		if (dnsmsg_get_rr(&in, &cur, &rr) == -1)
			return dnsmsg_fail(ans, "bad answer RR");
	}
	if ((why = dnsmsg_rest(&in, &cur, ns, ar, &ext, &soa_ttl)) != NULL)
		return dnsmsg_fail(ans, why);
	rcode = ext << 4 | (flags & DNSMSG_F_RCODE);
	ans->rcode = (int)rcode;
	if (rcode == DNSMSG_RCODE_SERVFAIL) {
		ans->status = DNSMSG_SERVFAIL;
		return DNSMSG_SERVFAIL;
	}
	if (rcode != DNSMSG_RCODE_NOERROR && rcode != DNSMSG_RCODE_NXDOMAIN)
		return dnsmsg_fail(ans, "error RCODE");

	/* The CNAME chain from the question's name. */
	memcpy(chain[0], qname, qname_len);
	chain_len[0] = qname_len;
	while (qtype != DNSMSG_TYPE_CNAME) {
		int found;
		uint32_t cttl = 0;

		if ((why = dnsmsg_find_cname(&in, answers, an, chain[depth],
		    chain_len[depth], &found, name, &nl, &cttl)) != NULL)
			return dnsmsg_fail(ans, why);
		if (!found)
			break;
		if (depth == DNSMSG_CNAME_MAX)
			return dnsmsg_fail(ans, "CNAME chain too long");
		for (unsigned i = 0; i <= depth; i++)
			if (dnsmsg_name_eq(chain[i], chain_len[i], name, nl))
				return dnsmsg_fail(ans, "CNAME loop");
		depth++;
		memcpy(chain[depth], name, nl);
		chain_len[depth] = nl;
		if (cttl < ttl)
			ttl = cttl;
	}
	ans->ncname = depth;
	memcpy(ans->owner, chain[depth], chain_len[depth]);
	ans->owner_len = (uint16_t)chain_len[depth];

	/* The RRs of the asked type at the end of the chain. */
	cur = answers;
	for (unsigned i = 0; i < an; i++) {
		dnsmsg_rrin_t rr;

		if (dnsmsg_get_rr(&in, &cur, &rr) == -1)
			return dnsmsg_fail(ans, "bad answer RR");
		if (rr.type != qtype || rr.class != DNSMSG_CLASS_IN ||
		    !dnsmsg_name_eq(rr.owner, rr.owner_len, chain[depth],
		    chain_len[depth]))
			continue;
		if (ans->nrr == DNSMSG_RR_MAX)
			return dnsmsg_fail(ans, "over DNSMSG_RR_MAX RRs");
		if ((why = dnsmsg_rdata(&in, &rr, ans,
		    &ans->rr[ans->nrr])) != NULL)
			return dnsmsg_fail(ans, why);
		if (ans->rr[ans->nrr].ttl < ttl)
			ttl = ans->rr[ans->nrr].ttl;
		ans->nrr++;
	}

	if (rcode == DNSMSG_RCODE_NXDOMAIN) {
		/* RFC 6604 3: NXDOMAIN is about the last name of the chain. */
		if (ans->nrr > 0)
			return dnsmsg_fail(ans, "NXDOMAIN with data");
		ans->status = DNSMSG_NXDOMAIN;
		ans->ttl = soa_ttl;
	} else if (ans->nrr == 0) {
		ans->status = DNSMSG_NODATA;
		ans->ttl = soa_ttl;
	} else {
		ans->status = DNSMSG_OK;
		ans->ttl = ttl;
	}
	ans->secure = (flags & DNSMSG_F_AD) != 0;
	return ans->status;
}

const char *
dnsmsg_status_name(dnsmsg_status_t st)
{
	switch (st) {
	case DNSMSG_OK:
		return "ok";
	case DNSMSG_NODATA:
		return "nodata";
	case DNSMSG_NXDOMAIN:
		return "nxdomain";
	case DNSMSG_SERVFAIL:
		return "servfail";
	case DNSMSG_TRUNCATED:
		return "truncated";
	case DNSMSG_ERROR:
		return "error";
	}
	return "error";
}
