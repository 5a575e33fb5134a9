/*
 * inbound: a remote sender talks to the proxy; the legacy backend behind
 * it speaks plaintext. The proxy offers STARTTLS, answers it itself, and
 * terminates TLS on the client leg (or from the first byte with implicit
 * TLS).
 *
 * What must stay true:
 * - STARTTLS never reaches the backend; bytes the client pipelined after it
 *   are discarded before the handshake (conn_start_tls).
 * - The encrypted part of a STARTTLS session runs on a backend connection
 *   of its own (issue #16): the backend never learns that the proxy
 *   answered STARTTLS, so on the same connection the client's new EHLO
 *   would be a second EHLO, which RFC 5321 4.1.4 lets a server refuse
 *   (OpenSMTPD does). On a fresh connection nothing from before TLS
 *   survives by construction (CVE-2011-0411 class): no RSET is needed.
 *   The client's input waits (hold_client) until that connection's banner
 *   was checked (220, swallowed) and the PROXY header or XCLIENT went out
 *   on it; the plaintext connection gets QUIT and is retired, so nothing
 *   it says afterwards reaches the client.
 * - require_tls answers only EHLO, HELO, STARTTLS, NOOP, RSET and QUIT
 *   before TLS; AUTH is neither offered nor accepted before TLS when
 *   hide_auth_before_tls.
 * - [party:NAME] is judged per MAIL and per RCPT (party.c): a refusal is
 *   the proxy's own reply to that command alone, so the other recipients
 *   and transactions of the session go on; nothing refused reaches the
 *   backend.
 * - received_header = yes is the one change the proxy makes to a message:
 *   one trace field written before the first body octet, counted toward
 *   max_message_size; the client's body still passes the smuggling filter
 *   (the field ends in CRLF, so the filter's line-start state holds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "addr.h"
#include "log.h"
#include "party.h"
#include "proxyproto.h"
#include "session_int.h"
#include "tls.h"
#include "tlsrate.h"
#include "trace.h"

_Static_assert(STATS_PARTY_RESULTS == PARTY_RESULTS,
    "stats party results out of step");
_Static_assert(PROXYPROTO_CN_MAX >= TLS_CN_MAX, "CN longer than the TLV");

/*
 * The inbound session's own state (s->dirstate, allocated at start; the
 * engine frees it): the backend name's lookup, what the client presented
 * (read once after its handshake), and its EHLO/HELO argument for the
 * trace field.
 */
typedef struct {
	dns_addrs_t *q;                  /* the backend by name, while
	                                    resolving */
	tls_ccert_t cc;                  /* valid while s->tls */
	char helo[TRACE_HELO_MAX + 1];   /* "" until EHLO/HELO */
	int ehlo;
} inbound_state_t;

/* The proxy's own exchange with the backend, for XCLIENT. */
enum {
	STEP_XC_EHLO,   /* EHLO: does the backend offer XCLIENT? */
	STEP_XC_CMD,    /* XCLIENT: 220 is a fresh greeting */
	STEP_BANNER     /* the banner of the TLS part's connection: 220 or
	                   the session ends; never relayed (the client had
	                   its banner) */
};

/* Room for one PROXY header toward the backend, either version. */
#define INBOUND_PP_MAX 512
_Static_assert(INBOUND_PP_MAX >= PROXYPROTO_V2_ENCODE_MAX &&
    INBOUND_PP_MAX >= PROXYPROTO_V1_MAX, "PROXY header buffer too small");

static void inbound_internal_reply(session_t *s, int step, int code);

static const char R_BACKEND_DNS[] =
    "421 4.3.0 Service not available, try again later\r\n";
static const char R_STARTTLS_ARG[] =
    "501 5.5.4 Syntax error: STARTTLS takes no parameters\r\n";
static const char R_STARTTLS_AGAIN[] = "503 5.5.1 TLS already active\r\n";
static const char R_STARTTLS_OFF[] =
    "502 5.5.1 STARTTLS not available\r\n";
static const char R_NEED_TLS[] =
    "530 5.7.0 Must issue a STARTTLS command first\r\n";
static const char R_NEED_HELO[] = "503 5.5.1 Send EHLO/HELO first\r\n";
static const char R_TOO_BIG[] =
    "552 5.3.4 Message size exceeds fixed maximum message size\r\n";
static const char R_STARTTLS_RATE[] =
    "454 4.7.0 TLS not available due to local problem\r\n";
static const char R_UNAVAILABLE[] =
    "421 4.3.0 Service not available, closing connection\r\n";
/*
 * [party:NAME] refusals. No certificate: 530 5.7.0, as for no TLS: the
 * client can meet the demand by presenting one (RFC 3207's code for "do
 * something first"). A certificate that is not the partner's (untrusted by
 * client_ca, or trusted but neither fingerprint nor name listed): 550
 * 5.7.1, delivery not authorised (RFC 3463): retrying the same will not
 * help, the sender's operator must act.
 */
static const char R_PARTY_NO_CERT[] =
    "530 5.7.0 Client certificate required\r\n";
static const char R_PARTY_BAD_CERT[] =
    "550 5.7.1 Client certificate not accepted\r\n";
static const char R_PARTY_MAIL_SYNTAX[] =
    "501 5.1.7 Bad sender address syntax\r\n";
static const char R_PARTY_RCPT_SYNTAX[] =
    "501 5.1.3 Bad recipient address syntax\r\n";

/*
 * inbound_tls_rate applies tls_rate_limit: with take, counts a handshake
 * about to start, or returns -1 (logged and counted) when this client has
 * used its handshakes for the minute; without, only tells (-1: over).
 * Keyed by the real client (a PROXY header's address, when there is one).
 */
static int
inbound_tls_rate(session_t *s, int take)
{
	tlsrate_t *t = &s->px->sh->tlsrate;
	uint64_t now = uv_now(&s->px->loop);
	ipcount_key_t k;
	int r;

	if (s->lc->tls_rate_limit == 0 ||
	    ipcount_key((const struct sockaddr *)&s->client_addr, &k) == -1)
		return 0;
	uv_mutex_lock(&s->px->sh->tlslock);
	if (take)
		r = tlsrate_take(t, &k, s->lc->tls_rate_limit, now);
	else
		r = tlsrate_over(t, &k, s->lc->tls_rate_limit, now) ? -1 : 0;
	uv_mutex_unlock(&s->px->sh->tlslock);
	if (r == -1 && take) {
		STATS_INC(s->st->tls[TLSEV_RATE_LIMITED]);
		log_event(LOG_WARN, "tls_rate_limited", "session", s->id,
		    "client", s->peer, NULL);
	}
	return r;
}

/*
 * The backend by name: resolved at each connection by the worker's
 * resolver (the hosts file first), never at load time.
 */

static void
inbound_backend_addrs(void *arg, dns_status_t st, int secure,
    const struct sockaddr_storage *addrs, size_t n, const char *expanded)
{
	session_t *s = arg;
	inbound_state_t *is = s->dirstate;

	(void)secure;
	(void)expanded;
	is->q = NULL;
	if (n == 0) {
		log_event(LOG_WARN, "backend_dns", "session", s->id, "backend",
		    s->dest_str, "result", dns_status_name(st), NULL);
		STATS_INC(s->st->connect_failed);
		session_reply(s, R_BACKEND_DNS);
		session_close(s, CR_CONNECT_FAILED, "backend name lookup failed",
		    1);
		session_kick(s);
		return;
	}
	session_connect_addrs(s, addrs, n, 0);
	session_kick(s);
}

static void
inbound_connect(session_t *s)
{
	const config_addr_t *b = &s->lc->backend;
	inbound_state_t *is = s->dirstate;

	if (config_addr_resolved(b)) {
		session_connect_server(s, (const struct sockaddr *)&b->addr, 0);
		return;
	}
	if (is == NULL && (is = s->dirstate = calloc(1, sizeof(*is))) == NULL) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return;
	}
	session_enter(s, SS_CONNECT);
	if (s->px->dns == NULL || (is->q = dns_addrs(s->px->dns, b->host,
	    b->port, inbound_backend_addrs, s)) == NULL) {
		STATS_INC(s->st->connect_failed);
		session_reply(s, R_BACKEND_DNS);
		session_close(s, CR_CONNECT_FAILED, "backend name lookup failed",
		    1);
	}
}

static void
inbound_start(session_t *s)
{
	size_t discarded;

	if ((s->dirstate = calloc(1, sizeof(inbound_state_t))) == NULL) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return;
	}

	snprintf(s->dest_str, sizeof(s->dest_str), "%s:%u",
	    s->lc->backend.host, s->lc->backend.port);
	if (s->lc->in_tls == IN_TLS_IMPLICIT &&
	    inbound_tls_rate(s, 1) == -1) {
		/* No handshake at all: it is the handshake that costs. */
		session_close(s, CR_LIMIT, "tls_rate_limit", 0);
		return;
	}
	if (s->lc->in_tls == IN_TLS_IMPLICIT) {
		/* SMTPS (RFC 8314): the handshake comes before the banner. */
		session_enter(s, SS_TLS_ACCEPT);
		STATS_INC(s->st->tls[TLSEV_ATTEMPTED]);
		s->hs_start_ms = uv_now(&s->px->loop);
		if (conn_start_tls(s->client, s->tls_ctx, CONN_TLS_SERVER, NULL,
		    CONN_TLS_KEEP, &discarded) == -1)
			session_close(s, CR_INTERNAL, "tls setup failed", 0);
		else if (s->client->failed)
			session_close(s, CR_TLS_FAILED, s->client->err, 0);
		return;
	}
	inbound_connect(s);
}

/* Postfix's words for a client certificate (policy_verify_t). */
static policy_verify_t
inbound_ccert_verify(const tls_ccert_t *cc)
{
	return !cc->present ? VERIFY_ANONYMOUS : cc->trusted ?
	    VERIFY_TRUSTED : VERIFY_UNTRUSTED;
}

/* What the client presented: read once, counted, logged when asked for. */
static void
inbound_ccert_read(session_t *s)
{
	inbound_state_t *st = s->dirstate;
	tls_ccert_t *cc = &st->cc;
	policy_verify_t v;
	char fp[2 * TLS_SHA256_LEN + 1];

	tls_client_cert(s->client->ssl, cc);
	v = inbound_ccert_verify(cc);
	STATS_INC(s->st->verify[v]);
	if (!cc->requested)
		return;
	if (cc->present)
		tls_hex(cc->sha256, sizeof(cc->sha256), fp);
	log_event(LOG_INFO, "client_cert", "session", s->id, "client",
	    s->peer, "verify", policy_verify_name(v), "cn", cc->present ?
	    cc->cn : "-", "issuer", cc->present ? cc->issuer_cn : "-",
	    "sha256", cc->present ? fp : "-", NULL);
}

static void
inbound_client_tls_done(session_t *s)
{
	inbound_ccert_read(s);
	if (s->state == SS_TLS_ACCEPT) {
		inbound_connect(s);
		return;
	}
	/* RFC 3207 4.2: the client must start over with EHLO, which goes to
	 * a backend connection of its own as that connection's greeting. The
	 * client may send it at once: it waits until the leg is ready. */
	s->need_helo = 1;
	s->hold_client = 1;
	inbound_connect(s);
}

/* The backend leg is ready for the client's commands. */
static void
inbound_backend_ready(session_t *s)
{
	s->hold_client = 0;
	session_enter(s, SS_COMMAND);
}

static unsigned
inbound_ehlo_flags(session_t *s)
{
	if (s->tls || s->lc->in_tls == IN_TLS_OFF)
		return SMTP_EHLO_KEEP_AUTH;
	if (inbound_tls_rate(s, 0) == -1)   /* AUTH stays refused before TLS */
		return s->lc->hide_auth_before_tls || s->lc->require_tls ? 0 :
		    SMTP_EHLO_KEEP_AUTH;
	STATS_INC(s->st->tls[TLSEV_OFFERED]);
	if (s->lc->hide_auth_before_tls || s->lc->require_tls)
		return SMTP_EHLO_ADD_STARTTLS;
	return SMTP_EHLO_ADD_STARTTLS | SMTP_EHLO_KEEP_AUTH;
}

/* The STARTTLS switch, once every earlier reply has been relayed. */
static void
inbound_starttls_go(session_t *s)
{
	/*
	 * The plaintext part's backend connection ends here, before the
	 * handshake: whatever it says from now on (its 221, a timeout 421)
	 * belongs to no reply the client awaits. The FIFO is empty: the
	 * STARTTLS switch runs only at its head and nothing after it was read.
	 * The new leg is dialled once TLS is up (inbound_client_tls_done), so
	 * the PROXY header can say TLS.
	 */
	conn_write_str(s->server, "QUIT\r\n");
	if (session_new_server(s) == -1) {
		session_reply(s, R_UNAVAILABLE);
		session_close(s, CR_INTERNAL, "out of memory", 1);
		return;
	}
	session_client_starttls(s, s->tls_ctx);
}

/*
 * The load balancer's PROXY header (v1 or v2) before anything else; only
 * from accept_proxy_from networks (checked at accept). What it says
 * replaces the peer address for limits, logs and the backend.
 */
static void
inbound_proxy_header(session_t *s)
{
	proxyproto_addr_t a;
	size_t used;

	switch (proxyproto_decode(conn_rdata(s->client),
	    conn_rsize(s->client), &a, &used)) {
	case PROXYPROTO_PARTIAL:
		return;
	case PROXYPROTO_INVALID:
		log_event(LOG_WARN, "proxy_header_invalid", "session", s->id,
		    "client", s->peer, NULL);
		session_close(s, CR_PROTOCOL, "invalid PROXY header", 0);
		return;
	case PROXYPROTO_OK:
		break;
	}
	conn_consume(s->client, used);
	if (a.family == AF_INET || a.family == AF_INET6) {
		log_event(LOG_INFO, "proxy_header", "session", s->id,
		    "balancer", s->peer, NULL);
		addr_format((struct sockaddr *)&a.src, s->peer, sizeof(s->peer));
		memcpy(&s->client_addr, &a.src, sizeof(a.src));
		memcpy(&s->client_local, &a.dst, sizeof(a.dst));
	}
	/* LOCAL (a balancer's health check), UNKNOWN, or a family we do not
	 * relay: the connection stands for itself, the balancer's address. */
	session_admit(s);
}

/*
 * The v2 header: TLS is up on the implicit-TLS listener's only connection
 * and on the STARTTLS session's second, and then the SSL TLV says so, with
 * the client certificate's result (as HAProxy fills it: CERT_SESS when the
 * session has one, CERT_CONN when this handshake presented it, verify 0
 * only when it was trusted, the subject CN).
 */
static int
inbound_proxy_v2(session_t *s, const proxyproto_addr_t *a, uint8_t *buf,
    size_t cap, size_t *n)
{
	const inbound_state_t *st = s->dirstate;
	const SSL *ssl = s->tls ? s->client->ssl : NULL;
	proxyproto_ssl_t t;

	if (ssl == NULL)
		return proxyproto_v2_encode_ssl(a, NULL, buf, cap, n);
	t.client = PP2_CLIENT_SSL;
	t.verify = 1;
	t.version = tls_version_name(ssl);
	t.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
	t.cn = NULL;
	if (st->cc.present) {
		/* CONN: presented in this handshake; SESS: in its TLS session
		 * (HAProxy: a resumed session brings its certificate along
		 * without presenting it again). */
		t.client |= PP2_CLIENT_CERT_SESS;
		if (!SSL_session_reused(ssl))
			t.client |= PP2_CLIENT_CERT_CONN;
		t.verify = st->cc.trusted ? 0 : 1;
		if (st->cc.cn[0] != '\0')
			t.cn = st->cc.cn;
	}
	return proxyproto_v2_encode_ssl(a, &t, buf, cap, n);
}

/* The PROXY header, if configured. Returns 0, or -1 with the session
 * closing. */
static int
inbound_proxy_send(session_t *s)
{
	proxyproto_addr_t a;
	uint8_t buf[INBOUND_PP_MAX];
	size_t n = 0;
	int r = -1;

	if (s->lc->proxy_protocol == PROXY_PROTO_OFF)
		return 0;
	if (proxyproto_addr_set(&a, (const struct sockaddr *)&s->client_addr,
	    (const struct sockaddr *)&s->client_local) == 0) {
		if (s->lc->proxy_protocol == PROXY_PROTO_V1)
			r = proxyproto_v1_encode(&a, (char *)buf, sizeof(buf),
			    &n);
		else
			r = inbound_proxy_v2(s, &a, buf, sizeof(buf), &n);
	}
	if (r == -1) {
		session_reply(s, R_UNAVAILABLE);
		session_close(s, CR_INTERNAL, "no PROXY header for this client",
		    1);
		return -1;
	}
	conn_write(s->server, buf, n);
	return 0;
}

/*
 * The backend connected: a PROXY header goes first, if configured. A
 * header that cannot say who the client is would make the backend see the
 * proxy instead (the open-relay risk): such a session is refused. Returns
 * 1 when the banner is the proxy's (the TLS part's connection).
 */
static int
inbound_server_connected(session_t *s)
{
	if (inbound_proxy_send(s) == -1)
		return 0;
	if (!s->hold_client)
		return 0;
	session_pend_push(s, PEND_INTERNAL, STEP_BANNER, NULL);
	session_enter(s, SS_UPGRADE);
	return 1;
}

/* With xclient the proxy speaks first: EHLO, then XCLIENT if offered. */
static void
inbound_xclient_start(session_t *s)
{
	conn_write_str(s->server, "EHLO ");
	conn_write_str(s->server, s->px->sh->hostname);
	conn_write(s->server, "\r\n", 2);
	session_pend_push(s, PEND_INTERNAL, STEP_XC_EHLO, NULL);
	session_enter(s, SS_UPGRADE);
}

/* The banner is relayed; with xclient the proxy speaks first. */
static void
inbound_greeting_done(session_t *s)
{
	if (s->lc->xclient && s->last_code == 220)
		inbound_xclient_start(s);
}

/*
 * XCLIENT NAME=... ADDR=... PORT=... (Postfix's XCLIENT_README). NAME is
 * always [UNAVAILABLE], the value for a client without a verified name: the
 * proxy does no DNS. Without NAME, Postfix keeps the proxy's own name and
 * logs every Internet client as localhost[address].
 */
static void
inbound_xclient_send(session_t *s)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->client_addr;
	char host[INET6_ADDRSTRLEN], line[160];
	int n;

	n = snprintf(line, sizeof(line), "XCLIENT NAME=[UNAVAILABLE] ADDR=%s%s "
	    "PORT=%u PROTO=ESMTP\r\n", sa->sa_family == AF_INET6 ? "IPV6:" : "",
	    addr_ip(sa, host, sizeof(host)), addr_port(sa));
	if (n < 0 || (size_t)n >= sizeof(line)) {
		/* Cannot happen with a numeric address; a cut line must not go
		 * out as the client's identity. */
		inbound_internal_reply(s, STEP_XC_CMD, 0);
		return;
	}
	conn_write_str(s->server, line);
	session_pend_push(s, PEND_INTERNAL, STEP_XC_CMD, NULL);
}

static void
inbound_internal_reply(session_t *s, int step, int code)
{
	switch (step) {
	case STEP_BANNER:
		if (code == 220 && s->lc->xclient)
			inbound_xclient_start(s);
		else if (code == 220)
			inbound_backend_ready(s);
		else {
			char c[8];
			snprintf(c, sizeof(c), "%d", code);
			log_event(LOG_WARN, "backend_banner_refused", "session",
			    s->id, "client", s->peer, "code", c, NULL);
			session_reply(s, R_UNAVAILABLE);
			session_close(s, CR_SERVER_ERROR,
			    "backend refused the TLS part's connection", 1);
		}
		return;
	case STEP_XC_EHLO:
		if (code == 250 &&
		    (smtp_ehlo_caps(s->ehlo, s->ehlo_len) & SMTP_CAP_XCLIENT)) {
			inbound_xclient_send(s);
			return;
		}
		break;
	case STEP_XC_CMD:
		if (code == 220) {
			inbound_backend_ready(s);
			return;
		}
		break;
	}
	/* Without XCLIENT every client would look like the proxy to a
	 * backend that trusts it: refuse rather than become an open relay. */
	log_event(LOG_ERROR, "xclient_failed", "session", s->id, "client",
	    s->peer, "step", step == STEP_XC_EHLO ? "not offered" : "refused",
	    NULL);
	session_reply(s, R_UNAVAILABLE);
	session_close(s, CR_SERVER_ERROR, "xclient failed", 1);
}

/* MAIL FROM with a declared SIZE over the limit (RFC 1870 6.1). */
static int
inbound_size_refused(const session_t *s, const uint8_t *text,
    const smtp_cmd_info_t *ci)
{
	uint64_t size;

	if (s->lc->max_message_size == 0)
		return 0;
	switch (smtp_mail_size(text + ci->arg_off, ci->arg_len, &size)) {
	case 0:
		return 0;
	case 1:
		return size > s->lc->max_message_size;
	default:
		return 1; /* malformed or past 2^64: not a size we accept */
	}
}

/* What require_tls answers before TLS: the commands that lead to TLS or
 * end the session, and nothing that reads or names a mailbox. */
static int
inbound_plaintext_ok(smtp_cmd_t cmd)
{
	switch (cmd) {
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
	case SMTP_CMD_STARTTLS:
	case SMTP_CMD_NOOP:
	case SMTP_CMD_RSET:
	case SMTP_CMD_QUIT:
		return 1;
	default:
		return 0;
	}
}

/* Commands of a mail transaction or AUTH: they wait for TLS's new EHLO. */
static int
inbound_needs_helo(smtp_cmd_t cmd)
{
	return cmd == SMTP_CMD_MAIL || cmd == SMTP_CMD_RCPT ||
	    cmd == SMTP_CMD_DATA || cmd == SMTP_CMD_BDAT ||
	    cmd == SMTP_CMD_AUTH;
}

/* Keeps the EHLO/HELO argument for the trace field (bounded; a longer
 * or odd one is replaced there by the address literal). */
static void
inbound_note_helo(session_t *s, const smtp_cmd_info_t *ci,
    const uint8_t *text, int ehlo)
{
	inbound_state_t *st = s->dirstate;
	size_t n = ci->arg_len;

	st->ehlo = ehlo;
	if (n > TRACE_HELO_MAX || memchr(text + ci->arg_off, '\0', n) != NULL)
		n = 0;
	memcpy(st->helo, text + ci->arg_off, n);
	st->helo[n] = '\0';
}

static int
inbound_peer_matches(void *arg, const char *name)
{
	return tls_peer_matches(arg, name);
}

/*
 * [party:NAME] for a MAIL or RCPT: returns 1 when the proxy answered it
 * (refused), 0 when it goes to the backend. Every applying party's
 * decision is logged and counted.
 */
static int
inbound_party(session_t *s, party_cmd_t cmd, const smtp_cmd_info_t *ci,
    const uint8_t *text)
{
	const config_t *cfg = s->rt->cfg;
	const inbound_state_t *st = s->dirstate;
	const uint8_t *args = text + ci->arg_off, *dom = NULL;
	size_t len = ci->arg_len, domlen = 0;
	party_facts_t f;
	party_decision_t d;
	const config_party_t *p;
	const char *reply = NULL;
	char dtext[TRACE_HELO_MAX + 1];

	if (cfg->nparties == 0)
		return 0;
	if (smtp_addr_domain(args, len, &dom, &domlen) == -1) {
		/* No domain (<>, <postmaster>) matches no domain list; one
		 * that cannot be read might hide a partner's. */
		dom = NULL;
		domlen = 0;
		if (memchr(args, '@', len) != NULL) {
			session_local(s, cmd == PARTY_CMD_MAIL ?
			    R_PARTY_MAIL_SYNTAX : R_PARTY_RCPT_SYNTAX);
			return 1;
		}
	}
	memset(&f, 0, sizeof(f));
	f.tls = s->tls;
	if (s->tls) {
		f.cert = st->cc.present;
		f.trusted = st->cc.trusted;
		f.sha256 = st->cc.present ? st->cc.sha256 : NULL;
		f.matches = inbound_peer_matches;
		f.arg = s->client->ssl;
	}
	if (!party_decide(cfg, cmd, (const struct sockaddr *)&s->client_addr,
	    dom, domlen, &f, &d))
		return 0;
	p = &cfg->parties[d.index];
	STATS_INC(s->px->stats->party[s->rt->party_slot[d.index]][cmd]
	    [d.result]);
	snprintf(dtext, sizeof(dtext), "%.*s", (int)(domlen < sizeof(dtext) ?
	    domlen : sizeof(dtext) - 1), dom != NULL ? (const char *)dom : "");
	log_event(d.result == PARTY_OK ? LOG_INFO : LOG_WARN,
	    d.result == PARTY_OK ? "party_ok" : "party_refused", "session",
	    s->id, "client", s->peer, "party", p->name, "command",
	    cmd == PARTY_CMD_MAIL ? "MAIL" : "RCPT", "match",
	    party_by_name(d.by), "domain", dtext[0] ? dtext : "-", "tls",
	    p->tls == PARTY_TLS_VERIFY ? "verify" : "encrypt", "result",
	    party_result_name(d.result), "verify", s->tls ?
	    policy_verify_name(inbound_ccert_verify(&st->cc)) : "none", NULL);
	switch (d.result) {
	case PARTY_OK:
		return 0;
	case PARTY_NO_TLS:
		reply = R_NEED_TLS;
		break;
	case PARTY_NO_CERT:
		reply = R_PARTY_NO_CERT;
		break;
	case PARTY_UNTRUSTED:
	case PARTY_NOT_LISTED:
	case PARTY_RESULTS:
		reply = R_PARTY_BAD_CERT;
		break;
	}
	session_local(s, reply);
	return 1;
}

static void
inbound_command(session_t *s, const smtp_cmd_info_t *ci, const uint8_t *text)
{
	const config_listener_t *lc = s->lc;

	if (ci->cmd == SMTP_CMD_STARTTLS) {
		if (ci->arg_len > 0)
			session_error(s, R_STARTTLS_ARG);
		else if (s->tls)
			session_error(s, R_STARTTLS_AGAIN);
		else if (lc->in_tls == IN_TLS_OFF)
			session_error(s, R_STARTTLS_OFF);
		else if (inbound_tls_rate(s, 1) == -1)
			session_local(s, R_STARTTLS_RATE);
		else {
			session_pend_push(s, PEND_STARTTLS, 0, NULL);
			session_enter(s, SS_STARTTLS);
			session_pend_run(s);
		}
		return;
	}
	if (!s->tls && ((lc->require_tls && !inbound_plaintext_ok(ci->cmd)) ||
	    (ci->cmd == SMTP_CMD_AUTH && lc->hide_auth_before_tls &&
	    lc->in_tls != IN_TLS_OFF))) {
		session_local(s, R_NEED_TLS);
		return;
	}
	if (inbound_needs_helo(ci->cmd) && s->need_helo) {
		session_local(s, R_NEED_HELO);
		return;
	}
	switch (ci->cmd) {
	case SMTP_CMD_BDAT:
		session_bdat(s);
		break;
	case SMTP_CMD_EHLO:
		s->need_helo = 0;
		inbound_note_helo(s, ci, text, 1);
		session_ehlo_reset(s);
		session_forward(s, ci, text, PEND_EHLO);
		break;
	case SMTP_CMD_HELO:
		s->need_helo = 0;
		inbound_note_helo(s, ci, text, 0);
		session_forward(s, ci, text, PEND_RELAY);
		break;
	case SMTP_CMD_MAIL:
		if (inbound_size_refused(s, text, ci))
			session_local(s, R_TOO_BIG);
		else if (!inbound_party(s, PARTY_CMD_MAIL, ci, text))
			session_forward(s, ci, text, PEND_RELAY);
		break;
	case SMTP_CMD_RCPT:
		if (!inbound_party(s, PARTY_CMD_RCPT, ci, text))
			session_forward(s, ci, text, PEND_RELAY);
		break;
	case SMTP_CMD_DATA:
		s->body_over = 0;
		session_forward(s, ci, text, PEND_DATA);
		session_enter(s, SS_DATA_WAIT);
		break;
	case SMTP_CMD_QUIT:
		session_forward(s, ci, text, PEND_QUIT);
		s->quit = 1;
		break;
	case SMTP_CMD_AUTH:
		session_auth(s, ci, text);
		break;
	default:
		session_forward(s, ci, text, PEND_RELAY);
		break;
	}
}

/*
 * received_header = yes: the trace field goes to the backend before the
 * first body octet and counts toward max_message_size like the client's
 * octets (s->body.octets).
 */
static void
inbound_body_start(session_t *s)
{
	const inbound_state_t *st = s->dirstate;
	const struct sockaddr *sa = (const struct sockaddr *)&s->client_addr;
	const SSL *ssl = s->tls ? s->client->ssl : NULL;
	char line[TRACE_MAX], addr[INET6_ADDRSTRLEN];
	trace_info_t t;
	int n;

	if (!s->lc->received_header)
		return;
	memset(&t, 0, sizeof(t));
	t.helo = st->helo[0] != '\0' ? st->helo : NULL;
	t.ehlo = st->ehlo;
	t.addr = addr_ip(sa, addr, sizeof(addr));
	t.v6 = sa->sa_family == AF_INET6;
	t.hostname = s->px->sh->hostname;
	if (ssl != NULL) {
		const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
		t.version = tls_version_name(ssl);
		t.cipher = SSL_CIPHER_get_name(c);
		t.bits = SSL_CIPHER_get_bits(c, &t.alg_bits);
		t.requested = st->cc.requested;
		t.present = st->cc.present;
		t.trusted = st->cc.trusted;
		t.cn = st->cc.cn;
		t.issuer_cn = st->cc.issuer_cn;
	}
	t.now = time(NULL);
	if ((n = trace_received(&t, line, sizeof(line))) < 0) {
		/* Cannot happen within TRACE_MAX; a message without its
		 * promised trace field must not go on. */
		session_reply(s, R_UNAVAILABLE);
		session_close(s, CR_INTERNAL, "trace field", 1);
		return;
	}
	conn_write(s->server, line, (size_t)n);
	s->body.octets += (uint64_t)n;
	STATS_INC(s->st->received_headers);
}

static int
inbound_implicit_tls(const session_t *s)
{
	return s->lc->in_tls == IN_TLS_IMPLICIT;
}

/* Inbound has no server-leg TLS. */
static void
inbound_server_tls_done(session_t *s)
{
	session_close(s, CR_INTERNAL, "unexpected server handshake", 0);
}

static int
inbound_server_failed(session_t *s)
{
	(void)s;
	return 0;
}

static void
inbound_log_close(const session_t *s, const session_logf_t *f)
{
	const inbound_state_t *st = s->dirstate;

	log_event(LOG_INFO, "session_close", "session", s->id, "listener",
	    s->lc->name, "client", s->peer, "tls", f->tls, "cipher",
	    f->cipher, "sni", f->sni, "verify", st == NULL || !s->tls ?
	    "none" : policy_verify_name(inbound_ccert_verify(&st->cc)),
	    "messages", f->msgs, "bytes_in",
	    f->bytes_in, "bytes_out", f->bytes_out, "duration_ms", f->dur,
	    "reason", s->reason, NULL);
}

static void
inbound_wait_timeout(session_t *s)
{
	/* Inbound never waits on policy lookups. */
	session_close(s, CR_INTERNAL, "unexpected policy wait", 0);
}

static void
inbound_release(session_t *s)
{
	inbound_state_t *is = s->dirstate;

	if (is != NULL && is->q != NULL) {
		dns_addrs_cancel(is->q);
		is->q = NULL;
	}
}

const session_dir_t inbound_dir = {
	.start = inbound_start,
	.proxy_header = inbound_proxy_header,
	.command = inbound_command,
	.server_connected = inbound_server_connected,
	.greeting_done = inbound_greeting_done,
	.internal_reply = inbound_internal_reply,
	.starttls_go = inbound_starttls_go,
	.client_tls_done = inbound_client_tls_done,
	.body_start = inbound_body_start,
	.server_tls_done = inbound_server_tls_done,
	.server_failed = inbound_server_failed,
	.ehlo_flags = inbound_ehlo_flags,
	.implicit_tls = inbound_implicit_tls,
	.log_close = inbound_log_close,
	.wait_timeout = inbound_wait_timeout,
	.release = inbound_release,
	.count_server_errors = 1,
	/* An inbound backend may be one of the proxy's outbound listeners
	 * (mail in, then on to a smarthost): not a loop by itself. */
	.loop_guard = 0,
};
