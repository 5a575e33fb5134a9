/*
 * test_smtp: the pure SMTP parsers in proxy/smtp.c, including the DATA body
 * filter's split invariance and a reference model for it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "smtp.h"

/* Length of a string literal without its NUL, so literals may hold NULs. */
#define L(s) (sizeof(s) - 1)
#define U(s) ((const uint8_t *)(s))

/* Line framing -------------------------------------------------------- */

static void
test_line_find_crlf(void)
{
	size_t ll = 99, tl = 99;
	unsigned f = 99;

	CHECK_EQ_INT(smtp_line_find(U("EHLO x\r\nQUIT\r\n"), 14, 512, &ll, &tl,
	    &f), SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 8);
	CHECK_EQ_INT(tl, 6);
	CHECK_EQ_INT(f, 0);

	CHECK_EQ_INT(smtp_line_find(U("\r\n"), 2, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 2);
	CHECK_EQ_INT(tl, 0);
	CHECK_EQ_INT(f, 0);
}

static void
test_line_find_flags(void)
{
	size_t ll, tl;
	unsigned f;

	CHECK_EQ_INT(smtp_line_find(U("a\n"), 2, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 2);
	CHECK_EQ_INT(tl, 1);
	CHECK_EQ_INT(f, SMTP_LINE_BARE_LF);

	CHECK_EQ_INT(smtp_line_find(U("\n"), 1, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 1);
	CHECK_EQ_INT(tl, 0);
	CHECK_EQ_INT(f, SMTP_LINE_BARE_LF);

	CHECK_EQ_INT(smtp_line_find(U("a\rb\r\n"), 5, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 5);
	CHECK_EQ_INT(tl, 3);
	CHECK_EQ_INT(f, SMTP_LINE_BARE_CR);

	/* "a\r\r\n": the first CR is bare, the second ends the line. */
	CHECK_EQ_INT(smtp_line_find(U("a\r\r\n"), 4, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 4);
	CHECK_EQ_INT(tl, 2);
	CHECK_EQ_INT(f, SMTP_LINE_BARE_CR);

	CHECK_EQ_INT(smtp_line_find(U("a\0b\r\n"), 5, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(tl, 3);
	CHECK_EQ_INT(f, SMTP_LINE_NUL);

	CHECK_EQ_INT(smtp_line_find(U("\0\rx\n"), 4, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 4);
	CHECK_EQ_INT(tl, 3);
	CHECK_EQ_INT(f, SMTP_LINE_BARE_LF | SMTP_LINE_BARE_CR | SMTP_LINE_NUL);

	/* A NUL or CR after the first line is not this line's business. */
	CHECK_EQ_INT(smtp_line_find(U("ab\r\n\0\r"), 6, 512, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 4);
	CHECK_EQ_INT(f, 0);
}

static void
test_line_find_bounds(void)
{
	size_t ll, tl;
	unsigned f;

	/* Empty input. */
	CHECK_EQ_INT(smtp_line_find(U(""), 0, 512, &ll, &tl, &f),
	    SMTP_LINE_PARTIAL);
	CHECK_EQ_INT(smtp_line_find(U(""), 0, 0, &ll, &tl, &f),
	    SMTP_LINE_TOO_LONG);
	/* A trailing CR with no LF yet is partial, not bare. */
	CHECK_EQ_INT(smtp_line_find(U("abc\r"), 4, 512, &ll, &tl, &f),
	    SMTP_LINE_PARTIAL);
	CHECK_EQ_INT(smtp_line_find(U("abc"), 3, 4, &ll, &tl, &f),
	    SMTP_LINE_PARTIAL);
	/* A line of exactly max bytes including CRLF fits. */
	CHECK_EQ_INT(smtp_line_find(U("abc\r\n"), 5, 5, &ll, &tl, &f),
	    SMTP_LINE_OK);
	CHECK_EQ_INT(ll, 5);
	CHECK_EQ_INT(tl, 3);
	CHECK_EQ_INT(f, 0);
	/* One byte more does not. */
	CHECK_EQ_INT(smtp_line_find(U("abc\r\n"), 5, 4, &ll, &tl, &f),
	    SMTP_LINE_TOO_LONG);
	/* max bytes without LF, more to come or not. */
	CHECK_EQ_INT(smtp_line_find(U("abcd"), 4, 4, &ll, &tl, &f),
	    SMTP_LINE_TOO_LONG);
	CHECK_EQ_INT(smtp_line_find(U("abcdef\n"), 7, 3, &ll, &tl, &f),
	    SMTP_LINE_TOO_LONG);
	/* An LF beyond n is not seen. */
	CHECK_EQ_INT(smtp_line_find(U("abc\n"), 3, 512, &ll, &tl, &f),
	    SMTP_LINE_PARTIAL);
}

static void
test_line_find_max_size(void)
{
	static uint8_t buf[SMTP_CMD_LINE_MAX + 1];
	size_t ll, tl;
	unsigned f;

	memset(buf, 'x', sizeof(buf));
	buf[SMTP_CMD_LINE_MAX - 2] = '\r';
	buf[SMTP_CMD_LINE_MAX - 1] = '\n';
	CHECK_EQ_INT(smtp_line_find(buf, sizeof(buf), SMTP_CMD_LINE_MAX, &ll,
	    &tl, &f), SMTP_LINE_OK);
	CHECK_EQ_INT(ll, SMTP_CMD_LINE_MAX);
	CHECK_EQ_INT(tl, SMTP_CMD_LINE_MAX - 2);
	buf[SMTP_CMD_LINE_MAX - 1] = 'x';
	buf[SMTP_CMD_LINE_MAX] = '\n';
	CHECK_EQ_INT(smtp_line_find(buf, sizeof(buf), SMTP_CMD_LINE_MAX, &ll,
	    &tl, &f), SMTP_LINE_TOO_LONG);
	CHECK_EQ_INT(smtp_line_find(buf, SMTP_CMD_LINE_MAX - 1,
	    SMTP_CMD_LINE_MAX, &ll, &tl, &f), SMTP_LINE_PARTIAL);
}

/* Replies --------------------------------------------------------------- */

static void
test_reply_line_parse(void)
{
	static const struct {
		const char *s;
		int rc, code, last;
	} t[] = {
		{ "250 ok", 0, 250, 1 },
		{ "250-ok", 0, 250, 0 },
		{ "250", 0, 250, 1 },
		{ "250 ", 0, 250, 1 },
		{ "250-", 0, 250, 0 },
		{ "200 x", 0, 200, 1 },
		{ "554 x", 0, 554, 1 },
		{ "599 x", -1, 0, 0 },
		{ "550 5.7.1 no", 0, 550, 1 },
		{ "354 go ahead", 0, 354, 1 },
		{ "", -1, 0, 0 },
		{ "25", -1, 0, 0 },
		{ "199 x", -1, 0, 0 },
		{ "600 x", -1, 0, 0 },
		{ "260 x", -1, 0, 0 },
		{ "2a0 x", -1, 0, 0 },
		{ "25x x", -1, 0, 0 },
		{ "250x", -1, 0, 0 },
		{ "250\tok", -1, 0, 0 },
		{ " 250 ok", -1, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smtp_reply_line_t r = { -7, -7 };
		int rc = smtp_reply_line_parse(U(t[i].s), strlen(t[i].s), &r);

		CHECK_EQ_INT(rc, t[i].rc);
		if (rc == 0 && t[i].rc == 0) {
			CHECK_EQ_INT(r.code, t[i].code);
			CHECK_EQ_INT(r.last, t[i].last);
		}
		if (rc != t[i].rc)
			fprintf(stderr, "  reply line [%s]\n", t[i].s);
	}
	/* The length is respected: "250-x" cut to 3 bytes is a last line. */
	{
		smtp_reply_line_t r;

		CHECK_EQ_INT(smtp_reply_line_parse(U("250-x"), 3, &r), 0);
		CHECK_EQ_INT(r.last, 1);
		CHECK_EQ_INT(smtp_reply_line_parse(U("250-x"), 2, &r), -1);
	}
}

/* Commands -------------------------------------------------------------- */

static void
test_cmd_parse(void)
{
	static const struct {
		const char *s;
		size_t len;
		int rc;
		smtp_cmd_t cmd;
		size_t off, alen;
	} t[] = {
		{ "EHLO example.org", 16, 0, SMTP_CMD_EHLO, 5, 11 },
		{ "ehlo example.org  ", 18, 0, SMTP_CMD_EHLO, 5, 11 },
		{ "HeLo x", 6, 0, SMTP_CMD_HELO, 5, 1 },
		{ "STARTTLS", 8, 0, SMTP_CMD_STARTTLS, 8, 0 },
		{ "starttls", 8, 0, SMTP_CMD_STARTTLS, 8, 0 },
		{ "StArTtLs  ", 10, 0, SMTP_CMD_STARTTLS, 10, 0 },
		{ "STARTTLSX", 9, 0, SMTP_CMD_UNKNOWN, 9, 0 },
		{ "STARTTL", 7, 0, SMTP_CMD_UNKNOWN, 7, 0 },
		{ "MAIL FROM:<a@b> SIZE=1", 22, 0, SMTP_CMD_MAIL, 5, 17 },
		{ "MAIL  FROM:<a@b>", 16, 0, SMTP_CMD_MAIL, 6, 10 },
		{ "MAIL FROM:<j\xc3\xb6rg@b>", 18, 0, SMTP_CMD_MAIL, 5, 13 },
		{ "RCPT TO:<a@b>", 13, 0, SMTP_CMD_RCPT, 5, 8 },
		{ "DATA", 4, 0, SMTP_CMD_DATA, 4, 0 },
		{ "BDAT 100 LAST", 13, 0, SMTP_CMD_BDAT, 5, 8 },
		{ "AUTH PLAIN dGVzdA==", 19, 0, SMTP_CMD_AUTH, 5, 14 },
		{ "RSET", 4, 0, SMTP_CMD_RSET, 4, 0 },
		{ "NOOP   ", 7, 0, SMTP_CMD_NOOP, 7, 0 },
		{ "QUIT", 4, 0, SMTP_CMD_QUIT, 4, 0 },
		{ "VRFY x", 6, 0, SMTP_CMD_VRFY, 5, 1 },
		{ "EXPN x", 6, 0, SMTP_CMD_EXPN, 5, 1 },
		{ "HELP", 4, 0, SMTP_CMD_HELP, 4, 0 },
		{ "ETRN example.org", 16, 0, SMTP_CMD_ETRN, 5, 11 },
		{ "XCLIENT ADDR=192.0.2.1", 22, 0, SMTP_CMD_XCLIENT, 8, 14 },
		{ "xclient", 7, 0, SMTP_CMD_XCLIENT, 7, 0 },
		{ "XFORWARD NAME=x", 15, 0, SMTP_CMD_XFORWARD, 9, 6 },
		{ "atrn example.org", 16, 0, SMTP_CMD_EXT, 5, 11 },
		{ "X-LINK2STATE", 12, 0, SMTP_CMD_EXT, 12, 0 },
		{ "FOO bar", 7, 0, SMTP_CMD_UNKNOWN, 4, 3 },
		{ "XCLIENTS", 8, 0, SMTP_CMD_UNKNOWN, 8, 0 },
		{ "X-ANONYMOUSTLS", 14, 0, SMTP_CMD_UNKNOWN, 14, 0 },
		{ "MAILFROM:<a@b>", 14, -1, 0, 0, 0 },
		{ "DATA\t", 5, -1, 0, 0, 0 },
		{ "DA\tTA", 5, -1, 0, 0, 0 },
		{ "DATA\0", 5, -1, 0, 0, 0 },
		{ "MAIL\tFROM:<a@b>", 15, -1, 0, 0, 0 },
		{ " MAIL FROM:<a@b>", 16, -1, 0, 0, 0 },
		{ "\tMAIL FROM:<a@b>", 16, -1, 0, 0, 0 },
		{ "MAIL\vFROM:<a@b>", 15, -1, 0, 0, 0 },
		{ "MAIL\fFROM:<a@b>", 15, -1, 0, 0, 0 },
		{ "MAIL FROM:<a@b>\tSIZE=1", 22, -1, 0, 0, 0 },
		{ "MAIL FROM:<a@b> \t", 17, -1, 0, 0, 0 },
		{ "MAIL FROM:<a\x7f@b>", 16, -1, 0, 0, 0 },
		{ "RCPT TO:<a\r@b>", 14, -1, 0, 0, 0 },
		{ "", 0, -1, 0, 0, 0 },
		{ " ", 1, -1, 0, 0, 0 },
		{ "1MAIL", 5, -1, 0, 0, 0 },
		{ "-MAIL", 5, -1, 0, 0, 0 },
		{ "MA_IL", 5, -1, 0, 0, 0 },
		{ "M\xc3\xa4IL", 5, -1, 0, 0, 0 },
		{ "VERYLONGVERBNAMEOFMORETHAN32OCTETS x", 36, -1, 0, 0, 0 },
		/* UTF-8: overlong, lone continuation, truncated, surrogate,
		 * past U+10FFFF, 0xff. */
		{ "MAIL FROM:<\xc0\xaf@b>", 16, -1, 0, 0, 0 },
		{ "MAIL FROM:<\xe0\x80\xaf@b>", 17, -1, 0, 0, 0 },
		{ "MAIL FROM:<\xf0\x80\x80\xaf@b>", 18, -1, 0, 0, 0 },
		{ "MAIL FROM:<\x80@b>", 15, -1, 0, 0, 0 },
		{ "MAIL FROM:<a@\xc3", 14, -1, 0, 0, 0 },
		{ "MAIL FROM:<\xed\xa0\x80@b>", 17, -1, 0, 0, 0 },
		{ "MAIL FROM:<\xf4\x90\x80\x80@b>", 18, -1, 0, 0, 0 },
		{ "MAIL FROM:<\xff@b>", 15, -1, 0, 0, 0 },
		{ "MAIL FROM:<\xf0\x9f\x98\x80@b>", 18, 0, SMTP_CMD_MAIL, 5,
		    13 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		smtp_cmd_info_t ci = { (smtp_cmd_t)99, 99, 99, 99 };
		int rc = smtp_cmd_parse(U(t[i].s), t[i].len, &ci);

		CHECK_EQ_INT(rc, t[i].rc);
		if (rc == 0 && t[i].rc == 0) {
			CHECK_EQ_INT(ci.cmd, t[i].cmd);
			CHECK_EQ_INT(ci.arg_off, t[i].off);
			CHECK_EQ_INT(ci.arg_len, t[i].alen);
		}
		if (rc != t[i].rc || (rc == 0 && (ci.cmd != t[i].cmd ||
		    ci.arg_off != t[i].off || ci.arg_len != t[i].alen)))
			fprintf(stderr, "  command [%.*s]\n", (int)t[i].len,
			    t[i].s);
	}
	/* The length is respected: "QUITX" cut to 4 bytes is QUIT. */
	{
		smtp_cmd_info_t ci;

		CHECK_EQ_INT(smtp_cmd_parse(U("QUITX"), 4, &ci), 0);
		CHECK_EQ_INT(ci.cmd, SMTP_CMD_QUIT);
		CHECK_EQ_INT(smtp_cmd_parse(U("QUITX"), 3, &ci), 0);
		CHECK_EQ_INT(ci.cmd, SMTP_CMD_UNKNOWN);
		/* A UTF-8 sequence cut by the length is malformed. */
		CHECK_EQ_INT(smtp_cmd_parse(U("VRFY \xc3\xa4"), 6, &ci), -1);
	}
}

/* The canonical form: upper-case verb, one SP, arguments, CRLF. */
static void
canon_check(const char *in, const char *want, int line)
{
	smtp_cmd_info_t ci;
	uint8_t out[128];
	size_t n = 0, inlen = strlen(in);

	CHECK_EQ_INT(smtp_cmd_parse(U(in), inlen, &ci), 0);
	n = smtp_cmd_canon(U(in), &ci, out, inlen + 2);
	CHECK_MEM(out, n, want, strlen(want));
	/* One octet less than it needs: nothing. */
	CHECK_EQ_INT(smtp_cmd_canon(U(in), &ci, out, strlen(want) - 1), 0);
	if (n != strlen(want) || memcmp(out, want, n) != 0)
		fprintf(stderr, "  from canon_check at line %d\n", line);
}

static void
test_cmd_canon(void)
{
	canon_check("mail from:<a@b>", "MAIL from:<a@b>\r\n", __LINE__);
	canon_check("MAIL   FROM:<a@b>  ", "MAIL FROM:<a@b>\r\n", __LINE__);
	canon_check("quit", "QUIT\r\n", __LINE__);
	canon_check("noop   ", "NOOP\r\n", __LINE__);
	canon_check("aTrn x.org", "ATRN x.org\r\n", __LINE__);
	canon_check("rcpt TO:<\xc3\xa4@b> NOTIFY=NEVER",
	    "RCPT TO:<\xc3\xa4@b> NOTIFY=NEVER\r\n", __LINE__);
}

static void
test_cmd_name(void)
{
	static const char *const want[SMTP_CMD_COUNT] = {
		"?", "EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA",
		"BDAT", "AUTH", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP",
		"ETRN", "XCLIENT", "XFORWARD", "EXT",
	};
	int i;

	for (i = 0; i < SMTP_CMD_COUNT; i++) {
		const char *n = smtp_cmd_name((smtp_cmd_t)i);

		CHECK(want[i] != NULL);
		CHECK(n != NULL && strcmp(n, want[i]) == 0);
		/* Every name parses back to its command. */
		if (i != SMTP_CMD_UNKNOWN && i != SMTP_CMD_EXT) {
			smtp_cmd_info_t ci;

			CHECK_EQ_INT(smtp_cmd_parse(U(n), strlen(n), &ci), 0);
			CHECK_EQ_INT(ci.cmd, i);
		}
	}
	CHECK(strcmp(smtp_cmd_name(SMTP_CMD_COUNT), "?") == 0);
	CHECK(strcmp(smtp_cmd_name((smtp_cmd_t)1000), "?") == 0);
}

/* MAIL FROM SIZE -------------------------------------------------------- */

static void
test_mail_size(void)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t size;
	} t[] = {
		{ "FROM:<a@b.example> SIZE=1000", 1, 1000 },
		{ "FROM:<a@b.example>", 0, 0 },
		{ "FROM:<>", 0, 0 },
		{ "FROM:<> SIZE=0", 1, 0 },
		{ "FROM:<a@b> size=5", 1, 5 },
		{ "FROM:<a@b> BODY=8BITMIME SIZE=42 SMTPUTF8", 1, 42 },
		{ "FROM:<a@b>  SIZE=7  ", 1, 7 },
		{ "FROM:<a@b> SIZE=007", 1, 7 },
		{ "from: <a@b> SIZE=9", 1, 9 },
		{ "FROM:a@b SIZE=9", 1, 9 },
		{ "FROM:<a@b> SIZE=18446744073709551615", 1, UINT64_MAX },
		{ "FROM:<a@b> SIZE=18446744073709551616", -1, 0 },
		{ "FROM:<a@b> SIZE=99999999999999999999", -1, 0 },
		{ "FROM:<a@b> SIZE=", -1, 0 },
		{ "FROM:<a@b> SIZE", -1, 0 },
		{ "FROM:<a@b> SIZE=12a", -1, 0 },
		{ "FROM:<a@b> SIZE=-1", -1, 0 },
		{ "FROM:<a@b> SIZE=+1", -1, 0 },
		{ "FROM:<a@b> SIZE= 1", -1, 0 },
		{ "FROM:<a@b> SIZE=1 SIZE=2", -1, 0 },
		{ "FROM:<a@b> SIZEX=5", 0, 0 },
		{ "FROM:<a@b> XSIZE=5", 0, 0 },
		{ "FROM:<a@b> BODY=SIZE=5", 0, 0 },
		/* A quoted local part cannot fake a parameter. */
		{ "FROM:<\"x SIZE=5 \"@b>", 0, 0 },
		{ "FROM:<\"x> SIZE=5 \"@b> SIZE=6", 1, 6 },
		/* Unterminated path. */
		{ "FROM:<a@b SIZE=5", -1, 0 },
		{ "FROM:<\"a@b> SIZE=5", -1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t sz = 12345;
		int rc = smtp_mail_size(U(t[i].s), strlen(t[i].s), &sz);

		CHECK_EQ_INT(rc, t[i].rc);
		if (t[i].rc == 1)
			CHECK(sz == t[i].size);
		else
			CHECK(sz == 12345);
		if (rc != t[i].rc)
			fprintf(stderr, "  mail args [%s]\n", t[i].s);
	}
	/* The length is respected. */
	{
		uint64_t sz = 0;

		CHECK_EQ_INT(smtp_mail_size(U("FROM:<a@b> SIZE=1234"), 18,
		    &sz), 1);
		CHECK(sz == 12);
	}
}

/* Address domains -------------------------------------------------------- */

static void
test_addr_domain(void)
{
	static const struct {
		const char *s;
		const char *dom; /* NULL: -1 expected */
	} t[] = {
		{ "TO:<user@Example.ORG.> NOTIFY=NEVER", "Example.ORG" },
		{ "TO:<user@example.org>", "example.org" },
		{ "FROM:<a@b.example> SIZE=10", "b.example" },
		{ "to:<U@[192.0.2.1]>", "[192.0.2.1]" },
		{ "TO:<u@[IPv6:2001:db8::1]>", "[IPv6:2001:db8::1]" },
		{ "TO:<\"a>b@evil\"@good.example>", "good.example" },
		{ "TO:<\"a@evil\"@good.example>", "good.example" },
		{ "TO:<\"a\\\"@evil\"@good.example>", "good.example" },
		{ "TO:<\"a b\"@good.example>", "good.example" },
		{ "TO:<@relay.example:user@dest.example>", "dest.example" },
		{ "TO:<@r1.example,@r2.example:user@dest.example>",
		    "dest.example" },
		{ "TO:<a@b@c.example>", "c.example" },
		{ "TO:<a@good.example>@evil.example", "good.example" },
		{ "TO: user@x.example", "x.example" },
		{ "TO:user@x.example NOTIFY=NEVER", "x.example" },
		{ "user@x.example", "x.example" },
		{ "<user@x.example>", "x.example" },
		{ "TO:<user@b\xc3\xa9.example>", "b\xc3\xa9.example" },
		{ "TO:<user@my_host.example>", "my_host.example" },
		{ "FROM:<>", NULL },
		{ "FROM:<> SIZE=10", NULL },
		{ "TO:<postmaster>", NULL },
		{ "TO:<Postmaster> NOTIFY=NEVER", NULL },
		{ "TO:<\"x@evil.example\">", NULL },
		{ "TO:<user@>", NULL },
		{ "TO:<user@.>", NULL },
		{ "TO:<user@x.example", NULL },
		{ "TO:<\"user@x.example>", NULL },
		{ "TO:<\"a\\\">", NULL },
		{ "TO:<user@a b>", NULL },
		{ "TO:<@relay.example:postmaster>", NULL },
		{ "TO:<user@x[1]>", NULL },
		{ "TO:<user@[1.2.3.4>", NULL },
		{ "TO:<user@[1 2]>", NULL },
		{ "TO:<user@x.example:25>", NULL },
		{ "TO:<user@a\"b>", NULL },
		{ "TO:<user@a\rb>", NULL },
		{ "TO:<user@a\x01" "b>", NULL },
		{ "TO:", NULL },
		{ "", NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const uint8_t *args = U(t[i].s);
		const uint8_t *dom = NULL;
		size_t dl = 0;
		int rc = smtp_addr_domain(args, strlen(t[i].s), &dom, &dl);

		if (t[i].dom == NULL) {
			CHECK_EQ_INT(rc, -1);
		} else {
			CHECK_EQ_INT(rc, 0);
			if (rc == 0) {
				CHECK_MEM(dom, dl, t[i].dom, strlen(t[i].dom));
				/* A slice of args. */
				CHECK(dom > args &&
				    dom + dl <= args + strlen(t[i].s));
			}
		}
		if (rc != (t[i].dom == NULL ? -1 : 0))
			fprintf(stderr, "  addr args [%s]\n", t[i].s);
	}
	/* The length is respected: the '>' beyond len does not count. */
	{
		const char *s = "TO:<a@b.example>";
		const uint8_t *dom;
		size_t dl;

		CHECK_EQ_INT(smtp_addr_domain(U(s), strlen(s) - 1, &dom, &dl),
		    -1);
		CHECK_EQ_INT(smtp_addr_domain(U("TO:a@b.example"), 9, &dom,
		    &dl), 0);
		CHECK_MEM(dom, dl, "b.ex", 4);
	}
}

/* EHLO capabilities --------------------------------------------------- */

#define EHLO_FULL                                                          \
	"250-mx.example.org Hello\r\n"                                     \
	"250-PIPELINING\r\n"                                               \
	"250-SIZE 10240000\r\n"                                            \
	"250-STARTTLS\r\n"                                                 \
	"250-AUTH PLAIN LOGIN\r\n"                                         \
	"250-AUTH=LOGIN PLAIN\r\n"                                         \
	"250-XCLIENT NAME ADDR\r\n"                                        \
	"250-8BITMIME\r\n"                                                 \
	"250-SMTPUTF8\r\n"                                                 \
	"250-CHUNKING\r\n"                                                 \
	"250 BINARYMIME\r\n"

static unsigned
caps_of(const char *s)
{
	return smtp_ehlo_caps(U(s), strlen(s));
}

static void
test_ehlo_caps(void)
{
	CHECK_EQ_INT(caps_of(EHLO_FULL), SMTP_CAP_STARTTLS |
	    SMTP_CAP_PIPELINING | SMTP_CAP_CHUNKING | SMTP_CAP_SIZE |
	    SMTP_CAP_AUTH | SMTP_CAP_XCLIENT | SMTP_CAP_8BITMIME |
	    SMTP_CAP_SMTPUTF8 | SMTP_CAP_BINARYMIME);
	CHECK_EQ_INT(caps_of("250 mx.example.org\r\n"), 0);
	/* The greeting is never a capability. */
	CHECK_EQ_INT(caps_of("250 STARTTLS\r\n"), 0);
	CHECK_EQ_INT(caps_of("250-STARTTLS\r\n250 SIZE\r\n"), SMTP_CAP_SIZE);
	/* Whole tokens only, any case. */
	CHECK_EQ_INT(caps_of("250-mx\r\n250-XSTARTTLS\r\n"
	    "250-X-STARTTLS-FOO\r\n250-STARTTLSX\r\n250 STARTTL\r\n"), 0);
	CHECK_EQ_INT(caps_of("250-mx\r\n250 starttls\r\n"), SMTP_CAP_STARTTLS);
	CHECK_EQ_INT(caps_of("250-mx\r\n250 StartTLS\r\n"), SMTP_CAP_STARTTLS);
	CHECK_EQ_INT(caps_of("250-mx\r\n250 AUTH=LOGIN PLAIN\r\n"),
	    SMTP_CAP_AUTH);
	CHECK_EQ_INT(caps_of("250-mx\r\n250 AUTHX PLAIN\r\n"), 0);
	/* Only the first token is the keyword. */
	CHECK_EQ_INT(caps_of("250-mx\r\n250 SIZE STARTTLS\r\n"),
	    SMTP_CAP_SIZE);
	CHECK_EQ_INT(caps_of("250-mx\r\n250 8BITMIME\t\r\n"),
	    SMTP_CAP_8BITMIME);
	/* Bare LF and mixed terminators. */
	CHECK_EQ_INT(caps_of("250-mx\n250-PIPELINING\n250 STARTTLS\n"),
	    SMTP_CAP_PIPELINING | SMTP_CAP_STARTTLS);
	CHECK_EQ_INT(caps_of("250-mx\r\n250-PIPELINING\n250 STARTTLS\r\n"),
	    SMTP_CAP_PIPELINING | SMTP_CAP_STARTTLS);
	/* Anything malformed or negative advertises nothing. */
	CHECK_EQ_INT(caps_of(""), 0);
	CHECK_EQ_INT(caps_of("250-mx\r\n250-STARTTLS\r\n"), 0);
	CHECK_EQ_INT(caps_of("250-mx\r\n250 STARTTLS"), 0);
	CHECK_EQ_INT(caps_of("250-mx\r\n250-STARTTLS\r\n550 no\r\n"), 0);
	CHECK_EQ_INT(caps_of("550-mx\r\n550 STARTTLS\r\n"), 0);
	CHECK_EQ_INT(caps_of("250 mx\r\n250 STARTTLS\r\n"), 0);
	CHECK_EQ_INT(caps_of("250-mx\r\n250xSTARTTLS\r\n"), 0);
	CHECK_EQ_INT(caps_of("250-mx\r\n250-a\rb\r\n250 STARTTLS\r\n"), 0);
	CHECK_EQ_INT(smtp_ehlo_caps(U("250-mx\r\n250-\0\r\n250 STARTTLS\r\n"),
	    26), 0);
}

/* Runs smtp_ehlo_rewrite on a C string and compares the exact output. */
static void
rewrite_check(const char *in, unsigned flags, const smtp_words_t *extra,
    const char *want, int line)
{
	uint8_t out[4096];
	size_t outlen = 0, inlen = strlen(in);
	int rc;

	memset(out, 0xAA, sizeof(out));
	rc = smtp_ehlo_rewrite(U(in), inlen, flags, extra, out, sizeof(out),
	    &outlen);
	if (want == NULL) {
		CHECK_EQ_INT(rc, -1);
	} else {
		CHECK_EQ_INT(rc, 0);
		if (rc == 0) {
			CHECK_MEM(out, outlen, want, strlen(want));
			/* The documented room is enough (2 * inlen + 16). */
			CHECK(outlen <= 2 * inlen + 16);
		}
	}
	if ((rc == 0) != (want != NULL) || (rc == 0 && (outlen !=
	    strlen(want) || memcmp(out, want, outlen) != 0)))
		fprintf(stderr, "  from rewrite_check at line %d\n", line);
}

#define REWRITE(in, flags, want) \
	rewrite_check((in), (flags), NULL, (want), __LINE__)

static void
test_ehlo_rewrite_add(void)
{
	REWRITE("250 mx.example.org\r\n", SMTP_EHLO_ADD_STARTTLS,
	    "250-mx.example.org\r\n250 STARTTLS\r\n");
	REWRITE("250 mx.example.org\n", SMTP_EHLO_ADD_STARTTLS,
	    "250-mx.example.org\r\n250 STARTTLS\r\n");
	REWRITE("250\r\n", SMTP_EHLO_ADD_STARTTLS, "250-\r\n250 STARTTLS\r\n");
	REWRITE("250-mx\r\n250 SIZE 100\r\n", SMTP_EHLO_ADD_STARTTLS,
	    "250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n");
	/* The server's own STARTTLS is never carried: one line, ours. */
	REWRITE("250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n",
	    SMTP_EHLO_ADD_STARTTLS,
	    "250-mx\r\n250-SIZE\r\n250 STARTTLS\r\n");
	REWRITE("250-mx\r\n250 STARTTLS\r\n", 0, "250 mx\r\n");
}

/*
 * REQUIRETLS (RFC 8689) only with SMTP_EHLO_KEEP_REQUIRETLS (outbound, over
 * an authenticated upstream): inbound flags never carry it, and an
 * operator's allow_commands cannot add it either.
 */
static void
test_ehlo_rewrite_requiretls(void)
{
	static const char in[] = "250-mx\r\n250-REQUIRETLS\r\n250 SIZE 10\r\n";
	static const char words[1][SMTP_VERB_MAX + 1] = { "REQUIRETLS" };
	smtp_words_t w = { words, 1 };

	CHECK(smtp_ehlo_caps(U(in), strlen(in)) & SMTP_CAP_REQUIRETLS);
	REWRITE(in, 0, "250-mx\r\n250 SIZE 10\r\n");
	REWRITE(in, SMTP_EHLO_ADD_STARTTLS | SMTP_EHLO_KEEP_AUTH,
	    "250-mx\r\n250-SIZE 10\r\n250 STARTTLS\r\n");
	rewrite_check(in, SMTP_EHLO_ADD_STARTTLS, &w,
	    "250-mx\r\n250-SIZE 10\r\n250 STARTTLS\r\n", __LINE__);
	REWRITE(in, SMTP_EHLO_KEEP_REQUIRETLS,
	    "250-mx\r\n250-REQUIRETLS\r\n250 SIZE 10\r\n");
	REWRITE("250-mx\r\n250 requiretls\r\n", SMTP_EHLO_KEEP_REQUIRETLS,
	    "250-mx\r\n250 REQUIRETLS\r\n");
}

static void
test_mail_requiretls(void)
{
#define RT(s) smtp_mail_requiretls(U(s), strlen(s))
	CHECK_EQ_INT(RT("FROM:<a@b.example> REQUIRETLS"), 1);
	CHECK_EQ_INT(RT("FROM:<a@b.example> SIZE=10 requiretls BODY=8BITMIME"),
	    1);
	CHECK_EQ_INT(RT("FROM:<a@b.example>"), 0);
	CHECK_EQ_INT(RT("FROM:<a@b.example> REQUIRETLSX"), 0);
	CHECK_EQ_INT(RT("FROM:<a@b.example> XREQUIRETLS"), 0);
	/* Only after the path: a quoted local part cannot fake it. */
	CHECK_EQ_INT(RT("FROM:<\" REQUIRETLS\"@b.example>"), 0);
	CHECK_EQ_INT(RT("FROM:<> REQUIRETLS"), 1);
	CHECK_EQ_INT(RT("FROM:<a@b.example> REQUIRETLS=yes"), -1);
	CHECK_EQ_INT(RT("FROM:<a@b.example REQUIRETLS"), -1);
#undef RT
}

/* Only what the proxy knows how to carry is shown, rebuilt. */
static void
test_ehlo_rewrite_allowlist(void)
{
	REWRITE(EHLO_FULL, SMTP_EHLO_ADD_STARTTLS,
	    "250-mx.example.org Hello\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n"
	    "250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n"
	    "250 STARTTLS\r\n");
	REWRITE(EHLO_FULL, SMTP_EHLO_KEEP_AUTH,
	    "250-mx.example.org Hello\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n"
	    "250-AUTH PLAIN LOGIN\r\n"
	    "250-8BITMIME\r\n"
	    "250 SMTPUTF8\r\n");
	REWRITE("250-mx\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n"
	    "250-XCLIENT NAME ADDR\r\n250-X-FOO bar\r\n250-ATRN\r\n"
	    "250-CHUNKING\r\n250-BINARYMIME\r\n250-DSN\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-ETRN\r\n250-VRFY\r\n"
	    "250-HELP\r\n250-EXPN\r\n250-DELIVERBY 300\r\n250 TURN\r\n",
	    SMTP_EHLO_KEEP_AUTH,
	    "250-mx\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-ETRN\r\n"
	    "250-VRFY\r\n250-HELP\r\n250 EXPN\r\n");
	REWRITE("250-mx\r\n250-PIPELINING\r\n250 SIZE\r\n",
	    SMTP_EHLO_DEL_PIPELINING, "250-mx\r\n250 SIZE\r\n");
	/* Keywords upper-cased, parameters only as understood, one SP. */
	REWRITE("250-mx\r\n250-size   10  \r\n250-pipelining now\r\n"
	    "250 auth\tplain  login\r\n", SMTP_EHLO_KEEP_AUTH,
	    "250-mx\r\n250-SIZE 10\r\n250-PIPELINING\r\n"
	    "250 AUTH PLAIN LOGIN\r\n");
	REWRITE("250-mx\r\n250-SIZE 1x\r\n250 SIZE 5\r\n", 0,
	    "250-mx\r\n250 SIZE\r\n");
	REWRITE("250-mx\r\n250-SIZE 123456789012345678901\r\n250 DSN\r\n", 0,
	    "250-mx\r\n250-SIZE\r\n250 DSN\r\n");
	/* AUTH: mechanism names only; none left drops the line; the
	 * legacy AUTH= form always goes. */
	REWRITE("250-mx\r\n250-AUTH PLAIN <script> X_Y-2\r\n250 DSN\r\n",
	    SMTP_EHLO_KEEP_AUTH, "250-mx\r\n250-AUTH PLAIN X_Y-2\r\n250 DSN\r\n");
	REWRITE("250-mx\r\n250-AUTH\r\n250-AUTH=LOGIN\r\n250 DSN\r\n",
	    SMTP_EHLO_KEEP_AUTH, "250-mx\r\n250 DSN\r\n");
	/* Each capability once. */
	REWRITE("250-mx\r\n250-DSN\r\n250-dsn\r\n250 SIZE 1\r\n", 0,
	    "250-mx\r\n250-DSN\r\n250 SIZE 1\r\n");
	/* The greeting's control octets become SP. */
	REWRITE("250-mx\tHello\x01\r\n250 DSN\r\n", 0,
	    "250-mx Hello \r\n250 DSN\r\n");
	/* Whole tokens only. */
	REWRITE("250-mx\r\n250-XSTARTTLS\r\n250-SIZEX\r\n250 DSN2\r\n", 0,
	    "250 mx\r\n");
	{
		static const char words[2][SMTP_VERB_MAX + 1] = { "ATRN",
			"X-FOO" };
		smtp_words_t w = { words, 2 };

		rewrite_check("250-mx\r\n250-atrn\r\n250-X-FOO a=b  c\r\n"
		    "250-X-BAR\r\n250 X-FOO \x80\r\n", 0, &w,
		    "250-mx\r\n250-ATRN\r\n250 X-FOO a=b c\r\n",
		    __LINE__);
	}
}

static void
test_ehlo_rewrite_reject(void)
{
	REWRITE("", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("554 no\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("502 5.5.1 EHLO not supported\r\n", 0, NULL);
	REWRITE("250-mx\r\n550 no\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("550-mx\r\n250 ok\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("251 mx\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250-mx\r\n250-SIZE\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250 mx\r\n250 SIZE\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250 mx\r\n250-SIZE\r\n", 0, NULL);
	REWRITE("250 mx", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250-mx\r\n250 SIZE", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250-mx\r\n250 SIZE\r", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250xmx\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("25\r\n", SMTP_EHLO_ADD_STARTTLS, NULL);
	REWRITE("250-mx\r\n250\tSIZE\r\n", 0, NULL);
	REWRITE("250-mx\r\n250-a\rb\r\n250 SIZE\r\n", 0, NULL);
	REWRITE("\r\n", 0, NULL);
	{
		static const uint8_t nul[] =
		    "250-mx\r\n250-a\0b\r\n250 SIZE\r\n";
		uint8_t out[128];
		size_t outlen;

		CHECK_EQ_INT(smtp_ehlo_rewrite(nul, sizeof(nul) - 1, 0, NULL,
		    out, sizeof(out), &outlen), -1);
	}
}

static void
test_ehlo_rewrite_outcap(void)
{
	const char *in = "250-mx\r\n250 SIZE 1\r\n";
	const char *want = "250-mx\r\n250-SIZE 1\r\n250 STARTTLS\r\n";
	size_t inlen = strlen(in), wl = strlen(want);
	uint8_t out[64];
	size_t outlen = 0;

	memset(out, 0xAA, sizeof(out));
	CHECK_EQ_INT(smtp_ehlo_rewrite(U(in), inlen, SMTP_EHLO_ADD_STARTTLS,
	    NULL, out, wl, &outlen), 0);
	CHECK_MEM(out, outlen, want, wl);
	CHECK(out[wl] == 0xAA);
	CHECK_EQ_INT(smtp_ehlo_rewrite(U(in), inlen, SMTP_EHLO_ADD_STARTTLS,
	    NULL, out, wl - 1, &outlen), -1);
	CHECK_EQ_INT(smtp_ehlo_rewrite(U(in), inlen, SMTP_EHLO_ADD_STARTTLS,
	    NULL, out, 0, &outlen), -1);
	CHECK(wl <= inlen + 16);
	CHECK_EQ_INT(smtp_ehlo_rewrite(U("250\n"), 4, SMTP_EHLO_ADD_STARTTLS,
	    NULL, out, 4 + 16, &outlen), 0);
	CHECK_MEM(out, outlen, "250-\r\n250 STARTTLS\r\n", 20);
	/* An AUTH line left without a mechanism is never written, so it
	 * needs no room: exact room is still enough (found by fuzz_ehlo). */
	in = "250-mx\r\n250 AUTH <x>\r\n";
	CHECK_EQ_INT(smtp_ehlo_rewrite(U(in), strlen(in), SMTP_EHLO_KEEP_AUTH,
	    NULL, out, 8, &outlen), 0);
	CHECK_MEM(out, outlen, "250 mx\r\n", 8);
}

/* DATA body --------------------------------------------------------------
 *
 * The filter is driven through helpers that feed an input in pieces and
 * check on every call that the output stays within SMTP_BODY_OUT_MAX (a
 * canary after the bound must survive), that octets counts consumption and
 * that nuls counts the NULs consumed.
 */

#define BODY_CANARY 0xA5
#define BODY_IN_MAX 4096

typedef struct {
	uint8_t out[2 * BODY_IN_MAX + 64];
	size_t outlen;
	size_t consumed;
	uint64_t nuls; /* the filter's count after the last call */
	int done;
	int bad; /* a per-call invariant failed */
} body_run_t;

static size_t
count_nul(const uint8_t *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += p[i] == 0;
	return k;
}

/* Feeds in[0..n) cut at cuts[0..ncuts) (ascending) into a fresh filter. */
static void
body_run(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts,
    body_run_t *r)
{
	static uint8_t tmp[SMTP_BODY_OUT_MAX(BODY_IN_MAX) + 16];
	smtp_body_t b;
	size_t k, from = 0;

	smtp_body_init(&b);
	r->outlen = 0;
	r->consumed = 0;
	r->done = 0;
	r->bad = 0;
	for (k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : n;
		size_t len = to - from, olen = 99999, c;
		int done = -1;

		memset(tmp, BODY_CANARY, sizeof(tmp));
		c = smtp_body_filter(&b, in + from, len, tmp, &olen, &done);
		if (olen > SMTP_BODY_OUT_MAX(len) ||
		    tmp[SMTP_BODY_OUT_MAX(len)] != BODY_CANARY ||
		    c > len || (done != 0 && done != 1) ||
		    (!done && c != len) || (r->done && (c != 0 || olen != 0)))
			r->bad = 1;
		if (olen <= SMTP_BODY_OUT_MAX(len) &&
		    r->outlen + olen <= sizeof(r->out)) {
			memcpy(r->out + r->outlen, tmp, olen);
			r->outlen += olen;
		}
		r->consumed += c;
		r->done = done == 1;
		if (b.octets != r->consumed ||
		    b.nuls != count_nul(in, r->consumed))
			r->bad = 1;
		r->nuls = b.nuls;
		from = to;
	}
}

static int
body_same(const body_run_t *a, const body_run_t *b)
{
	return !a->bad && !b->bad && a->outlen == b->outlen &&
	    a->consumed == b->consumed && a->done == b->done &&
	    a->nuls == b->nuls &&
	    memcmp(a->out, b->out, a->outlen) == 0;
}

/* Every way of cutting in[0..n) into two, three and n pieces agrees. */
static int
body_split_invariant(const uint8_t *in, size_t n, const body_run_t *whole)
{
	static body_run_t r;
	size_t cuts[BODY_IN_MAX];
	size_t i, j;
	int ok = 1;

	for (i = 0; i <= n; i++) {
		cuts[0] = i;
		body_run(in, n, cuts, 1, &r);
		ok &= body_same(whole, &r);
		for (j = i; j <= n && n <= 64; j++) {
			cuts[1] = j;
			body_run(in, n, cuts, 2, &r);
			ok &= body_same(whole, &r);
		}
	}
	for (i = 0; i < n; i++)
		cuts[i] = i + 1;
	body_run(in, n, cuts, n > 0 ? n - 1 : 0, &r);
	ok &= body_same(whole, &r);
	return ok;
}

/*
 * body_vector checks one input against its exact expected output, consumed
 * count and done flag, in one call and under every split.
 */
static void
body_vector(const char *in, size_t n, const char *want, size_t wantlen,
    size_t consumed, int done, int line)
{
	static body_run_t whole;
	int before = check_failures;

	body_run(U(in), n, NULL, 0, &whole);
	CHECK(!whole.bad);
	CHECK_MEM(whole.out, whole.outlen, want, wantlen);
	CHECK_EQ_INT(whole.consumed, consumed);
	CHECK_EQ_INT(whole.done, done);
	CHECK(body_split_invariant(U(in), n, &whole));
	if (check_failures != before)
		fprintf(stderr, "  from body_vector at line %d\n", line);
}

#define BODY(in, want, consumed, done) \
	body_vector((in), L(in), (want), L(want), (consumed), (done), __LINE__)

static void
test_body_end_of_data(void)
{
	BODY("a\r\n.\r\n", "a\r\n.\r\n", 6, 1);
	BODY(".\r\n", ".\r\n", 3, 1);
	BODY("\r\n.\r\n", "\r\n.\r\n", 5, 1);
	BODY("Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n",
	    "Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n", 30, 1);
	/* Pipelined commands after end-of-data are not consumed. */
	BODY("a\r\n.\r\nQUIT\r\n", "a\r\n.\r\n", 6, 1);
	BODY(".\r\nMAIL FROM:<a@b>\r\n", ".\r\n", 3, 1);
	BODY("a\r\n.\r\n.\r\n", "a\r\n.\r\n", 6, 1);
	/* A real CRLF after a bare CR still makes a real line start. */
	BODY("a\r\r\n.\r\n", "a\r\n\r\n.\r\n", 7, 1);
	BODY("a\r\n.\r\r\n.\r\n", "a\r\n..\r\n\r\n.\r\n", 10, 1);
	BODY("a\n\r\n.\r\n", "a\r\n\r\n.\r\n", 7, 1);
}

static void
test_body_identity(void)
{
	BODY("", "", 0, 0);
	BODY("a", "a", 1, 0);
	BODY("..\r\n", "..\r\n", 4, 0);
	BODY("...\r\n", "...\r\n", 5, 0);
	BODY(".a\r\n", ".a\r\n", 4, 0);
	BODY("a\r\n..\r\n", "a\r\n..\r\n", 7, 0);
	BODY("a\r\n.", "a\r\n.", 4, 0);
	BODY("a\r\n", "a\r\n", 3, 0);
	BODY("a\r", "a\r", 2, 0);
	BODY("a.\r\n.a\r\n", "a.\r\n.a\r\n", 8, 0);
	BODY("a\x01\x7f\xff\t\r\n", "a\x01\x7f\xff\t\r\n", 7, 0);
}

/* smtp_body_pass: the unchanged prefix, in place; the filter does the rest. */
static size_t
pass_of(smtp_body_t *b, const char *text)
{
	uint8_t buf[128];
	size_t n = strlen(text), k;

	memcpy(buf, text, n);
	k = smtp_body_pass(b, buf, n);
	CHECK(memcmp(buf, text, n) == 0);
	return k;
}

static void
test_body_pass(void)
{
	smtp_body_t b;
	uint8_t out[64];
	size_t olen, used;
	int done;

	smtp_body_init(&b);
	/* Stops before the CRLF that a '.' follows: end-of-data is never
	 * passed; the filter takes it from there. */
	CHECK_EQ_INT(pass_of(&b, "abc\r\ndef\r\n.\r\n"), 8);
	CHECK_EQ_INT(b.octets, 8);
	used = smtp_body_filter(&b, (const uint8_t *)"\r\n.\r\n", 5, out, &olen,
	    &done);
	CHECK(used == 5 && done && olen == 5 && memcmp(out, "\r\n.\r\n", 5) == 0);

	/* A '.' or NUL at a line start, a bare LF or CR, a NUL: not passed. */
	smtp_body_init(&b);
	CHECK_EQ_INT(pass_of(&b, ".abc\r\n"), 0);
	CHECK_EQ_INT(pass_of(&b, "\0abc"), 0);
	CHECK_EQ_INT(pass_of(&b, "ab\ncd"), 2);
	smtp_body_init(&b);
	CHECK_EQ_INT(pass_of(&b, "ab\rcd"), 2);
	smtp_body_init(&b);
	CHECK_EQ_INT(pass_of(&b, "ab\0cd"), 2);
	/* Inside the line after the '.' of a line start: the filter first. */
	smtp_body_init(&b);
	used = smtp_body_filter(&b, (const uint8_t *)".", 1, out, &olen, &done);
	CHECK(used == 1 && olen == 1);
	CHECK_EQ_INT(pass_of(&b, "abc"), 0);
	/* Lines that need nothing pass whole, across CRLFs and empty lines. */
	smtp_body_init(&b);
	CHECK_EQ_INT(pass_of(&b, "Subject: x\r\n\r\nbody\r\nmore"), 24);
	CHECK_EQ_INT(pass_of(&b, ""), 0);
}

/*
 * NUL is removed, but lines and end-of-data are decided before removal, so
 * a NUL never helps to make an end-of-data (a NUL-stripping receiver would
 * otherwise see one in CRLF NUL "." CRLF).
 */
static void
test_body_nul(void)
{
	/* NUL before the dot: stuffed, for strict and NUL-stripping readers. */
	BODY("\r\n\0.\r\n", "\r\n..\r\n", 6, 0);
	BODY("\r\n\0.foo\r\n", "\r\n..foo\r\n", 9, 0);
	BODY("\0.\r\n", "..\r\n", 4, 0);
	BODY("\0.foo\r\n", "..foo\r\n", 7, 0);
	BODY("a\r\n\0\0\0.\r\n", "a\r\n..\r\n", 9, 0);
	BODY("a\n\0.\r\n", "a\r\n..\r\n", 6, 0);
	BODY("a\r\0.\r\n", "a\r\n..\r\n", 6, 0);
	BODY("\0..\r\n", "...\r\n", 5, 0);
	/* Elsewhere NUL is just dropped. */
	BODY("a\0b", "ab", 3, 0);
	BODY("\0", "", 1, 0);
	BODY("\0\0a\0\r\n", "a\r\n", 6, 0);
	BODY("a\0b\r\n.\r\n", "ab\r\n.\r\n", 8, 1);
	BODY("\0\r\n.\r\n", "\r\n.\r\n", 6, 1);
	BODY("a\r\n\0\r\n.\r\n", "a\r\n\r\n.\r\n", 9, 1);
	BODY("a\r\n.\0a\r\n", "a\r\n.a\r\n", 8, 0);
	BODY("a\r\n.\0.\r\n", "a\r\n..\r\n", 8, 0);
	BODY("a\r\n..\0\r\n", "a\r\n..\r\n", 8, 0);
	/* NUL after the dot: the line is not "." and is stuffed. */
	BODY("a\r\n.\0\r\n", "a\r\n..\r\n", 7, 0);
	BODY(".\0\r\n", "..\r\n", 4, 0);
	BODY("a\r\n.\0\n", "a\r\n..\r\n", 6, 0);
	BODY("a\r\n.\0\0\r", "a\r\n..\r", 7, 0);
	BODY(".\0\r\n.\r\n", "..\r\n.\r\n", 7, 1);
	/*
	 * CR NUL LF is a bare CR and then a bare LF: CRLF CRLF, never a real
	 * line end, so never part of an end-of-data.
	 */
	BODY("a\r\0\n", "a\r\n\r\n", 4, 0);
	BODY("a\r\0\n.\r\n", "a\r\n\r\n..\r\n", 7, 0);
	BODY("a\r\n.\r\0\n", "a\r\n..\r\n\r\n", 7, 0);
	BODY("a\r\0\n.\r\0\n", "a\r\n\r\n..\r\n\r\n", 8, 0);
	BODY("\r\0\n.\r\n.\r\n", "\r\n\r\n..\r\n.\r\n", 9, 1);
	/* NULs after end-of-data are not consumed (pipelined input). */
	BODY("a\r\n.\r\n\0", "a\r\n.\r\n", 6, 1);
}

/* A NUL held at every stage of a split, and the counter. */
static void
test_body_nul_split(void)
{
	smtp_body_t b;
	uint8_t out[SMTP_BODY_OUT_MAX(8)];
	size_t outlen;
	int done;

	smtp_body_init(&b);
	CHECK_EQ_INT(b.nuls, 0);
	CHECK_EQ_INT(smtp_body_filter(&b, U("a\r\n."), 4, out, &outlen,
	    &done), 4);
	CHECK_MEM(out, outlen, "a\r\n.", 4);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\0"), 1, out, &outlen, &done),
	    1);
	CHECK_EQ_INT(outlen, 0);
	CHECK_EQ_INT(b.nuls, 1);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\0"), 1, out, &outlen, &done),
	    1);
	CHECK_EQ_INT(outlen, 0);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\r"), 1, out, &outlen, &done),
	    1);
	CHECK_MEM(out, outlen, ".\r", 2);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\n.\r\n"), 4, out, &outlen,
	    &done), 4);
	CHECK_MEM(out, outlen, "\n.\r\n", 4);
	CHECK_EQ_INT(done, 1);
	CHECK_EQ_INT(b.nuls, 2);
	CHECK_EQ_INT(b.octets, 11);

	/* CR | NUL | LF in three calls. */
	smtp_body_init(&b);
	CHECK_EQ_INT(smtp_body_filter(&b, U("a\r"), 2, out, &outlen, &done),
	    2);
	CHECK_MEM(out, outlen, "a\r", 2);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\0"), 1, out, &outlen, &done),
	    1);
	CHECK_MEM(out, outlen, "\n", 1);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\n"), 1, out, &outlen, &done),
	    1);
	CHECK_MEM(out, outlen, "\r\n", 2);
	CHECK_EQ_INT(b.nuls, 1);
}

static void
test_body_smuggling(void)
{
	BODY("a\n.\n", "a\r\n..\r\n", 4, 0);
	BODY("a\r.\r", "a\r\n..\r", 4, 0);
	BODY("a\r.\rx", "a\r\n..\r\nx", 5, 0);
	BODY("a\n.\r\n", "a\r\n..\r\n", 5, 0);
	BODY("a\r.\r\n", "a\r\n..\r\n", 5, 0);
	BODY("a\r\n.\rb", "a\r\n..\r\nb", 6, 0);
	BODY("a\r\n.\nb", "a\r\n..\r\nb", 6, 0);
	BODY("a\r\n.\r", "a\r\n.", 5, 0);
	BODY(".\n", "..\r\n", 2, 0);
	BODY(".\r", ".", 2, 0);
	BODY(".\rx", "..\r\nx", 3, 0);
	BODY("\n.\r\n", "\r\n..\r\n", 4, 0);
	BODY("\r.\r\n", "\r\n..\r\n", 4, 0);
	BODY(".\r\r\n", "..\r\n\r\n", 4, 0);
	BODY("a\n\n.\r\n", "a\r\n\r\n..\r\n", 6, 0);
	BODY("a\r\n\n.\r\n", "a\r\n\r\n..\r\n", 7, 0);
	BODY("a\r\n.\n.\r\n", "a\r\n..\r\n..\r\n", 8, 0);
	BODY("a\r\n.\r.\r\n", "a\r\n..\r\n..\r\n", 8, 0);
	BODY("a\r\n..\n", "a\r\n..\r\n", 6, 0);
	BODY("a\n..\r\n", "a\r\n...\r\n", 6, 0);
	/* After a smuggling attempt, the real end still ends. */
	BODY("a\n.\r\nb\r\n.\r\nRSET\r\n", "a\r\n..\r\nb\r\n.\r\n", 11, 1);
	BODY("a\r\n.\nMAIL\r\n.\r\n", "a\r\n..\r\nMAIL\r\n.\r\n", 14, 1);
}

static void
test_body_after_done(void)
{
	smtp_body_t b;
	uint8_t out[64];
	size_t outlen = 99;
	int done = 0;

	smtp_body_init(&b);
	CHECK_EQ_INT(b.octets, 0);
	CHECK_EQ_INT(smtp_body_filter(&b, U("x\r\n.\r\nQUIT\r\n"), 12, out,
	    &outlen, &done), 6);
	CHECK_EQ_INT(done, 1);
	CHECK_MEM(out, outlen, "x\r\n.\r\n", 6);
	CHECK_EQ_INT(b.octets, 6);
	outlen = 99;
	done = 0;
	CHECK_EQ_INT(smtp_body_filter(&b, U("QUIT\r\n"), 6, out, &outlen,
	    &done), 0);
	CHECK_EQ_INT(outlen, 0);
	CHECK_EQ_INT(done, 1);
	CHECK_EQ_INT(b.octets, 6);

	/* Empty calls change nothing, also with a held CR. */
	smtp_body_init(&b);
	CHECK_EQ_INT(smtp_body_filter(&b, U("a\r\n.\r"), 5, out, &outlen,
	    &done), 5);
	CHECK_MEM(out, outlen, "a\r\n.", 4);
	CHECK_EQ_INT(done, 0);
	CHECK_EQ_INT(smtp_body_filter(&b, U(""), 0, out, &outlen, &done), 0);
	CHECK_EQ_INT(outlen, 0);
	CHECK_EQ_INT(done, 0);
	CHECK_EQ_INT(smtp_body_filter(&b, U("\nX"), 2, out, &outlen, &done),
	    1);
	CHECK_MEM(out, outlen, "\r\n", 2);
	CHECK_EQ_INT(done, 1);
	CHECK_EQ_INT(b.octets, 6);
}

/* The worst cases for output growth stay within SMTP_BODY_OUT_MAX. */
static void
test_body_out_max(void)
{
	static const char *const in[] = {
		"\n\n\n\n\n\n\n\n", "\r\r\r\r\r\r\r\r", "\r.\r.\r.\r.\r.",
		"\n.\n.\n.\n.\n.", ".\r.", ".\r\n", ".\r\r",
	};
	/* The same with NULs (strlen would stop at them). */
	static const struct {
		const char *s;
		size_t n;
	} nin[] = {
		{ ".\0\n.\0\n.\0\n", 9 }, { "\r\0.\r\0.\r\0.", 9 },
		{ ".\0\r.\0\r", 6 }, { "\0.\n\0.\n", 6 },
		{ ".\r\0.\r\0", 6 },
	};
	size_t i;

	BODY("\n\n\n", "\r\n\r\n\r\n", 3, 0);
	BODY("\r\r\r", "\r\n\r\n\r", 3, 0);
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		static body_run_t r;

		body_run(U(in[i]), strlen(in[i]), NULL, 0, &r);
		CHECK(!r.bad);
		CHECK(body_split_invariant(U(in[i]), strlen(in[i]), &r));
	}
	for (i = 0; i < sizeof(nin) / sizeof(nin[0]); i++) {
		static body_run_t r;

		body_run(U(nin[i].s), nin[i].n, NULL, 0, &r);
		CHECK(!r.bad);
		CHECK(body_split_invariant(U(nin[i].s), nin[i].n, &r));
	}
	/* A held ".\r" then "." yields 5 bytes for 1 input byte. */
	{
		smtp_body_t b;
		uint8_t out[SMTP_BODY_OUT_MAX(1)];
		size_t outlen;
		int done;

		smtp_body_init(&b);
		CHECK_EQ_INT(smtp_body_filter(&b, U(".\r"), 2, out, &outlen,
		    &done), 2);
		CHECK_EQ_INT(smtp_body_filter(&b, U("."), 1, out, &outlen,
		    &done), 1);
		CHECK_MEM(out, outlen, ".\r\n..", 5);
	}
	/* A held ". NUL" then LF yields 3 bytes for 1 input byte. */
	{
		smtp_body_t b;
		uint8_t out[SMTP_BODY_OUT_MAX(1)];
		size_t outlen;
		int done;

		smtp_body_init(&b);
		CHECK_EQ_INT(smtp_body_filter(&b, U(".\0"), 2, out, &outlen,
		    &done), 2);
		CHECK_MEM(out, outlen, ".", 1);
		CHECK_EQ_INT(smtp_body_filter(&b, U("\n"), 1, out, &outlen,
		    &done), 1);
		CHECK_MEM(out, outlen, ".\r\n", 3);
	}
}

/* A long body exercises the memchr fast path; it must stay the identity. */
static void
test_body_long(void)
{
	static uint8_t in[BODY_IN_MAX];
	static body_run_t whole, r;
	size_t i, cuts[8];
	uint32_t x = 12345;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('a' + i % 26);
	for (i = 100; i + 2 < sizeof(in) - 5; i += 77) {
		in[i] = '\r';
		in[i + 1] = '\n';
		if (i % 3 == 0)
			in[i + 2] = '.';
	}
	memcpy(in + sizeof(in) - 5, "\r\n.\r\n", 5);
	body_run(in, sizeof(in), NULL, 0, &whole);
	CHECK(!whole.bad);
	CHECK(whole.done);
	CHECK_MEM(whole.out, whole.outlen, in, sizeof(in));
	for (i = 0; i < 200; i++) {
		size_t k;

		for (k = 0; k < 8; k++) {
			x = x * 1103515245u + 12345u;
			cuts[k] = (x >> 8) % (sizeof(in) + 1);
		}
		/* Sort the cuts. */
		for (k = 1; k < 8; k++) {
			size_t j = k, v = cuts[k];

			while (j > 0 && cuts[j - 1] > v) {
				cuts[j] = cuts[j - 1];
				j--;
			}
			cuts[j] = v;
		}
		body_run(in, sizeof(in), cuts, 8, &r);
		CHECK(body_same(&whole, &r));
	}
}

/*
 * ref_body is an independent, line-at-a-time model of the filter for whole
 * inputs whose last line is terminated: it splits the input at CRLF, bare
 * LF and bare CR (NUL is an ordinary octet here, so CR NUL LF is two line
 * ends), and applies the rules of smtp.h to each line: end-of-data is a "."
 * line between real CRLFs; the output line is the text without NULs, with
 * one more '.' when it starts with '.' and the line did not start after a
 * real CRLF, or its first octet was a NUL, or it is a "." line (that is not
 * end-of-data).
 */
static size_t
ref_body(const uint8_t *in, size_t n, uint8_t *out, size_t *outlen, int *done)
{
	size_t i = 0, o = 0;
	int real_start = 1;

	*done = 0;
	while (i < n) {
		size_t e = i, tlen, term, f, tn;
		int real_end;

		while (e < n && in[e] != '\r' && in[e] != '\n')
			e++;
		if (e == n)
			break; /* unterminated: not modelled */
		tlen = e - i;
		real_end = in[e] == '\r' && e + 1 < n && in[e + 1] == '\n';
		if (in[e] == '\r' && e + 1 == n)
			break; /* CR at the very end: not modelled */
		term = real_end ? 2 : 1;
		if (real_start && real_end && tlen == 1 && in[i] == '.') {
			memcpy(out + o, ".\r\n", 3);
			o += 3;
			i = e + term;
			*done = 1;
			break;
		}
		/* f: the first non-NUL octet, tn: the octets left. */
		for (f = i; f < e && in[f] == 0; f++)
			;
		tn = tlen - count_nul(in + i, tlen);
		if (f < e && in[f] == '.' && (!real_start || f != i ||
		    tn == 1))
			out[o++] = '.';
		for (; f < e; f++) {
			if (in[f] != 0)
				out[o++] = in[f];
		}
		out[o++] = '\r';
		out[o++] = '\n';
		i = e + term;
		real_start = real_end;
	}
	*outlen = o;
	return i;
}

/*
 * Output rules: no NUL, no bare CR or LF, and "\r\n.\r\n" only as the very
 * end.
 */
static int
body_output_ok(const uint8_t *out, size_t n, int done)
{
	size_t i, eod = 0;

	for (i = 0; i < n; i++) {
		if (out[i] == 0)
			return 0;
		if (out[i] == '\r' && (i + 1 >= n || out[i + 1] != '\n'))
			return 0;
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			return 0;
		/* The body starts at line start: a virtual CRLF before it. */
		if (out[i] == '.' && (i == 0 || (i >= 2 &&
		    out[i - 2] == '\r' && out[i - 1] == '\n')) &&
		    i + 3 <= n && out[i + 1] == '\r' && out[i + 2] == '\n') {
			eod++;
			if (i + 3 != n)
				return 0;
		}
	}
	return eod == (done ? 1u : 0u);
}

static uint32_t
prng(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

#define RANDOM_INPUTS 4000
#define RANDOM_LEN_MAX 40

static void
test_body_random(void)
{
	static const uint8_t alphabet[] = { '\r', '\n', '.', 'a', '\0' };
	static const uint8_t eod[] = "\r\n.\r\n";
	static uint8_t in[RANDOM_LEN_MAX + sizeof(eod)];
	static uint8_t ref[4 * sizeof(in)];
	static body_run_t whole, r;
	uint32_t seed = 0x5eed1234u;
	int n_model = 0, n_out = 0, n_split = 0, n_total = 0, shown = 0;
	int iter;

	for (iter = 0; iter < RANDOM_INPUTS; iter++) {
		size_t n = prng(&seed) % (RANDOM_LEN_MAX + 1), i, reflen;
		size_t cuts[3];
		int refdone;

		for (i = 0; i < n; i++)
			in[i] = alphabet[prng(&seed) % sizeof(alphabet)];

		/* Any split agrees with one call. */
		body_run(in, n, NULL, 0, &whole);
		for (i = 0; i < 3; i++)
			cuts[i] = prng(&seed) % (n + 1);
		if (cuts[0] > cuts[1]) {
			size_t t = cuts[0];
			cuts[0] = cuts[1];
			cuts[1] = t;
		}
		if (cuts[1] > cuts[2]) {
			size_t t = cuts[1];
			cuts[1] = cuts[2];
			cuts[2] = t;
		}
		if (cuts[0] > cuts[1]) {
			size_t t = cuts[0];
			cuts[0] = cuts[1];
			cuts[1] = t;
		}
		body_run(in, n, cuts, 3, &r);
		n_split += body_same(&whole, &r);
		cuts[0] = n / 2;
		body_run(in, n, cuts, 1, &r);
		n_split += body_same(&whole, &r);
		if (iter % 8 == 0)
			n_split += body_split_invariant(in, n, &whole) ? 2 : 0;
		else
			n_split += 2;
		if (whole.done)
			n_out += body_output_ok(whole.out, whole.outlen, 1);
		else
			n_out++;

		/*
		 * With a real end-of-data appended, the end is always found
		 * exactly once, at the end, and matches the model.
		 */
		memcpy(in + n, eod, sizeof(eod) - 1);
		body_run(in, n + sizeof(eod) - 1, NULL, 0, &whole);
		n_out += whole.done &&
		    body_output_ok(whole.out, whole.outlen, 1);
		i = ref_body(in, n + sizeof(eod) - 1, ref, &reflen, &refdone);
		if (refdone && !whole.bad && i == whole.consumed &&
		    reflen == whole.outlen &&
		    memcmp(ref, whole.out, reflen) == 0) {
			n_model++;
		} else if (shown++ < 5) {
			fprintf(stderr, "  model mismatch, input %d: [", iter);
			fwrite(in, 1, n + sizeof(eod) - 1, stderr);
			fprintf(stderr, "]\n");
		}
		n_total++;
	}
	CHECK_EQ_INT(n_split, 4 * n_total);
	CHECK_EQ_INT(n_out, 2 * n_total);
	CHECK_EQ_INT(n_model, n_total);
}

/*
 * Well-formed random input (CRLF only, no NUL) is the identity up to the
 * end.
 */
static void
test_body_random_wellformed(void)
{
	static const char *const tok[] = {
		"\r\n", ".", "a", "\x7f", "..", "xyz",
	};
	static const size_t toklen[] = { 2, 1, 1, 1, 2, 3 };
	static uint8_t in[8 * RANDOM_LEN_MAX];
	static body_run_t whole;
	uint32_t seed = 0xc0ffee11u;
	int iter, ok = 0;

	for (iter = 0; iter < RANDOM_INPUTS; iter++) {
		size_t n = 0, ntok = prng(&seed) % RANDOM_LEN_MAX, i, end;
		int want_done = 0;

		for (i = 0; i < ntok; i++) {
			size_t t = prng(&seed) % 6;

			memcpy(in + n, tok[t], toklen[t]);
			n += toklen[t];
		}
		/*
		 * Where a strict reader sees the end: the first CRLF.CRLF,
		 * with a CRLF before the body.
		 */
		end = n;
		for (i = 0; i + 3 <= n; i++) {
			if (in[i] == '.' && in[i + 1] == '\r' &&
			    in[i + 2] == '\n' && (i == 0 || (i >= 2 &&
			    in[i - 2] == '\r' && in[i - 1] == '\n'))) {
				end = i + 3;
				want_done = 1;
				break;
			}
		}
		body_run(in, n, NULL, 0, &whole);
		ok += !whole.bad && whole.done == want_done &&
		    whole.consumed == end && whole.outlen == end &&
		    memcmp(whole.out, in, end) == 0;
	}
	CHECK_EQ_INT(ok, RANDOM_INPUTS);
}

/*
 * exh_run feeds in[0..n) (n <= EXH_LEN + 5) cut at c1 <= c2 into a fresh
 * filter, appending the output to out. Returns -1 if a call wrote past SMTP_BODY_OUT_MAX or
 * broke the consumption contract.
 */
#define EXH_LEN 7

static int
exh_run(const uint8_t *in, size_t n, size_t c1, size_t c2, uint8_t *out,
    size_t *outlen, size_t *consumed, int *done)
{
	size_t to[3] = { c1, c2, n };
	size_t k, from = 0;
	smtp_body_t b;

	smtp_body_init(&b);
	*outlen = 0;
	*consumed = 0;
	*done = 0;
	for (k = 0; k < 3; k++) {
		uint8_t tmp[SMTP_BODY_OUT_MAX(EXH_LEN + 5) + 1];
		size_t len = to[k] - from, olen, c;

		memset(tmp, BODY_CANARY, SMTP_BODY_OUT_MAX(len) + 1);
		c = smtp_body_filter(&b, in + from, len, tmp, &olen, done);
		if (olen > SMTP_BODY_OUT_MAX(len) ||
		    tmp[SMTP_BODY_OUT_MAX(len)] != BODY_CANARY || c > len ||
		    (!*done && c != len))
			return -1;
		memcpy(out + *outlen, tmp, olen);
		*outlen += olen;
		*consumed += c;
		from = to[k];
	}
	return 0;
}

/*
 * Every input of up to EXH_LEN octets over CR, LF, '.', 'a' and NUL: every
 * cut into three pieces agrees with one call and stays within the bound, the
 * output has no NUL, no bare LF, no bare CR (but a held one at the very
 * end) and an end-of-data only at its end and only when done; with a real
 * end-of-data appended, the model agrees.
 */
static void
test_body_exhaustive(void)
{
	static const uint8_t alphabet[] = { '\r', '\n', '.', 'a', '\0' };
	uint8_t in[EXH_LEN + 5], ref[4 * (EXH_LEN + 5)];
	uint8_t whole[3 * SMTP_BODY_OUT_MAX(EXH_LEN + 5)];
	uint8_t part[3 * SMTP_BODY_OUT_MAX(EXH_LEN)];
	size_t n, wl, wc, pl, pc, reflen, c1, c2, k;
	unsigned long total = 0, ok = 0, idx, count;
	int wd, pd, refdone;

	for (n = 0, count = 1; n <= EXH_LEN; n++, count *= 5) {
		for (idx = 0; idx < count; idx++) {
			unsigned long x = idx;
			int good = 1;

			for (k = 0; k < n; k++, x /= 5)
				in[k] = alphabet[x % 5];
			good &= exh_run(in, n, n, n, whole, &wl, &wc,
			    &wd) == 0;
			for (c1 = 0; c1 <= n; c1++) {
				for (c2 = c1; c2 <= n; c2++) {
					good &= exh_run(in, n, c1, c2, part,
					    &pl, &pc, &pd) == 0 &&
					    pl == wl && pc == wc && pd == wd &&
					    memcmp(part, whole, wl) == 0;
				}
			}
			pl = wl;
			if (!wd && pl > 0 && whole[pl - 1] == '\r')
				pl--; /* held: its LF is pending */
			good &= body_output_ok(whole, pl, wd);

			memcpy(in + n, "\r\n.\r\n", 5);
			good &= exh_run(in, n + 5, n + 5, n + 5, whole, &wl,
			    &wc, &wd) == 0 && wd &&
			    body_output_ok(whole, wl, 1);
			good &= ref_body(in, n + 5, ref, &reflen,
			    &refdone) == wc && refdone && reflen == wl &&
			    memcmp(ref, whole, wl) == 0;
			if (!good && total - ok < 5) {
				fprintf(stderr, "  exhaustive: failed on [");
				fwrite(in, 1, n, stderr);
				fprintf(stderr, "] (%zu)\n", n);
			}
			ok += good;
			total++;
		}
	}
	CHECK_EQ_INT(ok, total);
	CHECK(total > 90000);
}

/* The reference checkers themselves must be able to say no. */
static void
test_body_checkers(void)
{
	uint8_t out[32];
	size_t ol;
	int d;

	CHECK(body_output_ok(U("a\r\n.\r\n"), 6, 1));
	CHECK(body_output_ok(U(".\r\n"), 3, 1));
	CHECK(!body_output_ok(U("a\n.\r\n"), 5, 1));
	CHECK(!body_output_ok(U("a\r.\r\n"), 5, 1));
	CHECK(!body_output_ok(U("\r\n.\r\n\r\n.\r\n"), 10, 1));
	CHECK(!body_output_ok(U("a\r\n.\r\nb\r\n"), 9, 1));
	CHECK(!body_output_ok(U("a\r\n"), 3, 1));
	CHECK(!body_output_ok(U("a\0\r\n.\r\n"), 7, 1));
	CHECK(body_output_ok(U("a\r\n"), 3, 0));
	CHECK(!body_output_ok(U("a\r\n.\r\nb"), 8, 0));
	CHECK_EQ_INT(ref_body(U("a\n.\r\n.\r\n"), 8, out, &ol, &d), 8);
	CHECK_EQ_INT(d, 1);
	CHECK_MEM(out, ol, "a\r\n..\r\n.\r\n", 10);
	CHECK_EQ_INT(ref_body(U("\0.\r\n.\0\r\n.\r\0\n.\r\n"), 15, out, &ol,
	    &d), 15);
	CHECK_EQ_INT(d, 0);
	CHECK_MEM(out, ol, "..\r\n..\r\n..\r\n\r\n..\r\n", 18);
	CHECK_EQ_INT(ref_body(U("\0.\r\n.\0\r\n.\r\0\n\r\n.\r\n"), 17, out,
	    &ol, &d), 17);
	CHECK_EQ_INT(d, 1);
	CHECK_MEM(out, ol, "..\r\n..\r\n..\r\n\r\n\r\n.\r\n", 19);
}

int
main(void)
{
	RUN(test_line_find_crlf);
	RUN(test_line_find_flags);
	RUN(test_line_find_bounds);
	RUN(test_line_find_max_size);
	RUN(test_reply_line_parse);
	RUN(test_cmd_parse);
	RUN(test_cmd_canon);
	RUN(test_cmd_name);
	RUN(test_mail_size);
	RUN(test_addr_domain);
	RUN(test_ehlo_caps);
	RUN(test_ehlo_rewrite_add);
	RUN(test_ehlo_rewrite_allowlist);
	RUN(test_ehlo_rewrite_requiretls);
	RUN(test_mail_requiretls);
	RUN(test_ehlo_rewrite_reject);
	RUN(test_ehlo_rewrite_outcap);
	RUN(test_body_end_of_data);
	RUN(test_body_identity);
	RUN(test_body_pass);
	RUN(test_body_nul);
	RUN(test_body_nul_split);
	RUN(test_body_smuggling);
	RUN(test_body_after_done);
	RUN(test_body_out_max);
	RUN(test_body_long);
	RUN(test_body_random);
	RUN(test_body_random_wellformed);
	RUN(test_body_exhaustive);
	RUN(test_body_checkers);
	return CHECK_DONE();
}
