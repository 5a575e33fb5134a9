/*
 * session: one SMTP session relayed between two conns, the client leg and
 * the server leg. Inbound: the client is a remote sender (TLS in server
 * role), the server leg is the legacy backend (plaintext).
 */
#ifndef SESSION_H
#define SESSION_H

#include "proxy.h"

/*
 * session_accept takes a pending connection from l and starts a session
 * (or answers 421 when the proxy is at max_sessions). The session frees
 * itself when both legs have closed.
 */
void session_accept(listener_t *l);

/*
 * session_shutdown_all ends px's sessions for a shutdown: with force at
 * once; otherwise each gets 421 4.3.2 at its next command boundary, and a
 * session inside a message body is closed without end-of-data (nothing is
 * half-delivered).
 */
void session_shutdown_all(proxy_t *px, int force);

/* outbound_sni_free drops px's learned destination -> MX names (at the
 * worker's end). */
void outbound_sni_free(proxy_t *px);

/* outbound_rpt_abandon drops the TLS-RPT results that wait, after their
 * session closed, for their domain's TLSRPT record (outbound_rpt.c),
 * counted as dropped: at PROXY_CMD_STOP, before the resolver goes. */
void outbound_rpt_abandon(proxy_t *px);

#endif
