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
#include "proxy.h"
#include "smtp.h"

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

typedef enum {
	SS_PROXY_HDR,     /* inbound: waiting for a load balancer's PROXY header */
	SS_TLS_ACCEPT,    /* inbound implicit TLS: client handshake first */
	SS_CONNECT,       /* server leg connection under way */
	SS_GREETING,      /* waiting for the server's banner */
	SS_COMMAND,       /* commands and replies relayed, paired in order */
	SS_DATA_WAIT,     /* DATA sent, its reply pending: client must wait */
	SS_BODY,          /* message body from client to server */
	SS_STARTTLS,      /* inbound: STARTTLS taken, earlier replies pending */
	SS_TLS_HANDSHAKE, /* a leg's handshake under way */
	SS_UPGRADE,       /* the proxy's own exchange with the server: outbound
	                     EHLO/STARTTLS/EHLO, inbound XCLIENT */
	SS_CLOSING
} session_state_t;

typedef enum {
	PEND_RELAY,       /* relay the server's reply */
	PEND_GREETING,    /* the banner */
	PEND_EHLO,        /* gather, rewrite, relay */
	PEND_HELO,        /* outbound: gather an EHLO reply, relay one 250 line */
	PEND_DATA,        /* 354 opens the body */
	PEND_EOD,         /* reply to end-of-data */
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

typedef struct session {
	proxy_t *px;                 /* borrowed: the worker */
	runtime_t *rt;               /* one reference: the config it runs on */
	const config_listener_t *lc; /* borrowed from rt */
	SSL_CTX *tls_ctx;            /* borrowed from rt: the listener's */
	stats_listener_t *st;        /* borrowed: this listener's counters */
	struct session *next, *prev; /* px->sessions */
	char id[24];
	session_state_t state;

	conn_t *client;              /* owned; freed after both legs closed */
	conn_t *server;              /* owned; replaced on outbound retry */
	conn_t *retired;             /* a replaced server leg, closing */
	uv_timer_t timer;
	int timer_closing;           /* uv_close called on timer */
	int handles;                 /* open handles; memory goes at 0 */

	pend_t pend[SESSION_PIPELINE_MAX];
	unsigned phead, pcount;

	uint8_t *ehlo;               /* EHLO reply being gathered, bounded by
	                                SMTP_EHLO_REPLY_MAX; owned, NULL idle */
	size_t ehlo_len;
	int last_code;               /* last reply code sent to the client */

	smtp_body_t body;
	size_t skipping;             /* over-long line bytes skipped, 0 if not */
	unsigned errors;
	unsigned messages;
	int tls;                     /* the TLS leg is established */
	int need_helo;               /* after STARTTLS, until EHLO/HELO */
	int reset_on_tls;            /* a command before TLS may have left
	                                backend state: RSET after STARTTLS */
	int quit;                    /* QUIT forwarded: read no more commands */
	int client_eof;              /* client closed; finish pending replies */
	int shutdown;                /* 421 4.3.2 at the next boundary */
	uint64_t hs_start_ms;        /* handshake started, for the histogram */
	int body_over;               /* body passed max_message_size */
	uint64_t data_deadline_ms;   /* end of the current body's time */
	ipcount_key_t ipkey;         /* client address for max_sessions_per_ip */
	int ip_counted;
	struct sockaddr_storage client_addr; /* the real client (PROXY header) */
	struct sockaddr_storage client_local; /* the address it connected to */
	struct sockaddr_storage loop_local; /* server leg's local end, in
	                                       px->sh->loops while loop_noted */
	int loop_noted;

	/* outbound */
	struct sockaddr_storage dest;  /* upstream address */
	char dest_str[64];
	const char *dest_name;       /* name for SNI and verification, or NULL */
	char helo_line[SESSION_HELO_MAX]; /* the client's EHLO/HELO argument */
	size_t helo_len;
	int helo_is_ehlo;
	int retried;                 /* the plaintext retry was used */
	int verified;                /* chain trusted */
	int name_ok;                 /* dest_name matched the certificate */
	const char *tls_fail;        /* why the upstream is not TLS, or NULL */

	uint64_t start_ms;
	uint64_t active_ms;          /* last progress, for the timer */
	uint64_t timeout_ms;         /* of the current state */
	char peer[64];
	char reason[160];            /* why the session closed, for the log */
} session_t;

/* Engine (session.c). */
void session_enter(session_t *s, session_state_t st);
void session_pend_push(session_t *s, pend_kind_t kind, int step,
    const char *reply);
void session_pend_run(session_t *s);
void session_reply(session_t *s, const char *text);
void session_local(session_t *s, const char *reply);
void session_error(session_t *s, const char *reply);
void session_forward(session_t *s, const uint8_t *text, size_t len,
    pend_kind_t kind);
void session_ehlo_relay(session_t *s, unsigned flags);
/* session_ehlo_reset drops a gathered EHLO reply and its buffer. */
void session_ehlo_reset(session_t *s);
void session_close(session_t *s, close_reason_t cr, const char *detail,
    int graceful);
/* session_tls_done counts an established TLS leg (version, cipher, time). */
void session_tls_done(session_t *s, const SSL *ssl);
void session_tls_failed(session_t *s, tls_fail_t why);
void session_connect_server(session_t *s, const struct sockaddr *addr,
    uint32_t mark);
int session_needs_tls(smtp_cmd_t cmd);
void session_bdat(session_t *s);
/* session_admit applies per-address limits and starts the direction. */
void session_admit(session_t *s);
/*
 * session_new_server replaces the server leg by a fresh, unconnected one;
 * the old leg closes and is freed from its close callback. Returns 0 or -1.
 */
int session_new_server(session_t *s);

/* Loop guard (session_loop.c). session_loop_connect is conn_connect for
 * the server leg that also records the leg's local end (0 or -1);
 * session_loop_forget removes it (idempotent); session_loop_seen: the
 * client is one of the proxy's own legs (logged). */
int session_loop_connect(session_t *s, const struct sockaddr *addr,
    uint32_t mark);
void session_loop_forget(session_t *s);
int session_loop_seen(session_t *s);

/* Inbound (inbound.c). */
void inbound_start(session_t *s);
void inbound_proxy_header(session_t *s);
void inbound_server_connected(session_t *s);
void inbound_greeting_done(session_t *s);
void inbound_internal_reply(session_t *s, int step, int code);
void inbound_command(session_t *s, const uint8_t *text, size_t len,
    const smtp_cmd_info_t *ci);
void inbound_starttls_go(session_t *s);
void inbound_client_tls_done(session_t *s);
unsigned inbound_ehlo_flags(session_t *s);

/* Outbound (outbound.c). */
void outbound_start(session_t *s);
void outbound_command(session_t *s, const uint8_t *text, size_t len,
    const smtp_cmd_info_t *ci);
/* A complete reply to a PEND_INTERNAL step; the last line is r. */
void outbound_internal_reply(session_t *s, int step, int code);
void outbound_server_tls_done(session_t *s);
/* The server leg connected; returns 1 if the direction took the banner. */
int outbound_server_connected(session_t *s);
/* The server leg failed in its handshake; returns 1 if it was handled. */
int outbound_server_failed(session_t *s);
unsigned outbound_ehlo_flags(const session_t *s);
/* The closing log line's fields both directions share. */
typedef struct {
	char dur[24], msgs[16], bytes_in[24], bytes_out[24];
	const char *tls;     /* "TLSv1.3" or "none" */
	const char *cipher;  /* or "-" */
} session_logf_t;

void outbound_log_close(const session_t *s, const session_logf_t *f);

#endif
