/*
 * policy: per-recipient-domain TLS demands for outbound mail. Pure: the
 * facts of the upstream session come in, a decision goes out.
 *
 * Lookup: a [policy:DOMAIN] covers exactly DOMAIN. A section written
 * [policy:.DOMAIN] covers every subdomain of DOMAIN (not DOMAIN itself);
 * the exact section wins over a parent's, and the nearest parent wins over
 * farther ones. Domains compare case-insensitively, without a trailing dot.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Verification outcome in Postfix's vocabulary. */
typedef enum {
	VERIFY_NONE,       /* no TLS */
	VERIFY_ANONYMOUS,  /* TLS without a certificate */
	VERIFY_UNTRUSTED,  /* certificate chain not trusted (or expired) */
	VERIFY_TRUSTED,    /* chain trusted, name not matched */
	VERIFY_VERIFIED    /* chain trusted and name matched */
} policy_verify_t;

typedef enum {
	POLICY_OK,            /* the demand is met (or there is none) */
	POLICY_NO_TLS,        /* 4.7.4: TLS demanded, session not encrypted */
	POLICY_NOT_VERIFIED   /* 4.7.5: verify demanded, chain or name failed */
} policy_outcome_t;

/* What is known of the upstream session. */
typedef struct {
	int tls;       /* encrypted */
	int trusted;   /* chain verified to a trust anchor, within its dates */
	/* Whether the peer certificate matches name ("host" or ".suffix"). */
	int (*matches)(void *arg, const char *name);
	void *arg;
} policy_facts_t;

/*
 * policy_find returns the policy for a recipient domain dom[0..len), or
 * NULL. The result is borrowed from cfg.
 */
const config_policy_t *policy_find(const config_t *cfg, const uint8_t *dom,
    size_t len);

/* policy_check decides whether facts meet p's demand. */
policy_outcome_t policy_check(const config_policy_t *p,
    const policy_facts_t *f);

/* "none", "Anonymous", "Untrusted", "Trusted", "Verified". */
const char *policy_verify_name(policy_verify_t v);

/* "ok", "no-tls", "not-verified". */
const char *policy_outcome_name(policy_outcome_t o);

#endif
