/*
 * loop: see loop.h. The table follows ipcount.c: linear probing, FNV-1a
 * over the key, backward-shift deletion. Peers do not choose the keys (the
 * kernel picks our local ports), so collisions are not theirs to arrange.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include "addr.h"
#include "loop.h"

#define LOOP_MIN_CAP 64

_Static_assert(sizeof(loop_key_t) == 36, "loop_key_t has padding");

static int
loop_key(const struct sockaddr *local, const struct sockaddr *remote,
    loop_key_t *k)
{
	uint32_t scope;   /* not part of the key */

	memset(k, 0, sizeof(*k));
	return addr_key(local, k->a, &k->port, &scope) == 0 &&
	    addr_key(remote, k->ra, &k->rport, &scope) == 0 ? 0 : -1;
}

static size_t
loop_hash(const loop_key_t *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */

	for (size_t i = 0; i < sizeof(*k); i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

static int
loop_slot_is(const loop_slot_t *s, const loop_key_t *k)
{
	return memcmp(&s->k, k, sizeof(*k)) == 0;
}

/* The slot holding k, or the empty slot where it would go. */
static loop_slot_t *
loop_find(const loop_slot_t *slots, size_t cap, const loop_key_t *k)
{
	size_t mask = cap - 1, i = loop_hash(k) & mask;

	while (slots[i].count != 0 && !loop_slot_is(&slots[i], k))
		i = (i + 1) & mask;
	return (loop_slot_t *)&slots[i];
}

int
loop_init(loop_t *l)
{
	memset(l, 0, sizeof(*l));
	return uv_mutex_init(&l->lock) == 0 ? 0 : -1;
}

void
loop_cleanup(loop_t *l)
{
	free(l->slots);
	uv_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
}

/* Caller holds the lock. */
static int
loop_grow(loop_t *l)
{
	size_t cap = l->cap ? l->cap * 2 : LOOP_MIN_CAP;
	loop_slot_t *n;

	if ((n = calloc(cap, sizeof(*n))) == NULL)
		return -1;
	for (size_t i = 0; i < l->cap; i++) {
		if (l->slots[i].count != 0)
			*loop_find(n, cap, &l->slots[i].k) = l->slots[i];
	}
	free(l->slots);
	l->slots = n;
	l->cap = cap;
	return 0;
}

void
loop_hold(loop_t *l)
{
	uv_mutex_lock(&l->lock);
}

void
loop_release(loop_t *l)
{
	uv_mutex_unlock(&l->lock);
}

int
loop_add(loop_t *l, const struct sockaddr *local,
    const struct sockaddr *remote)
{
	int r;

	uv_mutex_lock(&l->lock);
	r = loop_add_held(l, local, remote);
	uv_mutex_unlock(&l->lock);
	return r;
}

int
loop_add_held(loop_t *l, const struct sockaddr *local,
    const struct sockaddr *remote)
{
	loop_key_t k;
	loop_slot_t *s;
	int r = -1;

	if (loop_key(local, remote, &k) == -1)
		return -1;
	if (l->cap == 0 && loop_grow(l) == -1)
		goto out;
	s = loop_find(l->slots, l->cap, &k);
	if (s->count != 0) {
		if (s->count < UINT16_MAX) {
			s->count++;
			r = 0;
		}
		goto out;
	}
	if (l->used >= LOOP_MAX)
		goto out;
	if ((l->used + 1) * 2 > l->cap) {
		if (loop_grow(l) == -1)
			goto out;
		s = loop_find(l->slots, l->cap, &k);
	}
	s->k = k;
	s->count = 1;
	l->used++;
	r = 0;
out:
	return r;
}

void
loop_del(loop_t *l, const struct sockaddr *local,
    const struct sockaddr *remote)
{
	loop_key_t k;
	size_t mask, i, j;

	if (loop_key(local, remote, &k) == -1)
		return;
	uv_mutex_lock(&l->lock);
	if (l->cap == 0)
		goto out;
	mask = l->cap - 1;
	i = (size_t)(loop_find(l->slots, l->cap, &k) - l->slots);
	if (l->slots[i].count == 0 || --l->slots[i].count > 0)
		goto out;
	l->used--;
	/* Backward-shift: pull later members of the run into the hole. */
	for (j = (i + 1) & mask; l->slots[j].count != 0; j = (j + 1) & mask) {
		size_t home = loop_hash(&l->slots[j].k) & mask;

		/* Move j to i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			l->slots[i] = l->slots[j];
			l->slots[j].count = 0;
			i = j;
		}
	}
out:
	uv_mutex_unlock(&l->lock);
}

int
loop_has(loop_t *l, const struct sockaddr *peer, const struct sockaddr *dst)
{
	loop_key_t k;
	int r = 0;

	if (loop_key(peer, dst, &k) == -1)
		return 0;
	uv_mutex_lock(&l->lock);
	if (l->cap != 0)
		r = loop_find(l->slots, l->cap, &k)->count != 0;
	uv_mutex_unlock(&l->lock);
	return r;
}

int
loop_empty(loop_t *l)
{
	int r;

	uv_mutex_lock(&l->lock);
	r = l->used == 0;
	uv_mutex_unlock(&l->lock);
	return r;
}

/* loop_wildcard: sa is 0.0.0.0 or [::]. */
static int
loop_wildcard(const struct sockaddr *sa)
{
	static const uint8_t zero[16];

	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == 0;
	if (sa->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr,
		    zero, 16) == 0;
	return 0;
}

/*
 * loop_local: sa's address belongs to this host, as bind() tells (it
 * fails with EADDRNOTAVAIL for others). Port 0: nothing is taken.
 */
static int
loop_local(const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage ss;
	int fd, r;

	if (len > sizeof(ss) || (sa->sa_family != AF_INET &&
	    sa->sa_family != AF_INET6))
		return 0;
	memcpy(&ss, sa, len);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	r = bind(fd, (struct sockaddr *)&ss, len);
	close(fd);
	return r == 0;
}

/* loop_target_is: the next hop a (resolved at load) is listener l. */
static int
loop_target_is(const config_addr_t *a, const config_listener_t *l)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->addr;
	const struct sockaddr *la = (const struct sockaddr *)&l->listen.addr;

	if (a->addrlen == 0 || l->listen.addrlen == 0 ||
	    addr_port(sa) != addr_port(la))
		return 0;
	if (addr_same(sa, la))
		return 1;
	/* The listeners' [::] is IPV6_V6ONLY (listener.c): one family. */
	return loop_wildcard(la) && sa->sa_family == la->sa_family &&
	    loop_local(sa, a->addrlen);
}

int
loop_config_check(const config_t *cfg, FILE *errs)
{
	int bad = 0;

	for (int i = 0; i < cfg->nlisteners; i++) {
		const config_listener_t *src = &cfg->listeners[i];
		const config_addr_t *hop = &src->relay;

		/* An inbound backend may well be an outbound listener (mail in,
		 * then on to a smarthost); only a relay back in is a loop. */
		if (src->dir != DIR_OUTBOUND || src->out_mode != OUT_MODE_RELAY)
			continue;
		for (int j = 0; j < cfg->nlisteners; j++) {
			const config_listener_t *dst = &cfg->listeners[j];

			if (!loop_target_is(hop, dst))
				continue;
			fprintf(errs, "%s:%d: relay %s:%u of [%s] is the proxy's own "
			    "listener [%s] (line %d): mail would loop\n",
			    cfg->path, src->line, hop->host,
			    (unsigned)hop->port, src->name, dst->name,
			    dst->line);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}
