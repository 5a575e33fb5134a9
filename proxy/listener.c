/*
 * listener: sockets made by hand (libuv 1.44 has no SO_REUSEPORT flag),
 * then handed to libuv; each accepted connection becomes a session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "listener.h"
#include "log.h"
#include "session.h"

/* Kernel accept queue (listen(2) backlog). */
#define LISTENER_BACKLOG 511

/* Out of descriptors, how long a listener stays closed before it retries. */
#define LISTENER_RETRY_MS 250

static int listener_listen(listener_t *l);
static void listener_handle_closed(uv_handle_t *h);
static void listener_retry_cb(uv_timer_t *t);

static void
listener_connection_cb(uv_stream_t *server, int status)
{
	listener_t *l = server->data;
	const char *name = l->px->rt->cfg->listeners[l->idx].name;

	if (status == UV_EMFILE || status == UV_ENFILE) {
		/*
		 * libuv sheds a waiting connection with its reserve
		 * descriptor. Once another worker thread has taken the slot
		 * that frees, it has none, and calls us again and again inside
		 * one callback until a descriptor frees (seen: hundreds of
		 * calls a millisecond, a core busy). Closing the socket ends
		 * that and refuses new connections, which is right with no
		 * descriptor to serve them; the retry timer opens it again.
		 */
		if (l->open) {
			log_event(LOG_WARN, "accept_paused", "listener", name,
			    "error", uv_strerror(status), NULL);
			l->open = 0;
			uv_close((uv_handle_t *)&l->tcp,
			    listener_handle_closed);
		}
		return;
	}
	if (status < 0) {
		log_event(LOG_WARN, "accept_failed", "listener", name,
		    "error", uv_strerror(status), NULL);
		return;
	}
	session_accept(l);
}

/* A bound, listening socket with SO_REUSEPORT; -1 with errno on failure. */
static int
listener_socket(const config_addr_t *a)
{
	int fd, one = 1;

	if ((fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (a->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (const struct sockaddr *)&a->addr, a->addrlen) ||
	    listen(fd, LISTENER_BACKLOG)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
listener_handle_closed(uv_handle_t *h)
{
	listener_t *l = h->data;

	if (--l->handles == 0 && l->closing) {
		free(l);
		return;
	}
	/* The socket closed for want of descriptors: try again later. */
	if (h == (uv_handle_t *)&l->tcp && !l->closing)
		uv_timer_start(&l->retry, listener_retry_cb, LISTENER_RETRY_MS,
		    0);
}

static void
listener_retry_cb(uv_timer_t *t)
{
	listener_t *l = t->data;

	if (l->closing)
		return;
	if (listener_listen(l) == 0)
		log_event(LOG_INFO, "accept_resumed", "listener",
		    l->px->rt->cfg->listeners[l->idx].name, NULL);
	else if (l->handles == 1)
		/* Not even a socket (still no descriptor): later. A socket
		 * that was made is closing; its close starts the timer. */
		uv_timer_start(&l->retry, listener_retry_cb, LISTENER_RETRY_MS,
		    0);
}

/*
 * Opens the socket and listens on l->tcp. Returns 0, or -1 with errno (a
 * handle that was made is closing then).
 */
static int
listener_listen(listener_t *l)
{
	int fd;

	if ((fd = listener_socket(&l->addr)) == -1)
		return -1;
	if (uv_tcp_init(&l->px->loop, &l->tcp) != 0) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	l->tcp.data = l;
	l->handles++;
	if (uv_tcp_open(&l->tcp, fd) != 0) {
		close(fd);
		uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
		errno = EINVAL;
		return -1;
	}
	if (uv_listen((uv_stream_t *)&l->tcp, LISTENER_BACKLOG,
	    listener_connection_cb) != 0) {
		uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
		errno = EINVAL;
		return -1;
	}
	l->open = 1;
	return 0;
}

static void
listener_close(listener_t *l)
{
	l->closing = 1;
	if (l->open) {
		l->open = 0;
		uv_close((uv_handle_t *)&l->tcp, listener_handle_closed);
	}
	uv_close((uv_handle_t *)&l->retry, listener_handle_closed);
}

static listener_t *
listener_open(proxy_t *px, int idx)
{
	const config_listener_t *lc = &px->rt->cfg->listeners[idx];
	listener_t *l;
	char port[8];

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->px = px;
	l->idx = idx;
	l->addr = lc->listen;
	l->addr.host = NULL; /* the runtime's; only addr is compared */
	if (uv_timer_init(&px->loop, &l->retry) != 0) {
		free(l);
		return NULL;
	}
	l->retry.data = l;
	l->handles = 1;
	/* The port in a field of its own: the address as written ("*",
	 * "::1") stays what it was for whoever parses it. */
	snprintf(port, sizeof(port), "%u", (unsigned)lc->listen.port);
	if (listener_listen(l) == -1) {
		log_event(LOG_ERROR, "listen_failed", "listener", lc->name,
		    "address", lc->listen.host, "port", port, "error",
		    strerror(errno), NULL);
		listener_close(l);
		return NULL;
	}
	if (px->id == 0)
		log_event(LOG_INFO, "listening", "listener", lc->name,
		    "address", lc->listen.host, "port", port, NULL);
	return l;
}

static int
listener_same_addr(const config_addr_t *a, const config_addr_t *b)
{
	return a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

int
listener_reconcile(proxy_t *px)
{
	const config_t *cfg = px->rt->cfg;
	listener_t *keep[CONFIG_MAX_LISTENERS];
	int nkeep = 0, rc = 0;

	for (int i = 0; i < px->nlisteners; i++)
		px->listeners[i]->seen = 0;
	for (int j = 0; j < cfg->nlisteners && !px->draining; j++) {
		listener_t *l = NULL;
		for (int i = 0; i < px->nlisteners; i++) {
			listener_t *o = px->listeners[i];
			/* One closed for want of descriptors is kept too: its
			 * retry opens the same address again. */
			if (!o->seen && listener_same_addr(&o->addr,
			    &cfg->listeners[j].listen)) {
				l = o;
				break;
			}
		}
		if (l == NULL && (l = listener_open(px, j)) == NULL) {
			rc = -1;
			continue;
		}
		l->idx = j;
		l->seen = 1;
		keep[nkeep++] = l;
	}
	for (int i = 0; i < px->nlisteners; i++)
		if (!px->listeners[i]->seen)
			listener_close(px->listeners[i]);
	memcpy(px->listeners, keep, (size_t)nkeep * sizeof(keep[0]));
	px->nlisteners = nkeep;
	return rc;
}

void
listener_close_all(proxy_t *px)
{
	for (int i = 0; i < px->nlisteners; i++)
		listener_close(px->listeners[i]);
	px->nlisteners = 0;
}
