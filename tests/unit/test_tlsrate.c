/* Unit tests for proxy/tlsrate.c: windows, limits, the bound, and a random
 * run against a reference model (which checks the sweep's deletions). */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "tlsrate.h"

static void
key_n(unsigned n, ipcount_key_t *k)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(0x0a000000u + n);
	ipcount_key((struct sockaddr *)&a, k);
}

static void
test_window(void)
{
	tlsrate_t t;
	ipcount_key_t a, b;
	uint64_t t0 = 5000000;

	key_n(1, &a);
	key_n(2, &b);
	tlsrate_init(&t, 64);
	/* Limit 0: nothing counted, nothing allocated. */
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(tlsrate_take(&t, &a, 0, t0), 0);
	CHECK(t.slots == NULL);
	CHECK_EQ_INT(tlsrate_over(&t, &a, 0, t0), 0);

	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(tlsrate_over(&t, &a, 3, t0 + (uint64_t)i), 0);
		CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + (uint64_t)i), 0);
	}
	CHECK_EQ_INT(tlsrate_over(&t, &a, 3, t0 + 10), 1);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + 10), -1);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + 59999), -1);
	CHECK_EQ_INT(tlsrate_over(&t, &a, 3, t0 + 59999), 1);
	/* Another address has its own count; a higher limit lets more in. */
	CHECK_EQ_INT(tlsrate_take(&t, &b, 3, t0 + 10), 0);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 4, t0 + 10), 0);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 4, t0 + 10), -1);
	/* The window ends 60 s after it opened. */
	CHECK_EQ_INT(tlsrate_over(&t, &a, 3, t0 + 60000), 0);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + 60000), 0);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + 60001), 0);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + 60002), 0);
	CHECK_EQ_INT(tlsrate_take(&t, &a, 3, t0 + 60003), -1);
	CHECK_EQ_INT(t.used, 2);
	CHECK_EQ_INT(t.untracked, 0);
	tlsrate_cleanup(&t);
}

static void
test_full(void)
{
	tlsrate_t t;
	ipcount_key_t k;
	uint64_t t0 = 1000;

	/* 8 slots hold 6 addresses. */
	tlsrate_init(&t, 8);
	for (unsigned n = 0; n < 6; n++) {
		key_n(n, &k);
		CHECK_EQ_INT(tlsrate_take(&t, &k, 1, t0), 0);
		CHECK_EQ_INT(tlsrate_take(&t, &k, 1, t0), -1);
	}
	CHECK_EQ_INT(t.used, 6);
	/* The seventh is admitted, uncounted, every time. */
	key_n(6, &k);
	for (int i = 0; i < 5; i++)
		CHECK_EQ_INT(tlsrate_take(&t, &k, 1, t0 + 30000), 0);
	CHECK_EQ_INT(t.untracked, 5);
	CHECK_EQ_INT(t.used, 6);
	/* Those in the table stay limited. */
	key_n(3, &k);
	CHECK_EQ_INT(tlsrate_take(&t, &k, 1, t0 + 30000), -1);
	/* Once their windows ended, the sweep makes room. */
	key_n(6, &k);
	CHECK_EQ_INT(tlsrate_take(&t, &k, 1, t0 + 60000), 0);
	CHECK_EQ_INT(t.used, 1);
	CHECK_EQ_INT(tlsrate_take(&t, &k, 1, t0 + 60000), -1);
	tlsrate_cleanup(&t);
}

/* The reference: one record per address, the same rules, no hashing. */
typedef struct {
	int in;          /* in the table */
	uint32_t count;
	uint64_t start;
} model_t;

static void
test_model(void)
{
	enum { ADDRS = 40, CAP = 32, HOLD = CAP * 3 / 4, LIMIT = 3 };
	static model_t m[ADDRS];
	tlsrate_t t;
	ipcount_key_t k;
	unsigned seed = 4242;
	uint64_t now = 100000, swept = now;
	size_t used = 0, untracked = 0;
	int first = 1;

	tlsrate_init(&t, CAP);
	for (int step = 0; step < 200000; step++) {
		unsigned n;
		int want;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % ADDRS;
		now += (seed >> 20) % 400;
		if (first) {
			swept = now;
			first = 0;
		}
		key_n(n, &k);
		CHECK_EQ_INT(tlsrate_over(&t, &k, LIMIT, now),
		    m[n].in && now - m[n].start < 60000 && m[n].count >= LIMIT);
		if (m[n].in) {
			if (now - m[n].start >= 60000) {
				m[n].count = 0;
				m[n].start = now;
			}
			want = m[n].count >= LIMIT ? -1 : 0;
			if (want == 0)
				m[n].count++;
		} else {
			want = 0;
			if (used + 1 > HOLD && now - swept >= 1000) {
				swept = now;
				for (unsigned i = 0; i < ADDRS; i++)
					if (m[i].in && now - m[i].start >= 60000) {
						m[i].in = 0;
						used--;
					}
			}
			if (used + 1 > HOLD)
				untracked++;
			else {
				m[n].in = 1;
				m[n].count = 1;
				m[n].start = now;
				used++;
			}
		}
		if (tlsrate_take(&t, &k, LIMIT, now) != want) {
			CHECK_EQ_INT(tlsrate_take(&t, &k, LIMIT, now), want);
			break;
		}
	}
	CHECK_EQ_INT(t.used, used);
	CHECK_EQ_INT(t.untracked, untracked);
	CHECK(untracked > 0);
	tlsrate_cleanup(&t);
}

int
main(void)
{
	RUN(test_window);
	RUN(test_full);
	RUN(test_model);
	return CHECK_DONE();
}
