/*
 * main: command line, the workers, and the main loop that runs beside them:
 * signals, the admin endpoint, certificate file watching, reload and
 * shutdown.
 *
 *   starttls-proxy -c FILE      run in the foreground, log to stderr
 *   starttls-proxy -t -c FILE   check FILE; exit 0, or 1 listing problems
 *   starttls-proxy -V           print the version
 *
 * SIGHUP (or a changed certificate, key or CA file) reloads: the file is
 * read and checked again; if it is good, a new runtime goes to every worker
 * (new sessions use it, sessions in flight finish on theirs), otherwise the
 * errors are logged and the old runtime stays. SIGTERM/SIGINT drain: stop
 * accepting, /readyz turns 503, sessions go on until they end or
 * shutdown_grace passes; then 421 4.3.2 at each session's next command
 * boundary, and the process exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "admin.h"
#include "config.h"
#include "log.h"
#include "proxy.h"
#include "relayauth.h"
#include "runtime.h"
#include "stats.h"
#include "tls.h"
#include "worker.h"

#define MAIN_WORKERS_MAX 256
/* /healthz fails when a worker has not ticked for this many periods. */
#define MAIN_STALL_TICKS 15
/* How often draining checks whether the sessions are gone. */
#define MAIN_DRAIN_POLL_MS 100
/* After the grace, sessions get 421 at their next boundary; those still
 * there this much later are closed. */
#define MAIN_HARD_STOP_MS 10000
/* Certificate, key and CA files are checked this often (stat: follows
 * the symlinks Kubernetes swaps for mounted Secrets). */
#define MAIN_FILE_POLL_MS 2000
/* Changes to several files (cert and key) are taken as one reload. */
#define MAIN_RELOAD_DELAY_MS 500
#define MAIN_FILES_MAX (CONFIG_MAX_LISTENERS * \
    (3 * CONFIG_MAX_CERTS + 6 + CONFIG_MAX_TICKET_KEYS) + 1)
/* The MTA-STS cache goes to state_dir this often (and at shutdown). */
#define MAIN_STS_SAVE_MS (5 * 60 * 1000)

typedef struct {
	uv_loop_t loop;
	const char *path;
	shared_t sh;
	stats_names_t names;
	runtime_t *rt;                 /* current; one reference */
	uint64_t generation;
	proxy_t *workers[MAIN_WORKERS_MAX];
	int nworkers;

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t drain;              /* shutdown progress */
	uv_timer_t reload_delay;
	uv_timer_t sts_save;           /* MTA-STS cache to state_dir */
	admin_t *admin;
	config_addr_t admin_addr;      /* what admin is bound to */
	uv_fs_poll_t *polls[MAIN_FILES_MAX];
	int npolls;

	int stopping;
	int expired;
	int stopped;
	uint64_t stop_ms;
	uint64_t reloads_ok, reloads_failed;
} main_t;

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

static void
main_free_cb(uv_handle_t *h)
{
	free(h);
}

static void
main_noop_cb(uv_handle_t *h)
{
	(void)h;
}

/* Admin endpoint ------------------------------------------------------- */

static int
main_ready(const main_t *m)
{
	if (m->stopping)
		return 0;
	for (int i = 0; i < m->nworkers; i++)
		if (atomic_load(&m->workers[i]->listen_failed))
			return 0;
	return 1;
}

/*
 * Every worker's loop has turned within MAIN_STALL_TICKS ticks: generous,
 * since a loaded machine may starve a thread for seconds and a liveness
 * probe that kills a slow but working proxy loses mail in flight.
 */
static int
main_healthy(const main_t *m)
{
	uint64_t now = uv_hrtime() / 1000000;

	for (int i = 0; i < m->nworkers; i++) {
		uint64_t hb = STATS_GET(m->workers[i]->stats->heartbeat_ms);
		if (hb + MAIN_STALL_TICKS * WORKER_TICK_MS < now)
			return 0;
	}
	return 1;
}

static void
main_metrics(main_t *m, admin_buf_t *body)
{
	stats_cert_t certs[CONFIG_MAX_LISTENERS * CONFIG_MAX_CERTS];
	char subjects[CONFIG_MAX_LISTENERS * CONFIG_MAX_CERTS][128];
	stats_t *workers[MAIN_WORKERS_MAX];
	stats_buf_t b = { NULL, 0, 0, 0 };
	const config_t *cfg = m->rt->cfg;
	int nc = 0;

	for (int i = 0; i < cfg->nlisteners; i++) {
		if (cfg->listeners[i].dir != DIR_INBOUND || m->rt->tls[i] == NULL)
			continue;
		for (int k = 0; nc < (int)(sizeof(certs) / sizeof(certs[0]));
		    k++) {
			if (tls_server_cert_info(m->rt->tls[i], k, subjects[nc],
			    sizeof(subjects[nc]), &certs[nc].not_after) == -1)
				break;
			certs[nc].listener = cfg->listeners[i].name;
			certs[nc].index = k;
			certs[nc].subject = subjects[nc];
			certs[nc].has_ocsp = tls_server_ocsp_info(
			    m->rt->tls[i], k, &certs[nc].ocsp_next_update) == 0;
			nc++;
		}
	}
	for (int i = 0; i < m->nworkers; i++)
		workers[i] = m->workers[i]->stats;
	stats_render(&b, workers, m->nworkers, &m->names, certs, nc,
	    m->reloads_ok, m->reloads_failed, main_ready(m));
	stats_render_sts(&b, workers, m->nworkers,
	    stscache_count(m->sh.stscache));
	if (!b.failed)
		admin_buf_append(body, b.p, b.len);
	else
		body->failed = 1;
	free(b.p);
}

static int
main_admin_handler(void *arg, const char *method, size_t mlen,
    const char *path, size_t plen, admin_buf_t *body,
    const char **content_type)
{
	main_t *m = arg;

	(void)method;
	(void)mlen;
	if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
		*content_type = "text/plain; version=0.0.4; charset=utf-8";
		main_metrics(m, body);
		return 200;
	}
	if (plen == 8 && memcmp(path, "/healthz", 8) == 0) {
		int ok = main_healthy(m);
		admin_buf_printf(body, "%s\n", ok ? "ok" : "stalled");
		return ok ? 200 : 503;
	}
	if (plen == 7 && memcmp(path, "/readyz", 7) == 0) {
		int ok = main_ready(m);
		admin_buf_printf(body, "%s\n", ok ? "ready" : m->stopping ?
		    "draining" : "not ready");
		return ok ? 200 : 503;
	}
	admin_buf_printf(body, "not found\n");
	return 404;
}

static int
main_same_addr(const config_addr_t *a, const config_addr_t *b)
{
	return a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* Opens, moves or closes the admin endpoint to match the configuration. */
static void
main_admin_update(main_t *m)
{
	const config_addr_t *want = &m->rt->cfg->admin;
	char err[256], port[8];

	if (m->admin != NULL && want->host != NULL &&
	    main_same_addr(&m->admin_addr, want))
		return;
	admin_free(m->admin);
	m->admin = NULL;
	memset(&m->admin_addr, 0, sizeof(m->admin_addr));
	if (want->host == NULL)
		return;
	m->admin = admin_new(&m->loop, (const struct sockaddr *)&want->addr,
	    main_admin_handler, m, err, sizeof(err));
	snprintf(port, sizeof(port), "%u", (unsigned)want->port);
	if (m->admin == NULL) {
		log_event(LOG_ERROR, "admin_failed", "address", want->host,
		    "port", port, "error", err, NULL);
		return;
	}
	m->admin_addr.addr = want->addr;
	m->admin_addr.addrlen = want->addrlen;
	log_event(LOG_INFO, "admin_listening", "address", want->host, "port",
	    port, NULL);
}

/* Reload ---------------------------------------------------------------- */

static void main_reload(main_t *m, const char *why);

/*
 * Which resolver the workers use and whether its AD bit is believed: a
 * warning when it is not and some listener or policy wants DANE, which
 * then never applies.
 */
static void
main_log_dns(const runtime_t *rt)
{
	char resolver[ADDR_STR_MAX], timeout[24];
	const char *why;
	int trusted = dns_config_trusted(&rt->dns, &why);
	int warn = !trusted && config_uses_dane(rt->cfg);

	addr_format((const struct sockaddr *)&rt->dns.server, resolver,
	    sizeof(resolver));
	snprintf(timeout, sizeof(timeout), "%llu",
	    (unsigned long long)rt->dns.timeout_ms);
	log_event(warn ? LOG_WARN : LOG_INFO, "dns_config", "resolver",
	    resolver, "source", rt->dns_source, "trust_ad",
	    trusted ? "yes" : "no", "reason", why, "timeout_ms", timeout,
	    warn ? "result" : NULL, "AD bits ignored: DANE cannot apply",
	    NULL);
}

static void
main_reload_delay_cb(uv_timer_t *t)
{
	main_reload(t->data, "files changed");
}

static void
main_file_changed_cb(uv_fs_poll_t *p, int status, const uv_stat_t *prev,
    const uv_stat_t *curr)
{
	main_t *m = p->data;

	(void)status;
	(void)prev;
	(void)curr;
	if (m->stopping)
		return;
	uv_timer_start(&m->reload_delay, main_reload_delay_cb,
	    MAIN_RELOAD_DELAY_MS, 0);
}

static void
main_watch(main_t *m, const char *path)
{
	uv_fs_poll_t *p;
	int r;

	if (path == NULL || m->npolls == MAIN_FILES_MAX ||
	    (p = malloc(sizeof(*p))) == NULL)
		return;
	if ((r = uv_fs_poll_init(&m->loop, p)) != 0) {
		free(p);
		goto err;
	}
	p->data = m;
	if ((r = uv_fs_poll_start(p, main_file_changed_cb, path,
	    MAIN_FILE_POLL_MS)) != 0) {
		uv_close((uv_handle_t *)p, main_free_cb);
		goto err;
	}
	m->polls[m->npolls++] = p;
	return;
err:
	/* Not fatal: SIGHUP and the admin endpoint still reload. */
	log_event(LOG_WARN, "watch_failed", "file", path, "error",
	    uv_strerror(r), NULL);
}

static void
main_unwatch_all(main_t *m)
{
	for (int i = 0; i < m->npolls; i++)
		uv_close((uv_handle_t *)m->polls[i], main_free_cb);
	m->npolls = 0;
}

/* Watches the files the current configuration reads. */
static void
main_watch_all(main_t *m)
{
	const config_t *cfg = m->rt->cfg;

	main_unwatch_all(m);
	for (int i = 0; i < cfg->nlisteners; i++) {
		const config_listener_t *l = &cfg->listeners[i];
		for (int k = 0; k < l->ncerts; k++) {
			main_watch(m, l->certs[k].cert);
			main_watch(m, l->certs[k].key);
		}
		main_watch(m, l->ca_file);
		main_watch(m, l->client_ca);
		for (int k = 0; k < l->ncerts; k++)
			main_watch(m, l->certs[k].ocsp);
		for (int k = 0; k < l->nticket_keys; k++)
			main_watch(m, l->ticket_keys[k]);
		main_watch(m, l->client_cert);
		main_watch(m, l->client_key);
		/* Credentials: a changed password or a refreshed token is
		 * a reload, used by the next session. */
		main_watch(m, l->auth_file);
		if (m->rt->auth[i] != NULL)
			main_watch(m, m->rt->auth[i]->token_file);
	}
	main_watch(m, cfg->mta_sts_ca_file);
}

/* Loads the file into a new runtime; NULL after logging every problem. */
static runtime_t *
main_load(main_t *m, int log_errors)
{
	char *text = NULL, err[512];
	size_t len = 0;
	FILE *errs = log_errors ? open_memstream(&text, &len) : stderr;
	config_t *cfg;
	runtime_t *rt = NULL;

	if (errs == NULL)
		return NULL;
	cfg = config_load(m->path, 1, errs);
	if (log_errors)
		fclose(errs);
	if (cfg != NULL) {
		rt = runtime_new(cfg, &m->names, m->generation + 1, err,
		    sizeof(err));
		if (rt == NULL) {
			config_free(cfg);
			if (log_errors)
				log_event(LOG_ERROR, "config_error", "error",
				    err, NULL);
			else
				fprintf(stderr, "%s: %s\n", m->path, err);
		}
	} else if (log_errors && text != NULL) {
		/* One log line per FILE:LINE problem. */
		for (char *line = strtok(text, "\n"); line != NULL;
		    line = strtok(NULL, "\n"))
			log_event(LOG_ERROR, "config_error", "error", line,
			    NULL);
	}
	free(text);
	if (rt != NULL)
		m->generation++;
	return rt;
}

static void
main_reload(main_t *m, const char *why)
{
	runtime_t *rt;
	char gen[24];

	if (m->stopping)
		return;
	if ((rt = main_load(m, 1)) == NULL) {
		m->reloads_failed++;
		log_event(LOG_ERROR, "reload_failed", "reason", why, "result",
		    "the running configuration stays in force", NULL);
		return;
	}
	if (rt->cfg->workers != m->rt->cfg->workers)
		log_event(LOG_WARN, "reload_workers_ignored", "result",
		    "a new worker count needs a restart", NULL);
	for (int i = 0; i < m->nworkers; i++)
		worker_publish(m->workers[i], runtime_ref(rt));
	if (!dns_config_same(&rt->dns, &m->rt->dns))
		main_log_dns(rt);
	runtime_unref(m->rt);
	m->rt = rt;
	log_setup(rt->cfg->log_level, rt->cfg->log_format);
	main_watch_all(m);
	main_admin_update(m);
	m->reloads_ok++;
	snprintf(gen, sizeof(gen), "%llu", (unsigned long long)m->generation);
	log_event(LOG_INFO, "reloaded", "reason", why, "generation", gen,
	    NULL);
}

/* MTA-STS cache ---------------------------------------------------------- */

/* state_dir/mta-sts.cache into buf; 0, or -1 without a state_dir. */
static int
main_sts_path(const main_t *m, char *buf, size_t len)
{
	const char *dir = m->rt->cfg->state_dir;

	if (dir == NULL)
		return -1;
	snprintf(buf, len, "%s/%s", dir, STSCACHE_FILE);
	return 0;
}

/* Trust on first use outlives a restart only through this file. */
static void
main_sts_save(main_t *m)
{
	char path[4096], err[512], n[24];
	long r;

	if (main_sts_path(m, path, sizeof(path)) == -1)
		return;
	if ((r = stscache_save(m->sh.stscache, path, (int64_t)time(NULL), err,
	    sizeof(err))) < 0) {
		log_event(LOG_WARN, "mta_sts_cache_save_failed", "error", err,
		    NULL);
		return;
	}
	snprintf(n, sizeof(n), "%ld", r);
	log_event(LOG_DEBUG, "mta_sts_cache_saved", "file", path, "entries", n,
	    NULL);
}

static void
main_sts_save_cb(uv_timer_t *t)
{
	main_sts_save(t->data);
}

static void
main_sts_load(main_t *m)
{
	char path[4096], err[512], n[24], bad[24];
	unsigned skipped = 0;
	int used = 0;
	long r;

	for (int i = 0; i < m->rt->cfg->nlisteners; i++)
		used |= m->rt->cfg->listeners[i].mta_sts;
	if (main_sts_path(m, path, sizeof(path)) == -1) {
		if (used)
			log_event(LOG_WARN, "mta_sts_cache_volatile", "result",
			    "no state_dir: MTA-STS policies are kept in memory "
			    "only, and trust on first use starts over at "
			    "every restart", NULL);
		return;
	}
	r = stscache_load(m->sh.stscache, path, (int64_t)time(NULL), &skipped,
	    err, sizeof(err));
	if (r < 0) {
		log_event(LOG_WARN, "mta_sts_cache_unreadable", "error", err,
		    NULL);
		return;
	}
	snprintf(n, sizeof(n), "%ld", r);
	snprintf(bad, sizeof(bad), "%u", skipped);
	log_event(skipped ? LOG_WARN : LOG_INFO, "mta_sts_cache_loaded",
	    "file", path, "entries", n, "skipped", bad, NULL);
}

/* Shutdown -------------------------------------------------------------- */

static void
main_finish(main_t *m)
{
	if (m->stopped)
		return;
	m->stopped = 1;
	for (int i = 0; i < m->nworkers; i++)
		worker_command(m->workers[i], PROXY_CMD_STOP);
	main_unwatch_all(m);
	admin_free(m->admin);
	m->admin = NULL;
	uv_close((uv_handle_t *)&m->drain, main_noop_cb);
	uv_close((uv_handle_t *)&m->reload_delay, main_noop_cb);
	uv_close((uv_handle_t *)&m->sts_save, main_noop_cb);
	uv_close((uv_handle_t *)&m->sig_term, main_noop_cb);
	uv_close((uv_handle_t *)&m->sig_int, main_noop_cb);
	uv_close((uv_handle_t *)&m->sig_hup, main_noop_cb);
}

static void
main_drain_cb(uv_timer_t *t)
{
	main_t *m = t->data;
	uint64_t now = uv_now(&m->loop);
	unsigned left = atomic_load(&m->sh.nsessions);
	uint64_t grace = m->rt->cfg->shutdown_grace_ms;

	if (left == 0) {
		main_finish(m);
		return;
	}
	if (!m->expired && now >= m->stop_ms + grace) {
		char n[16];
		m->expired = 1;
		snprintf(n, sizeof(n), "%u", left);
		log_event(LOG_INFO, "shutdown_grace_over", "sessions", n, NULL);
		for (int i = 0; i < m->nworkers; i++)
			worker_command(m->workers[i], PROXY_CMD_EXPIRE);
	}
	if (now >= m->stop_ms + grace + MAIN_HARD_STOP_MS) {
		char n[16];
		snprintf(n, sizeof(n), "%u", left);
		log_event(LOG_WARN, "shutdown_forced", "sessions", n, NULL);
		main_finish(m);
	}
}

static void
main_signal_cb(uv_signal_t *sig, int signum)
{
	main_t *m = sig->data;

	if (signum == SIGHUP) {
		main_reload(m, "SIGHUP");
		return;
	}
	if (m->stopping) {
		/* A second signal: do not wait any longer. */
		log_event(LOG_WARN, "shutdown_forced", "signal",
		    strsignal(signum), NULL);
		main_finish(m);
		return;
	}
	m->stopping = 1;
	m->stop_ms = uv_now(&m->loop);
	log_event(LOG_INFO, "shutdown", "signal", strsignal(signum), NULL);
	for (int i = 0; i < m->nworkers; i++)
		worker_command(m->workers[i], PROXY_CMD_DRAIN);
	uv_timer_start(&m->drain, main_drain_cb, 0, MAIN_DRAIN_POLL_MS);
}

/* Start-up --------------------------------------------------------------- */

static int
main_run(main_t *m)
{
	unsigned n = m->rt->cfg->workers;
	char nw[16];

	int r;

	/* Without its signal handles the proxy could neither drain nor
	 * reload: it does not start (handles of a partial init are left to
	 * the process's exit: main_finish would close all five). */
	if ((r = uv_signal_init(&m->loop, &m->sig_term)) != 0 ||
	    (r = uv_signal_init(&m->loop, &m->sig_int)) != 0 ||
	    (r = uv_signal_init(&m->loop, &m->sig_hup)) != 0) {
		log_event(LOG_ERROR, "startup_failed", "step", "signals",
		    "error", uv_strerror(r), NULL);
		return -1;
	}
	uv_timer_init(&m->loop, &m->drain);
	uv_timer_init(&m->loop, &m->reload_delay);
	uv_timer_init(&m->loop, &m->sts_save);
	m->drain.data = m->reload_delay.data = m->sts_save.data = m;
	m->sig_term.data = m->sig_int.data = m->sig_hup.data = m;
	if ((r = uv_signal_start(&m->sig_term, main_signal_cb, SIGTERM)) != 0 ||
	    (r = uv_signal_start(&m->sig_int, main_signal_cb, SIGINT)) != 0 ||
	    (r = uv_signal_start(&m->sig_hup, main_signal_cb, SIGHUP)) != 0) {
		log_event(LOG_ERROR, "startup_failed", "step", "signals",
		    "error", uv_strerror(r), NULL);
		goto err;
	}

	if (n == 0)
		n = uv_available_parallelism();
	if (n > MAIN_WORKERS_MAX)
		n = MAIN_WORKERS_MAX;
	for (unsigned i = 0; i < n; i++) {
		proxy_t *px = worker_new((int)i, &m->sh, runtime_ref(m->rt));
		if (px != NULL)
			m->workers[m->nworkers++] = px;
		if (px == NULL || atomic_load(&px->listen_failed))
			goto err;
	}
	main_admin_update(m);
	main_watch_all(m);
	main_sts_load(m);
	uv_timer_start(&m->sts_save, main_sts_save_cb, MAIN_STS_SAVE_MS,
	    MAIN_STS_SAVE_MS);
	main_log_dns(m->rt);
	for (int i = 0; i < m->nworkers; i++)
		if (worker_start(m->workers[i]) == -1)
			goto err;
	snprintf(nw, sizeof(nw), "%d", m->nworkers);
	log_event(LOG_INFO, "started", "version", STP_VERSION, "config",
	    m->path, "workers", nw, NULL);
	uv_run(&m->loop, UV_RUN_DEFAULT);
	return 0;

err:
	/* Close what opened; workers not started wind down in worker_join. */
	m->stopping = 1;
	main_finish(m);
	uv_run(&m->loop, UV_RUN_DEFAULT);
	return -1;
}

int
main(int argc, char **argv)
{
	main_t *m;
	int check = 0, opt, rc = 1;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return 1;
	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			m->path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("starttls-proxy %s (BoringSSL API %d, libuv %s)\n",
			    STP_VERSION, BORINGSSL_API_VERSION,
			    uv_version_string());
			free(m);
			return 0;
		case 'h':
			main_usage(stdout);
			free(m);
			return 0;
		default:
			main_usage(stderr);
			free(m);
			return 2;
		}
	}
	if (m->path == NULL || optind != argc) {
		main_usage(stderr);
		free(m);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	CRYPTO_library_init();

	if (check) {
		config_t *cfg = config_load(m->path, 1, stderr);
		/* Only here: at run time a loop is caught per session (loop.h),
		 * and a bind() probe per reload is not worth refusing one. */
		if (cfg != NULL && loop_config_check(cfg, stderr) == -1) {
			config_free(cfg);
			cfg = NULL;
		}
		if (cfg != NULL)
			printf("%s: configuration ok\n", m->path);
		config_free(cfg);
		free(m);
		return cfg != NULL ? 0 : 1;
	}
	if (uv_loop_init(&m->loop) != 0)
		goto err0;
	if (uv_mutex_init(&m->sh.iplock) != 0)
		goto err1;
	if (uv_mutex_init(&m->sh.tlslock) != 0)
		goto err2;
	if (loop_init(&m->sh.loops) == -1)
		goto err3;
	ipcount_init(&m->sh.ipcount);
	if ((m->sh.stscache = stscache_new(0)) == NULL)
		goto err4;
	tlsrate_init(&m->sh.tlsrate, TLSRATE_CAP);
	if (gethostname(m->sh.hostname, sizeof(m->sh.hostname) - 1) != 0 ||
	    m->sh.hostname[0] == '\0')
		snprintf(m->sh.hostname, sizeof(m->sh.hostname), "localhost");
	if ((m->rt = main_load(m, 0)) != NULL) {
		log_setup(m->rt->cfg->log_level, m->rt->cfg->log_format);
		main_raise_nofile();
		if (main_run(m) == 0)
			rc = 0;
	}
	for (int i = 0; i < m->nworkers; i++)
		worker_join(m->workers[i]);
	if (rc == 0) {
		/* No worker is left to change it: the last word. */
		main_sts_save(m);
		log_event(LOG_INFO, "stopped", NULL);
	}
	runtime_unref(m->rt);
	stats_names_cleanup(&m->names);
	ipcount_cleanup(&m->sh.ipcount);
	tlsrate_cleanup(&m->sh.tlsrate);
	stscache_free(m->sh.stscache);
err4:
	loop_cleanup(&m->sh.loops);
err3:
	uv_mutex_destroy(&m->sh.tlslock);
err2:
	uv_mutex_destroy(&m->sh.iplock);
err1:
	uv_loop_close(&m->loop);
err0:
	free(m);
	return rc;
}
