/* Unit tests for proxy/tlscache.c: keys, expiry, TLS 1.3 sessions taken
 * once, replacement and the LRU bound. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tlscache.h"

static SSL_SESSION *
session(SSL_CTX *ctx, uint16_t version)
{
	SSL_SESSION *s = SSL_SESSION_new(ctx);

	SSL_SESSION_set_protocol_version(s, version);
	SSL_SESSION_set_timeout(s, 7200);
	return s;
}

static void
test_take(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	tlscache_t *c = tlscache_new();
	SSL_SESSION *a = session(ctx, TLS1_2_VERSION), *b, *got;

	CHECK(tlscache_take(c, "k", 1000) == NULL);
	tlscache_put(c, "k", a, 1000, 60);
	CHECK(tlscache_take(c, "other", 1000) == NULL);
	/* TLS 1.2: reusable, so it stays. */
	got = tlscache_take(c, "k", 1059);
	CHECK(got == a);
	SSL_SESSION_free(got);
	got = tlscache_take(c, "k", 1059);
	CHECK(got == a);
	SSL_SESSION_free(got);
	/* Expired at put time + timeout. */
	CHECK(tlscache_take(c, "k", 1060) == NULL);
	CHECK_EQ_INT(tlscache_count(c), 0);

	/* TLS 1.3: a ticket is used once. */
	b = session(ctx, TLS1_3_VERSION);
	CHECK(SSL_SESSION_should_be_single_use(b));
	tlscache_put(c, "k", b, 1000, 3600);
	got = tlscache_take(c, "k", 1001);
	CHECK(got == b);
	SSL_SESSION_free(got);
	CHECK(tlscache_take(c, "k", 1001) == NULL);

	/* The session's own lifetime bounds the timeout. */
	a = session(ctx, TLS1_2_VERSION);
	SSL_SESSION_set_timeout(a, 10);
	tlscache_put(c, "k", a, 1000, 3600);
	CHECK(tlscache_take(c, "k", 1010) == NULL);

	/* A newer session replaces the older under the same key. */
	a = session(ctx, TLS1_2_VERSION);
	b = session(ctx, TLS1_2_VERSION);
	tlscache_put(c, "k", a, 1000, 60);
	tlscache_put(c, "k", b, 1000, 60);
	CHECK_EQ_INT(tlscache_count(c), 1);
	got = tlscache_take(c, "k", 1001);
	CHECK(got == b);
	SSL_SESSION_free(got);
	tlscache_free(c);
	tlscache_free(NULL);
	SSL_CTX_free(ctx);
}

/* TLS 1.3 tickets are single use: several wait under one key, so that
 * sessions starting together toward one relay each resume. */
static void
test_tickets_per_key(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	tlscache_t *c = tlscache_new();
	SSL_SESSION *t[TLSCACHE_PER_KEY + 2], *got, *r;
	int i;

	for (i = 0; i < 2; i++) {
		t[i] = session(ctx, TLS1_3_VERSION);
		tlscache_put(c, "k", t[i], 1000 + i, 3600);
	}
	CHECK_EQ_INT(tlscache_count(c), 2);
	/* The newest first, each once. */
	got = tlscache_take(c, "k", 1010);
	CHECK(got == t[1]);
	SSL_SESSION_free(got);
	got = tlscache_take(c, "k", 1010);
	CHECK(got == t[0]);
	SSL_SESSION_free(got);
	CHECK(tlscache_take(c, "k", 1010) == NULL);

	/* At most TLSCACHE_PER_KEY: then the key's oldest goes. */
	for (i = 0; i < TLSCACHE_PER_KEY + 2; i++) {
		t[i] = session(ctx, TLS1_3_VERSION);
		tlscache_put(c, "k", t[i], 2000 + i, 3600);
	}
	CHECK_EQ_INT(tlscache_count(c), TLSCACHE_PER_KEY);
	for (i = TLSCACHE_PER_KEY + 1; i >= 2; i--) {
		got = tlscache_take(c, "k", 3000);
		CHECK(got == t[i]);
		SSL_SESSION_free(got);
	}
	CHECK(tlscache_take(c, "k", 3000) == NULL);

	/* A reusable (TLS 1.2) session replaces the key's tickets. */
	tlscache_put(c, "k", session(ctx, TLS1_3_VERSION), 4000, 3600);
	r = session(ctx, TLS1_2_VERSION);
	tlscache_put(c, "k", r, 4001, 3600);
	CHECK_EQ_INT(tlscache_count(c), 1);
	got = tlscache_take(c, "k", 4002);
	CHECK(got == r);
	SSL_SESSION_free(got);
	tlscache_free(c);
	SSL_CTX_free(ctx);
}

static void
test_bound(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	tlscache_t *c = tlscache_new();
	char key[32];
	SSL_SESSION *got;

	for (int i = 0; i < TLSCACHE_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		tlscache_put(c, key, session(ctx, TLS1_2_VERSION), 1000, 60);
	}
	/* k0 used: k1 is now the least recently used. */
	got = tlscache_take(c, "k0", 1001);
	CHECK(got != NULL);
	SSL_SESSION_free(got);
	tlscache_put(c, "new", session(ctx, TLS1_2_VERSION), 1000, 60);
	CHECK_EQ_INT(tlscache_count(c), TLSCACHE_MAX);
	CHECK(tlscache_take(c, "k1", 1001) == NULL);
	got = tlscache_take(c, "k0", 1001);
	CHECK(got != NULL);
	SSL_SESSION_free(got);
	got = tlscache_take(c, "new", 1001);
	CHECK(got != NULL);
	SSL_SESSION_free(got);
	tlscache_free(c);
	SSL_CTX_free(ctx);
}

int
main(void)
{
	RUN(test_take);
	RUN(test_tickets_per_key);
	RUN(test_bound);
	return CHECK_DONE();
}
