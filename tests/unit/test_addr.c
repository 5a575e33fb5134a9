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

int
main(void)
{
	RUN(test_format);
	return CHECK_DONE();
}
