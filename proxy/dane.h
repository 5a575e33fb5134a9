/*
 * dane: the TLSA matcher of DANE for SMTP (RFC 7672, RFC 7671), run on the
 * certificate chain a TLS handshake recorded. BoringSSL has no DANE API;
 * this is the part of OpenSSL's that SMTP needs, with BoringSSL's X509
 * functions. Pure: no I/O, no DNS, no libuv. The TLSA records come from a
 * DNSSEC-validated answer (dnsmsg); deciding that they are secure, and
 * what a result means for a recipient, is the caller's. (Section numbers
 * are the RFCs'; the text was read in the drafts that became them,
 * draft-ietf-dane-ops-06 and draft-ietf-dane-smtp-with-dane.)
 *
 * Usable records (RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable
 * for SMTP): usage DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1),
 * matching type Full(0), SHA2-256(1) or SHA2-512(2) with data of the
 * digest's length. Every other record is ignored.
 *
 * Digest agility (RFC 7671 9): after unusable and malformed records are
 * dropped, for each (usage, selector) only the Full(0) records and the
 * records of the strongest digest present are used (our order: SHA2-512
 * over SHA2-256). With "3 1 0", "3 1 1" and "3 1 2", a key that matches
 * only "3 1 1" is not accepted.
 *
 * DANE-EE(3) (RFC 7672 3.1.1): the leaf certificate matches; its names and
 * validity dates are not checked.
 *
 * DANE-TA(2) (RFC 7672 3.1.2): a certificate the server presented matches
 * (the server must send its trust anchor, even a self-signed root); the
 * chain from the leaf verifies up to that certificate: signatures, CA
 * constraints, and validity dates at the caller's time of every
 * certificate from the leaf to the anchor, the anchor included (RFC 7672
 * says nothing of dates here; this is BoringSSL's verification, stricter
 * than RFC 5280 6.1, where a trust anchor has no dates); and the leaf
 * carries one of the reference names (RFC 7672 3.2.2: the TLSA base
 * domain, the next-hop domain, and the CNAME-expanded next-hop domain
 * when it differs; 3.2.3: DNS-IDs when there are any, else the CN-ID; a
 * wildcard only as the whole left-most label, matching one label).
 *
 * The leaf is a trust anchor only when it is self-issued. A DANE-TA
 * record matches "a trust anchor (a Certification Authority) that issued
 * one of the certificates in the server certificate chain" (RFC 7671 2);
 * letting it match a leaf someone else issued would make "2 x y" a "3 x y"
 * with checks that prove nothing (OpenSSL's DANE does the same). A
 * "2 1 0" key that no presented certificate carries is not tried against
 * the top of the chain (RFC 7671 5.2.3 only encourages it): such a server
 * gets DANE_NO_MATCH.
 */
#ifndef DANE_H
#define DANE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

/* RFC 6698 2.1, RFC 7218 acronyms. */
#define DANE_USAGE_PKIX_TA 0
#define DANE_USAGE_PKIX_EE 1
#define DANE_USAGE_DANE_TA 2
#define DANE_USAGE_DANE_EE 3
#define DANE_SELECTOR_CERT 0
#define DANE_SELECTOR_SPKI 1
#define DANE_MTYPE_FULL 0
#define DANE_MTYPE_SHA256 1
#define DANE_MTYPE_SHA512 2

/*
 * DANE_CHAIN_MAX: certificates of the peer chain examined. A server
 * chain is leaf, one or two intermediates and perhaps the root; a longer
 * one is cut here (the certificates past it can be neither a TA nor on
 * the path).
 */
#define DANE_CHAIN_MAX 16

/* One TLSA record. data is borrowed for the duration of the call. */
typedef struct {
	uint8_t usage, selector, mtype;
	const uint8_t *data;
	size_t len;
} dane_tlsa_t;

typedef enum {
	DANE_MATCH,       /* authenticated by a usable record */
	DANE_NO_MATCH,    /* usable records, none authenticates the peer */
	DANE_NONE_USABLE  /* TLSA present, none usable: TLS is required,
	                     without authentication (RFC 7672 2.2) */
} dane_result_t;

/* What dane_verify found, for logs. */
typedef struct {
	int usage;          /* the usage that matched (2 or 3), or -1 */
	int depth;          /* the chain index that matched, or -1 */
	unsigned usable;    /* usable records after digest agility */
	const char *reason; /* static text: why not a match, or NULL */
} dane_info_t;

/*
 * dane_verify matches the TLSA records recs[0..nrecs) against the peer
 * chain (leaf first, as SSL_get_peer_cert_chain returns it on a client;
 * borrowed, not modified) and, for DANE-TA, checks the leaf against the
 * reference names names[0..nnames) (NUL-terminated host names, e.g. the
 * TLSA base domain and the next-hop domains) at time now. info may be NULL.
 *
 * Returns DANE_NONE_USABLE when no record is usable (whatever the chain),
 * DANE_MATCH when a usable DANE-EE record matches the leaf or a usable
 * DANE-TA record passes the rules above, DANE_NO_MATCH otherwise
 * (including an empty chain and an allocation failure: never a match by
 * accident).
 */
dane_result_t dane_verify(const dane_tlsa_t *recs, size_t nrecs,
    STACK_OF(X509) *chain, const char *const *names, size_t nnames,
    time_t now, dane_info_t *info);

/* dane_result_name: "match", "nomatch", "unusable" (logs, metric labels). */
const char *dane_result_name(dane_result_t r);

#endif
