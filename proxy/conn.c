/*
 * conn: a socket leg, plaintext or TLS over memory BIOs.
 *
 * Data path. Plaintext legs read straight into rbuf. TLS legs read
 * ciphertext into the loop's scratch buffer, hand it to rbio, and decrypt
 * into rbuf as far as it has room (conn_fill). Output collected with
 * conn_write goes out in conn_flush: through SSL_write into wbio, then to the
 * socket with uv_try_write; only what the kernel does not take at once is
 * copied into a write request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/buf.h>
#include <openssl/err.h>

#include "conn.h"

/* A write request owns its bytes, which follow it in one allocation. */
typedef struct {
	uv_write_t req;
	size_t len;
	uint8_t data[];
} conn_wreq_t;

static void conn_read_update(conn_t *c);
static void conn_fail(conn_t *c, const char *what, const char *detail);

/* Small output starts here; past it the buffer grows by doubling. */
#define CONN_OBUF_MIN 4096
/* A TLS memory BIO that grew past this is replaced once empty. */
#define CONN_BIO_KEEP 4096

static void *
conn_buf_get(conn_pool_t *pool)
{
	if (pool->n > 0)
		return pool->free[--pool->n];
	return malloc(CONN_RBUF_SIZE);
}

static void
conn_buf_put(conn_pool_t *pool, void *p)
{
	if (p == NULL)
		return;
	if (pool->n < CONN_POOL_MAX)
		pool->free[pool->n++] = p;
	else
		free(p);
}

void
conn_pool_cleanup(conn_pool_t *pool)
{
	while (pool->n > 0)
		free(pool->free[--pool->n]);
}

/* Makes sure there is a read buffer. Returns 0 or -1. */
static int
conn_rbuf_need(conn_t *c)
{
	if (c->rbuf == NULL && (c->rbuf = conn_buf_get(c->pool)) == NULL) {
		conn_fail(c, "read", "out of memory");
		return -1;
	}
	return 0;
}

/* Moves unread bytes to the front so reads see all the free room. */
static void
conn_rcompact(conn_t *c)
{
	if (c->rbuf == NULL || c->rpos == 0)
		return;
	memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
	c->rlen -= c->rpos;
	c->rpos = 0;
}

/* Records the first failure of the leg: "what: detail". */
static void
conn_fail(conn_t *c, const char *what, const char *detail)
{
	if (!c->failed) {
		snprintf(c->err, sizeof(c->err), "%s: %s", what, detail);
		c->failed = 1;
	}
}

static void
conn_fail_ssl(conn_t *c, const char *what)
{
	char buf[128];
	uint32_t e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unexpected close");
	ERR_clear_error();
	if (!c->failed) {
		snprintf(c->err, sizeof(c->err), "%s: %s", what, buf);
		c->failed = 1;
	}
}

int
conn_init(conn_t *c, uv_loop_t *loop, void *owner, conn_event_cb *cb,
    uint8_t *scratch, conn_pool_t *pool)
{
	memset(c, 0, sizeof(*c));
	c->pool = pool;
	c->owner = owner;
	c->cb = cb;
	c->scratch = scratch;
	if (uv_tcp_init(loop, &c->tcp) != 0)
		return -1;
	c->tcp.data = c;
	c->open = 1;
	return 0;
}

static void
conn_nodelay(conn_t *c)
{
	/* Replies are small and latency-bound; Nagle would stall them. */
	uv_tcp_nodelay(&c->tcp, 1);
}

int
conn_accept(conn_t *c, uv_stream_t *server)
{
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0)
		return -1;
	c->connected = 1;
	conn_nodelay(c);
	return 0;
}

static void
conn_connect_cb(uv_connect_t *req, int status)
{
	conn_t *c = req->data;

	if (!c->open)
		return;
	if (status < 0) {
		conn_fail(c, "connect", uv_strerror(status));
		c->cb(c, CONN_EV_CONNECT_FAILED);
		return;
	}
	c->connected = 1;
	conn_nodelay(c);
	c->cb(c, CONN_EV_CONNECTED);
}

int
conn_connect(conn_t *c, const struct sockaddr *addr, uint32_t mark)
{
	int r;

	if (mark != 0) {
		/* The socket must exist before connect to carry the mark. */
		int s = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) {
			conn_fail(c, "socket", strerror(errno));
			return -1;
		}
		if (setsockopt(s, SOL_SOCKET, SO_MARK, &mark,
		    sizeof(mark)) != 0) {
			conn_fail(c, "SO_MARK", strerror(errno));
			close(s);
			return -1;
		}
		if (uv_tcp_open(&c->tcp, s) != 0) {
			close(s);
			return -1;
		}
	}
	c->connect_req.data = c;
	r = uv_tcp_connect(&c->connect_req, &c->tcp, addr, conn_connect_cb);
	if (r < 0) {
		conn_fail(c, "connect", uv_strerror(r));
		return -1;
	}
	return 0;
}

static void
conn_write_cb(uv_write_t *req, int status)
{
	conn_wreq_t *w = (conn_wreq_t *)req;
	conn_t *c = req->data;

	c->wq_bytes -= w->len;
	free(w);
	if (!c->open)
		return;
	if (status < 0) {
		conn_fail(c, "write", uv_strerror(status));
		c->cb(c, CONN_EV_ERROR);
		return;
	}
	if (c->wq_bytes == 0 && c->close_on_drain) {
		conn_close(c);
		return;
	}
	if (c->wq_high && c->wq_bytes < CONN_WQ_LOW) {
		c->wq_high = 0;
		c->cb(c, CONN_EV_DRAINED);
	}
}

/* Sends ciphertext or plaintext bytes to the socket, in order. */
static void
conn_sock_write(conn_t *c, const uint8_t *p, size_t n)
{
	conn_wreq_t *w;
	uv_buf_t b;
	int r;

	if (n == 0 || c->failed || !c->open)
		return;
	if (c->wq_bytes == 0) {
		b = uv_buf_init((char *)p, (unsigned)n);
		r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r != UV_EAGAIN && r != UV_ENOSYS) {
			conn_fail(c, "write", uv_strerror(r));
			return;
		}
		if (n == 0)
			return;
	}
	if ((w = malloc(sizeof(*w) + n)) == NULL) {
		conn_fail(c, "write", "out of memory");
		return;
	}
	memcpy(w->data, p, n);
	w->len = n;
	w->req.data = c;
	b = uv_buf_init((char *)w->data, (unsigned)n);
	if ((r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1,
	    conn_write_cb)) < 0) {
		free(w);
		conn_fail(c, "write", uv_strerror(r));
		return;
	}
	c->wq_bytes += n;
	if (c->wq_bytes > CONN_WQ_HIGH)
		c->wq_high = 1;
}

/* Moves whatever BoringSSL produced in wbio to the socket. */
static void
conn_tls_out(conn_t *c)
{
	const uint8_t *p;
	size_t n;

	if (c->wbio == NULL || !BIO_mem_contents(c->wbio, &p, &n) || n == 0)
		return;
	conn_sock_write(c, p, n);
	BIO_reset(c->wbio);
}

int
conn_write(conn_t *c, const void *p, size_t n)
{
	uint8_t *dst = conn_reserve(c, n);

	if (dst == NULL)
		return -1;
	memcpy(dst, p, n);
	c->olen += n;
	return 0;
}

uint8_t *
conn_reserve(conn_t *c, size_t n)
{
	if (!c->open)
		return NULL; /* closed: output has nowhere to go */
	if (c->obuf == NULL && n <= CONN_RBUF_SIZE) {
		if ((c->obuf = conn_buf_get(c->pool)) == NULL)
			return NULL;
		c->ocap = CONN_RBUF_SIZE;
		c->obuf_pooled = 1;
	}
	if (c->olen + n > c->ocap) {
		size_t cap = c->ocap ? c->ocap : CONN_OBUF_MIN;
		uint8_t *nb;
		while (cap < c->olen + n)
			cap *= 2;
		if (c->obuf_pooled) {
			/* Outgrew the pool's size: a buffer of its own. */
			if ((nb = malloc(cap)) == NULL)
				return NULL;
			memcpy(nb, c->obuf, c->olen);
			conn_buf_put(c->pool, c->obuf);
			c->obuf_pooled = 0;
		} else if ((nb = realloc(c->obuf, cap)) == NULL)
			return NULL;
		c->obuf = nb;
		c->ocap = cap;
	}
	return c->obuf + c->olen;
}

void
conn_commit(conn_t *c, size_t n)
{
	c->olen += n;
}

int
conn_write_str(conn_t *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

void
conn_flush(conn_t *c)
{
	size_t off = 0;

	if (c->olen == 0)
		return;
	c->bytes_out += c->olen;
	if (c->ssl == NULL) {
		conn_sock_write(c, c->obuf, c->olen);
	} else if (c->handshake_done) {
		while (off < c->olen) {
			int r = SSL_write(c->ssl, c->obuf + off,
			    (int)(c->olen - off));
			if (r <= 0) {
				conn_fail_ssl(c, "tls write");
				break;
			}
			off += (size_t)r;
		}
		conn_tls_out(c);
	} else {
		/* Nothing may be written before the handshake completes. */
		return;
	}
	c->olen = 0;
}

static void
conn_obuf_release(conn_t *c)
{
	if (c->obuf_pooled)
		conn_buf_put(c->pool, c->obuf);
	else
		free(c->obuf);
	c->obuf = NULL;
	c->olen = c->ocap = 0;
	c->obuf_pooled = 0;
}

/* Replaces an empty memory BIO that grew large by a fresh one. */
static BIO *
conn_bio_shrink(BIO *b)
{
	BUF_MEM *bm = NULL;
	BIO *n;

	if (b == NULL || BIO_pending(b) != 0 || !BIO_get_mem_ptr(b, &bm) ||
	    bm == NULL || bm->max <= CONN_BIO_KEEP ||
	    (n = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	BIO_set_mem_eof_return(n, -1);
	return n;
}

void
conn_trim(conn_t *c)
{
	BIO *n;

	if (!c->open)
		return;
	if (c->rbuf != NULL && c->rpos == c->rlen) {
		conn_buf_put(c->pool, c->rbuf);
		c->rbuf = NULL;
		c->rpos = c->rlen = 0;
	}
	if (c->obuf != NULL && c->olen == 0)
		conn_obuf_release(c);
	if (c->ssl == NULL)
		return;
	/* SSL_set0_rbio/wbio free the old BIO. */
	if ((n = conn_bio_shrink(c->rbio)) != NULL) {
		SSL_set0_rbio(c->ssl, n);
		c->rbio = n;
	}
	if ((n = conn_bio_shrink(c->wbio)) != NULL) {
		SSL_set0_wbio(c->ssl, n);
		c->wbio = n;
	}
}

/*
 * Drives the handshake, then decrypts into rbuf. Reports CONN_EV_HANDSHAKE_DONE
 * once. Returns plaintext bytes added, or 0 (check c->failed).
 */
static size_t
conn_tls_in(conn_t *c, int events)
{
	size_t added = 0;
	int r;

	if (!c->handshake_done) {
		r = SSL_do_handshake(c->ssl);
		conn_tls_out(c);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				conn_fail_ssl(c, "tls handshake");
			return 0;
		}
		c->handshake_done = 1;
		if (events)
			c->cb(c, CONN_EV_HANDSHAKE_DONE);
		if (!c->open || c->failed)
			return 0;
	}
	if (conn_rbuf_need(c) == -1)
		return 0;
	conn_rcompact(c);
	while (c->rlen < CONN_RBUF_SIZE) {
		r = SSL_read(c->ssl, c->rbuf + c->rlen,
		    (int)(CONN_RBUF_SIZE - c->rlen));
		if (r > 0) {
			c->rlen += (size_t)r;
			added += (size_t)r;
			continue;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			break;
		case SSL_ERROR_ZERO_RETURN:
			c->eof = 1;
			break;
		default:
			conn_fail_ssl(c, "tls read");
			break;
		}
		break;
	}
	/* Alerts or key updates may have produced output. */
	conn_tls_out(c);
	c->bytes_in += added;
	return added;
}

size_t
conn_fill(conn_t *c)
{
	size_t n;

	/* The handshake is driven by reads only, where its event is reported. */
	if (c->ssl == NULL || !c->open || c->failed || !c->handshake_done)
		return 0;
	n = conn_tls_in(c, 0);
	conn_read_update(c);
	return n;
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn_t *c = h->data;

	(void)suggested;
	if (c->ssl != NULL) {
		*buf = uv_buf_init((char *)c->scratch, CONN_SCRATCH_SIZE);
		return;
	}
	/* No buffer: libuv reports UV_ENOBUFS to conn_read_cb. */
	if (conn_rbuf_need(c) == -1) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	conn_rcompact(c);
	*buf = uv_buf_init((char *)c->rbuf + c->rlen,
	    (unsigned)(CONN_RBUF_SIZE - c->rlen));
}

/*
 * Ciphertext just read sits in the loop's scratch buffer. When nothing
 * older waits, BoringSSL reads it in place through a read-only memory BIO:
 * a read-write one would copy it in and then memmove what is left after
 * every record (a fifth of the CPU of a bulk transfer). What BoringSSL does
 * not take is copied into a read-write BIO by conn_tls_feed_done, before
 * scratch is reused. Returns 0 or -1.
 */
static int
conn_tls_feed(conn_t *c, const uint8_t *p, size_t n)
{
	BIO *ro;

	if (BIO_pending(c->rbio) > 0 ||
	    (ro = BIO_new_mem_buf(p, (int)n)) == NULL)
		return BIO_write(c->rbio, p, (int)n) == (int)n ? 0 : -1;
	BIO_set_mem_eof_return(ro, -1);
	SSL_set0_rbio(c->ssl, ro); /* frees the empty read-write BIO */
	c->rbio = ro;
	c->rbio_scratch = 1;
	return 0;
}

static int
conn_tls_feed_done(conn_t *c)
{
	const uint8_t *left;
	size_t n = 0;
	BIO *rw;

	if (!c->rbio_scratch || c->ssl == NULL)
		return 0;
	c->rbio_scratch = 0;
	if ((rw = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	BIO_set_mem_eof_return(rw, -1);
	if (BIO_mem_contents(c->rbio, &left, &n) && n > 0 &&
	    BIO_write(rw, left, (int)n) != (int)n) {
		BIO_free(rw);
		return -1;
	}
	SSL_set0_rbio(c->ssl, rw);
	c->rbio = rw;
	return 0;
}

static void
conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = s->data;

	if (!c->open)
		return;
	if (nread == UV_EOF) {
		c->eof = 1;
		conn_read_update(c);
		c->cb(c, CONN_EV_EOF);
		return;
	}
	if (nread < 0) {
		conn_fail(c, "read", uv_strerror((int)nread));
		c->cb(c, CONN_EV_ERROR);
		return;
	}
	if (nread == 0)
		return;
	if (c->ssl == NULL) {
		c->rlen += (size_t)nread;
		c->bytes_in += (uint64_t)nread;
	} else {
		int hs = c->handshake_done;
		if (conn_tls_feed(c, (const uint8_t *)buf->base,
		    (size_t)nread) == -1) {
			conn_fail(c, "tls", "buffer");
			c->cb(c, CONN_EV_ERROR);
			return;
		}
		conn_tls_in(c, 1);
		if (!c->open)
			return;
		if (conn_tls_feed_done(c) == -1)
			conn_fail(c, "tls", "buffer");
		if (c->failed) {
			c->cb(c, CONN_EV_ERROR);
			return;
		}
		if (c->eof) {
			conn_read_update(c);
			if (conn_rsize(c))
				c->cb(c, CONN_EV_READ);
			if (c->open)
				c->cb(c, CONN_EV_EOF);
			return;
		}
		if (!hs && !c->handshake_done)
			return; /* handshake still in progress */
	}
	conn_read_update(c);
	c->cb(c, CONN_EV_READ);
}

/* Starts or stops uv reading from want_read and buffer room. */
static void
conn_read_update(conn_t *c)
{
	int room;

	if (!c->open || !c->connected)
		return;
	if (c->ssl != NULL)
		room = BIO_pending(c->rbio) < CONN_TLS_IN_MAX &&
		    (conn_rsize(c) < CONN_RBUF_SIZE || !c->handshake_done);
	else
		room = conn_rsize(c) < CONN_RBUF_SIZE;
	if (c->want_read && room && !c->eof && !c->failed) {
		if (!c->reading &&
		    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
		    conn_read_cb) == 0)
			c->reading = 1;
	} else if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

void
conn_set_read(conn_t *c, int want)
{
	c->want_read = want ? 1 : 0;
	conn_read_update(c);
}

void
conn_consume(conn_t *c, size_t n)
{
	/* No move here: the owner may still hold pointers into consumed
	 * bytes until it returns; conn_rcompact moves data before a read. */
	if (n >= conn_rsize(c))
		c->rpos = c->rlen = 0;
	else
		c->rpos += n;
}

int
conn_start_tls(conn_t *c, SSL_CTX *ctx, conn_tls_role_t role,
    const char *sni, int unread, size_t *discarded)
{
	const uint8_t *keep = conn_rdata(c);
	size_t nkeep = conn_rsize(c);

	*discarded = unread == CONN_TLS_DISCARD ? nkeep : 0;
	c->rpos = c->rlen = 0;
	if ((c->ssl = SSL_new(ctx)) == NULL)
		goto err0;
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		goto err1;
	}
	/* An empty memory BIO means "retry later", not end of file. */
	BIO_set_mem_eof_return(c->rbio, -1);
	/* rbuf is not touched before the first read: keep is intact. */
	if (unread == CONN_TLS_KEEP && nkeep > 0 &&
	    BIO_write(c->rbio, keep, (int)nkeep) != (int)nkeep) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		goto err1;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_app_data(c->ssl, c);
	c->tls_role = role;
	if (role == CONN_TLS_SERVER) {
		SSL_set_accept_state(c->ssl);
		/* Bytes kept from the plaintext phase (a ClientHello behind a
		 * PROXY header in one segment) will not be read again: run the
		 * handshake on them now. It cannot complete before the peer
		 * has read our reply, so there is no event to report. */
		if (nkeep > 0 && unread == CONN_TLS_KEEP)
			conn_tls_in(c, 0);
	} else {
		SSL_set_connect_state(c->ssl);
		if (sni != NULL && !SSL_set_tlsext_host_name(c->ssl, sni))
			goto err1;
		/* Send the ClientHello now. */
		SSL_do_handshake(c->ssl);
		conn_tls_out(c);
	}
	conn_read_update(c);
	return 0;

err1:
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->rbio = c->wbio = NULL;
err0:
	conn_fail_ssl(c, "tls setup");
	return -1;
}

static void
conn_close_cb(uv_handle_t *h)
{
	conn_t *c = h->data;

	conn_buf_put(c->pool, c->rbuf);
	c->rbuf = NULL;
	c->rpos = c->rlen = 0;
	c->cb(c, CONN_EV_CLOSED);
}

void
conn_close(conn_t *c)
{
	if (!c->open)
		return;
	c->open = 0;
	c->reading = 0;
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->rbio = c->wbio = NULL;
	}
	conn_obuf_release(c);
	/* The read buffer goes in conn_close_cb: the owner may still look at
	 * consumed bytes until it returns. */
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

void
conn_close_after_flush(conn_t *c)
{
	if (!c->open)
		return;
	conn_flush(c);
	if (c->ssl != NULL && c->handshake_done) {
		/* close_notify; the peer's answer is not awaited. */
		SSL_shutdown(c->ssl);
		conn_tls_out(c);
	}
	if (c->wq_bytes == 0 || c->failed)
		conn_close(c);
	else {
		c->close_on_drain = 1;
		conn_set_read(c, 0);
	}
}

size_t
conn_pending(const conn_t *c)
{
	return c->wq_bytes + c->olen;
}
