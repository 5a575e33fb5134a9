/*
 * worker: one event loop on its own thread, with its own listening sockets
 * (SO_REUSEPORT) and sessions. Sessions never migrate between workers.
 * main drives workers through these calls only.
 */
#ifndef WORKER_H
#define WORKER_H

#include "proxy.h"

/* Heartbeat period for /healthz (main decides when silence is a stall). */
#define WORKER_TICK_MS 1000

/* Alignment of the worker's read scratch (proxy.h): a page. */
#define WORKER_PAGE 4096

/* DNSSEC probe period (worker 0), as Postfix's: at start, on reload, and
 * every ten minutes. */
#define WORKER_PROBE_MS (10 * 60 * 1000)

/*
 * worker_new prepares worker id with its first runtime (takes one reference
 * of rt). Returns NULL on failure (logged).
 */
proxy_t *worker_new(int id, shared_t *sh, runtime_t *rt);

/* worker_start runs the worker's loop on a new thread. Returns 0 or -1. */
int worker_start(proxy_t *px);

/* worker_publish hands a new runtime to the worker (takes one reference). */
void worker_publish(proxy_t *px, runtime_t *rt);

/* worker_command posts PROXY_CMD_* bits and wakes the worker. */
void worker_command(proxy_t *px, int cmd);

/* worker_join waits for the thread to end and frees px. */
void worker_join(proxy_t *px);

#endif
