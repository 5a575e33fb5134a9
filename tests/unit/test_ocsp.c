/*
 * test_ocsp: the load-time checks of a stapled OCSP response (ocsp.c) on
 * responses built here with CBB: each field that must be right, and the
 * GeneralizedTime reader.
 */
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/mem.h>
#include <openssl/sha.h>

#include "check.h"
#include "ocsp.h"

static const uint8_t issuer_name[] = { 0x30, 0x03, 0x31, 0x01, 0x00 };
static const uint8_t serial[] = { 0x00, 0x9a, 0x01 };  /* DER, sign octet */

enum { ST_GOOD, ST_REVOKED, ST_UNKNOWN };

typedef struct {
	int status_code;     /* responseStatus */
	int sha256;          /* CertID hash */
	uint8_t serial_last; /* last serial octet */
	int cert_status;
	const char *this_update, *next_update; /* NULL: no nextUpdate */
} resp_t;

static const uint8_t sha1_oid[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
static const uint8_t sha256_oid[] = {
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t basic_oid[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01 };

static int
add_time(CBB *cbb, const char *t)
{
	CBB x;

	return CBB_add_asn1(cbb, &x, CBS_ASN1_GENERALIZEDTIME) &&
	    CBB_add_bytes(&x, (const uint8_t *)t, strlen(t)) && CBB_flush(cbb);
}

/* Builds a response into *out (OPENSSL_free it). */
static size_t
build(const resp_t *r, uint8_t **out)
{
	CBB cbb, resp, st, rb0, rb, oct, basic, tbs, rid, list, single, certid,
	    alg, h, x, n0, sig;
	uint8_t md[SHA256_DIGEST_LENGTH], ser[sizeof(serial)];
	size_t len = 0;

	memcpy(ser, serial, sizeof(ser));
	ser[sizeof(ser) - 1] = r->serial_last;
	if (r->sha256)
		SHA256(issuer_name, sizeof(issuer_name), md);
	else
		SHA1(issuer_name, sizeof(issuer_name), md);
	CBB_init(&cbb, 256);
	CBB_add_asn1(&cbb, &resp, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&resp, &st, CBS_ASN1_ENUMERATED);
	CBB_add_u8(&st, (uint8_t)r->status_code);
	CBB_add_asn1(&resp, &rb0, CBS_ASN1_CONTEXT_SPECIFIC |
	    CBS_ASN1_CONSTRUCTED | 0);
	CBB_add_asn1(&rb0, &rb, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&rb, &x, CBS_ASN1_OBJECT);
	CBB_add_bytes(&x, basic_oid, sizeof(basic_oid));
	CBB_add_asn1(&rb, &oct, CBS_ASN1_OCTETSTRING);
	CBB_add_asn1(&oct, &basic, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&basic, &tbs, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&tbs, &rid, CBS_ASN1_CONTEXT_SPECIFIC |
	    CBS_ASN1_CONSTRUCTED | 2);
	CBB_add_asn1(&rid, &x, CBS_ASN1_OCTETSTRING);
	CBB_add_bytes(&x, md, 20);
	add_time(&tbs, "20261202000000Z");
	CBB_add_asn1(&tbs, &list, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&list, &single, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&single, &certid, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&certid, &alg, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&alg, &x, CBS_ASN1_OBJECT);
	if (r->sha256)
		CBB_add_bytes(&x, sha256_oid, sizeof(sha256_oid));
	else
		CBB_add_bytes(&x, sha1_oid, sizeof(sha1_oid));
	CBB_add_asn1(&alg, &x, CBS_ASN1_NULL);
	CBB_add_asn1(&certid, &h, CBS_ASN1_OCTETSTRING);
	CBB_add_bytes(&h, md, r->sha256 ? 32 : 20);
	CBB_add_asn1(&certid, &h, CBS_ASN1_OCTETSTRING);
	CBB_add_bytes(&h, md, 20);   /* key hash: not checked without key */
	CBB_add_asn1(&certid, &x, CBS_ASN1_INTEGER);
	CBB_add_bytes(&x, ser, sizeof(ser));
	if (r->cert_status == ST_GOOD)
		CBB_add_asn1(&single, &x, CBS_ASN1_CONTEXT_SPECIFIC | 0);
	else if (r->cert_status == ST_REVOKED) {
		CBB_add_asn1(&single, &x, CBS_ASN1_CONTEXT_SPECIFIC |
		    CBS_ASN1_CONSTRUCTED | 1);
		add_time(&x, "20261201000000Z");
	} else
		CBB_add_asn1(&single, &x, CBS_ASN1_CONTEXT_SPECIFIC | 2);
	add_time(&single, r->this_update);
	if (r->next_update != NULL) {
		CBB_add_asn1(&single, &n0, CBS_ASN1_CONTEXT_SPECIFIC |
		    CBS_ASN1_CONSTRUCTED | 0);
		add_time(&n0, r->next_update);
	}
	CBB_add_asn1(&basic, &alg, CBS_ASN1_SEQUENCE);
	CBB_add_asn1(&basic, &sig, CBS_ASN1_BITSTRING);
	CBB_add_u8(&sig, 0);
	CBB_finish(&cbb, out, &len);
	return len;
}

static const ocsp_cert_t cert = {
	serial + 1, sizeof(serial) - 1, issuer_name, sizeof(issuer_name),
	NULL, 0
};

static int
check(const resp_t *r, const char *want_err, int64_t *next)
{
	uint8_t *der = NULL;
	size_t len = build(r, &der);
	char err[128] = "";
	int64_t this_update = 0, n = 0;
	int rc = ocsp_check(der, len, &cert, &this_update, &n, err,
	    sizeof(err));

	if (want_err == NULL)
		CHECK_EQ_INT(rc, 0);
	else {
		CHECK_EQ_INT(rc, -1);
		CHECK_MEM(err, strlen(err), want_err, strlen(want_err));
	}
	/* Every cut of a good response is refused, never read past. */
	for (size_t k = 0; want_err == NULL && k < len; k++)
		CHECK_EQ_INT(ocsp_check(der, k, &cert, &this_update, &n, err,
		    sizeof(err)), -1);
	OPENSSL_free(der);
	if (next != NULL)
		*next = n;
	return rc;
}

static void
test_check(void)
{
	resp_t good = { 0, 0, 0x01, ST_GOOD, "20261202000000Z",
		"20261203120000Z" };
	resp_t r;
	int64_t next = 0;

	check(&good, NULL, &next);
	CHECK_EQ_INT(next, 1796299200);  /* 2026-12-03 12:00:00 UTC */
	r = good;
	r.sha256 = 1;
	check(&r, NULL, NULL);
	r = good;
	r.status_code = 3;
	check(&r, "responseStatus is not successful (0)", NULL);
	r = good;
	r.serial_last = 0x02;
	check(&r, "no response for this certificate (serial and issuer)",
	    NULL);
	r = good;
	r.cert_status = ST_REVOKED;
	check(&r, "the certificate is revoked", NULL);
	r = good;
	r.cert_status = ST_UNKNOWN;
	check(&r, "the certificate's status is unknown", NULL);
	r = good;
	r.next_update = NULL;
	check(&r, "no nextUpdate: the response could never be known to be "
	    "stale", NULL);
	r = good;
	r.next_update = "20261201000000Z";
	check(&r, "bad nextUpdate", NULL);
	r = good;
	r.this_update = "2026120200000Z";
	check(&r, "bad thisUpdate", NULL);
}

static void
test_time(void)
{
	int64_t t = -1;

	CHECK_EQ_INT(ocsp_time((const uint8_t *)"19700101000000Z", 15, &t), 0);
	CHECK_EQ_INT(t, 0);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"20240229235959Z", 15, &t), 0);
	CHECK_EQ_INT(t, 1709251199);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"20230229000000Z", 15, &t), -1);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"20261302000000Z", 15, &t), -1);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"20261202240000Z", 15, &t), -1);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"20261202000000+", 15, &t), -1);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"2026120200000Z", 14, &t), -1);
	CHECK_EQ_INT(ocsp_time((const uint8_t *)"2026120200000aZ", 15, &t), -1);
}

int
main(void)
{
	RUN(test_check);
	RUN(test_time);
	return CHECK_DONE();
}
