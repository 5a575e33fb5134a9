/*
 * main: command line, configuration, the event loop and signals.
 *
 *   starttls-proxy -c FILE      run in the foreground, log to stderr
 *   starttls-proxy -t -c FILE   check FILE; exit 0, or 1 listing problems
 *   starttls-proxy -V           print the version
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "tls.h"

/* How long sessions may take to finish after SIGTERM before the exit. */
#define MAIN_SHUTDOWN_GRACE_MS 30000
#define MAIN_SHUTDOWN_POLL_MS 100

static void
main_usage(FILE *f)
{
	fprintf(f, "usage: starttls-proxy [-t] -c FILE\n"
	    "       starttls-proxy -V\n"
	    "  -c FILE  configuration file (ini)\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n");
}

/* Descriptors are the limit on sessions; take what the hard limit allows. */
static void
main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

typedef struct {
	proxy_t *px;
	uv_timer_t timer;
	uint64_t deadline;
} main_shutdown_t;

static void
main_noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
main_shutdown_poll_cb(uv_timer_t *t)
{
	main_shutdown_t *sd = t->data;
	proxy_t *px = sd->px;

	if (px->nsessions > 0 && uv_now(px->loop) < sd->deadline)
		return;
	if (px->nsessions > 0) {
		char n[16];
		snprintf(n, sizeof(n), "%u", px->nsessions);
		log_event(LOG_WARN, "shutdown_forced", "sessions", n, NULL);
		uv_stop(px->loop);
	}
	uv_close((uv_handle_t *)&sd->timer, main_noop_close_cb);
	uv_close((uv_handle_t *)&px->sig_term, main_noop_close_cb);
	uv_close((uv_handle_t *)&px->sig_int, main_noop_close_cb);
}

static void
main_signal_cb(uv_signal_t *sig, int signum)
{
	proxy_t *px = sig->data;
	main_shutdown_t *sd;

	if (px->stopping)
		return;
	px->stopping = 1;
	log_event(LOG_INFO, "shutdown", "signal", strsignal(signum), NULL);
	listener_close_all(px);
	/* Lives until the loop ends; freed by main. */
	sd = sig->loop->data;
	sd->px = px;
	sd->deadline = uv_now(px->loop) + MAIN_SHUTDOWN_GRACE_MS;
	uv_timer_init(px->loop, &sd->timer);
	sd->timer.data = sd;
	uv_timer_start(&sd->timer, main_shutdown_poll_cb, 0,
	    MAIN_SHUTDOWN_POLL_MS);
}

static int
main_run(config_t *cfg)
{
	uv_loop_t loop;
	proxy_t *px;
	main_shutdown_t sd;
	int rc = 1;

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return 1;
	if (uv_loop_init(&loop) != 0)
		goto err0;
	memset(&sd, 0, sizeof(sd));
	ipcount_init(&px->ipcount);
	if (gethostname(px->hostname, sizeof(px->hostname) - 1) != 0 ||
	    px->hostname[0] == '\0')
		snprintf(px->hostname, sizeof(px->hostname), "localhost");
	loop.data = &sd;
	px->loop = &loop;
	px->cfg = cfg;
	uv_signal_init(&loop, &px->sig_term);
	uv_signal_init(&loop, &px->sig_int);
	px->sig_term.data = px->sig_int.data = px;
	uv_signal_start(&px->sig_term, main_signal_cb, SIGTERM);
	uv_signal_start(&px->sig_int, main_signal_cb, SIGINT);

	if (listener_open_all(px) == 0) {
		log_event(LOG_INFO, "started", "version", STP_VERSION,
		    "config", cfg->path, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		rc = 0;
	} else {
		listener_close_all(px);
		uv_close((uv_handle_t *)&px->sig_term, main_noop_close_cb);
		uv_close((uv_handle_t *)&px->sig_int, main_noop_close_cb);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	for (int i = 0; i < px->nlisteners; i++)
		tls_ctx_free(px->listeners[i].tls);
	free(px->listeners);
	ipcount_cleanup(&px->ipcount);
	if (rc == 0)
		log_event(LOG_INFO, "stopped", NULL);
	/* A forced stop leaves handles open; the process ends anyway. */
	uv_loop_close(&loop);
err0:
	free(px);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	int check = 0, opt, rc;
	config_t *cfg;

	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("starttls-proxy %s (BoringSSL API %d, libuv %s)\n",
			    STP_VERSION, BORINGSSL_API_VERSION,
			    uv_version_string());
			return 0;
		case 'h':
			main_usage(stdout);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		main_usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	CRYPTO_library_init();

	if ((cfg = config_load(path, 1, stderr)) == NULL)
		return 1;
	if (check) {
		printf("%s: configuration ok\n", path);
		config_free(cfg);
		return 0;
	}
	log_setup(cfg->log_level, cfg->log_format);
	main_raise_nofile();
	rc = main_run(cfg);
	config_free(cfg);
	return rc;
}
