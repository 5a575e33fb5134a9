/*
 * stats: the counters. Each event loop (worker) owns one stats_t and is the
 * only writer of it; the admin endpoint reads all of them from the main
 * thread and sums. Counters are single-writer: a relaxed load and store,
 * no locked instruction on the hot path, and no torn reads.
 *
 * Every counter is incremented in one place (grep STATS_INC) and exported
 * from one table (stats_render). Label values come from fixed tables or
 * from the configuration (listener names, policy domains), so cardinality
 * stays bounded.
 */
#ifndef STATS_H
#define STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Listener and policy-domain slots ever seen by this process. Names are
 * given slots on the main thread at (re)load; a reload that would pass
 * these bounds is refused. */
#define STATS_LISTENERS_MAX 128
#define STATS_DOMAINS_MAX 4096
/* [party:NAME] names ever seen (CONFIG_MAX_PARTIES per config). */
#define STATS_PARTIES_MAX 512
/* party_result_t values; MAIL and RCPT. */
#define STATS_PARTY_RESULTS 5
#define STATS_PARTY_CMDS 2

typedef _Atomic uint64_t stats_counter_t;

#define STATS_ADD(c, n)                                                     \
	atomic_store_explicit(&(c),                                          \
	    atomic_load_explicit(&(c), memory_order_relaxed) + (uint64_t)(n), \
	    memory_order_relaxed)
#define STATS_INC(c) STATS_ADD(c, 1)
#define STATS_GET(c) atomic_load_explicit(&(c), memory_order_relaxed)

/* Why a session ended. */
typedef enum {
	CR_QUIT,              /* QUIT answered */
	CR_CLIENT_CLOSED,     /* client went away between commands */
	CR_CLIENT_CLOSED_DATA,/* client went away inside a body */
	CR_CLIENT_ERROR,      /* client I/O or TLS error */
	CR_SERVER_CLOSED,     /* server went away */
	CR_SERVER_ERROR,      /* server I/O error or protocol violation */
	CR_CONNECT_FAILED,    /* server unreachable */
	CR_TIMEOUT,           /* idle, data or command deadline */
	CR_TLS_FAILED,        /* handshake failed or timed out */
	CR_TLS_REQUIRED,      /* outbound TLS demand not met */
	CR_PROTOCOL,          /* client protocol errors, sync errors, BDAT */
	CR_LIMIT,             /* max_sessions, per address, message size */
	CR_SHUTDOWN,          /* drained at shutdown */
	CR_INTERNAL,          /* out of memory, setup failures */
	CR_COUNT
} close_reason_t;

/* STARTTLS progress, per leg that does TLS. */
typedef enum {
	TLSEV_OFFERED,   /* inbound: advertised; outbound: the server offered */
	TLSEV_ATTEMPTED, /* 220 sent (inbound) / STARTTLS sent (outbound) */
	TLSEV_SUCCEEDED,
	TLSEV_FAILED,
	TLSEV_RATE_LIMITED, /* inbound: refused by tls_rate_limit */
	TLSEV_COUNT
} tls_event_t;

typedef enum {
	TLSF_HANDSHAKE,   /* handshake error */
	TLSF_TIMEOUT,     /* handshake deadline */
	TLSF_NOT_OFFERED, /* outbound: no STARTTLS in the EHLO reply */
	TLSF_REFUSED,     /* outbound: STARTTLS answered with an error */
	TLSF_NOT_VERIFIED,/* outbound: certificate failed the demand */
	TLSF_COUNT
} tls_fail_t;

/* TLS versions and ciphers a session can have with our settings. */
#define STATS_VERSIONS 2  /* TLSv1.2, TLSv1.3 */
#define STATS_CIPHERS 10  /* index from stats_cipher_index; last: other */

/* Verification outcome (policy_verify_t order). */
#define STATS_VERIFY 5

/* The proxy's own reply codes, by index (stats_code_index). */
#define STATS_CODES 16

/* Policy outcomes (policy_outcome_t order). */
#define STATS_OUTCOMES 3

/* MTA-STS fetch results (stsfetch_result_t; mtasts.c checks the count). */
#define STATS_STS_FETCH_RESULTS 12
/* Resolver queries by type and result (dns_qtype_index_t and dns_status_t
 * order; dns.c checks they agree). */
#define STATS_DNS_TYPES 7
#define STATS_DNS_RESULTS 6

/* stats_t.dnssec: what the last DNSSEC probe found (worker 0 writes it). */
#define STATS_DNSSEC_OFF 0      /* no probe configured: gauge absent */
#define STATS_DNSSEC_PENDING 1  /* no answer yet: gauge -1 */
#define STATS_DNSSEC_OK 2       /* AD set and believed: gauge 1 */
#define STATS_DNSSEC_NONE 3     /* no believed AD: gauge 0 */
/* DANE results (oa_dane_t order), and their names. */
#define STATS_DANE 9
extern const char *const stats_dane_names[STATS_DANE];

/* stp_relay_auth_total{mechanism}: auth_mech_t, then "none". */
#define STATS_AUTH_MECHS 4
#define STATS_AUTH_NONE 3
#define STATS_AUTH_OK 0
#define STATS_AUTH_FAILED 1
/* TLS-RPT policy types and results (tlsrpt_policy_t, tlsrpt_result_t;
 * outbound_auth.c checks the counts). */
#define STATS_TLSRPT_POLICIES 3
#define STATS_TLSRPT_RESULTS 12

/* Handshake duration histogram upper bounds, seconds; then +Inf. */
#define STATS_HS_BUCKETS 12

typedef struct {
	stats_counter_t started;
	stats_counter_t ended[CR_COUNT];
	stats_counter_t messages;
	stats_counter_t bytes_c2s;   /* client leg in -> server leg */
	stats_counter_t bytes_s2c;
	stats_counter_t connect_failed;
	stats_counter_t server_connects; /* server-leg connections dialled */
	stats_counter_t tls[TLSEV_COUNT];
	stats_counter_t tls_fail[TLSF_COUNT];
	stats_counter_t tls_sessions[STATS_VERSIONS][STATS_CIPHERS];
	stats_counter_t verify[STATS_VERIFY]; /* outbound: the server's
	                                        certificate; inbound: the
	                                        client's (policy_verify_t) */
	stats_counter_t tls_resumed;      /* handshakes that resumed */
	stats_counter_t received_headers; /* trace lines written */
	stats_counter_t replies[STATS_CODES];
	stats_counter_t hs_bucket[STATS_HS_BUCKETS + 1];
	stats_counter_t hs_sum_us;
} stats_listener_t;

typedef struct {
	stats_listener_t l[STATS_LISTENERS_MAX];
	stats_counter_t policy[STATS_DOMAINS_MAX][STATS_OUTCOMES];
	stats_counter_t heartbeat_ms; /* loop time of the last turn tick */
	stats_counter_t sts_fetches[STATS_STS_FETCH_RESULTS]; /* MTA-STS
	                                 policy fetches by result (mtasts.c) */
	/* Queries the worker's resolver sent, by result (cache and hosts
	 * file answers excluded; dns.h). */
	stats_counter_t dns_queries[STATS_DNS_TYPES][STATS_DNS_RESULTS];
	stats_counter_t dnssec;       /* STATS_DNSSEC_*; worker 0 only */
	/* Authenticated delivery (outbound_auth.c). */
	stats_counter_t dane[STATS_DANE];            /* oa_dane_t order */
	stats_counter_t sts_decisions[3][STATS_OUTCOMES]; /* sts_mode_t,
	                                                 policy_outcome_t */
	stats_counter_t sni_learned;
	/* [party:NAME] decisions: party slot, MAIL/RCPT, party_result_t. */
	stats_counter_t party[STATS_PARTIES_MAX][STATS_PARTY_CMDS]
	    [STATS_PARTY_RESULTS];
	/* Smarthost authentication (outbound.c): by auth_mech_t, then
	 * STATS_AUTH_NONE for no common mechanism; ok or failed. */
	stats_counter_t relay_auth[STATS_AUTH_MECHS][2];
	/* TLS-RPT (outbound_auth.c): one result per upstream session and
	 * policy domain, whether or not a collector is configured. */
	stats_counter_t tlsrpt_results[STATS_TLSRPT_POLICIES]
	                              [STATS_TLSRPT_RESULTS];
	stats_counter_t tlsrpt_sent;    /* datagrams the collector took */
	stats_counter_t tlsrpt_dropped; /* collector absent, full, or the
	                                   result too large */
} stats_t;

/* Slot names, owned by the main thread (append-only). */
typedef struct {
	char *listener[STATS_LISTENERS_MAX]; /* "inbound", "outbound:x" */
	int listener_dir[STATS_LISTENERS_MAX]; /* direction_t */
	int nlisteners;
	char *domain[STATS_DOMAINS_MAX];
	int ndomains;
	char *party[STATS_PARTIES_MAX];
	int nparties;
} stats_names_t;

/*
 * stats_slot returns the slot of name in names, adding it if new; -1 when
 * the table is full or memory ran out. Main thread only.
 */
int stats_listener_slot(stats_names_t *names, const char *name, int dir);
int stats_domain_slot(stats_names_t *names, const char *domain);
int stats_party_slot(stats_names_t *names, const char *party);
void stats_names_cleanup(stats_names_t *names);

/* Label tables. */
int stats_cipher_index(const char *cipher);  /* STATS_CIPHERS - 1: other */
int stats_version_index(const char *version); /* -1: not counted */
int stats_code_index(int code);              /* STATS_CODES - 1: other */
void stats_hs_observe(stats_listener_t *l, uint64_t usec);

/*
 * A growable text buffer for rendering (bounded by STATS_RENDER_MAX).
 */
#define STATS_RENDER_MAX (8 * 1024 * 1024)
typedef struct {
	char *p;
	size_t len, cap;
	int failed;
} stats_buf_t;

void stats_buf_printf(stats_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Extra gauges the renderer cannot know: certificate expiry, readiness. */
typedef struct {
	const char *listener;
	const char *subject;      /* certificate subject CN or file name */
	int index;                /* position among the listener's pairs */
	int64_t not_after;        /* Unix time */
	int has_ocsp;             /* an OCSP response is configured */
	int64_t ocsp_next_update; /* its nextUpdate, Unix time */
} stats_cert_t;

/*
 * stats_render writes the Prometheus text exposition of the sum of
 * workers[0..n) under names, plus the given gauges, to b.
 */
void stats_render(stats_buf_t *b, stats_t *const *workers, int n,
    const stats_names_t *names, const stats_cert_t *certs, int ncerts,
    uint64_t reloads_ok, uint64_t reloads_failed, int ready);

/*
 * stats_render_sts writes the MTA-STS figures: fetches by result summed
 * over workers[0..n), and the policies in the cache (a gauge).
 */
void stats_render_sts(stats_buf_t *b, stats_t *const *workers, int n,
    uint64_t cache_entries);

#endif
