/*
 * mtasts: a worker's MTA-STS policy lookups (RFC 8461 3, 5.1), what the
 * RCPT path asks: "which policy applies to DOMAIN?". One mtasts_t per
 * worker, on the worker's loop, over the worker's resolver (dns.h), the
 * process-wide cache (stscache.h) and the fetcher (stsfetch.h).
 *
 * One lookup:
 *   1. TXT _mta-sts.DOMAIN (AD not needed), read by sts_txt_parse.
 *   2. No valid record (none, several, invalid, NXDOMAIN, NODATA): the
 *      cached policy if one has not expired, else no policy. RFC 8461 5.1
 *      and 10.2: a cached, unexpired policy stays in force when the record
 *      goes away; a domain withdraws with mode none. A DNS failure
 *      (SERVFAIL, timeout) is answered the same way, marked temporary.
 *   3. Record id == cached id and the policy has not expired: the cache.
 *   4. Otherwise, unless (domain, id) failed less than STSCACHE_NEG_SECS
 *      ago: A and AAAA of mta-sts.DOMAIN, then a fetch (IPv4 addresses
 *      first, the next address only after a failed connect, all within
 *      one mta_sts_fetch_timeout). A new policy is stored and answered; a
 *      failed fetch leaves a negative marker and answers the cached
 *      policy (any id) if one has not expired, else no policy.
 *   Refresh ahead: when a cached policy answered at step 3 has less than
 *   a quarter of its max_age left (plus a random part of up to a sixteenth,
 *   so workers and replicas spread out), a fetch starts in the background;
 *   the lookup is answered from the cache at once.
 *
 * Per worker at most one lookup per domain runs at a time: others wait on
 * it (or, while it refreshes in the background, are answered from the
 * cache). At most MTASTS_FLIGHTS_MAX domains are looked up at once; a new
 * domain past that is answered from the cache or with no policy.
 *
 * Callbacks: cb runs once, on the loop, never from inside mtasts_get,
 * unless mtasts_cancel comes first (then never). The result and the
 * policy it points to are borrowed for the call only.
 *
 * Logs: mta_sts_fetch (domain, id, result, ms, detail) once per fetch,
 * mta_sts_policy (domain, mode, id, max_age) when a new policy is stored.
 * Counts each fetch's result in the worker's stats (sts_fetches).
 */
#ifndef MTASTS_H
#define MTASTS_H

#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "dns.h"
#include "runtime.h"
#include "stats.h"
#include "stscache.h"
#include "stsfetch.h"
#include "sts.h"

/* Domains looked up at once per worker (a worker's resolver takes
 * DNS_INFLIGHT_MAX queries). */
#define MTASTS_FLIGHTS_MAX 128
/* Addresses of mta-sts.DOMAIN tried, one after another on connect
 * failures. */
#define MTASTS_ADDRS_MAX 4

typedef enum {
	MTASTS_SRC_NONE,   /* no policy */
	MTASTS_SRC_CACHE,  /* the cached policy */
	MTASTS_SRC_FETCH   /* fetched for this lookup */
} mtasts_source_t;

typedef struct {
	int have_policy;               /* a policy applies (mode none too) */
	sts_mode_t mode;               /* when have_policy */
	const char *id;                /* its TXT id; "" without */
	uint32_t max_age;
	/* The policy, for sts_policy_match_host and sts_cert_matches;
	 * borrowed for the call; NULL when !have_policy. */
	const sts_policy_t *policy;
	mtasts_source_t source;
	int fetched;                   /* a fetch was made for this answer */
	stsfetch_result_t fetch_result;/* its result, when fetched */
	/* No policy because DNS failed (TXT SERVFAIL or timeout) and none
	 * is cached: the caller may defer rather than send in the clear. */
	int temporary;
	const char *why;               /* static text for the log */
} mtasts_result_t;

typedef void mtasts_cb(void *arg, const mtasts_result_t *r);

struct proxy;

/* What a worker's mtasts_t is built on; borrowed for its lifetime. */
typedef struct {
	uv_loop_t *loop;
	/* Where the worker's current resolver is (&px->dns): read at each
	 * lookup, since a reload may replace it; NULL there fails the
	 * lookup as a DNS failure. */
	dns_t *const *dns;
	stscache_t *cache;
	uint8_t *scratch;              /* the loop's CONN_SCRATCH_SIZE buffer */
	conn_pool_t *pool;
	stats_counter_t *fetches;      /* [STSFETCH_RESULT_COUNT] or NULL */
	uint16_t https_port;           /* 0: 443 (tests use another) */
} mtasts_env_t;

typedef struct mtasts mtasts_t;
typedef struct mtasts_req mtasts_req_t;

/* mtasts_new makes a worker's state (on its thread). Returns NULL without
 * memory. */
mtasts_t *mtasts_new(const mtasts_env_t *env);

/*
 * mtasts_free cancels every lookup and fetch (no callback runs) and
 * closes the handles; the memory goes from the close callbacks, so the
 * loop must run on. Not from inside an mtasts callback. NULL does nothing.
 */
void mtasts_free(mtasts_t *m);

/*
 * mtasts_lookup asks for the policy of domain (a host name, any case, no
 * trailing dot). rt gives the fetch context (rt->sts_ctx) and
 * mta_sts_fetch_timeout; a fetch keeps what it needs, rt may go after the
 * call. mark is the SO_MARK for the fetch's socket (the listener's). Returns
 * a handle for mtasts_cancel, or NULL (cb will not run) when domain is not
 * a host name, rt has no fetch context, or memory ran out.
 */
mtasts_req_t *mtasts_lookup(mtasts_t *m, const runtime_t *rt,
    const char *domain, uint32_t mark, mtasts_cb *cb, void *arg);

/*
 * mtasts_get is mtasts_lookup on the worker px (px->mtasts, px->rt), for
 * the RCPT path. NULL as above, and when the worker has no mtasts_t.
 */
mtasts_req_t *mtasts_get(struct proxy *px, const char *domain, uint32_t mark,
    mtasts_cb *cb, void *arg);

/* mtasts_cancel: cb will not run; r is invalid afterwards. */
void mtasts_cancel(mtasts_req_t *r);

#endif
