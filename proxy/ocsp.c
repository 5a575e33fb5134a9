/*
 * ocsp: see ocsp.h.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bytestring.h>
#include <openssl/sha.h>

#include "ocsp.h"

/* 1.3.6.1.5.5.7.48.1.1 id-pkix-ocsp-basic */
static const uint8_t ocsp_basic_oid[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01
};
/* 1.3.14.3.2.26 SHA-1, 2.16.840.1.101.3.4.2.1 SHA-256 */
static const uint8_t ocsp_sha1_oid[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
static const uint8_t ocsp_sha256_oid[] = {
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01
};

static int
ocsp_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static int
ocsp_digits(const uint8_t *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's
 * days_from_civil). */
static int64_t
ocsp_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
ocsp_time(const uint8_t *s, size_t len, int64_t *out)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
		31, 30, 31 };
	int y, mo, d, h, mi, sec;

	if (len != 15 || s[14] != 'Z' || ocsp_digits(s, 4, &y) == -1 ||
	    ocsp_digits(s + 4, 2, &mo) == -1 ||
	    ocsp_digits(s + 6, 2, &d) == -1 ||
	    ocsp_digits(s + 8, 2, &h) == -1 ||
	    ocsp_digits(s + 10, 2, &mi) == -1 ||
	    ocsp_digits(s + 12, 2, &sec) == -1)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 59)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return -1;
	*out = ocsp_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return 0;
}

static int
ocsp_oid_is(const CBS *oid, const uint8_t *want, size_t n)
{
	return CBS_len(oid) == n && memcmp(CBS_data(oid), want, n) == 0;
}

/* INTEGER content without the sign octet a positive value may carry. */
static void
ocsp_int_trim(CBS *v)
{
	while (CBS_len(v) > 1 && CBS_data(v)[0] == 0x00)
		CBS_skip(v, 1);
}

/* Whether a CertID names the certificate. -1: malformed. */
static int
ocsp_certid_matches(CBS *certid, const ocsp_cert_t *c)
{
	CBS alg, oid, name_hash, key_hash, serial, want;
	uint8_t md[SHA256_DIGEST_LENGTH];
	size_t mdlen;

	if (!CBS_get_asn1(certid, &alg, CBS_ASN1_SEQUENCE) ||
	    !CBS_get_asn1(&alg, &oid, CBS_ASN1_OBJECT) ||
	    !CBS_get_asn1(certid, &name_hash, CBS_ASN1_OCTETSTRING) ||
	    !CBS_get_asn1(certid, &key_hash, CBS_ASN1_OCTETSTRING) ||
	    !CBS_get_asn1(certid, &serial, CBS_ASN1_INTEGER))
		return -1;
	CBS_init(&want, c->serial, c->serial_len);
	ocsp_int_trim(&serial);
	ocsp_int_trim(&want);
	if (!CBS_mem_equal(&serial, CBS_data(&want), CBS_len(&want)))
		return 0;
	if (ocsp_oid_is(&oid, ocsp_sha1_oid, sizeof(ocsp_sha1_oid))) {
		SHA1(c->issuer_name, c->issuer_name_len, md);
		mdlen = SHA_DIGEST_LENGTH;
	} else if (ocsp_oid_is(&oid, ocsp_sha256_oid,
	    sizeof(ocsp_sha256_oid))) {
		SHA256(c->issuer_name, c->issuer_name_len, md);
		mdlen = SHA256_DIGEST_LENGTH;
	} else
		return 0;
	if (!CBS_mem_equal(&name_hash, md, mdlen))
		return 0;
	if (c->issuer_key == NULL)
		return 1;
	if (mdlen == SHA_DIGEST_LENGTH)
		SHA1(c->issuer_key, c->issuer_key_len, md);
	else
		SHA256(c->issuer_key, c->issuer_key_len, md);
	return CBS_mem_equal(&key_hash, md, mdlen) ? 1 : 0;
}

int
ocsp_check(const uint8_t *der, size_t len, const ocsp_cert_t *cert,
    int64_t *this_update, int64_t *next_update, char *err, size_t errlen)
{
	CBS in, resp, status, bytes_outer, bytes, type, octets, basic, tbs;
	CBS responses, single, certid, t, skip;
	unsigned tag;

	CBS_init(&in, der, len);
	if (!CBS_get_asn1(&in, &resp, CBS_ASN1_SEQUENCE) || CBS_len(&in) != 0 ||
	    !CBS_get_asn1(&resp, &status, CBS_ASN1_ENUMERATED) ||
	    CBS_len(&status) != 1)
		return ocsp_fail(err, errlen, "not a DER OCSP response");
	if (CBS_data(&status)[0] != 0)
		return ocsp_fail(err, errlen,
		    "responseStatus is not successful (0)");
	if (!CBS_get_asn1(&resp, &bytes_outer, CBS_ASN1_CONTEXT_SPECIFIC |
	    CBS_ASN1_CONSTRUCTED | 0) ||
	    !CBS_get_asn1(&bytes_outer, &bytes, CBS_ASN1_SEQUENCE) ||
	    !CBS_get_asn1(&bytes, &type, CBS_ASN1_OBJECT) ||
	    !CBS_get_asn1(&bytes, &octets, CBS_ASN1_OCTETSTRING))
		return ocsp_fail(err, errlen, "no responseBytes");
	if (!ocsp_oid_is(&type, ocsp_basic_oid, sizeof(ocsp_basic_oid)))
		return ocsp_fail(err, errlen, "not a basic OCSP response");
	if (!CBS_get_asn1(&octets, &basic, CBS_ASN1_SEQUENCE) ||
	    !CBS_get_asn1(&basic, &tbs, CBS_ASN1_SEQUENCE) ||
	    !CBS_get_optional_asn1(&tbs, &skip, NULL, CBS_ASN1_CONTEXT_SPECIFIC |
	    CBS_ASN1_CONSTRUCTED | 0) ||
	    !CBS_get_any_asn1(&tbs, &skip, &tag) ||          /* responderID */
	    !CBS_get_asn1(&tbs, &skip, CBS_ASN1_GENERALIZEDTIME) ||
	    !CBS_get_asn1(&tbs, &responses, CBS_ASN1_SEQUENCE))
		return ocsp_fail(err, errlen, "malformed ResponseData");
	while (CBS_len(&responses) > 0) {
		int m;
		int has_next;

		if (!CBS_get_asn1(&responses, &single, CBS_ASN1_SEQUENCE) ||
		    !CBS_get_asn1(&single, &certid, CBS_ASN1_SEQUENCE) ||
		    (m = ocsp_certid_matches(&certid, cert)) == -1)
			return ocsp_fail(err, errlen,
			    "malformed SingleResponse");
		if (m == 0)
			continue;
		if (!CBS_get_any_asn1(&single, &skip, &tag))
			return ocsp_fail(err, errlen,
			    "malformed SingleResponse");
		if (tag == (CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 1))
			return ocsp_fail(err, errlen,
			    "the certificate is revoked");
		if (tag != (CBS_ASN1_CONTEXT_SPECIFIC | 0))
			return ocsp_fail(err, errlen,
			    "the certificate's status is unknown");
		if (!CBS_get_asn1(&single, &t, CBS_ASN1_GENERALIZEDTIME) ||
		    ocsp_time(CBS_data(&t), CBS_len(&t), this_update) == -1)
			return ocsp_fail(err, errlen, "bad thisUpdate");
		if (!CBS_get_optional_asn1(&single, &t, &has_next,
		    CBS_ASN1_CONTEXT_SPECIFIC | CBS_ASN1_CONSTRUCTED | 0))
			return ocsp_fail(err, errlen, "bad nextUpdate");
		if (!has_next)
			return ocsp_fail(err, errlen, "no nextUpdate: the "
			    "response could never be known to be stale");
		{
			CBS gt;
			if (!CBS_get_asn1(&t, &gt, CBS_ASN1_GENERALIZEDTIME) ||
			    CBS_len(&t) != 0 || ocsp_time(CBS_data(&gt),
			    CBS_len(&gt), next_update) == -1 ||
			    *next_update < *this_update)
				return ocsp_fail(err, errlen, "bad nextUpdate");
		}
		return 0;
	}
	return ocsp_fail(err, errlen, "no response for this certificate "
	    "(serial and issuer)");
}
