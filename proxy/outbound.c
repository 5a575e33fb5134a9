/*
 * outbound: the legacy server sends mail through the proxy, which upgrades
 * the upstream leg with STARTTLS (TLS in client role) and applies the
 * listener's and each recipient domain's TLS demands.
 *
 * The upgrade, on the legacy server's first EHLO or HELO:
 *   EHLO ->  (STEP_EHLO1: capabilities, not relayed)
 *   STARTTLS -> 220 (STEP_STARTTLS) -> handshake -> checks
 *   EHLO -> relayed to the legacy server with STARTTLS removed (a HELO
 *           gets one 250 line)
 *
 * What must stay true:
 * - The legacy server never sees STARTTLS and never handles TLS.
 * - Bytes the upstream sends after its 220 to STARTTLS are discarded by
 *   conn_start_tls and never read as replies (CVE-2021-38371 class); the
 *   capabilities from before TLS are forgotten.
 * - When a demand cannot be met nothing of the message goes upstream, QUIT
 *   is sent (inside TLS where it exists), and the legacy server gets a 4xx:
 *   421 at session level, 450 per recipient. Never a 5xx, never plaintext.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include "addr.h"
#include "log.h"
#include "policy.h"
#include "session_int.h"
#include "tls.h"

enum {
	STEP_EHLO1,        /* capabilities before TLS */
	STEP_STARTTLS,     /* the upstream's answer to STARTTLS */
	STEP_RETRY_BANNER  /* banner of the plaintext retry connection */
};

static void outbound_retry_plain(session_t *s, const char *why);

static const char R_NO_TLS[] =
    "421 4.7.4 TLS required but not offered by the remote server, "
    "try again later\r\n";
static const char R_TLS_REFUSED[] =
    "421 4.7.4 TLS required but refused by the remote server, "
    "try again later\r\n";
static const char R_TLS_FAILED[] =
    "421 4.7.5 TLS handshake with the remote server failed, "
    "try again later\r\n";
static const char R_NOT_VERIFIED[] =
    "421 4.7.5 Remote server certificate not verified, "
    "try again later\r\n";
static const char R_NO_DEST[] =
    "421 4.3.0 No original destination, closing connection\r\n";
static const char R_HELO_LONG[] = "501 5.5.4 EHLO/HELO argument too long\r\n";
static const char R_HELO_FIRST[] = "503 5.5.1 Send EHLO/HELO first\r\n";
static const char R_STARTTLS_LOCAL[] = "454 4.7.0 TLS not available\r\n";
static const char R_AUTH_PLAIN[] =
    "454 4.7.0 AUTH refused: the remote server connection is not "
    "encrypted\r\n";
/* RFC 8689 4.2.1: REQUIRETLS asked of a session where it was not offered
 * is a permanent failure (not 555 or 501), so the legacy server returns
 * the message to its sender instead of retrying it. */
static const char R_NO_MAIL[] = "503 5.5.1 MAIL first\r\n";
static const char R_REQUIRETLS_NOT_OFFERED[] =
    "550 5.7.30 REQUIRETLS support required: not available over this "
    "connection\r\n";
policy_verify_t
outbound_verify(const session_t *s)
{
	if (!s->tls)
		return VERIFY_NONE;
	if (s->dane_ok)
		return VERIFY_VERIFIED;
	if (!s->verified)
		return VERIFY_UNTRUSTED;
	return s->name_ok ? VERIFY_VERIFIED : VERIFY_TRUSTED;
}

static int
outbound_demands_tls(const session_t *s)
{
	/* A relay with secure TLSA records is never used in plaintext. */
	return s->lc->out_tls == OUT_TLS_ENCRYPT ||
	    s->lc->out_tls == OUT_TLS_VERIFY || s->dane_tls;
}

/*
 * Reads the address the legacy server dialled before the REDIRECT rule
 * sent it here. Returns 0 or -1.
 */
static int
outbound_original_dst(session_t *s)
{
	uv_os_fd_t fd;
	struct sockaddr_storage ss, local;
	socklen_t len = sizeof(local);
	int r;

	if (uv_fileno((uv_handle_t *)&s->client->tcp, &fd) != 0)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&local, &len) != 0)
		return -1;
	len = sizeof(ss);
	if (local.ss_family == AF_INET6)
		r = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
	else
		r = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
	if (r != 0)
		return -1;
	addr_format((struct sockaddr *)&ss, s->dest_str, sizeof(s->dest_str));
	/* Without a REDIRECT the "original" destination is the socket's own
	 * local address (whatever the listener was bound to, 0.0.0.0 or [::]
	 * included): connecting there would loop. */
	if (addr_same((struct sockaddr *)&ss, (struct sockaddr *)&local))
		return -1;
	memcpy(&s->dest, &ss, sizeof(ss));
	return 0;
}

static int
outbound_is_ip(const char *host)
{
	struct in6_addr a;

	return inet_pton(AF_INET, host, &a) == 1 ||
	    inet_pton(AF_INET6, host, &a) == 1;
}

static void
outbound_start(session_t *s)
{
	const config_listener_t *lc = s->lc;

	if (lc->out_mode == OUT_MODE_RELAY) {
		snprintf(s->dest_str, sizeof(s->dest_str), "%s:%u",
		    lc->relay.host, lc->relay.port);
		s->dest_name = lc->relay.host;
		/* A name, or relay_dane: lookups first. */
		if (outbound_auth_relay_start(s))
			return;
		memcpy(&s->dest, &lc->relay.addr, lc->relay.addrlen);
	} else if (outbound_original_dst(s) == -1) {
		session_reply(s, R_NO_DEST);
		session_close(s, CR_INTERNAL, "no original destination", 1);
		return;
	} else
		outbound_auth_sni(s);
	session_connect_server(s, (const struct sockaddr *)&s->dest, lc->mark);
}

/* "EHLO name" or "HELO name" toward the upstream. */
static void
outbound_send_helo(session_t *s, const char *verb, pend_kind_t kind, int step)
{
	const char *name = s->lc->helo_name;

	conn_write_str(s->server, verb);
	conn_write(s->server, " ", 1);
	if (name != NULL)
		conn_write_str(s->server, name);
	else
		conn_write(s->server, s->helo_line, s->helo_len);
	conn_write(s->server, "\r\n", 2);
	session_pend_push(s, kind, step, NULL);
}

/* Gives the legacy server the upstream's capabilities (or its HELO line). */
static void
outbound_relay_helo(session_t *s)
{
	outbound_send_helo(s, "EHLO", s->helo_is_ehlo ? PEND_EHLO : PEND_HELO,
	    0);
	session_enter(s, SS_COMMAND);
}

/*
 * A session-level demand failed: QUIT upstream (inside TLS if up), a 421
 * to the legacy server, close.
 */
static void
outbound_fail(session_t *s, const char *reply, const char *why)
{
	log_event(LOG_WARN, "tls_required_failed", "session", s->id,
	    "dest", s->dest_str, "relay", s->dest_name ? s->dest_name : "-",
	    "reason", why, NULL);
	if (!s->server->failed && (s->server->ssl == NULL ||
	    s->server->handshake_done))
		conn_write_str(s->server, "QUIT\r\n");
	s->tls_fail = why;
	session_reply(s, reply);
	session_close(s, CR_TLS_REQUIRED, why, 1);
}

int
outbound_matches(void *arg, const char *name)
{
	return tls_peer_matches(arg, name);
}

/* The legacy server's EHLO or HELO: the upgrade starts here. */
static void
outbound_helo(session_t *s, const smtp_cmd_info_t *ci, const uint8_t *text)
{
	if (ci->arg_len > sizeof(s->helo_line)) {
		session_error(s, R_HELO_LONG);
		return;
	}
	s->helo_is_ehlo = ci->cmd == SMTP_CMD_EHLO;
	/* A new EHLO/HELO ends the transaction and the last offer (the
	 * EHLO reply sets it again). */
	s->requiretls_offered = 0;
	s->tx_requiretls = 0;
	s->tx_refused = 0;
	memcpy(s->helo_line, text + ci->arg_off, ci->arg_len);
	s->helo_len = ci->arg_len;
	if (s->helo_len == 0)
		memcpy(s->helo_line, "localhost", s->helo_len = 9);
	if (s->tls || s->retried || s->tls_fail != NULL ||
	    s->lc->out_tls == OUT_TLS_NONE) {
		/* Upgrade done or not wanted: an ordinary EHLO. */
		outbound_send_helo(s, s->helo_is_ehlo ? "EHLO" : "HELO",
		    s->helo_is_ehlo ? PEND_EHLO : PEND_RELAY, 0);
		return;
	}
	outbound_send_helo(s, "EHLO", PEND_INTERNAL, STEP_EHLO1);
	session_enter(s, SS_UPGRADE);
}

/*
 * MAIL FROM: a REQUIRETLS transaction (RFC 8689) needs REQUIRETLS to have
 * been offered; its RCPTs are then held to an authenticated upstream
 * (outbound_auth_rcpt). The parameter itself goes upstream unchanged.
 * A parameter that cannot be read ("REQUIRETLS=x", an unterminated path)
 * counts as a demand: the proxy never forwards a REQUIRETLS it did not
 * understand as a plain message. Returns 1 when answered.
 */
static int
outbound_mail(session_t *s, const smtp_cmd_info_t *ci, const uint8_t *text)
{
	int rt = smtp_mail_requiretls(text + ci->arg_off, ci->arg_len);

	s->tx_requiretls = rt != 0;
	s->tx_refused = 0;
	if (rt == 0 || s->requiretls_offered)
		return 0;
	log_event(LOG_WARN, "requiretls", "session", s->id, "outcome",
	    "refused", "reason", "not offered", "verify",
	    policy_verify_name(outbound_verify(s)), "dest", s->dest_str,
	    NULL);
	s->tx_requiretls = 0;
	s->tx_refused = 1;
	session_local(s, R_REQUIRETLS_NOT_OFFERED);
	return 1;
}

static void
outbound_command(session_t *s, const smtp_cmd_info_t *ci, const uint8_t *text)
{
	switch (ci->cmd) {
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
		outbound_helo(s, ci, text);
		return;
	case SMTP_CMD_STARTTLS:
		/* Never offered to the legacy server. */
		session_local(s, R_STARTTLS_LOCAL);
		return;
	case SMTP_CMD_AUTH:
		/* Credentials never cross an unencrypted upstream leg. */
		if (!s->tls) {
			session_local(s, R_AUTH_PLAIN);
			return;
		}
		break;
	case SMTP_CMD_MAIL:
	case SMTP_CMD_RCPT:
	case SMTP_CMD_DATA:
	case SMTP_CMD_BDAT:
	case SMTP_CMD_VRFY:
	case SMTP_CMD_EXPN:
		/* No EHLO, no upgrade: a TLS demand would be passed over. */
		if (!s->tls && outbound_demands_tls(s)) {
			session_local(s, R_HELO_FIRST);
			return;
		}
		break;
	default:
		break;
	}
	if (s->tx_refused && (ci->cmd == SMTP_CMD_RCPT ||
	    ci->cmd == SMTP_CMD_DATA)) {
		/* The upstream has no transaction, and this one must not
		 * reach it in parts. (BDAT closes the session anyway.) */
		session_local(s, R_NO_MAIL);
		return;
	}
	switch (ci->cmd) {
	case SMTP_CMD_RSET:
		s->tx_refused = 0;
		s->tx_requiretls = 0;
		break;
	case SMTP_CMD_BDAT:
		session_bdat(s);
		return;
	case SMTP_CMD_MAIL:
		if (outbound_mail(s, ci, text))
			return;
		break;
	case SMTP_CMD_RCPT:
		if (outbound_auth_rcpt(s, ci, text))
			return;
		break;
	case SMTP_CMD_DATA:
		session_forward(s, ci, text, PEND_DATA);
		session_enter(s, SS_DATA_WAIT);
		return;
	case SMTP_CMD_QUIT:
		session_forward(s, ci, text, PEND_QUIT);
		s->quit = 1;
		return;
	case SMTP_CMD_AUTH:
		session_auth(s, ci, text);
		return;
	default:
		break;
	}
	session_forward(s, ci, text, PEND_RELAY);
}

/* STARTTLS is not to be had: fail if demanded, else go on in plaintext. */
static void
outbound_no_tls(session_t *s, const char *reply, const char *why)
{
	if (outbound_demands_tls(s)) {
		outbound_fail(s, reply, why);
		return;
	}
	s->tls_fail = why;
	log_event(LOG_INFO, "tls_not_used", "session", s->id, "dest",
	    s->dest_str, "reason", why, NULL);
	outbound_send_helo(s, s->helo_is_ehlo ? "EHLO" : "HELO",
	    s->helo_is_ehlo ? PEND_EHLO : PEND_RELAY, 0);
	session_enter(s, SS_COMMAND);
}

static void
outbound_internal_reply(session_t *s, int step, int code)
{
	size_t discarded = 0;

	switch (step) {
	case STEP_EHLO1:
		if (code != 250) {
			outbound_no_tls(s, R_NO_TLS, "EHLO refused");
			return;
		}
		if (!(smtp_ehlo_caps(s->ehlo, s->ehlo_len) & SMTP_CAP_STARTTLS)) {
			STATS_INC(s->st->tls_fail[TLSF_NOT_OFFERED]);
			outbound_no_tls(s, R_NO_TLS, "STARTTLS not offered");
			return;
		}
		STATS_INC(s->st->tls[TLSEV_OFFERED]);
		STATS_INC(s->st->tls[TLSEV_ATTEMPTED]);
		conn_write_str(s->server, "STARTTLS\r\n");
		session_pend_push(s, PEND_INTERNAL, STEP_STARTTLS, NULL);
		return;
	case STEP_STARTTLS:
		if (code != 220) {
			/* The upstream may read what follows its refusal in
			 * a state of its own: the connection is not used
			 * further, as after a failed handshake. */
			session_tls_failed(s, TLSF_REFUSED);
			if (outbound_demands_tls(s))
				outbound_fail(s, R_TLS_REFUSED,
				    "STARTTLS refused");
			else
				outbound_retry_plain(s, "STARTTLS refused");
			return;
		}
		s->hs_start_ms = uv_now(&s->px->loop);
		if (conn_start_tls(s->server, s->tls_ctx, CONN_TLS_CLIENT,
		    s->dest_name != NULL && !outbound_is_ip(s->dest_name) ?
		    s->dest_name : NULL, CONN_TLS_DISCARD, &discarded) == -1) {
			outbound_fail(s, R_TLS_FAILED, "tls setup failed");
			return;
		}
		if (discarded > 0) {
			char n[24];
			snprintf(n, sizeof(n), "%zu", discarded);
			log_event(LOG_WARN, "starttls_discard", "session",
			    s->id, "dest", s->dest_str, "bytes", n, NULL);
		}
		session_enter(s, SS_TLS_HANDSHAKE);
		return;
	case STEP_RETRY_BANNER:
		if (code != 220) {
			session_reply(s, "421 4.3.0 Remote server refused the "
			    "plaintext retry, try again later\r\n");
			session_close(s, CR_SERVER_ERROR, "retry refused", 1);
			return;
		}
		outbound_send_helo(s, s->helo_is_ehlo ? "EHLO" : "HELO",
		    s->helo_is_ehlo ? PEND_EHLO : PEND_RELAY, 0);
		session_enter(s, SS_COMMAND);
		return;
	default:
		return;
	}
}

static void
outbound_server_tls_done(session_t *s)
{
	SSL *ssl = s->server->ssl;

	const char *refusal;

	s->verified = tls_peer_trusted(ssl);
	s->name_ok = s->verified && s->dest_name != NULL &&
	    tls_peer_matches(ssl, s->dest_name);
	if ((refusal = outbound_auth_relay_check(s)) != NULL) {
		STATS_INC(s->st->verify[outbound_verify(s)]);
		STATS_INC(s->st->tls_fail[TLSF_NOT_VERIFIED]);
		outbound_fail(s, refusal, "DANE TLSA mismatch");
		return;
	}
	STATS_INC(s->st->verify[outbound_verify(s)]);
	/* A DANE match authenticates the relay in place of the WebPKI
	 * (RFC 7672 3.1): tls = verify is met. */
	if (s->lc->out_tls == OUT_TLS_VERIFY && !s->name_ok && !s->dane_ok) {
		STATS_INC(s->st->tls_fail[TLSF_NOT_VERIFIED]);
		outbound_fail(s, R_NOT_VERIFIED, s->verified ?
		    "certificate name mismatch" : "certificate not trusted");
		return;
	}
	outbound_relay_helo(s);
}

/* The plaintext retry connection is up: its banner is not relayed. */
static int
outbound_server_connected(session_t *s)
{
	if (!s->retried)
		return 0;
	session_pend_push(s, PEND_INTERNAL, STEP_RETRY_BANNER, NULL);
	session_enter(s, SS_UPGRADE);
	return 1;
}

/*
 * tls = may: once more in plaintext on a new connection, never on the leg
 * where TLS failed or was refused.
 */
static void
outbound_retry_plain(session_t *s, const char *why)
{
	log_event(LOG_WARN, "tls_fallback", "session", s->id, "dest",
	    s->dest_str, "error", why, NULL);
	s->retried = 1;
	s->tls = 0;
	s->tls_fail = "tls handshake failed";
	/* Replies owed by the old leg will never come. */
	s->phead = s->pcount = 0;
	if (session_new_server(s) == -1) {
		session_reply(s, "421 4.3.0 Service not available, closing "
		    "connection\r\n");
		session_close(s, CR_INTERNAL, "out of memory", 1);
		return;
	}
	session_connect_server(s, (const struct sockaddr *)&s->dest,
	    s->lc->mark);
}

static int
outbound_server_failed(session_t *s)
{
	if (outbound_demands_tls(s)) {
		if (s->server->failed)
			session_tls_failed(s, TLSF_HANDSHAKE);
		outbound_fail(s, R_TLS_FAILED, s->server->err[0] ?
		    s->server->err : "tls handshake failed");
		return 1;
	}
	if (s->server->failed)
		session_tls_failed(s, TLSF_HANDSHAKE);
	if (s->retried)
		return 0;
	outbound_retry_plain(s, s->server->err[0] ? s->server->err :
	    "tls handshake failed");
	return 1;
}

/*
 * REQUIRETLS goes to the legacy server only when the upstream offered it
 * inside TLS and the session can be authenticated: in relay mode the relay
 * itself (a DANE match, or its certificate verified for its name); in
 * transparent mode each recipient domain at RCPT (DANE or MTA-STS), so the
 * offer needs dane or mta_sts on the listener or [policy:] sections, and
 * a RCPT that turns out unauthenticated gets 550 5.7.30.
 */
static int
outbound_requiretls_ok(const session_t *s)
{
	const config_listener_t *lc = s->lc;

	if (!s->tls || !(smtp_ehlo_caps(s->ehlo, s->ehlo_len) &
	    SMTP_CAP_REQUIRETLS))
		return 0;
	if (lc->out_mode == OUT_MODE_RELAY)
		return s->dane_ok || s->name_ok;
	return lc->dane || lc->mta_sts || s->rt->cfg->npolicies > 0;
}

static unsigned
outbound_ehlo_flags(session_t *s)
{
	s->requiretls_offered = outbound_requiretls_ok(s);
	/* Credentials never cross an unencrypted upstream leg. */
	return (s->tls ? SMTP_EHLO_KEEP_AUTH : 0) |
	    (s->requiretls_offered ? SMTP_EHLO_KEEP_REQUIRETLS : 0);
}

static void
outbound_log_close(const session_t *s, const session_logf_t *f)
{
	log_event(LOG_INFO, "session_close", "session", s->id, "listener",
	    s->lc->name, "client", s->peer, "dest", s->dest_str, "relay",
	    s->dest_name ? s->dest_name : "-", "tls", f->tls, "cipher",
	    f->cipher, "verify", policy_verify_name(outbound_verify(s)),
	    "tls_fail", s->tls_fail ? s->tls_fail : "-", "messages", f->msgs,
	    "bytes_in", f->bytes_in, "bytes_out", f->bytes_out, "duration_ms",
	    f->dur, "reason", s->reason, NULL);
}

static void
outbound_proxy_header(session_t *s)
{
	/* Outbound listeners take no PROXY header (accept_proxy is
	 * inbound-only). */
	session_close(s, CR_INTERNAL, "unexpected PROXY header state", 0);
}

static void
outbound_greeting_done(session_t *s)
{
	(void)s;
}

static void
outbound_starttls_go(session_t *s)
{
	/* STARTTLS is answered 454 locally, never switched. */
	session_close(s, CR_INTERNAL, "unexpected STARTTLS switch", 0);
}

static void
outbound_client_tls_done(session_t *s)
{
	session_close(s, CR_INTERNAL, "unexpected client handshake", 0);
}

static int
outbound_implicit_tls(const session_t *s)
{
	(void)s;
	return 0;
}

const session_dir_t outbound_dir = {
	.start = outbound_start,
	.proxy_header = outbound_proxy_header,
	.command = outbound_command,
	.server_connected = outbound_server_connected,
	.greeting_done = outbound_greeting_done,
	.internal_reply = outbound_internal_reply,
	.starttls_go = outbound_starttls_go,
	.client_tls_done = outbound_client_tls_done,
	.server_tls_done = outbound_server_tls_done,
	.server_failed = outbound_server_failed,
	.ehlo_flags = outbound_ehlo_flags,
	.implicit_tls = outbound_implicit_tls,
	.log_close = outbound_log_close,
	.wait_timeout = outbound_auth_timeout,
	.release = outbound_auth_release,
	/* The legacy server's recipients may be refused by the dozen: only
	 * its malformed or unknown commands count. */
	.count_server_errors = 0,
	.loop_guard = 1,
};
