/*
 * tlsrate: new TLS handshakes per client address in the current minute, for
 * tls_rate_limit (Postfix's smtpd_client_new_tls_session_rate_limit).
 *
 * Each address has a fixed window that opens with its first counted
 * handshake and lasts TLSRATE_WINDOW_MS; the count starts over in the next
 * one. Pure (no I/O, no clock: the caller passes the time) and not locked:
 * the one table all workers share sits behind a mutex in shared_t.
 *
 * Memory is bounded: the table is allocated at its first use with a fixed
 * capacity (a power of two) and never grows. It keeps at most 3/4 of that
 * many addresses; when full, the windows that ended are swept out, at most
 * once per TLSRATE_SWEEP_MS. An address that still finds no room is not
 * limited (tlsrate_take admits it): failing open keeps the proxy serving
 * when someone sprays handshakes from more addresses than the table holds,
 * while every address already in the table stays limited.
 */
#ifndef TLSRATE_H
#define TLSRATE_H

#include <stddef.h>
#include <stdint.h>

#include "ipcount.h"

#define TLSRATE_WINDOW_MS (60 * 1000)   /* per minute, like Postfix's anvil */
#define TLSRATE_SWEEP_MS 1000
/* 16384 slots of 32 octets: 512 KiB, 12288 addresses at once. */
#define TLSRATE_CAP 16384

typedef struct {
	ipcount_key_t key;
	uint32_t count;       /* 0: empty slot */
	uint64_t start_ms;    /* the window opened */
} tlsrate_slot_t;

typedef struct {
	tlsrate_slot_t *slots; /* owned; NULL until first used */
	size_t cap;           /* a power of two */
	size_t used;
	uint64_t swept_ms;    /* last sweep */
	uint64_t untracked;   /* handshakes admitted with the table full */
} tlsrate_t;

/* tlsrate_init prepares t (caller storage) for cap slots, a power of two
 * (TLSRATE_CAP in the proxy); nothing is allocated yet. */
void tlsrate_init(tlsrate_t *t, size_t cap);
/* tlsrate_cleanup frees what t owns. */
void tlsrate_cleanup(tlsrate_t *t);

/*
 * tlsrate_over says whether k has used its limit of handshakes in the window
 * that holds now_ms (1) or not (0). Counts nothing: for deciding whether to
 * offer STARTTLS.
 */
int tlsrate_over(const tlsrate_t *t, const ipcount_key_t *k, uint32_t limit,
    uint64_t now_ms);

/*
 * tlsrate_take counts one handshake for k at now_ms and returns 0, or
 * returns -1 without counting when k has used its limit in this window.
 * limit 0 means no limit (nothing counted).
 */
int tlsrate_take(tlsrate_t *t, const ipcount_key_t *k, uint32_t limit,
    uint64_t now_ms);

#endif
