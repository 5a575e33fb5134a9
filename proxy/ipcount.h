/*
 * ipcount: sessions per client address, for max_sessions_per_ip. An
 * open-addressing table (linear probing, backward-shift deletion) that holds
 * only addresses with live sessions, so it never grows past the number of
 * sessions. One per event loop; not shared between threads.
 */
#ifndef IPCOUNT_H
#define IPCOUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client address as a key: IPv4 is stored v4-mapped. */
typedef struct {
	uint8_t a[16];
} ipcount_key_t;

typedef struct {
	ipcount_key_t key;
	uint32_t count;       /* 0: empty slot */
} ipcount_slot_t;

typedef struct {
	ipcount_slot_t *slots; /* owned; capacity is a power of two */
	size_t cap;
	size_t used;
} ipcount_t;

/* ipcount_key makes the key of a sockaddr. Returns 0, or -1 for others. */
int ipcount_key(const struct sockaddr *sa, ipcount_key_t *k);

/* ipcount_init prepares t (caller storage); ipcount_cleanup frees it. */
void ipcount_init(ipcount_t *t);
void ipcount_cleanup(ipcount_t *t);

/* ipcount_add adds one session for k; returns the new count, 0 if no memory. */
uint32_t ipcount_add(ipcount_t *t, const ipcount_key_t *k);

/* ipcount_del removes one session for k (which must have one). */
void ipcount_del(ipcount_t *t, const ipcount_key_t *k);

/* ipcount_get returns the sessions counted for k. */
uint32_t ipcount_get(const ipcount_t *t, const ipcount_key_t *k);

#endif
