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
 * fails, on a later loop turn, with DNS_ERROR "busy"); DNS_CACHE_MAX cached
 * answers and DNS_CACHE_BYTES_MAX octets of them per resolver (least
 * recently used goes first). The cache keeps answers compactly (the RRs
 * used, their names and data; dnscache.h), not whole dnsmsg_answer_t
 * (17 KiB each, mostly unused): a resolver's memory is at most
 * DNS_CACHE_BYTES_MAX (4 MiB) for the cached answers, plus about 100 KiB
 * of its own (two dnsmsg_answer_t of scratch, the hash tables), plus
 * under 1 KiB per query in flight and c-ares's channel. TTLs are clamped to
 * [DNS_TTL_MIN, DNS_TTL_MAX]; NXDOMAIN and NODATA are kept for
 * [DNS_TTL_MIN, DNS_NEG_TTL_MAX]; SERVFAIL, timeouts and errors are never
 * cached. A cached answer is given as it was received (its TTLs are not
 * counted down).
 *
 * Time: a lookup ends within dns_config_t.timeout_ms of its query being
 * sent: c-ares tries twice (the second try waits twice as long, its
 * back-off), with a per-try timeout of a third of it, and a deadline of
 * our own covers what c-ares could stretch (a retry over TCP after TC).
 *
 * Hosts file: A and AAAA lookups read the hosts file (/etc/hosts) first,
 * as the system resolver does ("hosts: files dns"), so that Kubernetes
 * hostAliases and a relay named "localhost" keep working now that relay
 * names no longer go through getaddrinfo. A name found there with
 * addresses of the asked family is DNS_OK with those addresses, never
 * secure (a file is not DNSSEC), never cached (the file is read again at
 * each lookup, within dnsfile.h's bounds); otherwise the query goes to
 * the resolver.
 *
 * Reload: dns_retire hands a resolver over to its lookups in flight: they
 * complete (or time out) as usual and the resolver frees itself when the
 * last one has been delivered or cancelled.
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
#define DNS_CACHE_BYTES_MAX (4 * 1024 * 1024)
#define DNS_ADDRS_MAX 16      /* addresses dns_addrs hands back */
#define DNS_PATH_MAX 256

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
	/* The resolver's address and port (dns_config_default reads the
	 * first nameserver of /etc/resolv.conf, on main). */
	struct sockaddr_storage server;
	socklen_t server_len;
	uint64_t timeout_ms;  /* whole lookup, retries included */
	int trust_ad;         /* believe AD from a non-loopback resolver */
	/* The hosts file read before A and AAAA queries; "" for none. */
	char hosts_path[DNS_PATH_MAX];
} dns_config_t;

/*
 * dns_new makes a resolver on loop (the worker's thread only) for cfg.
 * queries, if not NULL, is the worker's counter table
 * queries[DNS_QT_COUNT][DNS_STATUS_COUNT] (single writer: this loop):
 * one count per query sent, by how it ended (once however many lookups
 * joined it; a query past its deadline counts as a timeout), and one
 * error per lookup refused as "busy". Cache and hosts-file answers are
 * not counted. Returns NULL with err filled on failure.
 */
dns_t *dns_new(uv_loop_t *loop, const dns_config_t *cfg,
    _Atomic uint64_t (*queries)[DNS_STATUS_COUNT], char *err, size_t errlen);

/*
 * dns_lookup asks for (name, qtype): name is a host name in text
 * ("mx1.example.com", a final '.' allowed). cb(arg, result) runs later,
 * once. Returns a handle for dns_cancel, or NULL when the name is not a
 * valid host name, the resolver is retired, or memory ran out (then cb
 * never runs: check before relying on it). Once a handle is returned, cb
 * runs even when memory runs out later (DNS_ERROR "out of memory").
 */
dns_lookup_t *dns_lookup(dns_t *d, const char *name, uint16_t qtype,
    dns_cb cb, void *arg);

/*
 * dns_probe is dns_lookup without the cache and the hosts file: the answer
 * comes from the resolver now (it joins a query in flight, and its answer
 * is cached as any other). For the DNSSEC probe, which must see whether
 * the resolver validates now, not an hour ago.
 */
dns_lookup_t *dns_probe(dns_t *d, const char *name, uint16_t qtype,
    dns_cb cb, void *arg);

/* dns_cancel: cb will not run for l. l is invalid afterwards. NULL does
 * nothing. */
void dns_cancel(dns_lookup_t *l);

/*
 * dns_addrs looks up A and AAAA of name at once and hands cb up to
 * DNS_ADDRS_MAX addresses with port set (IPv4 first, then IPv6, each in
 * the order of the answer). status: DNS_OK when either answer has
 * addresses; otherwise the more telling failure of the two (SERVFAIL,
 * then TIMEOUT, then ERROR, then NXDOMAIN, then NODATA). secure: both
 * answers secure. expanded: the name the addresses were found at when a
 * CNAME chain led there (the A answer's, else the AAAA answer's), in text
 * without the final dot; NULL when name owns them. The addresses and
 * expanded are borrowed for the call only. name is a
 * host name, not an address literal. Returns a handle for
 * dns_addrs_cancel, or NULL when name is not a valid host name or memory
 * ran out (cb never runs).
 */
typedef struct dns_addrs dns_addrs_t;
typedef void (*dns_addrs_cb)(void *arg, dns_status_t status, int secure,
    const struct sockaddr_storage *addrs, size_t naddrs,
    const char *expanded);
dns_addrs_t *dns_addrs(dns_t *d, const char *name, uint16_t port,
    dns_addrs_cb cb, void *arg);

/* dns_addrs_cancel: cb will not run for a. NULL does nothing. */
void dns_addrs_cancel(dns_addrs_t *a);

/*
 * dns_free cancels every lookup (their callbacks never run) and closes the
 * resolver's handles; memory is released from the close callbacks, so the
 * loop must run once more. NULL does nothing.
 */
void dns_free(dns_t *d);

/*
 * dns_retire: d takes no new lookups from its owner (who forgets d); the
 * lookups in flight or waiting for delivery complete as usual (or are
 * cancelled), then d frees itself. For a reload that changes the
 * resolver: no lookup is ever dropped. NULL does nothing.
 */
void dns_retire(dns_t *d);

/* dns_config_same: a and b make the same resolver. */
int dns_config_same(const dns_config_t *a, const dns_config_t *b);

/* dns_config_trusted: whether AD from a resolver of cfg is believed
 * (loopback, or trust_ad); *why gets "loopback", "dns_trust_ad" or
 * "not-loopback". */
int dns_config_trusted(const dns_config_t *cfg, const char **why);

/* dns_trusted: whether AD from this resolver is believed. */
int dns_trusted(const dns_t *d);

/* Tests only: make d believe AD or not, whatever its address (a fake
 * server on 127.0.0.1 standing in for one on another host). */
void dns_set_trusted_for_test(dns_t *d, int trusted);

/* "ok", "nodata", "nxdomain", "servfail", "timeout", "error". */
const char *dns_status_name(dns_status_t st);
/* "a", "aaaa", "mx", "txt", "tlsa", "ns", "other". */
const char *dns_qtype_name(dns_qtype_index_t t);
dns_qtype_index_t dns_qtype_index(uint16_t qtype);

/*
 * dns_config_default fills cfg->server from the first "nameserver" line of
 * path (normally /etc/resolv.conf), port 53; IPv6 addresses with a scope
 * ("fe80::1%eth0") are skipped; bounded reading (dnsfile.h). Returns 0,
 * or -1 when there is none (the caller then uses 127.0.0.1:53, as the
 * resolver library would). Blocking file I/O: main thread only.
 */
int dns_config_default(const char *path, dns_config_t *cfg);

/* dns_is_loopback: 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
int dns_is_loopback(const struct sockaddr *sa);

#endif
