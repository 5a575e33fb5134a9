/*
 * dnsmsg: pure, bounded DNS messages (RFC 1035) for the proxy's resolver.
 * No I/O, no allocation, no libuv.
 *
 * dnsmsg_query builds the one kind of query the proxy sends: one question,
 * RD and AD set (RFC 6840 5.7: AD in a query asks a validating resolver to
 * report whether the answer is authenticated, without the RRSIGs that DO
 * would add), and an EDNS0 OPT record (RFC 6891) offering
 * DNSMSG_UDP_PAYLOAD. dnsmsg_parse reads the answer to that query with
 * BoringSSL CBS cursors: it checks the header and the echoed question
 * against what was asked, follows a CNAME chain inside the answer section
 * and collects the RRs of the asked type at the end of the chain.
 *
 * Names are kept in uncompressed wire form (length-prefixed labels ending
 * in the root's zero octet) as the message carries them: case is kept and
 * comparisons fold ASCII case only (RFC 4343). dnsmsg_name_from_text and
 * dnsmsg_name_text convert host names to and from text.
 *
 * Storage: dnsmsg_parse copies everything it returns into the caller's
 * dnsmsg_answer_t: names into the RR, addresses, TXT text and TLSA
 * association data into the answer's own store (dnsmsg_rr_data). Nothing
 * points into the message, so the message buffer can be reused as soon as
 * dnsmsg_parse returns and an answer can be copied with memcpy (a cache
 * can keep it).
 */
#ifndef DNSMSG_H
#define DNSMSG_H

#include <stddef.h>
#include <stdint.h>

/* Types and classes the proxy asks for or reads (RFC 1035 3.2.2, RFC 3596,
 * RFC 6698, RFC 6891). */
#define DNSMSG_TYPE_A 1
#define DNSMSG_TYPE_CNAME 5
#define DNSMSG_TYPE_SOA 6
#define DNSMSG_TYPE_MX 15
#define DNSMSG_TYPE_TXT 16
#define DNSMSG_TYPE_AAAA 28
#define DNSMSG_TYPE_OPT 41
#define DNSMSG_TYPE_TLSA 52
#define DNSMSG_CLASS_IN 1

/*
 * Limits.
 * DNSMSG_NAME_MAX, DNSMSG_LABEL_MAX: RFC 1035 2.3.4, a name is at most 255
 * octets in wire form (the root's zero octet included), a label 63.
 * DNSMSG_NAME_TEXT_MAX: the longest text form dnsmsg_name_text writes,
 * 253 characters and a NUL.
 * DNSMSG_UDP_PAYLOAD: the EDNS0 payload size offered (DNS flag day 2020,
 * which fixed 1232 octets to avoid IP fragmentation).
 * DNSMSG_QUERY_MAX: the longest query dnsmsg_query writes: header (12),
 * name (255), type and class (4), OPT record (11).
 * DNSMSG_MSG_MAX: the largest message (a TCP message's 16-bit length,
 * RFC 1035 4.2.2); dnsmsg_parse refuses longer input.
 * DNSMSG_PTR_HOPS_MAX: compression pointers followed while reading one
 * name. Pointers must also point strictly before the labels that led to
 * them (RFC 1035 4.1.4 "a prior occurrence"), so reading always ends; the
 * hop limit bounds the work. A 255-octet name has at most 127 labels and a
 * compressor needs at most one pointer per label.
 * DNSMSG_CNAME_MAX: CNAMEs followed inside one answer (unbound and BIND
 * stop at 8 to 16; a longer chain is an error, as is a loop).
 * DNSMSG_RR_MAX: RRs of the asked type returned. More is an error, never a
 * silent cut: a cut TXT set could hide a second "v=STSv1" record (RFC 8461
 * 3.1) and a cut TLSA set the record that matches.
 * DNSMSG_TXT_MAX: one TXT RR's character-strings concatenated. MTA-STS and
 * TLS-RPT records are well under it. Longer is an error.
 * DNSMSG_TLSA_DATA_MAX: one TLSA RR's certificate association data. Digests
 * are 32 or 64 octets; matching type Full(0) carries a whole DER
 * certificate or SubjectPublicKeyInfo, and 2048 holds an RSA-4096 CA
 * certificate. Longer is an error (fail closed: an answer the proxy cannot
 * hold whole is never read as "no TLSA").
 * DNSMSG_STORE_MAX: the answer's store for addresses, TXT text and TLSA
 * data together; overflowing it is an error.
 */
#define DNSMSG_NAME_MAX 255
#define DNSMSG_LABEL_MAX 63
#define DNSMSG_NAME_TEXT_MAX 254
#define DNSMSG_UDP_PAYLOAD 1232
#define DNSMSG_QUERY_MAX (12 + DNSMSG_NAME_MAX + 4 + 11)
#define DNSMSG_MSG_MAX 65535
#define DNSMSG_PTR_HOPS_MAX 128
#define DNSMSG_CNAME_MAX 8
#define DNSMSG_RR_MAX 32
#define DNSMSG_TXT_MAX 2048
#define DNSMSG_TLSA_DATA_MAX 2048
#define DNSMSG_STORE_MAX 8192

/* RCODEs (RFC 1035 4.1.1) the parser tells apart. */
#define DNSMSG_RCODE_NOERROR 0
#define DNSMSG_RCODE_SERVFAIL 2
#define DNSMSG_RCODE_NXDOMAIN 3

typedef enum {
	DNSMSG_OK,        /* NOERROR and at least one RR of the asked type */
	DNSMSG_NODATA,    /* NOERROR, the name exists, no RR of that type */
	DNSMSG_NXDOMAIN,  /* the name (or a CNAME target) does not exist */
	DNSMSG_SERVFAIL,  /* the resolver failed: a bogus signature, or an
	                     unreachable zone; never read as "no records" */
	DNSMSG_TRUNCATED, /* TC set: retry over TCP, or treat as an error */
	DNSMSG_ERROR      /* malformed, not the answer to this query, another
	                     RCODE, or over a limit; error says which */
} dnsmsg_status_t;

/*
 * One RR of the asked type (or of the chain, see dnsmsg_answer_t). Which
 * fields mean something depends on type:
 *   A, AAAA  the address, 4 or 16 octets, in the store (off, len)
 *   MX       pref, and the exchange in name/name_len
 *   CNAME    the target in name/name_len (only when CNAME was asked)
 *   TXT      the character-strings concatenated, in the store (off, len)
 *   TLSA     usage, selector, mtype, and the association data in the store
 */
typedef struct {
	uint16_t type;
	uint32_t ttl;       /* RFC 2181 8: a TTL with the top bit set is 0 */
	uint16_t pref;
	uint8_t usage, selector, mtype;
	uint16_t off, len;  /* data: ans->store[off .. off+len) */
	uint16_t name_len;  /* 0 when the type carries no name */
	uint8_t name[DNSMSG_NAME_MAX];
} dnsmsg_rr_t;

/*
 * A parsed answer, in caller storage. Every field is set by dnsmsg_parse,
 * whatever the status.
 */
typedef struct {
	dnsmsg_status_t status;
	const char *error;  /* static text: why DNSMSG_ERROR, or NULL */
	int rcode;          /* the RCODE as received (extended by OPT) */
	/*
	 * 1 only when the AD bit was set and the RCODE is NOERROR or
	 * NXDOMAIN and the message was well formed: the resolver says the
	 * data, or the denial, is authenticated (RFC 4035 3.2.3). Whether to
	 * believe the resolver is the caller's decision.
	 */
	int secure;
	/*
	 * OK: the smallest TTL of the RRs used (the CNAME chain and the RRs
	 * returned). NODATA, NXDOMAIN: the negative TTL of RFC 2308 5, the
	 * smaller of the authority SOA's TTL and its MINIMUM, or 0 without a
	 * SOA. Otherwise 0.
	 */
	uint32_t ttl;
	/*
	 * The owner of the RRs returned: the asked name, or the end of the
	 * CNAME chain. For the A/AAAA lookup of an MX host it is the
	 * CNAME-expanded name, the preferred TLSA base domain when the
	 * whole chain is secure (RFC 7672 2.2.2). A CNAME on the TLSA query
	 * name itself does not move the base domain (RFC 7672 2.2.3): there
	 * the caller keeps the name it asked for.
	 */
	unsigned ncname;    /* CNAMEs followed, 0..DNSMSG_CNAME_MAX */
	uint16_t owner_len;
	uint8_t owner[DNSMSG_NAME_MAX];
	unsigned nrr;       /* 0..DNSMSG_RR_MAX */
	dnsmsg_rr_t rr[DNSMSG_RR_MAX];
	uint16_t store_len;
	uint8_t store[DNSMSG_STORE_MAX];
} dnsmsg_answer_t;

/* The data of rr (an RR of ans): borrowed from ans, rr->len octets. */
static inline const uint8_t *
dnsmsg_rr_data(const dnsmsg_answer_t *ans, const dnsmsg_rr_t *rr)
{
	return ans->store + rr->off;
}

/*
 * dnsmsg_name_from_text converts a host name "mx1.example.com" (a final
 * '.' allowed, "." alone is the root) to wire form in out[0..
 * DNSMSG_NAME_MAX); *outlen gets its length. Labels are 1..63 of
 * A-Z a-z 0-9 '-' '_'; the whole name at most DNSMSG_NAME_MAX octets in
 * wire form. No escapes. s need not be NUL-terminated. Returns 0 or -1.
 */
int dnsmsg_name_from_text(const char *s, size_t n, uint8_t *out,
    size_t *outlen);

/*
 * dnsmsg_name_text writes the wire name name[0..len) as text, without a
 * final '.' ("." for the root), and a NUL into out[0..cap). Returns the
 * text length, or -1 when the name is not a well-formed wire name, holds
 * an octet other than A-Z a-z 0-9 '-' '_' (a name the proxy will not use
 * as a host name), or does not fit (cap >= DNSMSG_NAME_TEXT_MAX always
 * does).
 */
int dnsmsg_name_text(const uint8_t *name, size_t len, char *out, size_t cap);

/* dnsmsg_name_eq: 1 if the wire names are equal, ASCII case folded. */
int dnsmsg_name_eq(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen);

/*
 * dnsmsg_query writes into out[0..cap) a query for (qname, qtype, class
 * IN) with the given id, RD and AD set, and an EDNS0 OPT record offering
 * DNSMSG_UDP_PAYLOAD octets (version 0, DO clear). qname is a wire name
 * (dnsmsg_name_from_text). *outlen gets the length (at most
 * DNSMSG_QUERY_MAX). Returns 0, or -1 if qname is not a well-formed wire
 * name or cap is too small.
 */
int dnsmsg_query(uint8_t *out, size_t cap, size_t *outlen,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t id);

/*
 * dnsmsg_parse reads msg[0..len), the answer to the query (qname, qtype,
 * id), into *ans (caller storage; see dnsmsg_answer_t) and returns
 * ans->status. It never reads outside msg[0..len) and keeps no pointer to
 * msg.
 *
 * Checked: QR set, opcode QUERY, the id, exactly one question equal to
 * (qname, qtype, IN) with case folded; then TC (DNSMSG_TRUNCATED, nothing
 * else read); then the RCODE, extended by an OPT record if there is one
 * (RFC 6891 6.1.3): SERVFAIL, NXDOMAIN, NOERROR; any other is an error.
 * Every RR of every section must be well formed, every name within the
 * limits above with compression pointers that point strictly backwards.
 *
 * In the answer section, unless CNAME was asked, the CNAME owned by the
 * current name (first the question's) is followed, at most
 * DNSMSG_CNAME_MAX times; two CNAMEs at one name, or a target seen before
 * in the chain, is an error. The RRs of class IN and of the asked type
 * owned by the last name are returned; RRs owned by other names (RRSIGs,
 * glue a resolver adds) are skipped. An RR of a returned type with the
 * wrong RDATA length or layout is an error.
 */
dnsmsg_status_t dnsmsg_parse(const uint8_t *msg, size_t len,
    const uint8_t *qname, size_t qname_len, uint16_t qtype, uint16_t id,
    dnsmsg_answer_t *ans);

/* dnsmsg_status_name: "ok", "nodata", ... for logs and metrics labels. */
const char *dnsmsg_status_name(dnsmsg_status_t st);

#endif
