/*
 * session_loop: the session's side of the loop guard (loop.h). A server leg
 * records its local and remote address:port in the shared table as soon as
 * connect() has been issued (the kernel picks the port then), until the
 * session ends; an accepted connection from one of those local ends to the
 * matching remote end (the listener's address it reached, or its original
 * destination before a REDIRECT) was dialled by this proxy, so the session
 * is a hop in a loop.
 *
 * The table's lock is held across connect() and the record: the peer's
 * accept comes after the connection exists, hence after connect() began,
 * and its lookup then waits for the record. Without that, another worker
 * accepted a loopback connection (whose handshake ends inside connect())
 * and missed the record one time in three. The cost: outbound connect()
 * calls of all workers are serialised (each a few microseconds).
 */
#include <string.h>
#include <netinet/in.h>

#include "addr.h"
#include "log.h"
#include "loop.h"
#include "session_int.h"

/* Records the server leg's ends; the caller holds the table. */
static void
session_loop_note(session_t *s, const struct sockaddr *remote)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss), r;
	char a[ADDR_STR_MAX];

	if ((r = uv_tcp_getsockname(&s->server->tcp, (struct sockaddr *)&ss,
	    &len)) != 0) {
		log_event(LOG_WARN, "loop_guard_off", "session", s->id, "error",
		    uv_strerror(r), NULL);
		return;
	}
	if (addr_port((struct sockaddr *)&ss) == 0)
		return;   /* no port bound yet: nothing can come from it */
	if (loop_add_held(&s->px->sh->loops, (struct sockaddr *)&ss,
	    remote) == -1) {
		log_event(LOG_WARN, "loop_guard_off", "session", s->id, "local",
		    addr_format((struct sockaddr *)&ss, a, sizeof(a)),
		    "error", "table full", NULL);
		return;
	}
	s->loop_local = ss;
	memset(&s->loop_remote, 0, sizeof(s->loop_remote));
	memcpy(&s->loop_remote, remote, remote->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	s->loop_noted = 1;
}

int
session_loop_connect(session_t *s, const struct sockaddr *addr,
    uint32_t mark)
{
	int r;

	/* A retry's new leg replaces the first one's entry. */
	session_loop_forget(s);
	/* Only outbound legs: an inbound backend may be one of the proxy's
	 * outbound listeners (mail in, then on to a smarthost), as
	 * loop_config_check allows. */
	if (!s->dir->loop_guard)
		return conn_connect(s->server, addr, mark);
	loop_hold(&s->px->sh->loops);
	if ((r = conn_connect(s->server, addr, mark)) == 0)
		session_loop_note(s, addr);
	loop_release(&s->px->sh->loops);
	return r;
}

void
session_loop_forget(session_t *s)
{
	if (!s->loop_noted)
		return;
	loop_del(&s->px->sh->loops, (struct sockaddr *)&s->loop_local,
	    (struct sockaddr *)&s->loop_remote);
	s->loop_noted = 0;
}

int
session_loop_seen(session_t *s)
{
	loop_t *l = &s->px->sh->loops;
	const struct sockaddr *peer = (struct sockaddr *)&s->client_addr;
	struct sockaddr_storage orig;

	/* What the client dialled: the listener's address it reached, or,
	 * on an outbound listener while the proxy has legs out, what it
	 * dialled before a REDIRECT (one getsockopt). */
	if (!loop_has(l, peer, (struct sockaddr *)&s->client_local) &&
	    (s->lc->dir != DIR_OUTBOUND || loop_empty(l) ||
	    session_original_dst(s, &orig) != 0 ||
	    !loop_has(l, peer, (struct sockaddr *)&orig)))
		return 0;
	log_event(LOG_ERROR, "mail_loop", "session", s->id, "listener",
	    s->lc->name, "client", s->peer, NULL);
	return 1;
}
