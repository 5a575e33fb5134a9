/*
 * tls: BoringSSL contexts. Server contexts for inbound listeners (one or
 * more certificate/key pairs, chosen by SNI and by what the client supports),
 * client contexts for outbound legs (verification against a CA file).
 */
#ifndef TLS_H
#define TLS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "config.h"

/*
 * tls_check_keypair loads a PEM certificate chain and PEM private key and
 * checks the key matches the certificate. Returns 0, or -1 with a message
 * (no file name prefix) in err.
 */
int tls_check_keypair(const char *cert, const char *key, char *err,
    size_t errlen);

/*
 * tls_server_ctx_new builds the server context of an inbound listener.
 * Returns a new SSL_CTX (caller owns it), or NULL with a message in err.
 */
SSL_CTX *tls_server_ctx_new(const config_listener_t *l, char *err,
    size_t errlen);

/*
 * tls_listen_ctx_new builds the server context of an outbound listener's
 * listening leg (listen_tls): l's cert/key pairs, l->listen_min_tls, down
 * to TLS 1.0 with CBC suites for old devices. As tls_server_ctx_new.
 */
SSL_CTX *tls_listen_ctx_new(const config_listener_t *l, char *err,
    size_t errlen);

/*
 * tls_client_ctx_new builds the client context of an outbound listener:
 * trust anchors from l->ca_file or the system bundle. Returns a new SSL_CTX
 * or NULL with a message in err.
 */
SSL_CTX *tls_client_ctx_new(const config_listener_t *l, char *err,
    size_t errlen);

/*
 * tls_https_ctx_new builds the context of the MTA-STS policy fetch (an
 * HTTPS client): TLS 1.2 or later, trust anchors from ca_file or the
 * system bundle, and SSL_VERIFY_PEER with no override, so a chain that
 * does not verify (untrusted, expired) ends the handshake. The host name
 * is the caller's to check (X509_VERIFY_PARAM or tls_peer_matches).
 * Returns a new SSL_CTX or NULL with a message in err.
 */
SSL_CTX *tls_https_ctx_new(const char *ca_file, char *err, size_t errlen);

/*
 * tls_ctx_free drops the caller's reference to a context made by
 * tls_server_ctx_new or tls_client_ctx_new; connections still using it keep
 * it (and its certificates) until they end. NULL does nothing.
 */
void tls_ctx_free(SSL_CTX *ctx);

/*
 * tls_peer_matches: the peer certificate of an established connection
 * names host (BoringSSL's host check: wildcards only as the whole left-most
 * label), or, for ".example", a name below example. Returns 1 or 0.
 */
int tls_peer_matches(const SSL *ssl, const char *name);

/*
 * tls_peer_trusted: the peer presented a certificate whose chain verified
 * against the context's trust anchors, within its validity dates (checked
 * at this handshake). Returns 1 or 0.
 */
int tls_peer_trusted(const SSL *ssl);

/*
 * tls_check_ocsp loads the pair cert/key and the DER OCSP response in
 * ocsp and checks it (ocsp_check: successful, about this certificate,
 * good, with a nextUpdate). Returns 0, or -1 with a message in err.
 */
int tls_check_ocsp(const char *cert, const char *key, const char *ocsp,
    char *err, size_t errlen);

/*
 * tls_server_ocsp_info gives the nextUpdate (Unix time) of the i-th pair's
 * OCSP response. Returns 0, or -1 when that pair staples nothing.
 */
int tls_server_ocsp_info(const SSL_CTX *ctx, int i, int64_t *next_update);

/*
 * tls_server_cert_info gives the subject CN and the notAfter time (Unix) of
 * the i-th certificate of a server context. Returns 0, or -1 past the last.
 */
int tls_server_cert_info(const SSL_CTX *ctx, int i, char *subject,
    size_t sublen, int64_t *not_after);

/* tls_version_name: "TLSv1.3" etc. for a connection, "-" for NULL. */
const char *tls_version_name(const SSL *ssl);

/*
 * Session-ticket key files in nginx's format (ssl_session_ticket_key):
 * 80 bytes, name(16) | HMAC-SHA256 key(32) | AES-256-CBC key(32), or the
 * legacy 48 bytes, name(16) | AES-128-CBC key(16) | HMAC-SHA256 key(16).
 */
#define TLS_TICKET_KEY_LEN 80
#define TLS_TICKET_KEY_LEGACY_LEN 48

/*
 * tls_ticket_key_check: path holds one key of either size. Returns 0, or
 * -1 with a message in err (a size or a read error, never key bytes).
 */
int tls_ticket_key_check(const char *path, char *err, size_t errlen);

/* Longest subject or issuer CN kept from a client certificate
 * (ub-common-name, RFC 5280 appendix A). */
#define TLS_CN_MAX 64
#define TLS_SHA256_LEN 32

/* What a client presented, read once after its handshake. */
typedef struct {
	int requested;          /* the listener asked for one (client_ca) */
	int present;            /* the client sent one */
	int trusted;            /* its chain verified against client_ca,
	                           within its dates */
	uint8_t sha256[TLS_SHA256_LEN]; /* of the DER leaf, when present */
	/* Subject and issuer CN, printable US-ASCII except '"' and '\\'
	 * (others become '?'), cut at TLS_CN_MAX; "" when absent. Peer
	 * data made safe for logs, trace headers and PROXY TLVs. */
	char cn[TLS_CN_MAX + 1];
	char issuer_cn[TLS_CN_MAX + 1];
} tls_ccert_t;

/* tls_client_cert fills *out for an established server-side connection. */
void tls_client_cert(const SSL *ssl, tls_ccert_t *out);

/* tls_hex: 2 * n lower-case hex digits and a NUL into out (room for it). */
void tls_hex(const uint8_t *in, size_t n, char *out);

#endif
