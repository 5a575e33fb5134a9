/* Unit tests for proxy/policy.c: domain lookup and the decision. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "policy.h"

static config_policy_t pols[4];
static config_t cfg;

static void
setup(void)
{
	static char d0[] = "partner.example", d1[] = ".corp.example",
	    d2[] = "eu.corp.example", d3[] = "enc.example";
	static char m0[] = "mx.partner.example", m1[] = ".corp.example",
	    m1b[] = "mail.other.example";

	memset(pols, 0, sizeof(pols));
	pols[0].domain = d0;
	pols[0].tls = OUT_TLS_VERIFY;
	pols[0].match[0] = m0;
	pols[0].nmatch = 1;
	pols[1].domain = d1;
	pols[1].tls = OUT_TLS_VERIFY;
	pols[1].match[0] = m1;
	pols[1].match[1] = m1b;
	pols[1].nmatch = 2;
	pols[2].domain = d2;
	pols[2].tls = OUT_TLS_ENCRYPT;
	pols[3].domain = d3;
	pols[3].tls = OUT_TLS_ENCRYPT;
	memset(&cfg, 0, sizeof(cfg));
	cfg.policies = pols;
	cfg.npolicies = 4;
}

static const config_policy_t *
find(const char *d)
{
	return policy_find(&cfg, (const uint8_t *)d, strlen(d));
}

static void
test_find_exact_and_case(void)
{
	CHECK(find("partner.example") == &pols[0]);
	CHECK(find("Partner.EXAMPLE") == &pols[0]);
	CHECK(find("partner.example.") == &pols[0]);
	CHECK(find("xpartner.example") == NULL);
	CHECK(find("example") == NULL);
	CHECK(find("") == NULL);
	CHECK(find(".") == NULL);
}

static void
test_find_subdomains(void)
{
	/* [policy:partner.example] does not cover its subdomains. */
	CHECK(find("sub.partner.example") == NULL);
	/* [policy:.corp.example] covers subdomains, not the domain. */
	CHECK(find("corp.example") == NULL);
	CHECK(find("a.corp.example") == &pols[1]);
	CHECK(find("a.b.CORP.example.") == &pols[1]);
	/* An exact section beats the parent's. */
	CHECK(find("eu.corp.example") == &pols[2]);
	/* The parent covers names below the exact one. */
	CHECK(find("x.eu.corp.example") == &pols[1]);
}

static void
test_find_bounds(void)
{
	char big[300];
	uint8_t nul[] = { 'e', 'n', 'c', '\0', '.', 'e', 'x' };

	memset(big, 'a', sizeof(big));
	CHECK(policy_find(&cfg, (const uint8_t *)big, sizeof(big)) == NULL);
	/* A NUL cannot cut a domain short into a configured one. */
	CHECK(policy_find(&cfg, nul, sizeof(nul)) == NULL);
	/* Only len bytes are read. */
	CHECK(policy_find(&cfg, (const uint8_t *)"enc.example.org", 11) ==
	    &pols[3]);
}

static const char *matching_name;

static int
matches(void *arg, const char *name)
{
	(void)arg;
	return matching_name != NULL && strcmp(name, matching_name) == 0;
}

static void
test_check(void)
{
	policy_facts_t f = { 0, 0, matches, NULL };

	CHECK_EQ_INT(policy_check(NULL, &f), POLICY_OK);
	CHECK_EQ_INT(policy_check(&pols[3], &f), POLICY_NO_TLS);
	CHECK_EQ_INT(policy_check(&pols[0], &f), POLICY_NO_TLS);
	f.tls = 1;
	CHECK_EQ_INT(policy_check(&pols[3], &f), POLICY_OK);
	/* verify: an untrusted chain fails even when the name matches. */
	matching_name = "mx.partner.example";
	CHECK_EQ_INT(policy_check(&pols[0], &f), POLICY_NOT_VERIFIED);
	f.trusted = 1;
	CHECK_EQ_INT(policy_check(&pols[0], &f), POLICY_OK);
	matching_name = "other.example";
	CHECK_EQ_INT(policy_check(&pols[0], &f), POLICY_NOT_VERIFIED);
	/* Any one of several match names will do. */
	matching_name = "mail.other.example";
	CHECK_EQ_INT(policy_check(&pols[1], &f), POLICY_OK);
	f.matches = NULL;
	CHECK_EQ_INT(policy_check(&pols[1], &f), POLICY_NOT_VERIFIED);
}

static void
test_names(void)
{
	CHECK(strcmp(policy_verify_name(VERIFY_NONE), "none") == 0);
	CHECK(strcmp(policy_verify_name(VERIFY_UNTRUSTED), "Untrusted") == 0);
	CHECK(strcmp(policy_verify_name(VERIFY_TRUSTED), "Trusted") == 0);
	CHECK(strcmp(policy_verify_name(VERIFY_VERIFIED), "Verified") == 0);
	CHECK(strcmp(policy_outcome_name(POLICY_NOT_VERIFIED),
	    "not-verified") == 0);
}

int
main(void)
{
	setup();
	RUN(test_find_exact_and_case);
	RUN(test_find_subdomains);
	RUN(test_find_bounds);
	RUN(test_check);
	RUN(test_names);
	return CHECK_DONE();
}
