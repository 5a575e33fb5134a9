/*
 * Unit tests for proxy/sts.c: MTA-STS TXT records (RFC 8461 3.1), policies
 * (3.2), mx pattern matching (4.1) and certificate names (4.2).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "sts.h"

/* A heap copy of exactly n bytes, so ASan builds see reads past n. */
static uint8_t *
dup_exact(const void *p, size_t n)
{
	uint8_t *q = malloc(n > 0 ? n : 1);

	if (q == NULL)
		abort();
	memcpy(q, p, n);
	return q;
}

/* TXT records ------------------------------------------------------------ */

/*
 * txt parses the records given as NUL-terminated strings (each an exact
 * copy); returns 0 or -1, the id in id ("" if none).
 */
static int
txt_n(char id[STS_ID_MAX + 1], size_t n, const char *const *recs)
{
	sts_slice_t s[8] = { { NULL, 0 } };
	const char *why = NULL;
	int r;

	if (n > 8)
		abort();
	for (size_t i = 0; i < n; i++) {
		s[i].len = strlen(recs[i]);
		s[i].p = dup_exact(recs[i], s[i].len);
	}
	strcpy(id, "");
	r = sts_txt_parse(s, n, id, &why);
	if (r == -1) {
		CHECK(why != NULL);
		CHECK(id[0] == '\0'); /* left alone */
	}
	for (size_t i = 0; i < n; i++)
		free((void *)s[i].p);
	return r;
}

/* One record: 0 and its id, or -1. */
static int
txt1(const char *rec, char id[STS_ID_MAX + 1])
{
	return txt_n(id, 1, &rec);
}

/* The record is valid with id want. */
static void
txt_ok(const char *rec, const char *want)
{
	char id[STS_ID_MAX + 1];

	CHECK_EQ_INT(txt1(rec, id), 0);
	CHECK_MEM(id, strlen(id), want, strlen(want));
}

static void
txt_bad(const char *rec)
{
	char id[STS_ID_MAX + 1];

	if (txt1(rec, id) != -1)
		fprintf(stderr, "  accepted: [%s]\n", rec);
	CHECK_EQ_INT(txt1(rec, id), -1);
}

static void
test_txt_basic(void)
{
	txt_ok("v=STSv1; id=20160831085700Z;", "20160831085700Z");
	txt_ok("v=STSv1; id=20160831085700Z", "20160831085700Z");
	txt_ok("v=STSv1;id=abc", "abc");
	/* sts-field-delim = *WSP ";" *WSP: SP and HTAB on both sides. */
	txt_ok("v=STSv1 ; id=abc", "abc");
	txt_ok("v=STSv1\t;\tid=abc\t;\t", "abc");
	txt_ok("v=STSv1;  id=abc ;", "abc");
	/* The order of the fields after the version is free. */
	txt_ok("v=STSv1; foo=bar; id=x1", "x1");
	txt_ok("v=STSv1; id=x1; foo=bar", "x1");
	/* id: 1*32(ALPHA / DIGIT). */
	txt_ok("v=STSv1; id=0123456789abcdefABCDEF0123456789",
	    "0123456789abcdefABCDEF0123456789");
	txt_bad("v=STSv1; id=0123456789abcdefABCDEF01234567890");
	txt_bad("v=STSv1; id=");
	txt_bad("v=STSv1; id=2016-08-31");
	txt_bad("v=STSv1; id=abc_d");
	/* Nothing after the last field but one delimiter. */
	txt_bad("v=STSv1; id=abc ");
	txt_bad("v=STSv1; id=abc;;");
	txt_bad("v=STSv1;; id=abc");
	txt_bad("v=STSv1; id=abc x");
	/* The id field is required; names are case-sensitive. */
	txt_bad("v=STSv1;");
	txt_bad("v=STSv1; ");
	txt_bad("v=STSv1; foo=bar");
	txt_bad("v=STSv1; ID=abc");
	txt_bad("v=STSv1; id =abc");
	txt_bad("v=STSv1; id= abc");
	/* Two ids: which one names the policy? */
	txt_bad("v=STSv1; id=abc; id=abc");
	txt_bad("v=STSv1; id=abc; id=def");
}

static void
test_txt_extensions(void)
{
	/* sts-ext-name = (ALPHA / DIGIT)
	 *     *31(ALPHA / DIGIT / "_" / "-" / "."). */
	txt_ok("v=STSv1; a.b-c_d=1; id=x", "x");
	txt_ok("v=STSv1; 0123456789abcdef0123456789abcdef=1; id=x", "x");
	txt_bad("v=STSv1; 0123456789abcdef0123456789abcdefg=1; id=x");
	txt_bad("v=STSv1; _foo=1; id=x");
	txt_bad("v=STSv1; -foo=1; id=x");
	txt_bad("v=STSv1; fo o=1; id=x");
	/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E). */
	txt_ok("v=STSv1; foo=!\"#$%&'()*+,-./:<>?@[]^_`{|}~; id=x", "x");
	txt_bad("v=STSv1; foo=; id=x");
	txt_bad("v=STSv1; foo=a=b; id=x");
	txt_bad("v=STSv1; foo=a b; id=x");
	txt_bad("v=STSv1; foo=caf\xc3\xa9; id=x");
	txt_bad("v=STSv1; foo=a\x7f; id=x");
	txt_bad("v=STSv1; foo; id=x");
	/* A second "v" is an extension like any other. */
	txt_ok("v=STSv1; v=STSv2; id=x", "x");
}

static void
test_txt_version(void)
{
	char id[STS_ID_MAX + 1];
	const char *two[2];

	/* Records that do not begin with v=STSv1 are discarded: none left. */
	txt_bad("V=STSv1; id=abc");
	txt_bad(" v=STSv1; id=abc");
	txt_bad("v=STSv10; id=abc");
	txt_bad("v=STSv1");
	txt_bad("v=spf1 -all");
	txt_bad("");
	CHECK_EQ_INT(txt_n(id, 0, NULL), -1);

	/* Other TXT records beside it do not count. */
	two[0] = "v=spf1 -all";
	two[1] = "v=STSv1; id=abc";
	CHECK_EQ_INT(txt_n(id, 2, two), 0);
	CHECK(strcmp(id, "abc") == 0);
	/* "v=STSv1" without a delimiter does not begin with "v=STSv1;". */
	two[0] = "v=STSv1";
	CHECK_EQ_INT(txt_n(id, 2, two), 0);
	CHECK(strcmp(id, "abc") == 0);
	/* Two records beginning with v=STSv1: no policy, even if equal. */
	two[0] = "v=STSv1; id=abc";
	CHECK_EQ_INT(txt_n(id, 2, two), -1);
	/* ... and even when one of them is invalid. */
	two[0] = "v=STSv1;";
	CHECK_EQ_INT(txt_n(id, 2, two), -1);
}

static void
test_txt_octets(void)
{
	char id[STS_ID_MAX + 1];
	static const char nul[] = "v=STSv1; id=abc\0def";
	sts_slice_t s = { (const uint8_t *)nul, sizeof(nul) - 1 };
	const char *why;

	/* NUL ends nothing: the record is invalid as a whole. */
	CHECK_EQ_INT(sts_txt_parse(&s, 1, id, &why), -1);
	s.len = 15;
	CHECK_EQ_INT(sts_txt_parse(&s, 1, id, &why), 0);
	CHECK(strcmp(id, "abc") == 0);
	txt_bad("v=STSv1; id=abc\r\n");
	txt_bad("v=STSv1; id=abc\xff");
	txt_bad("v=STSv1;\x0bid=abc");
}

/* Policies --------------------------------------------------------------- */

static sts_policy_t pol;

/* Parses s on an exact copy: 0 or -1. */
static int
pparse(const char *s)
{
	size_t n = strlen(s);
	uint8_t *q = dup_exact(s, n);
	const char *why = NULL;
	int r = sts_policy_parse(q, n, &pol, &why);

	if (r == -1)
		CHECK(why != NULL);
	free(q);
	return r;
}

static void
pbad(const char *s)
{
	if (pparse(s) != -1)
		fprintf(stderr, "  accepted: [%s]\n", s);
	CHECK_EQ_INT(pparse(s), -1);
}

#define V "version: STSv1\n"
#define M "mode: enforce\n"
#define A "max_age: 86400\n"
#define X "mx: mx.example.com\n"

static void
test_policy_basic(void)
{
	CHECK_EQ_INT(pparse("version: STSv1\r\nmode: enforce\r\n"
	    "mx: mail.example.com\r\nmx: *.example.net\r\n"
	    "mx: backupmx.example.com\r\nmax_age: 604800\r\n"), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_ENFORCE);
	CHECK_EQ_INT(pol.max_age, 604800);
	CHECK_EQ_INT(pol.nmx, 3);
	CHECK(strcmp(pol.mx[0], "mail.example.com") == 0);
	CHECK(strcmp(pol.mx[1], "*.example.net") == 0);
	CHECK(strcmp(pol.mx[2], "backupmx.example.com") == 0);

	/* LF, CRLF, mixed, and no line end after the last field. */
	CHECK_EQ_INT(pparse(V M A "mx: mx.example.com"), 0);
	CHECK_EQ_INT(pparse("version: STSv1\r\nmode: testing\n"
	    "max_age: 1\r\nmx: a.example"), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_TESTING);
	CHECK_EQ_INT(pol.max_age, 1);
	/* The order of the fields is free, version included. */
	CHECK_EQ_INT(pparse(X A M V), 0);
	CHECK_EQ_INT(pol.nmx, 1);
	/* sts-policy-field-delim = ":" *WSP; *WSP before the line end. */
	CHECK_EQ_INT(pparse("version:STSv1\nmode:\t enforce \t\n"
	    "max_age:86400 \nmx:  mx.example.com\t\n"), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_ENFORCE);
	CHECK(strcmp(pol.mx[0], "mx.example.com") == 0);
}

static void
test_policy_required(void)
{
	CHECK_EQ_INT(pparse(V M A X), 0);
	pbad(M A X);
	pbad(V A X);
	pbad(V M X);
	/* mx: at least one, except when mode is none. */
	pbad(V M A);
	pbad(V "mode: testing\n" A);
	CHECK_EQ_INT(pparse(V "mode: none\n" A), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_NONE);
	CHECK_EQ_INT(pol.nmx, 0);
	CHECK_EQ_INT(pparse(V "mode: none\n" A X), 0);
	CHECK_EQ_INT(pol.nmx, 1);
	/* Known values only, case-sensitive (%s). */
	pbad("version: STSv2\n" M A X);
	pbad("version: stsv1\n" M A X);
	pbad("version: STSv1x\n" M A X);
	pbad(V "mode: Enforce\n" A X);
	pbad(V "mode: report\n" A X);
	/* Names are case-sensitive: "Version" is another field. */
	pbad("Version: STSv1\n" M A X);
	CHECK_EQ_INT(pparse(V "Mode: none\n" M A X), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_ENFORCE);
	pbad("");
}

static void
test_policy_max_age(void)
{
	CHECK_EQ_INT(pparse(V M "max_age: 0\n" X), 0);
	CHECK_EQ_INT(pol.max_age, 0);
	CHECK_EQ_INT(pparse(V M "max_age: 31557600\n" X), 0);
	CHECK_EQ_INT(pol.max_age, 31557600);
	/* Valid ABNF beyond the maximum: the longest lifetime 3.2 allows. */
	CHECK_EQ_INT(pparse(V M "max_age: 31557601\n" X), 0);
	CHECK_EQ_INT(pol.max_age, STS_MAX_AGE_MAX);
	CHECK_EQ_INT(pparse(V M "max_age: 9999999999\n" X), 0);
	CHECK_EQ_INT(pol.max_age, STS_MAX_AGE_MAX);
	CHECK_EQ_INT(pparse(V M "max_age: 0000086400\n" X), 0);
	CHECK_EQ_INT(pol.max_age, 86400);
	/* 1*10(DIGIT). */
	pbad(V M "max_age: 00000864000\n" X);
	pbad(V M "max_age: -1\n" X);
	pbad(V M "max_age: +1\n" X);
	pbad(V M "max_age: 1d\n" X);
	pbad(V M "max_age: 86 400\n" X);
	pbad(V M "max_age:\n" X);
}

static void
test_policy_mx(void)
{
	static const char *const good[] = {
		"mx.example.com", "*.example.net", "localhost", "a", "1.2.3",
		"xn--bcher-kva.example", "a-b.c--d.example", "*.a",
	};
	static const char *const bad[] = {
		"*", "*.", "*.*.example.com", "a.*.example.com", "*example.com",
		"m*.example.com", ".example.com", "example.com.", "a..b",
		"-a.example", "a-.example", "a.-b", "foo_bar.example",
		("b\xc3\xbc" "cher.example"), "a/b", "*.-a.com",
	};
	char buf[600];
	char label[STS_LABEL_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(buf, sizeof(buf), V M A "mx: %s\n", good[i]);
		if (pparse(buf) != 0)
			fprintf(stderr, "  refused: [%s]\n", good[i]);
		CHECK_EQ_INT(pparse(buf), 0);
		CHECK(strcmp(pol.mx[0], good[i]) == 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), V M A "mx: %s\n", bad[i]);
		pbad(buf);
		/* Even where the mode does not need patterns. */
		snprintf(buf, sizeof(buf), V "mode: none\n" A "mx: %s\n",
		    bad[i]);
		pbad(buf);
	}
	/* Stored lower-cased. */
	CHECK_EQ_INT(pparse(V M A "mx: *.MX.Example.COM\n"), 0);
	CHECK(strcmp(pol.mx[0], "*.mx.example.com") == 0);

	/* A label of 63 octets, not 64. */
	memset(label, 'a', sizeof(label));
	label[STS_LABEL_MAX] = '\0';
	snprintf(buf, sizeof(buf), V M A "mx: %s.example\n", label);
	CHECK_EQ_INT(pparse(buf), 0);
	label[STS_LABEL_MAX] = 'a';
	label[STS_LABEL_MAX + 1] = '\0';
	snprintf(buf, sizeof(buf), V M A "mx: %s.example\n", label);
	pbad(buf);

	/* A name of 253 octets, not 254 (four labels of 63 = 255). */
	label[STS_LABEL_MAX] = '\0';
	snprintf(buf, sizeof(buf), V M A "mx: %s.%s.%s.%.61s\n", label, label,
	    label, label);
	CHECK_EQ_INT(pparse(buf), 0);
	CHECK_EQ_INT(strlen(pol.mx[0]), STS_NAME_MAX);
	snprintf(buf, sizeof(buf), V M A "mx: %s.%s.%s.%.62s\n", label, label,
	    label, label);
	pbad(buf);
	snprintf(buf, sizeof(buf), V M A "mx: *.%s.%s.%s.%.59s\n", label,
	    label, label, label);
	CHECK_EQ_INT(pparse(buf), 0);
	snprintf(buf, sizeof(buf), V M A "mx: *.%s.%s.%s.%.60s\n", label,
	    label, label, label);
	pbad(buf);
}

static void
test_policy_mx_count(void)
{
	static char buf[STS_BODY_MAX];
	size_t off;

	off = (size_t)snprintf(buf, sizeof(buf), V M A);
	for (int i = 0; i < STS_MX_MAX; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off,
		    "mx: mx%d.example.com\n", i);
	CHECK_EQ_INT(pparse(buf), 0);
	CHECK_EQ_INT(pol.nmx, STS_MX_MAX);
	CHECK(strcmp(pol.mx[STS_MX_MAX - 1], "mx63.example.com") == 0);
	snprintf(buf + off, sizeof(buf) - off, "mx: one.more.example\n");
	pbad(buf);
	/* Repeated patterns count too. */
	off = (size_t)snprintf(buf, sizeof(buf), V M A);
	for (int i = 0; i <= STS_MX_MAX; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, X);
	pbad(buf);
}

static void
test_policy_duplicates(void)
{
	/* All entries but the first of a non-repeated field are ignored... */
	CHECK_EQ_INT(pparse(V M "mode: testing\n" A X), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_ENFORCE);
	CHECK_EQ_INT(pparse(V M A "max_age: 5\n" X), 0);
	CHECK_EQ_INT(pol.max_age, 86400);
	CHECK_EQ_INT(pparse(V "version: STSv2\n" M A X), 0);
	/* ... whatever their value, if the line is well-formed ... */
	CHECK_EQ_INT(pparse(V M "mode: bogus value\n" A "max_age: x\n" X), 0);
	CHECK_EQ_INT(pol.mode, STS_MODE_ENFORCE);
	/* ... but a malformed line is not a field to ignore. */
	pbad(V M "mode: a\tb\n" A X);
	pbad(V M "mode:\n" A X);
	/* The first one decides, good or bad. */
	pbad(V "mode: bogus\n" M A X);
	/* mx repeats: every line is a pattern. */
	CHECK_EQ_INT(pparse(V M A X "mx: *.example.net\n" X), 0);
	CHECK_EQ_INT(pol.nmx, 3);
}

static void
test_policy_unknown(void)
{
	/* Unknown fields are ignored when they are well-formed. */
	CHECK_EQ_INT(pparse(V M "foo: bar baz\n" A X), 0);
	CHECK_EQ_INT(pparse(V M "a.b-c_d: x:y=z;w\n" A X), 0);
	CHECK_EQ_INT(pparse(V M "note: caf\xc3\xa9 \xf0\x9f\x93\xa7\n" A X),
	    0);
	CHECK_EQ_INT(pparse(V M "0123456789abcdef0123456789abcdef: 1\n" A X),
	    0);
	/* sts-policy-ext-name and -value. */
	pbad(V M "0123456789abcdef0123456789abcdefg: 1\n" A X);
	pbad(V M "_foo: bar\n" A X);
	pbad(V M "foo bar: x\n" A X);
	pbad(V M "foo:\n" A X);
	pbad(V M "foo: a\tb\n" A X);
	pbad(V M "foo: \xc3\n" A X);
	pbad(V M "foo: \xc0\xaf\n" A X);       /* overlong */
	pbad(V M "foo: \xed\xa0\x80\n" A X);   /* surrogate */
	pbad(V M "foo: \xf4\x90\x80\x80\n" A X); /* over U+10FFFF */
	pbad(V M "foo: \xff\n" A X);
	pbad(V M "no colon\n" A X);
	pbad(V M ": value\n" A X);
}

static void
test_policy_lines(void)
{
	/* No white space before a name or before ':' (no folding). */
	pbad(V " " M A X);
	pbad(V "\t" M A X);
	pbad(V "mode : enforce\n" A X);
	/* No empty lines, not even at the end. */
	pbad(V "\n" M A X);
	pbad("\n" V M A X);
	pbad(V M A X "\n");
	pbad(V M A X "\r\n");
	pbad(V M A "mx: mx.example.com\r\n\r\n");
	CHECK_EQ_INT(pparse(V M A "mx: mx.example.com\r\n"), 0);
	/* Bare CR, NUL, controls: never a line end, never ignored. */
	pbad(V M A "mx: mx.example.com\r");
	pbad("version: STSv1\rmode: enforce\n" A X);
	pbad(V M A "mx: mx.example.com\x0b\n");
	pbad(V M A "mx: mx.example.com\x7f\n");
	{
		static const char nul[] = V M A "mx: mx.example.com\0\n";
		const char *why;

		CHECK_EQ_INT(sts_policy_parse((const uint8_t *)nul,
		    sizeof(nul) - 1, &pol, &why), -1);
		CHECK_EQ_INT(sts_policy_parse((const uint8_t *)nul,
		    sizeof(nul) - 3, &pol, &why), 0);
	}
}

static void
test_policy_size(void)
{
	static char buf[STS_BODY_MAX + 2];
	size_t off = (size_t)snprintf(buf, sizeof(buf), V M A X "pad: ");

	/* Exactly STS_BODY_MAX octets, then one more. */
	memset(buf + off, 'x', STS_BODY_MAX - off);
	buf[STS_BODY_MAX] = '\0';
	CHECK_EQ_INT(pparse(buf), 0);
	buf[STS_BODY_MAX] = 'x';
	buf[STS_BODY_MAX + 1] = '\0';
	pbad(buf);
}

static void
test_policy_format(void)
{
	sts_policy_t back;
	char out[STS_BODY_MAX];
	size_t n;
	const char *why;

	CHECK_EQ_INT(pparse("mx: B.example\nmax_age: 99999999999\nmode: "
	    "testing\nx: y\nmx: *.A.example\nversion: STSv1"), -1);
	CHECK_EQ_INT(pparse("mx: B.example\nmax_age: 9999999999\nmode: "
	    "testing\nx: y\nmx: *.A.example\nversion: STSv1"), 0);
	n = sts_policy_format(&pol, out, sizeof(out));
	CHECK(n > 0);
	CHECK_MEM(out, n, "version: STSv1\r\nmode: testing\r\n"
	    "mx: b.example\r\nmx: *.a.example\r\nmax_age: 31557600\r\n",
	    strlen("version: STSv1\r\nmode: testing\r\n"
	    "mx: b.example\r\nmx: *.a.example\r\nmax_age: 31557600\r\n"));
	CHECK_EQ_INT(sts_policy_parse((const uint8_t *)out, n, &back, &why),
	    0);
	CHECK_EQ_INT(back.mode, pol.mode);
	CHECK_EQ_INT(back.max_age, pol.max_age);
	CHECK_EQ_INT(back.nmx, pol.nmx);
	for (unsigned i = 0; i < pol.nmx && i < back.nmx; i++)
		CHECK(strcmp(back.mx[i], pol.mx[i]) == 0);
	/* Too small a buffer: 0, never a cut policy. */
	CHECK_EQ_INT(sts_policy_format(&pol, out, n), 0);
	CHECK_EQ_INT(sts_policy_format(&pol, out, n + 1), n);
	CHECK_EQ_INT(sts_policy_format(&pol, out, 10), 0);
	CHECK(strcmp(sts_mode_name(STS_MODE_ENFORCE), "enforce") == 0);
	CHECK(strcmp(sts_mode_name(STS_MODE_NONE), "none") == 0);
}

/* Matching --------------------------------------------------------------- */

static int
mxm(const char *pat, const char *name)
{
	size_t n = strlen(name);
	char *q = (char *)dup_exact(name, n);
	int r = sts_mx_match(pat, strlen(pat), q, n);

	free(q);
	return r;
}

static void
test_mx_match(void)
{
	CHECK_EQ_INT(mxm("mx.example.com", "mx.example.com"), 1);
	CHECK_EQ_INT(mxm("mx.example.com", "MX.Example.COM"), 1);
	CHECK_EQ_INT(mxm("mx.example.com", "mx.example.com."), 1);
	CHECK_EQ_INT(mxm("mx.example.com", "mx.example.com.."), 0);
	CHECK_EQ_INT(mxm("mx.example.com", "."), 0);
	CHECK_EQ_INT(mxm("mx.example.com", ""), 0);
	CHECK_EQ_INT(mxm("mx.example.com", "mx.example.co"), 0);
	CHECK_EQ_INT(mxm("mx.example.com", "mx.example.com.evil"), 0);
	CHECK_EQ_INT(mxm("mx.example.com", "a.mx.example.com"), 0);
	CHECK_EQ_INT(mxm("mx.example.com", "xmx.example.com"), 0);
	/* The wildcard: exactly one more label on the left. */
	CHECK_EQ_INT(mxm("*.example.com", "mail.example.com"), 1);
	CHECK_EQ_INT(mxm("*.example.com", "MAIL.EXAMPLE.COM."), 1);
	CHECK_EQ_INT(mxm("*.example.com", "example.com"), 0);
	CHECK_EQ_INT(mxm("*.example.com", "foo.bar.example.com"), 0);
	CHECK_EQ_INT(mxm("*.example.com", ".example.com"), 0);
	CHECK_EQ_INT(mxm("*.example.com", "aexample.com"), 0);
	CHECK_EQ_INT(mxm("*.example.com", "a.badexample.com"), 0);
	CHECK_EQ_INT(mxm("*.example.com", "a.example.com.evil"), 0);
	CHECK_EQ_INT(mxm("*.example.com", "*.example.com"), 0);
	CHECK_EQ_INT(mxm("*.example.com", "a*.example.com"), 0);
	/* No length is read past the ones given. */
	CHECK_EQ_INT(sts_mx_match("mx.example.comX", 14, "mx.example.com",
	    14), 1);
	CHECK_EQ_INT(sts_mx_match("mx.example.com", 14, "mx.example.comX",
	    14), 1);
	CHECK_EQ_INT(sts_mx_match("mx.example.com", 14, "mx.ex\0mple.com",
	    14), 0);

	CHECK_EQ_INT(pparse(V M A "mx: mx1.example.com\nmx: *.example.net\n"),
	    0);
	CHECK_EQ_INT(sts_policy_match_host(&pol, "mx1.example.com", 15), 1);
	CHECK_EQ_INT(sts_policy_match_host(&pol, "b.example.net", 13), 1);
	CHECK_EQ_INT(sts_policy_match_host(&pol, "example.net", 11), 0);
	CHECK_EQ_INT(sts_policy_match_host(&pol, "mx2.example.com", 15), 0);
}

/* Certificates ----------------------------------------------------------- */

static EVP_PKEY *key;

/*
 * A certificate signed by key with the given CN (NULL: none) and dNSName
 * SANs (NULL-terminated; NULL: no SAN extension). A name "x\\0y" (with
 * len -1 replaced by sanlen) is for the NUL test: sanlen > 0 sets the
 * length of the first SAN.
 */
static X509 *
cert(const char *cn, const char *const *sans, int sanlen)
{
	X509 *x = X509_new();
	X509_NAME *nm;

	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL)
		abort();
	nm = X509_get_subject_name(x);
	if (cn != NULL && !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const uint8_t *)cn, -1, -1, 0))
		abort();
	if (sans != NULL) {
		GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

		for (size_t i = 0; sans[i] != NULL; i++) {
			GENERAL_NAME *g = GENERAL_NAME_new();
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();
			int len = i == 0 && sanlen > 0 ? sanlen :
			    (int)strlen(sans[i]);

			if (g == NULL || s == NULL ||
			    !ASN1_STRING_set(s, sans[i], len))
				abort();
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
			if (!sk_GENERAL_NAME_push(gens, g))
				abort();
		}
		if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0))
			abort();
		GENERAL_NAMES_free(gens);
	}
	if (!X509_set_issuer_name(x, nm) || !X509_set_pubkey(x, key) ||
	    !X509_sign(x, key, EVP_sha256()))
		abort();
	return x;
}

/* Does a certificate with these SANs match a policy of one pattern? */
static int
cm(const char *pattern, const char *const *sans)
{
	X509 *x = cert("ignored.invalid", sans, 0);
	int r;

	pol.nmx = 1;
	pol.mode = STS_MODE_ENFORCE;
	snprintf(pol.mx[0], sizeof(pol.mx[0]), "%s", pattern);
	r = sts_cert_matches(&pol, x);
	X509_free(x);
	return r;
}

static void
test_cert(void)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	static const char *const plain[] = { "mx1.example.com", NULL };
	static const char *const upper[] = { "MX1.EXAMPLE.COM", NULL };
	static const char *const wild[] = { "*.example.com", NULL };
	static const char *const tld[] = { "*.com", NULL };
	static const char *const partial[] = { "m*.example.com", NULL };
	static const char *const dot[] = { "mx1.example.com.", NULL };
	static const char *const second[] = { "other.example.org",
		"mx1.example.com", NULL };
	static const char *const none[] = { NULL };
	X509 *x;

	key = EVP_PKEY_new();
	if (ec == NULL || key == NULL || !EC_KEY_generate_key(ec) ||
	    !EVP_PKEY_assign_EC_KEY(key, ec))
		abort();

	/* A name SAN: matched as the MX host would be. */
	CHECK_EQ_INT(cm("mx1.example.com", plain), 1);
	CHECK_EQ_INT(cm("MX1.example.com", plain), 1);
	CHECK_EQ_INT(cm("mx1.example.com", upper), 1);
	CHECK_EQ_INT(cm("*.example.com", plain), 1);
	CHECK_EQ_INT(cm("example.com", plain), 0);
	CHECK_EQ_INT(cm("mx2.example.com", plain), 0);
	CHECK_EQ_INT(cm("*.com", plain), 0);
	CHECK_EQ_INT(cm("mx1.example.com", second), 1);
	/* A wildcard SAN stands for the hosts one label below its rest. */
	CHECK_EQ_INT(cm("mx.example.com", wild), 1);
	CHECK_EQ_INT(cm("*.example.com", wild), 1);
	CHECK_EQ_INT(cm("*.EXAMPLE.com", wild), 1);
	CHECK_EQ_INT(cm("example.com", wild), 0);
	CHECK_EQ_INT(cm("a.b.example.com", wild), 0);
	CHECK_EQ_INT(cm("*.b.example.com", wild), 0);
	CHECK_EQ_INT(cm("*.com", wild), 0);
	CHECK_EQ_INT(cm("mx.example.org", wild), 0);
	/* Not "*.com", not a partial wildcard, not an absolute name. */
	CHECK_EQ_INT(cm("example.com", tld), 0);
	CHECK_EQ_INT(cm("*.com", tld), 0);
	CHECK_EQ_INT(cm("mx.example.com", partial), 0);
	CHECK_EQ_INT(cm("m.example.com", partial), 0);
	CHECK_EQ_INT(cm("mx1.example.com", dot), 0);
	/* An empty SAN extension, and none. */
	CHECK_EQ_INT(cm("mx1.example.com", none), 0);

	/* RFC 8461 4.2 wants a SAN DNS-ID: never the CN. */
	x = cert("mx1.example.com", NULL, 0);
	pol.nmx = 1;
	snprintf(pol.mx[0], sizeof(pol.mx[0]), "mx1.example.com");
	CHECK_EQ_INT(sts_cert_matches(&pol, x), 0);
	X509_free(x);
	x = cert("mx1.example.com", second + 0 + 0, 0);
	snprintf(pol.mx[0], sizeof(pol.mx[0]), "other.example.org");
	CHECK_EQ_INT(sts_cert_matches(&pol, x), 1);
	X509_free(x);
	{
		static const char *const cnonly[] = { "other.example.org",
			NULL };

		x = cert("mx1.example.com", cnonly, 0);
		snprintf(pol.mx[0], sizeof(pol.mx[0]), "mx1.example.com");
		CHECK_EQ_INT(sts_cert_matches(&pol, x), 0);
		X509_free(x);
	}
	/* A NUL inside a SAN is no end of it. */
	{
		static const char *const nul[] = { "mx1.example.com\0.evil",
			NULL };

		x = cert(NULL, nul, 21);
		CHECK_EQ_INT(sts_cert_matches(&pol, x), 0);
		X509_free(x);
	}
	/* No patterns (mode none): nothing matches. */
	x = cert(NULL, plain, 0);
	pol.nmx = 0;
	CHECK_EQ_INT(sts_cert_matches(&pol, x), 0);
	X509_free(x);
	CHECK_EQ_INT(sts_cert_matches(&pol, NULL), 0);
	EVP_PKEY_free(key);
}

int
main(void)
{
	RUN(test_txt_basic);
	RUN(test_txt_extensions);
	RUN(test_txt_version);
	RUN(test_txt_octets);
	RUN(test_policy_basic);
	RUN(test_policy_required);
	RUN(test_policy_max_age);
	RUN(test_policy_mx);
	RUN(test_policy_mx_count);
	RUN(test_policy_duplicates);
	RUN(test_policy_unknown);
	RUN(test_policy_lines);
	RUN(test_policy_size);
	RUN(test_policy_format);
	RUN(test_mx_match);
	RUN(test_cert);
	return CHECK_DONE();
}
