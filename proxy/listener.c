/*
 * listener: binds the configured addresses and hands each accepted
 * connection to a new session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"
#include "log.h"
#include "session.h"
#include "tls.h"

/* Kernel accept queue (listen(2) backlog). */
#define LISTENER_BACKLOG 511

static void
listener_connection_cb(uv_stream_t *server, int status)
{
	listener_t *l = server->data;

	if (status < 0) {
		/* EMFILE and the like: the connection stays queued in the
		 * kernel and libuv retries on the next turn; nothing spins. */
		log_event(LOG_WARN, "accept_failed", "listener", l->cfg->name,
		    "error", uv_strerror(status), NULL);
		return;
	}
	session_accept(l);
}

static int
listener_open(proxy_t *px, listener_t *l, const config_listener_t *lc)
{
	char err[256];
	int r;

	l->px = px;
	l->cfg = lc;
	if (lc->dir == DIR_INBOUND && lc->in_tls != IN_TLS_OFF)
		l->tls = tls_server_ctx_new(lc, err, sizeof(err));
	else if (lc->dir == DIR_OUTBOUND && lc->out_tls != OUT_TLS_NONE)
		l->tls = tls_client_ctx_new(lc, err, sizeof(err));
	else
		err[0] = '\0';
	if (l->tls == NULL && err[0] != '\0') {
		log_event(LOG_ERROR, "tls_setup_failed", "listener", lc->name,
		    "error", err, NULL);
		return -1;
	}
	if ((r = uv_tcp_init(px->loop, &l->tcp)) != 0)
		goto err;
	l->tcp.data = l;
	l->open = 1;
	if ((r = uv_tcp_bind(&l->tcp,
	    (const struct sockaddr *)&lc->listen.addr,
	    lc->listen.addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
	    (r = uv_listen((uv_stream_t *)&l->tcp, LISTENER_BACKLOG,
	    listener_connection_cb)) != 0)
		goto err;
	log_event(LOG_INFO, "listening", "listener", lc->name, "address",
	    lc->listen.host, NULL);
	return 0;

err:
	log_event(LOG_ERROR, "listen_failed", "listener", lc->name, "address",
	    lc->listen.host, "error", uv_strerror(r), NULL);
	return -1;
}

int
listener_open_all(proxy_t *px)
{
	px->nlisteners = px->cfg->nlisteners;
	if ((px->listeners = calloc((size_t)px->nlisteners,
	    sizeof(*px->listeners))) == NULL)
		return -1;
	for (int i = 0; i < px->nlisteners; i++)
		if (listener_open(px, &px->listeners[i],
		    &px->cfg->listeners[i]) == -1)
			return -1;
	return 0;
}

static void
listener_close_cb(uv_handle_t *h)
{
	(void)h;
}

void
listener_close_all(proxy_t *px)
{
	for (int i = 0; i < px->nlisteners; i++) {
		listener_t *l = &px->listeners[i];
		if (l->open) {
			l->open = 0;
			uv_close((uv_handle_t *)&l->tcp, listener_close_cb);
		}
	}
}
