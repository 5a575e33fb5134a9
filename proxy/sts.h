/*
 * sts: the pure pieces of MTA-STS (RFC 8461). No I/O, no allocation, no
 * libuv: the TXT record of _mta-sts.DOMAIN (3.1), the policy body fetched
 * from https://mta-sts.DOMAIN/.well-known/mta-sts.txt (3.2), and the
 * matching of mx patterns against an MX host name (4.1) and against the
 * names of the MX's certificate (4.2).
 *
 * Every parser reads only the bytes it is given; NUL, bare CR and other
 * control octets are errors, never terminators. What the RFC's ABNF does
 * not allow is refused, and a refused record or policy means, as RFC 8461
 * 3.1 and 3.3 say, that the domain has no (new) policy: the caller keeps a
 * cached policy if it has one (5.1).
 */
#ifndef STS_H
#define STS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/base.h>

/*
 * Limits.
 * STS_ID_MAX: sts-id = "id=" 1*32(ALPHA / DIGIT) (RFC 8461 3.1).
 * STS_BODY_MAX: the policy body; RFC 8461 3.3 suggests 64 kilobytes as the
 *   maximum policy size, and the fetcher bounds the HTTP body to it.
 * STS_MAX_AGE_MAX: the largest max_age (RFC 8461 3.2, one year).
 * STS_MX_MAX: mx patterns kept per policy. The RFC sets none; ours, well
 *   over what published policies list (one to a dozen). A policy with more
 *   is refused as a whole: keeping only some patterns would refuse MXs the
 *   domain allows.
 * STS_NAME_MAX: a domain name's text without the root dot (RFC 1035 2.3.4,
 *   255 octets in wire form); a longer pattern can match no name.
 * STS_LABEL_MAX: one label (RFC 1035 2.3.4).
 * STS_EXT_NAME_MAX: sts-ext-name / sts-policy-ext-name, (ALPHA / DIGIT)
 *   *31(ALPHA / DIGIT / "_" / "-" / ".") (RFC 8461 3.1, 3.2).
 */
#define STS_ID_MAX 32
#define STS_BODY_MAX 65536
#define STS_MAX_AGE_MAX 31557600u
#define STS_MX_MAX 64
#define STS_NAME_MAX 253
#define STS_LABEL_MAX 63
#define STS_EXT_NAME_MAX 32

/* A byte string borrowed from the caller. */
typedef struct {
	const uint8_t *p;
	size_t len;
} sts_slice_t;

/*
 * sts_txt_parse reads the TXT RRset of _mta-sts.DOMAIN: recs[0..n), one
 * slice per TXT record, its character-strings already concatenated without
 * adding spaces (RFC 8461 3.1). Records that do not begin with "v=STSv1"
 * and a field delimiter (*WSP ";") are discarded. Exactly one must remain
 * and be valid per the ABNF of 3.1:
 *   sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *                     [sts-field-delim]
 *   sts-field-delim = *WSP ";" *WSP
 *   sts-field = sts-id / sts-extension  (sts-id required)
 * Names and "v=STSv1" are case-sensitive (%s); extensions (name=value) are
 * ignored; a field named "id" must be an sts-id, and two of them make the
 * record invalid (the id must name one policy). Nothing may follow the last
 * field but one delimiter: trailing white space alone is invalid.
 *
 * Returns 0 with the id, NUL-terminated, in id; or -1, "no policy", with
 * why set to a static reason ("no v=STSv1 record", "several v=STSv1
 * records", "invalid v=STSv1 record"). id is left alone on -1.
 */
int sts_txt_parse(const sts_slice_t *recs, size_t n,
    char id[STS_ID_MAX + 1], const char **why);

typedef enum {
	STS_MODE_ENFORCE,
	STS_MODE_TESTING,
	STS_MODE_NONE
} sts_mode_t;

/*
 * A parsed policy, in caller storage (about 16 KiB: keep it off small
 * stacks). The patterns are copied into mx[], lower-cased and
 * NUL-terminated: nothing points into the body.
 */
typedef struct {
	sts_mode_t mode;
	uint32_t max_age;                     /* seconds, <= STS_MAX_AGE_MAX */
	unsigned nmx;                         /* patterns in mx[] */
	char mx[STS_MX_MAX][STS_NAME_MAX + 1]; /* "host" or "*.suffix" */
} sts_policy_t;

/*
 * sts_policy_parse parses a policy body p[0..n) (RFC 8461 3.2):
 *   sts-policy-record = sts-policy-field *WSP
 *                       *(sts-policy-term sts-policy-field *WSP)
 *                       [sts-policy-term]
 *   sts-policy-term = LF / CRLF;  field = name ":" *WSP value
 * So no empty lines, no white space before a name or before ':', at most
 * one line end after the last field. Names are case-sensitive. Known
 * fields: "version" (STSv1), "mode" (enforce, testing, none), "max_age"
 * (1*10 DIGIT; above STS_MAX_AGE_MAX it is taken as STS_MAX_AGE_MAX, the
 * longest lifetime 3.2 allows), "mx" (["*."] Domain, RFC 5321 4.1.2; one or
 * more unless mode is none). version, mode and max_age are required. A
 * known field with another value is refused. Other fields are ignored if
 * well-formed (sts-policy-ext-name ":" sts-policy-ext-value: visible
 * US-ASCII, SP inside and well-formed UTF-8), and so is every repeat of a
 * field other than mx after its first (3.2: "all entries except for the
 * first SHALL be ignored"), though it must be well-formed too. The order of
 * the fields is free: the ABNF does not fix it, and 3.2 says a parser MUST
 * accept every policy the ABNF allows.
 *
 * Bounds: n <= STS_BODY_MAX, at most STS_MX_MAX patterns, each at most
 * STS_NAME_MAX octets with labels of at most STS_LABEL_MAX.
 *
 * Returns 0 with *pol filled in, or -1 with why set to a static reason;
 * *pol is then unspecified.
 */
int sts_policy_parse(const uint8_t *p, size_t n, sts_policy_t *pol,
    const char **why);

/*
 * sts_policy_format writes pol as a policy body with CRLF line ends
 * (version, mode, one mx line per pattern, max_age) into out[0..cap) with a
 * NUL. Parsing the result gives pol back. Returns the length without the
 * NUL, or 0 if it does not fit.
 */
size_t sts_policy_format(const sts_policy_t *pol, char *out, size_t cap);

/* "enforce", "testing", "none". */
const char *sts_mode_name(sts_mode_t m);

/*
 * sts_mx_match: the mx pattern pat[0..plen) matches the host name
 * name[0..nlen) (RFC 8461 4.1: RFC 6125 matching, the wildcard only as the
 * whole left-most label). "mx.example.com" matches that name alone;
 * "*.example.com" matches exactly one more label on the left
 * ("a.example.com", not "example.com", not "a.b.example.com"). ASCII
 * letters compare case-insensitively (RFC 6125 6.4.1; names are A-labels).
 * One trailing dot on the name (an absolute name from DNS) is not part of
 * it. Returns 1 or 0.
 */
int sts_mx_match(const char *pat, size_t plen, const char *name,
    size_t nlen);

/* sts_policy_match_host: some mx pattern of pol matches the MX host name. */
int sts_policy_match_host(const sts_policy_t *pol, const char *name,
    size_t nlen);

/*
 * sts_cert_matches: the certificate x (borrowed) is valid, by its names,
 * for some host that an mx pattern of pol allows. Only subjectAltName
 * dNSName entries count: RFC 8461 4.2 requires a SAN DNS-ID, so the
 * subject CN is never used, even when there is no SAN. A plain SAN matches
 * as a host name (sts_mx_match). A wildcard SAN "*.rest" (RFC 6125 6.4.3:
 * the wildcard as the complete left-most label only, and rest of at least
 * two labels, as BoringSSL's host check wants) stands for the hosts
 * "label.rest": it matches the pattern "x.rest" and the pattern "*.rest".
 * Partial wildcards ("m*.example.com") and names with NUL, a trailing dot
 * or other octets never match. Trust and dates are the caller's (the
 * handshake's verify result). Returns 1 or 0.
 */
int sts_cert_matches(const sts_policy_t *pol, const X509 *x);

#endif
