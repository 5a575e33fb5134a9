/*
 * tlscache: see tlscache.h. A small array searched linearly: a worker
 * talks to few relays, and TLSCACHE_MAX bounds the work and the memory.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tlscache.h"

typedef struct {
	char key[TLSCACHE_KEY_MAX];
	SSL_SESSION *sess;       /* owned; NULL: free entry */
	time_t expires;
	uint64_t used;           /* LRU clock */
} tlscache_entry_t;

struct tlscache {
	tlscache_entry_t e[TLSCACHE_MAX];
	uint64_t clock;
};

/* Process-wide ex_data index, set once (BoringSSL's design). */
static pthread_once_t tlscache_once = PTHREAD_ONCE_INIT;
static int tlscache_index = -1;

static void
tlscache_index_init(void)
{
	tlscache_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

tlscache_t *
tlscache_new(void)
{
	return calloc(1, sizeof(tlscache_t));
}

static void
tlscache_drop(tlscache_entry_t *e)
{
	SSL_SESSION_free(e->sess);
	e->sess = NULL;
	e->key[0] = '\0';
}

void
tlscache_free(tlscache_t *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < TLSCACHE_MAX; i++)
		tlscache_drop(&c->e[i]);
	free(c);
}

/*
 * The newest entry under key (dropping the expired ones met on the way),
 * or NULL; *n gets how many are left under key and *oldest the least
 * recently used of them.
 */
static tlscache_entry_t *
tlscache_find(tlscache_t *c, const char *key, time_t now, int *n,
    tlscache_entry_t **oldest)
{
	tlscache_entry_t *best = NULL;

	*n = 0;
	*oldest = NULL;
	for (int i = 0; i < TLSCACHE_MAX; i++) {
		tlscache_entry_t *e = &c->e[i];

		if (e->sess == NULL || strcmp(e->key, key) != 0)
			continue;
		if (now >= e->expires) {
			tlscache_drop(e);
			continue;
		}
		(*n)++;
		if (best == NULL || e->used > best->used)
			best = e;
		if (*oldest == NULL || e->used < (*oldest)->used)
			*oldest = e;
	}
	return best;
}

SSL_SESSION *
tlscache_take(tlscache_t *c, const char *key, time_t now)
{
	tlscache_entry_t *e, *oldest;
	SSL_SESSION *s;
	int n;

	if (c == NULL || (e = tlscache_find(c, key, now, &n, &oldest)) == NULL)
		return NULL;
	s = e->sess;
	if (SSL_SESSION_should_be_single_use(s)) {
		/* The cache's reference goes to the caller. */
		e->sess = NULL;
		e->key[0] = '\0';
		return s;
	}
	e->used = ++c->clock;
	SSL_SESSION_up_ref(s);
	return s;
}

void
tlscache_put(tlscache_t *c, const char *key, SSL_SESSION *sess, time_t now,
    uint64_t timeout_s)
{
	tlscache_entry_t *e, *oldest;
	uint64_t life = SSL_SESSION_get_timeout(sess);
	int n;

	if (c == NULL || strlen(key) >= TLSCACHE_KEY_MAX) {
		SSL_SESSION_free(sess);
		return;
	}
	if (life == 0 || life > timeout_s)
		life = timeout_s;
	e = tlscache_find(c, key, now, &n, &oldest);
	if (!SSL_SESSION_should_be_single_use(sess)) {
		/* Reusable: one is enough; the others under key go. */
		for (int i = 0; i < TLSCACHE_MAX; i++)
			if (c->e[i].sess != NULL && &c->e[i] != e &&
			    strcmp(c->e[i].key, key) == 0)
				tlscache_drop(&c->e[i]);
	} else if (n >= TLSCACHE_PER_KEY)
		e = oldest;
	else
		e = NULL;
	if (e == NULL) {
		tlscache_entry_t *old = &c->e[0];

		for (int i = 0; i < TLSCACHE_MAX; i++) {
			if (c->e[i].sess == NULL) {
				old = &c->e[i];
				break;
			}
			if (c->e[i].used < old->used)
				old = &c->e[i];
		}
		e = old;
	}
	tlscache_drop(e);
	memcpy(e->key, key, strlen(key) + 1);
	e->sess = sess;
	e->expires = now + (time_t)life;
	e->used = ++c->clock;
}

int
tlscache_count(const tlscache_t *c)
{
	int n = 0;

	for (int i = 0; c != NULL && i < TLSCACHE_MAX; i++)
		n += c->e[i].sess != NULL;
	return n;
}

/* BoringSSL's new-session callback: 1 takes the reference. */
static int
tlscache_new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	tlscache_slot_t *slot;

	if (tlscache_index < 0 ||
	    (slot = SSL_get_ex_data(ssl, tlscache_index)) == NULL ||
	    slot->cache == NULL)
		return 0;
	tlscache_put(slot->cache, slot->key, sess, time(NULL),
	    slot->timeout_s);
	return 1;
}

int
tlscache_ctx_init(SSL_CTX *ctx)
{
	if (pthread_once(&tlscache_once, tlscache_index_init) != 0 ||
	    tlscache_index < 0)
		return -1;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(ctx, tlscache_new_session_cb);
	return 0;
}

int
tlscache_attach(SSL *ssl, tlscache_slot_t *slot)
{
	if (tlscache_index < 0 || !SSL_set_ex_data(ssl, tlscache_index, slot))
		return -1;
	return 0;
}
