/*
 * loop: the proxy must never be its own next hop.
 *
 * Two guards. loop_config_check (for -t) refuses a relay that is one of the
 * proxy's own listeners. At run time, a loop_t holds both ends (local and
 * remote address:port) of every live server-leg socket the proxy dialled;
 * an accepted connection that is one of them seen from the other side (its
 * peer is the leg's local end, and what it dialled is the leg's remote
 * end) comes from the proxy itself, and is refused after one hop instead
 * of dialling on forever. Both ends, not the local one alone: on a shared
 * address (a sidecar's 127.0.0.1) the kernel gives the legacy server's
 * connection to the proxy and the proxy's own leg to the next hop the same
 * local port whenever their destinations differ, and such a client is no
 * loop.
 *
 * loop_t is shared by all workers: its own mutex guards it, taken once per
 * accepted connection and once per server leg (connect and close).
 * Memory: an open-addressing table that doubles when half full, holding
 * only live legs, and never more than LOOP_MAX entries (at 38 octets a slot,
 * at most 10 MiB); a leg that finds it full is not recorded (logged by the
 * caller): the guard fails open rather than refusing mail.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <uv.h>

#include "config.h"

#define LOOP_MAX 131072

/* One leg's ends: 36 octets without padding, hashed and compared whole. */
typedef struct {
	uint8_t a[16];        /* local address, IPv4 v4-mapped */
	uint8_t ra[16];       /* remote address, the same */
	uint16_t port;        /* local port, network order */
	uint16_t rport;       /* remote port, network order */
} loop_key_t;

typedef struct {
	loop_key_t k;
	uint16_t count;       /* legs with these ends; 0: empty slot */
} loop_slot_t;

typedef struct {
	uv_mutex_t lock;
	loop_slot_t *slots;   /* owned; capacity a power of two */
	size_t cap;
	size_t used;
} loop_t;

/* loop_init prepares l (caller storage); 0 or -1. loop_cleanup frees it. */
int loop_init(loop_t *l);
void loop_cleanup(loop_t *l);

/*
 * loop_add records the ends of one of the proxy's own outgoing sockets:
 * local and remote (AF_INET or AF_INET6, with ports). Returns 0, or -1
 * when it cannot be recorded (other family, table full, no memory). Each
 * successful add needs one loop_del with the same ends.
 */
int loop_add(loop_t *l, const struct sockaddr *local,
    const struct sockaddr *remote);
void loop_del(loop_t *l, const struct sockaddr *local,
    const struct sockaddr *remote);

/*
 * loop_hold takes l's lock for a connect() and its loop_add_held, so that
 * no worker can accept that connection and look it up in between (on
 * loopback the handshake completes inside connect()); loop_release drops
 * it. Nothing else may be done while holding it.
 */
void loop_hold(loop_t *l);
void loop_release(loop_t *l);
int loop_add_held(loop_t *l, const struct sockaddr *local,
    const struct sockaddr *remote);

/*
 * loop_has: an accepted connection from peer to dst is one of the
 * recorded legs (peer its local end, dst its remote end). Returns 1 or 0.
 */
int loop_has(loop_t *l, const struct sockaddr *peer,
    const struct sockaddr *dst);

/* loop_empty: no leg is recorded. Returns 1 or 0. */
int loop_empty(loop_t *l);

/*
 * loop_config_check writes "FILE:LINE: message" to errs for each relay
 * (outbound, mode = relay) that is one of cfg's own listeners: the same address and port, or a wildcard listener of the same
 * family on that port when the address is local (bind() to it succeeds).
 * Returns 0 when there is none, -1 otherwise.
 */
int loop_config_check(const config_t *cfg, FILE *errs);

#endif
