/*
 * listener: a worker's listening sockets, reconciled with each runtime:
 * an address that stays keeps its socket (no connection is refused during
 * a reload), new ones are opened, dropped ones closed. Every socket has
 * SO_REUSEPORT, so each worker binds the same addresses and the kernel
 * spreads connections over the workers.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include "proxy.h"

/*
 * listener_reconcile makes px's listeners match px->rt. Returns 0, or -1
 * if some listener could not be opened (logged; the others work).
 */
int listener_reconcile(proxy_t *px);

/* listener_close_all stops accepting on every listener of px. */
void listener_close_all(proxy_t *px);

#endif
