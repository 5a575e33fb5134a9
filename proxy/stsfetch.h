/*
 * stsfetch: one fetch of an MTA-STS policy (RFC 8461 3.3), on a libuv
 * loop: https://mta-sts.DOMAIN/.well-known/mta-sts.txt from one given
 * address, through the proxy's own conn (TLS client role) and the pure
 * HTTP and policy parsers.
 *
 * What is accepted: a chain that verifies against the fetch context's
 * anchors (tls_https_ctx_new) and names mta-sts.DOMAIN (SNI sent, name
 * checked during the handshake and again after it); status 200 (a 3xx is
 * never followed, RFC 8461 3.3); media type text/plain, parameters
 * ignored; a body framed by Content-Length, chunked, or the server's
 * close (then only with a TLS close_notify: a cut connection is not an
 * end); at most STS_BODY_MAX octets, more is an error; everything within
 * the timeout, connect and a slow drip included. No HTTP caching, no
 * redirect, no retry: one request, Connection: close.
 *
 * Callbacks: cb runs once, on the loop, never from inside stsfetch_start,
 * unless stsfetch_cancel comes first, after which it never runs. The
 * fetch's memory goes after its handles closed (the loop must run on).
 */
#ifndef STSFETCH_H
#define STSFETCH_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "sts.h"

/* Outcomes, in this order (metric labels: stsfetch_result_name). */
typedef enum {
	STSFETCH_OK,             /* a valid policy */
	STSFETCH_DNS,            /* no address for mta-sts.DOMAIN (the
	                            caller's lookups; never set here) */
	STSFETCH_CONNECT,        /* TCP connect failed */
	STSFETCH_TLS,            /* handshake or TLS error */
	STSFETCH_CERT,           /* chain not trusted, expired, or not for
	                            mta-sts.DOMAIN */
	STSFETCH_HTTP_STATUS,    /* a status other than 200 (3xx included) */
	STSFETCH_CONTENT_TYPE,   /* not text/plain */
	STSFETCH_TOO_BIG,        /* body over STS_BODY_MAX */
	STSFETCH_MALFORMED,      /* HTTP that does not parse, a truncated
	                            body, a close before the response */
	STSFETCH_TIMEOUT,        /* the whole fetch took too long */
	STSFETCH_POLICY_INVALID, /* the body is no valid policy (3.2) */
	STSFETCH_INTERNAL,       /* out of memory, socket setup */
	STSFETCH_RESULT_COUNT
} stsfetch_result_t;

/* "ok", "dns", "connect", ... */
const char *stsfetch_result_name(stsfetch_result_t r);

/* What the callback gets; everything borrowed for the call only. */
typedef struct {
	stsfetch_result_t result;
	const char *detail;          /* why, for the log; "" on success */
	const sts_policy_t *policy;  /* STSFETCH_OK only, else NULL */
	uint64_t ms;                 /* from start to result */
	int http_code;               /* the final status, 0 if none came */
} stsfetch_done_t;

typedef void stsfetch_cb(void *arg, const stsfetch_done_t *done);

/* Where and how to fetch; all borrowed for the stsfetch_start call. */
typedef struct {
	uv_loop_t *loop;
	SSL_CTX *ctx;            /* tls_https_ctx_new; a reference is kept */
	uint8_t *scratch;        /* the loop's CONN_SCRATCH_SIZE buffer */
	conn_pool_t *pool;       /* the loop's spare buffers */
	uint64_t timeout_ms;     /* the whole fetch */
	uint32_t mark;           /* SO_MARK of the socket; 0: none */
} stsfetch_env_t;

typedef struct stsfetch stsfetch_t;

/*
 * stsfetch_start fetches the policy of domain (a host name, no trailing
 * dot) from addr (IPv4 or IPv6, port set by the caller, normally 443).
 * Returns the fetch, or NULL (cb will not run) when domain does not make a
 * valid mta-sts.DOMAIN name or memory ran out.
 */
stsfetch_t *stsfetch_start(const stsfetch_env_t *env, const char *domain,
    const struct sockaddr *addr, stsfetch_cb *cb, void *arg);

/* stsfetch_cancel: cb will not run; f is invalid afterwards. Only before
 * cb ran. */
void stsfetch_cancel(stsfetch_t *f);

#endif
