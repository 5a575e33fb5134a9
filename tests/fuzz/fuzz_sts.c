/*
 * fuzz_sts: the MTA-STS TXT record and policy parsers and the mx pattern
 * matchers (proxy/sts.c). The input is read twice:
 *  - as a TXT RRset, one record per line (LF; a line end is invalid inside
 *    a record anyway), each record on its own exact-size copy: the verdict
 *    is deterministic and does not depend on the records' order; an id is
 *    1-32 alphanumerics that follow "id=" in one record;
 *  - as a policy body, on an exact-size copy: deterministic; an accepted
 *    policy is within its bounds (patterns valid, lower-case, at most
 *    STS_MX_MAX; max_age at most STS_MAX_AGE_MAX; mx unless mode none),
 *    and sts_policy_format's text parses back to the same policy.
 * Each accepted pattern then matches the host names it should and not the
 * ones it should not, and the certificate matcher agrees with the host
 * matcher on a certificate naming one host and with a string oracle on a
 * certificate with a wildcard SAN.
 */
#include <stdint.h>
#include <string.h>

#include <openssl/nid.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "sts.h"

#define FUZZ_STS_RECS 16

/* The TXT reading of the input. */
static void
fuzz_sts_txt(const uint8_t *data, size_t size)
{
	sts_slice_t recs[FUZZ_STS_RECS], rev[FUZZ_STS_RECS];
	char id[STS_ID_MAX + 1], id2[STS_ID_MAX + 1], id3[STS_ID_MAX + 1];
	const char *why = NULL, *why2 = NULL;
	size_t n = 0, start = 0;
	int r, r2, r3, found = 0;

	for (size_t i = 0; i <= size && n < FUZZ_STS_RECS; i++) {
		if (i < size && data[i] != '\n')
			continue;
		recs[n].len = i - start;
		recs[n].p = fuzz_dup(data + start, i - start);
		n++;
		start = i + 1;
	}
	r = sts_txt_parse(recs, n, id, &why);
	r2 = sts_txt_parse(recs, n, id2, &why2);
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(r == r2);
	for (size_t i = 0; i < n; i++)
		rev[i] = recs[n - 1 - i];
	r3 = sts_txt_parse(rev, n, id3, &why2);
	FUZZ_CHECK(r3 == r);
	if (r == -1) {
		FUZZ_CHECK(why != NULL);
	} else {
		size_t l = strlen(id);

		FUZZ_CHECK(strcmp(id, id2) == 0 && strcmp(id, id3) == 0);
		FUZZ_CHECK(l >= 1 && l <= STS_ID_MAX);
		for (size_t i = 0; i < l; i++)
			FUZZ_CHECK((id[i] >= '0' && id[i] <= '9') ||
			    (id[i] >= 'a' && id[i] <= 'z') ||
			    (id[i] >= 'A' && id[i] <= 'Z'));
		for (size_t i = 0; i < n && !found; i++)
			for (size_t k = 0; k + 3 + l <= recs[i].len; k++)
				if (memcmp(recs[i].p + k, "id=", 3) == 0 &&
				    memcmp(recs[i].p + k + 3, id, l) == 0) {
					found = 1;
					break;
				}
		FUZZ_CHECK(found);
	}
	for (size_t i = 0; i < n; i++)
		free((void *)recs[i].p);
}

/*
 * A certificate with one dNSName SAN. Unsigned: the matcher reads names
 * only (trust is the handshake's), and the target runs without a key.
 */
static X509 *
fuzz_sts_cert(const char *san)
{
	X509 *x = X509_new();
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();

	FUZZ_CHECK(x != NULL && gens != NULL && g != NULL && s != NULL);
	FUZZ_CHECK(ASN1_STRING_set(s, san, (int)strlen(san)));
	GENERAL_NAME_set0_value(g, GEN_DNS, s);
	FUZZ_CHECK(sk_GENERAL_NAME_push(gens, g));
	FUZZ_CHECK(X509_set_version(x, X509_VERSION_3) &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0));
	GENERAL_NAMES_free(gens);
	return x;
}

/* What a wildcard SAN "*.example.com" must match, by plain string work. */
static int
fuzz_sts_wild_oracle(const sts_policy_t *pol)
{
	static const char suffix[] = ".example.com";
	size_t sl = sizeof(suffix) - 1;

	for (unsigned i = 0; i < pol->nmx; i++) {
		const char *p = pol->mx[i];
		size_t l = strlen(p);

		if (strcmp(p, "*.example.com") == 0)
			return 1;
		if (l > sl && strcmp(p + l - sl, suffix) == 0 &&
		    memchr(p, '.', l - sl) == NULL && p[0] != '*')
			return 1;
	}
	return 0;
}

/* The matchers on an accepted policy. */
static void
fuzz_sts_match(const sts_policy_t *pol, const uint8_t *data, size_t size)
{
	static X509 *plain, *wild;
	char host[STS_NAME_MAX + 8];

	for (unsigned i = 0; i < pol->nmx; i++) {
		const char *p = pol->mx[i];
		size_t l = strlen(p);

		if (p[0] == '*') {
			/* One label more on the left: yes. None, two: no. */
			snprintf(host, sizeof(host), "a%s", p + 1);
			FUZZ_CHECK(sts_mx_match(p, l, host, strlen(host)));
			snprintf(host, sizeof(host), "A%s.", p + 1);
			FUZZ_CHECK(sts_mx_match(p, l, host, strlen(host)));
			FUZZ_CHECK(!sts_mx_match(p, l, p + 2, l - 2));
			snprintf(host, sizeof(host), "a.b%s", p + 1);
			FUZZ_CHECK(!sts_mx_match(p, l, host, strlen(host)));
		} else {
			FUZZ_CHECK(sts_mx_match(p, l, p, l));
			snprintf(host, sizeof(host), "a.%s", p);
			FUZZ_CHECK(!sts_mx_match(p, l, host, strlen(host)));
		}
	}
	/* The input itself as a host name: never a crash. */
	(void)sts_policy_match_host(pol, (const char *)data,
	    size < 300 ? size : 300);

	if (plain == NULL) {
		plain = fuzz_sts_cert("mx.example.com");
		wild = fuzz_sts_cert("*.example.com");
	}
	FUZZ_CHECK(sts_cert_matches(pol, plain) ==
	    sts_policy_match_host(pol, "mx.example.com", 14));
	FUZZ_CHECK(sts_cert_matches(pol, wild) == fuzz_sts_wild_oracle(pol));
}

static int
fuzz_sts_same(const sts_policy_t *a, const sts_policy_t *b)
{
	if (a->mode != b->mode || a->max_age != b->max_age || a->nmx != b->nmx)
		return 0;
	for (unsigned i = 0; i < a->nmx; i++)
		if (strcmp(a->mx[i], b->mx[i]) != 0)
			return 0;
	return 1;
}

/* The policy reading of the input. */
static void
fuzz_sts_policy(const uint8_t *data, size_t size)
{
	static sts_policy_t pol, again, back;
	static char text[STS_BODY_MAX];
	uint8_t *q = fuzz_dup(data, size);
	const char *why = NULL;
	size_t tn;
	int r = sts_policy_parse(q, size, &pol, &why);

	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(sts_policy_parse(q, size, &again, &why) == r);
	free(q);
	if (r == -1) {
		FUZZ_CHECK(why != NULL);
		return;
	}
	FUZZ_CHECK(fuzz_sts_same(&pol, &again));
	FUZZ_CHECK(pol.mode == STS_MODE_ENFORCE ||
	    pol.mode == STS_MODE_TESTING || pol.mode == STS_MODE_NONE);
	FUZZ_CHECK(pol.max_age <= STS_MAX_AGE_MAX);
	FUZZ_CHECK(pol.nmx <= STS_MX_MAX);
	FUZZ_CHECK(pol.mode == STS_MODE_NONE || pol.nmx >= 1);
	for (unsigned i = 0; i < pol.nmx; i++) {
		size_t l = strnlen(pol.mx[i], sizeof(pol.mx[i]));

		FUZZ_CHECK(l >= 1 && l <= STS_NAME_MAX);
		for (size_t k = 0; k < l; k++) {
			char c = pol.mx[i][k];

			FUZZ_CHECK((c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			    (c == '*' && k == 0));
		}
	}
	/* Re-serialised, it parses back to itself. */
	tn = sts_policy_format(&pol, text, sizeof(text));
	FUZZ_CHECK(tn > 0);
	q = fuzz_dup((const uint8_t *)text, tn);
	FUZZ_CHECK(sts_policy_parse(q, tn, &back, &why) == 0);
	free(q);
	FUZZ_CHECK(fuzz_sts_same(&pol, &back));
	fuzz_sts_match(&pol, data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_sts_txt(data, size);
	fuzz_sts_policy(data, size);
	return 0;
}
