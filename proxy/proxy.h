/*
 * proxy: the top-level state one event loop owns: its configuration, TLS
 * contexts, listeners, scratch buffer and counters. main() owns it; nothing
 * here is global.
 */
#ifndef PROXY_H
#define PROXY_H

#include <stdint.h>
#include <uv.h>
#include <openssl/ssl.h>

#include "config.h"
#include "conn.h"
#include "ipcount.h"

typedef struct proxy proxy_t;

/* One listening socket and what its sessions need from the configuration. */
typedef struct {
	uv_tcp_t tcp;
	proxy_t *px;                   /* borrowed */
	const config_listener_t *cfg;  /* borrowed from px->cfg */
	SSL_CTX *tls;                  /* owned: server ctx (inbound) or client ctx (outbound) */
	int open;
} listener_t;

struct proxy {
	uv_loop_t *loop;               /* borrowed */
	config_t *cfg;                 /* owned */
	listener_t *listeners;         /* owned array, cfg->nlisteners long */
	int nlisteners;
	uv_signal_t sig_term, sig_int;
	int stopping;

	unsigned nsessions;            /* sessions alive */
	uint64_t next_sid;
	uint64_t sessions_total;
	ipcount_t ipcount;             /* sessions per client address */
	char hostname[256];            /* for the proxy's own EHLO */

	uint8_t scratch[CONN_SCRATCH_SIZE]; /* ciphertext reads (conn) and body filter output */
};

#endif
