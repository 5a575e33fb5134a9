/*
 * worker: the thread body and the mailbox. main never touches a worker's
 * loop or sessions; it leaves a runtime in px->next or bits in px->cmd and
 * calls uv_async_send, and the worker does the rest on its own thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "listener.h"
#include "log.h"
#include "mtasts.h"
#include "session.h"
#include "tlscache.h"
#include "worker.h"

static void
worker_noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
worker_tick_cb(uv_timer_t *t)
{
	proxy_t *px = t->data;

	/* The same clock main reads (uv_now may lag by a cached turn). */
	atomic_store_explicit(&px->stats->heartbeat_ms, uv_hrtime() / 1000000,
	    memory_order_relaxed);
}

/* DNS ------------------------------------------------------------------ */

static void
worker_dnssec_set(proxy_t *px, uint64_t st)
{
	atomic_store_explicit(&px->stats->dnssec, st, memory_order_relaxed);
}

static void
worker_probe_cb(void *arg, const dns_result_t *r)
{
	proxy_t *px = arg;
	const config_t *cfg = px->rt->cfg;
	uint64_t prev = STATS_GET(px->stats->dnssec);
	const char *type = dns_qtype_name(dns_qtype_index(
	    cfg->dnssec_probe_type));
	char resolver[ADDR_STR_MAX];

	px->probe = NULL;
	addr_format((const struct sockaddr *)&px->rt->dns.server, resolver,
	    sizeof(resolver));
	if (r->secure) {
		worker_dnssec_set(px, STATS_DNSSEC_OK);
		if (prev != STATS_DNSSEC_OK)
			log_event(LOG_INFO, "dnssec_ok", "resolver", resolver,
			    "probe_type", type, "probe_name",
			    cfg->dnssec_probe_name, NULL);
		return;
	}
	worker_dnssec_set(px, STATS_DNSSEC_NONE);
	/* Once per change: every ten minutes would bury it. */
	if (prev != STATS_DNSSEC_NONE)
		log_event(LOG_WARN, "dnssec_unavailable", "resolver", resolver,
		    "probe_type", type, "probe_name", cfg->dnssec_probe_name,
		    "status", dns_status_name(r->status), "reason",
		    r->status != DNS_OK && r->status != DNS_NODATA &&
		    r->status != DNS_NXDOMAIN ? "no answer" :
		    r->ans != NULL && r->ans->secure ? "AD from a resolver "
		    "not on loopback (dns_trust_ad = no)" : "no AD bit",
		    "result", "DANE cannot apply", NULL);
}

static void worker_probe_timer_cb(uv_timer_t *t);

/*
 * Worker 0 asks the resolver for dnssec_probe (Postfix's dnssec_probe,
 * ns:. by default) now and every WORKER_PROBE_MS: without a believed AD
 * bit DANE never applies, and that must show (stp_dnssec_ok, a warning).
 * One worker is enough: they all share the resolver settings.
 */
static void
worker_probe_start(proxy_t *px)
{
	const config_t *cfg = px->rt->cfg;

	dns_cancel(px->probe);
	px->probe = NULL;
	if (px->id != 0)
		return;
	/* Nothing to learn when no listener can apply DANE: no query
	 * leaves, and the gauge is absent as with the probe off. */
	if (cfg->dnssec_probe_type == 0 || cfg->dnssec_probe_name == NULL ||
	    px->dns == NULL || !config_uses_dane(cfg)) {
		worker_dnssec_set(px, STATS_DNSSEC_OFF);
		uv_timer_stop(&px->probe_timer);
		return;
	}
	if (STATS_GET(px->stats->dnssec) == STATS_DNSSEC_OFF)
		worker_dnssec_set(px, STATS_DNSSEC_PENDING);
	if ((px->probe = dns_probe(px->dns, cfg->dnssec_probe_name,
	    cfg->dnssec_probe_type, worker_probe_cb, px)) == NULL) {
		/* Out of memory (config checked the name): try next time. */
		worker_dnssec_set(px, STATS_DNSSEC_NONE);
	}
	uv_timer_start(&px->probe_timer, worker_probe_timer_cb,
	    WORKER_PROBE_MS, 0);
}

static void
worker_probe_timer_cb(uv_timer_t *t)
{
	worker_probe_start(t->data);
}

/*
 * A resolver for the current runtime, when there is none or its settings
 * changed (old is the runtime it was built for). The old resolver keeps
 * its lookups in flight until they end (dns_retire).
 */
static void
worker_dns_update(proxy_t *px, const runtime_t *old)
{
	char err[256], id[16];
	dns_t *d;

	if (px->dns != NULL && old != NULL &&
	    dns_config_same(&old->dns, &px->rt->dns))
		return;
	if ((d = dns_new(&px->loop, &px->rt->dns, px->stats->dns_queries,
	    err, sizeof(err))) == NULL) {
		snprintf(id, sizeof(id), "%d", px->id);
		log_event(LOG_ERROR, "dns_failed", "worker", id, "error", err,
		    "result", px->dns != NULL ? "the previous resolver stays" :
		    "no resolver", NULL);
		return;
	}
	/* The probe is a lookup of the old resolver: cancelled first. */
	dns_cancel(px->probe);
	px->probe = NULL;
	dns_retire(px->dns);
	px->dns = d;
}

/* Takes a runtime main left in the mailbox. */
static void
worker_take_runtime(proxy_t *px)
{
	runtime_t *rt = atomic_exchange(&px->next, NULL), *old;

	if (rt == NULL)
		return;
	old = px->rt;
	px->rt = rt;
	worker_dns_update(px, old);
	runtime_unref(old);
	atomic_store(&px->listen_failed,
	    listener_reconcile(px) == -1 ? 1 : 0);
	/* A reload re-probes: the operator may just have fixed it. */
	worker_probe_start(px);
}

static void
worker_wake_cb(uv_async_t *a)
{
	proxy_t *px = a->data;
	int cmd = atomic_exchange(&px->cmd, 0);

	worker_take_runtime(px);
	if ((cmd & PROXY_CMD_DRAIN) && !px->draining) {
		px->draining = 1;
		listener_close_all(px);
	}
	if (cmd & PROXY_CMD_EXPIRE) {
		px->expired = 1;
		session_shutdown_all(px, 0);
	}
	if (cmd & PROXY_CMD_STOP) {
		px->draining = 1;
		listener_close_all(px);
		session_shutdown_all(px, 1);
		/* Sessions cancelled their lookups as they closed; the
		 * MTA-STS lookups go before the resolver they use. */
		mtasts_free(px->mtasts);
		px->mtasts = NULL;
		outbound_rpt_abandon(px);
		dns_cancel(px->probe);
		px->probe = NULL;
		dns_free(px->dns);
		px->dns = NULL;
		uv_close((uv_handle_t *)&px->probe_timer, worker_noop_close_cb);
		uv_close((uv_handle_t *)&px->wake, worker_noop_close_cb);
		uv_close((uv_handle_t *)&px->tick, worker_noop_close_cb);
	}
}

proxy_t *
worker_new(int id, shared_t *sh, runtime_t *rt)
{
	proxy_t *px;

	if ((px = calloc(1, sizeof(*px))) == NULL ||
	    (px->stats = calloc(1, sizeof(*px->stats))) == NULL ||
	    (px->scratch = aligned_alloc(WORKER_PAGE,
	    CONN_SCRATCH_SIZE)) == NULL)
		goto err0;
	px->id = id;
	px->sh = sh;
	px->rt = rt;
	atomic_init(&px->next, NULL);
	atomic_init(&px->cmd, 0);
	atomic_init(&px->nsessions, 0);
	atomic_init(&px->listen_failed, 0);
	if (uv_loop_init(&px->loop) != 0)
		goto err0;
	uv_async_init(&px->loop, &px->wake, worker_wake_cb);
	px->wake.data = px;
	uv_timer_init(&px->loop, &px->tick);
	px->tick.data = px;
	uv_timer_init(&px->loop, &px->probe_timer);
	px->probe_timer.data = px;
	/* A worker whose thread has not turned its loop yet is not stalled:
	 * the heartbeat starts now, not at 0. */
	atomic_store_explicit(&px->stats->heartbeat_ms, uv_hrtime() / 1000000,
	    memory_order_relaxed);
	uv_timer_start(&px->tick, worker_tick_cb, 0, WORKER_TICK_MS);
	/* Bind on the caller's thread so start-up fails loudly and early. */
	if (listener_reconcile(px) == -1)
		atomic_store(&px->listen_failed, 1);
	return px;

err0:
	if (px != NULL) {
		free(px->stats);
		free(px->scratch);
	}
	free(px);
	runtime_unref(rt);
	log_event(LOG_ERROR, "worker_failed", NULL);
	return NULL;
}

/* The worker's MTA-STS lookups, over whatever resolver px->dns is. */
static void
worker_mtasts_start(proxy_t *px)
{
	mtasts_env_t env;

	memset(&env, 0, sizeof(env));
	env.loop = &px->loop;
	env.dns = &px->dns;
	env.cache = px->sh->stscache;
	env.scratch = px->scratch;
	env.pool = &px->pool;
	env.fetches = px->stats->sts_fetches;
	if ((px->mtasts = mtasts_new(&env)) == NULL)
		log_event(LOG_ERROR, "mta_sts_failed", "error", "out of memory",
		    NULL);
}

static void
worker_main(void *arg)
{
	proxy_t *px = arg;

	/* On the worker's own thread: the resolver belongs to this loop. */
	worker_dns_update(px, NULL);
	worker_mtasts_start(px);
	worker_probe_start(px);
	uv_run(&px->loop, UV_RUN_DEFAULT);
}

int
worker_start(proxy_t *px)
{
	if (uv_thread_create(&px->thread, worker_main, px) != 0)
		return -1;
	px->started = 1;
	return 0;
}

void
worker_publish(proxy_t *px, runtime_t *rt)
{
	runtime_unref(atomic_exchange(&px->next, rt));
	uv_async_send(&px->wake);
}

void
worker_command(proxy_t *px, int cmd)
{
	atomic_fetch_or(&px->cmd, cmd);
	uv_async_send(&px->wake);
}

void
worker_join(proxy_t *px)
{
	if (px->started)
		uv_thread_join(&px->thread);
	else
		uv_run(&px->loop, UV_RUN_DEFAULT); /* runs the STOP it was sent */
	uv_loop_close(&px->loop);
	runtime_unref(atomic_exchange(&px->next, NULL));
	runtime_unref(px->rt);
	conn_pool_cleanup(&px->pool);
	outbound_sni_free(px);
	tlscache_free(px->tlscache);
	free(px->stats);
	free(px->scratch);
	free(px);
}
