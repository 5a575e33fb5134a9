/*
 * session: the relay engine shared by both directions.
 *
 * A session joins two conns: the client leg (the party that opened the
 * SMTP session: a remote sender inbound, the legacy server outbound) and the
 * server leg (the legacy backend inbound, the remote MX outbound). Commands
 * from the client are framed one line at a time and handed to the
 * direction (inbound.c, outbound.c). Each command the server will answer,
 * and each reply the proxy gives itself, takes one place in a FIFO of
 * pending replies, so pipelined commands and local replies reach the client
 * in the order the commands were sent. Server replies are relayed line by
 * line as they arrive; EHLO replies alone are gathered whole and rewritten.
 *
 * What must stay true:
 * - In SS_BODY client bytes go through smtp_body_filter and are never read
 *   as commands; a body the client did not finish never gets an end-of-data.
 * - No reply is invented that the server did not send, except the proxy's
 *   own error and STARTTLS replies, which never claim acceptance.
 * - Client bytes that arrive when the client must be silent (before the
 *   banner, between DATA and 354) are never forwarded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include "addr.h"
#include "log.h"
#include "session.h"
#include "session_int.h"
#include "tls.h"

static const char *const session_state_names[] = {
	"proxy-header", "tls-accept", "connect", "greeting", "command", "data-wait", "body",
	"auth-wait", "auth", "starttls", "tls-handshake", "upgrade",
	"policy-wait", "closing"
};

static void session_pump(session_t *s);
static void session_timer_cb(uv_timer_t *t);
static int session_connect_next(session_t *s, const char *why);

/* Replies the engine gives itself. */
static const char R_BAD_LINE[] =
    "500 5.5.2 Syntax error in command line\r\n";
static const char R_TOO_LONG[] = "500 5.5.2 Line too long\r\n";
static const char R_NO_CHUNKING[] =
    "521 5.5.1 BDAT without CHUNKING, closing connection\r\n";
static const char R_NOT_RECOGNIZED[] =
    "500 5.5.1 Command unrecognized\r\n";
static const char R_NOT_IMPLEMENTED[] =
    "502 5.5.1 Command not implemented\r\n";
static const char R_SYNC[] =
    "554 5.5.0 SMTP synchronization error, closing connection\r\n";
static const char R_TOO_MANY_ERRORS[] =
    "421 4.7.0 Too many errors, closing connection\r\n";
static const char R_SERVER_DOWN[] =
    "421 4.3.0 Service not available, closing connection\r\n";
static const char R_SERVER_LOST[] =
    "421 4.4.2 Connection to mail server lost, closing connection\r\n";
static const char R_TIMEOUT[] =
    "421 4.4.2 Timeout, closing connection\r\n";
static const char R_TOO_BIG[] =
    "552 5.3.4 Message size exceeds fixed maximum message size\r\n";
static const char R_BUSY_IP[] =
    "421 4.7.0 Too many connections from your address, try again later\r\n";
static const char R_SHUTDOWN[] =
    "421 4.3.2 Service shutting down, closing connection\r\n";
static const char R_LOOP[] =
    "421 4.4.6 Mail loop detected, closing connection\r\n";
static const char R_BUSY[] =
    "421 4.3.2 Too many connections, try again later\r\n";

void
session_enter(session_t *s, session_state_t st)
{
	if (log_enabled(LOG_DEBUG) && s->state != st)
		log_event(LOG_DEBUG, "state", "session", s->id, "from",
		    session_state_names[s->state], "to",
		    session_state_names[st], NULL);
	s->state = st;
	switch (st) {
	case SS_PROXY_HDR:
	case SS_TLS_ACCEPT:
	case SS_TLS_HANDSHAKE:
		s->timeout_ms = s->rt->cfg->handshake_timeout_ms;
		break;
	case SS_BODY:
		s->timeout_ms = s->rt->cfg->idle_timeout_ms;
		s->data_deadline_ms = uv_now(&s->px->loop) +
		    s->rt->cfg->data_timeout_ms;
		break;
	case SS_CONNECT:
		s->timeout_ms = s->rt->cfg->connect_timeout_ms;
		break;
	case SS_POLICY_WAIT:
		/* Earlier replies arriving are progress for the idle timeout,
		 * never for this one. */
		s->timeout_ms = s->rt->cfg->idle_timeout_ms;
		s->wait_deadline_ms = uv_now(&s->px->loop) +
		    s->rt->cfg->policy_lookup_timeout_ms;
		break;
	case SS_CLOSING:
		s->timeout_ms = SESSION_LINGER_MS;
		break;
	default:
		s->timeout_ms = s->rt->cfg->idle_timeout_ms;
		break;
	}
	s->active_ms = uv_now(&s->px->loop);
	/* The timer may be set for a longer deadline of the last state. A
	 * body keeps its own clock: trickled bytes are progress for the idle
	 * timeout, never for data_timeout. */
	if (!s->timer_closing) {
		uint64_t ms = s->timeout_ms;

		if (st == SS_BODY && s->rt->cfg->data_timeout_ms < ms)
			ms = s->rt->cfg->data_timeout_ms;
		if (st == SS_POLICY_WAIT &&
		    s->rt->cfg->policy_lookup_timeout_ms < ms)
			ms = s->rt->cfg->policy_lookup_timeout_ms;
		uv_timer_start(&s->timer, session_timer_cb, ms, 0);
	}
}

/* Pending replies ------------------------------------------------------ */

static pend_t *
session_pend_head(session_t *s)
{
	return s->pcount ? &s->pend[s->phead] : NULL;
}

/*
 * Callers leave room: commands are parsed only while two places are free,
 * one for the command and one for a command the proxy adds (RSET, QUIT).
 */
void
session_pend_push(session_t *s, pend_kind_t kind, int step, const char *reply)
{
	pend_t *p = &s->pend[(s->phead + s->pcount) % SESSION_PIPELINE_MAX];

	if (s->pcount >= SESSION_PIPELINE_MAX) {
		/* A broken invariant must not overwrite a pending reply. */
		session_close(s, CR_INTERNAL, "pending reply queue overflow", 0);
		return;
	}
	p->kind = kind;
	p->step = step;
	p->reply = reply;
	s->pcount++;
}

static void
session_pend_pop(session_t *s)
{
	s->phead = (s->phead + 1) % SESSION_PIPELINE_MAX;
	s->pcount--;
}

void
session_reply(session_t *s, const char *text)
{
	conn_write_str(s->client, text);
	s->last_code = (text[0] - '0') * 100 + (text[1] - '0') * 10 +
	    (text[2] - '0');
	STATS_INC(s->st->replies[stats_code_index(s->last_code)]);
}

void
session_tls_done(session_t *s, const SSL *ssl)
{
	int v = stats_version_index(SSL_get_version(ssl));
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	uint64_t now = uv_now(&s->px->loop);

	STATS_INC(s->st->tls[TLSEV_SUCCEEDED]);
	if (SSL_session_reused(ssl))
		STATS_INC(s->st->tls_resumed);
	if (v >= 0 && c != NULL)
		STATS_INC(s->st->tls_sessions[v][stats_cipher_index(
		    SSL_CIPHER_get_name(c))]);
	if (s->hs_start_ms != 0)
		stats_hs_observe(s->st, (now - s->hs_start_ms) * 1000);
}

void
session_client_starttls(session_t *s, SSL_CTX *ctx)
{
	size_t discarded = 0;

	session_reply(s, "220 2.0.0 Ready to start TLS\r\n");
	conn_flush(s->client);
	STATS_INC(s->st->tls[TLSEV_ATTEMPTED]);
	s->hs_start_ms = uv_now(&s->px->loop);
	if (ctx == NULL || conn_start_tls(s->client, ctx, CONN_TLS_SERVER, NULL,
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
	session_enter(s, SS_TLS_HANDSHAKE);
}

void
session_tls_failed(session_t *s, tls_fail_t why)
{
	STATS_INC(s->st->tls[TLSEV_FAILED]);
	STATS_INC(s->st->tls_fail[why]);
}

/*
 * A reply to a client command has left. 4xx and 5xx count toward
 * max_errors (counts: the proxy's refusals of bad commands always, other
 * replies as the direction says); at the limit the client gets 421 4.7.0
 * and the session closes. Returns -1 if it closed.
 */
static int
session_count_reply(session_t *s, int code, int counts)
{
	if (!counts || code < 400 || s->state == SS_CLOSING)
		return 0;
	if (++s->errors < s->rt->cfg->max_errors)
		return 0;
	session_reply(s, R_TOO_MANY_ERRORS);
	session_close(s, CR_LIMIT, "too many errors", 1);
	return -1;
}

/* Emits the proxy's own replies that have reached the head of the FIFO. */
void
session_pend_run(session_t *s)
{
	pend_t *p;

	while ((p = session_pend_head(s)) != NULL && s->state != SS_CLOSING) {
		switch (p->kind) {
		case PEND_LOCAL: {
			/* step: a refused command, always an error */
			int counts = p->step || s->dir->count_server_errors;

			session_reply(s, p->reply);
			session_pend_pop(s);
			if (session_count_reply(s, s->last_code, counts) == -1)
				return;
			break;
		}
		case PEND_LOCAL_CLOSE:
			session_reply(s, p->reply);
			session_pend_pop(s);
			session_close(s, p->reply[0] == '4' ? CR_LIMIT :
			    CR_PROTOCOL, p->reply, 1);
			return;
		case PEND_STARTTLS:
			session_pend_pop(s);
			s->dir->starttls_go(s);
			return;
		default:
			return;
		}
	}
}

void
session_local(session_t *s, const char *reply)
{
	session_pend_push(s, PEND_LOCAL, 0, reply);
	session_pend_run(s);
}

void
session_error(session_t *s, const char *reply)
{
	session_pend_push(s, PEND_LOCAL, 1, reply);
	session_pend_run(s);
}

void
session_forward(session_t *s, const smtp_cmd_info_t *ci, const uint8_t *text,
    pend_kind_t kind)
{
	size_t cap = ci->arg_off + ci->arg_len + 2, n;
	uint8_t *dst = conn_reserve(s->server, cap);

	if (dst == NULL || (n = smtp_cmd_canon(text, ci, dst, cap)) == 0) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return;
	}
	conn_commit(s->server, n);
	session_pend_push(s, kind, 0, NULL);
}

/* Server replies ------------------------------------------------------- */

/*
 * A server broke the reply protocol: a malformed line, mixed codes in one
 * reply, a bare LF, a reply nobody asked for. What it sent can no longer
 * be paired with the commands, so nothing more of it is relayed: the
 * client gets 421 4.4.2 (not a shifted reply) and the session closes.
 */
static void
session_server_broken(session_t *s, const char *why)
{
	log_event(LOG_WARN, "server_protocol_error", "session", s->id,
	    "server", s->dest_str, "error", why, NULL);
	if (s->last_code != 421)
		session_reply(s, R_SERVER_LOST);
	session_close(s, CR_SERVER_ERROR, why, 1);
}

/* Writes a reply line's canonical form to dst (room: len + 2): the text
 * with control octets turned into SP, so it cannot split or hide a line on
 * the other side, then CRLF. */
static void
session_canon_line(uint8_t *dst, const uint8_t *text, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (text[i] < 0x20 || text[i] == 0x7f) ? ' ' : text[i];
	memcpy(dst + len, "\r\n", 2);
}

/*
 * Appends one reply line to s->ehlo in canonical form: the code, the mark
 * and the text with control octets turned into SP, then CRLF. A reply that
 * is read, not only relayed (whole: EHLO capabilities, the direction's own
 * steps) must fit SMTP_EHLO_REPLY_MAX, or it is a server error: dropping a
 * line could drop STARTTLS. Of other replies, lines that do not fit are
 * dropped, but the room of one line of SMTP_REPLY_LINE_MAX is always kept
 * for the last line, so a shortened reply keeps its code and its end.
 * Returns 0, or -1 when the session closed.
 */
static int
session_gather(session_t *s, const uint8_t *text, size_t len, int last,
    int whole)
{
	if (s->ehlo == NULL && (s->ehlo = malloc(SMTP_EHLO_REPLY_MAX)) == NULL) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return -1;
	}
	if (whole && s->ehlo_len + len + 2 > SMTP_EHLO_REPLY_MAX) {
		session_ehlo_reset(s);
		session_server_broken(s, "reply too long");
		return -1;
	}
	if (!whole && !last && s->ehlo_len + len + 2 >
	    SMTP_EHLO_REPLY_MAX - SMTP_REPLY_LINE_MAX)
		return 0;
	session_canon_line(s->ehlo + s->ehlo_len, text, len);
	s->ehlo_len += len + 2;
	return 0;
}

/* Relays the gathered EHLO reply in the canonical form smtp_ehlo_rewrite
 * builds; one it cannot rebuild is never relayed. */
void
session_ehlo_relay(session_t *s, unsigned flags)
{
	uint8_t out[2 * SMTP_EHLO_REPLY_MAX + 16];
	size_t outlen;
	smtp_words_t extra = { s->lc->allow_commands,
		(size_t)s->lc->nallow_commands };

	if (smtp_ehlo_rewrite(s->ehlo, s->ehlo_len, flags, &extra, out,
	    sizeof(out), &outlen) == -1) {
		session_ehlo_reset(s);
		session_server_broken(s, "EHLO reply not understood");
		return;
	}
	conn_write(s->client, out, outlen);
	s->last_code = 250;
	session_ehlo_reset(s);
}

void
session_ehlo_reset(session_t *s)
{
	free(s->ehlo);
	s->ehlo = NULL;
	s->ehlo_len = 0;
}

/*
 * Relays the gathered EHLO reply to a client that said HELO: one line,
 * "250 " and the text of the first line (RFC 5321 4.1.1.1).
 */
void
session_helo_relay(session_t *s)
{
	const uint8_t *lf = memchr(s->ehlo, '\n', s->ehlo_len);
	size_t n = lf ? (size_t)(lf - s->ehlo) : s->ehlo_len;

	if (n > 0 && s->ehlo[n - 1] == '\r')
		n--;
	if (n >= 4) {
		conn_write(s->client, "250 ", 4);
		conn_write(s->client, s->ehlo + 4, n - 4);
		conn_write(s->client, "\r\n", 2);
	} else
		conn_write(s->client, "250\r\n", 5);
	s->last_code = 250;
	session_ehlo_reset(s);
}

/* A reply is complete: what the command it answers leads to. */
static void
session_reply_done(session_t *s, const pend_t *p, int code)
{
	switch (p->kind) {
	case PEND_GREETING:
		session_enter(s, SS_COMMAND);
		s->dir->greeting_done(s);
		break;
	case PEND_DATA:
		if (code == 354) {
			smtp_body_init(&s->body);
			s->dir->body_start(s);
			session_enter(s, SS_BODY);
		} else
			session_enter(s, SS_COMMAND);
		break;
	case PEND_EOD:
		if (code >= 200 && code < 300) {
			s->messages++;
			STATS_INC(s->st->messages);
		}
		break;
	case PEND_QUIT:
		session_close(s, CR_QUIT, "quit", 1);
		break;
	case PEND_AUTH:
		session_enter(s, code == 334 ? SS_AUTH : SS_COMMAND);
		break;
	case PEND_INTERNAL:
		s->dir->internal_reply(s, p->step, code);
		break;
	default:
		break;
	}
}

/* Whether a reply is read by the proxy, not only relayed. */
static int
session_read_whole(const pend_t *p, int code)
{
	return p->kind == PEND_INTERNAL ||
	    ((p->kind == PEND_EHLO || p->kind == PEND_HELO) && code == 250);
}

/* Relays a single-line reply in canonical form, as session_gather. */
static void
session_relay_line(session_t *s, const uint8_t *text, size_t len)
{
	uint8_t *dst = conn_reserve(s->client, len + 2);

	if (dst == NULL) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return;
	}
	session_canon_line(dst, text, len);
	conn_commit(s->client, len + 2);
}

/*
 * The last line of a reply is in: hands the reply on as its command
 * wants it. Single-line replies go straight through; multi-line ones were
 * gathered, so a reply leaves whole or not at all.
 */
static void
session_reply_last(session_t *s, const pend_t *p, const smtp_reply_line_t *r,
    const uint8_t *text, size_t len)
{
	int whole = session_read_whole(p, r->code);

	if (whole || s->ehlo_len > 0) {
		if (session_gather(s, text, len, 1, whole) == -1)
			return;
		if (p->kind == PEND_INTERNAL)
			return; /* the direction reads s->ehlo */
		if (p->kind == PEND_EHLO && r->code == 250)
			session_ehlo_relay(s, s->dir->ehlo_flags(s));
		else if (p->kind == PEND_HELO && r->code == 250)
			session_helo_relay(s);
		else {
			conn_write(s->client, s->ehlo, s->ehlo_len);
			session_ehlo_reset(s);
		}
		return;
	}
	session_relay_line(s, text, len);
}

/*
 * Skips the rest of an over-long reply line whose start was relayed
 * shortened. Returns the octets consumed, or (size_t)-1 if the session
 * closed.
 */
static size_t
session_server_skip(session_t *s, const uint8_t *p, size_t n)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t k = lf ? (size_t)(lf - p) + 1 : n;

	s->srv_skipping += k;
	if (lf != NULL)
		s->srv_skipping = 0;
	else if (s->srv_skipping > SESSION_SKIP_MAX) {
		session_server_broken(s, "reply line too long");
		return (size_t)-1;
	}
	return k;
}

static void
session_server_input(session_t *s)
{
	conn_t *c = s->server;
	const uint8_t *data = conn_rdata(c);
	size_t size = conn_rsize(c), off = 0;
	SSL *ssl = c->ssl;

	while (s->state != SS_CLOSING && off < size) {
		size_t linelen, textlen;
		unsigned flags;
		smtp_reply_line_t r;
		const uint8_t *line = data + off;
		pend_t *p, done;
		smtp_line_status_t st;

		if (s->srv_skipping) {
			size_t k = session_server_skip(s, line, size - off);

			if (k == (size_t)-1)
				return;
			off += k;
			conn_consume(c, k);
			continue;
		}
		st = smtp_line_find(line, size - off, SMTP_REPLY_LINE_MAX,
		    &linelen, &textlen, &flags);
		if (st == SMTP_LINE_PARTIAL)
			break;
		if (st == SMTP_LINE_TOO_LONG) {
			/* Shortened, not refused: a 5xx must stay a 5xx. */
			textlen = SMTP_REPLY_LINE_MAX - 2;
			linelen = textlen;
			flags = 0;
			s->srv_skipping = 1;
		}
		if (flags & SMTP_LINE_BARE_LF) {
			session_server_broken(s, "bare LF in reply");
			return;
		}
		if (smtp_reply_line_parse(line, textlen, &r) == -1) {
			session_server_broken(s, "malformed reply line");
			return;
		}
		if (s->reply_code != 0 && r.code != s->reply_code) {
			session_server_broken(s, "reply code changed within a "
			    "reply");
			return;
		}
		p = session_pend_head(s);
		if (p == NULL || p->kind == PEND_LOCAL ||
		    p->kind == PEND_LOCAL_CLOSE || p->kind == PEND_STARTTLS) {
			/* Nothing asked: only a 421 may come (RFC 5321
			 * 3.8), relayed before the server closes. */
			if (r.code != 421) {
				session_server_broken(s, "unsolicited reply");
				return;
			}
			p = NULL;
		}
		off += linelen;
		conn_consume(c, linelen);
		s->reply_code = r.last ? 0 : r.code;
		if (p == NULL) {
			if (session_gather(s, line, textlen, r.last, 0) == -1)
				return;
			if (r.last) {
				conn_write(s->client, s->ehlo, s->ehlo_len);
				session_ehlo_reset(s);
				s->last_code = 421;
				session_close(s, CR_SERVER_CLOSED,
				    "server said 421", 1);
				return;
			}
			continue;
		}
		if (p->kind == PEND_SWALLOW) {
			if (r.last)
				session_pend_pop(s);
			continue;
		}
		if (!r.last) {
			if (session_gather(s, line, textlen, 0,
			    session_read_whole(p, r.code)) == -1)
				return;
			continue;
		}
		session_reply_last(s, p, &r, line, textlen);
		if (s->state == SS_CLOSING)
			return;
		if (p->kind != PEND_INTERNAL)
			s->last_code = r.code;
		done = *p;
		session_pend_pop(s);
		if (done.kind != PEND_INTERNAL && done.kind != PEND_GREETING &&
		    session_count_reply(s, r.code,
		    s->dir->count_server_errors) == -1)
			return;
		session_reply_done(s, &done, r.code);
		if (done.kind == PEND_INTERNAL)
			session_ehlo_reset(s);
		session_pend_run(s);
		/* A step may have replaced or upgraded the leg; what is left
		 * of this read is not to be trusted. */
		if (c != s->server || c->ssl != ssl)
			break;
	}
	if (off > 0)
		s->active_ms = uv_now(&s->px->loop);
}

/* Client commands ------------------------------------------------------ */

/* Whether the listener's allow_commands names the verb. */
static int
session_allowed(const session_t *s, const uint8_t *text,
    const smtp_cmd_info_t *ci)
{
	int i;

	for (i = 0; i < s->lc->nallow_commands; i++) {
		const char *w = s->lc->allow_commands[i];
		size_t k;

		if (strlen(w) != ci->verb_len)
			continue;
		for (k = 0; k < ci->verb_len; k++) {
			uint8_t c = text[k];

			if ((c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c) !=
			    (uint8_t)w[k])
				break;
		}
		if (k == ci->verb_len)
			return 1;
	}
	return 0;
}

/*
 * Handles one complete command line (text without its terminator). Only
 * a line smtp_cmd_parse reads strictly and a verb on the allowlist go on
 * to the direction, which forwards the canonical form.
 */
static void
session_command(session_t *s, const uint8_t *text, size_t len,
    unsigned flags)
{
	smtp_cmd_info_t ci;

	if (flags != 0 || smtp_cmd_parse(text, len, &ci) == -1) {
		session_error(s, R_BAD_LINE);
		return;
	}
	switch (ci.cmd) {
	case SMTP_CMD_XCLIENT:
	case SMTP_CMD_XFORWARD:
		/* Only the proxy may speak for the client's identity. */
		session_error(s, R_NOT_IMPLEMENTED);
		return;
	case SMTP_CMD_EXT:
	case SMTP_CMD_UNKNOWN:
		if (!session_allowed(s, text, &ci)) {
			session_error(s, ci.cmd == SMTP_CMD_EXT ?
			    R_NOT_IMPLEMENTED : R_NOT_RECOGNIZED);
			return;
		}
		break;
	default:
		break;
	}
	s->dir->command(s, &ci, text);
}

void
session_auth(session_t *s, const smtp_cmd_info_t *ci, const uint8_t *text)
{
	session_forward(s, ci, text, PEND_AUTH);
	session_enter(s, SS_AUTH_WAIT);
}

/*
 * One SASL response line (RFC 4954 4): base64 or "*" to cancel, nothing
 * else. It is not a command, so it is not parsed as one; anything that is
 * not base64 is never forwarded: the proxy cancels the exchange for the
 * client ("*"), and the server's answer to that is relayed.
 */
static void
session_auth_response(session_t *s, const uint8_t *text, size_t len,
    unsigned flags)
{
	size_t i;
	int ok = flags == 0;

	for (i = 0; ok && i < len; i++) {
		uint8_t c = text[i];

		ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
	}
	if (len == 1 && text[0] == '*')
		ok = 1;
	if (ok) {
		conn_write(s->server, text, len);
		conn_write(s->server, "\r\n", 2);
	} else
		conn_write_str(s->server, "*\r\n");
	session_pend_push(s, PEND_AUTH, 0, NULL);
	session_enter(s, SS_AUTH_WAIT);
}

/*
 * BDAT, once the direction has let it through: CHUNKING is never offered,
 * since the chunk sizes would have to be tracked through pipelining for no
 * gain over DATA; a client that sends BDAT anyway is out of step.
 */
void
session_bdat(session_t *s)
{
	session_pend_push(s, PEND_LOCAL_CLOSE, 0, R_NO_CHUNKING);
	session_pend_run(s);
}

/*
 * Relays body bytes through the smuggling-safe filter. Past
 * max_message_size the rest is read and dropped; at the client's
 * end-of-data it gets 552 and the session closes, so the server sees its
 * transaction cut off without an end-of-data and delivers nothing.
 */
static void
session_body_input(session_t *s)
{
	conn_t *c = s->client;
	uint64_t max = s->lc->max_message_size;
	size_t used, outlen;
	int done = 0;
	uint8_t *dst = conn_reserve(s->server,
	    SMTP_BODY_OUT_MAX(conn_rsize(c)));

	if (dst == NULL) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return;
	}
	used = smtp_body_filter(&s->body, conn_rdata(c), conn_rsize(c), dst,
	    &outlen, &done);
	conn_consume(c, used);
	s->active_ms = uv_now(&s->px->loop);
	if (max != 0 && s->body.octets > max + 3)
		s->body_over = 1; /* 3: the end-of-data line's ".\r\n" */
	if (!s->body_over)
		conn_commit(s->server, outlen);
	if (!done)
		return;
	if (s->body.nuls > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%llu", (unsigned long long)s->body.nuls);
		log_event(LOG_WARN, "body_nul_removed", "session", s->id,
		    "client", s->peer, "octets", n, NULL);
	}
	if (s->body_over) {
		session_reply(s, R_TOO_BIG);
		session_close(s, CR_LIMIT, "message too big", 1);
		return;
	}
	session_pend_push(s, PEND_EOD, 0, NULL);
	session_enter(s, SS_COMMAND);
}

/*
 * The same relay without a copy, for a TLS client leg: decrypts straight
 * into the server leg's output and keeps there the prefix that
 * smtp_body_pass finds unchanged (well-formed lines, the common case); the
 * rest goes back as unread input for session_body_input. Only when the read
 * buffer is empty, so the order of the body is kept. Returns the plaintext
 * octets taken from TLS.
 */
static size_t
session_body_direct(session_t *s)
{
	conn_t *c = s->client;
	uint64_t max = s->lc->max_message_size;
	uint8_t *dst;
	size_t n, k;

	if (s->state != SS_BODY || c->ssl == NULL || s->body_over ||
	    conn_rsize(c) != 0 ||
	    (dst = conn_reserve(s->server, CONN_RBUF_SIZE)) == NULL ||
	    (n = conn_fill_to(c, dst, CONN_RBUF_SIZE)) == 0)
		return 0;
	k = smtp_body_pass(&s->body, dst, n);
	s->active_ms = uv_now(&s->px->loop);
	if (max != 0 && s->body.octets > max + 3)
		s->body_over = 1;
	if (!s->body_over)
		conn_commit(s->server, k);
	conn_unread(c, dst + k, n - k);
	return n;
}

static void
session_client_input(session_t *s)
{
	conn_t *c = s->client;

	while (conn_rsize(c) > 0 && s->state != SS_CLOSING &&
	    !s->hold_client) {
		size_t linelen, textlen;
		unsigned flags;
		const uint8_t *line;
		smtp_line_status_t st;

		switch (s->state) {
		case SS_CONNECT:
		case SS_GREETING:
		case SS_DATA_WAIT:
			/* Talking before being asked to (RFC 5321 4.3.1;
			 * RFC 2920 3.1): pipelining abuse or a spam bot.
			 * The bytes are never forwarded; the reply owed
			 * for the banner or DATA is moot once we close. */
			conn_consume(c, conn_rsize(c));
			session_reply(s, R_SYNC);
			session_close(s, CR_PROTOCOL, "synchronization error", 1);
			return;
		case SS_BODY:
			session_body_input(s);
			continue;
		case SS_PROXY_HDR:
			s->dir->proxy_header(s);
			if (s->state == SS_PROXY_HDR)
				return;
			continue;
		case SS_COMMAND:
		case SS_AUTH:
			break;
		default:
			return;
		}
		if (s->quit || s->pcount + 2 > SESSION_PIPELINE_MAX)
			return;
		if (s->skipping) {
			const uint8_t *p = conn_rdata(c);
			const uint8_t *lf = memchr(p, '\n', conn_rsize(c));
			size_t n = lf ? (size_t)(lf - p) + 1 : conn_rsize(c);
			conn_consume(c, n);
			s->skipping += n;
			if (lf != NULL)
				s->skipping = 0;
			else if (s->skipping > SESSION_SKIP_MAX)
				session_close(s, CR_PROTOCOL, "line too long", 0);
			continue;
		}
		line = conn_rdata(c);
		st = smtp_line_find(line, conn_rsize(c), SMTP_CMD_LINE_MAX,
		    &linelen, &textlen, &flags);
		if (st == SMTP_LINE_PARTIAL)
			return;
		if (st == SMTP_LINE_TOO_LONG) {
			s->skipping = 1;
			if (s->state == SS_AUTH) /* no SASL response: cancel */
				session_auth_response(s, line, 0, SMTP_LINE_NUL);
			else
				session_error(s, R_TOO_LONG);
			continue;
		}
		/* Consumed first: STARTTLS discards what follows the line. */
		conn_consume(c, linelen);
		s->active_ms = uv_now(&s->px->loop);
		if (s->state == SS_AUTH)
			session_auth_response(s, line, textlen, flags);
		else
			session_command(s, line, textlen, flags);
	}
}

/* The pump ------------------------------------------------------------- */

/*
 * The handshake under way is the client leg's. Both legs may carry TLS
 * (an outbound listener with listen_tls: the device's leg, then the
 * relay's), but one handshake runs at a time, and a leg whose handshake is
 * done is not the one.
 */
static int
session_client_hs(const session_t *s)
{
	return s->client->ssl != NULL && !s->client->handshake_done;
}

/* Reading resumes and pauses here, from state and the other leg's queue. */
static void
session_update_reads(session_t *s)
{
	int cr = 0;

	switch (s->state) {
	case SS_PROXY_HDR:
	case SS_TLS_ACCEPT:
	case SS_TLS_HANDSHAKE:
	case SS_CONNECT:
	case SS_GREETING:
	case SS_DATA_WAIT:
		cr = 1;
		break;
	case SS_COMMAND:
		/* Replies the client does not read pause it too. */
		cr = !s->quit && s->pcount + 2 <= SESSION_PIPELINE_MAX &&
		    conn_pending(s->server) < CONN_WQ_HIGH &&
		    conn_pending(s->client) < CONN_WQ_HIGH;
		break;
	case SS_BODY:
		cr = conn_pending(s->server) < CONN_WQ_HIGH;
		break;
	case SS_AUTH:
		cr = conn_pending(s->client) < CONN_WQ_HIGH;
		break;
	default:
		break;
	}
	/* Only a client leg that is itself in its handshake is read then. */
	if (s->state == SS_TLS_HANDSHAKE && !session_client_hs(s))
		cr = 0;
	if (s->hold_client)
		cr = 0;
	conn_set_read(s->client, cr && !s->client_eof);
	conn_set_read(s->server, s->state != SS_CLOSING &&
	    s->server->connected && conn_pending(s->client) < CONN_WQ_HIGH);
}

static void session_client_event(conn_t *c, conn_event_t ev);
static void session_server_event(conn_t *c, conn_event_t ev);

void
session_kick(session_t *s)
{
	session_pump(s);
}

static void
session_pump(session_t *s)
{
	size_t more;

	do {
		if (s->state == SS_CLOSING)
			return;
		if (s->server->connected)
			session_server_input(s);
		if (s->state == SS_CLOSING)
			return;
		session_client_input(s);
		if (s->state == SS_CLOSING)
			return;
		/* Body straight into the backend's output while that path
		 * takes it; only then does the client's plaintext go through
		 * its read buffer (and the filter's copy). */
		if ((more = session_body_direct(s)) == 0)
			more = conn_fill(s->client);
		more += conn_fill(s->server);
	} while (more > 0);

	if (s->client_eof && s->pcount == 0) {
		session_close(s, CR_CLIENT_CLOSED, "client closed", 1);
		return;
	}
	/* A reply still owed will carry what TLS alone would send now (a
	 * session ticket), in the same segment. */
	if (s->pcount > 0)
		conn_flush_data(s->client);
	else
		conn_flush(s->client);
	conn_flush(s->server);
	/* Everything consumed is done with: idle legs hold no buffers. */
	conn_trim(s->client);
	conn_trim(s->server);
	if (s->client->failed) {
		session_close(s, CR_CLIENT_ERROR, s->client->err, 0);
		return;
	}
	if (s->shutdown && s->state == SS_COMMAND && s->pcount == 0) {
		/* Shutting down: at a command boundary, nothing in flight. */
		session_reply(s, R_SHUTDOWN);
		session_close(s, CR_SHUTDOWN, "shutdown", 1);
		return;
	}
	if (s->server->failed) {
		if (s->last_code != 421)
			session_reply(s, R_SERVER_LOST);
		session_close(s, CR_SERVER_ERROR, s->server->err, 1);
		return;
	}
	session_update_reads(s);
	/* An end of stream that conn_fill met (a close_notify behind the
	 * data) has no read event of its own. */
	if (conn_take_eof(s->client))
		session_client_event(s->client, CONN_EV_EOF);
	else if (conn_take_eof(s->server))
		session_server_event(s->server, CONN_EV_EOF);
}

/* Teardown ------------------------------------------------------------- */

static void session_timer_close_cb(uv_handle_t *h);

static void
session_timer_stop(session_t *s)
{
	if (!s->timer_closing) {
		s->timer_closing = 1;
		uv_close((uv_handle_t *)&s->timer, session_timer_close_cb);
	}
}

static void
session_handle_closed(session_t *s)
{
	/* Both legs gone: the linger timer has nothing left to wait for. */
	if (--s->handles == 1 && !s->timer_closing)
		session_timer_stop(s);
	if (s->handles > 0)
		return;
	atomic_fetch_sub(&s->px->nsessions, 1);
	atomic_fetch_sub(&s->px->sh->nsessions, 1);
	if (s->ip_counted) {
		uv_mutex_lock(&s->px->sh->iplock);
		ipcount_del(&s->px->sh->ipcount, &s->ipkey);
		uv_mutex_unlock(&s->px->sh->iplock);
	}
	session_loop_forget(s);
	/* Off the worker's list. */
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->px->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->dir->release(s);
	free(s->dirstate);
	runtime_unref(s->rt);
	free(s->alt);
	free(s->ehlo);
	free(s->client);
	free(s->server);
	free(s);
}

static void
session_timer_close_cb(uv_handle_t *h)
{
	session_handle_closed(h->data);
}

/* One closing line per session: peers, TLS, volume, duration, reason. */
static void
session_log_close(session_t *s, uint64_t bytes_out)
{
	/* The TLS leg: the client's if it has one, else the server's (an
	 * outbound listen_tls session has both: its log_close says which). */
	const SSL *ssl = s->client->ssl != NULL ? s->client->ssl :
	    s->server->ssl;
	const char *sni = NULL;
	session_logf_t f;

	f.tls = "none";
	f.cipher = "-";
	if (ssl != NULL && s->tls) {
		f.tls = tls_version_name(ssl);
		f.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
		sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	}
	f.sni = sni != NULL ? sni : "-";
	snprintf(f.dur, sizeof(f.dur), "%llu", (unsigned long long)
	    (uv_now(&s->px->loop) - s->start_ms));
	snprintf(f.msgs, sizeof(f.msgs), "%u", s->messages);
	snprintf(f.bytes_in, sizeof(f.bytes_in), "%llu",
	    (unsigned long long)s->client->bytes_in);
	snprintf(f.bytes_out, sizeof(f.bytes_out), "%llu",
	    (unsigned long long)bytes_out);
	s->dir->log_close(s, &f);
}

/*
 * The one teardown. graceful: let queued replies reach the client (bounded
 * by SESSION_LINGER_MS); otherwise drop both legs now. Idempotent.
 */
/*
 * session_tls_leg_reason: cr is an error or close of the leg that is doing
 * the handshake (the client's inbound, the server's outbound), so ending
 * the session on it is a handshake failure. The other leg going away in the
 * meantime (a backend closing while a client negotiates) is not.
 */
static int
session_tls_leg_reason(const session_t *s, close_reason_t cr)
{
	if (session_client_hs(s))
		return cr == CR_CLIENT_ERROR || cr == CR_CLIENT_CLOSED;
	return cr == CR_SERVER_ERROR || cr == CR_SERVER_CLOSED;
}

void
session_close(session_t *s, close_reason_t cr, const char *detail,
    int graceful)
{
	size_t n = strlen(detail);
	uint64_t out;

	if (s->state == SS_CLOSING)
		return;
	/* A reply text as the detail: without its CRLF. */
	if (n >= 2 && detail[n - 2] == '\r')
		n -= 2;
	snprintf(s->reason, sizeof(s->reason), "%.*s", (int)n, detail);
	s->dir->release(s);
	if ((s->state == SS_TLS_ACCEPT || s->state == SS_TLS_HANDSHAKE) &&
	    session_tls_leg_reason(s, cr)) {
		session_tls_failed(s, TLSF_HANDSHAKE);
		cr = CR_TLS_FAILED;
	}
	/* The last replies count in the totals: they are sent (with the
	 * close_notify, in one write). */
	out = s->client->bytes_out + (graceful ? conn_unsent(s->client) : 0);
	STATS_INC(s->st->ended[cr]);
	STATS_ADD(s->st->bytes_c2s, s->client->bytes_in);
	STATS_ADD(s->st->bytes_s2c, out);
	session_enter(s, SS_CLOSING);
	session_log_close(s, out);
	if (graceful) {
		conn_close_after_flush(s->client);
		conn_close_after_flush(s->server);
	} else {
		conn_close(s->client);
		conn_close(s->server);
		if (s->retired != NULL)
			conn_close(s->retired);
		session_timer_stop(s);
	}
}

static void
session_timer_cb(uv_timer_t *t)
{
	session_t *s = t->data;
	uint64_t now = uv_now(&s->px->loop);
	uint64_t due = s->active_ms + s->timeout_ms;

	if (s->state == SS_BODY && s->data_deadline_ms < due)
		due = s->data_deadline_ms;
	if (s->state == SS_POLICY_WAIT && s->wait_deadline_ms < due)
		due = s->wait_deadline_ms;
	if (now < due) {
		uv_timer_start(&s->timer, session_timer_cb, due - now, 0);
		return;
	}
	switch (s->state) {
	case SS_CLOSING:
		/* Linger over: whatever is still queued is dropped. */
		conn_close(s->client);
		conn_close(s->server);
		if (s->retired != NULL)
			conn_close(s->retired);
		session_timer_stop(s);
		return;
	case SS_PROXY_HDR:
		session_close(s, CR_TIMEOUT, "PROXY header timeout", 0);
		return;
	case SS_TLS_ACCEPT:
		session_tls_failed(s, TLSF_TIMEOUT);
		session_close(s, CR_TLS_FAILED, "tls handshake timeout", 0);
		return;
	case SS_TLS_HANDSHAKE:
		session_tls_failed(s, TLSF_TIMEOUT);
		if (session_client_hs(s)) {
			/* The client's handshake: no reply can reach it. */
			session_close(s, CR_TLS_FAILED, "tls handshake timeout", 0);
			return;
		}
		/* The server's: the client is owed a temporary failure. */
		conn_close(s->server);
		if (s->dir->server_failed(s)) {
			conn_flush(s->client);
			conn_flush(s->server);
			break;
		}
		session_reply(s, R_TIMEOUT);
		session_close(s, CR_TLS_FAILED, "tls handshake timeout", 1);
		break;
	case SS_CONNECT:
		STATS_INC(s->st->connect_failed);
		if (session_connect_next(s, "connect timeout"))
			break;
		session_reply(s, R_SERVER_DOWN);
		session_close(s, CR_CONNECT_FAILED, "connect timeout", 1);
		break;
	case SS_POLICY_WAIT:
		if (now >= s->wait_deadline_ms) {
			s->dir->wait_timeout(s);
			session_pump(s);
			if (s->state == SS_POLICY_WAIT)
				session_close(s, CR_INTERNAL,
				    "policy wait not ended", 0);
			return;
		}
		session_reply(s, R_TIMEOUT);
		session_close(s, CR_TIMEOUT, "timeout", 1);
		break;
	default:
		session_reply(s, R_TIMEOUT);
		/* Mid-body the server's transaction is cut off, no
		 * end-of-data: nothing is delivered. */
		session_close(s, CR_TIMEOUT, s->state == SS_BODY ?
		    "data timeout" :
		    "timeout", 1);
		break;
	}
	if (!s->timer_closing)
		uv_timer_start(&s->timer, session_timer_cb, s->timeout_ms, 0);
}

/* Events --------------------------------------------------------------- */

static void
session_client_event(conn_t *c, conn_event_t ev)
{
	session_t *s = c->owner;

	if (ev == CONN_EV_CLOSED) {
		session_handle_closed(s);
		return;
	}
	if (s->state == SS_CLOSING)
		return;
	switch (ev) {
	case CONN_EV_HANDSHAKE_DONE:
		s->tls = 1;
		session_tls_done(s, c->ssl);
		s->dir->client_tls_done(s);
		break;
	case CONN_EV_EOF:
		if (s->state == SS_BODY || s->pcount == 0) {
			/* A body the client did not end is never ended for it. */
			session_close(s, s->state == SS_BODY ?
			    CR_CLIENT_CLOSED_DATA : CR_CLIENT_CLOSED,
			    s->state == SS_BODY ?
			    "client closed in DATA" : "client closed", 0);
			return;
		}
		s->client_eof = 1;
		break;
	case CONN_EV_ERROR:
		session_close(s, CR_CLIENT_ERROR, c->err, 0);
		return;
	default:
		break;
	}
	session_pump(s);
}

static void
session_server_event(conn_t *c, conn_event_t ev)
{
	session_t *s = c->owner;

	/* A slow server taking our bytes is progress: the client that waits
	 * on it is not idle. */
	if (ev == CONN_EV_DRAINED)
		s->active_ms = uv_now(&s->px->loop);

	if (ev == CONN_EV_CLOSED) {
		if (c == s->retired) {
			/* A replaced server leg (outbound plaintext retry,
			 * inbound's plaintext part after STARTTLS). Its close
			 * counts like any other handle's: libuv runs close
			 * callbacks last-closed-first, so when the session is
			 * torn down in the replacement's own loop turn this one
			 * comes after the legs' and the timer's and must free
			 * it. */
			s->retired = NULL;
			free(c);
			session_handle_closed(s);
			return;
		}
		session_loop_forget(s);   /* the leg's port may be reused now */
		session_handle_closed(s);
		return;
	}
	if (s->state == SS_CLOSING || c != s->server)
		return;
	switch (ev) {
	case CONN_EV_CONNECTED:
		free(s->alt);
		s->alt = NULL;
		s->nalt = 0;
		if (s->dir->server_connected(s))
			break;
		if (s->state == SS_CLOSING)
			return;
		session_pend_push(s, PEND_GREETING, 0, NULL);
		session_enter(s, SS_GREETING);
		break;
	case CONN_EV_CONNECT_FAILED:
		STATS_INC(s->st->connect_failed);
		if (session_connect_next(s, c->err))
			return;
		log_event(LOG_WARN, "connect_failed", "session", s->id,
		    "server", s->dest_str, "error", c->err, NULL);
		session_reply(s, R_SERVER_DOWN);
		session_close(s, CR_CONNECT_FAILED, c->err, 1);
		return;
	case CONN_EV_HANDSHAKE_DONE:
		s->tls = 1;
		session_tls_done(s, c->ssl);
		s->dir->server_tls_done(s);
		break;
	case CONN_EV_EOF:
	case CONN_EV_ERROR:
		if (c->ssl != NULL && !c->handshake_done &&
		    s->dir->server_failed(s))
			break;
		session_server_input(s);
		if (s->state == SS_CLOSING)
			return;
		if (s->last_code != 421)
			session_reply(s, R_SERVER_LOST);
		session_close(s, ev == CONN_EV_EOF ? CR_SERVER_CLOSED :
		    CR_SERVER_ERROR, ev == CONN_EV_EOF ? "server closed" :
		    c->err, 1);
		return;
	default:
		break;
	}
	session_pump(s);
}

/*
 * session_connect_server opens the server leg to addr. On failure the
 * client gets 421 and the session closes.
 */
void
session_connect_server(session_t *s, const struct sockaddr *addr,
    uint32_t mark)
{
	session_enter(s, SS_CONNECT);
	STATS_INC(s->st->server_connects);
	if (session_loop_connect(s, addr, mark) == -1) {
		session_reply(s, R_SERVER_DOWN);
		session_close(s, CR_CONNECT_FAILED, s->server->err, 1);
	}
}

void
session_connect_addrs(session_t *s, const struct sockaddr_storage *addrs,
    size_t n, uint32_t mark)
{
	free(s->alt);
	s->alt = NULL;
	s->nalt = 0;
	if (n > SESSION_ADDRS_MAX)
		n = SESSION_ADDRS_MAX;
	/* Without memory for the others, the first is still tried. */
	if (n > 1 && (s->alt = malloc((n - 1) * sizeof(*addrs))) != NULL) {
		memcpy(s->alt, addrs + 1, (n - 1) * sizeof(*addrs));
		s->nalt = (unsigned)(n - 1);
		s->alt_mark = mark;
	}
	memcpy(&s->dest, &addrs[0], sizeof(s->dest));
	session_connect_server(s, (const struct sockaddr *)&s->dest, mark);
}

/*
 * The server leg's connect failed (why) before anything was said on it:
 * the next address of the name, if there is one (session_connect_addrs).
 * The failed leg is closed at once. Returns 1 when the next one is being
 * dialled, 0 when the caller fails the session as before.
 */
static int
session_connect_next(session_t *s, const char *why)
{
	char failed[64], next[64];

	if (s->nalt == 0 || session_new_server(s) == -1)
		return 0;
	conn_close(s->retired);
	addr_format((const struct sockaddr *)&s->dest, failed, sizeof(failed));
	memcpy(&s->dest, &s->alt[0], sizeof(s->dest));
	memmove(&s->alt[0], &s->alt[1], --s->nalt * sizeof(s->alt[0]));
	addr_format((const struct sockaddr *)&s->dest, next, sizeof(next));
	log_event(LOG_WARN, "connect_failed", "session", s->id, "server",
	    s->dest_str, "addr", failed, "error", why, "next", next, NULL);
	session_connect_server(s, (const struct sockaddr *)&s->dest,
	    s->alt_mark);
	return 1;
}

int
session_new_server(session_t *s)
{
	conn_t *n;

	if (s->retired != NULL || (n = malloc(sizeof(*n))) == NULL)
		return -1;
	if (conn_init(n, &s->px->loop, s, session_server_event,
	    s->px->scratch, &s->px->pool) == -1) {
		free(n);
		return -1;
	}
	s->retired = s->server;
	s->server = n;
	s->reply_code = 0;
	s->srv_skipping = 0;
	s->handles++;
	conn_close_after_flush(s->retired);
	return 0;
}

/*
 * Records the peer's address: the client's, until a PROXY header says.
 * Returns -1 when the socket cannot tell (a client that reset right after
 * the accept): without an address no per-address limit or loop check could
 * apply, so such a session is not served.
 */
static int
session_set_peer(session_t *s)
{
	int len = sizeof(s->client_addr);

	if (uv_tcp_getpeername(&s->client->tcp,
	    (struct sockaddr *)&s->client_addr, &len) != 0)
		return -1;
	len = sizeof(s->client_local);
	if (uv_tcp_getsockname(&s->client->tcp,
	    (struct sockaddr *)&s->client_local, &len) != 0)
		return -1;
	addr_format((struct sockaddr *)&s->client_addr, s->peer,
	    sizeof(s->peer));
	return 0;
}

int
session_original_dst(session_t *s, struct sockaddr_storage *ss)
{
	uv_os_fd_t fd;
	socklen_t len = sizeof(*ss);
	int r;

	if (uv_fileno((uv_handle_t *)&s->client->tcp, &fd) != 0)
		return -1;
	if (s->client_local.ss_family == AF_INET6)
		r = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, ss, &len);
	else
		r = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, ss, &len);
	return r == 0 ? 0 : -1;
}

/* Turns a session away before any server connection is made. */
static void
session_refuse(session_t *s, const char *reply, close_reason_t cr,
    const char *why)
{
	/* An implicit-TLS client could not read a plaintext reply. */
	if (!s->dir->implicit_tls(s))
		session_reply(s, reply);
	session_close(s, cr, why, 1);
}

void
session_admit(session_t *s)
{
	uint32_t n;

	log_event(LOG_INFO, "session_open", "session", s->id, "listener",
	    s->lc->name, "client", s->peer, NULL);
	/* Inbound-only keys: 0 on an outbound listener. */
	if (s->lc->max_sessions_per_ip > 0 &&
	    ipcount_key((struct sockaddr *)&s->client_addr, &s->ipkey) == 0) {
		uv_mutex_lock(&s->px->sh->iplock);
		n = ipcount_add(&s->px->sh->ipcount, &s->ipkey);
		uv_mutex_unlock(&s->px->sh->iplock);
		if (n == 0) {
			session_refuse(s, R_BUSY, CR_INTERNAL, "out of memory");
			return;
		}
		s->ip_counted = 1;
		if (n > s->lc->max_sessions_per_ip) {
			session_refuse(s, R_BUSY_IP, CR_LIMIT,
			    "max_sessions_per_ip");
			return;
		}
	}
	s->dir->start(s);
}

void
session_shutdown_all(proxy_t *px, int force)
{
	session_t *s, *next;

	for (s = px->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == SS_CLOSING)
			continue;
		if (force || s->state == SS_BODY || s->state == SS_TLS_ACCEPT ||
		    s->state == SS_PROXY_HDR || s->state == SS_TLS_HANDSHAKE) {
			/* No end-of-data: the message is not half-delivered,
			 * it is not delivered. */
			session_close(s, CR_SHUTDOWN, "shutdown", 0);
			continue;
		}
		s->shutdown = 1;
		session_pump(s);
	}
}

void
session_accept(listener_t *l)
{
	proxy_t *px = l->px;
	session_t *s;
	int peer_ok, server_ok = 1;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto err0;
	if ((s->client = malloc(sizeof(*s->client))) == NULL ||
	    (s->server = malloc(sizeof(*s->server))) == NULL)
		goto err1;
	s->px = px;
	s->rt = runtime_ref(px->rt);
	s->lc = &s->rt->cfg->listeners[l->idx];
	/* The one place a listener's direction is looked at. */
	s->dir = s->lc->dir == DIR_INBOUND ? &inbound_dir : &outbound_dir;
	s->tls_ctx = s->rt->tls[l->idx];
	s->st = &px->stats->l[s->rt->slot[l->idx]];
	snprintf(s->id, sizeof(s->id), "%02x%014llx", px->id & 0xff,
	    (unsigned long long)++px->next_sid);
	s->start_ms = uv_now(&px->loop);
	snprintf(s->reason, sizeof(s->reason), "-");
	s->timer_closing = 1; /* not yet initialised */
	if (conn_init(s->client, &px->loop, s, session_client_event,
	    px->scratch, &px->pool) == -1) {
		runtime_unref(s->rt);
		goto err1;
	}
	atomic_fetch_add(&px->nsessions, 1);
	atomic_fetch_add(&px->sh->nsessions, 1);
	if ((s->next = px->sessions) != NULL)
		s->next->prev = s;
	px->sessions = s;
	s->handles++;
	if (conn_accept(s->client, (uv_stream_t *)&l->tcp) == -1) {
		conn_close(s->client);
		return; /* freed from the close callback */
	}
	STATS_INC(s->st->started);
	peer_ok = session_set_peer(s) == 0;
	uv_timer_init(&px->loop, &s->timer);
	s->timer.data = s;
	s->timer_closing = 0;
	s->handles++;
	/* A server leg that failed to initialise is not a handle to wait for
	 * (conn_close ignores it). */
	if (conn_init(s->server, &px->loop, s, session_server_event,
	    px->scratch, &px->pool) == 0)
		s->handles++;
	else
		server_ok = 0;

	s->state = SS_CONNECT;
	if (!peer_ok) {
		session_close(s, CR_CLIENT_ERROR, "client address unavailable",
		    0);
	} else if (!server_ok) {
		session_close(s, CR_INTERNAL, "server leg setup failed", 0);
	} else if (atomic_load(&px->sh->nsessions) > s->rt->cfg->max_sessions) {
		log_event(LOG_INFO, "session_open", "session", s->id,
		    "listener", s->lc->name, "client", s->peer, NULL);
		session_refuse(s, R_BUSY, CR_LIMIT, "max_sessions");
	} else if (session_loop_seen(s)) {
		session_refuse(s, R_LOOP, CR_LIMIT, "mail loop");
	} else if (s->lc->accept_proxy &&
	    config_cidr_match(s->lc->accept_from, s->lc->naccept_from,
	    (struct sockaddr *)&s->client_addr)) {
		/* The real client comes in the balancer's PROXY header. */
		session_enter(s, SS_PROXY_HDR);
	} else
		session_admit(s);
	if (!s->timer_closing)
		uv_timer_start(&s->timer, session_timer_cb, s->timeout_ms, 0);
	if (s->state != SS_CLOSING)
		session_update_reads(s);
	return;

err1:
	free(s->client);
	free(s->server);
	free(s);
err0:
	log_event(LOG_ERROR, "accept_failed", "error", "out of memory", NULL);
}
