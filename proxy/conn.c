/*
 * conn: a socket leg, plaintext or TLS through the conn's own BIO.
 *
 * Data path. Plaintext legs read straight into rbuf. TLS legs read
 * ciphertext into the loop's scratch buffer, which BoringSSL reads in place
 * through the conn's own BIO (conn_bio_*), and decrypt into rbuf as far as
 * it has room (conn_fill, also from the owner's callback, while scratch is
 * still this conn's). Only a partial record left at the end of a callback
 * is copied, into tin, and the next read appends to it there. Output
 * collected with conn_write goes out in conn_flush: through SSL_write into
 * tout, then to the socket with uv_try_write; only what the kernel does not
 * take at once is copied into a write request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "conn.h"

/* A write request owns its bytes, which follow it in one allocation. */
typedef struct {
	uv_write_t req;
	size_t len;
	uint8_t data[];
} conn_wreq_t;

static void conn_read_update(conn_t *c);
static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_fail(conn_t *c, const char *what, const char *detail);

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

/* Returns room for n more bytes at the end of b, or NULL. */
static uint8_t *
conn_obuf_reserve(conn_pool_t *pool, conn_obuf_t *b, size_t n)
{
	if (b->p == NULL && n <= CONN_RBUF_SIZE) {
		if ((b->p = conn_buf_get(pool)) == NULL)
			return NULL;
		b->cap = CONN_RBUF_SIZE;
		b->pooled = 1;
	}
	if (n > SIZE_MAX / 2 - b->len)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : CONN_RBUF_SIZE;
		uint8_t *nb;
		while (cap < b->len + n)
			cap *= 2;
		if (b->pooled) {
			/* Outgrew the pool's size: a buffer of its own. */
			if ((nb = malloc(cap)) == NULL)
				return NULL;
			memcpy(nb, b->p, b->len);
			conn_buf_put(pool, b->p);
			b->pooled = 0;
		} else if ((nb = realloc(b->p, cap)) == NULL)
			return NULL;
		b->p = nb;
		b->cap = cap;
	}
	return b->p + b->len;
}

static void
conn_obuf_release(conn_pool_t *pool, conn_obuf_t *b)
{
	if (b->pooled)
		conn_buf_put(pool, b->p);
	else
		free(b->p);
	memset(b, 0, sizeof(*b));
}

/*
 * The conn's BIO, both directions. Reads come from cin (no copy beyond the
 * one into BoringSSL's record buffer, no allocation); an empty cin means
 * "retry later", never end of file, which the socket reports. Writes append
 * to tout. Its data pointer is the conn.
 */
static BIO_METHOD *conn_bio_method;
static pthread_once_t conn_bio_once = PTHREAD_ONCE_INIT;

static int
conn_bio_read(BIO *b, char *out, int len)
{
	conn_t *c = BIO_get_data(b);
	size_t n = c->clen - c->cpos;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (n == 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	if (n > (size_t)len)
		n = (size_t)len;
	memcpy(out, c->cin + c->cpos, n);
	c->cpos += n;
	return (int)n;
}

static int
conn_bio_write(BIO *b, const char *in, int len)
{
	conn_t *c = BIO_get_data(b);
	uint8_t *dst;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if ((dst = conn_obuf_reserve(c->pool, &c->tout, (size_t)len)) == NULL)
		return -1;
	memcpy(dst, in, (size_t)len);
	c->tout.len += (size_t)len;
	return len;
}

static long
conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	conn_t *c = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)(c->clen - c->cpos);
	case BIO_CTRL_WPENDING:
		return (long)c->tout.len;
	default:
		return 0;
	}
}

static void
conn_bio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "stp conn");

	if (m == NULL || !BIO_meth_set_read(m, conn_bio_read) ||
	    !BIO_meth_set_write(m, conn_bio_write) ||
	    !BIO_meth_set_ctrl(m, conn_bio_ctrl)) {
		if (m != NULL)
			BIO_meth_free(m);
		return;
	}
	conn_bio_method = m;
}

static BIO *
conn_bio_new(conn_t *c)
{
	BIO *b;

	pthread_once(&conn_bio_once, conn_bio_init);
	if (conn_bio_method == NULL || (b = BIO_new(conn_bio_method)) == NULL)
		return NULL;
	BIO_set_data(b, c);
	BIO_set_init(b, 1);
	return b;
}

/* Unread ciphertext waiting for BoringSSL. */
static size_t
conn_cin_left(const conn_t *c)
{
	return c->clen - c->cpos;
}

/*
 * At the end of a read callback: ciphertext left in the loop's scratch
 * moves to tin before anyone else reads into scratch. Returns 0 or -1.
 */
static int
conn_cin_keep(conn_t *c)
{
	size_t left = conn_cin_left(c);

	if (c->cin == NULL || c->cin == c->tin)
		return 0;
	/* cin is the scratch. */
	if (left == 0) {
		c->cin = NULL;
		c->cpos = c->clen = 0;
		return 0;
	}
	/* Usually a partial record; more when the owner stopped taking. */
	if (c->tin != NULL && c->tin_cap < left) {
		free(c->tin);
		c->tin = NULL;
	}
	if (c->tin == NULL) {
		c->tin_cap = left > CONN_TLS_IN_MAX ? left : CONN_TLS_IN_MAX;
		if ((c->tin = malloc(c->tin_cap)) == NULL)
			return -1;
	}
	memcpy(c->tin, c->cin + c->cpos, left);
	c->cin = c->tin;
	c->cpos = 0;
	c->clen = left;
	return 0;
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
	/* Reading went on at conn_connect; what the owner wants now rules
	 * (its handler may not have said). */
	if (c->open)
		conn_read_update(c);
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
	/*
	 * Read interest from the start: the descriptor is registered once,
	 * for the connect and the first reply. Started after the connect,
	 * libuv registers it again (EEXIST, then a modify): one system call
	 * more per connection. Nothing is readable before the connection
	 * is up, and libuv reports the connect first.
	 */
	if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
	    conn_read_cb) == 0)
		c->reading = 1;
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

/* Moves whatever BoringSSL produced to the socket. */
static void
conn_tls_out(conn_t *c)
{
	if (c->tout.len == 0)
		return;
	conn_sock_write(c, c->tout.p, c->tout.len);
	c->tout.len = 0;
}

int
conn_write(conn_t *c, const void *p, size_t n)
{
	uint8_t *dst = conn_reserve(c, n);

	if (dst == NULL)
		return -1;
	memcpy(dst, p, n);
	c->out.len += n;
	return 0;
}

uint8_t *
conn_reserve(conn_t *c, size_t n)
{
	if (!c->open)
		return NULL; /* closed: output has nowhere to go */
	return conn_obuf_reserve(c->pool, &c->out, n);
}

void
conn_commit(conn_t *c, size_t n)
{
	c->out.len += n;
}

int
conn_write_str(conn_t *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

/* Encrypts the collected plaintext into tout. Returns 0 or -1. */
static int
conn_seal(conn_t *c)
{
	size_t off = 0;

	while (off < c->out.len) {
		int r = SSL_write(c->ssl, c->out.p + off,
		    (int)(c->out.len - off));
		if (r <= 0) {
			conn_fail_ssl(c, "tls write");
			return -1;
		}
		off += (size_t)r;
	}
	return 0;
}

static void
conn_flush_mode(conn_t *c, int hold)
{
	if (c->ssl != NULL && !c->handshake_done)
		return; /* nothing may be written before the handshake ends */
	if (c->out.len == 0) {
		if (!hold)
			conn_tls_out(c);
		return;
	}
	c->bytes_out += c->out.len;
	if (c->ssl == NULL)
		conn_sock_write(c, c->out.p, c->out.len);
	else if (conn_seal(c) == 0)
		conn_tls_out(c);
	c->out.len = 0;
}

void
conn_flush(conn_t *c)
{
	conn_flush_mode(c, 0);
}

void
conn_flush_data(conn_t *c)
{
	conn_flush_mode(c, 1);
}

void
conn_trim(conn_t *c)
{
	if (!c->open)
		return;
	if (c->rbuf != NULL && c->rpos == c->rlen) {
		conn_buf_put(c->pool, c->rbuf);
		c->rbuf = NULL;
		c->rpos = c->rlen = 0;
	}
	if (c->out.p != NULL && c->out.len == 0)
		conn_obuf_release(c->pool, &c->out);
	if (c->tout.p != NULL && c->tout.len == 0)
		conn_obuf_release(c->pool, &c->tout);
	if (c->tin != NULL && conn_cin_left(c) == 0) {
		free(c->tin);
		c->tin = NULL;
		c->cin = NULL;
		c->cpos = c->clen = 0;
	}
}

/*
 * Decrypts into dst[0..cap) what the ciphertext already received holds.
 * Sets eof at the peer's close_notify, failed on a TLS error. Output from
 * reading (an alert, a KeyUpdate answer) leaves with the owner's next flush.
 */
static size_t
conn_tls_read(conn_t *c, uint8_t *dst, size_t cap)
{
	size_t added = 0;
	int r;

	while (added < cap) {
		r = SSL_read(c->ssl, dst + added, (int)(cap - added));
		if (r > 0) {
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
	c->bytes_in += added;
	return added;
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
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			conn_tls_out(c); /* the next flight, or an alert */
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				conn_fail_ssl(c, "tls handshake");
			return 0;
		}
		/* What the last step wrote (a server's session ticket, a
		 * client's Finished) leaves with the owner's next flush, in
		 * one segment with the data that follows it. */
		c->handshake_done = 1;
		if (events)
			c->cb(c, CONN_EV_HANDSHAKE_DONE);
		if (!c->open || c->failed)
			return 0;
	}
	if (conn_rbuf_need(c) == -1)
		return 0;
	conn_rcompact(c);
	added = conn_tls_read(c, c->rbuf + c->rlen, CONN_RBUF_SIZE - c->rlen);
	c->rlen += added;
	return added;
}

size_t
conn_fill_to(conn_t *c, uint8_t *dst, size_t cap)
{
	size_t n;

	if (c->ssl == NULL || !c->open || c->failed || !c->handshake_done ||
	    conn_rsize(c) != 0)
		return 0;
	n = conn_tls_read(c, dst, cap);
	conn_read_update(c);
	return n;
}

void
conn_unread(conn_t *c, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	/* After conn_fill_to the read buffer is empty and n fits (conn.h);
	 * bytes that cannot go back fail the leg rather than vanish. */
	if (conn_rsize(c) != 0 || n > CONN_RBUF_SIZE) {
		conn_fail(c, "read", "unread out of order");
		return;
	}
	if (conn_rbuf_need(c) == -1)
		return;
	memcpy(c->rbuf, p, n);
	c->rpos = 0;
	c->rlen = n;
	conn_read_update(c);
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
	/* Held: nothing is read; libuv reports UV_ENOBUFS, which stops. */
	if (c->read_held) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	if (c->ssl != NULL) {
		size_t left = conn_cin_left(c);
		if (c->cin != c->tin || left == 0) {
			*buf = uv_buf_init((char *)c->scratch,
			    CONN_SCRATCH_SIZE);
			return;
		}
		/* A partial record waits in tin: read the rest behind it.
		 * Reading pauses before tin is full: left stays below
		 * CONN_TLS_IN_MAX <= tin_cap (conn_read_update). */
		if (c->cpos > 0) {
			memmove(c->tin, c->tin + c->cpos, left);
			c->cpos = 0;
			c->clen = left;
		}
		*buf = uv_buf_init((char *)c->tin + c->clen,
		    (unsigned)(c->tin_cap - c->clen));
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

static void conn_read_tls(conn_t *c, const uv_buf_t *buf, size_t nread);

static void
conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn_t *c = s->data;

	if (!c->open)
		return;
	if (nread == UV_ENOBUFS && c->read_held) {
		uv_read_stop(s);
		c->reading = 0;
		c->read_held = 0;
		return;
	}
	if (nread == UV_EOF) {
		c->eof = 1;
		conn_read_update(c);
		if (conn_take_eof(c))
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
	if (c->ssl != NULL) {
		conn_read_tls(c, buf, (size_t)nread);
		/* After every event: scratch is the next reader's. */
		if (c->open && conn_cin_keep(c) == -1) {
			conn_fail(c, "tls", "out of memory");
			c->cb(c, CONN_EV_ERROR);
		} else if (!c->open) {
			c->cin = NULL;
			c->cpos = c->clen = 0;
		}
		return;
	}
	c->rlen += (size_t)nread;
	c->bytes_in += (uint64_t)nread;
	conn_read_update(c);
	c->cb(c, CONN_EV_READ);
}

/*
 * Ciphertext arrived, in scratch or behind a partial record in tin. The
 * owner's callbacks run while scratch still holds it, so conn_fill there
 * decrypts in place; conn_read_cb keeps the rest afterwards.
 */
static void
conn_read_tls(conn_t *c, const uv_buf_t *buf, size_t nread)
{
	int hs = c->handshake_done;

	if ((const uint8_t *)buf->base == c->scratch) {
		c->cin = c->scratch;
		c->cpos = 0;
		c->clen = nread;
	} else
		c->clen += nread; /* appended to tin by conn_alloc_cb */
	conn_tls_in(c, 1);
	if (!c->open)
		return;
	if (c->failed) {
		c->cb(c, CONN_EV_ERROR);
		return;
	}
	if (c->eof) {
		conn_read_update(c);
		if (conn_rsize(c))
			c->cb(c, CONN_EV_READ);
		if (conn_take_eof(c))
			c->cb(c, CONN_EV_EOF);
		return;
	}
	if (!hs && !c->handshake_done) {
		conn_read_update(c);
		return; /* handshake still in progress */
	}
	conn_read_update(c);
	c->cb(c, CONN_EV_READ);
	/* The owner's conn_fill may have met the peer's close_notify. */
	if (conn_take_eof(c))
		c->cb(c, CONN_EV_EOF);
}

int
conn_take_eof(conn_t *c)
{
	if (!c->open || !c->eof || c->eof_told)
		return 0;
	c->eof_told = 1;
	return 1;
}

/*
 * Starts or stops uv reading from want_read and buffer room.
 *
 * A stop is deferred (read_held): libuv keeps the descriptor's read
 * interest, and the alloc callback hands it no buffer, so nothing is read
 * while held. The interest ends only when the descriptor becomes readable
 * while held. Pauses are mostly short (a write's completion is reported
 * one loop turn later, the other leg's reply comes), and a stop that
 * libuv carried out costs two epoll_ctl calls when reading starts again
 * (a failing EPOLL_CTL_ADD, then a modify). Eof and failure stop at once.
 */
static void
conn_read_update(conn_t *c)
{
	int room;

	if (!c->open || !c->connected)
		return;
	if (c->ssl != NULL)
		room = conn_cin_left(c) < CONN_TLS_IN_MAX &&
		    (conn_rsize(c) < CONN_RBUF_SIZE || !c->handshake_done);
	else
		room = conn_rsize(c) < CONN_RBUF_SIZE;
	if (c->want_read && room && !c->eof && !c->failed) {
		c->read_held = 0;
		if (!c->reading &&
		    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb,
		    conn_read_cb) == 0)
			c->reading = 1;
	} else if (c->reading && !c->eof && !c->failed) {
		c->read_held = 1;
	} else if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
		c->read_held = 0;
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
	return conn_start_tls_resume(c, ctx, role, sni, NULL, unread,
	    discarded);
}

int
conn_start_tls_resume(conn_t *c, SSL_CTX *ctx, conn_tls_role_t role,
    const char *sni, SSL_SESSION *resume, int unread, size_t *discarded)
{
	const uint8_t *keep = conn_rdata(c);
	size_t nkeep = conn_rsize(c);

	BIO *bio;

	*discarded = unread == CONN_TLS_DISCARD ? nkeep : 0;
	c->rpos = c->rlen = 0;
	if ((c->ssl = SSL_new(ctx)) == NULL)
		goto err0;
	if ((bio = conn_bio_new(c)) == NULL)
		goto err1;
	/* One BIO both ways: SSL_set_bio takes its one reference. */
	SSL_set_bio(c->ssl, bio, bio);
	/* rbuf is not touched before the first read: keep is intact. */
	if (unread == CONN_TLS_KEEP && nkeep > 0) {
		c->tin_cap = nkeep > CONN_TLS_IN_MAX ? nkeep : CONN_TLS_IN_MAX;
		if ((c->tin = malloc(c->tin_cap)) == NULL)
			goto err1;
		memcpy(c->tin, keep, nkeep);
		c->cin = c->tin;
		c->cpos = 0;
		c->clen = nkeep;
	}
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
		/* Offered only: a server that declines gets a full
		 * handshake. */
		if (resume != NULL && !SSL_set_session(c->ssl, resume))
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
	c->read_held = 0;
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	conn_obuf_release(c->pool, &c->out);
	conn_obuf_release(c->pool, &c->tout);
	free(c->tin);
	c->tin = NULL;
	c->cin = NULL;
	c->cpos = c->clen = 0;
	/* The read buffer goes in conn_close_cb: the owner may still look at
	 * consumed bytes until it returns. */
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

void
conn_close_after_flush(conn_t *c)
{
	if (!c->open)
		return;
	if (c->ssl != NULL && c->handshake_done) {
		/* The last data and close_notify in one write; the peer's
		 * answer is not awaited. */
		c->bytes_out += c->out.len;
		if (c->out.len > 0 && conn_seal(c) == 0)
			c->out.len = 0;
		SSL_shutdown(c->ssl);
		conn_tls_out(c);
	} else
		conn_flush(c);
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
	return c->wq_bytes + c->out.len + c->tout.len;
}
