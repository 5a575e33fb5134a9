/*
 * tlsrpt: SMTP TLS Reporting results (RFC 8460) and their encoding as the
 * datagram sys4's libtlsrpt sends to tlsrpt-collectd (datagram protocol
 * version "1"). Pure: no I/O, no allocation. The proxy collects one result
 * per upstream session and policy domain (outbound_auth.c) and sends each
 * as one datagram; the collector aggregates them and tlsrpt-reportd sends
 * the daily reports.
 *
 * The datagram is one JSON object (key order and spacing as libtlsrpt
 * writes them, so a collector sees what it sees from Postfix):
 *
 *   {"dpv": "1","d": DOMAIN,"pr": TLSRPT-RECORD,"policies":[{
 *    "policy-type":1|2|9,"policy-domain": DOMAIN,
 *    "policy-string":[...],"mx-host":[...],
 *    "failure-details":[{"c":CODE,"s": SENDING-IP,"n": MX-NAME,
 *                        "r": RECEIVING-IP,"a": INFO}],
 *    "t":FAILURES,"f":0|1}]}
 *
 * "policy-string", "mx-host" and "failure-details" appear only when not
 * empty; a field of a failure detail only when given (not NULL).
 */
#ifndef TLSRPT_H
#define TLSRPT_H

#include <stddef.h>

/* TLSRPT_DATAGRAM_MAX: the largest datagram the proxy sends. Linux takes
 * AF_UNIX datagrams up to the socket's send buffer (~208 KiB by default);
 * a result that does not fit (32 TLSA records of full certificates) is not
 * sent and counted as dropped. */
#define TLSRPT_DATAGRAM_MAX 65536

/* Policy types (RFC 8460 4.4; the wire numbers are libtlsrpt's). */
typedef enum {
	TLSRPT_POLICY_TLSA,
	TLSRPT_POLICY_STS,
	TLSRPT_POLICY_NONE,           /* no-policy-found */
	TLSRPT_POLICY_COUNT
} tlsrpt_policy_t;

/* Results: success, or an RFC 8460 4.3 result type. */
typedef enum {
	TLSRPT_SUCCESS,
	TLSRPT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_CERT_HOST_MISMATCH,
	TLSRPT_CERT_NOT_TRUSTED,
	TLSRPT_CERT_EXPIRED,
	TLSRPT_VALIDATION_FAILURE,
	TLSRPT_STS_FETCH_ERROR,
	TLSRPT_STS_INVALID,
	TLSRPT_STS_WEBPKI_INVALID,
	TLSRPT_TLSA_INVALID,
	TLSRPT_DNSSEC_INVALID,
	TLSRPT_DANE_REQUIRED,
	TLSRPT_RESULT_COUNT
} tlsrpt_result_t;

/* Label tables for the metrics: "tlsa", "sts", "no-policy-found";
 * "success", then the RFC 8460 names ("starttls-not-supported", ...). */
extern const char *const tlsrpt_policy_names[TLSRPT_POLICY_COUNT];
extern const char *const tlsrpt_result_names[TLSRPT_RESULT_COUNT];

/* The wire numbers: 1, 2, 9; 0 for success, 201..205, 301..306. */
int tlsrpt_policy_code(tlsrpt_policy_t p);
int tlsrpt_result_code(tlsrpt_result_t r);

/* One result. Every pointer is borrowed; NULL strings are left out (d, pr
 * and policy_domain as ""). */
typedef struct {
	const char *domain;           /* "d": the recipient domain */
	const char *record;           /* "pr": its _smtp._tls TXT record */
	tlsrpt_policy_t type;
	const char *policy_domain;
	const char *const *strings;   /* "policy-string" */
	size_t nstrings;
	const char *const *mx;        /* "mx-host" (MTA-STS mx patterns) */
	size_t nmx;
	tlsrpt_result_t result;
	/* The failure detail (result != TLSRPT_SUCCESS only). */
	const char *sending_ip;       /* "s" */
	const char *mx_name;          /* "n" */
	const char *receiving_ip;     /* "r" */
	const char *info;             /* "a": free text */
} tlsrpt_rec_t;

/*
 * tlsrpt_encode writes r as one datagram into out[0..cap). Strings are
 * JSON-escaped: '"', '\\' and control octets; an octet >= 0x80 that is not
 * part of valid UTF-8 becomes U+FFFD, so the datagram is always valid JSON
 * for a collector that decodes it as UTF-8. Returns the length (no NUL
 * written), or -1 if it does not fit.
 */
int tlsrpt_encode(const tlsrpt_rec_t *r, char *out, size_t cap);

#endif
