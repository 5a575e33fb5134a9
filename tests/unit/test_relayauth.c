/* Unit tests for proxy/relayauth.c: the auth_file parser (and that its
 * errors never quote a value), the AUTH keyword reader, the mechanism
 * choice and the SASL lines (RFC 4616 PLAIN, LOGIN, XOAUTH2). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "relayauth.h"

static int
parse(relayauth_t *a, const char *text, char *err, size_t errlen)
{
	err[0] = '\0';
	return relayauth_parse(a, (const uint8_t *)text, strlen(text), err,
	    errlen);
}

static void
test_parse(void)
{
	relayauth_t a;
	char err[256];

	CHECK_EQ_INT(parse(&a, "# creds\n username = u@x \r\n"
	    "password=se cret\n\n; end\n", err, sizeof(err)), 0);
	CHECK(strcmp(a.username, "u@x") == 0);
	CHECK(strcmp(a.password, "se cret") == 0);
	CHECK(a.token_file == NULL);
	CHECK_EQ_INT(a.usable, (1u << AUTH_MECH_PLAIN) |
	    (1u << AUTH_MECH_LOGIN));
	relayauth_cleanup(&a);
	CHECK(a.username == NULL);

	CHECK_EQ_INT(parse(&a, "username = u\ntoken_file = /run/t\n", err,
	    sizeof(err)), 0);
	CHECK_EQ_INT(a.usable, 1u << AUTH_MECH_XOAUTH2);
	relayauth_cleanup(&a);

	/* Errors name the line and never the value. */
	CHECK_EQ_INT(parse(&a, "username = u\nhunter2\n", err, sizeof(err)),
	    -1);
	CHECK(strstr(err, "line 2") != NULL && strstr(err, "hunter2") == NULL);
	CHECK_EQ_INT(parse(&a, "username = u\nhunter2 = x\n", err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "line 2") != NULL && strstr(err, "hunter2") == NULL);
	CHECK_EQ_INT(parse(&a, "username = u\npassword = hunter2\n"
	    "password = hunter3\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "twice") != NULL && strstr(err, "hunter") == NULL);
	CHECK_EQ_INT(parse(&a, "password = hunter2\n", err, sizeof(err)), -1);
	CHECK(strstr(err, "username") != NULL);
	CHECK_EQ_INT(parse(&a, "username = u\n", err, sizeof(err)), -1);
	CHECK_EQ_INT(parse(&a, "username = u\npassword = p\ntoken_file = t\n",
	    err, sizeof(err)), -1);
	CHECK_EQ_INT(parse(&a, "username = u\npassword =\n", err, sizeof(err)),
	    -1);
	/* A control octet would cut PLAIN's fields. */
	CHECK_EQ_INT(parse(&a, "username = u\npassword = a\001b\n", err,
	    sizeof(err)), -1);
}

static void
test_offered(void)
{
	static const char r1[] = "250-mx greets\r\n250-PIPELINING\r\n"
	    "250-AUTH PLAIN login XOAUTH2\r\n250 8BITMIME\r\n";
	static const char r2[] = "250-mx\r\n250-AUTH=LOGIN\r\n250 SIZE 1\r\n";
	static const char r3[] = "250-mx\r\n250-AUTHX PLAIN\r\n"
	    "250-X-AUTH PLAIN\r\n250 AUTH CRAM-MD5 PLAINX\r\n";

	CHECK_EQ_INT(relayauth_offered((const uint8_t *)r1, strlen(r1)), 7);
	CHECK_EQ_INT(relayauth_offered((const uint8_t *)r2, strlen(r2)),
	    1u << AUTH_MECH_LOGIN);
	CHECK_EQ_INT(relayauth_offered((const uint8_t *)r3, strlen(r3)), 0);
}

static void
test_choose(void)
{
	relayauth_t pw = { .usable = 3 }, tok = { .usable = 4 };
	auth_mech_t login_first[] = { AUTH_MECH_LOGIN, AUTH_MECH_PLAIN };

	/* Default: plain, then login; xoauth2 with a token. */
	CHECK_EQ_INT(relayauth_choose(&pw, NULL, 0, 7), AUTH_MECH_PLAIN);
	CHECK_EQ_INT(relayauth_choose(&pw, NULL, 0, 2), AUTH_MECH_LOGIN);
	CHECK_EQ_INT(relayauth_choose(&pw, NULL, 0, 4), -1);
	CHECK_EQ_INT(relayauth_choose(&tok, NULL, 0, 7), AUTH_MECH_XOAUTH2);
	CHECK_EQ_INT(relayauth_choose(&tok, NULL, 0, 3), -1);
	CHECK_EQ_INT(relayauth_choose(&pw, login_first, 2, 7), AUTH_MECH_LOGIN);
	CHECK_EQ_INT(relayauth_choose(&pw, login_first, 1, 1), -1);
}

#define N(n) ((size_t)((n) < 0 ? 0 : (n)))
#define XO "AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJl" \
    "ciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ" \
    "==\r\n"

static void
test_lines(void)
{
	relayauth_t a = { .username = (char *)"tim", .password =
	    (char *)"tanstaaftanstaaf" };
	relayauth_t t = { .username = (char *)"someuser@example.com",
	    .token = (char *)"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg" };
	char out[512];
	int n;

	/* RFC 4616 4's example, without authzid. */
	n = relayauth_line(&a, AUTH_MECH_PLAIN, 0, out, sizeof(out));
	CHECK_MEM(out, N(n), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n", 41);
	CHECK_EQ_INT(relayauth_line(&a, AUTH_MECH_PLAIN, 1, out, sizeof(out)),
	    -1);
	n = relayauth_line(&a, AUTH_MECH_LOGIN, 0, out, sizeof(out));
	CHECK_MEM(out, N(n), "AUTH LOGIN\r\n", 12);
	n = relayauth_line(&a, AUTH_MECH_LOGIN, 1, out, sizeof(out));
	CHECK_MEM(out, N(n), "dGlt\r\n", 6);
	n = relayauth_line(&a, AUTH_MECH_LOGIN, 2, out, sizeof(out));
	CHECK_MEM(out, N(n), "dGFuc3RhYWZ0YW5zdGFhZg==\r\n", 26);
	/* Google's documented XOAUTH2 example. */
	n = relayauth_line(&t, AUTH_MECH_XOAUTH2, 0, out, sizeof(out));
	CHECK_MEM(out, N(n), XO, strlen(XO));
	CHECK_EQ_INT(relayauth_line(&a, AUTH_MECH_XOAUTH2, 0, out,
	    sizeof(out)), -1);
	CHECK_EQ_INT(relayauth_line(&t, AUTH_MECH_PLAIN, 0, out, sizeof(out)),
	    -1);
	/* Too small: nothing half-written is returned. */
	CHECK_EQ_INT(relayauth_line(&a, AUTH_MECH_PLAIN, 0, out, 20), -1);
}

int
main(void)
{
	RUN(test_parse);
	RUN(test_offered);
	RUN(test_choose);
	RUN(test_lines);
	return CHECK_DONE();
}
