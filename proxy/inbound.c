/*
 * inbound: a remote sender talks to the proxy; the legacy backend behind
 * it speaks plaintext. The proxy offers STARTTLS, answers it itself, and
 * terminates TLS on the client leg (or from the first byte with implicit
 * TLS).
 *
 * What must stay true:
 * - STARTTLS never reaches the backend; bytes the client pipelined after it
 *   are discarded before the handshake (conn_start_tls), and the backend
 *   transaction is reset (RSET, its reply swallowed), so nothing from
 *   before TLS survives (CVE-2011-0411 class).
 * - require_tls refuses mail commands before TLS; AUTH is neither offered
 *   nor accepted before TLS when hide_auth_before_tls.
 */
#include <stdio.h>

#include "log.h"
#include "session_int.h"

static const char R_STARTTLS_GO[] = "220 2.0.0 Ready to start TLS\r\n";
static const char R_STARTTLS_ARG[] =
    "501 5.5.4 Syntax error: STARTTLS takes no parameters\r\n";
static const char R_STARTTLS_AGAIN[] = "503 5.5.1 TLS already active\r\n";
static const char R_STARTTLS_OFF[] =
    "502 5.5.1 STARTTLS not available\r\n";
static const char R_NEED_TLS[] =
    "530 5.7.0 Must issue a STARTTLS command first\r\n";
static const char R_NEED_HELO[] = "503 5.5.1 Send EHLO/HELO first\r\n";

void
inbound_start(session_t *s)
{
	size_t discarded;

	if (s->lc->in_tls == IN_TLS_IMPLICIT) {
		/* SMTPS (RFC 8314): the handshake comes before the banner. */
		session_enter(s, SS_TLS_ACCEPT);
		if (conn_start_tls(s->client, s->l->tls, CONN_TLS_SERVER, NULL,
		    &discarded) == -1)
			session_close(s, "tls setup failed", 0);
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
inbound_ehlo_flags(const session_t *s)
{
	unsigned f = SMTP_EHLO_DEL_CHUNKING | SMTP_EHLO_DEL_XCLIENT;

	if (s->tls || s->lc->in_tls == IN_TLS_OFF)
		return f | SMTP_EHLO_DEL_STARTTLS;
	f |= SMTP_EHLO_ADD_STARTTLS;
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
	if (conn_start_tls(s->client, s->l->tls, CONN_TLS_SERVER, NULL,
	    &discarded) == -1) {
		session_close(s, "tls setup failed", 0);
		return;
	}
	if (discarded > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", discarded);
		log_event(LOG_WARN, "starttls_discard", "session", s->id,
		    "client", s->peer, "bytes", n, NULL);
	}
	/* Nothing of the plaintext transaction survives into TLS. */
	conn_write_str(s->server, "RSET\r\n");
	session_pend_push(s, PEND_SWALLOW, 0, NULL);
	session_enter(s, SS_TLS_HANDSHAKE);
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
	switch (ci->cmd) {
	case SMTP_CMD_BDAT:
		session_bdat(s);
		break;
	case SMTP_CMD_EHLO:
		s->need_helo = 0;
		s->ehlo_len = 0;
		session_forward(s, text, len, PEND_EHLO);
		break;
	case SMTP_CMD_HELO:
		s->need_helo = 0;
		session_forward(s, text, len, PEND_RELAY);
		break;
	case SMTP_CMD_DATA:
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
