/*
 * proxy: the state one worker (an event loop on its own thread) owns, and
 * the little that all workers share. main owns both; nothing is global.
 *
 * Sharing rules: a worker's loop, listeners, sessions and stats are
 * touched only by its thread (stats are read by main with relaxed loads).
 * main talks to a worker through the mailbox (next, cmd) and wakes it with
 * uv_async_send. The shared_t counters are atomics; the per-address table
 * is behind a mutex, taken once per accepted connection, never per byte;
 * so is the handshake-rate table, once per EHLO or handshake.
 */
#ifndef PROXY_H
#define PROXY_H

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>
#include <openssl/ssl.h>

#include "config.h"
#include "conn.h"
#include "dns.h"
#include "ipcount.h"
#include "loop.h"
#include "runtime.h"
#include "stats.h"
#include "stscache.h"
#include "tlsrate.h"

typedef struct proxy proxy_t;
struct session;
struct mtasts;
struct dns;
struct oa_sni_map;

typedef struct {
	atomic_uint nsessions;         /* sessions alive in all workers */
	uv_mutex_t iplock;             /* guards ipcount */
	ipcount_t ipcount;             /* sessions per client address */
	uv_mutex_t tlslock;            /* guards tlsrate */
	tlsrate_t tlsrate;             /* TLS handshakes per client address,
	                                  taken once per handshake */
	loop_t loops;                  /* local ends of the proxy's own server
	                                  legs (its own lock) */
	char hostname[256];            /* for the proxy's own EHLO */
	stscache_t *stscache;          /* MTA-STS policies (its own lock);
	                                  owned by main */
} shared_t;

/*
 * One listening socket of a worker. Out of descriptors it closes the socket
 * and reopens it from the retry timer. Freed once both handles closed.
 */
typedef struct {
	uv_tcp_t tcp;
	uv_timer_t retry;              /* reopens after EMFILE/ENFILE */
	proxy_t *px;                   /* borrowed */
	int idx;                       /* listener index in px->rt->cfg */
	config_addr_t addr;            /* what it listens on (host unset) */
	int open;                      /* tcp is listening (not closing) */
	int handles;                   /* uv handles not yet closed */
	int closing;                   /* listener_close called */
	int seen;                      /* kept by the current reconcile */
} listener_t;

/* Mailbox commands from main (bits of proxy_t.cmd). */
#define PROXY_CMD_DRAIN 0x1   /* stop accepting; sessions go on */
#define PROXY_CMD_EXPIRE 0x2  /* grace over: 421 at the next boundary */
#define PROXY_CMD_STOP 0x4    /* close everything and end the loop */

struct proxy {
	int id;
	shared_t *sh;                  /* borrowed from main */
	uv_loop_t loop;
	uv_thread_t thread;
	int started;                   /* thread running (main's view) */
	uv_async_t wake;
	uv_timer_t tick;               /* heartbeat for /healthz */

	_Atomic(runtime_t *) next;     /* a new runtime from main (one ref) */
	atomic_int cmd;                /* PROXY_CMD_* */
	atomic_uint nsessions;         /* sessions of this worker */
	atomic_int listen_failed;      /* a listener could not be opened */

	runtime_t *rt;                 /* current; worker thread only */
	listener_t *listeners[CONFIG_MAX_LISTENERS];
	int nlisteners;
	struct session *sessions;      /* all live sessions, for shutdown */
	int draining;
	int expired;
	uint64_t next_sid;
	stats_t *stats;                /* owned; read by main */
	struct mtasts *mtasts;         /* MTA-STS lookups (mtasts.c); owned,
	                                  worker thread only; NULL without a
	                                  resolver */

	/*
	 * The worker's resolver, built on its thread from rt->dns (NULL
	 * when it could not be built: logged as dns_failed). Use it from
	 * this thread only. A reload that changes rt->dns puts a new one
	 * here; lookups in flight on the old one complete there (dns_retire).
	 * At PROXY_CMD_STOP it is freed after session_shutdown_all, so a
	 * session must cancel its lookups when it closes.
	 */
	dns_t *dns;
	uv_timer_t probe_timer;        /* DNSSEC probe period (worker 0) */
	dns_lookup_t *probe;           /* the probe in flight, or NULL */
	struct outbound_rpt *rpt_late; /* TLS-RPT results of closed
	                                  sessions waiting for a TLSRPT
	                                  record (outbound_rpt.c) */
	unsigned nrpt_late;            /* on that list; bounded there */

	struct oa_sni_map *sni;        /* destination -> MX name for SNI
	                                  (outbound_auth.c); lazily made */
	struct tlscache *tlscache;     /* client TLS sessions for resumption
	                                  (tlscache.c); lazily made */
	conn_pool_t pool;              /* spare read/output buffers (conn) */
	uint8_t *scratch;              /* CONN_SCRATCH_SIZE, page-aligned:
	                                  ciphertext reads (conn). The
	                                  kernel's copy into it costs about
	                                  half as much per byte as into a
	                                  buffer 4008 octets into a page
	                                  (tests/bench/readsize.c) */
};

#endif
