/*
 * ocsp: the checks a stapled OCSP response passes at load (ocsp = FILE after
 * a cert/key pair). Pure and bounded (BoringSSL CBS): no I/O, no clock, no
 * signature check (the client checks the responder's signature; the proxy
 * only makes sure it staples a response about its own certificate that it
 * can expire). BoringSSL has no OCSP API; this reads RFC 6960 4.2.1 itself:
 *
 *   OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED,
 *       responseBytes [0] EXPLICIT SEQUENCE { responseType OID,
 *                                             response OCTET STRING } }
 *   BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, ... }
 *   ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1,
 *       responderID CHOICE { [1] Name, [2] KeyHash }, producedAt,
 *       responses SEQUENCE OF SingleResponse, [1] extensions OPTIONAL }
 *   SingleResponse ::= SEQUENCE { certID CertID, certStatus CHOICE {
 *       good [0] NULL, revoked [1], unknown [2] }, thisUpdate,
 *       nextUpdate [0] EXPLICIT GeneralizedTime OPTIONAL, ... }
 *   CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash OCTET STRING,
 *       issuerKeyHash OCTET STRING, serialNumber INTEGER }
 */
#ifndef OCSP_H
#define OCSP_H

#include <stddef.h>
#include <stdint.h>

/* Largest response file read (a response with a few certificates is a
 * few KiB; TLS carries at most 2^24 - 1 octets). */
#define OCSP_RESPONSE_MAX (64 * 1024)

/* The certificate the response must be about. */
typedef struct {
	const uint8_t *serial;       /* INTEGER content octets (DER) */
	size_t serial_len;
	const uint8_t *issuer_name;  /* DER of the leaf's issuer Name */
	size_t issuer_name_len;
	const uint8_t *issuer_key;   /* the issuer's subjectPublicKey bits,
	                                or NULL when the chain lacks it */
	size_t issuer_key_len;
} ocsp_cert_t;

/*
 * ocsp_check reads der[0..len): responseStatus successful, a basic
 * response, and a SingleResponse whose CertID (SHA-1 or SHA-256) names
 * the certificate, with status good and a nextUpdate. Returns 0 and sets
 * *this_update and *next_update (Unix time), or -1 with a reason in err.
 */
int ocsp_check(const uint8_t *der, size_t len, const ocsp_cert_t *cert,
    int64_t *this_update, int64_t *next_update, char *err, size_t errlen);

/* ocsp_time parses a GeneralizedTime "YYYYMMDDHHMMSSZ" (RFC 5280
 * 4.1.2.5.2 form) into Unix time. Returns 0 or -1. */
int ocsp_time(const uint8_t *s, size_t len, int64_t *out);

#endif
