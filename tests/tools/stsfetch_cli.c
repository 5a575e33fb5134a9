/*
 * stsfetch_cli: one MTA-STS policy fetch (proxy/stsfetch.c) for the
 * end-to-end tests; built by tests/CMakeLists.txt, never installed.
 *
 *   stsfetch_cli [-t TIMEOUT_MS] [-c CA_FILE] DOMAIN ADDR PORT
 *
 * Prints one line, "result=R code=C ms=M mode=MODE max_age=N mx=A,B"
 * (mode, max_age and mx only for result=ok), then "detail=..." and exits
 * 0 for ok, 1 for any other result, 2 for usage errors. -x cancels the
 * fetch at once and checks that the callback never runs (prints
 * "cancelled").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "stsfetch.h"
#include "tls.h"

static int called;
static int rc = 1;

static void
done_cb(void *arg, const stsfetch_done_t *d)
{
	(void)arg;
	called++;
	printf("result=%s code=%d ms=%llu", stsfetch_result_name(d->result),
	    d->http_code, (unsigned long long)d->ms);
	if (d->result == STSFETCH_OK) {
		printf(" mode=%s max_age=%u mx=", sts_mode_name(d->policy->mode),
		    (unsigned)d->policy->max_age);
		for (unsigned i = 0; i < d->policy->nmx; i++)
			printf("%s%s", i ? "," : "", d->policy->mx[i]);
		rc = 0;
	}
	printf("\ndetail=%s\n", d->detail);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static uint8_t scratch[CONN_SCRATCH_SIZE];
	conn_pool_t pool = { .n = 0 };
	const char *ca = NULL;
	uint64_t timeout = 10000;
	struct sockaddr_storage ss;
	stsfetch_env_t env;
	stsfetch_t *f;
	uv_loop_t loop;
	char err[256];
	int opt, cancel = 0;

	while ((opt = getopt(argc, argv, "c:t:x")) != -1) {
		switch (opt) {
		case 'c':
			ca = optarg;
			break;
		case 't':
			timeout = strtoull(optarg, NULL, 10);
			break;
		case 'x':
			cancel = 1;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "usage: stsfetch_cli [-x] [-t MS] [-c CA] "
		    "DOMAIN ADDR PORT\n");
		return 2;
	}
	memset(&ss, 0, sizeof(ss));
	if (uv_ip4_addr(argv[optind + 1], atoi(argv[optind + 2]),
	    (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(argv[optind + 1], atoi(argv[optind + 2]),
	    (struct sockaddr_in6 *)&ss) != 0) {
		fprintf(stderr, "bad address\n");
		return 2;
	}
	uv_loop_init(&loop);
	memset(&env, 0, sizeof(env));
	env.loop = &loop;
	env.scratch = scratch;
	env.pool = &pool;
	env.timeout_ms = timeout;
	if ((env.ctx = tls_https_ctx_new(ca, err, sizeof(err))) == NULL) {
		fprintf(stderr, "context: %s\n", err);
		return 2;
	}
	f = stsfetch_start(&env, argv[optind], (struct sockaddr *)&ss,
	    done_cb, NULL);
	/* The fetch keeps its own reference. */
	tls_ctx_free(env.ctx);
	if (f == NULL) {
		printf("result=none\ndetail=not started\n");
		return 1;
	}
	if (cancel) {
		stsfetch_cancel(f);
		uv_run(&loop, UV_RUN_DEFAULT);
		printf(called ? "called\n" : "cancelled\n");
		rc = called ? 1 : 0;
	} else
		uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "handles left open\n");
		rc = 3;
	}
	conn_pool_cleanup(&pool);
	return rc;
}
