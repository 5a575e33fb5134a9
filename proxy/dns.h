/*
 * dns: the proxy's asynchronous, DNSSEC-aware resolver. One resolver per
 * worker, on the worker's loop: a c-ares channel whose sockets are driven
 * by uv_poll and whose timeouts by a uv_timer. c-ares only sends and
 * receives (ares_send, with ARES_FLAG_NOCHECKRESP so that a SERVFAIL
 * reaches us); the query is built and the answer read by dnsmsg, the
 * proxy's own bounded parser. Never getaddrinfo on a worker loop.
 *
 * Trust: the AD bit of an answer is believed (dns_result_t.secure) only
 * when the resolver is on a loopback address, or dns_trust_ad says the
 * path to it is trusted (RFC 6698 4.1, RFC 7672 2.2): a validating
 * resolver on another host could be impersonated on the way.
 *
 * Callbacks: a lookup's callback runs exactly once, on the worker's loop,
 * never from inside dns_lookup (a cached answer is delivered on the next
 * loop turn), unless the lookup is cancelled first, after which it never
 * runs. The answer passed to the callback is borrowed for the call only.
 *
 * Bounds: DNS_INFLIGHT_MAX queries sent and unanswered per resolver (more
 * lookups of a name already in flight join it; a new name past the bound
 * fails at once with DNS_ERROR "busy"); DNS_CACHE_MAX cached answers per
 * resolver (least recently used goes first). TTLs are clamped to
 * [DNS_TTL_MIN, DNS_TTL_MAX]; NXDOMAIN and NODATA are kept for at most
 * DNS_NEG_TTL_MAX; SERVFAIL, timeouts and errors are never cached.
 */
#ifndef DNS_H
#define DNS_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dnsmsg.h"

#define DNS_INFLIGHT_MAX 256
#define DNS_CACHE_MAX 4096
#define DNS_TTL_MIN 5
#define DNS_TTL_MAX 3600
#define DNS_NEG_TTL_MAX 60

typedef enum {
	DNS_OK,        /* records of the asked type (after CNAMEs) */
	DNS_NODATA,    /* the name exists, no record of that type */
	DNS_NXDOMAIN,  /* the name does not exist */
	DNS_SERVFAIL,  /* the resolver failed: with a validating resolver,
	                  a bogus signature (never "no records") */
	DNS_TIMEOUT,   /* no answer within dns_timeout (retries included) */
	DNS_ERROR,     /* malformed or truncated answer, busy, no memory */
	DNS_STATUS_COUNT
} dns_status_t;

/* Query types counted in metrics, in this order (labels). */
typedef enum {
	DNS_QT_A, DNS_QT_AAAA, DNS_QT_MX, DNS_QT_TXT, DNS_QT_TLSA,
	DNS_QT_NS, DNS_QT_OTHER, DNS_QT_COUNT
} dns_qtype_index_t;

typedef struct {
	dns_status_t status;
	/* Authenticated: the resolver set AD on a NOERROR or NXDOMAIN
	 * answer and its AD is believed (see above). */
	int secure;
	/* The parsed answer (records, owner after CNAMEs, TTL); NULL for
	 * DNS_TIMEOUT and DNS_ERROR. Borrowed for the callback only. */
	const dnsmsg_answer_t *ans;
	const char *error;  /* static text for DNS_ERROR, or NULL */
	int cached;         /* answered from the cache */
} dns_result_t;

typedef void (*dns_cb)(void *arg, const dns_result_t *r);

typedef struct dns dns_t;
typedef struct dns_lookup dns_lookup_t;

/* What a resolver is built from (global settings of the config). */
typedef struct {
	/* The resolver's address. AF_UNSPEC: the first nameserver of
	 * /etc/resolv.conf (read by dns_config_default, on main). */
	struct sockaddr_storage server;
	socklen_t server_len;
	uint64_t timeout_ms;  /* whole lookup, retries included */
	int trust_ad;         /* believe AD from a non-loopback resolver */
} dns_config_t;

/*
 * dns_new makes a resolver on loop (the worker's thread only) for cfg.
 * queries, if not NULL, is the worker's counter table
 * queries[DNS_QT_COUNT][DNS_STATUS_COUNT] (single writer: this loop), one
 * count per answer or failure delivered, cache hits excluded. Returns NULL
 * with err filled on failure.
 */
dns_t *dns_new(uv_loop_t *loop, const dns_config_t *cfg,
    _Atomic uint64_t (*queries)[DNS_STATUS_COUNT], char *err, size_t errlen);

/*
 * dns_lookup asks for (name, qtype): name is a host name in text
 * ("mx1.example.com", a final '.' allowed). cb(arg, result) runs later,
 * once. Returns a handle for dns_cancel, or NULL when the name is not a
 * valid host name (then cb never runs: check before relying on it).
 */
dns_lookup_t *dns_lookup(dns_t *d, const char *name, uint16_t qtype,
    dns_cb cb, void *arg);

/* dns_cancel: cb will not run for l. l is invalid afterwards. */
void dns_cancel(dns_lookup_t *l);

/*
 * dns_free cancels every lookup (their callbacks never run) and closes the
 * resolver's handles; memory is released from the close callbacks, so the
 * loop must run once more. NULL does nothing.
 */
void dns_free(dns_t *d);

/* dns_trusted: whether AD from this resolver is believed. */
int dns_trusted(const dns_t *d);

/* "ok", "nodata", "nxdomain", "servfail", "timeout", "error". */
const char *dns_status_name(dns_status_t st);
/* "a", "aaaa", "mx", "txt", "tlsa", "ns", "other". */
const char *dns_qtype_name(dns_qtype_index_t t);
dns_qtype_index_t dns_qtype_index(uint16_t qtype);

/*
 * dns_config_default fills cfg->server from the first "nameserver" line of
 * path (normally /etc/resolv.conf), port 53. Returns 0, or -1 when there
 * is none (the caller then uses 127.0.0.1:53, as the resolver library
 * would).
 */
int dns_config_default(const char *path, dns_config_t *cfg);

/* dns_is_loopback: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
int dns_is_loopback(const struct sockaddr *sa);

#endif
