/*
 * dane: the TLSA matcher of DANE for SMTP (RFC 7672, RFC 7671), run on the
 * certificate chain a TLS handshake recorded. BoringSSL has no DANE API;
 * this is the part of OpenSSL's that SMTP needs, with BoringSSL's X509
 * functions. Pure: no I/O, no DNS, no libuv. The TLSA records come from a
 * DNSSEC-validated answer (dnsmsg); deciding that they are secure, and
 * what a result means for a recipient, is the caller's.
 *
 * Usable records (RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable
 * for SMTP): usage DANE-TA(2) or DANE-EE(3), selector Cert(0) or SPKI(1),
 * matching type Full(0), SHA2-256(1) or SHA2-512(2) with data of the
 * digest's length. Every other record is ignored. Digest agility (RFC 7671
 * 9): for each (usage, selector), when records with both SHA2-256 and
 * SHA2-512 are present only the SHA2-512 ones are used; Full(0) records are
 * always used.
 *
 * DANE-EE(3) (RFC 7672 3.1.1): the leaf certificate matches; its names and
 * validity dates are not checked.
 *
 * DANE-TA(2) (RFC 7672 3.1.2): a certificate of the presented chain
 * matches (the server must send its trust anchor, even a self-signed
 * root), the chain from the leaf verifies up to that certificate
 * (signatures, CA constraints, validity dates at the caller's time of
 * every certificate from the leaf to the anchor, the anchor included: a
 * choice stricter than RFC 5280 6.1, where a trust anchor has no dates,
 * and BoringSSL's own behaviour), and the leaf carries one
 * of the reference names (RFC 7672 3.2.2: the TLSA base domain, or the
 * next-hop domain). The leaf itself is a trust anchor only when it is
 * self-issued: a TA record is about an issuer, and letting it match a
 * leaf issued by someone else would make "2 x y" a second "3 x y" with
 * extra checks that prove nothing (OpenSSL's DANE does the same).
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
 * TLSA base domain and the next-hop domain) at time now. info may be NULL.
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
