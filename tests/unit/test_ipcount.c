/* Unit tests for proxy/ipcount.c against a simple reference model. */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "ipcount.h"

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
test_keys(void)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	ipcount_key_t k4, k6;

	memset(&a4, 0, sizeof(a4));
	memset(&a6, 0, sizeof(a6));
	a4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
	a6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &a6.sin6_addr);
	CHECK_EQ_INT(ipcount_key((struct sockaddr *)&a4, &k4), 0);
	CHECK_EQ_INT(ipcount_key((struct sockaddr *)&a6, &k6), 0);
	/* The same client over v4 and v4-mapped v6 is one client. */
	CHECK(memcmp(&k4, &k6, sizeof(k4)) == 0);
	a6.sin6_family = AF_UNIX;
	CHECK_EQ_INT(ipcount_key((struct sockaddr *)&a6, &k6), -1);
}

static void
test_model(void)
{
	enum { N = 3000, ADDRS = 700 };
	static uint32_t model[ADDRS];
	ipcount_t t;
	ipcount_key_t k;
	unsigned seed = 12345;
	size_t live = 0;

	ipcount_init(&t);
	for (int step = 0; step < 200000; step++) {
		unsigned n;
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % ADDRS;
		key_n(n, &k);
		if (((seed >> 20) & 3) != 0 && live < N) {
			CHECK_EQ_INT(ipcount_add(&t, &k), ++model[n]);
			live++;
		} else if (model[n] > 0) {
			ipcount_del(&t, &k);
			model[n]--;
			live--;
		}
	}
	for (unsigned n = 0; n < ADDRS; n++) {
		key_n(n, &k);
		if (ipcount_get(&t, &k) != model[n]) {
			CHECK_EQ_INT(ipcount_get(&t, &k), model[n]);
			break;
		}
	}
	/* Everything out again: the table holds nothing. */
	for (unsigned n = 0; n < ADDRS; n++) {
		key_n(n, &k);
		while (model[n] > 0) {
			ipcount_del(&t, &k);
			model[n]--;
		}
	}
	CHECK_EQ_INT(t.used, 0);
	for (size_t i = 0; i < t.cap; i++)
		if (t.slots[i].count != 0) {
			CHECK(t.slots[i].count == 0);
			break;
		}
	ipcount_cleanup(&t);
}

int
main(void)
{
	RUN(test_keys);
	RUN(test_model);
	return CHECK_DONE();
}
