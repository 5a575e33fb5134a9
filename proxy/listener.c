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

static void
listener_connection_cb(uv_stream_t *server, int status)
{
	listener_t *l = server->data;

	if (status < 0) {
		/* EMFILE and the like: libuv closes the connection with its
		 * reserve descriptor, so the loop does not spin; sessions in
		 * flight are untouched. */
		log_event(LOG_WARN, "accept_failed", "listener",
		    l->px->rt->cfg->listeners[l->idx].name, "error",
		    uv_strerror(status), NULL);
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
listener_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
listener_close(listener_t *l)
{
	if (l->open) {
		l->open = 0;
		uv_close((uv_handle_t *)&l->tcp, listener_close_cb);
	} else
		free(l);
}

static listener_t *
listener_open(proxy_t *px, int idx)
{
	const config_listener_t *lc = &px->rt->cfg->listeners[idx];
	listener_t *l;
	int fd;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->px = px;
	l->idx = idx;
	if ((fd = listener_socket(&lc->listen)) == -1) {
		log_event(LOG_ERROR, "listen_failed", "listener", lc->name,
		    "address", lc->listen.host, "error", strerror(errno), NULL);
		free(l);
		return NULL;
	}
	if (uv_tcp_init(&px->loop, &l->tcp) != 0) {
		close(fd);
		free(l);
		return NULL;
	}
	l->tcp.data = l;
	l->open = 1;
	if (uv_tcp_open(&l->tcp, fd) != 0 || uv_listen((uv_stream_t *)&l->tcp,
	    LISTENER_BACKLOG, listener_connection_cb) != 0) {
		log_event(LOG_ERROR, "listen_failed", "listener", lc->name,
		    "address", lc->listen.host, NULL);
		listener_close(l);
		return NULL;
	}
	if (px->id == 0)
		log_event(LOG_INFO, "listening", "listener", lc->name,
		    "address", lc->listen.host, NULL);
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
			/* The old index's address is in the old runtime; the
			 * socket knows its own. */
			struct sockaddr_storage ss;
			int len = sizeof(ss);
			config_addr_t oa;
			if (o->seen || uv_tcp_getsockname(&o->tcp,
			    (struct sockaddr *)&ss, &len) != 0)
				continue;
			memset(&oa, 0, sizeof(oa));
			memcpy(&oa.addr, &ss, (size_t)len);
			oa.addrlen = (socklen_t)len;
			if (listener_same_addr(&oa,
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
