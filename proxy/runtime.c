/*
 * runtime: see runtime.h. References are atomic because workers on other
 * threads drop theirs; nothing in a runtime changes after runtime_new.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayauth.h"
#include "runtime.h"
#include "tls.h"

static void
runtime_free(runtime_t *rt)
{
	if (rt->tls != NULL)
		for (int i = 0; i < rt->cfg->nlisteners; i++)
			tls_ctx_free(rt->tls[i]);
	if (rt->auth != NULL)
		for (int i = 0; i < rt->cfg->nlisteners; i++)
			relayauth_free(rt->auth[i]);
	if (rt->listen_tls != NULL)
		for (int i = 0; i < rt->cfg->nlisteners; i++)
			tls_ctx_free(rt->listen_tls[i]);
	free(rt->listen_tls);
	free(rt->auth);
	free(rt->tls);
	free(rt->slot);
	free(rt->domain_slot);
	free(rt->party_slot);
	tls_ctx_free(rt->sts_ctx);
	config_free(rt->cfg);
	free(rt);
}

/* The resolver settings of cfg (blocking file read: main thread). */
static void
runtime_dns(runtime_t *rt, const config_t *cfg)
{
	dns_config_t *dc = &rt->dns;

	memset(dc, 0, sizeof(*dc));
	if (cfg->dns.host != NULL && cfg->dns.addrlen != 0) {
		memcpy(&dc->server, &cfg->dns.addr, cfg->dns.addrlen);
		dc->server_len = cfg->dns.addrlen;
		rt->dns_source = "dns";
	} else if (dns_config_default(RUNTIME_RESOLV_CONF, dc) == 0) {
		rt->dns_source = "resolv.conf";
	} else {
		/* What the system resolver does without a nameserver. */
		struct sockaddr_in *sin = (struct sockaddr_in *)&dc->server;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(53);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		dc->server_len = sizeof(*sin);
		rt->dns_source = "default";
	}
	dc->timeout_ms = cfg->dns_timeout_ms;
	dc->trust_ad = cfg->dns_trust_ad;
	snprintf(dc->hosts_path, sizeof(dc->hosts_path), "%s", RUNTIME_HOSTS);
}

runtime_t *
runtime_new(config_t *cfg, stats_names_t *names, uint64_t generation,
    char *err, size_t errlen)
{
	runtime_t *rt;
	size_t nl = (size_t)cfg->nlisteners, np = (size_t)cfg->npolicies;
	size_t nparty = (size_t)cfg->nparties;

	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&rt->refs, 1);
	rt->cfg = cfg;
	rt->generation = generation;
	runtime_dns(rt, cfg);
	if ((rt->tls = calloc(nl ? nl : 1, sizeof(*rt->tls))) == NULL ||
	    (rt->auth = calloc(nl ? nl : 1, sizeof(*rt->auth))) == NULL ||
	    (rt->listen_tls = calloc(nl ? nl : 1,
	    sizeof(*rt->listen_tls))) == NULL ||
	    (rt->slot = calloc(nl ? nl : 1, sizeof(*rt->slot))) == NULL ||
	    (rt->domain_slot = calloc(np ? np : 1,
	    sizeof(*rt->domain_slot))) == NULL ||
	    (rt->party_slot = calloc(nparty ? nparty : 1,
	    sizeof(*rt->party_slot))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	for (size_t i = 0; i < nl; i++) {
		const config_listener_t *l = &cfg->listeners[i];
		char terr[256];

		if ((rt->slot[i] = stats_listener_slot(names, l->name,
		    (int)l->dir)) == -1) {
			snprintf(err, errlen, "[%s]: too many listener names "
			    "since start (at most %d)", l->name,
			    STATS_LISTENERS_MAX);
			goto err0;
		}
		terr[0] = '\0';
		if (l->dir == DIR_INBOUND && l->in_tls != IN_TLS_OFF)
			rt->tls[i] = tls_server_ctx_new(l, terr, sizeof(terr));
		else if (l->dir == DIR_OUTBOUND && l->out_tls != OUT_TLS_NONE)
			rt->tls[i] = tls_client_ctx_new(l, terr, sizeof(terr));
		if (terr[0] == '\0' && l->dir == DIR_OUTBOUND &&
		    l->listen_tls != IN_TLS_OFF)
			rt->listen_tls[i] = tls_listen_ctx_new(l, terr,
			    sizeof(terr));
		if (terr[0] == '\0' && l->auth_file != NULL)
			rt->auth[i] = relayauth_load(l->auth_file, terr,
			    sizeof(terr));
		if (terr[0] != '\0') {
			snprintf(err, errlen, "[%s]: %s", l->name, terr);
			goto err0;
		}
	}
	for (size_t i = 0; i < nl; i++) {
		char terr[256];

		/* Only when needed: the system bundle is read only then. */
		if (cfg->listeners[i].dir != DIR_OUTBOUND ||
		    !cfg->listeners[i].mta_sts)
			continue;
		if ((rt->sts_ctx = tls_https_ctx_new(cfg->mta_sts_ca_file,
		    terr, sizeof(terr))) == NULL) {
			snprintf(err, errlen, "mta_sts: %s", terr);
			goto err0;
		}
		break;
	}
	for (size_t i = 0; i < np; i++)
		if ((rt->domain_slot[i] = stats_domain_slot(names,
		    cfg->policies[i].domain)) == -1) {
			snprintf(err, errlen, "too many policy domains since "
			    "start (at most %d)", STATS_DOMAINS_MAX);
			goto err0;
		}
	for (size_t i = 0; i < nparty; i++)
		if ((rt->party_slot[i] = stats_party_slot(names,
		    cfg->parties[i].name)) == -1) {
			snprintf(err, errlen, "too many party names since "
			    "start (at most %d)", STATS_PARTIES_MAX);
			goto err0;
		}
	return rt;

err0:
	/* The caller keeps cfg on failure. */
	rt->cfg = NULL;
	if (rt->tls != NULL)
		for (size_t i = 0; i < nl; i++)
			tls_ctx_free(rt->tls[i]);
	if (rt->auth != NULL)
		for (size_t i = 0; i < nl; i++)
			relayauth_free(rt->auth[i]);
	if (rt->listen_tls != NULL)
		for (size_t i = 0; i < nl; i++)
			tls_ctx_free(rt->listen_tls[i]);
	free(rt->listen_tls);
	free(rt->auth);
	free(rt->tls);
	free(rt->slot);
	free(rt->domain_slot);
	free(rt->party_slot);
	tls_ctx_free(rt->sts_ctx);
	free(rt);
	return NULL;
}

runtime_t *
runtime_ref(runtime_t *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

void
runtime_unref(runtime_t *rt)
{
	if (rt == NULL)
		return;
	/* Release pairs with the acquire of whoever frees it. */
	if (atomic_fetch_sub_explicit(&rt->refs, 1,
	    memory_order_acq_rel) == 1)
		runtime_free(rt);
}
