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
 * Smarthost variants (relay mode):
 *   relay_tls = implicit: the handshake right after connect (RFC 8314);
 *           the banner and the legacy server's EHLO then run inside TLS.
 *   auth_file: after the EHLO inside TLS (STEP_EHLO2) the proxy
 *           authenticates itself (STEP_AUTH); only a 235 lets the relay's
 *           EHLO reply, AUTH removed, reach the legacy server.
 *   listen_tls: old devices that insist on TLS get it on their own leg
 *           (STARTTLS offered to them, or implicit TLS at accept), down to
 *           listen_min_tls; the relay leg is upgraded as always. s->tls
 *           stays the relay leg's; s->client_tls is the device's.
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
#include <netinet/in.h>

#include <stdlib.h>
#include <time.h>

#include <openssl/mem.h>

#include "addr.h"
#include "log.h"
#include "policy.h"
#include "relayauth.h"
#include "session_int.h"
#include "tls.h"
#include "tlscache.h"

enum {
	STEP_EHLO1,        /* capabilities before TLS */
	STEP_STARTTLS,     /* the upstream's answer to STARTTLS */
	STEP_RETRY_BANNER, /* banner of the plaintext retry connection */
	STEP_EHLO2,        /* capabilities inside TLS, before the proxy's AUTH */
	STEP_AUTH          /* the relay's answer in the proxy's AUTH exchange */
};

/* auth_step after XOAUTH2's 334 error challenge: the empty response went,
 * the failure reply is awaited. */
#define OUTBOUND_AUTH_XO_ERROR 9

static void outbound_retry_plain(session_t *s, const char *why);
static int outbound_is_ip(const char *host);
static void outbound_fail(session_t *s, const char *reply, const char *why);

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
static const char R_STARTTLS_ARG[] = "501 5.5.4 Syntax: STARTTLS\r\n";
static const char R_AUTH_FAILED[] =
    "421 4.7.0 Relay authentication failed, try again later\r\n";
static const char R_AUTH_ALREADY[] = "503 5.5.1 Already authenticated\r\n";
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
outbound_implicit(const session_t *s)
{
	return s->lc->out_mode == OUT_MODE_RELAY &&
	    s->lc->relay_tls == RELAY_TLS_IMPLICIT;
}

static int
outbound_demands_tls(const session_t *s)
{
	/* A relay with secure TLSA records is never used in plaintext. */
	return s->lc->out_tls == OUT_TLS_ENCRYPT ||
	    s->lc->out_tls == OUT_TLS_VERIFY || s->dane_tls;
}

/* The credentials of the listener's auth_file, or NULL. */
static const relayauth_t *
outbound_creds(const session_t *s)
{
	return s->rt->auth[s->lc - s->rt->cfg->listeners];
}

/* STARTTLS in the EHLO reply to the device: listen_tls = starttls. */
static unsigned
outbound_offer_starttls(const session_t *s)
{
	return s->lc->listen_tls == IN_TLS_STARTTLS && !s->client_tls ?
	    SMTP_EHLO_ADD_STARTTLS : 0;
}

/* The proxy still owes the relay its own AUTH: nothing of the legacy
 * server's session may go before it. */
static int
outbound_auth_pending(const session_t *s)
{
	return outbound_creds(s) != NULL && !s->relay_authed;
}

/*
 * Starts the relay leg's handshake (after the 220 to STARTTLS, or at
 * connect with relay_tls = implicit), offering a cached session of the
 * same listener, configuration, address and name.
 */
static void
outbound_start_tls(session_t *s)
{
	const char *sni = s->dest_name != NULL &&
	    !outbound_is_ip(s->dest_name) ? s->dest_name : NULL;
	SSL_SESSION *resume = NULL;
	size_t discarded = 0;
	char addr[64];
	int r;

	s->hs_start_ms = uv_now(&s->px->loop);
	if (s->px->tlscache == NULL)
		s->px->tlscache = tlscache_new();
	if (s->cache_slot == NULL && s->px->tlscache != NULL &&
	    (s->cache_slot = calloc(1, sizeof(*s->cache_slot))) != NULL) {
		addr_format((const struct sockaddr *)&s->dest, addr,
		    sizeof(addr));
		s->cache_slot->cache = s->px->tlscache;
		s->cache_slot->timeout_s = s->lc->session_cache_timeout_ms /
		    1000;
		snprintf(s->cache_slot->key, sizeof(s->cache_slot->key),
		    "%s|%llu|%s|%s", s->lc->name,
		    (unsigned long long)s->rt->generation, addr,
		    sni != NULL ? sni : "-");
	}
	if (s->cache_slot != NULL)
		resume = tlscache_take(s->px->tlscache, s->cache_slot->key,
		    time(NULL));
	r = conn_start_tls_resume(s->server, s->tls_ctx, CONN_TLS_CLIENT, sni,
	    resume, CONN_TLS_DISCARD, &discarded);
	SSL_SESSION_free(resume);
	if (r == -1) {
		outbound_fail(s, R_TLS_FAILED, "tls setup failed");
		return;
	}
	if (s->cache_slot != NULL)
		(void)tlscache_attach(s->server->ssl, s->cache_slot);
	if (discarded > 0) {
		char n[24];
		snprintf(n, sizeof(n), "%zu", discarded);
		log_event(LOG_WARN, "starttls_discard", "session",
		    s->id, "dest", s->dest_str, "bytes", n, NULL);
	}
	session_enter(s, SS_TLS_HANDSHAKE);
}

/*
 * Reads the address the legacy server dialled before the REDIRECT rule
 * sent it here. Returns 0 or -1.
 */
static int
outbound_original_dst(session_t *s)
{
	struct sockaddr_storage ss;

	if (session_original_dst(s, &ss) != 0)
		return -1;
	addr_format((struct sockaddr *)&ss, s->dest_str, sizeof(s->dest_str));
	/* Without a REDIRECT the "original" destination is the socket's own
	 * local address (whatever the listener was bound to, 0.0.0.0 or [::]
	 * included): connecting there would loop. */
	if (addr_same((struct sockaddr *)&ss, (struct sockaddr *)&s->client_local))
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

/* The listening leg's context (listen_tls), or NULL. */
static SSL_CTX *
outbound_listen_ctx(const session_t *s)
{
	return s->rt->listen_tls[s->lc - s->rt->cfg->listeners];
}

static void outbound_start_upstream(session_t *s);

static void
outbound_start(session_t *s)
{
	size_t discarded = 0;

	if (s->lc->listen_tls != IN_TLS_IMPLICIT) {
		outbound_start_upstream(s);
		return;
	}
	/* The device's handshake first (RFC 8314), then the relay. */
	session_enter(s, SS_TLS_ACCEPT);
	s->hs_start_ms = uv_now(&s->px->loop);
	if (outbound_listen_ctx(s) == NULL ||
	    conn_start_tls(s->client, outbound_listen_ctx(s), CONN_TLS_SERVER,
	    NULL, CONN_TLS_KEEP, &discarded) == -1)
		session_close(s, CR_INTERNAL, "tls setup failed", 0);
	else if (s->client->failed)
		session_close(s, CR_TLS_FAILED, s->client->err, 0);
}

static void
outbound_start_upstream(session_t *s)
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
	if (outbound_auth_pending(s)) {
		/* The capabilities inside TLS say which mechanisms. */
		outbound_send_helo(s, "EHLO", PEND_INTERNAL, STEP_EHLO2);
		session_enter(s, SS_UPGRADE);
		return;
	}
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
	s->need_helo = 0;
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
	if (s->tls && outbound_auth_pending(s)) {
		/* Implicit TLS: the first EHLO leads to the proxy's AUTH. */
		outbound_relay_helo(s);
		return;
	}
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
		/* Offered to the legacy server only with listen_tls =
		 * starttls, for its own leg. */
		if (s->lc->listen_tls != IN_TLS_STARTTLS || s->client_tls) {
			session_local(s, R_STARTTLS_LOCAL);
			return;
		}
		if (ci->arg_len > 0) {
			session_error(s, R_STARTTLS_ARG);
			return;
		}
		session_pend_push(s, PEND_STARTTLS, 0, NULL);
		session_enter(s, SS_STARTTLS);
		session_pend_run(s);
		return;
	case SMTP_CMD_AUTH:
		/* The proxy authenticates itself when it has credentials:
		 * the legacy server's own never go. */
		if (outbound_creds(s) != NULL) {
			session_local(s, s->relay_authed ? R_AUTH_ALREADY :
			    R_HELO_FIRST);
			return;
		}
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
		/* No EHLO, no upgrade: a TLS demand would be passed over.
		 * After the device's STARTTLS it starts over (RFC 3207
		 * 4.2). */
		if ((!s->tls && outbound_demands_tls(s)) ||
		    outbound_auth_pending(s) || s->need_helo) {
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

/* The relay's reply in s->ehlo, first line, for the log. */
static void
outbound_auth_log(session_t *s, const char *result, const char *why)
{
	const uint8_t *lf = s->ehlo != NULL ?
	    memchr(s->ehlo, '\n', s->ehlo_len) : NULL;
	size_t n = lf != NULL ? (size_t)(lf - s->ehlo) : s->ehlo_len;
	char reply[256];

	if (n > 0 && s->ehlo[n - 1] == '\r')
		n--;
	log_escape(s->ehlo != NULL ? s->ehlo : (const uint8_t *)"", n,
	    reply, sizeof(reply));
	log_event(result[0] == 'o' ? LOG_INFO : LOG_WARN, "relay_auth",
	    "session", s->id, "relay", s->dest_name ? s->dest_name : "-",
	    "mechanism", s->auth_mech > 0 ?
	    relayauth_mech_label((auth_mech_t)(s->auth_mech - 1)) : "none",
	    "result", result, "reason", why, "reply", n > 0 ? reply : "-",
	    NULL);
}

/* Authentication failed or cannot be tried: a soft failure (the legacy
 * server keeps the mail queued), the relay's reply logged, no secret. */
static void
outbound_auth_fail(session_t *s, const char *why)
{
	int m = s->auth_mech > 0 ? s->auth_mech - 1 : STATS_AUTH_NONE;

	STATS_INC(s->px->stats->relay_auth[m][STATS_AUTH_FAILED]);
	outbound_auth_log(s, "failed", why);
	free(s->auth_ehlo);
	s->auth_ehlo = NULL;
	outbound_fail(s, R_AUTH_FAILED, why);
}

/* Sends step of the exchange; the line is wiped once queued. */
static void
outbound_auth_send(session_t *s, int step)
{
	char *line = malloc(RELAYAUTH_LINE_MAX);
	int n = -1;

	if (line != NULL)
		n = relayauth_line(outbound_creds(s),
		    (auth_mech_t)(s->auth_mech - 1), step, line,
		    RELAYAUTH_LINE_MAX);
	if (n == -1) {
		const char *why = line == NULL ? "out of memory" :
		    "credentials do not fit the mechanism";

		free(line);
		outbound_auth_fail(s, why);
		return;
	}
	conn_write(s->server, line, (size_t)n);
	OPENSSL_cleanse(line, (size_t)n);
	free(line);
	s->auth_step = step;
	session_pend_push(s, PEND_INTERNAL, STEP_AUTH, NULL);
}

/* The relay's EHLO reply inside TLS: choose a mechanism and start. */
static void
outbound_auth_begin(session_t *s, int code)
{
	const relayauth_t *a = outbound_creds(s);
	int m;

	if (code != 250) {
		outbound_auth_fail(s, "EHLO refused");
		return;
	}
	m = relayauth_choose(a, s->lc->auth_mechs, s->lc->nauth_mechs,
	    relayauth_offered(s->ehlo, s->ehlo_len));
	if (m == -1) {
		outbound_auth_fail(s, "no common mechanism");
		return;
	}
	s->auth_mech = m + 1;
	/* Kept for the legacy server, relayed once the relay said 235. */
	s->auth_ehlo = s->ehlo;
	s->auth_ehlo_len = s->ehlo_len;
	s->ehlo = NULL;
	s->ehlo_len = 0;
	outbound_auth_send(s, 0);
}

static void
outbound_auth_reply(session_t *s, int code)
{
	auth_mech_t m = (auth_mech_t)(s->auth_mech - 1);

	if (code == 235 && s->auth_step != OUTBOUND_AUTH_XO_ERROR) {
		s->relay_authed = 1;
		STATS_INC(s->px->stats->relay_auth[m][STATS_AUTH_OK]);
		outbound_auth_log(s, "ok", "-");
		/* The EHLO reply from before AUTH, without AUTH. */
		session_ehlo_reset(s);
		s->ehlo = s->auth_ehlo;
		s->ehlo_len = s->auth_ehlo_len;
		s->auth_ehlo = NULL;
		s->auth_ehlo_len = 0;
		if (s->helo_is_ehlo)
			session_ehlo_relay(s, outbound_offer_starttls(s));
		else
			session_helo_relay(s);
		if (s->state != SS_CLOSING)
			session_enter(s, SS_COMMAND);
		return;
	}
	if (code == 334 && m == AUTH_MECH_LOGIN && s->auth_step < 2) {
		outbound_auth_send(s, s->auth_step + 1);
		return;
	}
	if (code == 334 && m == AUTH_MECH_XOAUTH2 && s->auth_step == 0) {
		/* The error challenge (JSON): an empty response ends the
		 * exchange with the relay's failure reply. */
		conn_write_str(s->server, "\r\n");
		s->auth_step = OUTBOUND_AUTH_XO_ERROR;
		session_pend_push(s, PEND_INTERNAL, STEP_AUTH, NULL);
		return;
	}
	outbound_auth_fail(s, "rejected");
}

static void
outbound_internal_reply(session_t *s, int step, int code)
{
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
		outbound_start_tls(s);
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
	case STEP_EHLO2:
		outbound_auth_begin(s, code);
		return;
	case STEP_AUTH:
		outbound_auth_reply(s, code);
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
	if (outbound_implicit(s)) {
		/* The relay's banner comes inside TLS. */
		session_pend_push(s, PEND_GREETING, 0, NULL);
		session_enter(s, SS_GREETING);
		return;
	}
	outbound_relay_helo(s);
}

/* The plaintext retry connection is up: its banner is not relayed.
 * relay_tls = implicit: TLS from the first byte. */
static int
outbound_server_connected(session_t *s)
{
	if (!s->retried && outbound_implicit(s)) {
		STATS_INC(s->st->tls[TLSEV_OFFERED]);
		STATS_INC(s->st->tls[TLSEV_ATTEMPTED]);
		outbound_start_tls(s);
		return 1;
	}
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
	/* Credentials never cross an unencrypted upstream leg, and once the
	 * proxy authenticated itself the legacy server has nothing to do. */
	return (s->tls && outbound_creds(s) == NULL ? SMTP_EHLO_KEEP_AUTH : 0) |
	    outbound_offer_starttls(s) |
	    (s->requiretls_offered ? SMTP_EHLO_KEEP_REQUIRETLS : 0);
}

static void
outbound_log_close(const session_t *s, const session_logf_t *f)
{
	const SSL *up = s->tls ? s->server->ssl : NULL;
	const SSL *dev = s->client_tls ? s->client->ssl : NULL;

	log_event(LOG_INFO, "session_close", "session", s->id, "listener",
	    s->lc->name, "client", s->peer, "client_tls", dev != NULL ?
	    tls_version_name(dev) : "none", "dest", s->dest_str, "relay",
	    s->dest_name ? s->dest_name : "-", "tls", up != NULL ?
	    tls_version_name(up) : "none", "cipher", up != NULL ?
	    SSL_CIPHER_get_name(SSL_get_current_cipher(up)) : "-",
	    "verify", policy_verify_name(outbound_verify(s)),
	    "tls_fail", s->tls_fail ? s->tls_fail : "-", "resumed",
	    s->tls && s->server->ssl != NULL &&
	    SSL_session_reused(s->server->ssl) ? "yes" : "no", "auth",
	    s->relay_authed ? relayauth_mech_label((auth_mech_t)
	    (s->auth_mech - 1)) : "-", "messages", f->msgs,
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

/* listen_tls = starttls: the device's STARTTLS reached the head. */
static void
outbound_starttls_go(session_t *s)
{
	session_client_starttls(s, outbound_listen_ctx(s));
}

/* Outbound relays a message as it is. */
static void
outbound_body_start(session_t *s)
{
	(void)s;
}

static void
outbound_client_tls_done(session_t *s)
{
	/* The engine marks "TLS established" for any leg; in this
	 * direction s->tls means the relay's leg, which decides every TLS
	 * demand: it is put back, and the device's leg noted apart. */
	s->tls = s->server->ssl != NULL && s->server->handshake_done;
	s->client_tls = 1;
	if (s->state == SS_TLS_ACCEPT) {
		outbound_start_upstream(s);
		return;
	}
	/* RFC 3207 4.2: the device starts over with EHLO. */
	s->need_helo = 1;
	session_enter(s, SS_COMMAND);
}

static int
outbound_implicit_tls(const session_t *s)
{
	return s->lc->listen_tls == IN_TLS_IMPLICIT;
}

/* What the direction holds for the session; then outbound_auth's. */
static void
outbound_release(session_t *s)
{
	free(s->auth_ehlo);
	s->auth_ehlo = NULL;
	if (s->cache_slot != NULL) {
		/* The legs' SSLs may outlive this (a flush at close): no
		 * ticket may reach the slot after it is gone. */
		if (s->server->ssl != NULL)
			(void)tlscache_attach(s->server->ssl, NULL);
		if (s->retired != NULL && s->retired->ssl != NULL)
			(void)tlscache_attach(s->retired->ssl, NULL);
		free(s->cache_slot);
		s->cache_slot = NULL;
	}
	outbound_auth_release(s);
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
	.body_start = outbound_body_start,
	.server_tls_done = outbound_server_tls_done,
	.server_failed = outbound_server_failed,
	.ehlo_flags = outbound_ehlo_flags,
	.implicit_tls = outbound_implicit_tls,
	.log_close = outbound_log_close,
	.wait_timeout = outbound_auth_timeout,
	.release = outbound_release,
	/* The legacy server's recipients may be refused by the dozen: only
	 * its malformed or unknown commands count. */
	.count_server_errors = 0,
	.loop_guard = 1,
};
