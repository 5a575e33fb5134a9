/*
 * tlsrate: see tlsrate.h. Open addressing with linear probing and
 * backward-shift deletion, as ipcount.c; the hash is FNV-1a over the 16
 * address bytes (a peer controls only its own address, so it cannot pile up
 * collisions beyond what opening connections costs it anyway).
 */
#include <stdlib.h>
#include <string.h>

#include "tlsrate.h"

static size_t
tlsrate_hash(const ipcount_key_t *k)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < sizeof(k->a); i++) {
		h ^= k->a[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

void
tlsrate_init(tlsrate_t *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->cap = cap;
}

void
tlsrate_cleanup(tlsrate_t *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* The slot holding k, or the empty slot where it would go. Terminates
 * because the table is never more than 3/4 full. */
static tlsrate_slot_t *
tlsrate_find(const tlsrate_t *t, const ipcount_key_t *k)
{
	size_t mask = t->cap - 1, i = tlsrate_hash(k) & mask;

	while (t->slots[i].count != 0 &&
	    memcmp(&t->slots[i].key, k, sizeof(*k)) != 0)
		i = (i + 1) & mask;
	return &t->slots[i];
}

static int
tlsrate_expired(const tlsrate_slot_t *s, uint64_t now_ms)
{
	/* A clock that went back (it should not: loop time is monotonic)
	 * ends the window rather than stretching it. */
	return now_ms < s->start_ms || now_ms - s->start_ms >= TLSRATE_WINDOW_MS;
}

/* Empties slot i and pulls later members of its run into the hole. */
static void
tlsrate_del(tlsrate_t *t, size_t i)
{
	size_t mask = t->cap - 1, j;

	t->slots[i].count = 0;
	t->used--;
	for (j = (i + 1) & mask; t->slots[j].count != 0; j = (j + 1) & mask) {
		size_t home = tlsrate_hash(&t->slots[j].key) & mask;
		/* Move j to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			t->slots[j].count = 0;
			i = j;
		}
	}
}

/*
 * tlsrate_sweep drops every ended window. A deletion only moves entries
 * backwards (toward i), so slot i is looked at again after one and nothing
 * is skipped; an entry wrapped from the front to i was seen live already.
 */
static void
tlsrate_sweep(tlsrate_t *t, uint64_t now_ms)
{
	size_t i = 0;

	t->swept_ms = now_ms;
	while (i < t->cap) {
		if (t->slots[i].count != 0 &&
		    tlsrate_expired(&t->slots[i], now_ms))
			tlsrate_del(t, i);
		else
			i++;
	}
}

int
tlsrate_over(const tlsrate_t *t, const ipcount_key_t *k, uint32_t limit,
    uint64_t now_ms)
{
	const tlsrate_slot_t *s;

	if (limit == 0 || t->slots == NULL)
		return 0;
	s = tlsrate_find(t, k);
	return s->count != 0 && !tlsrate_expired(s, now_ms) &&
	    s->count >= limit;
}

int
tlsrate_take(tlsrate_t *t, const ipcount_key_t *k, uint32_t limit,
    uint64_t now_ms)
{
	tlsrate_slot_t *s;

	if (limit == 0 || t->cap < 4)
		return 0;
	if (t->slots == NULL) {
		if ((t->slots = calloc(t->cap, sizeof(*t->slots))) == NULL) {
			t->untracked++;
			return 0;
		}
		t->swept_ms = now_ms;
	}
	s = tlsrate_find(t, k);
	if (s->count != 0) {
		if (tlsrate_expired(s, now_ms)) {
			s->count = 0;   /* a new window; the slot stays taken */
			s->start_ms = now_ms;
		}
		if (s->count >= limit)
			return -1;
		s->count++;
		return 0;
	}
	if ((t->used + 1) * 4 > t->cap * 3) {
		if (now_ms - t->swept_ms < TLSRATE_SWEEP_MS &&
		    now_ms >= t->swept_ms) {
			t->untracked++;
			return 0;
		}
		tlsrate_sweep(t, now_ms);
		if ((t->used + 1) * 4 > t->cap * 3) {
			t->untracked++;
			return 0;
		}
		s = tlsrate_find(t, k);
	}
	s->key = *k;
	s->count = 1;
	s->start_ms = now_ms;
	t->used++;
	return 0;
}
