/*
 * admin: the admin endpoint's HTTP server. One request per connection:
 *
 *   HEAD   reading the request head (deadline from accept, not from the
 *          last byte) -> SEND, or -> CLOSING on EOF or error
 *   SEND   one uv_write of head and body in flight; input is discarded
 *   LINGER response written, FIN sent; input is discarded until the
 *          client's EOF or ADMIN_LINGER_MS
 *   CLOSING admin_conn_close ran; callbacks return early
 *
 * Memory: a connection is freed when the close callbacks of both its
 * handles (socket, timer) have run; the admin_t when its listener, every
 * connection and every rejected socket are gone and admin_free was called.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "addr.h"
#include "admin.h"
#include "http.h"
#include "log.h"

/* Kernel accept queue (listen(2) backlog): probes and scrapers are few. */
#define ADMIN_BACKLOG 128
/* A response head: status line, our fixed fields, Date, Allow and the
 * handler's Content-Type; a longer content type gets a 500 instead. */
#define ADMIN_RESP_HEAD_MAX 512
/* First allocation of a body; it doubles from there. */
#define ADMIN_BUF_MIN 4096

typedef enum {
	ADMIN_CS_HEAD,
	ADMIN_CS_SEND,
	ADMIN_CS_LINGER,
	ADMIN_CS_CLOSING
} admin_conn_state_t;

static const char *const admin_state_names[] = { "head", "send", "linger",
	"closing" };

typedef struct admin_conn admin_conn_t;

struct admin_conn {
	admin_t *a;                  /* borrowed: outlives its connections */
	admin_conn_t *prev, *next;   /* a->conns */
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	uv_shutdown_t sd;
	int handles;                 /* of tcp and timer, not yet closed */
	admin_conn_state_t state;
	int eof;                     /* the client's end was read */
	int status;                  /* answered, 0 before */
	char id[24];
	char peer[64];
	char method[24], path[96];   /* escaped for the log */
	http_request_t req;
	size_t inlen;
	uint8_t in[HTTP_HEAD_MAX];   /* the head; discarded input afterwards */
	char head[ADMIN_RESP_HEAD_MAX];
	admin_buf_t body;            /* owned */
};

struct admin {
	uv_loop_t *loop;             /* borrowed */
	uv_tcp_t listener;
	admin_handler_fn *handler;   /* borrowed, with arg */
	void *arg;
	uint64_t timeout_ms;
	admin_conn_t *conns;         /* owned list, closing ones included */
	unsigned nconns;
	unsigned pending;            /* close callbacks to come that use a */
	int freeing;
	uint64_t next_id;
	/* For refusing a connection when malloc fails: libuv stops polling
	 * the listener until uv_accept takes the connection it holds. */
	uv_tcp_t spare;
	int spare_busy;
};

static void admin_conn_close(admin_conn_t *c, const char *reason);
static void admin_conn_error(admin_conn_t *c, int status, int head_only);

/* Bodies ----------------------------------------------------------------- */

void
admin_buf_init(admin_buf_t *b)
{
	memset(b, 0, sizeof(*b));
}

void
admin_buf_cleanup(admin_buf_t *b)
{
	free(b->data);
	admin_buf_init(b);
}

/* Makes room for n more bytes and a NUL (for vsnprintf). Returns 0 or -1. */
static int
admin_buf_reserve(admin_buf_t *b, size_t n)
{
	size_t need, ncap;
	char *d;

	if (b->failed)
		return -1;
	if (n > ADMIN_BODY_MAX - b->len)
		goto fail;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	for (ncap = b->cap < ADMIN_BUF_MIN ? ADMIN_BUF_MIN : b->cap;
	    ncap < need; ncap *= 2)
		;
	if (ncap > ADMIN_BODY_MAX + 1)
		ncap = ADMIN_BODY_MAX + 1;
	if ((d = realloc(b->data, ncap)) == NULL)
		goto fail;
	b->data = d;
	b->cap = ncap;
	return 0;

fail:
	b->failed = 1;
	return -1;
}

int
admin_buf_append(admin_buf_t *b, const void *p, size_t n)
{
	if (admin_buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
admin_buf_printf(admin_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (b->failed)
		return -1;
	va_start(ap, fmt);
	r = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (r < 0 || admin_buf_reserve(b, (size_t)r) == -1) {
		b->failed = 1;
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)r;
	return 0;
}

/* Server lifetime -------------------------------------------------------- */

/* Frees a once admin_free was called and nothing refers to it any more. */
static void
admin_release(admin_t *a)
{
	if (a->freeing && a->pending == 0)
		free(a);
}

static void
admin_listener_close_cb(uv_handle_t *h)
{
	admin_t *a = h->data;

	a->pending--;
	admin_release(a);
}

/* Connections ------------------------------------------------------------ */

static void
admin_conn_enter(admin_conn_t *c, admin_conn_state_t st)
{
	if (log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "admin_state", "conn", c->id, "from",
		    admin_state_names[c->state], "to", admin_state_names[st],
		    NULL);
	c->state = st;
}

static void
admin_conn_close_cb(uv_handle_t *h)
{
	admin_conn_t *c = h->data;
	admin_t *a = c->a;

	if (--c->handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	a->nconns--;
	admin_buf_cleanup(&c->body);
	free(c);
	a->pending--;
	admin_release(a);
}

/*
 * The one teardown: logs once, closes both handles (which cancels a write
 * or shutdown in flight: their callbacks see CLOSING). Idempotent.
 */
static void
admin_conn_close(admin_conn_t *c, const char *reason)
{
	char status[8];

	if (c->state == ADMIN_CS_CLOSING)
		return;
	admin_conn_enter(c, ADMIN_CS_CLOSING);
	snprintf(status, sizeof(status), "%d", c->status);
	log_event(LOG_DEBUG, "admin_close", "conn", c->id, "peer", c->peer,
	    "method", c->method, "path", c->path, "status", status, "reason",
	    reason, NULL);
	uv_close((uv_handle_t *)&c->tcp, admin_conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, admin_conn_close_cb);
}

static void admin_timer_cb(uv_timer_t *t);

static void
admin_shutdown_cb(uv_shutdown_t *req, int status)
{
	admin_conn_t *c = req->data;

	if (c->state == ADMIN_CS_CLOSING)
		return;
	if (status < 0)
		admin_conn_close(c, uv_strerror(status));
}

static void
admin_write_cb(uv_write_t *req, int status)
{
	admin_conn_t *c = req->data;
	int r;

	if (c->state == ADMIN_CS_CLOSING)
		return;
	if (status < 0) {
		admin_conn_close(c, uv_strerror(status));
		return;
	}
	if (c->eof) {
		admin_conn_close(c, "done");
		return;
	}
	/* FIN, then wait for the client's: see ADMIN_LINGER_MS. */
	c->sd.data = c;
	if ((r = uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp,
	    admin_shutdown_cb)) != 0) {
		admin_conn_close(c, uv_strerror(r));
		return;
	}
	admin_conn_enter(c, ADMIN_CS_LINGER);
	uv_timer_start(&c->timer, admin_timer_cb, ADMIN_LINGER_MS, 0);
}

/*
 * Sends the response in c->body with status; head_only leaves the body
 * out (HEAD). A head that cannot be built becomes a 500.
 */
static void
admin_conn_send(admin_conn_t *c, int status, const char *ctype,
    int head_only)
{
	char date[HTTP_DATE_LEN + 1], extra[128];
	uv_buf_t bufs[2];
	unsigned nbufs = 1;
	size_t len;
	int r;

	if (http_date(date, sizeof(date), time(NULL)) == 0)
		snprintf(extra, sizeof(extra), "Date: %s\r\n%s", date,
		    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	else
		snprintf(extra, sizeof(extra), "%s",
		    status == 405 ? "Allow: GET, HEAD\r\n" : "");
	len = http_response_extra(c->head, sizeof(c->head), status, ctype,
	    c->body.len, extra);
	if (len == 0) {
		/* Only the handler's content type can make it fail; the 500
		 * below uses ours and always fits. */
		if (status != 500)
			admin_conn_error(c, 500, head_only);
		else
			admin_conn_close(c, "response head does not fit");
		return;
	}
	c->status = status;
	bufs[0] = uv_buf_init(c->head, (unsigned)len);
	if (!head_only && c->body.len > 0)
		bufs[nbufs++] = uv_buf_init(c->body.data,
		    (unsigned)c->body.len);
	admin_conn_enter(c, ADMIN_CS_SEND);
	uv_timer_start(&c->timer, admin_timer_cb, ADMIN_SEND_TIMEOUT_MS, 0);
	c->wr.data = c;
	if ((r = uv_write(&c->wr, (uv_stream_t *)&c->tcp, bufs, nbufs,
	    admin_write_cb)) != 0)
		admin_conn_close(c, uv_strerror(r));
}

/* Answers with status and its reason phrase as a text body. */
static void
admin_conn_error(admin_conn_t *c, int status, int head_only)
{
	admin_buf_cleanup(&c->body);
	admin_buf_printf(&c->body, "%s\n", http_reason(status));
	admin_conn_send(c, status, NULL, head_only);
}

static int
admin_is(const http_slice_t *s, const char *lit, size_t litlen)
{
	return s->len == litlen && memcmp(s->p, lit, litlen) == 0;
}

/* A complete head: allowed method, then the handler. */
static void
admin_conn_request(admin_conn_t *c)
{
	const http_request_t *r = &c->req;
	admin_t *a = c->a;
	const char *ctype = NULL;
	int status, head_only = admin_is(&r->method, "HEAD", 4);

	log_escape(r->method.p, r->method.len, c->method, sizeof(c->method));
	log_escape(r->path.p, r->path.len, c->path, sizeof(c->path));
	if (!head_only && !admin_is(&r->method, "GET", 3)) {
		admin_conn_error(c, 405, 0);
		return;
	}
	status = a->handler(a->arg, (const char *)r->method.p, r->method.len,
	    (const char *)r->path.p, r->path.len, &c->body, &ctype);
	if (c->state == ADMIN_CS_CLOSING)
		return; /* admin_free from the handler */
	if (status < 200 || status > 599 || status == 204 || c->body.failed) {
		admin_conn_error(c, 500, head_only);
		return;
	}
	admin_conn_send(c, status, ctype, head_only);
}

static void
admin_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	admin_conn_t *c = h->data;

	(void)suggested;
	/* While reading the head there is always room: http_parse decides
	 * by HTTP_HEAD_MAX bytes. Afterwards input goes to the same buffer
	 * and is dropped. */
	if (c->state == ADMIN_CS_HEAD)
		*buf = uv_buf_init((char *)c->in + c->inlen,
		    (unsigned)(sizeof(c->in) - c->inlen));
	else
		*buf = uv_buf_init((char *)c->in, sizeof(c->in));
}

static void
admin_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	admin_conn_t *c = s->data;
	http_status_t st;
	size_t headlen;

	(void)buf;
	if (c->state == ADMIN_CS_CLOSING || nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF) {
			admin_conn_close(c, uv_strerror((int)nread));
			return;
		}
		c->eof = 1;
		uv_read_stop(s);
		if (c->state == ADMIN_CS_HEAD)
			admin_conn_close(c, "client closed before a request");
		else if (c->state == ADMIN_CS_LINGER)
			admin_conn_close(c, "done");
		/* SEND: the write goes on; its callback closes. */
		return;
	}
	if (c->state != ADMIN_CS_HEAD)
		return; /* after the request: dropped */
	c->inlen += (size_t)nread;
	st = http_parse(c->in, c->inlen, &c->req, &headlen);
	if (st == HTTP_PARTIAL)
		return;
	if (st == HTTP_OK)
		admin_conn_request(c);
	else
		admin_conn_error(c, http_status_code(st), 0);
}

static void
admin_timer_cb(uv_timer_t *t)
{
	admin_conn_t *c = t->data;

	switch (c->state) {
	case ADMIN_CS_HEAD:
		admin_conn_error(c, 408, 0);
		break;
	case ADMIN_CS_SEND:
		admin_conn_close(c, "send timeout");
		break;
	case ADMIN_CS_LINGER:
		admin_conn_close(c, "done, client did not close");
		break;
	case ADMIN_CS_CLOSING:
		break;
	}
}

static void
admin_conn_peer(admin_conn_t *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	snprintf(c->peer, sizeof(c->peer), "-");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
}

/* Refusals --------------------------------------------------------------- */

static void
admin_reject_close_cb(uv_handle_t *h)
{
	admin_t *a = h->data;

	if (h == (uv_handle_t *)&a->spare)
		a->spare_busy = 0;
	else
		free(h);
	a->pending--;
	admin_release(a);
}

/* Accepts the waiting connection and closes it at once. */
static void
admin_reject(admin_t *a, const char *reason)
{
	uv_tcp_t *t = malloc(sizeof(*t));

	if (t == NULL) {
		if (a->spare_busy) {
			/* Both gone: libuv keeps the connection queued and
			 * stops polling the listener until we accept. */
			log_event(LOG_ERROR, "admin_stalled", "reason",
			    "out of memory", NULL);
			return;
		}
		t = &a->spare;
		a->spare_busy = 1;
	}
	if (uv_tcp_init(a->loop, t) != 0) {
		if (t == &a->spare)
			a->spare_busy = 0;
		else
			free(t);
		log_event(LOG_ERROR, "admin_stalled", "reason",
		    "cannot make a socket handle", NULL);
		return;
	}
	t->data = a;
	a->pending++;
	uv_accept((uv_stream_t *)&a->listener, (uv_stream_t *)t);
	uv_close((uv_handle_t *)t, admin_reject_close_cb);
	log_event(LOG_DEBUG, "admin_reject", "reason", reason, NULL);
}

static void
admin_connection_cb(uv_stream_t *server, int status)
{
	admin_t *a = server->data;
	admin_conn_t *c;
	int r;

	if (status < 0) {
		log_event(LOG_WARN, "admin_accept_failed", "error",
		    uv_strerror(status), NULL);
		return;
	}
	if (a->nconns >= ADMIN_CONN_MAX) {
		admin_reject(a, "too many connections");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		admin_reject(a, "out of memory");
		return;
	}
	if (uv_tcp_init(a->loop, &c->tcp) != 0) {
		free(c);
		admin_reject(a, "cannot make a socket handle");
		return;
	}
	uv_timer_init(a->loop, &c->timer);
	c->a = a;
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	c->state = ADMIN_CS_HEAD;
	snprintf(c->id, sizeof(c->id), "a%llu",
	    (unsigned long long)++a->next_id);
	snprintf(c->method, sizeof(c->method), "-");
	snprintf(c->path, sizeof(c->path), "-");
	snprintf(c->peer, sizeof(c->peer), "-");
	http_request_init(&c->req);
	admin_buf_init(&c->body);
	c->next = a->conns;
	if (a->conns != NULL)
		a->conns->prev = c;
	a->conns = c;
	a->nconns++;
	a->pending++;

	if ((r = uv_accept(server, (uv_stream_t *)&c->tcp)) != 0 ||
	    (r = uv_read_start((uv_stream_t *)&c->tcp, admin_alloc_cb,
	    admin_read_cb)) != 0) {
		admin_conn_close(c, uv_strerror(r));
		return;
	}
	admin_conn_peer(c);
	/* Started once: bytes that arrive later do not push it back. */
	uv_timer_start(&c->timer, admin_timer_cb, a->timeout_ms, 0);
}

/* API -------------------------------------------------------------------- */

admin_t *
admin_new(uv_loop_t *loop, const struct sockaddr *addr,
    admin_handler_fn *handler, void *arg, char *err, size_t errlen)
{
	admin_t *a;
	int r;

	if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6) {
		snprintf(err, errlen, "admin: not an IPv4 or IPv6 address");
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "admin: out of memory");
		return NULL;
	}
	a->loop = loop;
	a->handler = handler;
	a->arg = arg;
	a->timeout_ms = ADMIN_TIMEOUT_MS;
	if ((r = uv_tcp_init(loop, &a->listener)) != 0) {
		snprintf(err, errlen, "admin: %s", uv_strerror(r));
		free(a);
		return NULL;
	}
	a->listener.data = a;
	a->pending = 1;
	/* libuv reports some bind errors (EADDRINUSE) only at listen. */
	if ((r = uv_tcp_bind(&a->listener, addr,
	    addr->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
	    (r = uv_listen((uv_stream_t *)&a->listener, ADMIN_BACKLOG,
	    admin_connection_cb)) != 0) {
		snprintf(err, errlen, "admin: cannot listen: %s",
		    uv_strerror(r));
		a->freeing = 1;
		uv_close((uv_handle_t *)&a->listener, admin_listener_close_cb);
		return NULL;
	}
	return a;
}

int
admin_sockname(const admin_t *a, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);

	return uv_tcp_getsockname(&a->listener, (struct sockaddr *)ss,
	    &len) == 0 ? 0 : -1;
}

void
admin_set_timeout(admin_t *a, uint64_t ms)
{
	a->timeout_ms = ms;
}

void
admin_free(admin_t *a)
{
	if (a == NULL || a->freeing)
		return;
	a->freeing = 1;
	uv_close((uv_handle_t *)&a->listener, admin_listener_close_cb);
	for (admin_conn_t *c = a->conns; c != NULL; c = c->next)
		admin_conn_close(c, "admin closed");
}
