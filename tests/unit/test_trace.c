/*
 * test_trace: the trace field received_header = yes writes (trace.c),
 * byte for byte, in each TLS and certificate case, and the HELO check.
 */
#include <string.h>

#include "check.h"
#include "trace.h"

/* Wed, 02 Dec 2026 21:53:24 +0000 */
#define NOW ((time_t)1796248404)

static void
check_trace(const trace_info_t *t, const char *want)
{
	char out[TRACE_MAX];
	int n = trace_received(t, out, sizeof(out));

	CHECK(n > 0);
	if (n > 0)
		CHECK_MEM(out, (size_t)n, want, strlen(want));
	/* Exactly its length fits; one less does not. */
	CHECK_EQ_INT(trace_received(t, out, strlen(want) + 1),
	    (int)strlen(want));
	CHECK_EQ_INT(trace_received(t, out, strlen(want)), -1);
}

static void
test_cases(void)
{
	trace_info_t t;

	memset(&t, 0, sizeof(t));
	t.helo = "mx.partner.example";
	t.ehlo = 1;
	t.addr = "192.0.2.7";
	t.hostname = "gw.example";
	t.now = NOW;
	check_trace(&t,
	    "Received: from mx.partner.example (unknown [192.0.2.7])\r\n"
	    "\tby gw.example (starttls-proxy) with ESMTP;\r\n"
	    "\tWed, 02 Dec 2026 21:53:24 +0000\r\n");
	t.version = "TLSv1.3";
	t.cipher = "TLS_AES_256_GCM_SHA384";
	t.bits = 256;
	t.alg_bits = 256;
	check_trace(&t,
	    "Received: from mx.partner.example (unknown [192.0.2.7])\r\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
	    "(256/256 bits))\r\n"
	    "\t(No client certificate requested)\r\n"
	    "\tby gw.example (starttls-proxy) with ESMTPS;\r\n"
	    "\tWed, 02 Dec 2026 21:53:24 +0000\r\n");
	t.requested = 1;
	check_trace(&t,
	    "Received: from mx.partner.example (unknown [192.0.2.7])\r\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
	    "(256/256 bits))\r\n"
	    "\t(Client did not present a certificate)\r\n"
	    "\tby gw.example (starttls-proxy) with ESMTPS;\r\n"
	    "\tWed, 02 Dec 2026 21:53:24 +0000\r\n");
	t.present = 1;
	t.cn = "mx.partner.example";
	t.issuer_cn = "Partner CA";
	check_trace(&t,
	    "Received: from mx.partner.example (unknown [192.0.2.7])\r\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
	    "(256/256 bits))\r\n"
	    "\t(Client CN \"mx.partner.example\", Issuer \"Partner CA\" "
	    "(not verified))\r\n"
	    "\tby gw.example (starttls-proxy) with ESMTPS;\r\n"
	    "\tWed, 02 Dec 2026 21:53:24 +0000\r\n");
	t.trusted = 1;
	t.helo = "bad helo (spoofed)";
	t.addr = "2001:db8::7";
	t.v6 = 1;
	t.ehlo = 0;
	t.now = 0;
	check_trace(&t,
	    "Received: from [IPv6:2001:db8::7] (unknown [IPv6:2001:db8::7])"
	    "\r\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
	    "(256/256 bits))\r\n"
	    "\t(Client CN \"mx.partner.example\", Issuer \"Partner CA\" "
	    "(verified OK))\r\n"
	    "\tby gw.example (starttls-proxy) with SMTP;\r\n"
	    "\tThu, 01 Jan 1970 00:00:00 +0000\r\n");
}

static void
test_helo(void)
{
	CHECK_EQ_INT(trace_helo_ok("mx.example"), 1);
	CHECK_EQ_INT(trace_helo_ok("my_host-1.example"), 1);
	CHECK_EQ_INT(trace_helo_ok("[192.0.2.1]"), 1);
	CHECK_EQ_INT(trace_helo_ok("[IPv6:2001:db8::1]"), 1);
	CHECK_EQ_INT(trace_helo_ok(""), 0);
	CHECK_EQ_INT(trace_helo_ok("[]"), 0);
	CHECK_EQ_INT(trace_helo_ok("a b"), 0);
	CHECK_EQ_INT(trace_helo_ok("a)b"), 0);
	CHECK_EQ_INT(trace_helo_ok("a;b"), 0);
	CHECK_EQ_INT(trace_helo_ok("[1.2.3.4"), 0);
	CHECK_EQ_INT(trace_helo_ok("[1 2]"), 0);
	CHECK_EQ_INT(trace_helo_ok("\xc3\xa9.example"), 0);
}

int
main(void)
{
	RUN(test_cases);
	RUN(test_helo);
	return CHECK_DONE();
}
