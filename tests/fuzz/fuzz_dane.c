/*
 * fuzz_dane: the TLSA matcher on a fixed chain (a P-256 root, intermediate
 * and leaf for mx1.example.com, made with the openssl CLI, valid until
 * 2122) with fuzzed records. The input is one control byte (bits 0-2: the
 * chain presented; bits 3-4: the reference names), then records, each
 * usage, selector, matching type, a length octet and that many data
 * octets (cut short at the end of the input), at most FUZZ_DANE_RECS.
 * Properties:
 *  - info.usable is the number of records that an independent reading of
 *    RFC 7672 3.1.3 and RFC 7671 9 keeps, and NONE_USABLE comes exactly
 *    when it is 0;
 *  - a MATCH names usage 2 or 3 with such a record present; DANE-EE at
 *    depth 0; DANE-TA only with a reference name and a depth inside the
 *    chain; never a MATCH on an empty chain;
 *  - the result depends neither on the order of the records nor on added
 *    PKIX-TA/PKIX-EE copies of them, and is the same twice.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dane.h"
#include "fuzz.h"

#define FUZZ_DANE_RECS 12
/* 2027-12-28: inside every certificate's validity. */
#define FUZZ_DANE_NOW ((time_t)1830000000)

static const char fuzz_dane_leaf_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBvDCCAWKgAwIBAgIURPuzf4c5xIxwsm7Ok//JsYh1PCswCgYIKoZIzj0EAwIw\n"
    "HDEaMBgGA1UEAwwRRnV6eiBJbnRlcm1lZGlhdGUwIBcNMjYxMjAyMTg0MzUwWhgP\n"
    "MjEyMjA5MzAxODQzNTBaMBoxGDAWBgNVBAMMD214MS5leGFtcGxlLmNvbTBZMBMG\n"
    "ByqGSM49AgEGCCqGSM49AwEHA0IABKcoXTHuSdqRXWcHRC7dL6e0fByTNEYGCxgd\n"
    "Z9mlCmluy++mKihbB5/+TPhwnpoutSVXV4xkmJA0Dzb2IaP9j5ajgYEwfzAMBgNV\n"
    "HRMBAf8EAjAAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMBoGA1UdEQQTMBGCD214MS5l\n"
    "eGFtcGxlLmNvbTAdBgNVHQ4EFgQUvEygOOshHz0S5e5ATHW/yAet4ugwHwYDVR0j\n"
    "BBgwFoAUnnzMpwGU2/KBr35IfgTizAren54wCgYIKoZIzj0EAwIDSAAwRQIhALzG\n"
    "5oWyyMKxfs9LceTbseEdDbw/2Tacr33iXANIQso4AiB2S7P2QQIWuVSyRNDYULLb\n"
    "EFrdnSYOjTEkNUgkg7OCWw==\n"
    "-----END CERTIFICATE-----\n"
    ;
static const char fuzz_dane_int_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmDCCAT2gAwIBAgIUfp1WgFawdGbzFGcHRdbvALUcd/QwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJRnV6eiBSb290MCAXDTI2MTIwMjE4NDM1MFoYDzIxMjUwNjI2\n"
    "MTg0MzUwWjAcMRowGAYDVQQDDBFGdXp6IEludGVybWVkaWF0ZTBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABHb6HvkQiQWrlQP/ZXKFqSIoPRN6+hu4j+L8o4+CzHov\n"
    "XasdNl8ZTqWGMnGGxa0HuwjFiX3L+c6WPcccVt7zeuajYzBhMA8GA1UdEwEB/wQF\n"
    "MAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSefMynAZTb8oGvfkh+BOLM\n"
    "Ct6fnjAfBgNVHSMEGDAWgBT7hz7ZVAj8xgZw+OeYXX8InVyfUTAKBggqhkjOPQQD\n"
    "AgNJADBGAiEAlhv4UtcHsg4GO0jGzwTPH3fIChP8bMqWq5PFhhByvFICIQD/aojX\n"
    "329m/785fNtyJrajL2ANKIm43fW9plO6I/qwyw==\n"
    "-----END CERTIFICATE-----\n"
    ;
static const char fuzz_dane_root_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjzCCATWgAwIBAgIUfNocaWCq7UudGKo/3hMHZggrmqowCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJRnV6eiBSb290MCAXDTI2MTIwMjE4NDM1MFoYDzIxMjYxMTA4\n"
    "MTg0MzUwWjAUMRIwEAYDVQQDDAlGdXp6IFJvb3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQ9D/ympDs+iUMT0wxyfdTozZykgqmRCpziUJT+zCeDyNttciBn7nJN\n"
    "Tf21WktGcLeuBEkGiQkyLv4ZtKs5Lmv5o2MwYTAdBgNVHQ4EFgQU+4c+2VQI/MYG\n"
    "cPjnmF1/CJ1cn1EwHwYDVR0jBBgwFoAU+4c+2VQI/MYGcPjnmF1/CJ1cn1EwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIh\n"
    "ANzZYxzzaf40fpzSoCGm/rhaUinhRYt1vh35KYZzg2ViAiBpoPLXK/J9lIGjkj4h\n"
    "B31fSB/ehp1UgWa6jHlJJN2wEg==\n"
    "-----END CERTIFICATE-----\n"
    ;

static X509 *fuzz_dane_leaf, *fuzz_dane_int, *fuzz_dane_root;

static X509 *
fuzz_dane_load(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	FUZZ_CHECK(x != NULL);
	BIO_free(bio);
	return x;
}

/* The chain for control bits 0-2 (borrowed certificates). */
static STACK_OF(X509) *
fuzz_dane_chain(unsigned shape)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *order[8][3] = {
		{ fuzz_dane_leaf, fuzz_dane_int, fuzz_dane_root },
		{ fuzz_dane_leaf, fuzz_dane_int, NULL },
		{ fuzz_dane_leaf, NULL, NULL },
		{ fuzz_dane_leaf, fuzz_dane_root, NULL },
		{ fuzz_dane_int, fuzz_dane_root, NULL },
		{ fuzz_dane_root, NULL, NULL },
		{ NULL, NULL, NULL },
		{ fuzz_dane_leaf, fuzz_dane_root, fuzz_dane_int },
	};

	FUZZ_CHECK(sk != NULL);
	for (int i = 0; i < 3 && order[shape][i] != NULL; i++)
		FUZZ_CHECK(sk_X509_push(sk, order[shape][i]));
	return sk;
}

/* Usable by the RFC text, read independently of dane.c. */
static int
fuzz_dane_usable(const dane_tlsa_t *r)
{
	static const size_t want[3] = { 0, 32, 64 };

	if (r->usage < 2 || r->usage > 3 || r->selector > 1 || r->mtype > 2)
		return 0;
	return r->mtype == 0 ? r->len > 0 : r->len == want[r->mtype];
}

static unsigned
fuzz_dane_count(const dane_tlsa_t *recs, size_t n)
{
	unsigned count = 0;

	for (size_t i = 0; i < n; i++) {
		int weaker = 0;

		if (!fuzz_dane_usable(&recs[i]))
			continue;
		/* Only SHA2-256 can be weaker: than a SHA2-512 record of the
		 * same usage and selector. */
		for (size_t j = 0; j < n && recs[i].mtype == 1; j++)
			weaker |= fuzz_dane_usable(&recs[j]) &&
			    recs[j].mtype == 2 &&
			    recs[j].usage == recs[i].usage &&
			    recs[j].selector == recs[i].selector;
		count += !weaker;
	}
	return count;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names_tab[4][2] = {
		{ "mx1.example.com", NULL }, { "other.example", NULL },
		{ NULL, NULL }, { "other.example", "MX1.EXAMPLE.COM" },
	};
	static const size_t nnames_tab[4] = { 1, 1, 0, 2 };
	dane_tlsa_t recs[FUZZ_DANE_RECS], rev[FUZZ_DANE_RECS],
	    more[2 * FUZZ_DANE_RECS];
	uint8_t *copy;
	size_t n = 0, pos = 1, nnames;
	const char *const *names;
	STACK_OF(X509) *chain;
	dane_info_t info, info2;
	dane_result_t res, res2;
	int has_usage;

	if (fuzz_dane_leaf == NULL) {
		fuzz_dane_leaf = fuzz_dane_load(fuzz_dane_leaf_pem,
		    sizeof(fuzz_dane_leaf_pem) - 1);
		fuzz_dane_int = fuzz_dane_load(fuzz_dane_int_pem,
		    sizeof(fuzz_dane_int_pem) - 1);
		fuzz_dane_root = fuzz_dane_load(fuzz_dane_root_pem,
		    sizeof(fuzz_dane_root_pem) - 1);
	}
	if (size < 1)
		return 0;
	/* An exact copy: record data points into it (ASan sees overreads). */
	copy = fuzz_dup(data, size);
	while (pos + 4 <= size && n < FUZZ_DANE_RECS) {
		size_t len = copy[pos + 3];

		if (len > size - pos - 4)
			len = size - pos - 4;
		recs[n].usage = copy[pos];
		recs[n].selector = copy[pos + 1];
		recs[n].mtype = copy[pos + 2];
		recs[n].data = copy + pos + 4;
		recs[n].len = len;
		n++;
		pos += 4 + len;
	}
	chain = fuzz_dane_chain(copy[0] & 7);
	names = names_tab[(copy[0] >> 3) & 3];
	nnames = nnames_tab[(copy[0] >> 3) & 3];

	res = dane_verify(recs, n, chain, names, nnames, FUZZ_DANE_NOW, &info);
	FUZZ_CHECK(res == DANE_MATCH || res == DANE_NO_MATCH ||
	    res == DANE_NONE_USABLE);
	FUZZ_CHECK(info.usable == fuzz_dane_count(recs, n));
	FUZZ_CHECK((res == DANE_NONE_USABLE) == (info.usable == 0));
	if (res == DANE_MATCH) {
		FUZZ_CHECK(info.usage == 2 || info.usage == 3);
		FUZZ_CHECK(info.reason == NULL);
		FUZZ_CHECK(sk_X509_num(chain) > 0);
		has_usage = 0;
		for (size_t i = 0; i < n; i++)
			has_usage |= fuzz_dane_usable(&recs[i]) &&
			    recs[i].usage == info.usage;
		FUZZ_CHECK(has_usage);
		if (info.usage == 3)
			FUZZ_CHECK(info.depth == 0);
		else
			FUZZ_CHECK(nnames > 0 && info.depth >= 0 &&
			    (size_t)info.depth < sk_X509_num(chain));
	} else {
		FUZZ_CHECK(info.reason != NULL);
	}

	/* Twice the same. */
	res2 = dane_verify(recs, n, chain, names, nnames, FUZZ_DANE_NOW,
	    &info2);
	FUZZ_CHECK(res2 == res && info2.usage == info.usage &&
	    info2.depth == info.depth && info2.usable == info.usable);

	/* Reversed. */
	for (size_t i = 0; i < n; i++)
		rev[i] = recs[n - 1 - i];
	res2 = dane_verify(rev, n, chain, names, nnames, FUZZ_DANE_NOW,
	    &info2);
	FUZZ_CHECK(res2 == res && info2.usage == info.usage &&
	    info2.usable == info.usable);

	/* With a PKIX-TA(0)/PKIX-EE(1) copy of each record. */
	for (size_t i = 0; i < n; i++) {
		more[2 * i] = recs[i];
		more[2 * i + 1] = recs[i];
		more[2 * i + 1].usage = (uint8_t)(recs[i].usage & 1);
	}
	res2 = dane_verify(more, 2 * n, chain, names, nnames, FUZZ_DANE_NOW,
	    &info2);
	FUZZ_CHECK(res2 == res && info2.usable == info.usable);

	sk_X509_free(chain);
	free(copy);
	return 0;
}
