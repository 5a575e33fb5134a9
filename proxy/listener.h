/*
 * listener: the listening sockets of a proxy, one per configured
 * [inbound*] / [outbound*] section, each with its TLS context.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include "proxy.h"

/*
 * listener_open_all creates px->listeners from px->cfg, builds their TLS
 * contexts and starts listening. Returns 0, or -1 after logging why (what
 * was opened stays for listener_close_all to release).
 */
int listener_open_all(proxy_t *px);

/* listener_close_all stops accepting; contexts are freed in close callbacks. */
void listener_close_all(proxy_t *px);

#endif
