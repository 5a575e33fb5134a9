/*
 * dane: TLSA matching on a recorded peer chain (RFC 7672, RFC 7671). See
 * dane.h for the rules; each is cited where it is applied.
 */
#include <string.h>

#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dane.h"

/*
 * dane_usable: a record SMTP can use (RFC 7672 3.1.3: PKIX-TA(0) and
 * PKIX-EE(1) are not; RFC 6698 2.1: selectors 0-1, matching types 0-2).
 * A digest of the wrong length can never match: unusable too, so that a
 * set of only such records is "none usable" rather than a silent
 * mismatch.
 */
static int
dane_usable(const dane_tlsa_t *r)
{
	if (r->usage != DANE_USAGE_DANE_TA && r->usage != DANE_USAGE_DANE_EE)
		return 0;
	if (r->selector != DANE_SELECTOR_CERT &&
	    r->selector != DANE_SELECTOR_SPKI)
		return 0;
	switch (r->mtype) {
	case DANE_MTYPE_FULL:
		return r->len > 0 && r->data != NULL;
	case DANE_MTYPE_SHA256:
		return r->len == SHA256_DIGEST_LENGTH && r->data != NULL;
	case DANE_MTYPE_SHA512:
		return r->len == SHA512_DIGEST_LENGTH && r->data != NULL;
	default:
		return 0;
	}
}

/* Our ranking of the digests (RFC 7671 9: the client's own order). */
static int
dane_strength(uint8_t mtype)
{
	switch (mtype) {
	case DANE_MTYPE_SHA512:
		return 2;
	case DANE_MTYPE_SHA256:
		return 1;
	default:
		return 0;
	}
}

/*
 * dane_used: record i is used for matching. RFC 7671 9 (digest algorithm
 * agility): for each combination of usage and selector, the client uses
 * only the records with the strongest digest it supports among those
 * present, and ignores the weaker digests; Full(0) takes no part in
 * agility and is always used. With "3 1 0", "3 1 1" and "3 1 2" a key
 * matching only "3 1 1" is not accepted.
 */
static int
dane_used(const dane_tlsa_t *recs, size_t n, size_t i)
{
	const dane_tlsa_t *r = &recs[i];

	if (!dane_usable(r))
		return 0;
	if (r->mtype == DANE_MTYPE_FULL)
		return 1;
	for (size_t j = 0; j < n; j++) {
		const dane_tlsa_t *o = &recs[j];

		if (dane_usable(o) && o->usage == r->usage &&
		    o->selector == r->selector &&
		    dane_strength(o->mtype) > dane_strength(r->mtype))
			return 0;
	}
	return 1;
}

/*
 * dane_cert_matches: some used record of the given usage matches x.
 * Returns 1, 0, or -1 when x cannot be encoded (memory): the caller
 * treats -1 as no match.
 */
static int
dane_cert_matches(X509 *x, const dane_tlsa_t *recs, size_t n, int usage)
{
	uint8_t *der[2] = { NULL, NULL };
	int derlen[2], found = 0;
	uint8_t md[SHA512_DIGEST_LENGTH];

	/* Selector Cert(0): the DER certificate; SPKI(1): the DER
	 * SubjectPublicKeyInfo (RFC 6698 2.1.2). */
	derlen[DANE_SELECTOR_CERT] = i2d_X509(x, &der[DANE_SELECTOR_CERT]);
	derlen[DANE_SELECTOR_SPKI] = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x),
	    &der[DANE_SELECTOR_SPKI]);
	if (derlen[0] <= 0 || derlen[1] <= 0) {
		found = -1;
		goto out;
	}
	for (size_t i = 0; i < n && !found; i++) {
		const dane_tlsa_t *r = &recs[i];
		const uint8_t *d;
		size_t dlen;

		if (r->usage != usage || !dane_used(recs, n, i))
			continue;
		d = der[r->selector];
		dlen = (size_t)derlen[r->selector];
		switch (r->mtype) {
		case DANE_MTYPE_FULL:
			found = r->len == dlen && memcmp(r->data, d, dlen) == 0;
			break;
		case DANE_MTYPE_SHA256:
			SHA256(d, dlen, md);
			found = memcmp(r->data, md, SHA256_DIGEST_LENGTH) == 0;
			break;
		case DANE_MTYPE_SHA512:
			SHA512(d, dlen, md);
			found = memcmp(r->data, md, SHA512_DIGEST_LENGTH) == 0;
			break;
		}
	}
out:
	OPENSSL_free(der[0]);
	OPENSSL_free(der[1]);
	return found;
}

/*
 * dane_ta_chain_ok: the leaf verifies up to chain[d] taken as the only
 * trust anchor, with chain[1..d) as the intermediates: signatures, CA
 * basic constraints and key usage, and validity dates at now of every
 * certificate from the leaf to the anchor. Certificates above d play no
 * part. Returns 1 or 0.
 */
static int
dane_ta_chain_ok(STACK_OF(X509) *chain, size_t d, time_t now)
{
	X509_STORE *store;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL;
	int ok = 0;

	if ((store = X509_STORE_new()) == NULL)
		return 0;
	if (!X509_STORE_add_cert(store, sk_X509_value(chain, d)))
		goto out;
	/* Borrowed pointers: freed with sk_X509_free, not pop_free. */
	if ((untrusted = sk_X509_new_null()) == NULL)
		goto out;
	for (size_t i = 1; i < d; i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i)))
			goto out;
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0),
	    untrusted))
		goto out;
	/* The anchor need not be self-signed (an intermediate TA). */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (!X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER))
		goto out;
	ok = X509_verify_cert(ctx) == 1;
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok;
}

/*
 * dane_name_ok: the leaf carries one of the reference names (RFC 7672
 * 3.2.2, 3.2.3: DNS-IDs when there are any, else the CN; a wildcard only
 * as the whole left-most label).
 */
static int
dane_name_ok(X509 *leaf, const char *const *names, size_t nnames)
{
	for (size_t i = 0; i < nnames; i++) {
		if (names[i] == NULL || names[i][0] == '\0')
			continue;
		if (X509_check_host(leaf, names[i], strlen(names[i]),
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1)
			return 1;
	}
	return 0;
}

static dane_result_t
dane_done(dane_info_t *info, dane_result_t r, int usage, int depth,
    const char *reason)
{
	if (info != NULL) {
		info->usage = usage;
		info->depth = depth;
		info->reason = reason;
	}
	return r;
}

dane_result_t
dane_verify(const dane_tlsa_t *recs, size_t nrecs, STACK_OF(X509) *chain,
    const char *const *names, size_t nnames, time_t now, dane_info_t *info)
{
	unsigned usable = 0;
	int has_ta = 0, has_ee = 0, m;
	size_t n;
	X509 *leaf;
	const char *why;

	for (size_t i = 0; i < nrecs; i++) {
		if (!dane_used(recs, nrecs, i))
			continue;
		usable++;
		has_ta |= recs[i].usage == DANE_USAGE_DANE_TA;
		has_ee |= recs[i].usage == DANE_USAGE_DANE_EE;
	}
	if (info != NULL)
		info->usable = usable;
	if (usable == 0)
		return dane_done(info, DANE_NONE_USABLE, -1, -1,
		    "no usable TLSA record");
	n = chain != NULL ? sk_X509_num(chain) : 0;
	if (n == 0)
		return dane_done(info, DANE_NO_MATCH, -1, -1,
		    "no peer certificate");
	if (n > DANE_CHAIN_MAX)
		n = DANE_CHAIN_MAX;
	leaf = sk_X509_value(chain, 0);

	/* DANE-EE(3): the leaf alone; no names, no dates (RFC 7672 3.1.1). */
	if (has_ee && dane_cert_matches(leaf, recs, nrecs,
	    DANE_USAGE_DANE_EE) == 1)
		return dane_done(info, DANE_MATCH, DANE_USAGE_DANE_EE, 0,
		    NULL);
	if (!has_ta)
		return dane_done(info, DANE_NO_MATCH, -1, -1,
		    "leaf does not match DANE-EE");

	/*
	 * DANE-TA(2) (RFC 7672 3.1.2): the anchor is a certificate the
	 * server presented. Issuers first (depth 1 up); the leaf only when
	 * self-issued (see dane.h).
	 */
	why = "no presented certificate matches DANE-TA";
	for (size_t d = 1; d <= n; d++) {
		size_t at = d < n ? d : 0;

		if (at == 0 && X509_check_issued(leaf, leaf) != X509_V_OK)
			break;
		m = dane_cert_matches(sk_X509_value(chain, at), recs, nrecs,
		    DANE_USAGE_DANE_TA);
		if (m != 1)
			continue;
		if (!dane_ta_chain_ok(chain, at, now)) {
			why = "chain does not verify to the DANE-TA";
			continue;
		}
		if (!dane_name_ok(leaf, names, nnames))
			return dane_done(info, DANE_NO_MATCH, -1, (int)at,
			    "DANE-TA: no reference name in the certificate");
		return dane_done(info, DANE_MATCH, DANE_USAGE_DANE_TA, (int)at,
		    NULL);
	}
	return dane_done(info, DANE_NO_MATCH, -1, -1, why);
}

const char *
dane_result_name(dane_result_t r)
{
	switch (r) {
	case DANE_MATCH:
		return "match";
	case DANE_NO_MATCH:
		return "nomatch";
	case DANE_NONE_USABLE:
		return "unusable";
	}
	return "nomatch";
}
