/*
 * session_loop: the session's side of the loop guard (loop.h). A server leg
 * records its local address:port in the shared table as soon as connect()
 * has been issued (the kernel picks the port then), until the session ends;
 * an accepted connection whose peer is in the table was dialled by this
 * proxy, so the session is a hop in a loop.
 *
 * The table's lock is held across connect() and the record: the peer's
 * accept comes after the connection exists, hence after connect() began,
 * and its lookup then waits for the record. Without that, another worker
 * accepted a loopback connection (whose handshake ends inside connect())
 * and missed the record one time in three. The cost: outbound connect()
 * calls of all workers are serialised (each a few microseconds).
 */
#include "addr.h"
#include "log.h"
#include "loop.h"
#include "session_int.h"

/* Records the server leg's local end; the caller holds the table. */
static void
session_loop_note(session_t *s)
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
	if (loop_add_held(&s->px->sh->loops, (struct sockaddr *)&ss) == -1) {
		log_event(LOG_WARN, "loop_guard_off", "session", s->id, "local",
		    addr_format((struct sockaddr *)&ss, a, sizeof(a)),
		    "error", "table full", NULL);
		return;
	}
	s->loop_local = ss;
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
		session_loop_note(s);
	loop_release(&s->px->sh->loops);
	return r;
}

void
session_loop_forget(session_t *s)
{
	if (!s->loop_noted)
		return;
	loop_del(&s->px->sh->loops, (struct sockaddr *)&s->loop_local);
	s->loop_noted = 0;
}

int
session_loop_seen(session_t *s)
{
	if (!loop_has(&s->px->sh->loops, (struct sockaddr *)&s->client_addr))
		return 0;
	log_event(LOG_ERROR, "mail_loop", "session", s->id, "listener",
	    s->lc->name, "client", s->peer, NULL);
	return 1;
}
