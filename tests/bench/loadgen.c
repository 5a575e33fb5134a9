/*
 * loadgen: an SMTP STARTTLS load generator, for benchmarks only.
 *
 *   loadgen [options] rate|bulk|idle
 *
 * Runs C concurrent clients on one or more threads, each thread with its
 * own libuv loop. Every client speaks real SMTP and does TLS with BoringSSL
 * over two memory BIOs: banner, EHLO, STARTTLS, handshake, EHLO, then
 * MAIL, RCPT, DATA, an S-byte body, end of data (M times), QUIT. Every reply
 * code is checked; a session that sees a wrong code, a closed connection, a
 * TLS error or a step timeout is counted as failed at that step.
 *
 *   rate  sessions back to back on C clients, for -d seconds or -n sessions
 *   bulk  one session per client with -m messages of -s bytes (default
 *         1 client, 100 x 1 MiB); reports MB/s
 *   idle  -k sessions go through STARTTLS and the second EHLO and park;
 *         "PARKED ..." is printed once all of them are parked (or failed),
 *         then they are held for -d seconds or until SIGUSR1, then QUIT
 *
 * At the end: one human line and one JSON line on stdout.
 *
 * Every loop is bounded: -d or -n bounds new sessions, each step has a
 * timeout (-T), and --max-time aborts whatever is left.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define LG_LINE_MAX 512          /* kept of one reply line; the rest is skipped */
#define LG_READ_BUF (64 * 1024)  /* one read from the socket */
#define LG_PLAIN_BUF (64 * 1024) /* one SSL_read */
#define LG_MAX_THREADS 64
#define LG_MAX_CONC 100000
#define LG_CLOSE_WAIT_MS 2000    /* after 221, wait this long for the server's close */

typedef enum { MODE_RATE, MODE_BULK, MODE_IDLE } lg_mode_t;

/* Where a session is; also the index of its error counter. */
typedef enum {
	ST_CONNECT,
	ST_BANNER,
	ST_EHLO1,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_EHLO2,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_EOD,
	ST_QUIT,
	ST_PARKED,
	ST_CLOSING,   /* 221 seen, waiting for the server to close */
	ST_COUNT
} lg_step_t;

static const char *const lg_step_names[ST_COUNT] = {
	"connect", "banner", "ehlo1", "starttls", "handshake", "ehlo2",
	"mail", "rcpt", "data", "eod", "quit", "parked", "closing",
};

/* The reply code each step waits for; 0 where no reply is awaited. */
static const int lg_step_code[ST_COUNT] = {
	0, 220, 250, 220, 0, 250, 250, 250, 354, 250, 221, 0, 0,
};

typedef struct {
	lg_mode_t mode;
	const char *host;
	int port;
	struct sockaddr_storage addr;
	int conc;            /* clients (rate, bulk) */
	int idle_k;          /* sessions to park (idle) */
	int ramp;            /* idle: sessions setting up at once */
	double duration;     /* rate: seconds of new sessions; idle: hold */
	uint64_t nsessions;  /* rate: total sessions, 0 = by time only */
	size_t body_size;
	int msgs;            /* messages per session */
	int resume;
	int implicit;
	int plain;           /* no TLS at all: a plaintext sender (the legacy
	                        server of the outbound benchmark) */
	int pipeline;        /* MAIL, RCPT and DATA in one write (RFC 2920),
	                        as Postfix's SMTP client sends them */
	int threads;
	uint16_t tls_min, tls_max;
	const char *prefer;  /* ecdsa, rsa or NULL */
	const char *groups;
	const char *ciphers; /* TLS 1.2 list */
	const char *sni;
	const char *ca_file;
	const char *ehlo;
	double step_timeout;
	double max_time;
	int quiet;
} lg_opts_t;

/* Shared, read-only once the threads run. */
typedef struct {
	lg_opts_t o;
	SSL_CTX *ctx;
	char *msg;           /* body plus ".\r\n"; owned */
	size_t msg_len;
	char mail_cmd[128], rcpt_cmd[128], pipe_cmd[300], ehlo_cmd[300];
	uint64_t t0;         /* uv_hrtime() at start */
	atomic_int unparked; /* idle: sessions neither parked nor failed yet */
	atomic_int threads_done;
	uv_async_t notify;   /* threads -> main: parked or done */
} lg_shared_t;

typedef struct {
	uint32_t *v;         /* microseconds; owned */
	size_t n, cap;
} lg_samples_t;

typedef struct lg_thread lg_thread_t;

typedef struct {
	lg_thread_t *th;
	uv_tcp_t tcp;
	uv_connect_t connreq;
	uv_timer_t timer;
	lg_step_t step;
	int active;          /* tcp handle initialised and not yet closed */
	int failed;
	int counted;         /* idle: already counted as parked or failed */
	SSL *ssl;            /* NULL before STARTTLS; owned */
	BIO *rbio, *wbio;    /* owned by ssl */
	SSL_SESSION *saved;  /* last session ticket, for -r; owned */
	char line[LG_LINE_MAX];
	size_t linelen;
	int line_code;       /* code of the first line of the reply, -1 if bad */
	int msgs_done;
	uint64_t t_start, t_hs;
} lg_client_t;

struct lg_thread {
	lg_shared_t *sh;
	int id;
	uv_thread_t tid;
	uv_loop_t loop;
	uv_timer_t stop_timer;  /* rate: end of new sessions */
	uv_timer_t kill_timer;  /* --max-time */
	uv_async_t cmd;         /* main -> thread: release or abort */
	atomic_int cmd_release, cmd_abort;
	lg_client_t *clients;   /* owned */
	int nclients;
	int next_idle;          /* idle: next client to start */
	int setting_up;         /* idle: clients not yet parked */
	int parked;
	int released;
	int stopping;           /* no new sessions */
	int active;             /* clients with an open connection */
	int finished;
	uint64_t quota;         /* rate: sessions this thread may start */
	uint64_t started;
	char rbuf[LG_READ_BUF];
	char plain[LG_PLAIN_BUF];

	/* Results, merged by main after the join. */
	uint64_t ok, failed, messages, body_bytes, resumed, aborted;
	uint64_t errors[ST_COUNT];
	uint64_t timeouts[ST_COUNT];
	uint64_t t_last;        /* hrtime of the last completed session */
	lg_samples_t hs, sess;
	char tls_version[32], tls_cipher[64], tls_group[32];
};

typedef struct {
	uv_write_t req;
	size_t len;
	char data[];
} lg_wreq_t;

static void lg_session_start(lg_client_t *c);
static void lg_fail(lg_client_t *c, const char *why, int timeout);
static void lg_thread_maybe_finish(lg_thread_t *th);
static void lg_close_cb(uv_handle_t *h);

/* Closes the connection; the session's accounting is already done. */
static void
lg_close(lg_client_t *c)
{
	uv_timer_stop(&c->timer);
	if (c->active && !uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, lg_close_cb);
}

/* ------------------------------------------------------------------ */

static void
lg_samples_add(lg_samples_t *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint32_t *v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return;   /* a lost sample is better than a lost run */
		s->v = v;
		s->cap = cap;
	}
	uint64_t us = ns / 1000;
	s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
lg_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in milliseconds; s must be sorted. */
static double
lg_pct_ms(const lg_samples_t *s, double p)
{
	if (s->n == 0)
		return 0;
	size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1] / 1000.0;
}

/* ------------------------------------------------------------------ */
/* Writing */

static void
lg_write_cb(uv_write_t *req, int status)
{
	(void)status;   /* a failed write shows up as a failed read or a timeout */
	free(req);
}

/* Queues a copy of buf on the client's socket. */
static void
lg_write_raw(lg_client_t *c, const void *buf, size_t len)
{
	lg_wreq_t *w;
	uv_buf_t b;

	if (!c->active || uv_is_closing((uv_handle_t *)&c->tcp) || len == 0)
		return;
	if ((w = malloc(sizeof(*w) + len)) == NULL) {
		lg_fail(c, "oom", 0);
		return;
	}
	memcpy(w->data, buf, len);
	w->len = len;
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, lg_write_cb) != 0) {
		free(w);
		lg_fail(c, "write", 0);
	}
}

/* Sends what BoringSSL left in the write BIO. */
static void
lg_flush_tls(lg_client_t *c)
{
	size_t n;
	lg_wreq_t *w;
	uv_buf_t b;

	if (c->ssl == NULL || (n = BIO_pending(c->wbio)) == 0)
		return;
	if (!c->active || uv_is_closing((uv_handle_t *)&c->tcp)) {
		/* Nowhere to send it; drop it so the BIO does not grow. */
		while (BIO_read(c->wbio, c->th->plain, sizeof(c->th->plain)) > 0)
			;
		return;
	}
	if ((w = malloc(sizeof(*w) + n)) == NULL) {
		lg_fail(c, "oom", 0);
		return;
	}
	if (BIO_read(c->wbio, w->data, (int)n) != (int)n) {
		free(w);
		lg_fail(c, "bio", 0);
		return;
	}
	w->len = n;
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, lg_write_cb) != 0) {
		free(w);
		lg_fail(c, "write", 0);
	}
}

static void
lg_send(lg_client_t *c, const char *buf, size_t len)
{
	if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
		if (SSL_write(c->ssl, buf, (int)len) != (int)len) {
			lg_fail(c, "ssl_write", 0);
			return;
		}
		lg_flush_tls(c);
	} else {
		lg_write_raw(c, buf, len);
	}
}

/* ------------------------------------------------------------------ */
/* Steps */

static void
lg_timer_cb(uv_timer_t *t)
{
	lg_client_t *c = t->data;

	if (c->step == ST_CLOSING) {
		/* The server kept the connection after 221: close it ourselves. */
		lg_close(c);
		return;
	}
	lg_fail(c, "timeout", 1);
}

static void
lg_arm(lg_client_t *c)
{
	uint64_t ms = (uint64_t)(c->th->sh->o.step_timeout * 1000);
	uv_timer_start(&c->timer, lg_timer_cb, ms ? ms : 1, 0);
}

/* Moves to step, sending cmd first (NULL: nothing to send). */
static void
lg_step(lg_client_t *c, lg_step_t step, const char *cmd, size_t len)
{
	c->step = step;
	lg_arm(c);
	if (cmd != NULL)
		lg_send(c, cmd, len);
}

static void
lg_close_cb(uv_handle_t *h)
{
	lg_client_t *c = h->data;
	lg_thread_t *th = c->th;

	c->active = 0;
	th->active--;
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (th->sh->o.mode == MODE_IDLE) {
		lg_thread_maybe_finish(th);
		return;
	}
	if (!th->stopping && (th->quota == 0 || th->started < th->quota))
		lg_session_start(c);
	else
		lg_thread_maybe_finish(th);
}

/* Idle mode: one more session is parked or gone; start the next. */
static void
lg_idle_settled(lg_client_t *c)
{
	lg_thread_t *th = c->th;

	if (c->counted)
		return;
	c->counted = 1;
	th->setting_up--;
	while (th->next_idle < th->nclients &&
	    th->setting_up < th->sh->o.ramp && !th->stopping) {
		lg_client_t *n = &th->clients[th->next_idle++];
		th->setting_up++;
		lg_session_start(n);
	}
	if (atomic_fetch_sub(&th->sh->unparked, 1) == 1)
		uv_async_send(&th->sh->notify);
}

/* Ends the session as failed at its current step. Idempotent. */
static void
lg_fail(lg_client_t *c, const char *why, int timeout)
{
	lg_thread_t *th = c->th;

	(void)why;
	if (c->failed || !c->active)
		return;
	c->failed = 1;
	if (c->step != ST_CLOSING) {
		th->failed++;
		th->errors[c->step]++;
		if (timeout)
			th->timeouts[c->step]++;
	}
	if (th->sh->o.mode == MODE_IDLE && c->step != ST_QUIT &&
	    c->step != ST_CLOSING)
		lg_idle_settled(c);
	lg_close(c);
}

static void
lg_note_tls(lg_client_t *c)
{
	lg_thread_t *th = c->th;
	const SSL_CIPHER *ci;
	const char *g;

	if (th->tls_version[0] != '\0')
		return;
	snprintf(th->tls_version, sizeof(th->tls_version), "%s",
	    SSL_get_version(c->ssl));
	ci = SSL_get_current_cipher(c->ssl);
	snprintf(th->tls_cipher, sizeof(th->tls_cipher), "%s",
	    ci ? SSL_CIPHER_get_name(ci) : "?");
	g = SSL_get_curve_name(SSL_get_curve_id(c->ssl));
	snprintf(th->tls_group, sizeof(th->tls_group), "%s", g ? g : "?");
}

static void
lg_send_mail(lg_client_t *c)
{
	lg_shared_t *sh = c->th->sh;

	if (sh->o.pipeline)
		lg_step(c, ST_MAIL, sh->pipe_cmd, strlen(sh->pipe_cmd));
	else
		lg_step(c, ST_MAIL, sh->mail_cmd, strlen(sh->mail_cmd));
}

static void
lg_after_ehlo2(lg_client_t *c)
{
	lg_thread_t *th = c->th;

	if (th->sh->o.mode == MODE_IDLE) {
		c->step = ST_PARKED;
		uv_timer_stop(&c->timer);
		th->parked++;
		lg_idle_settled(c);
		return;
	}
	lg_send_mail(c);
}

/* Drives the handshake; returns -1 if the client failed. */
static int
lg_handshake(lg_client_t *c)
{
	lg_shared_t *sh = c->th->sh;
	int r = SSL_do_handshake(c->ssl);

	if (r != 1) {
		int e = SSL_get_error(c->ssl, r);
		lg_flush_tls(c);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		lg_fail(c, "handshake", 0);
		return -1;
	}
	lg_samples_add(&c->th->hs, uv_hrtime() - c->t_hs);
	if (SSL_session_reused(c->ssl))
		c->th->resumed++;
	lg_note_tls(c);
	lg_flush_tls(c);
	if (sh->o.implicit)
		lg_step(c, ST_BANNER, NULL, 0);
	else
		lg_step(c, ST_EHLO2, sh->ehlo_cmd, strlen(sh->ehlo_cmd));
	return 0;
}

static int
lg_tls_start(lg_client_t *c)
{
	lg_shared_t *sh = c->th->sh;

	if ((c->ssl = SSL_new(sh->ctx)) == NULL)
		goto err;
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		goto err;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	SSL_set_connect_state(c->ssl);
	if (sh->o.sni != NULL)
		SSL_set_tlsext_host_name(c->ssl, sh->o.sni);
	if (sh->o.ca_file != NULL && sh->o.sni != NULL)
		SSL_set1_host(c->ssl, sh->o.sni);
	if (sh->o.resume && c->saved != NULL) {
		SSL_set_session(c->ssl, c->saved);
		SSL_SESSION_free(c->saved);   /* tickets are single use */
		c->saved = NULL;
	}
	c->t_hs = uv_hrtime();
	lg_step(c, ST_HANDSHAKE, NULL, 0);
	return lg_handshake(c);
err:
	lg_fail(c, "ssl_new", 0);
	return -1;
}

/*
 * One complete reply (its last line) arrived. Returns 1 when the bytes
 * that follow are TLS, 0 to go on, -1 when the client is done or failed.
 */
static int
lg_on_reply(lg_client_t *c, int code)
{
	lg_thread_t *th = c->th;
	lg_shared_t *sh = th->sh;

	if (c->step == ST_PARKED || c->step == ST_CLOSING ||
	    lg_step_code[c->step] == 0 || code != lg_step_code[c->step]) {
		lg_fail(c, "reply", 0);
		return -1;
	}
	switch (c->step) {
	case ST_BANNER:
		if (sh->o.implicit || sh->o.plain || c->ssl != NULL)
			lg_step(c, ST_EHLO2, sh->ehlo_cmd, strlen(sh->ehlo_cmd));
		else
			lg_step(c, ST_EHLO1, sh->ehlo_cmd, strlen(sh->ehlo_cmd));
		return 0;
	case ST_EHLO1:
		lg_step(c, ST_STARTTLS, "STARTTLS\r\n", 10);
		return 0;
	case ST_STARTTLS:
		return lg_tls_start(c) == 0 ? 1 : -1;
	case ST_EHLO2:
		lg_after_ehlo2(c);
		return c->failed ? -1 : 0;
	case ST_MAIL:
		/* Pipelined: RCPT and DATA went with MAIL. */
		if (sh->o.pipeline)
			lg_step(c, ST_RCPT, NULL, 0);
		else
			lg_step(c, ST_RCPT, sh->rcpt_cmd, strlen(sh->rcpt_cmd));
		return 0;
	case ST_RCPT:
		if (sh->o.pipeline)
			lg_step(c, ST_DATA, NULL, 0);
		else
			lg_step(c, ST_DATA, "DATA\r\n", 6);
		return 0;
	case ST_DATA:
		lg_step(c, ST_EOD, sh->msg, sh->msg_len);
		return 0;
	case ST_EOD:
		th->messages++;
		th->body_bytes += sh->o.body_size;
		if (++c->msgs_done < sh->o.msgs)
			lg_send_mail(c);
		else
			lg_step(c, ST_QUIT, "QUIT\r\n", 6);
		return 0;
	case ST_QUIT: {
		uint64_t now = uv_hrtime();
		th->ok++;
		th->t_last = now;
		if (sh->o.mode != MODE_IDLE)   /* idle sessions last as long as held */
			lg_samples_add(&th->sess, now - c->t_start);
		c->step = ST_CLOSING;
		if (c->ssl != NULL) {
			SSL_shutdown(c->ssl);   /* close_notify, as MTAs send it */
			lg_flush_tls(c);
		}
		uv_timer_start(&c->timer, lg_timer_cb, LG_CLOSE_WAIT_MS, 0);
		return -1;
	}
	default:
		lg_fail(c, "state", 0);
		return -1;
	}
}

/*
 * Feeds received plaintext to the reply parser. Returns the number of
 * bytes consumed: fewer than len when a STARTTLS 220 switched to TLS (the
 * rest is TLS), or (size_t)-1 when the client is done or failed.
 */
static size_t
lg_feed(lg_client_t *c, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (ch != '\n') {
			if (c->linelen < sizeof(c->line))
				c->line[c->linelen] = ch;
			c->linelen++;
			continue;
		}
		/* A complete line: "ddd-text" continues, "ddd text" or "ddd" ends. */
		size_t n = c->linelen < sizeof(c->line) ? c->linelen : sizeof(c->line);
		if (n > 0 && c->line[n - 1] == '\r')
			n--;
		int code = -1;
		if (n >= 3 && c->line[0] >= '2' && c->line[0] <= '5' &&
		    c->line[1] >= '0' && c->line[1] <= '9' &&
		    c->line[2] >= '0' && c->line[2] <= '9')
			code = (c->line[0] - '0') * 100 + (c->line[1] - '0') * 10 +
			    (c->line[2] - '0');
		int last = n == 3 || (n > 3 && c->line[3] == ' ');
		int more = n > 3 && c->line[3] == '-';
		c->linelen = 0;
		if (c->line_code == 0)
			c->line_code = code;
		else if (c->line_code != code)
			c->line_code = -1;
		if (!last && !more)
			c->line_code = -1;
		if (!last && more && code != -1)
			continue;
		int rc = c->line_code;
		c->line_code = 0;
		if (rc == -1) {
			lg_fail(c, "bad_reply", 0);
			return (size_t)-1;
		}
		int r = lg_on_reply(c, rc);
		if (r < 0)
			return (size_t)-1;
		if (r == 1)
			return i + 1;
	}
	return len;
}

/* Handles bytes from the network once TLS has started. */
static void
lg_tls_input(lg_client_t *c, const char *p, size_t len)
{
	lg_thread_t *th = c->th;

	if (len > 0 && BIO_write(c->rbio, p, (int)len) != (int)len) {
		lg_fail(c, "bio", 0);
		return;
	}
	if (!SSL_is_init_finished(c->ssl)) {
		if (lg_handshake(c) == -1 || !SSL_is_init_finished(c->ssl))
			return;
	}
	for (;;) {
		int n = SSL_read(c->ssl, th->plain, sizeof(th->plain));
		if (n <= 0) {
			int e = SSL_get_error(c->ssl, n);
			lg_flush_tls(c);   /* e.g. a key update reply */
			if (e == SSL_ERROR_WANT_READ)
				return;
			if (c->step == ST_CLOSING) {
				lg_close(c);
				return;
			}
			lg_fail(c, e == SSL_ERROR_ZERO_RETURN ? "close_notify" :
			    "ssl_read", 0);
			return;
		}
		if (c->step == ST_CLOSING)
			continue;
		if (lg_feed(c, th->plain, (size_t)n) == (size_t)-1 &&
		    c->step != ST_CLOSING)
			return;
	}
}

static void
lg_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	lg_client_t *c = h->data;
	(void)hint;
	*buf = uv_buf_init(c->th->rbuf, sizeof(c->th->rbuf));
}

static void
lg_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	lg_client_t *c = s->data;

	if (nread == 0 || c->failed || uv_is_closing((uv_handle_t *)s))
		return;
	if (nread < 0) {
		if (c->step == ST_CLOSING)
			lg_close(c);
		else
			lg_fail(c, nread == UV_EOF ? "eof" : "read", 0);
		return;
	}
	if (c->ssl != NULL) {
		lg_tls_input(c, buf->base, (size_t)nread);
		return;
	}
	if (c->step == ST_CLOSING)
		return;
	size_t used = lg_feed(c, buf->base, (size_t)nread);
	if (used == (size_t)-1 || used == (size_t)nread || c->ssl == NULL)
		return;
	/* Bytes after the STARTTLS 220: the server's first TLS bytes. */
	lg_tls_input(c, buf->base + used, (size_t)nread - used);
}

static void
lg_connect_cb(uv_connect_t *req, int status)
{
	lg_client_t *c = req->data;

	if (c->failed || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (status < 0) {
		lg_fail(c, "connect", 0);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, lg_alloc_cb, lg_read_cb) != 0) {
		lg_fail(c, "read_start", 0);
		return;
	}
	if (c->th->sh->o.implicit)
		lg_tls_start(c);
	else
		lg_step(c, ST_BANNER, NULL, 0);
}

static void
lg_session_start(lg_client_t *c)
{
	lg_thread_t *th = c->th;
	int r;

	th->started++;
	c->step = ST_CONNECT;
	c->failed = 0;
	c->linelen = 0;
	c->line_code = 0;
	c->msgs_done = 0;
	c->t_start = uv_hrtime();
	if (uv_tcp_init(&th->loop, &c->tcp) != 0) {
		/* Cannot happen for AF_UNSPEC: no socket is made yet. */
		fprintf(stderr, "loadgen: uv_tcp_init failed\n");
		abort();
	}
	c->tcp.data = c;
	c->connreq.data = c;
	c->active = 1;
	th->active++;
	lg_arm(c);
	r = uv_tcp_connect(&c->connreq, &c->tcp,
	    (const struct sockaddr *)&th->sh->o.addr, lg_connect_cb);
	if (r != 0)
		lg_fail(c, "connect", 0);
}

/* ------------------------------------------------------------------ */
/* Threads */

static void
lg_abort_all(lg_thread_t *th)
{
	th->stopping = 1;
	for (int i = 0; i < th->nclients; i++) {
		lg_client_t *c = &th->clients[i];
		if (c->active && !c->failed) {
			if (c->step != ST_CLOSING)
				th->aborted++;
			lg_fail(c, "aborted", 1);
		}
	}
	lg_thread_maybe_finish(th);
}

static void
lg_stop_cb(uv_timer_t *t)
{
	lg_thread_t *th = t->data;
	th->stopping = 1;
	lg_thread_maybe_finish(th);
}

static void
lg_kill_cb(uv_timer_t *t)
{
	lg_abort_all(t->data);
}

static void
lg_release(lg_thread_t *th)
{
	th->released = 1;
	th->stopping = 1;
	for (int i = 0; i < th->nclients; i++) {
		lg_client_t *c = &th->clients[i];
		if (c->active && !c->failed && c->step == ST_PARKED)
			lg_step(c, ST_QUIT, "QUIT\r\n", 6);
	}
	lg_thread_maybe_finish(th);
}

static void
lg_cmd_cb(uv_async_t *a)
{
	lg_thread_t *th = a->data;

	if (atomic_exchange(&th->cmd_abort, 0))
		lg_abort_all(th);
	else if (atomic_exchange(&th->cmd_release, 0) && !th->released)
		lg_release(th);
}

static void
lg_noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
lg_thread_maybe_finish(lg_thread_t *th)
{
	if (th->finished || th->active > 0)
		return;
	if (th->sh->o.mode == MODE_IDLE) {
		if (!th->released && !th->stopping)
			return;
	} else if (!th->stopping && (th->quota == 0 || th->started < th->quota)) {
		return;
	}
	th->finished = 1;
	uv_close((uv_handle_t *)&th->stop_timer, lg_noop_close_cb);
	uv_close((uv_handle_t *)&th->kill_timer, lg_noop_close_cb);
	uv_close((uv_handle_t *)&th->cmd, lg_noop_close_cb);
	for (int i = 0; i < th->nclients; i++)
		uv_close((uv_handle_t *)&th->clients[i].timer, lg_noop_close_cb);
	atomic_fetch_add(&th->sh->threads_done, 1);
	uv_async_send(&th->sh->notify);
}

static void
lg_thread_main(void *arg)
{
	lg_thread_t *th = arg;
	lg_shared_t *sh = th->sh;

	uv_timer_init(&th->loop, &th->stop_timer);
	uv_timer_init(&th->loop, &th->kill_timer);
	th->stop_timer.data = th->kill_timer.data = th;
	for (int i = 0; i < th->nclients; i++) {
		lg_client_t *c = &th->clients[i];
		c->th = th;
		uv_timer_init(&th->loop, &c->timer);
		c->timer.data = c;
	}
	uv_timer_start(&th->kill_timer, lg_kill_cb,
	    (uint64_t)(sh->o.max_time * 1000), 0);

	if (sh->o.mode == MODE_IDLE) {
		th->setting_up = 0;
		while (th->next_idle < th->nclients &&
		    th->setting_up < sh->o.ramp) {
			th->setting_up++;
			lg_session_start(&th->clients[th->next_idle++]);
		}
	} else {
		if (sh->o.mode == MODE_RATE && sh->o.duration > 0)
			uv_timer_start(&th->stop_timer, lg_stop_cb,
			    (uint64_t)(sh->o.duration * 1000), 0);
		for (int i = 0; i < th->nclients; i++) {
			if (th->quota != 0 && th->started >= th->quota)
				break;
			lg_session_start(&th->clients[i]);
		}
	}
	lg_thread_maybe_finish(th);
	uv_run(&th->loop, UV_RUN_DEFAULT);
	for (int i = 0; i < th->nclients; i++)
		if (th->clients[i].saved != NULL)
			SSL_SESSION_free(th->clients[i].saved);
	uv_loop_close(&th->loop);
}

/* ------------------------------------------------------------------ */
/* Main thread: idle coordination, signals, reports */

typedef struct {
	lg_shared_t *sh;
	lg_thread_t *threads;
	int nthreads;
	uv_signal_t sigusr1;
	uv_timer_t hold;
	uv_timer_t kill;
	int parked_printed;
	int released;
	int closed;
} lg_main_t;

static void
lg_main_release(lg_main_t *m)
{
	if (m->released)
		return;
	m->released = 1;
	uv_timer_stop(&m->hold);
	for (int i = 0; i < m->nthreads; i++) {
		atomic_store(&m->threads[i].cmd_release, 1);
		uv_async_send(&m->threads[i].cmd);
	}
}

static void
lg_hold_cb(uv_timer_t *t)
{
	lg_main_release(t->data);
}

static void
lg_sigusr1_cb(uv_signal_t *s, int signum)
{
	(void)signum;
	lg_main_release(s->data);
}

static void
lg_main_kill_cb(uv_timer_t *t)
{
	lg_main_t *m = t->data;

	/* Threads have their own --max-time; this only unblocks idle. */
	for (int i = 0; i < m->nthreads; i++) {
		atomic_store(&m->threads[i].cmd_abort, 1);
		uv_async_send(&m->threads[i].cmd);
	}
}

static void
lg_notify_cb(uv_async_t *a)
{
	lg_main_t *m = a->data;
	lg_shared_t *sh = m->sh;

	if (sh->o.mode == MODE_IDLE && !m->parked_printed &&
	    atomic_load(&sh->unparked) == 0) {
		uint64_t parked = 0, failed = 0;
		m->parked_printed = 1;
		for (int i = 0; i < m->nthreads; i++) {
			/* Read racily: exact enough for a progress line. */
			parked += m->threads[i].parked;
			failed += m->threads[i].failed;
		}
		printf("PARKED n=%" PRIu64 " failed=%" PRIu64 " t=%.3f\n", parked,
		    failed, (double)(uv_hrtime() - sh->t0) / 1e9);
		fflush(stdout);
		uv_timer_start(&m->hold, lg_hold_cb,
		    (uint64_t)(sh->o.duration * 1000), 0);
	}
	if (!m->closed && atomic_load(&sh->threads_done) == m->nthreads) {
		m->closed = 1;
		uv_close((uv_handle_t *)&sh->notify, NULL);
		uv_close((uv_handle_t *)&m->sigusr1, NULL);
		uv_close((uv_handle_t *)&m->hold, NULL);
		uv_close((uv_handle_t *)&m->kill, NULL);
	}
}

static int
lg_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	lg_client_t *c = SSL_get_app_data(ssl);

	if (c == NULL || !c->th->sh->o.resume)
		return 0;
	if (c->saved != NULL)
		SSL_SESSION_free(c->saved);
	c->saved = sess;   /* takes ownership */
	return 1;
}

static SSL_CTX *
lg_ctx_new(const lg_opts_t *o)
{
	static const uint16_t ecdsa[] = {
		SSL_SIGN_ECDSA_SECP256R1_SHA256, SSL_SIGN_ECDSA_SECP384R1_SHA384,
	};
	static const uint16_t rsa[] = {
		SSL_SIGN_RSA_PSS_RSAE_SHA256, SSL_SIGN_RSA_PKCS1_SHA256,
		SSL_SIGN_RSA_PSS_RSAE_SHA384,
	};
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	if (ctx == NULL)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, o->tls_min) ||
	    !SSL_CTX_set_max_proto_version(ctx, o->tls_max))
		goto err;
	if (o->groups != NULL && !SSL_CTX_set1_curves_list(ctx, o->groups)) {
		fprintf(stderr, "loadgen: bad --groups %s\n", o->groups);
		goto err;
	}
	if (o->prefer != NULL) {
		int is_ec = strcmp(o->prefer, "ecdsa") == 0;
		if (!SSL_CTX_set_verify_algorithm_prefs(ctx, is_ec ? ecdsa : rsa,
		    is_ec ? sizeof(ecdsa) / sizeof(ecdsa[0]) :
		    sizeof(rsa) / sizeof(rsa[0])))
			goto err;
		if (o->ciphers == NULL && !SSL_CTX_set_strict_cipher_list(ctx,
		    is_ec ? "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"
		    : "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305"))
			goto err;
	}
	if (o->ciphers != NULL && !SSL_CTX_set_strict_cipher_list(ctx, o->ciphers)) {
		fprintf(stderr, "loadgen: bad --ciphers %s\n", o->ciphers);
		goto err;
	}
	if (o->ca_file != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL)) {
			fprintf(stderr, "loadgen: cannot load %s\n", o->ca_file);
			goto err;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	/* Tickets go to the client that got them, not to a shared cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(ctx, lg_new_session_cb);
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Body of exactly size bytes in 78-character lines, then ".\r\n". */
static int
lg_build_msg(lg_shared_t *sh)
{
	static const char hdr[] = "From: <bench@loadgen.test>\r\n"
	    "To: <sink@bench.test>\r\nSubject: loadgen\r\n\r\n";
	static const char alpha[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t size = sh->o.body_size, i = 0, col = 0;
	char *m = malloc(size + 3);

	if (m == NULL)
		return -1;
	if (size >= sizeof(hdr) - 1 + 2) {
		memcpy(m, hdr, sizeof(hdr) - 1);
		i = sizeof(hdr) - 1;
	}
	for (; i < size; i++) {
		if (i + 2 == size || col == 78) {
			/* Lines end in CRLF; the body's last two bytes are CRLF. */
			if (i + 1 < size) {
				m[i++] = '\r';
				m[i] = '\n';
				col = 0;
				continue;
			}
		}
		m[i] = alpha[(i * 7 + col) % (sizeof(alpha) - 1)];
		col++;
	}
	if (size == 1)
		m[0] = 'x';
	memcpy(m + size, ".\r\n", 3);
	/* A body that does not end in CRLF needs one before the dot. */
	if (size < 2 || m[size - 2] != '\r' || m[size - 1] != '\n') {
		free(m);
		return -1;
	}
	sh->msg = m;
	sh->msg_len = size + 3;
	return 0;
}

static void
lg_usage(FILE *f)
{
	fprintf(f,
	    "usage: loadgen [options] rate|bulk|idle\n"
	    "  -H HOST        server address (numeric; default 127.0.0.1)\n"
	    "  -p PORT        server port (default 10025)\n"
	    "  -c N           concurrent clients (rate: 16, bulk: 1)\n"
	    "  -k N           idle: sessions to park (default 1000)\n"
	    "  -R N           idle: sessions setting up at once (default 64)\n"
	    "  -d SECONDS     rate: time for new sessions (default 10 unless -n);\n"
	    "                 idle: how long to hold the parked sessions (default 5)\n"
	    "  -n N           rate: total sessions\n"
	    "  -s BYTES       message size (rate: 10240, bulk: 1048576)\n"
	    "  -m N           messages per session (rate: 1, bulk: 100)\n"
	    "  -r             resume TLS sessions (tickets) of the client's last session\n"
	    "  -t N           threads, each with its own loop (default 1)\n"
	    "  -T SECONDS     timeout of each step (default 30)\n"
	    "  --max-time S   abort everything after S seconds (default: -d + 120)\n"
	    "  --implicit     TLS from the first byte (port 465 style)\n"
	    "  --plain        no STARTTLS, no TLS: a plaintext sender\n"
	    "  --pipeline     MAIL, RCPT and DATA in one write (RFC 2920)\n"
	    "  --tls 1.2|1.3  only this TLS version (default: 1.2 or 1.3)\n"
	    "  --prefer ecdsa|rsa  offer only these signature algorithms\n"
	    "  --groups LIST  key exchange groups (default X25519:P-256)\n"
	    "  --ciphers LIST TLS 1.2 cipher list\n"
	    "  --sni NAME     send SNI (and verify NAME with --ca)\n"
	    "  --ca FILE      verify the server against FILE (default: no verification)\n"
	    "  --ehlo NAME    EHLO name (default loadgen.bench.test)\n"
	    "  -q             only the JSON line\n");
}

static int
lg_parse(int argc, char **argv, lg_opts_t *o)
{
	enum { O_IMPLICIT = 256, O_PLAIN, O_PIPELINE, O_TLS, O_PREFER, O_GROUPS, O_CIPHERS, O_SNI,
	    O_CA, O_EHLO, O_MAXTIME };
	static const struct option longopts[] = {
		{ "implicit", no_argument, NULL, O_IMPLICIT },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "pipeline", no_argument, NULL, O_PIPELINE },
		{ "tls", required_argument, NULL, O_TLS },
		{ "prefer", required_argument, NULL, O_PREFER },
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "ciphers", required_argument, NULL, O_CIPHERS },
		{ "sni", required_argument, NULL, O_SNI },
		{ "ca", required_argument, NULL, O_CA },
		{ "ehlo", required_argument, NULL, O_EHLO },
		{ "max-time", required_argument, NULL, O_MAXTIME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, conc = -1, msgs = -1;
	long long size = -1;
	double dur = -1;
	char *end;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 10025;
	o->idle_k = 1000;
	o->ramp = 64;
	o->threads = 1;
	o->step_timeout = 30;
	o->max_time = -1;
	o->tls_min = TLS1_2_VERSION;
	o->tls_max = TLS1_3_VERSION;
	/* X25519 first, so it is the only key share of TLS 1.3; P-256 too,
	 * since TLS 1.2 takes the list as the curves an ECDSA certificate
	 * may use (RFC 8422 5.1.1). */
	o->groups = "X25519:P-256";
	o->ehlo = "loadgen.bench.test";
	while ((ch = getopt_long(argc, argv, "H:p:c:k:R:d:n:s:m:rt:T:qh",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': o->host = optarg; break;
		case 'p': o->port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'k': o->idle_k = atoi(optarg); break;
		case 'R': o->ramp = atoi(optarg); break;
		case 'd': dur = strtod(optarg, &end); break;
		case 'n': o->nsessions = strtoull(optarg, &end, 10); break;
		case 's': size = strtoll(optarg, &end, 10); break;
		case 'm': msgs = atoi(optarg); break;
		case 'r': o->resume = 1; break;
		case 't': o->threads = atoi(optarg); break;
		case 'T': o->step_timeout = strtod(optarg, &end); break;
		case 'q': o->quiet = 1; break;
		case O_IMPLICIT: o->implicit = 1; break;
		case O_PLAIN: o->plain = 1; break;
		case O_PIPELINE: o->pipeline = 1; break;
		case O_TLS:
			if (strcmp(optarg, "1.2") == 0)
				o->tls_min = o->tls_max = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") == 0)
				o->tls_min = o->tls_max = TLS1_3_VERSION;
			else
				return -1;
			break;
		case O_PREFER:
			if (strcmp(optarg, "ecdsa") != 0 && strcmp(optarg, "rsa") != 0)
				return -1;
			o->prefer = optarg;
			break;
		case O_GROUPS: o->groups = optarg; break;
		case O_CIPHERS: o->ciphers = optarg; break;
		case O_SNI: o->sni = optarg; break;
		case O_CA: o->ca_file = optarg; break;
		case O_EHLO: o->ehlo = optarg; break;
		case O_MAXTIME: o->max_time = strtod(optarg, &end); break;
		case 'h': lg_usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	if (strcmp(argv[optind], "rate") == 0)
		o->mode = MODE_RATE;
	else if (strcmp(argv[optind], "bulk") == 0)
		o->mode = MODE_BULK;
	else if (strcmp(argv[optind], "idle") == 0)
		o->mode = MODE_IDLE;
	else
		return -1;

	if (o->mode == MODE_BULK) {
		o->conc = conc > 0 ? conc : 1;
		o->body_size = size >= 0 ? (size_t)size : 1048576;
		o->msgs = msgs > 0 ? msgs : 100;
		o->nsessions = (uint64_t)o->conc;
		o->duration = 0;
	} else {
		o->conc = conc > 0 ? conc : 16;
		o->body_size = size >= 0 ? (size_t)size : 10240;
		o->msgs = msgs > 0 ? msgs : 1;
		if (o->mode == MODE_IDLE)
			o->duration = dur >= 0 ? dur : 5;
		else
			o->duration = dur >= 0 ? dur : (o->nsessions ? 0 : 10);
	}
	if (o->max_time < 0)
		o->max_time = o->duration + 120 + (o->mode == MODE_BULK ? 480 : 0);
	if (o->port <= 0 || o->port > 65535 || o->conc > LG_MAX_CONC ||
	    o->idle_k <= 0 || o->idle_k > LG_MAX_CONC || o->ramp <= 0 ||
	    o->threads <= 0 || o->threads > LG_MAX_THREADS ||
	    o->body_size < 2 || o->body_size > (1u << 30) ||
	    o->step_timeout <= 0 || o->max_time <= 0 || o->duration < 0)
		return -1;
	if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&o->addr) != 0 &&
	    uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&o->addr) != 0) {
		fprintf(stderr, "loadgen: %s is not a numeric address\n", o->host);
		return -1;
	}
	return 0;
}

static void
lg_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static const char *
lg_mode_name(lg_mode_t m)
{
	return m == MODE_RATE ? "rate" : m == MODE_BULK ? "bulk" : "idle";
}

static void
lg_report(lg_shared_t *sh, lg_thread_t *ths, int nth)
{
	lg_thread_t sum;
	const lg_opts_t *o = &sh->o;
	uint64_t parked = 0, t_last = 0;

	memset(&sum, 0, sizeof(sum));
	for (int i = 0; i < nth; i++) {
		lg_thread_t *t = &ths[i];
		sum.ok += t->ok;
		sum.failed += t->failed;
		sum.messages += t->messages;
		sum.body_bytes += t->body_bytes;
		sum.resumed += t->resumed;
		sum.aborted += t->aborted;
		parked += (uint64_t)t->parked;
		for (int s = 0; s < ST_COUNT; s++) {
			sum.errors[s] += t->errors[s];
			sum.timeouts[s] += t->timeouts[s];
		}
		if (t->t_last > t_last)
			t_last = t->t_last;
		for (size_t j = 0; j < t->hs.n; j++)
			lg_samples_add(&sum.hs, (uint64_t)t->hs.v[j] * 1000);
		for (size_t j = 0; j < t->sess.n; j++)
			lg_samples_add(&sum.sess, (uint64_t)t->sess.v[j] * 1000);
		if (sum.tls_version[0] == '\0' && t->tls_version[0] != '\0') {
			memcpy(sum.tls_version, t->tls_version, sizeof(sum.tls_version));
			memcpy(sum.tls_cipher, t->tls_cipher, sizeof(sum.tls_cipher));
			memcpy(sum.tls_group, t->tls_group, sizeof(sum.tls_group));
		}
	}
	if (sum.hs.n)
		qsort(sum.hs.v, sum.hs.n, sizeof(uint32_t), lg_u32_cmp);
	if (sum.sess.n)
		qsort(sum.sess.v, sum.sess.n, sizeof(uint32_t), lg_u32_cmp);

	/* Rates over the time until the last session completed. */
	double elapsed = (double)((t_last ? t_last : uv_hrtime()) - sh->t0) / 1e9;
	if (elapsed <= 0)
		elapsed = 1e-9;
	double sps = o->mode == MODE_IDLE ? 0 : (double)sum.ok / elapsed;
	double mbps = o->mode == MODE_IDLE ? 0 :
	    (double)sum.body_bytes / 1e6 / elapsed;
	uint64_t errs = 0;
	for (int s = 0; s < ST_COUNT; s++)
		errs += sum.errors[s];

	if (!o->quiet) {
		printf("%s: %" PRIu64 " sessions ok, %" PRIu64 " failed, %.1f sessions/s, "
		    "%.1f MB/s, handshake p50 %.2f ms p99 %.2f ms, session p50 %.2f ms "
		    "p99 %.2f ms, %s %s %s%s\n", lg_mode_name(o->mode), sum.ok,
		    sum.failed, sps, mbps, lg_pct_ms(&sum.hs, 50),
		    lg_pct_ms(&sum.hs, 99), lg_pct_ms(&sum.sess, 50),
		    lg_pct_ms(&sum.sess, 99), sum.tls_version, sum.tls_cipher,
		    sum.tls_group, errs ? " (errors below)" : "");
		for (int s = 0; s < ST_COUNT; s++)
			if (sum.errors[s])
				printf("  errors at %s: %" PRIu64 " (%" PRIu64 " timeouts)\n",
				    lg_step_names[s], sum.errors[s], sum.timeouts[s]);
	}
	printf("{\"mode\":\"%s\",\"conc\":%d,\"idle_k\":%d,\"threads\":%d,"
	    "\"body_size\":%zu,\"msgs_per_session\":%d,\"resume\":%d,"
	    "\"implicit\":%d,\"plain\":%d,\"pipeline\":%d,\"sessions_ok\":%" PRIu64 ",\"sessions_failed\":%" PRIu64
	    ",\"parked\":%" PRIu64 ",\"aborted\":%" PRIu64 ",\"messages\":%" PRIu64
	    ",\"body_bytes\":%" PRIu64 ",\"elapsed_s\":%.3f,\"sessions_per_s\":%.2f,"
	    "\"mb_per_s\":%.2f,\"handshakes\":%zu,\"resumed\":%" PRIu64 ","
	    "\"hs_p50_ms\":%.3f,\"hs_p99_ms\":%.3f,\"sess_p50_ms\":%.3f,"
	    "\"sess_p99_ms\":%.3f,\"tls_version\":\"%s\",\"cipher\":\"%s\","
	    "\"group\":\"%s\",\"errors_total\":%" PRIu64 ",\"errors\":{",
	    lg_mode_name(o->mode), o->conc, o->mode == MODE_IDLE ? o->idle_k : 0,
	    o->threads, o->body_size, o->msgs, o->resume, o->implicit, o->plain, o->pipeline, sum.ok,
	    sum.failed, parked, sum.aborted, sum.messages, sum.body_bytes, elapsed,
	    sps, mbps, sum.hs.n, sum.resumed, lg_pct_ms(&sum.hs, 50),
	    lg_pct_ms(&sum.hs, 99), lg_pct_ms(&sum.sess, 50),
	    lg_pct_ms(&sum.sess, 99), sum.tls_version, sum.tls_cipher,
	    sum.tls_group, errs);
	for (int s = 0, first = 1; s < ST_COUNT; s++) {
		if (!sum.errors[s])
			continue;
		printf("%s\"%s\":%" PRIu64, first ? "" : ",", lg_step_names[s],
		    sum.errors[s]);
		first = 0;
	}
	printf("}}\n");
	fflush(stdout);
	free(sum.hs.v);
	free(sum.sess.v);
}

int
main(int argc, char **argv)
{
	lg_shared_t *sh;
	lg_thread_t *ths;
	lg_main_t m;
	uv_loop_t *loop = uv_default_loop();
	int total, rc = 1;

	signal(SIGPIPE, SIG_IGN);
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return 1;
	if (lg_parse(argc, argv, &sh->o) == -1) {
		lg_usage(stderr);
		return 2;
	}
	lg_raise_nofile();
	if (lg_build_msg(sh) == -1) {
		fprintf(stderr, "loadgen: cannot build a %zu-byte message\n",
		    sh->o.body_size);
		return 2;
	}
	if ((sh->ctx = lg_ctx_new(&sh->o)) == NULL) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	snprintf(sh->mail_cmd, sizeof(sh->mail_cmd),
	    "MAIL FROM:<bench@loadgen.test>\r\n");
	snprintf(sh->rcpt_cmd, sizeof(sh->rcpt_cmd), "RCPT TO:<sink@bench.test>\r\n");
	snprintf(sh->pipe_cmd, sizeof(sh->pipe_cmd), "%sRCPT TO:<sink@bench.test>\r\n"
	    "DATA\r\n", sh->mail_cmd);
	snprintf(sh->ehlo_cmd, sizeof(sh->ehlo_cmd), "EHLO %.255s\r\n", sh->o.ehlo);

	total = sh->o.mode == MODE_IDLE ? sh->o.idle_k : sh->o.conc;
	if (sh->o.threads > total)
		sh->o.threads = total;
	if ((ths = calloc((size_t)sh->o.threads, sizeof(*ths))) == NULL)
		return 1;
	atomic_init(&sh->unparked, sh->o.mode == MODE_IDLE ? sh->o.idle_k : -1);
	atomic_init(&sh->threads_done, 0);

	memset(&m, 0, sizeof(m));
	m.sh = sh;
	m.threads = ths;
	m.nthreads = sh->o.threads;
	uv_async_init(loop, &sh->notify, lg_notify_cb);
	sh->notify.data = &m;
	uv_signal_init(loop, &m.sigusr1);
	m.sigusr1.data = &m;
	uv_signal_start(&m.sigusr1, lg_sigusr1_cb, SIGUSR1);
	uv_timer_init(loop, &m.hold);
	m.hold.data = &m;
	uv_timer_init(loop, &m.kill);
	m.kill.data = &m;
	uv_timer_start(&m.kill, lg_main_kill_cb,
	    (uint64_t)(sh->o.max_time * 1000) + 1000, 0);
	uv_unref((uv_handle_t *)&m.kill);

	for (int i = 0; i < m.nthreads; i++) {
		lg_thread_t *th = &ths[i];
		int share = total / m.nthreads + (i < total % m.nthreads);
		th->sh = sh;
		th->id = i;
		th->nclients = share;
		if ((th->clients = calloc((size_t)share, sizeof(lg_client_t))) == NULL)
			return 1;
		if (sh->o.nsessions) {
			th->quota = sh->o.nsessions / (uint64_t)m.nthreads +
			    ((uint64_t)i < sh->o.nsessions % (uint64_t)m.nthreads);
			if (th->quota == 0)
				th->stopping = 1;
		}
		if (uv_loop_init(&th->loop) != 0 ||
		    uv_async_init(&th->loop, &th->cmd, lg_cmd_cb) != 0)
			return 1;
		th->cmd.data = th;
		atomic_init(&th->cmd_release, 0);
		atomic_init(&th->cmd_abort, 0);
	}
	sh->t0 = uv_hrtime();
	for (int i = 0; i < m.nthreads; i++)
		if (uv_thread_create(&ths[i].tid, lg_thread_main, &ths[i]) != 0)
			return 1;
	uv_run(loop, UV_RUN_DEFAULT);
	for (int i = 0; i < m.nthreads; i++)
		uv_thread_join(&ths[i].tid);

	lg_report(sh, ths, m.nthreads);
	{
		uint64_t ok = 0, failed = 0;
		for (int i = 0; i < m.nthreads; i++) {
			ok += ths[i].ok;
			failed += ths[i].failed;
		}
		rc = failed == 0 && ok > 0 ? 0 : 1;
	}
	for (int i = 0; i < m.nthreads; i++) {
		free(ths[i].clients);
		free(ths[i].hs.v);
		free(ths[i].sess.v);
	}
	free(ths);
	SSL_CTX_free(sh->ctx);
	free(sh->msg);
	free(sh);
	uv_loop_close(loop);
	return rc;
}
