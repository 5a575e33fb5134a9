/* Unit tests for proxy/tlsrpt.c: the libtlsrpt datagram against the JSON
 * fixtures in tests/fixtures/tlsrpt/ (byte for byte). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tlsrpt.h"

static char want[8192];

/* Reads tests/fixtures/tlsrpt/NAME into want; returns its length or -1. */
static long
fixture(const char *name)
{
	const char *src = getenv("STP_SOURCE_DIR");
	char path[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/tests/fixtures/tlsrpt/%s",
	    src != NULL ? src : "../..", name);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	n = fread(want, 1, sizeof(want), f);
	fclose(f);
	return (long)n;
}

static void
check_fixture(const tlsrpt_rec_t *r, const char *name)
{
	char out[8192];
	long wl = fixture(name);
	int n = tlsrpt_encode(r, out, sizeof(out));

	CHECK(wl > 0);
	CHECK(n > 0);
	if (wl > 0 && n > 0)
		CHECK_MEM(out, (size_t)n, want, (size_t)wl);
	/* Every shorter buffer is refused, never cut. */
	for (int cap = 0; n > 0 && cap < n; cap++)
		CHECK(tlsrpt_encode(r, out, (size_t)cap) == -1);
}

static void
test_tlsa_failure(void)
{
	static const char *const tlsa[] = {
		"3 1 1 1f850a337e6db9c609c522d136a475638cc43e1ed424f8eec8513d747d1d085d",
		"2 0 1 12350a337e6db9c6123522d136a475638cc43e1ed424f8eec8513d747d1d1234",
	};
	tlsrpt_rec_t r = {
		.domain = "dane.example",
		.record = "v=TLSRPTv1; rua=mailto:tlsrpt@dane.example",
		.type = TLSRPT_POLICY_TLSA, .policy_domain = "dane.example",
		.strings = tlsa, .nstrings = 2,
		.result = TLSRPT_VALIDATION_FAILURE,
		.sending_ip = "192.0.2.1", .mx_name = "mx.dane.example",
		.receiving_ip = "198.51.100.25",
		.info = "no TLSA record matches the chain",
	};

	check_fixture(&r, "tlsa_failure.json");
}

static void
test_sts_success(void)
{
	static const char *const pol[] = { "version: STSv1", "mode: enforce",
		"mx: mx1.sts.example", "mx: *.mx.sts.example",
		"max_age: 86400" };
	static const char *const mx[] = { "mx1.sts.example",
		"*.mx.sts.example" };
	tlsrpt_rec_t r = {
		.domain = "sts.example",
		.record = "v=TLSRPTv1;rua=mailto:r@sts.example,"
		    "https://r.sts.example/v1",
		.type = TLSRPT_POLICY_STS, .policy_domain = "sts.example",
		.strings = pol, .nstrings = 5, .mx = mx, .nmx = 2,
		.result = TLSRPT_SUCCESS,
		/* A success has no failure details, whatever is given. */
		.sending_ip = "192.0.2.1", .receiving_ip = "192.0.2.2",
	};

	check_fixture(&r, "sts_success.json");
}

static void
test_none_starttls(void)
{
	tlsrpt_rec_t r = {
		.domain = "plain.example",
		.record = "v=TLSRPTv1; rua=mailto:x@plain.example",
		.type = TLSRPT_POLICY_NONE, .policy_domain = "plain.example",
		.result = TLSRPT_STARTTLS_NOT_SUPPORTED,
		.sending_ip = "2001:db8::1", .receiving_ip = "2001:db8::25",
	};

	check_fixture(&r, "none_starttls.json");
}

static void
test_escape(void)
{
	/* '"', '\\', control octets, DEL, valid UTF-8 kept, a stray 0xff
	 * and a cut sequence made U+FFFD; NULL record as "". */
	static const char *const s[] = { "q\"b\\c\x01\x7f\xc3\xa9\xff\xc3" };
	tlsrpt_rec_t r = {
		.domain = "esc.example", .record = NULL,
		.type = TLSRPT_POLICY_STS, .policy_domain = "esc.example",
		.strings = s, .nstrings = 1,
		.result = TLSRPT_STS_WEBPKI_INVALID, .info = "tab\there",
	};

	check_fixture(&r, "escape.json");
}

static void
test_codes_and_names(void)
{
	static const int codes[TLSRPT_RESULT_COUNT] = { 0, 201, 202, 203,
		204, 205, 301, 302, 303, 304, 305, 306 };

	for (int i = 0; i < TLSRPT_RESULT_COUNT; i++) {
		CHECK_EQ_INT(tlsrpt_result_code((tlsrpt_result_t)i), codes[i]);
		CHECK(tlsrpt_result_names[i] != NULL);
	}
	CHECK(strcmp(tlsrpt_result_names[TLSRPT_CERT_HOST_MISMATCH],
	    "certificate-host-mismatch") == 0);
	CHECK(strcmp(tlsrpt_result_names[TLSRPT_CERT_NOT_TRUSTED],
	    "certificate-not-trusted") == 0);
	CHECK(strcmp(tlsrpt_result_names[TLSRPT_DANE_REQUIRED],
	    "dane-required") == 0);
	CHECK_EQ_INT(tlsrpt_policy_code(TLSRPT_POLICY_TLSA), 1);
	CHECK_EQ_INT(tlsrpt_policy_code(TLSRPT_POLICY_STS), 2);
	CHECK_EQ_INT(tlsrpt_policy_code(TLSRPT_POLICY_NONE), 9);
	CHECK(strcmp(tlsrpt_policy_names[TLSRPT_POLICY_NONE],
	    "no-policy-found") == 0);
}

int
main(void)
{
	RUN(test_tlsa_failure);
	RUN(test_sts_success);
	RUN(test_none_starttls);
	RUN(test_escape);
	RUN(test_codes_and_names);
	return CHECK_DONE();
}
