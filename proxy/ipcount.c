/*
 * ipcount: see ipcount.h. The table doubles when half full; the hash is
 * FNV-1a over the 16 address bytes (addresses are chosen by peers, but a
 * peer controls only its own address, so it cannot pile up collisions
 * beyond what it could do by opening sessions anyway).
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "ipcount.h"

#define IPCOUNT_MIN_CAP 64

int
ipcount_key(const struct sockaddr *sa, ipcount_key_t *k)
{
	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET) {
		k->a[10] = k->a[11] = 0xff;
		memcpy(k->a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(k->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static size_t
ipcount_hash(const ipcount_key_t *k)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(k->a); i++) {
		h ^= k->a[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

void
ipcount_init(ipcount_t *t)
{
	memset(t, 0, sizeof(*t));
}

void
ipcount_cleanup(ipcount_t *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* The slot holding k, or the empty slot where it would go. */
static ipcount_slot_t *
ipcount_find(const ipcount_t *t, const ipcount_key_t *k)
{
	size_t mask = t->cap - 1, i = ipcount_hash(k) & mask;

	while (t->slots[i].count != 0 &&
	    memcmp(&t->slots[i].key, k, sizeof(*k)) != 0)
		i = (i + 1) & mask;
	return &t->slots[i];
}

static int
ipcount_grow(ipcount_t *t)
{
	ipcount_t n;

	n.cap = t->cap ? t->cap * 2 : IPCOUNT_MIN_CAP;
	n.used = t->used;
	if ((n.slots = calloc(n.cap, sizeof(*n.slots))) == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].count != 0)
			*ipcount_find(&n, &t->slots[i].key) = t->slots[i];
	free(t->slots);
	*t = n;
	return 0;
}

uint32_t
ipcount_add(ipcount_t *t, const ipcount_key_t *k)
{
	ipcount_slot_t *s;

	if ((t->used + 1) * 2 > t->cap && ipcount_grow(t) == -1)
		return 0;
	s = ipcount_find(t, k);
	if (s->count == 0) {
		s->key = *k;
		t->used++;
	}
	return ++s->count;
}

uint32_t
ipcount_get(const ipcount_t *t, const ipcount_key_t *k)
{
	return t->cap ? ipcount_find(t, k)->count : 0;
}

void
ipcount_del(ipcount_t *t, const ipcount_key_t *k)
{
	size_t mask, i, j;

	if (t->cap == 0)
		return;
	mask = t->cap - 1;
	i = (size_t)(ipcount_find(t, k) - t->slots);
	if (t->slots[i].count == 0 || --t->slots[i].count > 0)
		return;
	t->used--;
	/* Backward-shift: pull later members of the run into the hole. */
	for (j = (i + 1) & mask; t->slots[j].count != 0; j = (j + 1) & mask) {
		size_t home = ipcount_hash(&t->slots[j].key) & mask;
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			t->slots[j].count = 0;
			i = j;
		}
	}
}
