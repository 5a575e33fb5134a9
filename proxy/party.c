/*
 * party: see party.h. Linear over the configured parties and their lists:
 * at most CONFIG_MAX_PARTIES of CONFIG_MAX_PARTY_LIST entries, once per
 * MAIL or RCPT.
 */
#include <string.h>
#include <strings.h>

#include "party.h"

/* RFC 1035 2.3.4: a domain name's text form without the final dot. */
#define PARTY_DOMAIN_MAX 253

int
party_domain_match(const char *pat, const uint8_t *dom, size_t len)
{
	size_t pn = strlen(pat);

	if (len > 0 && dom[len - 1] == '.')
		len--;
	if (len == 0 || len > PARTY_DOMAIN_MAX ||
	    memchr(dom, '\0', len) != NULL)
		return 0;
	if (pat[0] != '.')
		return pn == len && strncasecmp(pat, (const char *)dom,
		    len) == 0;
	/* ".example": a name below example, so at least one more label. */
	return len > pn && strncasecmp(pat, (const char *)dom + len - pn,
	    pn) == 0;
}

static int
party_list_match(char *const *list, int n, const uint8_t *dom, size_t len)
{
	if (dom == NULL)
		return 0;
	for (int i = 0; i < n; i++)
		if (party_domain_match(list[i], dom, len))
			return 1;
	return 0;
}

party_result_t
party_check(const config_party_t *p, const party_facts_t *f)
{
	if (!f->tls)
		return PARTY_NO_TLS;
	if (p->tls != PARTY_TLS_VERIFY)
		return PARTY_OK;
	if (!f->cert)
		return PARTY_NO_CERT;
	if (!f->trusted)
		return PARTY_UNTRUSTED;
	if (p->nfingerprints == 0 && p->nnames == 0)
		return PARTY_OK;
	for (int i = 0; f->sha256 != NULL && i < p->nfingerprints; i++)
		if (memcmp(p->fingerprints[i], f->sha256,
		    CONFIG_SHA256_LEN) == 0)
			return PARTY_OK;
	for (int i = 0; f->matches != NULL && i < p->nnames; i++)
		if (f->matches(f->arg, p->names[i]))
			return PARTY_OK;
	return PARTY_NOT_LISTED;
}

/* Whether p applies to the command, and by which trigger. */
static int
party_applies(const config_party_t *p, party_cmd_t cmd,
    const struct sockaddr *client, const uint8_t *dom, size_t len,
    party_by_t *by)
{
	if (cmd == PARTY_CMD_RCPT) {
		*by = PARTY_BY_RECIPIENT;
		return party_list_match(p->recipients, p->nrecipients, dom,
		    len);
	}
	if (client != NULL &&
	    config_cidr_match(p->clients, p->nclients, client)) {
		*by = PARTY_BY_CLIENT;
		return 1;
	}
	*by = PARTY_BY_SENDER;
	return party_list_match(p->senders, p->nsenders, dom, len);
}

int
party_decide(const config_t *cfg, party_cmd_t cmd,
    const struct sockaddr *client, const uint8_t *dom, size_t len,
    const party_facts_t *f, party_decision_t *d)
{
	int found = 0;

	for (int i = 0; i < cfg->nparties; i++) {
		const config_party_t *p = &cfg->parties[i];
		party_result_t r;
		party_by_t by;

		if (!party_applies(p, cmd, client, dom, len, &by))
			continue;
		r = party_check(p, f);
		if (!found || r != PARTY_OK) {
			d->index = i;
			d->by = by;
			d->result = r;
			found = 1;
		}
		if (r != PARTY_OK)
			break;
	}
	return found;
}

const char *
party_result_name(party_result_t r)
{
	static const char *const names[PARTY_RESULTS] = { "ok", "no-tls",
		"no-cert", "untrusted", "not-listed" };

	return (unsigned)r < PARTY_RESULTS ? names[r] : "?";
}

const char *
party_by_name(party_by_t b)
{
	switch (b) {
	case PARTY_BY_CLIENT:
		return "clients";
	case PARTY_BY_SENDER:
		return "senders";
	case PARTY_BY_RECIPIENT:
		return "recipients";
	}
	return "?";
}
