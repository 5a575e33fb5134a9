/*
 * tlscache: a worker's cache of client TLS sessions, so that the next
 * connection to the same relay or MX resumes instead of doing a full
 * handshake. One per worker thread, no lock. Entries are keyed by the
 * caller (listener, configuration generation, destination address, SNI):
 * a reload, which any change of trust anchors or client certificate
 * brings, starts from nothing.
 *
 * A resumed SSL_SESSION carries the peer chain and the verification
 * result of the handshake that made it (BoringSSL keeps them in the
 * session: SSL_get_peer_cert_chain, SSL_get_verify_result), so the checks
 * made after a handshake (tls = verify, DANE, policies at RCPT) decide on
 * a resumed session as on the original one.
 */
#ifndef TLSCACHE_H
#define TLSCACHE_H

#include <stdint.h>
#include <time.h>
#include <openssl/ssl.h>

#define TLSCACHE_MAX 256          /* sessions per worker */
/*
 * Single-use sessions (TLS 1.3 tickets) kept per key: each is used once,
 * so sessions that start at the same time toward one relay each need
 * their own. A TLS 1.3 server sends two per handshake (BoringSSL, OpenSSL),
 * so a relay leg with up to this many sessions at once keeps resuming
 * (measured: at 64 concurrent sessions, 16 left a third of them doing full
 * handshakes). A session holds the peer's chain, a few KB: 64 per key, and
 * TLSCACHE_MAX in all, bound the memory. A reusable (TLS 1.2) session is
 * kept once per key.
 */
#define TLSCACHE_PER_KEY 64
#define TLSCACHE_KEY_MAX 384

typedef struct tlscache tlscache_t;

/* Where a connection's new sessions go: caller storage that outlives the
 * connection's SSL (tlscache_attach borrows it). */
typedef struct tlscache_slot {
	tlscache_t *cache;            /* borrowed */
	char key[TLSCACHE_KEY_MAX];
	uint64_t timeout_s;           /* session_cache_timeout */
} tlscache_slot_t;

/* tlscache_new: an empty cache (NULL on no memory); tlscache_free drops
 * every session in it (NULL: nothing). */
tlscache_t *tlscache_new(void);
void tlscache_free(tlscache_t *c);

/*
 * tlscache_take returns the newest session cached under key, not expired
 * at now, with a reference the caller drops (SSL_SESSION_free after
 * SSL_set_session), or NULL. A session meant for one use (a TLS 1.3
 * ticket, SSL_SESSION_should_be_single_use) leaves the cache here.
 */
SSL_SESSION *tlscache_take(tlscache_t *c, const char *key, time_t now);

/*
 * tlscache_put keeps sess under key until now + timeout_s (or the
 * session's own lifetime, if shorter). A reusable session replaces the
 * key's others; a single-use one joins them, up to TLSCACHE_PER_KEY (then
 * it replaces the key's oldest). A new key evicts the least recently used
 * entry when full. Takes ownership of sess.
 */
void tlscache_put(tlscache_t *c, const char *key, SSL_SESSION *sess,
    time_t now, uint64_t timeout_s);

/* Number of sessions held (for tests). */
int tlscache_count(const tlscache_t *c);

/*
 * tlscache_ctx_init makes a client context hand its new sessions to the
 * slot attached to each connection (no internal cache). Returns 0 or -1.
 */
int tlscache_ctx_init(SSL_CTX *ctx);

/* tlscache_attach: new sessions of ssl go to slot (borrowed for ssl's
 * life, or until tlscache_attach(ssl, NULL) detaches it). Returns 0 or
 * -1. */
int tlscache_attach(SSL *ssl, tlscache_slot_t *slot);

#endif
