/*
 * test_party: the [party:NAME] decision (party.c) on configs built in
 * memory: which trigger applies to MAIL and RCPT, domain matching as
 * [policy:DOMAIN] (exact, ".suffix" below only), and each verdict.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "party.h"

#define D(s) (const uint8_t *)(s), strlen(s)

static struct sockaddr_storage
v4(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return ss;
}

static void
test_domain_match(void)
{
	CHECK_EQ_INT(party_domain_match("example.com", D("example.com")), 1);
	CHECK_EQ_INT(party_domain_match("example.com", D("EXAMPLE.Com.")), 1);
	CHECK_EQ_INT(party_domain_match("example.com", D("a.example.com")), 0);
	CHECK_EQ_INT(party_domain_match("example.com", D("xexample.com")), 0);
	CHECK_EQ_INT(party_domain_match(".example.com", D("a.example.com")),
	    1);
	CHECK_EQ_INT(party_domain_match(".example.com",
	    D("b.a.Example.COM")), 1);
	CHECK_EQ_INT(party_domain_match(".example.com", D("example.com")), 0);
	CHECK_EQ_INT(party_domain_match(".example.com", D("xexample.com")), 0);
	CHECK_EQ_INT(party_domain_match("example.com", D("")), 0);
	CHECK_EQ_INT(party_domain_match("example.com", D(".")), 0);
	CHECK_EQ_INT(party_domain_match("a.b", (const uint8_t *)"a.b\0", 4),
	    0);
}

static int
names_match(void *arg, const char *name)
{
	return strcmp(arg, name) == 0;
}

/* A config with two parties: "bank" (verify; clients, senders, names,
 * fingerprints) and "legal" (encrypt; recipients). */
typedef struct {
	config_t cfg;
	config_party_t p[2];
	char *s0, *s1, *r0, *n0;
} fixture_t;

static void
fixture(fixture_t *x)
{
	memset(x, 0, sizeof(*x));
	x->p[0].name = "bank";
	x->p[0].tls = PARTY_TLS_VERIFY;
	x->p[0].nclients = 1;
	x->p[0].clients[0].family = AF_INET;
	inet_pton(AF_INET, "192.0.2.0", x->p[0].clients[0].addr);
	x->p[0].clients[0].prefix = 24;
	x->p[0].senders[0] = "bank.example";
	x->p[0].senders[1] = ".bank.example";
	x->p[0].nsenders = 2;
	x->p[0].nfingerprints = 1;
	memset(x->p[0].fingerprints[0], 0xaa, CONFIG_SHA256_LEN);
	x->p[0].names[0] = "mx.bank.example";
	x->p[0].nnames = 1;
	x->p[1].name = "legal";
	x->p[1].tls = PARTY_TLS_ENCRYPT;
	x->p[1].recipients[0] = "legal.example";
	x->p[1].nrecipients = 1;
	x->cfg.parties = x->p;
	x->cfg.nparties = 2;
}

static void
test_triggers(void)
{
	fixture_t x;
	party_facts_t plain = { 0 };
	struct sockaddr_storage in = v4("192.0.2.77"), out = v4("198.51.100.1");
	party_decision_t d;

	fixture(&x);
	/* MAIL: the client's network alone. */
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&in, NULL, 0, &plain, &d), 1);
	CHECK_EQ_INT(d.index, 0);
	CHECK_EQ_INT(d.by, PARTY_BY_CLIENT);
	CHECK_EQ_INT(d.result, PARTY_NO_TLS);
	/* MAIL: the sender's domain alone, exact and below. */
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&out, D("Bank.Example"), &plain, &d), 1);
	CHECK_EQ_INT(d.by, PARTY_BY_SENDER);
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&out, D("eu.bank.example"), &plain, &d), 1);
	/* Neither. A recipients list never applies to MAIL. */
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&out, D("other.example"), &plain, &d), 0);
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&out, D("legal.example"), &plain, &d), 0);
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL, NULL, NULL, 0,
	    &plain, &d), 0);
	/* RCPT: the recipient's domain only; the client is not looked at. */
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_RCPT,
	    (struct sockaddr *)&in, D("legal.example"), &plain, &d), 1);
	CHECK_EQ_INT(d.index, 1);
	CHECK_EQ_INT(d.by, PARTY_BY_RECIPIENT);
	CHECK_EQ_INT(d.result, PARTY_NO_TLS);
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_RCPT,
	    (struct sockaddr *)&in, D("bank.example"), &plain, &d), 0);
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_RCPT,
	    (struct sockaddr *)&in, D("sub.legal.example"), &plain, &d), 0);
}

static void
test_verdicts(void)
{
	fixture_t x;
	uint8_t good[CONFIG_SHA256_LEN], other[CONFIG_SHA256_LEN];
	party_facts_t f = { 1, 1, 1, good, names_match, "nobody" };
	struct sockaddr_storage in = v4("192.0.2.1");
	party_decision_t d;

	fixture(&x);
	memset(good, 0xaa, sizeof(good));
	memset(other, 0xbb, sizeof(other));
	/* encrypt: TLS is enough. */
	CHECK_EQ_INT(party_check(&x.p[1], &f), PARTY_OK);
	f.cert = 0;
	CHECK_EQ_INT(party_check(&x.p[1], &f), PARTY_OK);
	/* verify: a certificate, trusted, listed by fingerprint or name. */
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_NO_CERT);
	f.cert = 1;
	f.trusted = 0;
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_UNTRUSTED);
	f.trusted = 1;
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_OK);
	f.sha256 = other;
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_NOT_LISTED);
	f.arg = "mx.bank.example";
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_OK);
	f.sha256 = NULL;
	f.matches = NULL;
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_NOT_LISTED);
	/* Without lists, any trusted certificate. */
	x.p[0].nfingerprints = 0;
	x.p[0].nnames = 0;
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_OK);
	f.tls = 0;
	CHECK_EQ_INT(party_check(&x.p[0], &f), PARTY_NO_TLS);
	CHECK_EQ_INT(party_check(&x.p[1], &f), PARTY_NO_TLS);

	/* Every applying party must agree: the first refusal wins, else the
	 * first that applied is reported. */
	fixture(&x);
	x.p[1].senders[0] = "bank.example";
	x.p[1].nsenders = 1;
	f.tls = 1;
	f.cert = 0;
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&in, D("bank.example"), &f, &d), 1);
	CHECK_EQ_INT(d.index, 0);
	CHECK_EQ_INT(d.result, PARTY_NO_CERT);
	x.p[0].tls = PARTY_TLS_ENCRYPT;
	x.p[1].tls = PARTY_TLS_VERIFY;
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&in, D("bank.example"), &f, &d), 1);
	CHECK_EQ_INT(d.index, 1);
	CHECK_EQ_INT(d.by, PARTY_BY_SENDER);
	CHECK_EQ_INT(d.result, PARTY_NO_CERT);
	x.p[1].tls = PARTY_TLS_ENCRYPT;
	CHECK_EQ_INT(party_decide(&x.cfg, PARTY_CMD_MAIL,
	    (struct sockaddr *)&in, D("bank.example"), &f, &d), 1);
	CHECK_EQ_INT(d.index, 0);
	CHECK_EQ_INT(d.by, PARTY_BY_CLIENT);
	CHECK_EQ_INT(d.result, PARTY_OK);
}

static void
test_names(void)
{
	CHECK(strcmp(party_result_name(PARTY_NOT_LISTED), "not-listed") == 0);
	CHECK(strcmp(party_result_name(PARTY_RESULTS), "?") == 0);
	CHECK(strcmp(party_by_name(PARTY_BY_RECIPIENT), "recipients") == 0);
}

int
main(void)
{
	RUN(test_domain_match);
	RUN(test_triggers);
	RUN(test_verdicts);
	RUN(test_names);
	return CHECK_DONE();
}
