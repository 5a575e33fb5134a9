/*
 * tls: BoringSSL contexts and the certificate choice made from the
 * ClientHello: a pair whose certificate names the SNI host if any does, and
 * among those an ECDSA certificate when the client can use one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include <openssl/bytestring.h>
#include <openssl/ex_data.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "ocsp.h"
#include "tls.h"
#include "tlscache.h"

#define TLS_CHAIN_MAX 10 /* certificates in one configured chain */

/*
 * TLS 1.2 suites: forward-secret AEADs only, server preference. TLS 1.3
 * suites are fixed by BoringSSL and are all AEADs.
 */
static const char tls_cipher_list[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
/*
 * An outbound listener's listening leg with listen_min_tls below 1.2: old
 * devices know no AEAD, so CBC suites follow (ECDHE first, then plain RSA
 * key exchange for the oldest). Only on that leg, by the operator's choice.
 */
static const char tls_cipher_list_legacy[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
    "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:"
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA";

typedef struct {
	CRYPTO_BUFFER *chain[TLS_CHAIN_MAX];
	size_t nchain;
	X509 *leaf;        /* for SNI name checks */
	EVP_PKEY *key;
	int is_ec;
	CRYPTO_BUFFER *ocsp;   /* DER OCSP response to staple, or NULL */
	int64_t ocsp_next;     /* its nextUpdate: stapled only before */
	char *ocsp_path;       /* for the log line; owned */
	atomic_int ocsp_expired_logged; /* workers share the context */
} tls_pair_t;

/*
 * Hung on a server SSL_CTX as ex_data and freed by tls_server_ex_free when
 * the context's last reference goes: sessions still handshaking on a
 * context that a reload replaced keep its certificates alive.
 */
/* One session-ticket key (nginx's layouts, see tls.h). */
typedef struct {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
	size_t size;       /* TLS_TICKET_KEY_LEN or TLS_TICKET_KEY_LEGACY_LEN */
} tls_ticket_key_t;

typedef struct {
	tls_pair_t pairs[CONFIG_MAX_CERTS];
	int npairs;
	tls_ticket_key_t keys[CONFIG_MAX_TICKET_KEYS]; /* [0] encrypts */
	int nkeys;
} tls_server_t;

static void tls_pair_cleanup(tls_pair_t *p);
static int tls_verify_record_cb(int ok, X509_STORE_CTX *store);

/*
 * The ex_data index is process-wide by BoringSSL's design; it is set once
 * under pthread_once and only read afterwards.
 */
static pthread_once_t tls_index_once = PTHREAD_ONCE_INIT;
static int tls_index = -1;

static void
tls_server_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index,
    long argl, void *argp)
{
	tls_server_t *srv = ptr;

	(void)parent;
	(void)ad;
	(void)index;
	(void)argl;
	(void)argp;
	if (srv == NULL)
		return;
	for (int i = 0; i < srv->npairs; i++)
		tls_pair_cleanup(&srv->pairs[i]);
	OPENSSL_cleanse(srv->keys, sizeof(srv->keys));
	free(srv);
}

static void
tls_index_init(void)
{
	tls_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_server_ex_free);
}

static tls_server_t *
tls_server_of(const SSL_CTX *ctx)
{
	if (pthread_once(&tls_index_once, tls_index_init) != 0 ||
	    tls_index < 0)
		return NULL;
	return SSL_CTX_get_ex_data(ctx, tls_index);
}

static void
tls_err(char *err, size_t errlen, const char *what)
{
	char buf[256];
	uint32_t e = ERR_get_error();

	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else
		snprintf(err, errlen, "%s", what);
	ERR_clear_error();
}

static void
tls_pair_cleanup(tls_pair_t *p)
{
	for (size_t i = 0; i < p->nchain; i++)
		CRYPTO_BUFFER_free(p->chain[i]);
	X509_free(p->leaf);
	EVP_PKEY_free(p->key);
	CRYPTO_BUFFER_free(p->ocsp);
	free(p->ocsp_path);
	memset(p, 0, sizeof(*p));
}

/*
 * tls_pair_load reads a PEM chain and key into p (caller storage; release
 * with tls_pair_cleanup). Returns 0, or -1 with err set.
 */
static int
tls_pair_load(tls_pair_t *p, const char *cert, const char *key, char *err,
    size_t errlen)
{
	BIO *bio;
	X509 *x;

	memset(p, 0, sizeof(*p));
	if ((bio = BIO_new_file(cert, "r")) == NULL) {
		tls_err(err, errlen, "cannot read certificate");
		return -1;
	}
	while (p->nchain < TLS_CHAIN_MAX &&
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		uint8_t *der = NULL;
		int len = i2d_X509(x, &der);
		if (len > 0)
			p->chain[p->nchain++] = CRYPTO_BUFFER_new(der,
			    (size_t)len, NULL);
		OPENSSL_free(der);
		if (p->leaf == NULL)
			p->leaf = x;
		else
			X509_free(x);
	}
	BIO_free(bio);
	ERR_clear_error();
	if (p->leaf == NULL) {
		snprintf(err, errlen, "no PEM certificate in %s", cert);
		goto err0;
	}
	if ((bio = BIO_new_file(key, "r")) == NULL) {
		tls_err(err, errlen, "cannot read key");
		goto err0;
	}
	p->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (p->key == NULL) {
		tls_err(err, errlen, "no PEM private key in key file");
		goto err0;
	}
	if (!X509_check_private_key(p->leaf, p->key)) {
		tls_err(err, errlen, "key does not match certificate");
		goto err0;
	}
	p->is_ec = EVP_PKEY_id(p->key) == EVP_PKEY_EC;
	return 0;

err0:
	tls_pair_cleanup(p);
	return -1;
}

/*
 * tls_ocsp_load reads a DER OCSP response for pair p and checks it against
 * p's leaf (and issuer, when the chain has it). Returns 0 with p->ocsp and
 * p->ocsp_next set, or -1 with err.
 */
static int
tls_ocsp_load(tls_pair_t *p, const char *path, char *err, size_t errlen)
{
	uint8_t *buf, *name = NULL;
	const ASN1_INTEGER *serial = X509_get_serialNumber(p->leaf);
	X509 *issuer = NULL;
	ocsp_cert_t c;
	int64_t this_update, next_update;
	size_t n;
	int namelen, r = -1;
	FILE *f;

	if ((buf = malloc(OCSP_RESPONSE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		goto out;
	}
	n = fread(buf, 1, OCSP_RESPONSE_MAX + 1, f);
	fclose(f);
	if (n > OCSP_RESPONSE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", OCSP_RESPONSE_MAX);
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.serial = ASN1_STRING_get0_data(serial);
	c.serial_len = (size_t)ASN1_STRING_length(serial);
	if ((namelen = i2d_X509_NAME(X509_get_issuer_name(p->leaf),
	    &name)) <= 0) {
		snprintf(err, errlen, "certificate without issuer name");
		goto out;
	}
	c.issuer_name = name;
	c.issuer_name_len = (size_t)namelen;
	if (p->nchain > 1) {
		const uint8_t *d = CRYPTO_BUFFER_data(p->chain[1]);
		issuer = d2i_X509(NULL, &d, (long)CRYPTO_BUFFER_len(
		    p->chain[1]));
		if (issuer != NULL && X509_check_issued(issuer, p->leaf) ==
		    X509_V_OK) {
			const ASN1_BIT_STRING *k = X509_get0_pubkey_bitstr(
			    issuer);
			c.issuer_key = ASN1_STRING_get0_data(k);
			c.issuer_key_len = (size_t)ASN1_STRING_length(k);
		}
	}
	if (ocsp_check(buf, n, &c, &this_update, &next_update, err,
	    errlen) == -1)
		goto out;
	CRYPTO_BUFFER_free(p->ocsp);
	free(p->ocsp_path);
	p->ocsp = CRYPTO_BUFFER_new(buf, n, NULL);
	p->ocsp_path = strdup(path);
	if (p->ocsp == NULL || p->ocsp_path == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	p->ocsp_next = next_update;
	r = 0;
out:
	X509_free(issuer);
	OPENSSL_free(name);
	free(buf);
	ERR_clear_error();
	return r;
}

int
tls_check_ocsp(const char *cert, const char *key, const char *ocsp,
    char *err, size_t errlen)
{
	tls_pair_t p;
	int r;

	if (tls_pair_load(&p, cert, key, err, errlen) == -1)
		return -1;
	r = tls_ocsp_load(&p, ocsp, err, errlen);
	tls_pair_cleanup(&p);
	return r;
}

/*
 * The chosen pair's OCSP response, to clients that ask for one
 * (BoringSSL sends it only after a status_request): only before its
 * nextUpdate; after it, once per context, a log line, and the gauge
 * (tls_server_ocsp_info) shows it.
 */
static void
tls_staple(SSL *ssl, tls_pair_t *p)
{
	char when[24];

	if (p->ocsp == NULL)
		return;
	if ((int64_t)time(NULL) < p->ocsp_next) {
		SSL_set_ocsp_response(ssl, CRYPTO_BUFFER_data(p->ocsp),
		    CRYPTO_BUFFER_len(p->ocsp));
		return;
	}
	if (atomic_exchange(&p->ocsp_expired_logged, 1))
		return;
	snprintf(when, sizeof(when), "%lld", (long long)p->ocsp_next);
	log_event(LOG_WARN, "ocsp_expired", "file", p->ocsp_path,
	    "next_update", when, "result", "not stapled", NULL);
}

int
tls_check_keypair(const char *cert, const char *key, char *err, size_t errlen)
{
	tls_pair_t p;

	if (tls_pair_load(&p, cert, key, err, errlen) == -1)
		return -1;
	tls_pair_cleanup(&p);
	return 0;
}

/* What the ClientHello says the client can do. */
typedef struct {
	CBS sni;       /* host name, empty if none */
	int ecdsa;     /* the client accepts an ECDSA P-256 certificate */
} tls_hello_t;

/* Reads the SNI host name from a server_name extension body. */
static void
tls_hello_sni(CBS ext, CBS *out)
{
	CBS list, name;
	uint8_t type;

	CBS_init(out, NULL, 0);
	if (!CBS_get_u16_length_prefixed(&ext, &list))
		return;
	while (CBS_len(&list) > 0) {
		if (!CBS_get_u8(&list, &type) ||
		    !CBS_get_u16_length_prefixed(&list, &name))
			return;
		if (type == TLSEXT_NAMETYPE_host_name) {
			*out = name;
			return;
		}
	}
}

static int
tls_hello_has_u16(CBS list, uint16_t want)
{
	uint16_t v;

	while (CBS_get_u16(&list, &v))
		if (v == want)
			return 1;
	return 0;
}

/*
 * ECDSA is usable when the client lists ecdsa_secp256r1_sha256 among its
 * signature algorithms and either offers TLS 1.3 or an ECDHE-ECDSA suite.
 */
static void
tls_hello_parse(const SSL_CLIENT_HELLO *ch, tls_hello_t *h)
{
	const uint8_t *data;
	size_t len;
	CBS ext, list, suites;
	int sigalg = 0, tls13 = 0, suite = 0;
	uint16_t v;

	memset(h, 0, sizeof(*h));
	CBS_init(&h->sni, NULL, 0);
	if (SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_server_name,
	    &data, &len)) {
		CBS_init(&ext, data, len);
		tls_hello_sni(ext, &h->sni);
	}
	if (SSL_early_callback_ctx_extension_get(ch,
	    TLSEXT_TYPE_signature_algorithms, &data, &len)) {
		CBS_init(&ext, data, len);
		if (CBS_get_u16_length_prefixed(&ext, &list))
			sigalg = tls_hello_has_u16(list,
			    SSL_SIGN_ECDSA_SECP256R1_SHA256);
	}
	if (SSL_early_callback_ctx_extension_get(ch,
	    TLSEXT_TYPE_supported_versions, &data, &len)) {
		CBS_init(&ext, data, len);
		if (CBS_get_u8_length_prefixed(&ext, &list))
			tls13 = tls_hello_has_u16(list, TLS1_3_VERSION);
	}
	CBS_init(&suites, ch->cipher_suites, ch->cipher_suites_len);
	while (!suite && CBS_get_u16(&suites, &v)) {
		const SSL_CIPHER *c = SSL_get_cipher_by_value(v);
		suite = c != NULL && SSL_CIPHER_get_auth_nid(c) ==
		    NID_auth_ecdsa;
	}
	h->ecdsa = sigalg && (tls13 || suite);
}

static int
tls_pair_names(const tls_pair_t *p, CBS sni)
{
	if (CBS_len(&sni) == 0)
		return 0;
	return X509_check_host(p->leaf, (const char *)CBS_data(&sni),
	    CBS_len(&sni), 0, NULL) == 1;
}

static enum ssl_select_cert_result_t
tls_select_cert_cb(const SSL_CLIENT_HELLO *ch)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ch->ssl);
	tls_server_t *srv = tls_server_of(ctx);
	tls_pair_t *best = NULL;
	tls_hello_t h;
	int any_sni = 0;

	tls_hello_parse(ch, &h);
	for (int i = 0; i < srv->npairs; i++)
		any_sni |= tls_pair_names(&srv->pairs[i], h.sni);
	for (int i = 0; i < srv->npairs; i++) {
		tls_pair_t *p = &srv->pairs[i];
		if (any_sni && !tls_pair_names(p, h.sni))
			continue;
		if (p->is_ec && !h.ecdsa)
			continue;
		/* First usable pair, upgraded to ECDSA when the client can. */
		if (best == NULL || (p->is_ec && !best->is_ec))
			best = p;
	}
	if (best == NULL)
		best = &srv->pairs[0];
	if (!SSL_set_chain_and_key(ch->ssl, best->chain, best->nchain,
	    best->key, NULL))
		return ssl_select_cert_error;
	tls_staple(ch->ssl, best);
	return ssl_select_cert_success;
}

/*
 * tls_alpn_select_cb: a client that names application protocols must name
 * "smtp" among them, or the handshake fails with no_application_protocol
 * (RFC 7301 3.2). This is the ALPACA defence (nginx does the same since
 * 2021): a browser lured into sending HTTP to this port offers "http/1.1"
 * and never gets a TLS connection whose bytes the proxy would relay as SMTP
 * commands. A client without ALPN (almost every MTA) is not affected.
 * in/inlen is BoringSSL's copy of the client's list, checked for framing
 * already; out points into it.
 */
static int
tls_alpn_select_cb(SSL *ssl, const uint8_t **out, uint8_t *outlen,
    const uint8_t *in, unsigned inlen, void *arg)
{
	static const uint8_t smtp[] = { 's', 'm', 't', 'p' };
	CBS list, name;

	(void)ssl;
	(void)arg;
	CBS_init(&list, in, inlen);
	while (CBS_len(&list) > 0) {
		if (!CBS_get_u8_length_prefixed(&list, &name))
			break;
		if (CBS_len(&name) == sizeof(smtp) &&
		    memcmp(CBS_data(&name), smtp, sizeof(smtp)) == 0) {
			*out = CBS_data(&name);
			*outlen = (uint8_t)CBS_len(&name);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	*out = NULL;
	*outlen = 0;
	/* BoringSSL aborts with a no_application_protocol alert on this
	 * return (ssl.h, SSL_CTX_set_alpn_select_cb). */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Settings shared by server and client contexts. */
static int
tls_ctx_common(SSL_CTX *ctx, uint16_t min_tls)
{
	if (!SSL_CTX_set_min_proto_version(ctx, min_tls ? min_tls :
	    TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_strict_cipher_list(ctx, min_tls != 0 &&
	    min_tls < TLS1_2_VERSION ? tls_cipher_list_legacy :
	    tls_cipher_list))
		return -1;
	/* Partial writes let conn hand BoringSSL whole buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

/*
 * tls_ticket_key_read reads one key file into k. Returns 0, or -1 with a
 * message in err that never shows key bytes.
 */
static int
tls_ticket_key_read(const char *path, tls_ticket_key_t *k, char *err,
    size_t errlen)
{
	uint8_t buf[TLS_TICKET_KEY_LEN + 1];
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	memset(k, 0, sizeof(*k));
	if (n == TLS_TICKET_KEY_LEN) {
		memcpy(k->name, buf, 16);
		memcpy(k->hmac, buf + 16, 32);
		memcpy(k->aes, buf + 48, 32);
	} else if (n == TLS_TICKET_KEY_LEGACY_LEN) {
		memcpy(k->name, buf, 16);
		memcpy(k->aes, buf + 16, 16);
		memcpy(k->hmac, buf + 32, 16);
	} else {
		OPENSSL_cleanse(buf, sizeof(buf));
		snprintf(err, errlen, "%s bytes; a key is %d or %d bytes "
		    "(openssl rand 80 > FILE)", n > TLS_TICKET_KEY_LEN ?
		    "more than 80" : n == 0 ? "0" : "another number of",
		    TLS_TICKET_KEY_LEN, TLS_TICKET_KEY_LEGACY_LEN);
		return -1;
	}
	k->size = n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
tls_ticket_key_check(const char *path, char *err, size_t errlen)
{
	tls_ticket_key_t k;
	int r = tls_ticket_key_read(path, &k, err, errlen);

	OPENSSL_cleanse(&k, sizeof(k));
	return r;
}

static int
tls_ticket_key_init(const tls_ticket_key_t *k, const uint8_t *iv,
    EVP_CIPHER_CTX *cctx, HMAC_CTX *hctx, int encrypt)
{
	const EVP_CIPHER *c = k->size == TLS_TICKET_KEY_LEN ?
	    EVP_aes_256_cbc() : EVP_aes_128_cbc();
	size_t hlen = k->size == TLS_TICKET_KEY_LEN ? 32 : 16;

	if (!HMAC_Init_ex(hctx, k->hmac, hlen, EVP_sha256(), NULL))
		return -1;
	if (encrypt)
		return EVP_EncryptInit_ex(cctx, c, NULL, k->aes, iv) ? 0 : -1;
	return EVP_DecryptInit_ex(cctx, c, NULL, k->aes, iv) ? 0 : -1;
}

/*
 * BoringSSL's ticket-key callback (ssl.h, SSL_CTX_set_tlsext_ticket_key_cb),
 * as nginx's ngx_ssl_session_ticket_key_callback: the first key seals new
 * tickets; any key opens one by its name; a ticket opened with another than
 * the first is answered with a fresh ticket (2), so that clients move to the
 * current key before the old one is retired. Unknown name: 0, a full
 * handshake. The IV is random per ticket (16 bytes for both ciphers).
 */
static int
tls_ticket_key_cb(SSL *ssl, uint8_t *key_name, uint8_t *iv,
    EVP_CIPHER_CTX *cctx, HMAC_CTX *hctx, int encrypt)
{
	const tls_server_t *srv = tls_server_of(SSL_get_SSL_CTX(ssl));

	if (srv == NULL || srv->nkeys == 0)
		return -1;
	if (encrypt) {
		const tls_ticket_key_t *k = &srv->keys[0];
		if (!RAND_bytes(iv, EVP_MAX_IV_LENGTH))
			return -1;
		memcpy(key_name, k->name, 16);
		return tls_ticket_key_init(k, iv, cctx, hctx, 1) == 0 ? 1 : -1;
	}
	for (int i = 0; i < srv->nkeys; i++) {
		const tls_ticket_key_t *k = &srv->keys[i];
		if (memcmp(key_name, k->name, 16) != 0)
			continue;
		if (tls_ticket_key_init(k, iv, cctx, hctx, 0) == -1)
			return -1;
		return i == 0 ? 1 : 2;
	}
	return 0;
}

/*
 * The session-id context: a resumed session must come from a context that
 * asked the same of the client. It is the SHA-256 of the client_ca file
 * (or of nothing): two processes with the same files resume each other's
 * tickets, a ticket from a listener that asked no certificate is not taken
 * as one from a listener that checks them.
 */
static int
tls_sid_ctx(SSL_CTX *ctx, const char *client_ca, char *err, size_t errlen)
{
	uint8_t md[SHA256_DIGEST_LENGTH], buf[4096];
	SHA256_CTX sh;
	FILE *f;
	size_t n;

	SHA256_Init(&sh);
	SHA256_Update(&sh, "starttls-proxy", 14);
	if (client_ca != NULL) {
		if ((f = fopen(client_ca, "rb")) == NULL) {
			snprintf(err, errlen, "cannot read client_ca: %s",
			    strerror(errno));
			return -1;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			SHA256_Update(&sh, buf, n);
		fclose(f);
	}
	SHA256_Final(md, &sh);
	if (!SSL_CTX_set_session_id_context(ctx, md, sizeof(md))) {
		tls_err(err, errlen, "SSL_CTX_set_session_id_context");
		return -1;
	}
	return 0;
}

/*
 * client_ca: request a certificate naming these CAs, never demand one
 * (no SSL_VERIFY_FAIL_IF_NO_PEER_CERT), and let an untrusted one through
 * the handshake: parties decide per command (tls_client_cert).
 */
static int
tls_client_ca(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;

	if (!SSL_CTX_load_verify_locations(ctx, path, NULL)) {
		tls_err(err, errlen, "cannot load client_ca");
		return -1;
	}
	if ((names = SSL_load_client_CA_file(path)) == NULL) {
		tls_err(err, errlen, "no CA certificate in client_ca");
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_record_cb);
	/*
	 * A resumed session keeps the certificate and the verdict of the
	 * handshake that first checked it. TLS 1.3 tickets could carry them
	 * for two days (SSL_DEFAULT_SESSION_PSK_DHE_TIMEOUT, the limit of the
	 * original authentication across renewals); two hours, as TLS 1.2's,
	 * bounds how long a certificate that has since expired can still
	 * satisfy a party.
	 */
	SSL_CTX_set_session_psk_dhe_timeout(ctx, SSL_DEFAULT_SESSION_TIMEOUT);
	return 0;
}
static SSL_CTX *tls_server_ctx_build(const config_listener_t *l,
    uint16_t min_tls, char *err, size_t errlen);

SSL_CTX *
tls_server_ctx_new(const config_listener_t *l, char *err, size_t errlen)
{
	return tls_server_ctx_build(l, l->min_tls, err, errlen);
}

SSL_CTX *
tls_listen_ctx_new(const config_listener_t *l, char *err, size_t errlen)
{
	return tls_server_ctx_build(l, l->listen_min_tls, err, errlen);
}

static SSL_CTX *
tls_server_ctx_build(const config_listener_t *l, uint16_t min_tls, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;
	tls_server_t *srv;

	if (l->ncerts < 1) {
		snprintf(err, errlen, "no certificate configured");
		return NULL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < l->ncerts; i++) {
		char perr[200];
		if (tls_pair_load(&srv->pairs[i], l->certs[i].cert,
		    l->certs[i].key, perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "%s: %s", l->certs[i].cert, perr);
			goto err1;
		}
		srv->npairs++;
		if (l->certs[i].ocsp != NULL && tls_ocsp_load(&srv->pairs[i],
		    l->certs[i].ocsp, perr, sizeof(perr)) == -1) {
			snprintf(err, errlen, "ocsp %s: %s", l->certs[i].ocsp,
			    perr);
			goto err1;
		}
	}
	for (int i = 0; i < l->nticket_keys; i++) {
		char kerr[200];
		if (tls_ticket_key_read(l->ticket_keys[i], &srv->keys[i], kerr,
		    sizeof(kerr)) == -1) {
			snprintf(err, errlen, "ticket_key %s: %s",
			    l->ticket_keys[i], kerr);
			goto err1;
		}
		srv->nkeys++;
	}
	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		tls_err(err, errlen, "SSL_CTX_new");
		goto err1;
	}
	if (tls_ctx_common(ctx, min_tls) == -1) {
		tls_err(err, errlen, "TLS settings");
		goto err2;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION);
	/*
	 * Resumption by tickets only (BoringSSL rotates the ticket key by
	 * itself): no server-side cache to lock across workers or to grow
	 * with the number of senders. One ticket is enough for a sender's
	 * next connection, and each one costs an encryption and a record.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_num_tickets(ctx, 1)) {
		tls_err(err, errlen, "SSL_CTX_set_num_tickets");
		goto err2;
	}
	if (pthread_once(&tls_index_once, tls_index_init) != 0 ||
	    tls_index < 0 || !SSL_CTX_set_ex_data(ctx, tls_index, srv)) {
		tls_err(err, errlen, "SSL_CTX_set_ex_data");
		goto err2;
	}
	SSL_CTX_set_select_certificate_cb(ctx, tls_select_cert_cb);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select_cb, NULL);
	if (tls_sid_ctx(ctx, l->client_ca, err, errlen) == -1)
		goto err2;
	if (l->client_ca != NULL &&
	    tls_client_ca(ctx, l->client_ca, err, errlen) == -1)
		goto err2;
	/* Shared keys replace BoringSSL's own, rotated, per-context key. */
	if (srv->nkeys > 0 &&
	    !SSL_CTX_set_tlsext_ticket_key_cb(ctx, tls_ticket_key_cb)) {
		tls_err(err, errlen, "SSL_CTX_set_tlsext_ticket_key_cb");
		goto err2;
	}
	return ctx;

err2:
	SSL_CTX_free(ctx);
err1:
	for (int i = 0; i < srv->npairs; i++)
		tls_pair_cleanup(&srv->pairs[i]);
	OPENSSL_cleanse(srv->keys, sizeof(srv->keys));
	free(srv);
	return NULL;
}

/*
 * Outbound verification is decided by policy after the handshake, from
 * SSL_get_verify_result and the peer's names, so the handshake itself must
 * not abort on an untrusted chain: record the result and carry on.
 */
static int
tls_verify_record_cb(int ok, X509_STORE_CTX *store)
{
	(void)ok;
	(void)store;
	return 1;
}

SSL_CTX *
tls_client_ctx_new(const config_listener_t *l, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		tls_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (tls_ctx_common(ctx, l->min_tls) == -1) {
		tls_err(err, errlen, "TLS settings");
		goto err1;
	}
	if (l->ca_file != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, l->ca_file, NULL)) {
			tls_err(err, errlen, "cannot load ca_file");
			goto err1;
		}
	} else if (!SSL_CTX_load_verify_locations(ctx,
	    "/etc/ssl/certs/ca-certificates.crt", NULL)) {
		tls_err(err, errlen, "cannot load the system CA bundle");
		goto err1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_record_cb);
	if (l->client_cert != NULL && l->client_key != NULL) {
		tls_pair_t p;
		char perr[200];

		/* For relays that authenticate the proxy by certificate. */
		if (tls_pair_load(&p, l->client_cert, l->client_key, perr,
		    sizeof(perr)) == -1) {
			snprintf(err, errlen, "client_cert %s: %s",
			    l->client_cert, perr);
			goto err1;
		}
		if (!SSL_CTX_set_chain_and_key(ctx, p.chain, p.nchain, p.key,
		    NULL)) {
			tls_pair_cleanup(&p);
			tls_err(err, errlen, "client_cert");
			goto err1;
		}
		tls_pair_cleanup(&p);
	}
	if (tlscache_ctx_init(ctx) == -1) {
		snprintf(err, errlen, "session cache setup");
		goto err1;
	}
	return ctx;

err1:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_https_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		tls_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (tls_ctx_common(ctx, TLS1_2_VERSION) == -1) {
		tls_err(err, errlen, "TLS settings");
		goto err1;
	}
	if (!SSL_CTX_load_verify_locations(ctx, ca_file != NULL ? ca_file :
	    "/etc/ssl/certs/ca-certificates.crt", NULL)) {
		tls_err(err, errlen, ca_file != NULL ?
		    "cannot load mta_sts_ca_file" :
		    "cannot load the system CA bundle");
		goto err1;
	}
	/* Unlike the SMTP legs, nothing is decided after the handshake: a
	 * policy host whose chain does not verify gets no request. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;

err1:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	/* The certificates go with the last reference (tls_server_ex_free). */
	SSL_CTX_free(ctx);
}

int
tls_server_ocsp_info(const SSL_CTX *ctx, int i, int64_t *next_update)
{
	const tls_server_t *srv = tls_server_of(ctx);

	if (srv == NULL || i < 0 || i >= srv->npairs ||
	    srv->pairs[i].ocsp == NULL)
		return -1;
	*next_update = srv->pairs[i].ocsp_next;
	return 0;
}

int
tls_server_cert_info(const SSL_CTX *ctx, int i, char *subject,
    size_t sublen, int64_t *not_after)
{
	const tls_server_t *srv = tls_server_of(ctx);
	const ASN1_TIME *t;
	int days = 0, secs = 0;

	if (srv == NULL || i < 0 || i >= srv->npairs)
		return -1;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(
	    srv->pairs[i].leaf), NID_commonName, subject, (int)sublen) < 0)
		snprintf(subject, sublen, "-");
	/* Keep label values tame: no quotes or backslashes. */
	for (char *c = subject; *c != '\0'; c++)
		if (*c == '"' || *c == '\\' || *c < ' ' || *c > '~')
			*c = '_';
	t = X509_get0_notAfter(srv->pairs[i].leaf);
	if (t == NULL || !ASN1_TIME_diff(&days, &secs, NULL, t))
		return -1;
	*not_after = (int64_t)time(NULL) + (int64_t)days * 86400 + secs;
	return 0;
}

const char *
tls_version_name(const SSL *ssl)
{
	return ssl == NULL ? "-" : SSL_get_version(ssl);
}

/* Case-insensitive: does name end with suffix (which starts with '.')? */
static int
tls_has_suffix(const char *name, size_t n, const char *suffix, size_t sn)
{
	return n > sn && strncasecmp(name + n - sn, suffix, sn) == 0;
}

/*
 * ".example" matching: a DNS subjectAltName below example; a wildcard
 * "*.a.example" counts as below example when "a.example" is example or
 * below it. Only when there is no DNS name at all is the CN used
 * (RFC 6125 6.4.4).
 */
static int
tls_cert_matches_suffix(X509 *x, const char *suffix)
{
	GENERAL_NAMES *gens;
	size_t sn = strlen(suffix);
	int found = 0, any = 0;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (size_t i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		size_t n;

		if (g->type != GEN_DNS)
			continue;
		any = 1;
		d = ASN1_STRING_get0_data(g->d.dNSName);
		n = (size_t)ASN1_STRING_length(g->d.dNSName);
		if (memchr(d, '\0', n) != NULL)
			continue;
		if (n > 2 && d[0] == '*' && d[1] == '.') {
			/* "*.rest" -> ".rest" must be ".example" or below. */
			if ((n - 1 == sn && strncasecmp((const char *)d + 1,
			    suffix, sn) == 0) ||
			    tls_has_suffix((const char *)d + 1, n - 1, suffix,
			    sn))
				found = 1;
		} else if (memchr(d, '*', n) == NULL &&
		    tls_has_suffix((const char *)d, n, suffix, sn))
			found = 1;
	}
	GENERAL_NAMES_free(gens);
	if (!any && !found) {
		char cn[256];
		int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn));
		found = n > 0 && (size_t)n == strlen(cn) &&
		    tls_has_suffix(cn, (size_t)n, suffix, sn);
	}
	return found;
}

int
tls_peer_matches(const SSL *ssl, const char *name)
{
	X509 *x = SSL_get_peer_certificate(ssl);
	struct in6_addr ip;
	int ok;

	if (x == NULL)
		return 0;
	if (name[0] == '.')
		ok = tls_cert_matches_suffix(x, name);
	else if (inet_pton(AF_INET, name, &ip) == 1 ||
	    inet_pton(AF_INET6, name, &ip) == 1)
		/* A relay given as an address: its iPAddress SAN. */
		ok = X509_check_ip_asc(x, name, 0) == 1;
	else
		ok = X509_check_host(x, name, strlen(name),
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
	X509_free(x);
	return ok;
}

int
tls_peer_trusted(const SSL *ssl)
{
	X509 *x = SSL_get_peer_certificate(ssl);

	if (x == NULL)
		return 0;
	X509_free(x);
	return SSL_get_verify_result(ssl) == X509_V_OK;
}

void
tls_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* A CN from a certificate, made safe (see tls_ccert_t). */
static void
tls_cn(X509_NAME *name, char *out)
{
	int i = name == NULL ? -1 :
	    X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	const ASN1_STRING *d;
	const unsigned char *p;
	size_t n, k;

	out[0] = '\0';
	if (i < 0 || (d = X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(name, i))) == NULL)
		return;
	p = ASN1_STRING_get0_data(d);
	n = (size_t)ASN1_STRING_length(d);
	for (k = 0; k < n && k < TLS_CN_MAX; k++)
		out[k] = p[k] >= ' ' && p[k] <= '~' && p[k] != '"' &&
		    p[k] != '\\' ? (char)p[k] : '?';
	out[k] = '\0';
}

void
tls_client_cert(const SSL *ssl, tls_ccert_t *out)
{
	X509 *x;
	uint8_t *der = NULL;
	int len;

	memset(out, 0, sizeof(*out));
	out->requested = (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) != 0;
	if ((x = SSL_get_peer_certificate(ssl)) == NULL)
		return;
	out->present = 1;
	out->trusted = SSL_get_verify_result(ssl) == X509_V_OK;
	if ((len = i2d_X509(x, &der)) > 0)
		SHA256(der, (size_t)len, out->sha256);
	else
		out->trusted = 0; /* no fingerprint: match nothing */
	OPENSSL_free(der);
	tls_cn(X509_get_subject_name(x), out->cn);
	tls_cn(X509_get_issuer_name(x), out->issuer_cn);
	X509_free(x);
}
