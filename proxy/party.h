/*
 * party: the pure decision for [party:NAME] sections (inbound). No I/O:
 * the session's facts come in, the party that applies and its verdict go
 * out.
 *
 * A party applies to a command when any of its triggers matches it, each
 * on its own: MAIL by the real client's network (clients) or the sender's
 * domain (senders); RCPT by the recipient's domain (recipients). A
 * domain entry "example" is that domain only, ".example" every name below
 * it (not example itself), as in [policy:DOMAIN]; case-insensitive, a
 * trailing dot ignored. Every party that applies must be satisfied; the
 * first one (in file order) that is not gives the verdict.
 */
#ifndef PARTY_H
#define PARTY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

typedef enum { PARTY_CMD_MAIL, PARTY_CMD_RCPT } party_cmd_t;

/* Which trigger matched. */
typedef enum {
	PARTY_BY_CLIENT, PARTY_BY_SENDER, PARTY_BY_RECIPIENT
} party_by_t;

typedef enum {
	PARTY_OK,          /* the demand is met */
	PARTY_NO_TLS,      /* not encrypted: 530 5.7.0 */
	PARTY_NO_CERT,     /* verify: no client certificate: 530 5.7.0 */
	PARTY_UNTRUSTED,   /* verify: chain not trusted by client_ca: 550 */
	PARTY_NOT_LISTED,  /* verify: trusted, but neither its fingerprint nor
	                      a name is one of the party's: 550 5.7.1 */
	PARTY_RESULTS
} party_result_t;

/* What is known of the client session. */
typedef struct {
	int tls;                  /* encrypted */
	int cert;                 /* a client certificate was presented */
	int trusted;              /* its chain verified against client_ca */
	const uint8_t *sha256;    /* its DER leaf's SHA-256, or NULL */
	/* Whether the certificate names name ("host" or ".suffix"). */
	int (*matches)(void *arg, const char *name);
	void *arg;
} party_facts_t;

typedef struct {
	int index;                /* in cfg->parties */
	party_by_t by;
	party_result_t result;
} party_decision_t;

/*
 * party_domain_match: dom[0..len) (as sent; a final '.' ignored) is pat
 * ("example" exactly, ".example" below it). Returns 1 or 0.
 */
int party_domain_match(const char *pat, const uint8_t *dom, size_t len);

/*
 * party_decide judges one command. MAIL: client (the real client, may be
 * NULL) and dom, the sender's domain (NULL for none: <>); RCPT: dom, the
 * recipient's domain (client is not looked at: the MAIL was judged). Fills
 * *d with the first applying party that refuses, else the first that
 * applies, and returns 1; returns 0 when no party applies.
 */
int party_decide(const config_t *cfg, party_cmd_t cmd,
    const struct sockaddr *client, const uint8_t *dom, size_t len,
    const party_facts_t *f, party_decision_t *d);

/* party_check: whether f meets p's demand. */
party_result_t party_check(const config_party_t *p, const party_facts_t *f);

/* "ok", "no-tls", "no-cert", "untrusted", "not-listed". */
const char *party_result_name(party_result_t r);
/* "clients", "senders", "recipients". */
const char *party_by_name(party_by_t b);

#endif
