/*
 * policy: domain lookup and the decision. Linear search over the
 * configured policies: a config holds at most CONFIG_MAX_POLICIES and a
 * lookup happens once per RCPT.
 */
#include <string.h>
#include <strings.h>

#include "policy.h"

/* RFC 1035 2.3.4: a domain name's text form without the final dot. */
#define POLICY_DOMAIN_MAX 253

static const config_policy_t *
policy_lookup(const config_t *cfg, const char *name, size_t len)
{
	for (int i = 0; i < cfg->npolicies; i++) {
		const config_policy_t *p = &cfg->policies[i];
		if (strlen(p->domain) == len &&
		    strncasecmp(p->domain, name, len) == 0)
			return p;
	}
	return NULL;
}

const config_policy_t *
policy_find(const config_t *cfg, const uint8_t *dom, size_t len)
{
	char name[POLICY_DOMAIN_MAX + 2];
	const config_policy_t *p;

	if (len > 0 && dom[len - 1] == '.')
		len--;
	if (len == 0 || len > POLICY_DOMAIN_MAX ||
	    memchr(dom, '\0', len) != NULL)
		return NULL;
	memcpy(name, dom, len);
	name[len] = '\0';
	if ((p = policy_lookup(cfg, name, len)) != NULL)
		return p;
	/* ".parent" sections, nearest parent first. */
	for (size_t i = 1; i < len; i++) {
		if (name[i] != '.')
			continue;
		if ((p = policy_lookup(cfg, name + i, len - i)) != NULL)
			return p;
	}
	return NULL;
}

policy_outcome_t
policy_check(const config_policy_t *p, const policy_facts_t *f)
{
	/* tls = may: the operator exempts the domain from published
	 * policies (DANE, MTA-STS); nothing is demanded. tls = dane: TLS here,
	 * authentication by the caller's DANE check. */
	if (p == NULL || p->tls == OUT_TLS_MAY)
		return POLICY_OK;
	if (!f->tls)
		return POLICY_NO_TLS;
	if (p->tls != OUT_TLS_VERIFY)
		return POLICY_OK;
	if (!f->trusted || f->matches == NULL)
		return POLICY_NOT_VERIFIED;
	for (int i = 0; i < p->nmatch; i++)
		if (f->matches(f->arg, p->match[i]))
			return POLICY_OK;
	return POLICY_NOT_VERIFIED;
}

const char *
policy_verify_name(policy_verify_t v)
{
	static const char *const names[] = { "none", "Anonymous",
		"Untrusted", "Trusted", "Verified" };

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] :
	    "?";
}

const char *
policy_outcome_name(policy_outcome_t o)
{
	static const char *const names[] = { "ok", "no-tls", "not-verified" };

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] :
	    "?";
}
