/*
 * Unit tests for proxy/dane.c: the TLSA matcher. Keys and certificates are
 * made here with BoringSSL (EC P-256): a root CA, an intermediate, leaves
 * (valid, expired, wrong name, another key, self-signed) and an unrelated
 * CA. The TLSA data is computed with other calls than dane.c uses
 * (EVP_marshal_public_key for the SPKI), and one record comes from a real
 * zone (the captured TLSA answer of dnsmsg_real.h, made by openssl's CLI).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "dane.h"
#include "dnsmsg.h"
#include "dnsmsg_real.h"

#define DAY (24L * 3600)

static EVP_PKEY *
key_new(void)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EVP_PKEY *k = EVP_PKEY_new();

	if (ec == NULL || k == NULL || !EC_KEY_generate_key(ec) ||
	    !EVP_PKEY_assign_EC_KEY(k, ec))
		abort();
	return k;
}

static void
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, v3, nid, value);

	if (e == NULL || !X509_add_ext(x, e, -1))
		abort();
	X509_EXTENSION_free(e);
}

/*
 * A certificate for key, signed by issuer_key (NULL: self-signed), valid
 * from now + nb to now + na seconds. ca: a CA certificate. san: a
 * subjectAltName value or NULL.
 */
static X509 *
cert_new(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    int ca, const char *san, long nb, long na)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	X509V3_CTX v3;

	if (x == NULL || nm == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), nb) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), na) == NULL ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const uint8_t *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, nm) ||
	    !X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : nm) ||
	    !X509_set_pubkey(x, key))
		abort();
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if (ca) {
		add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
	}
	if (san != NULL)
		add_ext(x, &v3, NID_subject_alt_name, san);
	if (!X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()))
		abort();
	X509_NAME_free(nm);
	return x;
}

/* The fixtures. */
static EVP_PKEY *k_root, *k_int, *k_leaf, *k_other, *k_rogue, *k_self;
static X509 *root, *inter, *leaf, *expired, *wrongname, *other, *rogue,
    *rogue_leaf, *selfleaf, *selfwrong, *int_expired, *root_expired;

static void
fixtures(void)
{
	k_root = key_new();
	k_int = key_new();
	k_leaf = key_new();
	k_other = key_new();
	k_rogue = key_new();
	k_self = key_new();
	root = cert_new("Test Root", k_root, NULL, NULL, 1, NULL, -DAY,
	    3650 * DAY);
	inter = cert_new("Test Intermediate", k_int, root, k_root, 1, NULL,
	    -DAY, 365 * DAY);
	root_expired = cert_new("Test Root", k_root, NULL, NULL, 1, NULL,
	    -10 * DAY, -DAY);
	int_expired = cert_new("Test Intermediate", k_int, root, k_root, 1,
	    NULL, -10 * DAY, -DAY);
	leaf = cert_new("mx1.example.com", k_leaf, inter, k_int, 0,
	    "DNS:mx1.example.com", -DAY, 90 * DAY);
	expired = cert_new("mx1.example.com", k_leaf, inter, k_int, 0,
	    "DNS:mx1.example.com", -100 * DAY, -10 * DAY);
	wrongname = cert_new("mx1.example.com", k_leaf, inter, k_int, 0,
	    "DNS:other.example.net", -DAY, 90 * DAY);
	other = cert_new("mx1.example.com", k_other, inter, k_int, 0,
	    "DNS:mx1.example.com", -DAY, 90 * DAY);
	/* Same subject names as the real ones, another key. */
	rogue = cert_new("Test Intermediate", k_rogue, root, k_rogue, 1, NULL,
	    -DAY, 365 * DAY);
	rogue_leaf = cert_new("mx1.example.com", k_leaf, rogue, k_rogue, 0,
	    "DNS:mx1.example.com", -DAY, 90 * DAY);
	selfleaf = cert_new("mx1.example.com", k_self, NULL, NULL, 0,
	    "DNS:mx1.example.com", -DAY, 90 * DAY);
	selfwrong = cert_new("mx1.example.com", k_self, NULL, NULL, 0,
	    "DNS:other.example.net", -DAY, 90 * DAY);
}

static STACK_OF(X509) *
chain_of(X509 *a, X509 *b, X509 *c)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (sk == NULL)
		abort();
	if (a != NULL)
		sk_X509_push(sk, a);
	if (b != NULL)
		sk_X509_push(sk, b);
	if (c != NULL)
		sk_X509_push(sk, c);
	return sk;
}

/* Record data: the selected bytes of x (or its key), then the digest. */
typedef struct {
	dane_tlsa_t r;
	uint8_t buf[2048];
} rec_t;

static rec_t
rec(int usage, int selector, int mtype, X509 *x, EVP_PKEY *key)
{
	rec_t t;
	uint8_t *der = NULL;
	size_t len = 0;

	memset(&t, 0, sizeof(t));
	t.r.usage = (uint8_t)usage;
	t.r.selector = (uint8_t)selector;
	t.r.mtype = (uint8_t)mtype;
	if (selector == DANE_SELECTOR_SPKI) {
		CBB cbb;

		/* Another encoder than dane.c's i2d_X509_PUBKEY. */
		if (!CBB_init(&cbb, 0) || !EVP_marshal_public_key(&cbb, key) ||
		    !CBB_finish(&cbb, &der, &len))
			abort();
	} else {
		int n = i2d_X509(x, &der);

		if (n <= 0)
			abort();
		len = (size_t)n;
	}
	if (mtype == DANE_MTYPE_SHA256) {
		SHA256(der, len, t.buf);
		t.r.len = SHA256_DIGEST_LENGTH;
	} else if (mtype == DANE_MTYPE_SHA512) {
		SHA512(der, len, t.buf);
		t.r.len = SHA512_DIGEST_LENGTH;
	} else {
		if (len > sizeof(t.buf))
			abort();
		memcpy(t.buf, der, len);
		t.r.len = len;
	}
	OPENSSL_free(der);
	return t;
}

static const char *const mx_names[] = { "mx1.example.com" };

/*
 * Runs dane_verify on copies of the records (data pointing into the
 * rec_t array) and a chain of up to three certificates.
 */
static dane_result_t
run(rec_t *recs, size_t n, X509 *a, X509 *b, X509 *c,
    const char *const *names, size_t nnames, dane_info_t *info)
{
	dane_tlsa_t r[8];
	STACK_OF(X509) *sk = chain_of(a, b, c);
	dane_result_t res;

	for (size_t i = 0; i < n; i++) {
		r[i] = recs[i].r;
		r[i].data = recs[i].buf;
	}
	res = dane_verify(r, n, sk, names, nnames, time(NULL), info);
	sk_X509_free(sk);
	return res;
}

#define RUN1(rr, a, b, c) run(&(rr), 1, (a), (b), (c), mx_names, 1, NULL)

/* DANE-EE --------------------------------------------------------------- */

static void
test_ee(void)
{
	dane_info_t info;

	for (int sel = 0; sel <= 1; sel++) {
		for (int mt = 0; mt <= 2; mt++) {
			rec_t r = rec(3, sel, mt, leaf, k_leaf);
			rec_t x = rec(3, sel, mt, other, k_other);

			CHECK_EQ_INT(run(&r, 1, leaf, inter, root, mx_names,
			    1, &info), DANE_MATCH);
			CHECK_EQ_INT(info.usage, 3);
			CHECK_EQ_INT(info.depth, 0);
			CHECK(info.reason == NULL);
			/* Mismatch: the record is for another cert/key. */
			CHECK_EQ_INT(RUN1(x, leaf, inter, root), DANE_NO_MATCH);
			/* Neither dates nor names are checked (RFC 7672
			 * 3.1.1); the chain is irrelevant. */
			if (sel == DANE_SELECTOR_SPKI) {
				CHECK_EQ_INT(RUN1(r, expired, NULL, NULL),
				    DANE_MATCH);
				CHECK_EQ_INT(RUN1(r, wrongname, rogue, NULL),
				    DANE_MATCH);
			} else {
				rec_t e = rec(3, sel, mt, expired, NULL);

				CHECK_EQ_INT(RUN1(e, expired, NULL, NULL),
				    DANE_MATCH);
				/* A cert record is about that cert only. */
				CHECK_EQ_INT(RUN1(r, expired, NULL, NULL),
				    DANE_NO_MATCH);
			}
			CHECK_EQ_INT(run(&r, 1, leaf, NULL, NULL, NULL, 0,
			    NULL), DANE_MATCH);
			/* EE matches the leaf only, not an issuer. */
			{
				rec_t ri = rec(3, sel, mt, inter, k_int);

				CHECK_EQ_INT(RUN1(ri, leaf, inter, root),
				    DANE_NO_MATCH);
			}
		}
	}
	/* Altered data: one bit. */
	{
		rec_t r = rec(3, 1, 1, leaf, k_leaf);

		r.buf[5] ^= 1;
		CHECK_EQ_INT(RUN1(r, leaf, inter, root), DANE_NO_MATCH);
	}
}

/* DANE-TA --------------------------------------------------------------- */

static void
test_ta(void)
{
	dane_info_t info;

	for (int sel = 0; sel <= 1; sel++) {
		for (int mt = 0; mt <= 2; mt++) {
			rec_t tr = rec(2, sel, mt, root, k_root);
			rec_t ti = rec(2, sel, mt, inter, k_int);

			/* At the root, and at the intermediate. */
			CHECK_EQ_INT(run(&tr, 1, leaf, inter, root, mx_names,
			    1, &info), DANE_MATCH);
			CHECK_EQ_INT(info.usage, 2);
			CHECK_EQ_INT(info.depth, 2);
			CHECK_EQ_INT(run(&ti, 1, leaf, inter, root, mx_names,
			    1, &info), DANE_MATCH);
			CHECK_EQ_INT(info.depth, 1);
			CHECK_EQ_INT(RUN1(ti, leaf, inter, NULL), DANE_MATCH);
			/* The anchor must be presented (RFC 7672 3.1.2). */
			CHECK_EQ_INT(RUN1(tr, leaf, inter, NULL),
			    DANE_NO_MATCH);
		}
	}
}

static void
test_ta_names(void)
{
	rec_t ti = rec(2, 0, 1, inter, k_int);
	static const char *const nexthop[] = { "mx1.example.com.invalid",
		"mx1.example.com" };
	static const char *const none[] = { "mx2.example.com", "example.com" };
	dane_info_t info;

	CHECK_EQ_INT(run(&ti, 1, wrongname, inter, root, mx_names, 1, &info),
	    DANE_NO_MATCH);
	CHECK(info.reason != NULL && strstr(info.reason, "name") != NULL);
	/* The second reference name (next-hop domain) is enough. */
	CHECK_EQ_INT(run(&ti, 1, leaf, inter, root, nexthop, 2, NULL),
	    DANE_MATCH);
	CHECK_EQ_INT(run(&ti, 1, leaf, inter, root, none, 2, NULL),
	    DANE_NO_MATCH);
	CHECK_EQ_INT(run(&ti, 1, leaf, inter, root, NULL, 0, NULL),
	    DANE_NO_MATCH);
	/* (wrongname's CN is mx1.example.com: with a DNS-ID present the CN
	 * does not count, RFC 7672 3.2.3.) */
	{
		static const char *const deep[] = { "a.mx1.example.com" };
		static const char *const apex[] = { "example.com" };
		X509 *wild = cert_new("x", k_leaf, inter, k_int, 0,
		    "DNS:*.example.com", -DAY, 90 * DAY);
		X509 *part = cert_new("x", k_leaf, inter, k_int, 0,
		    "DNS:mx*.example.com", -DAY, 90 * DAY);
		X509 *cnonly = cert_new("mx1.example.com", k_leaf, inter,
		    k_int, 0, NULL, -DAY, 90 * DAY);

		/* A wildcard is the whole left-most label, for one label. */
		CHECK_EQ_INT(RUN1(ti, wild, inter, NULL), DANE_MATCH);
		CHECK_EQ_INT(run(&ti, 1, wild, inter, NULL, deep, 1, NULL),
		    DANE_NO_MATCH);
		CHECK_EQ_INT(run(&ti, 1, wild, inter, NULL, apex, 1, NULL),
		    DANE_NO_MATCH);
		CHECK_EQ_INT(RUN1(ti, part, inter, NULL), DANE_NO_MATCH);
		/* No DNS-ID: the CN-ID counts. */
		CHECK_EQ_INT(RUN1(ti, cnonly, inter, NULL), DANE_MATCH);
		X509_free(wild);
		X509_free(part);
		X509_free(cnonly);
	}
}

static void
test_ta_chain(void)
{
	rec_t tr = rec(2, 0, 1, root, k_root);
	rec_t tg = rec(2, 1, 1, rogue, k_rogue);
	rec_t ti = rec(2, 1, 2, inter, k_int);
	rec_t tl = rec(2, 1, 1, leaf, k_leaf);
	rec_t ts = rec(2, 0, 1, selfleaf, NULL);
	dane_info_t info;

	/* The matched anchor did not issue the chain: a rogue CA with
	 * the intermediate's name, presented after a real leaf. */
	CHECK_EQ_INT(run(&tg, 1, leaf, rogue, NULL, mx_names, 1, &info),
	    DANE_NO_MATCH);
	CHECK(info.reason != NULL && strstr(info.reason, "verify") != NULL);
	/* ... and the rogue chain against the real anchor. */
	CHECK_EQ_INT(RUN1(ti, rogue_leaf, rogue, root), DANE_NO_MATCH);
	CHECK_EQ_INT(RUN1(tg, rogue_leaf, rogue, root), DANE_MATCH);
	/* A missing intermediate: the root cannot be reached. */
	CHECK_EQ_INT(RUN1(tr, leaf, root, NULL), DANE_NO_MATCH);
	/* Dates are checked under DANE-TA: an expired leaf, an expired
	 * intermediate below the anchor. */
	CHECK_EQ_INT(RUN1(ti, expired, inter, root), DANE_NO_MATCH);
	CHECK_EQ_INT(RUN1(tr, leaf, int_expired, root), DANE_NO_MATCH);
	CHECK_EQ_INT(RUN1(tr, leaf, inter, root), DANE_MATCH);
	{
		/* The anchor's own dates are checked too (BoringSSL checks
		 * the trust anchor's validity, self-signed or not): stricter
		 * than RFC 5280 6.1, where a trust anchor is not a
		 * certificate with dates; see dane.h. */
		rec_t te = rec(2, 0, 1, int_expired, NULL);
		rec_t tx = rec(2, 0, 1, root_expired, NULL);

		CHECK_EQ_INT(RUN1(te, leaf, int_expired, root), DANE_NO_MATCH);
		CHECK_EQ_INT(RUN1(tx, leaf, inter, root_expired),
		    DANE_NO_MATCH);
	}
	/* A TA record matching a leaf someone else issued is no anchor. */
	CHECK_EQ_INT(RUN1(tl, leaf, inter, root), DANE_NO_MATCH);
	/* A self-issued leaf is its own anchor, names and dates checked. */
	CHECK_EQ_INT(run(&ts, 1, selfleaf, NULL, NULL, mx_names, 1, &info),
	    DANE_MATCH);
	CHECK_EQ_INT(info.depth, 0);
	{
		rec_t tw = rec(2, 0, 1, selfwrong, NULL);

		CHECK_EQ_INT(RUN1(tw, selfwrong, NULL, NULL), DANE_NO_MATCH);
	}
	/* Empty chain. */
	CHECK_EQ_INT(run(&ti, 1, NULL, NULL, NULL, mx_names, 1, NULL),
	    DANE_NO_MATCH);
	{
		dane_tlsa_t r = ti.r;

		r.data = ti.buf;
		CHECK_EQ_INT(dane_verify(&r, 1, NULL, mx_names, 1, time(NULL),
		    NULL), DANE_NO_MATCH);
	}
}

/* Usability and digest agility ------------------------------------------ */

static void
test_unusable(void)
{
	rec_t r[4];
	dane_info_t info;

	/* PKIX-TA(0), PKIX-EE(1) are unusable for SMTP even when they
	 * would match (RFC 7672 3.1.3). */
	r[0] = rec(0, 0, 1, root, k_root);
	r[1] = rec(1, 1, 1, leaf, k_leaf);
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, &info),
	    DANE_NONE_USABLE);
	CHECK_EQ_INT(info.usable, 0);
	/* Unknown usage, selector, matching type; a digest of the wrong
	 * length; empty Full(0) data. */
	r[0] = rec(4, 1, 1, leaf, k_leaf);
	r[1] = rec(3, 2, 1, leaf, k_leaf);
	r[2] = rec(3, 1, 3, leaf, k_leaf);
	r[3] = rec(3, 1, 1, leaf, k_leaf);
	r[3].r.len = 31;
	CHECK_EQ_INT(run(r, 4, leaf, inter, root, mx_names, 1, NULL),
	    DANE_NONE_USABLE);
	r[3] = rec(3, 1, 0, leaf, k_leaf);
	r[3].r.len = 0;
	CHECK_EQ_INT(run(r, 4, leaf, inter, root, mx_names, 1, NULL),
	    DANE_NONE_USABLE);
	/* No records at all. */
	CHECK_EQ_INT(run(r, 0, leaf, inter, root, mx_names, 1, NULL),
	    DANE_NONE_USABLE);
	/* Unusable ones beside a usable one: that one decides. */
	r[3] = rec(3, 1, 1, other, k_other);
	CHECK_EQ_INT(run(r, 4, leaf, inter, root, mx_names, 1, &info),
	    DANE_NO_MATCH);
	CHECK_EQ_INT(info.usable, 1);
	r[3] = rec(3, 1, 1, leaf, k_leaf);
	CHECK_EQ_INT(run(r, 4, leaf, inter, root, mx_names, 1, NULL),
	    DANE_MATCH);
}

static void
test_agility(void)
{
	rec_t r[3];
	dane_info_t info;

	/* RFC 7671 9: with 3 1 1 and 3 1 2 present, only 3 1 2 counts. */
	r[0] = rec(3, 1, 1, leaf, k_leaf);
	r[1] = rec(3, 1, 2, other, k_other);
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, &info),
	    DANE_NO_MATCH);
	CHECK_EQ_INT(info.usable, 1);
	r[0] = rec(3, 1, 1, other, k_other);
	r[1] = rec(3, 1, 2, leaf, k_leaf);
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, NULL),
	    DANE_MATCH);
	/* Full(0) takes no part: "3 1 0" matches beside a stronger
	 * mismatching digest, "3 1 1" does not. */
	r[0] = rec(3, 1, 0, leaf, k_leaf);
	r[1] = rec(3, 1, 1, leaf, k_leaf);
	r[2] = rec(3, 1, 2, other, k_other);
	CHECK_EQ_INT(run(r, 3, leaf, inter, root, mx_names, 1, &info),
	    DANE_MATCH);
	CHECK_EQ_INT(info.usable, 2);
	CHECK_EQ_INT(run(r + 1, 2, leaf, inter, root, mx_names, 1, NULL),
	    DANE_NO_MATCH);
	/* Per (usage, selector): another selector or usage is not weaker. */
	r[0] = rec(3, 1, 1, leaf, k_leaf);
	r[1] = rec(3, 0, 2, other, NULL);
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, NULL),
	    DANE_MATCH);
	r[1] = rec(2, 1, 2, rogue, k_rogue);
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, NULL),
	    DANE_MATCH);
	/* An unusable SHA2-512 record (wrong length) does not hide 3 1 1. */
	r[1] = rec(3, 1, 2, other, k_other);
	r[1].r.len = 32;
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, NULL),
	    DANE_MATCH);
	/* Agility applies to DANE-TA too. */
	r[0] = rec(2, 0, 1, inter, k_int);
	r[1] = rec(2, 0, 2, rogue, NULL);
	CHECK_EQ_INT(run(r, 2, leaf, inter, root, mx_names, 1, NULL),
	    DANE_NO_MATCH);
}

/*
 * The lab's mx1.lab.test certificate and the TLSA record its zone
 * publishes (computed by the openssl CLI, served signed by unbound,
 * parsed by dnsmsg): "3 1 1" matches.
 */
static const char lab_mx1_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBijCCATCgAwIBAgIUM5JERkU/r8XV6XUWHn4KTEYT8IowCgYIKoZIzj0EAwIw\n"
    "FjEUMBIGA1UEAwwLbGFiLXRlc3QtY2EwHhcNMjYxMjAyMTgzMTE3WhcNMjcwMTAx\n"
    "MTgzMTE3WjAXMRUwEwYDVQQDDAxteDEubGFiLnRlc3QwWTATBgcqhkjOPQIBBggq\n"
    "hkjOPQMBBwNCAATyBOKhQTPjshqWi3TKUVznTHiC+VecIiTwyngnQhofr+AhGlIv\n"
    "tLt9sNVnGSYOFKoySVmSDNT8Qx/YlZCB+gkTo1swWTAXBgNVHREEEDAOggxteDEu\n"
    "bGFiLnRlc3QwHQYDVR0OBBYEFKxn1zZ+HdchxfpqRV1XbtHBfm5eMB8GA1UdIwQY\n"
    "MBaAFODp5LAO/u/y/NGOyEn5uiSoAXpnMAoGCCqGSM49BAMCA0gAMEUCICUfKrWH\n"
    "NmNLpfKUcU033glLMsoFAjvxOr0PyzTcrNDIAiEA+rhwHu448Ib2an2ElzVNiqYe\n"
    "9aQFmQGZFCtewyWKDfw=\n"
    "-----END CERTIFICATE-----\n";

static void
test_real_record(void)
{
	static dnsmsg_answer_t ans;
	uint8_t qn[DNSMSG_NAME_MAX];
	size_t qnl;
	BIO *bio = BIO_new_mem_buf(lab_mx1_pem, (int)sizeof(lab_mx1_pem) - 1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	STACK_OF(X509) *sk = chain_of(x, NULL, NULL);
	dane_tlsa_t r;
	/* Ten years on: DANE-EE ignores the certificate's dates. */
	time_t later = time(NULL) + 3650 * DAY;

	CHECK(x != NULL);
	CHECK_EQ_INT(dnsmsg_name_from_text("_25._tcp.alias.lab.test", 23, qn,
	    &qnl), 0);
	CHECK_EQ_INT(dnsmsg_parse(real_tlsa_cname, sizeof(real_tlsa_cname),
	    qn, qnl, DNSMSG_TYPE_TLSA, 0x5a5a, &ans), DNSMSG_OK);
	r.usage = ans.rr[0].usage;
	r.selector = ans.rr[0].selector;
	r.mtype = ans.rr[0].mtype;
	r.data = dnsmsg_rr_data(&ans, &ans.rr[0]);
	r.len = ans.rr[0].len;
	CHECK_EQ_INT(dane_verify(&r, 1, sk, NULL, 0, later, NULL), DANE_MATCH);
	sk_X509_free(sk);
	sk = chain_of(leaf, NULL, NULL);
	CHECK_EQ_INT(dane_verify(&r, 1, sk, NULL, 0, later, NULL),
	    DANE_NO_MATCH);
	sk_X509_free(sk);
	X509_free(x);
	BIO_free(bio);
}

int
main(void)
{
	fixtures();
	RUN(test_ee);
	RUN(test_ta);
	RUN(test_ta_names);
	RUN(test_ta_chain);
	RUN(test_unusable);
	RUN(test_agility);
	RUN(test_real_record);
	CHECK_EQ_INT(strcmp(dane_result_name(DANE_NONE_USABLE), "unusable"),
	    0);
	X509_free(root);
	X509_free(inter);
	X509_free(int_expired);
	X509_free(root_expired);
	X509_free(leaf);
	X509_free(expired);
	X509_free(wrongname);
	X509_free(other);
	X509_free(rogue);
	X509_free(rogue_leaf);
	X509_free(selfleaf);
	X509_free(selfwrong);
	EVP_PKEY_free(k_root);
	EVP_PKEY_free(k_int);
	EVP_PKEY_free(k_leaf);
	EVP_PKEY_free(k_other);
	EVP_PKEY_free(k_rogue);
	EVP_PKEY_free(k_self);
	return CHECK_DONE();
}
