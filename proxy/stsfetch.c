/*
 * stsfetch: see stsfetch.h. One conn (TLS client role) and one timer for
 * the deadline. The response head collects in the fetch's own buffer
 * until http_response_parse decides; the body goes through the decoder
 * into a buffer of STS_BODY_MAX, then to sts_policy_parse. The fetch ends
 * once (stsfetch_finish): the callback, then both handles closed; memory
 * goes in the last close callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dnsmsg.h"
#include "http.h"
#include "stsfetch.h"
#include "tls.h"

/* "mta-sts." and a domain of STS_NAME_MAX: longer is no host name. */
#define STSFETCH_HOST_MAX (8 + STS_NAME_MAX)
#define STSFETCH_PATH "/.well-known/mta-sts.txt"

static const char *const stsfetch_names[STSFETCH_RESULT_COUNT] = {
	"ok", "dns", "connect", "tls", "cert", "http_status", "content_type",
	"too_big", "malformed", "timeout", "policy_invalid", "internal",
};

struct stsfetch {
	conn_t conn;
	uv_timer_t timer;
	int handles;             /* handles not yet closed */
	int finished;            /* result given or cancelled */
	int cancelled;
	int deferred;            /* a failure found in start, told by timer */
	stsfetch_result_t pending;
	stsfetch_cb *cb;
	void *arg;
	SSL_CTX *ctx;            /* one reference */
	uint64_t t0;             /* uv_hrtime at start */
	char host[STSFETCH_HOST_MAX + 1];
	char detail[192];

	int head_done;
	size_t hlen;
	http_response_t resp;
	http_body_t body;
	sts_policy_t policy;
	uint8_t head[HTTP_RESPONSE_HEAD_MAX];
	uint8_t bodybuf[STS_BODY_MAX];
};

const char *
stsfetch_result_name(stsfetch_result_t r)
{
	return (unsigned)r < STSFETCH_RESULT_COUNT ? stsfetch_names[r] : "?";
}

static void
stsfetch_maybe_free(stsfetch_t *f)
{
	if (f->handles > 0)
		return;
	SSL_CTX_free(f->ctx);
	free(f);
}

static void
stsfetch_timer_close_cb(uv_handle_t *h)
{
	stsfetch_t *f = h->data;

	f->handles--;
	stsfetch_maybe_free(f);
}

/* Ends the fetch once: the callback (unless cancelled), then the close. */
static void
stsfetch_finish(stsfetch_t *f, stsfetch_result_t r, const char *detail)
{
	stsfetch_done_t d;

	if (f->finished)
		return;
	f->finished = 1;
	uv_timer_stop(&f->timer);
	if (!f->cancelled) {
		memset(&d, 0, sizeof(d));
		d.result = r;
		if (detail != NULL && detail != f->detail)
			snprintf(f->detail, sizeof(f->detail), "%s", detail);
		else if (detail == NULL)
			f->detail[0] = '\0';
		d.detail = f->detail;
		d.policy = r == STSFETCH_OK ? &f->policy : NULL;
		d.ms = (uv_hrtime() - f->t0) / 1000000;
		d.http_code = f->head_done ? f->resp.code : 0;
		f->cb(f->arg, &d);
	}
	conn_close(&f->conn);
	uv_close((uv_handle_t *)&f->timer, stsfetch_timer_close_cb);
}

void
stsfetch_cancel(stsfetch_t *f)
{
	if (f == NULL || f->finished)
		return;
	f->cancelled = 1;
	stsfetch_finish(f, STSFETCH_INTERNAL, NULL);
}

static void
stsfetch_timer_cb(uv_timer_t *t)
{
	stsfetch_t *f = t->data;

	if (f->deferred)
		stsfetch_finish(f, f->pending, f->detail);
	else
		stsfetch_finish(f, STSFETCH_TIMEOUT, "deadline passed");
}

/* The body is complete in bodybuf: is it a policy? */
static void
stsfetch_body_done(stsfetch_t *f)
{
	const char *why;

	if (sts_policy_parse(f->bodybuf, f->body.len, &f->policy, &why) == -1) {
		snprintf(f->detail, sizeof(f->detail), "policy: %s", why);
		stsfetch_finish(f, STSFETCH_POLICY_INVALID, f->detail);
		return;
	}
	stsfetch_finish(f, STSFETCH_OK, NULL);
}

/* Feeds body octets; ends the fetch when the decoder decides. */
static void
stsfetch_feed(stsfetch_t *f, const uint8_t *p, size_t n)
{
	size_t used;

	switch (http_response_body_feed(&f->body, p, n, &used)) {
	case HTTP_PARTIAL:
		break;
	case HTTP_OK:
		stsfetch_body_done(f);
		break;
	case HTTP_TOO_LARGE:
		stsfetch_finish(f, STSFETCH_TOO_BIG, "body over 64 KiB");
		break;
	default:
		stsfetch_finish(f, STSFETCH_MALFORMED, "body framing");
		break;
	}
}

/* The final head is in: decide on it, then feed what followed it. */
static void
stsfetch_head_done(stsfetch_t *f, size_t headlen)
{
	f->head_done = 1;
	if (f->resp.code != 200) {
		snprintf(f->detail, sizeof(f->detail), "status %d",
		    f->resp.code);
		stsfetch_finish(f, STSFETCH_HTTP_STATUS, f->detail);
		return;
	}
	if (!f->resp.text_plain) {
		stsfetch_finish(f, STSFETCH_CONTENT_TYPE,
		    "media type is not text/plain");
		return;
	}
	http_response_body_init(&f->body, &f->resp, f->bodybuf,
	    sizeof(f->bodybuf));
	stsfetch_feed(f, f->head + headlen, f->hlen - headlen);
}

static void stsfetch_eof(stsfetch_t *f);

/* Takes what the conn decrypted. */
static void
stsfetch_read(stsfetch_t *f)
{
	conn_t *c = &f->conn;

	while (!f->finished) {
		const uint8_t *p;
		size_t n, take, headlen = 0;

		/* Ciphertext already received may hold more than the read
		 * buffer took: decrypt it before waiting for the socket. */
		if (conn_rsize(c) == 0 && conn_fill(c) == 0)
			break;
		p = conn_rdata(c);
		n = conn_rsize(c);

		if (f->head_done) {
			stsfetch_feed(f, p, n);
			conn_consume(c, n);
			continue;
		}
		take = sizeof(f->head) - f->hlen;
		if (take > n)
			take = n;
		memcpy(f->head + f->hlen, p, take);
		f->hlen += take;
		conn_consume(c, take);
		switch (http_response_parse(f->head, f->hlen, &f->resp,
		    &headlen)) {
		case HTTP_PARTIAL:
			break;
		case HTTP_OK:
			stsfetch_head_done(f, headlen);
			break;
		default:
			stsfetch_finish(f, STSFETCH_MALFORMED,
			    "response head");
			break;
		}
	}
	if (f->finished)
		return;
	if (c->failed) {
		stsfetch_finish(f, STSFETCH_TLS, c->err);
		return;
	}
	conn_trim(c);
	/* conn_fill may have met the server's close_notify. */
	if (conn_take_eof(c))
		stsfetch_eof(f);
}

/* The server closed its end. */
static void
stsfetch_eof(stsfetch_t *f)
{
	conn_t *c = &f->conn;

	if (!c->handshake_done) {
		stsfetch_finish(f, STSFETCH_TLS, "closed during the handshake");
		return;
	}
	if (!f->head_done) {
		stsfetch_finish(f, STSFETCH_MALFORMED,
		    "closed before a complete response head");
		return;
	}
	/* A close-delimited body ends only at close_notify: a TCP close
	 * alone may be an attacker cutting the policy short. */
	if (f->resp.framing == HTTP_FRAMING_CLOSE &&
	    (c->ssl == NULL ||
	    !(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN))) {
		stsfetch_finish(f, STSFETCH_MALFORMED,
		    "body cut without close_notify");
		return;
	}
	if (http_response_body_end(&f->body) == HTTP_OK)
		stsfetch_body_done(f);
	else
		stsfetch_finish(f, STSFETCH_MALFORMED, "body truncated");
}

/* A TLS or I/O error: before the handshake ended, was it the chain? */
static void
stsfetch_error(stsfetch_t *f)
{
	conn_t *c = &f->conn;
	long v;

	if (!c->handshake_done && c->ssl != NULL &&
	    (v = SSL_get_verify_result(c->ssl)) != X509_V_OK) {
		snprintf(f->detail, sizeof(f->detail), "certificate: %s",
		    X509_verify_cert_error_string(v));
		stsfetch_finish(f, STSFETCH_CERT, f->detail);
		return;
	}
	stsfetch_finish(f, STSFETCH_TLS, c->err);
}

static void
stsfetch_connected(stsfetch_t *f)
{
	conn_t *c = &f->conn;
	size_t discarded;
	X509_VERIFY_PARAM *param;

	if (conn_start_tls(c, f->ctx, CONN_TLS_CLIENT, f->host,
	    CONN_TLS_DISCARD, &discarded) == -1) {
		stsfetch_finish(f, STSFETCH_INTERNAL, c->err);
		return;
	}
	/* Checked while the chain is verified, before any request leaves
	 * (the ClientHello just sent carries no secret). */
	param = SSL_get0_param(c->ssl);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (!X509_VERIFY_PARAM_set1_host(param, f->host, strlen(f->host))) {
		ERR_clear_error();
		stsfetch_finish(f, STSFETCH_INTERNAL, "host check setup");
		return;
	}
	conn_set_read(c, 1);
}

static void
stsfetch_handshake_done(stsfetch_t *f)
{
	conn_t *c = &f->conn;
	char req[512];
	int n;

	if (!tls_peer_trusted(c->ssl) || !tls_peer_matches(c->ssl, f->host)) {
		stsfetch_finish(f, STSFETCH_CERT,
		    "certificate not valid for the policy host");
		return;
	}
	n = snprintf(req, sizeof(req),
	    "GET " STSFETCH_PATH " HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: starttls-proxy/" STP_VERSION "\r\n"
	    "Accept: text/plain\r\n"
	    "Connection: close\r\n"
	    "\r\n", f->host);
	if (n < 0 || (size_t)n >= sizeof(req) ||
	    conn_write(c, req, (size_t)n) == -1) {
		stsfetch_finish(f, STSFETCH_INTERNAL, "request");
		return;
	}
	conn_flush(c);
	if (c->failed)
		stsfetch_finish(f, STSFETCH_TLS, c->err);
}

static void
stsfetch_conn_cb(conn_t *c, conn_event_t ev)
{
	stsfetch_t *f = c->owner;

	if (ev == CONN_EV_CLOSED) {
		f->handles--;
		stsfetch_maybe_free(f);
		return;
	}
	if (f->finished)
		return;
	switch (ev) {
	case CONN_EV_CONNECTED:
		stsfetch_connected(f);
		break;
	case CONN_EV_CONNECT_FAILED:
		stsfetch_finish(f, STSFETCH_CONNECT, c->err);
		break;
	case CONN_EV_HANDSHAKE_DONE:
		stsfetch_handshake_done(f);
		break;
	case CONN_EV_READ:
		stsfetch_read(f);
		break;
	case CONN_EV_EOF:
		stsfetch_read(f);
		if (!f->finished)
			stsfetch_eof(f);
		break;
	case CONN_EV_ERROR:
		stsfetch_error(f);
		break;
	default:
		break;
	}
}

stsfetch_t *
stsfetch_start(const stsfetch_env_t *env, const char *domain,
    const struct sockaddr *addr, stsfetch_cb *cb, void *arg)
{
	uint8_t wire[DNSMSG_NAME_MAX];
	size_t wlen, dlen = strnlen(domain, STS_NAME_MAX + 1);
	stsfetch_t *f;

	if (dlen == 0 || dlen > STS_NAME_MAX - 8 ||
	    (f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	snprintf(f->host, sizeof(f->host), "mta-sts.%s", domain);
	if (f->host[strlen(f->host) - 1] == '.' ||
	    dnsmsg_name_from_text(f->host, strlen(f->host), wire,
	    &wlen) == -1) {
		free(f);
		return NULL;
	}
	f->cb = cb;
	f->arg = arg;
	f->t0 = uv_hrtime();
	if (conn_init(&f->conn, env->loop, f, stsfetch_conn_cb, env->scratch,
	    env->pool) == -1) {
		free(f);
		return NULL;
	}
	f->handles = 2;
	uv_timer_init(env->loop, &f->timer);
	f->timer.data = f;
	SSL_CTX_up_ref(env->ctx);
	f->ctx = env->ctx;
	if (conn_connect(&f->conn, addr, env->mark) == -1) {
		/* Told from the loop, never from here. */
		f->deferred = 1;
		f->pending = STSFETCH_CONNECT;
		snprintf(f->detail, sizeof(f->detail), "%s", f->conn.err);
		uv_timer_start(&f->timer, stsfetch_timer_cb, 0, 0);
		return f;
	}
	uv_timer_start(&f->timer, stsfetch_timer_cb, env->timeout_ms, 0);
	return f;
}
