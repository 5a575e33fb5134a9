/*
 * mtasts_cli: MTA-STS lookups (proxy/mtasts.c) over a scripted resolver
 * (stubdns.c) and a real fetch, for the end-to-end tests; never
 * installed.
 *
 *   mtasts_cli -z ZONE -p HTTPS_PORT [-c CA] [-t TIMEOUT_MS] [-l STATE_IN]
 *              [-o STATE_OUT] [-r ROUNDS] DOMAIN...
 *
 * Each round asks for every DOMAIN at once and runs the loop until every
 * answer came and every background fetch ended. One line per answer:
 *   round=R domain=D have=0|1 mode=M id=I source=none|cache|fetch
 *   fetched=0|1 fetch_result=R temporary=0|1 mx=A,B why="..."
 * then, per DOMAIN, the cache's view: "cache domain=D id=I fetched_at=T
 * expires_at=T" or "cache domain=D none". -l loads a state file first, -o
 * saves one at the end (stscache.h formats). -N: the worker has no
 * resolver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "stubdns.h"
#include "mtasts.h"
#include "tls.h"

static int answered;

static const char *const src_names[] = { "none", "cache", "fetch" };

typedef struct {
	int round;
	const char *domain;
} ask_t;

static void
answer_cb(void *arg, const mtasts_result_t *r)
{
	ask_t *a = arg;

	printf("round=%d domain=%s have=%d mode=%s id=%s source=%s fetched=%d "
	    "fetch_result=%s temporary=%d mx=", a->round, a->domain, r->have_policy,
	    r->have_policy ? sts_mode_name(r->mode) : "-", r->id[0] ? r->id : "-",
	    src_names[r->source], r->fetched, r->fetched ?
	    stsfetch_result_name(r->fetch_result) : "-", r->temporary);
	for (unsigned i = 0; r->policy != NULL && i < r->policy->nmx; i++)
		printf("%s%s", i ? "," : "", r->policy->mx[i]);
	printf(" why=\"%s\"\n", r->why);
	fflush(stdout);
	answered++;
}

int
main(int argc, char **argv)
{
	static uint8_t scratch[CONN_SCRATCH_SIZE];
	static stats_t stats;
	conn_pool_t pool = { .n = 0 };
	const char *zone = NULL, *ca = NULL, *in = NULL, *out = NULL;
	uint64_t timeout = 5000;
	int port = 443, rounds = 1, opt, ndomains, noresolver = 0;
	dns_t *none = NULL;
	config_t cfg;
	runtime_t rt;
	mtasts_env_t env;
	mtasts_t *m;
	stscache_t *cache;
	dns_t *dns;
	uv_loop_t loop;
	ask_t *asks;
	char err[256];

	while ((opt = getopt(argc, argv, "z:p:c:t:l:o:r:N")) != -1) {
		switch (opt) {
		case 'z': zone = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': ca = optarg; break;
		case 't': timeout = strtoull(optarg, NULL, 10); break;
		case 'l': in = optarg; break;
		case 'o': out = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 'N': noresolver = 1; break;
		default: return 2;
		}
	}
	ndomains = argc - optind;
	if (zone == NULL || ndomains < 1) {
		fprintf(stderr, "usage: mtasts_cli -z ZONE -p PORT [-c CA] "
		    "[-t MS] [-l IN] [-o OUT] [-r ROUNDS] DOMAIN...\n");
		return 2;
	}
	uv_loop_init(&loop);
	if ((dns = stubdns_new(&loop, zone)) == NULL ||
	    (cache = stscache_new(0)) == NULL) {
		fprintf(stderr, "setup failed\n");
		return 2;
	}
	if (in != NULL) {
		unsigned skipped;
		if (stscache_load(cache, in, (int64_t)time(NULL), &skipped, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "load: %s\n", err);
			return 2;
		}
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.mta_sts_fetch_timeout_ms = timeout;
	memset(&rt, 0, sizeof(rt));
	rt.cfg = &cfg;
	if ((rt.sts_ctx = tls_https_ctx_new(ca, err, sizeof(err))) == NULL) {
		fprintf(stderr, "context: %s\n", err);
		return 2;
	}
	memset(&env, 0, sizeof(env));
	env.loop = &loop;
	env.dns = noresolver ? &none : &dns;
	env.cache = cache;
	env.scratch = scratch;
	env.pool = &pool;
	env.fetches = stats.sts_fetches;
	env.https_port = (uint16_t)port;
	if ((m = mtasts_new(&env)) == NULL)
		return 2;
	asks = calloc((size_t)ndomains, sizeof(*asks));
	for (int round = 1; round <= rounds; round++) {
		answered = 0;
		for (int i = 0; i < ndomains; i++) {
			asks[i].round = round;
			asks[i].domain = argv[optind + i];
			if (mtasts_lookup(m, &rt, asks[i].domain, 0, answer_cb,
			    &asks[i]) == NULL) {
				printf("round=%d domain=%s refused\n", round,
				    asks[i].domain);
				answered++;
			}
		}
		/* Ends when no fetch or lookup is left, background ones
		 * included. */
		uv_run(&loop, UV_RUN_DEFAULT);
		if (answered != ndomains) {
			printf("missing answers: %d of %d\n", answered,
			    ndomains);
			return 1;
		}
	}
	for (int i = 0; i < ndomains; i++) {
		stscache_info_t info;
		if (stscache_get(cache, argv[optind + i], (int64_t)time(NULL),
		    &info, NULL) == 0)
			printf("cache domain=%s id=%s mode=%s fetched_at=%lld "
			    "expires_at=%lld\n", argv[optind + i], info.id,
			    sts_mode_name(info.mode),
			    (long long)info.fetched_at,
			    (long long)info.expires_at);
		else
			printf("cache domain=%s none\n", argv[optind + i]);
	}
	for (int r = 0; r < STSFETCH_RESULT_COUNT; r++)
		if (STATS_GET(stats.sts_fetches[r]))
			printf("fetches result=%s count=%llu\n",
			    stsfetch_result_name((stsfetch_result_t)r),
			    (unsigned long long)STATS_GET(stats.sts_fetches[r]));
	printf("dns lookups=%u\n", stubdns_lookups(dns));
	if (out != NULL && stscache_save(cache, out, (int64_t)time(NULL), err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "save: %s\n", err);
		return 1;
	}
	mtasts_free(m);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "handles left open\n");
		return 3;
	}
	tls_ctx_free(rt.sts_ctx);
	stscache_free(cache);
	stubdns_free(dns);
	free(asks);
	conn_pool_cleanup(&pool);
	return 0;
}
