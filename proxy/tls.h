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
 * tls_server_cert_info gives the subject CN and the notAfter time (Unix) of
 * the i-th certificate of a server context. Returns 0, or -1 past the last.
 */
int tls_server_cert_info(const SSL_CTX *ctx, int i, char *subject,
    size_t sublen, int64_t *not_after);

/* tls_version_name: "TLSv1.3" etc. for a connection, "-" for NULL. */
const char *tls_version_name(const SSL *ssl);

#endif
