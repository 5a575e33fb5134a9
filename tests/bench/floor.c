/*
 * floor: the crypto floor of the inbound benchmark, for benchmarks only.
 *
 *   stp-floor -p PORT -c CERT -k KEY [-i]
 *
 * A bare SMTP + STARTTLS responder on 127.0.0.1 that speaks exactly the
 * dialogue of stp-loadgen (banner, EHLO, STARTTLS, handshake, EHLO, MAIL,
 * RCPT, DATA, body, end of data, QUIT) and nothing more: no backend, no
 * relaying, no logging, no policy. It does the same TLS handshake as
 * starttls-proxy's inbound listener (the same BoringSSL, the same TLS
 * settings: proxy/tls.c) and the same exchange, so its CPU per session is
 * what no proxy can go below on this machine with this BoringSSL.
 *
 * Built to be cheap: one thread, level-triggered epoll on non-blocking
 * sockets, BoringSSL on the socket itself (SSL_set_fd), replies written
 * once per batch of input, the body scanned for CRLF.CRLF with memchr.
 * -i: implicit TLS (port 465 style) on the same port instead of STARTTLS.
 *
 * Bounded: command lines of FL_LINE_MAX octets, FL_OUT_MAX octets of
 * replies not yet written (a client that pipelines more without reading is
 * closed), and no more sessions than the descriptor limit allows. No
 * timeouts: a session ends when its client leaves or errs. Stop it with
 * SIGTERM or SIGINT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define FL_LINE_MAX 512          /* RFC 5321 4.5.3.1.4: command line with CRLF */
#define FL_OUT_MAX 2048          /* replies queued and not yet written */
#define FL_READ_BUF (64 * 1024)  /* one read; a TLS record is at most 16 KiB */
#define FL_EVENTS 256            /* epoll events per wait */
#define FL_ACCEPTS 64            /* accepts per listener wake-up */
#define FL_FD_RESERVE 16         /* descriptors kept for the listener, epoll, stdio */

/* The TLS 1.2 suites of proxy/tls.c (tls_cipher_list), kept in step by hand. */
static const char fl_cipher_list[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static const char fl_banner[] = "220 floor.bench.test ESMTP stp-floor\r\n";
static const char fl_ehlo_plain[] =
    "250-floor.bench.test\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 104857600\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-8BITMIME\r\n"
    "250 STARTTLS\r\n";
static const char fl_ehlo_tls[] =
    "250-floor.bench.test\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 104857600\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250 8BITMIME\r\n";
static const char fl_helo[] = "250 floor.bench.test\r\n";
static const char fl_ok[] = "250 2.0.0 Ok\r\n";
static const char fl_starttls[] = "220 2.0.0 Ready to start TLS\r\n";
static const char fl_data[] = "354 End data with <CR><LF>.<CR><LF>\r\n";
static const char fl_queued[] = "250 2.0.0 Ok: queued\r\n";
static const char fl_bye[] = "221 2.0.0 Bye\r\n";
static const char fl_too_long[] = "500 5.5.2 Line too long\r\n";
static const char fl_unknown[] = "502 5.5.2 Command not recognized\r\n";
static const char fl_sequence[] = "503 5.5.1 Bad sequence of commands\r\n";
static const char fl_no_tls[] = "454 4.7.0 TLS not available now\r\n";

typedef enum {
	FL_CMD,        /* reading command lines */
	FL_HANDSHAKE,  /* TLS handshake in server role */
	FL_DATA,       /* reading a message body up to CRLF.CRLF */
} fl_state_t;

/* Where the body scan is in "\r\n.\r\n"; a body starts at a line start. */
typedef enum {
	FL_EOD_MID,    /* inside a line */
	FL_EOD_BOL,    /* after CRLF */
	FL_EOD_DOT,    /* after CRLF "." */
	FL_EOD_DOTCR,  /* after CRLF ".\r" */
} fl_eod_t;

typedef struct fl_server fl_server_t;

typedef struct {
	fl_server_t *srv;    /* borrowed */
	int fd;              /* owned */
	SSL *ssl;            /* owned; NULL before STARTTLS */
	fl_state_t state;
	fl_eod_t eod;
	int prev_cr;         /* FL_EOD_MID: the octet before the next was CR */
	int ehlo, mail, rcpt;
	int skip_line;       /* discarding the rest of an over-long line */
	int tls_next;        /* start TLS once the output is written */
	int close_next;      /* close once the output is written */
	uint32_t events;     /* what epoll watches now */
	size_t linelen;
	size_t outoff, outlen;
	char line[FL_LINE_MAX];
	char out[FL_OUT_MAX];
} fl_session_t;

struct fl_server {
	int epfd, lfd;
	int implicit;
	SSL_CTX *ctx;
	long nsessions, max_sessions;
	char rbuf[FL_READ_BUF];
};

/* epoll's data.ptr for the listener: any address no session can have. */
#define FL_LISTENER(srv) ((void *)&(srv)->lfd)

/* ------------------------------------------------------------------ */
/* Sessions */

/* Closes s and frees it. Takes ownership of s. */
static void
fl_session_free(fl_session_t *s)
{
	if (s == NULL)
		return;
	SSL_free(s->ssl);
	close(s->fd);   /* also leaves the epoll set */
	s->srv->nsessions--;
	free(s);
}

static int
fl_watch(fl_session_t *s, uint32_t events)
{
	struct epoll_event ev;

	if (s->events == events)
		return 0;
	ev.events = events;
	ev.data.ptr = s;
	if (epoll_ctl(s->srv->epfd, EPOLL_CTL_MOD, s->fd, &ev) == -1)
		return -1;
	s->events = events;
	return 0;
}

/* Queues a reply; -1 when the output is full (a client not reading). */
static int
fl_reply(fl_session_t *s, const char *r, size_t len)
{
	if (len > sizeof(s->out) - s->outlen)
		return -1;
	memcpy(s->out + s->outlen, r, len);
	s->outlen += len;
	return 0;
}

#define FL_REPLY(s, lit) fl_reply((s), (lit), sizeof(lit) - 1)

/*
 * Writes what is queued. Returns 1 when all is written, 0 when the socket
 * is full (EPOLLOUT is then watched), -1 on error.
 */
static int
fl_flush(fl_session_t *s)
{
	while (s->outoff < s->outlen) {
		size_t left = s->outlen - s->outoff;
		ssize_t n;

		if (s->ssl != NULL) {
			int r = SSL_write(s->ssl, s->out + s->outoff, (int)left);
			if (r <= 0) {
				if (SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_WRITE)
					return fl_watch(s, EPOLLOUT) == 0 ? 0 : -1;
				return -1;
			}
			n = r;
		} else {
			n = send(s->fd, s->out + s->outoff, left, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return fl_watch(s, EPOLLOUT) == 0 ? 0 : -1;
				if (errno == EINTR)
					continue;
				return -1;
			}
		}
		s->outoff += (size_t)n;
	}
	s->outoff = s->outlen = 0;
	return 1;
}

static int
fl_tls_start(fl_session_t *s)
{
	if ((s->ssl = SSL_new(s->srv->ctx)) == NULL ||
	    !SSL_set_fd(s->ssl, s->fd))
		return -1;
	SSL_set_accept_state(s->ssl);
	s->state = FL_HANDSHAKE;
	s->linelen = 0;
	s->skip_line = 0;
	s->ehlo = s->mail = s->rcpt = 0;
	return 0;
}

/* Returns 0 to go on (finished or waiting), -1 to close. */
static int
fl_handshake(fl_session_t *s)
{
	int r = SSL_do_handshake(s->ssl);

	if (r != 1) {
		switch (SSL_get_error(s->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			return fl_watch(s, EPOLLIN);
		case SSL_ERROR_WANT_WRITE:
			return fl_watch(s, EPOLLOUT);
		default:
			return -1;
		}
	}
	s->state = FL_CMD;
	if (fl_watch(s, EPOLLIN) == -1)
		return -1;
	if (s->srv->implicit) {
		if (FL_REPLY(s, fl_banner) == -1)
			return -1;
		return fl_flush(s) == -1 ? -1 : 0;
	}
	return 0;
}

/* ASCII case-insensitive: does the line start with verb (upper case)? */
static int
fl_verb_is(const char *line, size_t len, const char *verb, size_t vlen)
{
	if (len < vlen || (len > vlen && line[vlen] != ' '))
		return 0;
	for (size_t i = 0; i < vlen; i++) {
		char c = line[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != verb[i])
			return 0;
	}
	return 1;
}

#define FL_VERB(line, len, lit) fl_verb_is((line), (len), (lit), sizeof(lit) - 1)

/*
 * One command line without its line end. Returns 0 to go on, 1 to stop
 * reading input (STARTTLS or QUIT: what follows is not for us), -1 to
 * close.
 */
static int
fl_command(fl_session_t *s, const char *line, size_t len)
{
	int tls = s->ssl != NULL;

	if (FL_VERB(line, len, "EHLO")) {
		s->ehlo = 1;
		s->mail = s->rcpt = 0;
		return tls || s->srv->implicit ? FL_REPLY(s, fl_ehlo_tls) :
		    FL_REPLY(s, fl_ehlo_plain);
	}
	if (FL_VERB(line, len, "HELO")) {
		s->ehlo = 1;
		s->mail = s->rcpt = 0;
		return FL_REPLY(s, fl_helo);
	}
	if (FL_VERB(line, len, "STARTTLS")) {
		if (tls || s->srv->implicit)
			return FL_REPLY(s, fl_no_tls);
		s->tls_next = 1;
		return FL_REPLY(s, fl_starttls) == -1 ? -1 : 1;
	}
	if (FL_VERB(line, len, "MAIL")) {
		if (!s->ehlo || s->mail)
			return FL_REPLY(s, fl_sequence);
		s->mail = 1;
		return FL_REPLY(s, fl_ok);
	}
	if (FL_VERB(line, len, "RCPT")) {
		if (!s->mail)
			return FL_REPLY(s, fl_sequence);
		s->rcpt = 1;
		return FL_REPLY(s, fl_ok);
	}
	if (FL_VERB(line, len, "DATA")) {
		if (!s->rcpt)
			return FL_REPLY(s, fl_sequence);
		s->state = FL_DATA;
		s->eod = FL_EOD_BOL;
		s->prev_cr = 0;
		return FL_REPLY(s, fl_data);
	}
	if (FL_VERB(line, len, "RSET") || FL_VERB(line, len, "NOOP")) {
		s->mail = s->rcpt = 0;
		return FL_REPLY(s, fl_ok);
	}
	if (FL_VERB(line, len, "QUIT")) {
		s->close_next = 1;
		return FL_REPLY(s, fl_bye) == -1 ? -1 : 1;
	}
	return FL_REPLY(s, fl_unknown);
}

/*
 * Scans body octets for CRLF.CRLF. Returns 1 when it ends in p, with
 * *used the offset just after it; 0 when the body goes on past p. Only the
 * octets around line ends are looked at one by one; memchr skips the rest.
 */
static int
fl_body_scan(fl_session_t *s, const char *p, size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		switch (s->eod) {
		case FL_EOD_MID: {
			const char *lf = memchr(p + i, '\n', len - i);
			if (lf == NULL) {
				s->prev_cr = p[len - 1] == '\r';
				i = len;
				break;
			}
			size_t j = (size_t)(lf - p);
			int cr = j > i ? p[j - 1] == '\r' : s->prev_cr;
			i = j + 1;
			s->eod = cr ? FL_EOD_BOL : FL_EOD_MID;
			s->prev_cr = 0;
			break;
		}
		case FL_EOD_BOL:
			if (p[i] == '.') {
				s->eod = FL_EOD_DOT;
				i++;
			} else {
				s->eod = FL_EOD_MID;   /* p[i] is read again there */
				s->prev_cr = 0;
			}
			break;
		case FL_EOD_DOT:
			if (p[i] == '\r') {
				s->eod = FL_EOD_DOTCR;
				i++;
			} else {
				s->eod = FL_EOD_MID;
				s->prev_cr = 0;
			}
			break;
		case FL_EOD_DOTCR:
			if (p[i] == '\n') {
				*used = i + 1;
				return 1;
			}
			s->eod = FL_EOD_MID;
			s->prev_cr = 1;
			break;
		}
	}
	*used = len;
	return 0;
}

/*
 * Takes len octets of plaintext. Returns 0 to go on, 1 when the rest of
 * the connection's input is not for us (STARTTLS, QUIT), -1 to close.
 */
static int
fl_input(fl_session_t *s, const char *p, size_t len)
{
	while (len > 0) {
		if (s->state == FL_DATA) {
			size_t used;
			if (fl_body_scan(s, p, len, &used)) {
				s->state = FL_CMD;
				s->mail = s->rcpt = 0;
				if (FL_REPLY(s, fl_queued) == -1)
					return -1;
			}
			p += used;
			len -= used;
			continue;
		}
		const char *lf = memchr(p, '\n', len);
		size_t take = lf != NULL ? (size_t)(lf - p) + 1 : len;
		if (s->skip_line) {
			s->skip_line = lf == NULL;
		} else if (s->linelen + take > sizeof(s->line)) {
			if (FL_REPLY(s, fl_too_long) == -1)
				return -1;
			s->linelen = 0;
			s->skip_line = lf == NULL;
		} else {
			memcpy(s->line + s->linelen, p, take);
			s->linelen += take;
			if (lf != NULL) {
				size_t n = s->linelen - 1;
				if (n > 0 && s->line[n - 1] == '\r')
					n--;
				s->linelen = 0;
				int r = fl_command(s, s->line, n);
				if (r != 0)
					return r;
			}
		}
		p += take;
		len -= take;
	}
	return 0;
}

/*
 * One read: plaintext into buf. Returns the octets read, 0 when nothing
 * is there now, -1 on end or error.
 */
static ssize_t
fl_read(fl_session_t *s, char *buf, size_t cap)
{
	if (s->ssl != NULL) {
		int r = SSL_read(s->ssl, buf, (int)cap);
		if (r > 0)
			return r;
		switch (SSL_get_error(s->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			return 0;
		case SSL_ERROR_WANT_WRITE:   /* e.g. a KeyUpdate reply */
			return fl_watch(s, EPOLLOUT) == 0 ? 0 : -1;
		default:
			return -1;
		}
	}
	for (;;) {
		ssize_t n = read(s->fd, buf, cap);
		if (n > 0)
			return n;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
}

/*
 * After the output is written: switch to TLS or close, as the last
 * command asked. Returns 0 to go on, -1 to close.
 */
static int
fl_after_flush(fl_session_t *s)
{
	if (s->close_next) {
		if (s->ssl != NULL)
			(void)SSL_shutdown(s->ssl);   /* close_notify, as the proxy */
		return -1;
	}
	if (s->tls_next) {
		s->tls_next = 0;
		/* The ClientHello comes after our 220: wait for it rather than
		 * try a read that finds nothing. */
		return fl_tls_start(s);
	}
	return 0;
}

/*
 * The socket is readable. In the lock-step dialogue a client waits for
 * each reply, so reading stops once a reply is queued (level-triggered
 * epoll calls again if more came); a body is read until the socket is dry.
 * Returns 0 to go on, -1 to close.
 */
static int
fl_readable(fl_session_t *s)
{
	for (;;) {
		ssize_t n = fl_read(s, s->srv->rbuf, sizeof(s->srv->rbuf));
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		int r = fl_input(s, s->srv->rbuf, (size_t)n);
		if (r == -1)
			return -1;
		if (r == 1)
			break;   /* STARTTLS or QUIT: the rest is not commands */
		if (s->outlen > 0 && (s->ssl == NULL || SSL_pending(s->ssl) == 0))
			break;
	}
	if (s->outlen == 0)
		return 0;
	switch (fl_flush(s)) {
	case 1:
		return fl_after_flush(s);
	case 0:
		return 0;
	default:
		return -1;
	}
}

/* Returns 0 to go on, -1 to close. */
static int
fl_writable(fl_session_t *s)
{
	if (s->state == FL_HANDSHAKE)
		return fl_handshake(s);
	switch (fl_flush(s)) {
	case 1:
		break;
	case 0:
		return 0;
	default:
		return -1;
	}
	if (fl_watch(s, EPOLLIN) == -1)
		return -1;
	return fl_after_flush(s);
}

static void
fl_event(fl_session_t *s, uint32_t ev)
{
	int r;

	if (s->state == FL_HANDSHAKE)
		r = fl_handshake(s);
	else if (s->events & EPOLLOUT)
		r = fl_writable(s);
	else if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		r = fl_readable(s);
	else
		r = 0;
	if (r == -1)
		fl_session_free(s);
}

/* ------------------------------------------------------------------ */
/* Listener */

static void
fl_accept(fl_server_t *srv)
{
	static const int one = 1;

	for (int i = 0; i < FL_ACCEPTS; i++) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				perror("floor: accept4");
			return;
		}
		if (srv->nsessions >= srv->max_sessions) {
			close(fd);
			continue;
		}
		fl_session_t *s = calloc(1, sizeof(*s));
		if (s == NULL) {
			close(fd);
			continue;
		}
		s->srv = srv;
		s->fd = fd;
		s->state = FL_CMD;
		s->events = EPOLLIN;
		srv->nsessions++;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
		    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			fl_session_free(s);
			continue;
		}
		if (srv->implicit) {
			/* The ClientHello comes after the accept: wait for it. */
			if (fl_tls_start(s) == -1)
				fl_session_free(s);
			continue;
		}
		if (FL_REPLY(s, fl_banner) == -1 || fl_flush(s) == -1)
			fl_session_free(s);
	}
}

static int
fl_listen(fl_server_t *srv, int port)
{
	static const int one = 1;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		goto err0;
	if (setsockopt(srv->lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(srv->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(srv->lfd, 4096) == -1)
		goto err1;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = FL_LISTENER(srv) };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) == -1)
		goto err1;
	return 0;

err1:
	close(srv->lfd);
err0:
	perror("floor: listen");
	return -1;
}

/*
 * The TLS settings of starttls-proxy's inbound listener (proxy/tls.c:
 * tls_ctx_common, tls_server_ctx_build): TLS 1.2 to 1.3, the same TLS 1.2
 * suites with server preference, BoringSSL's default groups (the proxy
 * sets none), tickets only and one ticket per handshake. The proxy picks
 * its certificate in a select-certificate callback; here it is fixed, the
 * handshake's cryptography is the same. Returns NULL with BoringSSL's
 * errors on stderr.
 */
static SSL_CTX *
fl_ctx_new(const char *cert, const char *key)
{
	static const uint8_t sid_ctx[] = "stp-floor";
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_method())) == NULL)
		goto err0;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_strict_cipher_list(ctx, fl_cipher_list))
		goto err1;
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!SSL_CTX_set_num_tickets(ctx, 1) ||
	    !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) ||
	    !SSL_CTX_use_certificate_chain_file(ctx, cert) ||
	    !SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) ||
	    !SSL_CTX_check_private_key(ctx))
		goto err1;
	return ctx;

err1:
	SSL_CTX_free(ctx);
err0:
	ERR_print_errors_fp(stderr);
	return NULL;
}

static void
fl_usage(void)
{
	fprintf(stderr, "usage: stp-floor -p PORT -c CERT -k KEY [-i]\n"
	    "  -p PORT  listen on 127.0.0.1:PORT\n"
	    "  -c CERT  certificate chain (PEM)\n"
	    "  -k KEY   private key (PEM)\n"
	    "  -i       implicit TLS instead of STARTTLS\n");
}

/* Raises the descriptor limit to its hard limit; returns the limit. */
static long
fl_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	return (long)rl.rlim_cur;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	fl_server_t *srv;
	int port = 0, implicit = 0, opt, rc = 1;

	while ((opt = getopt(argc, argv, "p:c:k:ih")) != -1) {
		switch (opt) {
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 1 || v > 65535) {
				fl_usage();
				return 2;
			}
			port = (int)v;
			break;
		}
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'i': implicit = 1; break;
		default:
			fl_usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (port == 0 || cert == NULL || key == NULL || optind != argc) {
		fl_usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return 1;
	srv->implicit = implicit;
	srv->max_sessions = fl_raise_nofile() - FL_FD_RESERVE;
	if ((srv->ctx = fl_ctx_new(cert, key)) == NULL)
		goto err0;
	if ((srv->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("floor: epoll_create1");
		goto err1;
	}
	if (fl_listen(srv, port) == -1)
		goto err2;

	for (;;) {
		struct epoll_event evs[FL_EVENTS];
		int n = epoll_wait(srv->epfd, evs, FL_EVENTS, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("floor: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == FL_LISTENER(srv))
				fl_accept(srv);
			else
				fl_event(evs[i].data.ptr, evs[i].events);
		}
	}

	close(srv->lfd);
err2:
	close(srv->epfd);
err1:
	SSL_CTX_free(srv->ctx);
err0:
	free(srv);
	return rc;
}
