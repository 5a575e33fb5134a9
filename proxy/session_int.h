/*
 * session_int.h: the session engine's insides, shared by session.c (the
 * relay engine: pending-reply FIFO, framing, pump, timers, teardown) and the
 * two directions, inbound.c and outbound.c, which decide what commands and
 * replies mean. Not for other modules.
 */
#ifndef SESSION_INT_H
#define SESSION_INT_H

#include <stdint.h>

#include "ipcount.h"
#include "policy.h"
#include "proxy.h"
#include "smtp.h"
#include "dane.h"
#include "sts.h"
#include "tlsrpt.h"

/* Commands awaiting replies before the client is paused (RFC 2920 sets no
 * bound; a window of this size keeps pipelining fast and memory fixed). */
#define SESSION_PIPELINE_MAX 64
/* Bytes of an over-long command line skipped before giving up. */
#define SESSION_SKIP_MAX (1024 * 1024)
/* How long a closing session waits for its last replies to drain. */
#define SESSION_LINGER_MS 5000
/* EHLO/HELO argument kept for the outbound upgrade: a domain (RFC 1035:
 * 255) or an address literal; longer ones are refused with 501. */
#define SESSION_HELO_MAX 512
/* SESSION_ADDRS_MAX: addresses of a server's name tried in turn (Postfix's
 * smtp_mx_address_limit is 5 for all of a domain's MX hosts). */
#define SESSION_ADDRS_MAX 4

typedef enum {
	SS_PROXY_HDR,     /* inbound: waiting for a load balancer's PROXY header */
	SS_TLS_ACCEPT,    /* inbound implicit TLS: client handshake first */
	SS_CONNECT,       /* server leg connection under way */
	SS_GREETING,      /* waiting for the server's banner */
	SS_COMMAND,       /* commands and replies relayed, paired in order */
	SS_DATA_WAIT,     /* DATA sent, its reply pending: client must wait */
	SS_BODY,          /* message body from client to server */
	SS_AUTH_WAIT,     /* AUTH or a SASL response sent, its reply pending:
	                     the client's next lines wait unread */
	SS_AUTH,          /* 334 relayed: the next line is a SASL response */
	SS_STARTTLS,      /* inbound: STARTTLS taken, earlier replies pending */
	SS_TLS_HANDSHAKE, /* a leg's handshake under way */
	SS_UPGRADE,       /* the proxy's own exchange with the server: outbound
	                     EHLO/STARTTLS/EHLO, inbound XCLIENT */
	SS_POLICY_WAIT,   /* outbound: a RCPT waits for its policy lookups
	                     (DNS, MTA-STS); nothing after it is read, earlier
	                     replies still flow; ends in the RCPT's forward or
	                     refusal, or at policy_lookup_timeout */
	SS_CLOSING
} session_state_t;

typedef enum {
	PEND_RELAY,       /* relay the server's reply */
	PEND_GREETING,    /* the banner */
	PEND_EHLO,        /* gather, rewrite, relay */
	PEND_HELO,        /* outbound: gather an EHLO reply, relay one 250 line */
	PEND_DATA,        /* 354 opens the body */
	PEND_EOD,         /* reply to end-of-data */
	PEND_AUTH,        /* reply to AUTH or a SASL response: 334 asks for
	                     another response */
	PEND_QUIT,        /* relay, then close */
	PEND_SWALLOW,     /* reply to the proxy's own command: not relayed */
	PEND_INTERNAL,    /* reply to the proxy's own command, handed to the
	                     direction (outbound upgrade steps) */
	PEND_LOCAL,       /* the proxy's own reply, in turn */
	PEND_LOCAL_CLOSE, /* the proxy's own reply, then close */
	PEND_STARTTLS     /* inbound: answer 220 and start the handshake */
} pend_kind_t;

typedef struct {
	pend_kind_t kind;
	int step;          /* PEND_INTERNAL: the direction's step */
	const char *reply; /* static text for PEND_LOCAL* */
} pend_t;

typedef struct session_dir session_dir_t;

typedef struct session {
	proxy_t *px;                 /* borrowed: the worker */
	const session_dir_t *dir;    /* what commands and replies mean: the
	                                listener's direction */
	runtime_t *rt;               /* one reference: the config it runs on */
	const config_listener_t *lc; /* borrowed from rt */
	SSL_CTX *tls_ctx;            /* borrowed from rt: the listener's */
	stats_listener_t *st;        /* borrowed: this listener's counters */
	struct session *next, *prev; /* px->sessions */
	char id[24];
	session_state_t state;

	conn_t *client;              /* owned; freed after both legs closed */
	conn_t *server;              /* owned; replaced on outbound retry and
	                                at the inbound STARTTLS switch */
	conn_t *retired;             /* a replaced server leg, closing */
	uv_timer_t timer;
	int timer_closing;           /* uv_close called on timer */
	int handles;                 /* open handles; memory goes at 0 */

	pend_t pend[SESSION_PIPELINE_MAX];
	unsigned phead, pcount;

	uint8_t *ehlo;               /* a multi-line or EHLO reply being
	                                gathered, canonical lines, bounded by
	                                SMTP_EHLO_REPLY_MAX; owned, NULL idle */
	size_t ehlo_len;
	int last_code;               /* last reply code sent to the client */
	int reply_code;              /* code of the server reply in progress,
	                                0 between replies */
	size_t srv_skipping;         /* bytes of an over-long reply line
	                                skipped, 0 if not */

	smtp_body_t body;
	size_t skipping;             /* over-long line bytes skipped, 0 if not */
	unsigned errors;
	unsigned messages;
	int tls;                     /* the TLS leg is established */
	int need_helo;               /* after STARTTLS, until EHLO/HELO */
	int hold_client;             /* a new server leg is being set up for
	                                a client that may already talk (its
	                                EHLO after STARTTLS): its input waits,
	                                neither read nor taken as early talk */
	int quit;                    /* QUIT forwarded: read no more commands */
	int client_eof;              /* client closed; finish pending replies */
	int shutdown;                /* 421 4.3.2 at the next boundary */
	uint64_t hs_start_ms;        /* handshake started, for the histogram */
	int body_over;               /* body passed max_message_size */
	uint64_t data_deadline_ms;   /* end of the current body's time */
	uint64_t wait_deadline_ms;   /* end of SS_POLICY_WAIT */
	void *dirstate;              /* the direction's own (outbound: its
	                                lookups); released by dir->release */
	ipcount_key_t ipkey;         /* client address for max_sessions_per_ip */
	int ip_counted;
	struct sockaddr_storage client_addr; /* the real client (PROXY header) */
	struct sockaddr_storage client_local; /* the address it connected to */
	struct sockaddr_storage loop_local; /* server leg's local end, and */
	struct sockaddr_storage loop_remote; /* its remote end: in
	                                       px->sh->loops while loop_noted */
	int loop_noted;

	struct sockaddr_storage *alt;  /* the server name's further addresses,
	                                  tried in turn when a connect fails
	                                  (session_connect_addrs); owned */
	unsigned nalt;
	uint32_t alt_mark;

	/* outbound */
	struct sockaddr_storage dest;  /* upstream address */
	char dest_str[64];
	const char *dest_name;       /* name for SNI and verification, or NULL */
	char helo_line[SESSION_HELO_MAX]; /* the client's EHLO/HELO argument */
	size_t helo_len;
	int helo_is_ehlo;
	int retried;                 /* the plaintext retry was used */
	int verified;                /* chain trusted */
	int dane_tls;                /* relay_dane: secure TLSA, so TLS is a
	                                must */
	int dane_ok;                 /* relay_dane: the chain matched */
	int name_ok;                 /* dest_name matched the certificate */
	const char *tls_fail;        /* why the upstream is not TLS, or NULL */
	/* The proxy's own AUTH toward the relay (auth_file). */
	int relay_authed;            /* the relay said 235 */
	int client_tls;              /* listen_tls: the device's leg is TLS
	                                (s->tls is the relay leg's) */
	int auth_mech;               /* auth_mech_t in use + 1; 0 none */
	int auth_step;               /* the exchange's step (relayauth_line) */
	uint8_t *auth_ehlo;          /* the relay's EHLO reply inside TLS,
	                                kept for the legacy server until AUTH
	                                succeeds; owned, NULL otherwise */
	size_t auth_ehlo_len;
	/* TLS session reuse toward the relay (tlscache.c): where a new
	 * session for this leg goes; borrowed by the leg's SSL. */
	struct tlscache_slot *cache_slot;
	int requiretls_offered;      /* REQUIRETLS given to the legacy server
	                                in the last EHLO reply (RFC 8689) */
	int tx_requiretls;           /* the current MAIL has REQUIRETLS: every
	                                RCPT needs an authenticated upstream */
	int tx_refused;              /* the current MAIL was refused here: its
	                                RCPT and DATA never go upstream */

	uint64_t start_ms;
	uint64_t active_ms;          /* last progress, for the timer */
	uint64_t timeout_ms;         /* of the current state */
	char peer[64];
	char reason[160];            /* why the session closed, for the log */
} session_t;

/* The closing log line's fields both directions share. */
typedef struct session_logf {
	char dur[24], msgs[16], bytes_in[24], bytes_out[24];
	const char *tls;     /* "TLSv1.3" or "none" */
	const char *cipher;  /* or "-" */
	const char *sni;     /* or "-" */
} session_logf_t;

/*
 * A direction: the hooks the engine calls where what happens depends on
 * which way the mail goes (inbound.c, outbound.c). The engine knows no
 * direction; it only calls these.
 */
struct session_dir {
	/* The session was admitted: open the first leg. */
	void (*start)(session_t *s);
	/* A PROXY header from a balancer is waiting in the client leg. */
	void (*proxy_header)(session_t *s);
	/* A client command the engine parsed and allowed. */
	void (*command)(session_t *s, const smtp_cmd_info_t *ci,
	    const uint8_t *text);
	/* The server leg connected; returns 1 if the direction took the
	 * banner itself, 0 to have the engine relay it. */
	int (*server_connected)(session_t *s);
	/* The server's banner was relayed. */
	void (*greeting_done)(session_t *s);
	/* A complete reply to a PEND_INTERNAL step; s->ehlo holds it. */
	void (*internal_reply)(session_t *s, int step, int code);
	/* 354 opened a body: the direction may write its own first octets
	 * to the server (they count toward max_message_size: it adds them
	 * to s->body.octets). */
	void (*body_start)(session_t *s);
	/* The STARTTLS switch reached the head of the FIFO. */
	void (*starttls_go)(session_t *s);
	void (*client_tls_done)(session_t *s);
	void (*server_tls_done)(session_t *s);
	/* The server leg failed in its TLS handshake; returns 1 if the
	 * direction handled it (a retry or its own failure reply). */
	int (*server_failed)(session_t *s);
	/* SMTP_EHLO_* flags for the EHLO reply relayed to the client. */
	unsigned (*ehlo_flags)(session_t *s);
	/* Whether the client leg is TLS from its first byte (no plaintext
	 * reply can reach it before the handshake). */
	int (*implicit_tls)(const session_t *s);
	/* The closing log line. */
	void (*log_close)(const session_t *s, const session_logf_t *f);
	/* SS_POLICY_WAIT reached its deadline. */
	void (*wait_timeout)(session_t *s);
	/* The session closes: cancel what runs for it (lookups) and free
	 * s->dirstate; no callback may reach s afterwards. Idempotent. */
	void (*release)(session_t *s);
	/* Whether the server's 4xx/5xx answers count toward max_errors
	 * (Postfix's hard error limit) or only the proxy's own refusals of
	 * malformed or unknown commands. */
	int count_server_errors;
	/* Whether the server legs' local ends are recorded, so that a
	 * connection from one of them is known as a loop (session_loop.c). */
	int loop_guard;
};

/* Outbound (outbound.c, outbound_auth.c). */
typedef enum {
	OA_DANE_MATCH, OA_DANE_NOMATCH, OA_DANE_UNUSABLE, OA_DANE_NO_TLS,
	OA_DANE_BOGUS, OA_DANE_TIMEOUT, OA_DANE_ERROR, OA_DANE_NOT_MX,
	OA_DANE_NONE, OA_DANE_COUNT
} oa_dane_t;

policy_verify_t outbound_verify(const session_t *s);
int outbound_matches(void *arg, const char *name);
/*
 * outbound_auth_rcpt decides a RCPT by the recipient domain's policies:
 * returns 0 when the caller forwards it now, 1 when it took it (answered,
 * or parked in SS_POLICY_WAIT until its lookups end).
 */
int outbound_auth_rcpt(session_t *s, const smtp_cmd_info_t *ci,
    const uint8_t *text);
void outbound_auth_timeout(session_t *s);
void outbound_auth_release(session_t *s);
/* Relay mode: 1 when the connection waits for lookups (the relay's name,
 * relay_dane's TLSA), 0 to connect now to the configured address. */
int outbound_auth_relay_start(session_t *s);
/* After the relay's handshake: NULL, or the 421 of a DANE mismatch. */
const char *outbound_auth_relay_check(session_t *s);
/* Transparent mode: SNI from the MX name learned for the destination. */
void outbound_auth_sni(session_t *s);
void outbound_sni_learn(proxy_t *px, const struct sockaddr *dest,
    const char *name);
const char *outbound_sni_find(proxy_t *px, const struct sockaddr *dest);

/*
 * TLS-RPT results of a session (outbound_rpt.c; see there for what counts
 * as one). outbound_rpt_begin opens the entry of a policy domain in *rp
 * (made on first use; owned by the caller's state) and starts its TLSRPT
 * record lookup when a collector is configured; NULL when the domain has
 * an entry already, there is no room, or no memory. The entry is borrowed
 * until outbound_rpt_finish. outbound_rpt_set fills it once (later calls
 * do nothing); _tlsa and _sts add the policy strings (recs and p are
 * copied). outbound_rpt_finish counts and sends every filled entry, and
 * sets *rp to NULL; entries whose record lookup is in flight are sent when
 * it ends (the rest is freed now, those then). NULL entries are
 * ignored.
 */
typedef struct outbound_rpt outbound_rpt_t;
typedef struct outbound_rpt_res outbound_rpt_res_t;
outbound_rpt_res_t *outbound_rpt_begin(session_t *s, outbound_rpt_t **rp,
    const char *domain);
void outbound_rpt_set(outbound_rpt_res_t *e, tlsrpt_policy_t type,
    tlsrpt_result_t result, const char *mx, const char *info);
void outbound_rpt_tlsa(outbound_rpt_res_t *e, const dane_tlsa_t *recs,
    size_t n);
void outbound_rpt_sts(outbound_rpt_res_t *e, const sts_policy_t *p);
void outbound_rpt_finish(session_t *s, outbound_rpt_t **rp);

extern const session_dir_t inbound_dir;
extern const session_dir_t outbound_dir;

/* Engine (session.c). */
void session_enter(session_t *s, session_state_t st);
void session_pend_push(session_t *s, pend_kind_t kind, int step,
    const char *reply);
void session_pend_run(session_t *s);
/* session_kick runs the pump after an event that is not a leg's (a DNS
 * answer, a policy decision). */
void session_kick(session_t *s);
void session_reply(session_t *s, const char *text);
/* session_local queues the proxy's own reply to a command; session_error
 * one to a malformed or refused command, which always counts toward
 * max_errors. */
void session_local(session_t *s, const char *reply);
void session_error(session_t *s, const char *reply);
/*
 * session_forward sends the canonical form of a parsed client command
 * (smtp_cmd_canon) to the server and queues its reply as kind.
 */
void session_forward(session_t *s, const smtp_cmd_info_t *ci,
    const uint8_t *text, pend_kind_t kind);
void session_ehlo_relay(session_t *s, unsigned flags);
/* session_helo_relay relays the gathered EHLO reply as one 250 line, to a
 * client that said HELO. */
void session_helo_relay(session_t *s);
/* session_ehlo_reset drops a gathered EHLO reply and its buffer. */
void session_ehlo_reset(session_t *s);
void session_close(session_t *s, close_reason_t cr, const char *detail,
    int graceful);
/* session_tls_done counts an established TLS leg (version, cipher, time). */
void session_tls_done(session_t *s, const SSL *ssl);
void session_tls_failed(session_t *s, tls_fail_t why);
/*
 * session_client_starttls answers a client's STARTTLS with 220 and starts
 * the client leg's handshake (server role) with ctx; what the client sent
 * after STARTTLS is discarded, never read as TLS (logged).
 */
void session_client_starttls(session_t *s, SSL_CTX *ctx);
void session_connect_server(session_t *s, const struct sockaddr *addr,
    uint32_t mark);
/*
 * session_connect_addrs: session_connect_server to the first of the n
 * addresses of one name (at most SESSION_ADDRS_MAX are used), copied to
 * s->dest. A connection to it that is refused, unreachable or not up
 * within connect_timeout is given up for the next one, each with its own
 * connect_timeout; only the last one's failure is the client's 421.
 */
void session_connect_addrs(session_t *s, const struct sockaddr_storage *addrs,
    size_t n, uint32_t mark);
void session_bdat(session_t *s);
/* session_auth forwards an AUTH command; the SASL exchange that follows
 * (RFC 4954 4) is the engine's. */
void session_auth(session_t *s, const smtp_cmd_info_t *ci,
    const uint8_t *text);
/* session_admit applies per-address limits and starts the direction. */
void session_admit(session_t *s);
/*
 * session_new_server replaces the server leg by a fresh, unconnected one;
 * the old leg closes once what is queued for it has left (a QUIT) and is
 * freed from its close callback; nothing it sends reaches the session.
 * Returns 0 or -1.
 */
int session_new_server(session_t *s);

/*
 * session_original_dst reads what the client dialled before a REDIRECT
 * (SO_ORIGINAL_DST of the client socket; without one, connection tracking
 * gives the socket's own local address). 0, or -1 without tracking.
 */
int session_original_dst(session_t *s, struct sockaddr_storage *ss);

/* Loop guard (session_loop.c). session_loop_connect is conn_connect for
 * the server leg that also records the leg's two ends (0 or -1);
 * session_loop_forget removes them (idempotent); session_loop_seen: the
 * client is one of the proxy's own legs (logged). */
int session_loop_connect(session_t *s, const struct sockaddr *addr,
    uint32_t mark);
void session_loop_forget(session_t *s);
int session_loop_seen(session_t *s);

#endif
