/* Unit tests for proxy/addr.c. */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "addr.h"
#include "check.h"

static void
test_format(void)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	struct sockaddr un;
	char out[ADDR_STR_MAX], small[8];

	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	a4.sin_port = htons(25);
	inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
	CHECK(strcmp(addr_format((struct sockaddr *)&a4, out, sizeof(out)),
	    "192.0.2.7:25") == 0);
	CHECK(strcmp(addr_ip((struct sockaddr *)&a4, out, sizeof(out)),
	    "192.0.2.7") == 0);
	CHECK_EQ_INT(addr_port((struct sockaddr *)&a4), 25);

	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	a6.sin6_port = htons(65535);
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    &a6.sin6_addr);
	/* The longest form fits ADDR_STR_MAX. */
	CHECK(strcmp(addr_format((struct sockaddr *)&a6, out, sizeof(out)),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535") == 0);
	CHECK_EQ_INT(addr_port((struct sockaddr *)&a6), 65535);

	memset(&un, 0, sizeof(un));
	un.sa_family = AF_UNIX;
	CHECK(strcmp(addr_format(&un, out, sizeof(out)), "-") == 0);
	CHECK(strcmp(addr_ip(&un, out, sizeof(out)), "-") == 0);
	CHECK_EQ_INT(addr_port(&un), 0);

	/* Too small a buffer: truncated or "-", always terminated. */
	addr_format((struct sockaddr *)&a6, small, sizeof(small));
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
}

static void
sa4(struct sockaddr_in *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
}

static void
sa6(struct sockaddr_in6 *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a->sin6_addr);
}

#define SA(x) ((const struct sockaddr *)&(x))

static void
test_same(void)
{
	struct sockaddr_in a, b;
	struct sockaddr_in6 x, y;
	struct sockaddr un;

	sa4(&a, "127.0.0.1", 25);
	sa4(&b, "127.0.0.1", 25);
	CHECK_EQ_INT(addr_same(SA(a), SA(b)), 1);
	b.sin_port = htons(26);
	CHECK_EQ_INT(addr_same(SA(a), SA(b)), 0);
	sa4(&b, "127.0.0.2", 25);
	CHECK_EQ_INT(addr_same(SA(a), SA(b)), 0);
	sa4(&b, "0.0.0.0", 25);
	CHECK_EQ_INT(addr_same(SA(a), SA(b)), 0);

	/* IPv6: every byte counts, not the first 8 (a sockaddr_in's size). */
	sa6(&x, "fd00::1", 25);
	sa6(&y, "fd00::2", 25);
	CHECK_EQ_INT(addr_same(SA(x), SA(y)), 0);
	sa6(&y, "fd00::1", 25);
	CHECK_EQ_INT(addr_same(SA(x), SA(y)), 1);
	y.sin6_port = htons(24);
	CHECK_EQ_INT(addr_same(SA(x), SA(y)), 0);
	sa6(&y, "fd00::1", 25);
	y.sin6_flowinfo = htonl(7);   /* not part of the endpoint */
	CHECK_EQ_INT(addr_same(SA(x), SA(y)), 1);
	sa6(&x, "fe80::1", 25);
	sa6(&y, "fe80::1", 25);
	x.sin6_scope_id = 2;
	CHECK_EQ_INT(addr_same(SA(x), SA(y)), 0);
	sa6(&x, "::", 25);
	sa6(&y, "::1", 25);
	CHECK_EQ_INT(addr_same(SA(x), SA(y)), 0);

	/* v4 and v4-mapped v6 are one endpoint. */
	sa6(&x, "::ffff:127.0.0.1", 25);
	CHECK_EQ_INT(addr_same(SA(a), SA(x)), 1);
	CHECK_EQ_INT(addr_same(SA(x), SA(a)), 1);
	sa6(&x, "::127.0.0.1", 25);   /* v4-compatible is another address */
	CHECK_EQ_INT(addr_same(SA(a), SA(x)), 0);

	memset(&un, 0, sizeof(un));
	un.sa_family = AF_UNIX;
	CHECK_EQ_INT(addr_same(&un, &un), 0);
}

int
main(void)
{
	RUN(test_format);
	RUN(test_same);
	return CHECK_DONE();
}
