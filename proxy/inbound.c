/*
 * inbound: a remote sender talks to the proxy; the legacy backend behind
 * it speaks plaintext. The proxy offers STARTTLS, answers it itself, and
 * terminates TLS on the client leg (or from the first byte with implicit
 * TLS).
 *
 * What must stay true:
 * - STARTTLS never reaches the backend; bytes the client pipelined after it
 *   are discarded before the handshake (conn_start_tls), and the backend
 *   transaction is reset (RSET, its reply swallowed) when a command before
 *   TLS could have left state there, so nothing from before TLS survives
 *   (CVE-2011-0411 class). The client's required new EHLO resets it too
 *   (RFC 5321 4.1.4); RSET covers backends that do not.
 * - require_tls refuses mail commands before TLS; AUTH is neither offered
 *   nor accepted before TLS when hide_auth_before_tls.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "addr.h"
#include "log.h"
#include "proxyproto.h"
#include "session_int.h"
#include "tls.h"
#include "tlsrate.h"

/* The proxy's own exchange with the backend, for XCLIENT. */
enum {
	STEP_XC_EHLO,   /* EHLO: does the backend offer XCLIENT? */
	STEP_XC_CMD     /* XCLIENT: 220 is a fresh greeting */
};

/* Room for one PROXY header toward the backend, either version. */
#define INBOUND_PP_MAX 512
_Static_assert(INBOUND_PP_MAX >= PROXYPROTO_V2_ENCODE_MAX &&
    INBOUND_PP_MAX >= PROXYPROTO_V1_MAX, "PROXY header buffer too small");

static const char R_STARTTLS_GO[] = "220 2.0.0 Ready to start TLS\r\n";
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
static const char R_NO_XCLIENT[] =
    "421 4.3.0 Service not available, closing connection\r\n";

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

void
inbound_start(session_t *s)
{
	size_t discarded;

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
	session_connect_server(s, (const struct sockaddr *)&s->lc->backend.addr,
	    0);
}

void
inbound_client_tls_done(session_t *s)
{
	if (s->state == SS_TLS_ACCEPT) {
		session_connect_server(s,
		    (const struct sockaddr *)&s->lc->backend.addr, 0);
		return;
	}
	/* RFC 3207 4.2: the client must start over with EHLO. */
	s->need_helo = 1;
	session_enter(s, SS_COMMAND);
}

unsigned
inbound_ehlo_flags(session_t *s)
{
	unsigned f = SMTP_EHLO_DEL_CHUNKING | SMTP_EHLO_DEL_XCLIENT;

	if (s->tls || s->lc->in_tls == IN_TLS_OFF)
		return f | SMTP_EHLO_DEL_STARTTLS;
	if (inbound_tls_rate(s, 0) == -1)   /* AUTH stays refused before TLS */
		return f | SMTP_EHLO_DEL_STARTTLS | (s->lc->hide_auth_before_tls ||
		    s->lc->require_tls ? SMTP_EHLO_DEL_AUTH : 0);
	f |= SMTP_EHLO_ADD_STARTTLS;
	STATS_INC(s->st->tls[TLSEV_OFFERED]);
	if (s->lc->hide_auth_before_tls || s->lc->require_tls)
		f |= SMTP_EHLO_DEL_AUTH;
	return f;
}

/* The STARTTLS switch, once every earlier reply has been relayed. */
void
inbound_starttls_go(session_t *s)
{
	size_t discarded = 0;

	session_reply(s, R_STARTTLS_GO);
	conn_flush(s->client);
	STATS_INC(s->st->tls[TLSEV_ATTEMPTED]);
	s->hs_start_ms = uv_now(&s->px->loop);
	if (conn_start_tls(s->client, s->tls_ctx, CONN_TLS_SERVER, NULL,
	    CONN_TLS_DISCARD, &discarded) == -1) {
		session_close(s, CR_INTERNAL, "tls setup failed", 0);
		return;
	}
	if (discarded > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", discarded);
		log_event(LOG_WARN, "starttls_discard", "session", s->id,
		    "client", s->peer, "bytes", n, NULL);
	}
	/* Nothing of the plaintext transaction survives into TLS. After
	 * only EHLO (the usual case) there is none: no RSET round trip. */
	if (s->reset_on_tls) {
		conn_write_str(s->server, "RSET\r\n");
		session_pend_push(s, PEND_SWALLOW, 0, NULL);
	}
	session_enter(s, SS_TLS_HANDSHAKE);
}

/*
 * The load balancer's PROXY header (v1 or v2) before anything else; only
 * from accept_proxy_from networks (checked at accept). What it says
 * replaces the peer address for limits, logs and the backend.
 */
void
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
 * The backend connected: a PROXY header goes first, if configured. A
 * header that cannot say who the client is would make the backend see the
 * proxy instead (the open-relay risk): such a session is refused.
 */
void
inbound_server_connected(session_t *s)
{
	proxyproto_addr_t a;
	uint8_t buf[INBOUND_PP_MAX];
	size_t n = 0;
	int r = -1;

	if (s->lc->proxy_protocol == PROXY_PROTO_OFF)
		return;
	if (proxyproto_addr_set(&a, (const struct sockaddr *)&s->client_addr,
	    (const struct sockaddr *)&s->client_local) == 0) {
		if (s->lc->proxy_protocol == PROXY_PROTO_V1)
			r = proxyproto_v1_encode(&a, (char *)buf, sizeof(buf),
			    &n);
		else {
			/* Only implicit TLS is up this early. */
			const SSL *ssl = s->tls ? s->client->ssl : NULL;
			r = proxyproto_v2_encode(&a, ssl ?
			    tls_version_name(ssl) : NULL, ssl ?
			    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)) :
			    NULL, buf, sizeof(buf), &n);
		}
	}
	if (r == -1) {
		session_reply(s, R_NO_XCLIENT);
		session_close(s, CR_INTERNAL, "no PROXY header for this client",
		    1);
		return;
	}
	conn_write(s->server, buf, n);
}

/* The banner is relayed; with xclient the proxy speaks first. */
void
inbound_greeting_done(session_t *s)
{
	if (!s->lc->xclient || s->last_code != 220)
		return;
	conn_write_str(s->server, "EHLO ");
	conn_write_str(s->server, s->px->sh->hostname);
	conn_write(s->server, "\r\n", 2);
	session_pend_push(s, PEND_INTERNAL, STEP_XC_EHLO, NULL);
	session_enter(s, SS_UPGRADE);
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

void
inbound_internal_reply(session_t *s, int step, int code)
{
	switch (step) {
	case STEP_XC_EHLO:
		if (code == 250 &&
		    (smtp_ehlo_caps(s->ehlo, s->ehlo_len) & SMTP_CAP_XCLIENT)) {
			inbound_xclient_send(s);
			return;
		}
		break;
	case STEP_XC_CMD:
		if (code == 220) {
			session_enter(s, SS_COMMAND);
			return;
		}
		break;
	}
	/* Without XCLIENT every client would look like the proxy to a
	 * backend that trusts it: refuse rather than become an open relay. */
	log_event(LOG_ERROR, "xclient_failed", "session", s->id, "client",
	    s->peer, "step", step == STEP_XC_EHLO ? "not offered" : "refused",
	    NULL);
	session_reply(s, R_NO_XCLIENT);
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

/* Commands that leave no state in the backend that TLS must shed. */
static int
inbound_stateless(smtp_cmd_t cmd)
{
	switch (cmd) {
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
	case SMTP_CMD_NOOP:
	case SMTP_CMD_RSET:
	case SMTP_CMD_HELP:
	case SMTP_CMD_VRFY:
	case SMTP_CMD_EXPN:
	case SMTP_CMD_QUIT:
		return 1;
	default:
		return 0;
	}
}

void
inbound_command(session_t *s, const uint8_t *text, size_t len,
    const smtp_cmd_info_t *ci)
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
	if (session_needs_tls(ci->cmd) && !s->tls && (lc->require_tls ||
	    (ci->cmd == SMTP_CMD_AUTH && lc->hide_auth_before_tls &&
	    lc->in_tls != IN_TLS_OFF))) {
		session_local(s, R_NEED_TLS);
		return;
	}
	if (session_needs_tls(ci->cmd) && s->need_helo) {
		session_local(s, R_NEED_HELO);
		return;
	}
	/* Set even if the proxy answers it itself: conservative. */
	if (!s->tls && !inbound_stateless(ci->cmd))
		s->reset_on_tls = 1;
	switch (ci->cmd) {
	case SMTP_CMD_BDAT:
		session_bdat(s);
		break;
	case SMTP_CMD_EHLO:
		s->need_helo = 0;
		session_ehlo_reset(s);
		session_forward(s, text, len, PEND_EHLO);
		break;
	case SMTP_CMD_HELO:
		s->need_helo = 0;
		session_forward(s, text, len, PEND_RELAY);
		break;
	case SMTP_CMD_MAIL:
		if (inbound_size_refused(s, text, ci))
			session_local(s, R_TOO_BIG);
		else
			session_forward(s, text, len, PEND_RELAY);
		break;
	case SMTP_CMD_DATA:
		s->body_over = 0;
		session_forward(s, text, len, PEND_DATA);
		session_enter(s, SS_DATA_WAIT);
		break;
	case SMTP_CMD_QUIT:
		session_forward(s, text, len, PEND_QUIT);
		s->quit = 1;
		break;
	default:
		session_forward(s, text, len, PEND_RELAY);
		break;
	}
}
