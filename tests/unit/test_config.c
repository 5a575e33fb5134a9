/*
 * test_config: config_load on ini files written to a temporary directory,
 * checking the values read and the exact "FILE:LINE: message" reports.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

#define TEST_MAX_CMD (3 * PATH_MAX)

/* The temporary directory; set once in main, removed at the end. */
static char test_dir[] = "/tmp/test_config.XXXXXX";
static char test_ini[PATH_MAX];

/* CHECK_PREFIX: got starts with want. */
#define CHECK_PREFIX(got, want)                                            \
	do {                                                               \
		const char *check_g_ = (got) ? (got) : "(null)";            \
		size_t check_n_ = strlen(want);                            \
		if (strlen(check_g_) < check_n_)                           \
			check_n_ = strlen(check_g_);                       \
		CHECK_MEM(check_g_, check_n_, (want), strlen(want));       \
	} while (0)

#define CHECK_STR(got, want)                                               \
	do {                                                               \
		const char *check_g_ = (got) ? (got) : "(null)";            \
		CHECK_MEM(check_g_, strlen(check_g_), (want), strlen(want)); \
	} while (0)

/* test_path writes DIR/name into out. */
static void
test_path(char *out, size_t outlen, const char *name)
{
	snprintf(out, outlen, "%s/%s", test_dir, name);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

/*
 * load writes text to DIR/t.ini and loads it. *errs gets what config_load
 * wrote (caller frees), with the file's path replaced by "F".
 */
static config_t *
load(const char *text, int check_files, char **errs)
{
	char *buf = NULL, *out, *hit, *src;
	size_t len = 0, plen = strlen(test_ini);
	config_t *cfg;
	FILE *ms;

	write_file(test_ini, text);
	ms = open_memstream(&buf, &len);
	cfg = config_load(test_ini, check_files, ms);
	fclose(ms);
	out = calloc(1, len + 1);
	for (src = buf; (hit = strstr(src, test_ini)) != NULL;
	    src = hit + plen) {
		strncat(out, src, (size_t)(hit - src));
		strcat(out, "F");
	}
	strcat(out, src);
	free(buf);
	*errs = out;
	return cfg;
}

/* load_path loads path; returns what config_load wrote (caller frees). */
static char *
load_path(const char *path, config_t **cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *ms = open_memstream(&buf, &len);

	*cfg = config_load(path, 0, ms);
	fclose(ms);
	return buf;
}

/* load_ok loads text that must be valid; reports its errors otherwise. */
static config_t *
load_ok(const char *text)
{
	char *errs;
	config_t *cfg = load(text, 0, &errs);

	CHECK(cfg != NULL);
	CHECK_STR(errs, "");
	free(errs);
	return cfg;
}

/* load_bad loads text that must fail with exactly want. */
static void
load_bad(const char *text, int check_files, const char *want)
{
	char *errs;
	config_t *cfg = load(text, check_files, &errs);

	CHECK(cfg == NULL);
	CHECK_STR(errs, want);
	free(errs);
	config_free(cfg);
}

static uint16_t
addr_port(const config_addr_t *a)
{
	if (a->addr.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->addr)->sin6_port);
}

static const char *
addr_text(const config_addr_t *a, char *buf, size_t buflen)
{
	const void *ip;

	if (a->addr.ss_family == AF_INET)
		ip = &((const struct sockaddr_in *)&a->addr)->sin_addr;
	else
		ip = &((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
	if (inet_ntop(a->addr.ss_family, ip, buf, (socklen_t)buflen) == NULL)
		return "?";
	return buf;
}

static const char minimal_inbound[] =
    "[inbound]\n"
    "listen = 127.0.0.1:10025\n"
    "backend = 127.0.0.1:2525\n"
    "tls = off\n";

static void
test_duration(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "30", 30000 }, { "30s", 30000 }, { "5m", 300000 },
		{ "1h", 3600000 }, { "250ms", 250 }, { "1ms", 1 },
		/* The bound, one day, in each unit. */
		{ "86400000ms", 86400000 }, { "86400", 86400000 },
		{ "86400s", 86400000 }, { "1440m", 86400000 },
		{ "24h", 86400000 },
	};
	static const char *const bad[] = {
		"0", "0s", "0ms", "", "s", "-5", "+5", "5x", "5 s", " 5",
		"1.5m",
		"5S", "5min", "18446744073709551615",
		"99999999999999999999ms", "18446744073709551615h",
		"18446744073709551615ms",
		/* Just past the bound, in each unit. */
		"86400001ms", "86401", "86401s", "1441m", "25h",
		/* Values whose product with the unit wraps 2^64. */
		"5124095576030432h", "307445734561826m", "18446744073709552s",
	};
	uint64_t ms;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		ms = 0;
		CHECK_EQ_INT(config_parse_duration(good[i].s, &ms), 0);
		CHECK(ms == good[i].ms);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ms = 7;
		if (config_parse_duration(bad[i], &ms) != -1)
			fprintf(stderr, "accepted duration '%s'\n", bad[i]);
		CHECK_EQ_INT(config_parse_duration(bad[i], &ms), -1);
		CHECK_EQ_INT(ms, 7);
	}
}

static void
test_size(void)
{
	static const struct {
		const char *s;
		uint64_t n;
	} good[] = {
		{ "0", 0 }, { "10485760", 10485760 }, { "512k", 512 * 1024 },
		{ "10M", 10 * 1024 * 1024 }, { "1g", 1024 * 1024 * 1024 },
		/* The bound, 2^40, in each unit. */
		{ "1099511627776", 1ULL << 40 }, { "1073741824k", 1ULL << 40 },
		{ "1048576m", 1ULL << 40 }, { "1024g", 1ULL << 40 },
	};
	static const char *const bad[] = {
		"", "k", "-1", "1.5m", "1t", "10 m", "1kk",
		/* Just past the bound, in each unit. */
		"1099511627777", "1073741825k", "1048577m", "1025g",
		/* Values whose product with the unit wraps 2^64. */
		"18014398509481985k", "17592186044417m", "17179869185g",
		"18446744073709551615", "18446744073709551616",
	};
	uint64_t n;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		n = 7;
		CHECK_EQ_INT(config_parse_size(good[i].s, &n), 0);
		CHECK(n == good[i].n);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = 7;
		if (config_parse_size(bad[i], &n) != -1)
			fprintf(stderr, "accepted size '%s'\n", bad[i]);
		CHECK_EQ_INT(config_parse_size(bad[i], &n), -1);
		CHECK_EQ_INT(n, 7);
	}
}

/* The count keys at and past their bounds. */
static void
test_count_bounds(void)
{
	char text[1024];
	config_t *cfg;

	snprintf(text, sizeof text, "[global]\nmax_sessions = 1000000\n"
	    "max_errors = 100000\nworkers = 256\n"
	    "idle_timeout = 24h\ndata_timeout = 86400s\n"
	    "shutdown_grace = 1440m\nhandshake_timeout = 86400000ms\n"
	    "connect_timeout = 86400\n%s"
	    "max_sessions_per_ip = 1000000\nmax_message_size = 1024g\n",
	    minimal_inbound);
	cfg = load_ok(text);
	if (cfg != NULL) {
		CHECK_EQ_INT(cfg->max_sessions, 1000000);
		CHECK_EQ_INT(cfg->max_errors, 100000);
		CHECK_EQ_INT(cfg->workers, 256);
		CHECK_EQ_INT(cfg->idle_timeout_ms, 86400000);
		CHECK_EQ_INT(cfg->data_timeout_ms, 86400000);
		CHECK_EQ_INT(cfg->shutdown_grace_ms, 86400000);
		CHECK_EQ_INT(cfg->handshake_timeout_ms, 86400000);
		CHECK_EQ_INT(cfg->connect_timeout_ms, 86400000);
		CHECK_EQ_INT(cfg->listeners[0].max_sessions_per_ip, 1000000);
		CHECK(cfg->listeners[0].max_message_size == 1ULL << 40);
	}
	config_free(cfg);

	snprintf(text, sizeof text, "[global]\nmax_sessions = 1000001\n"
	    "max_errors = 100001\nworkers = 257\n"
	    "idle_timeout = 25h\ndata_timeout = 86401s\n"
	    "shutdown_grace = 1441m\n%s"
	    "max_sessions_per_ip = 4294967296\nmax_message_size = 1025g\n",
	    minimal_inbound);
	load_bad(text, 0,
	    "F:2: bad value for max_sessions: '1000001' (expected a number "
	    "from 1 to 1000000)\n"
	    "F:3: bad value for max_errors: '100001' (expected a number from 1 "
	    "to 100000)\n"
	    "F:4: bad value for workers: '257' (expected auto or a number of "
	    "threads from 1 to 256)\n"
	    "F:5: bad value for idle_timeout: '25h' (expected a duration such "
	    "as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h)\n"
	    "F:6: bad value for data_timeout: '86401s' (expected a duration "
	    "such as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h)\n"
	    "F:7: bad value for shutdown_grace: '1441m' (expected a duration "
	    "such as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h)\n"
	    "F:12: bad value for max_sessions_per_ip: '4294967296' (expected a "
	    "number from 0 to 1000000; 0: no limit)\n"
	    "F:13: bad value for max_message_size: '1025g' (expected a size in "
	    "octets, with k, m or g for powers of 1024, at most 1024g; 0: no "
	    "limit)\n");
}

static void
test_hostport(void)
{
	static const struct {
		const char *s, *host;
		uint16_t port;
	} good[] = {
		{ "127.0.0.1:25", "127.0.0.1", 25 },
		{ "[::1]:2525", "::1", 2525 },
		{ "[::]:25", "::", 25 },
		{ "*:25", "*", 25 },
		{ "mx.example.com:65535", "mx.example.com", 65535 },
		{ "[fe80::1%eth0]:1", "fe80::1%eth0", 1 },
	};
	static const char *const bad[] = {
		"127.0.0.1", ":25", "::1:25", "[::1]25", "[::1]", "[]:25",
		"host:0", "host:65536", "host:25x", "host:", "ho st:25",
		"[::1:25", "host:-1", "[*]:25", "**:25", "",
	};
	char *host;
	uint16_t port;
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		host = NULL;
		CHECK_EQ_INT(config_parse_hostport(good[i].s, &host, &port), 0);
		CHECK_STR(host, good[i].host);
		CHECK_EQ_INT(port, good[i].port);
		free(host);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		host = NULL;
		if (config_parse_hostport(bad[i], &host, &port) != -1)
			fprintf(stderr, "accepted host:port '%s'\n", bad[i]);
		CHECK_EQ_INT(config_parse_hostport(bad[i], &host, &port), -1);
		CHECK(host == NULL);
	}
}

static void
test_defaults(void)
{
	config_t *cfg = load_ok(
	    "; a comment\n"
	    "[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "cert = a.pem\n"
	    "key = a.key\n"
	    "[outbound]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = relay\n"
	    "relay = 127.0.0.1:2526\n");
	const config_listener_t *in, *out;
	char buf[64];

	if (cfg == NULL)
		return;
	CHECK_STR(cfg->path, test_ini);
	CHECK_EQ_INT(cfg->log_level, LOG_INFO);
	CHECK_EQ_INT(cfg->log_format, LOG_FORMAT_TEXT);
	CHECK_EQ_INT(cfg->max_sessions, 10000);
	CHECK_EQ_INT(cfg->idle_timeout_ms, 300000);
	CHECK_EQ_INT(cfg->handshake_timeout_ms, 30000);
	CHECK_EQ_INT(cfg->connect_timeout_ms, 30000);
	CHECK_EQ_INT(cfg->nlisteners, 2);
	CHECK_EQ_INT(cfg->npolicies, 0);

	in = &cfg->listeners[0];
	CHECK_EQ_INT(in->dir, DIR_INBOUND);
	CHECK_STR(in->name, "inbound");
	CHECK_EQ_INT(in->line, 2);
	CHECK_STR(in->listen.host, "127.0.0.1");
	CHECK_EQ_INT(in->listen.port, 10025);
	CHECK_EQ_INT(in->listen.addr.ss_family, AF_INET);
	CHECK_EQ_INT(in->listen.addrlen, sizeof(struct sockaddr_in));
	CHECK_EQ_INT(addr_port(&in->listen), 10025);
	CHECK_STR(addr_text(&in->listen, buf, sizeof buf), "127.0.0.1");
	CHECK_EQ_INT(addr_port(&in->backend), 2525);
	CHECK_EQ_INT(in->in_tls, IN_TLS_STARTTLS);
	CHECK_EQ_INT(in->ncerts, 1);
	CHECK_STR(in->certs[0].cert, "a.pem");
	CHECK_STR(in->certs[0].key, "a.key");
	CHECK_EQ_INT(in->certs[0].line, 5);
	CHECK_EQ_INT(in->require_tls, 0);
	CHECK_EQ_INT(in->hide_auth_before_tls, 1);
	CHECK_EQ_INT(in->min_tls, 0x0303);

	out = &cfg->listeners[1];
	CHECK_EQ_INT(out->dir, DIR_OUTBOUND);
	CHECK_STR(out->name, "outbound");
	CHECK_EQ_INT(out->line, 7);
	CHECK_EQ_INT(out->out_mode, OUT_MODE_RELAY);
	CHECK_EQ_INT(out->out_tls, OUT_TLS_MAY);
	CHECK_STR(out->relay.host, "127.0.0.1");
	CHECK_EQ_INT(addr_port(&out->relay), 2526);
	CHECK(out->helo_name == NULL);
	CHECK(out->ca_file == NULL);
	CHECK_EQ_INT(out->mark, 0);
	CHECK_EQ_INT(out->min_tls, 0x0303);
	config_free(cfg);
}

static void
test_values(void)
{
	config_t *cfg = load_ok(
	    "[global]\n"
	    "log_level = DEBUG\n"
	    "log_format = json\n"
	    "max_sessions = 1000000\n"
	    "idle_timeout = 5m\n"
	    "handshake_timeout = 250ms\n"
	    "connect_timeout = 1h\n"
	    "[inbound:smtps]\n"
	    "listen = *:10465\n"
	    "backend = localhost:2525\n"
	    "tls = implicit\n"
	    "cert = a.pem\n"
	    "key = a.key\n"
	    "min_tls = 1.3\n"
	    "require_tls = on\n"
	    "hide_auth_before_tls = False\n"
	    "[outbound:t]\n"
	    "listen = [::1]:10587\n"
	    "mode = transparent\n"
	    "tls = encrypt\n"
	    "helo_name = mail.example.org\n"
	    "ca_file = /etc/ssl/certs/ca-certificates.crt\n"
	    "mark = 0x1F\n"
	    "min_tls = 1.3\n"
	    "[outbound:u]\n"
	    "listen = 127.0.0.1:10588\n"
	    "mode = relay\n"
	    "relay = localhost:587\n"
	    "tls = verify\n"
	    "helo_name = [192.0.2.1]\n"
	    "mark = 4294967295\n");
	const config_listener_t *l;
	char buf[64];

	if (cfg == NULL)
		return;
	CHECK_EQ_INT(cfg->log_level, LOG_DEBUG);
	CHECK_EQ_INT(cfg->log_format, LOG_FORMAT_JSON);
	CHECK_EQ_INT(cfg->max_sessions, 1000000);
	CHECK_EQ_INT(cfg->idle_timeout_ms, 300000);
	CHECK_EQ_INT(cfg->handshake_timeout_ms, 250);
	CHECK_EQ_INT(cfg->connect_timeout_ms, 3600000);
	CHECK_EQ_INT(cfg->nlisteners, 3);

	l = &cfg->listeners[0];
	CHECK_STR(l->name, "inbound:smtps");
	CHECK_STR(l->listen.host, "*");
	CHECK_EQ_INT(l->listen.addr.ss_family, AF_INET);
	CHECK_STR(addr_text(&l->listen, buf, sizeof buf), "0.0.0.0");
	CHECK_EQ_INT(addr_port(&l->listen), 10465);
	CHECK_STR(l->backend.host, "localhost");
	/* A name: resolved at connect time (hosts file, then DNS). */
	CHECK(!config_addr_resolved(&l->backend));
	CHECK_EQ_INT(l->backend.port, 2525);
	CHECK_EQ_INT(l->in_tls, IN_TLS_IMPLICIT);
	CHECK_EQ_INT(l->min_tls, 0x0304);
	CHECK_EQ_INT(l->require_tls, 1);
	CHECK_EQ_INT(l->hide_auth_before_tls, 0);

	l = &cfg->listeners[1];
	CHECK_STR(l->name, "outbound:t");
	CHECK_EQ_INT(l->listen.addr.ss_family, AF_INET6);
	CHECK_EQ_INT(l->listen.addrlen, sizeof(struct sockaddr_in6));
	CHECK_STR(l->listen.host, "::1");
	CHECK_STR(addr_text(&l->listen, buf, sizeof buf), "::1");
	CHECK_EQ_INT(addr_port(&l->listen), 10587);
	CHECK_EQ_INT(l->out_mode, OUT_MODE_TRANSPARENT);
	CHECK_EQ_INT(l->out_tls, OUT_TLS_ENCRYPT);
	CHECK_STR(l->helo_name, "mail.example.org");
	CHECK_STR(l->ca_file, "/etc/ssl/certs/ca-certificates.crt");
	CHECK_EQ_INT(l->mark, 0x1f);
	CHECK_EQ_INT(l->min_tls, 0x0304);
	CHECK(l->relay.host == NULL);

	l = &cfg->listeners[2];
	CHECK_EQ_INT(l->out_mode, OUT_MODE_RELAY);
	CHECK_EQ_INT(l->out_tls, OUT_TLS_VERIFY);
	/* As written: the relay's name is what its certificate must show. */
	CHECK_STR(l->relay.host, "localhost");
	CHECK_EQ_INT(l->relay.port, 587);
	/* A name is resolved at connect time by the proxy's resolver, never
	 * at load: -t must not need it. */
	CHECK(!config_addr_resolved(&l->relay));
	CHECK_STR(l->helo_name, "[192.0.2.1]");
	CHECK_EQ_INT(l->mark, 4294967295u);
	config_free(cfg);
}

static void
test_unknown_key(void)
{
	char *buf = NULL, want[PATH_MAX + 128];
	size_t len = 0;
	FILE *ms;
	config_t *cfg;

	/* Once with the real file name, as a user sees it. */
	write_file(test_ini, "[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "frobnicate = 1\n");
	ms = open_memstream(&buf, &len);
	cfg = config_load(test_ini, 0, ms);
	fclose(ms);
	snprintf(want, sizeof want,
	    "%s:5: unknown key 'frobnicate' in [inbound]\n", test_ini);
	CHECK(cfg == NULL);
	CHECK_STR(buf, want);
	free(buf);

	/* errs may be NULL: the verdict stays. */
	CHECK(config_load(test_ini, 0, NULL) == NULL);

	/* A key of another section is unknown here. */
	load_bad("[global]\nlisten = 127.0.0.1:25\n[inbound:a]\n"
	    "listen = 127.0.0.1:10025\nbackend = 127.0.0.1:2525\n"
	    "tls = off\nrelay = 127.0.0.1:25\n", 0,
	    "F:2: unknown key 'listen' in [global]\n"
	    "F:7: unknown key 'relay' in [inbound:a]\n");
}

static void
test_unknown_section(void)
{
	/* Its keys are not reported again, one by one. */
	load_bad("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "\n"
	    "[frobnicate]\n"
	    "a = 1\n"
	    "b = 2\n"
	    "[Inbound]\n"
	    "[global:x]\n", 0,
	    "F:6: unknown section [frobnicate]\n"
	    "F:9: unknown section [Inbound]\n"
	    "F:10: unknown section [global:x]\n");
	load_bad("log_level = info\n[inbound]\n"
	    "listen = 127.0.0.1:10025\nbackend = 127.0.0.1:2525\n"
	    "tls = off\n", 0,
	    "F:1: key 'log_level' outside any section\n");
}

static void
test_bad_duration(void)
{
	load_bad("[global]\n"
	    "idle_timeout = 5 parsecs\n"
	    "handshake_timeout = 0\n"
	    "connect_timeout = 99999999999999999999\n"
	    "[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n", 0,
	    "F:2: bad value for idle_timeout: '5 parsecs' (expected a "
	    "duration such as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h)\n"
	    "F:3: bad value for handshake_timeout: '0' (expected a "
	    "duration such as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h)\n"
	    "F:4: bad value for connect_timeout: '99999999999999999999' "
	    "(expected a duration such as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h)\n");
}

static void
test_many_errors(void)
{
	/*
	 * Every problem, each at its line, in line order: those found at the
	 * end of a section (line 7) come before the later key errors.
	 */
	load_bad(
	    "[global]\n"                          /* 1 */
	    "log_level = loud\n"                  /* 2 */
	    "max_sessions = 0\n"                  /* 3 */
	    "max_sessions = 10\n"                 /* 4 */
	    "; comment\n"                         /* 5 */
	    "\n"                                  /* 6 */
	    "[inbound]\n"                         /* 7 */
	    "  listen = 127.0.0.1:10025\n"        /* 8 */
	    "tls = sometimes\n"                   /* 9 */
	    "cert = a.pem\n"                      /* 10 */
	    "require_tls = maybe\n"               /* 11 */
	    "this line has no equals sign\n"      /* 12 */
	    "[outbound]\n"                        /* 13 */
	    "listen = 127.0.0.1:10025\n"          /* 14 */
	    "mode = relay\n"                      /* 15 */
	    "relay = 127.0.0.1:2525\n"            /* 16 */
	    "mark = 0\n"                          /* 17 */
	    "min_tls = 1.1\n"                     /* 18 */
	    "[policy:x.example\n"                 /* 19 */
	    "tls = whatever\n",                   /* 20: skipped */
	    0,
	    "F:2: bad value for log_level: 'loud' "
	    "(expected debug, info, warn or error)\n"
	    "F:3: bad value for max_sessions: '0' "
	    "(expected a number from 1 to 1000000)\n"
	    "F:4: duplicate key 'max_sessions' in [global] "
	    "(first at line 3)\n"
	    "F:7: missing required key 'backend' in [inbound]\n"
	    "F:9: bad value for tls: 'sometimes' "
	    "(expected starttls, implicit or off)\n"
	    "F:10: cert without key "
	    "(each cert = must be followed by its key =)\n"
	    "F:11: bad value for require_tls: 'maybe' (expected yes or no)\n"
	    "F:12: expected 'key = value', '[section]' or a comment\n"
	    "F:14: listen address 127.0.0.1:10025 is already used by "
	    "[inbound] (line 7)\n"
	    "F:17: bad value for mark: '0' "
	    "(expected a nonzero 32-bit number, decimal or 0x hex)\n"
	    "F:18: bad value for min_tls: '1.1' (expected 1.2 or 1.3)\n"
	    "F:19: bad section header: missing ']'\n");
}

static void
test_missing_required(void)
{
	load_bad("[inbound]\n"
	    "[outbound]\n"
	    "[outbound:r]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = relay\n"
	    "[policy:example.com]\n"
	    "match = example.com\n", 0,
	    "F:1: missing required key 'listen' in [inbound]\n"
	    "F:1: missing required key 'backend' in [inbound]\n"
	    "F:1: missing required key 'cert' in [inbound] "
	    "(needed unless tls = off)\n"
	    "F:2: missing required key 'listen' in [outbound]\n"
	    "F:2: missing required key 'mode' in [outbound]\n"
	    "F:3: missing required key 'relay' in [outbound:r] "
	    "(needed for mode = relay)\n"
	    "F:6: missing required key 'tls' in [policy:example.com]\n");
	load_bad("", 0, "F:0: no [inbound] or [outbound] listener\n");
	load_bad("[global]\nlog_level = warn\n", 0,
	    "F:0: no [inbound] or [outbound] listener\n");
}

static void
test_certs(void)
{
	config_t *cfg = load_ok(
	    "[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "cert = /etc/stp/rsa.pem\n"
	    "key = /etc/stp/rsa.key\n"
	    "\n"
	    "cert = /etc/stp/ecdsa.pem\n"
	    "key = /etc/stp/ecdsa.key\n");

	if (cfg != NULL) {
		const config_listener_t *l = &cfg->listeners[0];

		CHECK_EQ_INT(l->ncerts, 2);
		CHECK_STR(l->certs[0].cert, "/etc/stp/rsa.pem");
		CHECK_STR(l->certs[0].key, "/etc/stp/rsa.key");
		CHECK_EQ_INT(l->certs[0].line, 4);
		CHECK_STR(l->certs[1].cert, "/etc/stp/ecdsa.pem");
		CHECK_STR(l->certs[1].key, "/etc/stp/ecdsa.key");
		CHECK_EQ_INT(l->certs[1].line, 7);
	}
	config_free(cfg);

	load_bad("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "key = lonely.key\n"
	    "cert = a.pem\n"
	    "cert = b.pem\n"
	    "key = b.key\n"
	    "cert = c.pem\n", 0,
	    "F:4: key without cert (each key = must follow its cert =)\n"
	    "F:5: cert without key "
	    "(each cert = must be followed by its key =)\n"
	    "F:8: cert without key "
	    "(each cert = must be followed by its key =)\n");

	load_bad("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "cert = 1\nkey = 1\ncert = 2\nkey = 2\ncert = 3\nkey = 3\n"
	    "cert = 4\nkey = 4\ncert = 5\nkey = 5\ncert = 6\nkey = 6\n"
	    "cert = 7\nkey = 7\ncert = 8\nkey = 8\ncert = 9\nkey = 9\n", 0,
	    "F:20: too many cert/key pairs in [inbound] (at most 8)\n"
	    "F:21: key without cert (each key = must follow its cert =)\n");

	/* tls = off needs no certificate, but cannot require TLS. */
	load_bad("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "require_tls = yes\n"
	    "tls = off\n", 0,
	    "F:4: require_tls = yes cannot be met with tls = off\n");
}

static void
test_listen_addresses(void)
{
	config_t *cfg = load_ok(
	    "[inbound:v6]\n"
	    "listen = [::1]:10025\n"
	    "backend = [::1]:2525\n"
	    "tls = off\n"
	    "[inbound:any6]\n"
	    "listen = [::]:10026\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "[inbound:any4]\n"
	    "listen = *:10026\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n");
	char buf[64];

	if (cfg != NULL) {
		const config_listener_t *l = cfg->listeners;

		CHECK_EQ_INT(cfg->nlisteners, 3);
		CHECK_EQ_INT(l[0].listen.addr.ss_family, AF_INET6);
		CHECK_STR(addr_text(&l[0].listen, buf, sizeof buf), "::1");
		CHECK_EQ_INT(addr_port(&l[0].listen), 10025);
		CHECK_EQ_INT(l[0].backend.addr.ss_family, AF_INET6);
		CHECK_EQ_INT(addr_port(&l[0].backend), 2525);
		CHECK_EQ_INT(l[1].listen.addr.ss_family, AF_INET6);
		CHECK_STR(addr_text(&l[1].listen, buf, sizeof buf), "::");
		CHECK_EQ_INT(l[2].listen.addr.ss_family, AF_INET);
		CHECK_STR(addr_text(&l[2].listen, buf, sizeof buf), "0.0.0.0");
	}
	config_free(cfg);

	/* Listening needs numbers: a name would be resolved who knows how. */
	load_bad("[inbound]\n"
	    "listen = localhost:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "[inbound:b]\n"
	    "listen = ::1:25\n"
	    "backend = *:2525\n"
	    "tls = off\n", 0,
	    "F:2: bad value for listen: 'localhost:10025' (expected a "
	    "numeric address and port: 127.0.0.1:25, [::1]:25, *:25)\n"
	    "F:6: bad value for listen: '::1:25' (expected a numeric "
	    "address and port: 127.0.0.1:25, [::1]:25, *:25)\n"
	    "F:7: bad value for backend: '*:2525' "
	    "(expected host:port or [v6]:port)\n");

	/* The wildcard takes the port on every address of its family. */
	load_bad("[inbound]\n"
	    "listen = *:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "[outbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "mode = transparent\n", 0,
	    "F:6: listen address 127.0.0.1:10025 is already used by "
	    "[inbound] (line 1)\n");
}

static void
test_unresolvable(void)
{
	/* Backend and relay names are resolved at connect time by the proxy's
	 * resolver: a name that does not resolve now is no load error (-t
	 * must not depend on DNS), a malformed one is. */
	config_t *cfg = load_ok("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = no-such-host.invalid:2525\n"
	    "tls = off\n");

	if (cfg != NULL) {
		CHECK_STR(cfg->listeners[0].backend.host,
		    "no-such-host.invalid");
		CHECK(!config_addr_resolved(&cfg->listeners[0].backend));
	}
	config_free(cfg);
	load_bad("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = bad..name:2525\n"
	    "tls = off\n", 0,
	    "F:3: bad value for backend: 'bad..name:2525' (expected host:port "
	    "or [v6]:port)\n");
}

static void
test_transparent(void)
{
	load_bad("[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "[outbound]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = transparent\n"
	    "tls = verify\n"
	    "[outbound:b]\n"
	    "listen = 127.0.0.1:10588\n"
	    "relay = 127.0.0.1:2525\n"
	    "mode = transparent\n", 0,
	    "F:8: tls = verify needs a name to verify, which transparent "
	    "mode does not know; use [policy:DOMAIN] sections\n"
	    "F:11: relay is only allowed with mode = relay\n");
}

static void
test_policy(void)
{
	char text[1024];
	config_t *cfg;

	snprintf(text, sizeof text, "%s"
	    "[policy:Example.COM.]\n"
	    "tls = verify\n"
	    "[policy:partner.example]\n"
	    "match = mx1.Partner.example, .MX.partner.example.\tmx2.x.example\n"
	    "match = ,other.example,\n"
	    "tls = Encrypt\n", minimal_inbound);
	cfg = load_ok(text);
	if (cfg != NULL) {
		const config_policy_t *p = cfg->policies;

		CHECK_EQ_INT(cfg->npolicies, 2);
		CHECK_STR(p[0].domain, "example.com");
		CHECK_EQ_INT(p[0].tls, OUT_TLS_VERIFY);
		CHECK_EQ_INT(p[0].line, 5);
		CHECK_EQ_INT(p[0].nmatch, 1);
		CHECK_STR(p[0].match[0], "example.com");
		CHECK_STR(p[1].domain, "partner.example");
		CHECK_EQ_INT(p[1].tls, OUT_TLS_ENCRYPT);
		CHECK_EQ_INT(p[1].nmatch, 4);
		CHECK_STR(p[1].match[0], "mx1.partner.example");
		CHECK_STR(p[1].match[1], ".mx.partner.example");
		CHECK_STR(p[1].match[2], "mx2.x.example");
		CHECK_STR(p[1].match[3], "other.example");
	}
	config_free(cfg);

	snprintf(text, sizeof text, "%s"
	    "[policy:a.example]\n"                         /* 5 */
	    "tls = maybe\n"                                /* 6 */
	    "match = ok.example bad..example\n"            /* 7 */
	    "match = , ,\n"                                /* 8 */
	    "[policy:EXAMPLE.com]\n"                       /* 9 */
	    "tls = encrypt\n"                              /* 10 */
	    "[policy:example.com.]\n"                      /* 11 */
	    "tls = verify\n"                               /* 12 */
	    "[policy]\n"                                   /* 13 */
	    "[policy:no_good!]\n", minimal_inbound);       /* 14 */
	load_bad(text, 0,
	    "F:6: bad value for tls: 'maybe' (expected may, encrypt, verify "
	    "or dane)\n"
	    "F:7: bad value for match: 'ok.example bad..example' (expected "
	    "host names or .domain suffixes separated by spaces or commas, "
	    "at most 16)\n"
	    "F:8: bad value for match: ', ,' (expected host names or .domain "
	    "suffixes separated by spaces or commas, at most 16)\n"
	    "F:11: duplicate policy for example.com (first at line 9)\n"
	    "F:13: bad section name [policy] (expected [policy:DOMAIN])\n"
	    "F:14: bad section name [policy:no_good!] "
	    "(expected [policy:DOMAIN])\n");

	snprintf(text, sizeof text, "%s[policy:a.example]\ntls = verify\n"
	    "match = a b c d e f g h i j k l m n o p\nmatch = q\n",
	    minimal_inbound);
	load_bad(text, 0,
	    "F:8: bad value for match: 'q' (expected host names or .domain "
	    "suffixes separated by spaces or commas, at most 16)\n");
}

static void
test_party(void)
{
	char text[2048];
	config_t *cfg;
	static const uint8_t fp[CONFIG_SHA256_LEN] = {
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
		0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
	};

	snprintf(text, sizeof text, "%s"
	    "client_ca = /x/ca.pem\n"
	    "[party:bank]\n"
	    "tls = verify\n"
	    "clients = 192.0.2.0/24, 2001:db8::/32\n"
	    "senders = Bank.Example. .bank.example\n"
	    "recipients = legal.example\n"
	    "client_fingerprints = AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:"
	    "67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\n"
	    "client_fingerprints = abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789\n"
	    "client_names = mx.bank.example .mail.bank.example\n"
	    "[party:plain-partner]\n"
	    "senders = partner.example\n"
	    "tls = Encrypt\n",
	    "[inbound]\nlisten = 127.0.0.1:10025\nbackend = 127.0.0.1:2525\n"
	    "cert = /x/c.pem\nkey = /x/k.pem\n");
	cfg = load_ok(text);
	if (cfg != NULL) {
		const config_party_t *p = cfg->parties;

		CHECK_STR(cfg->listeners[0].client_ca, "/x/ca.pem");
		CHECK_EQ_INT(cfg->nparties, 2);
		CHECK_STR(p[0].name, "bank");
		CHECK_EQ_INT(p[0].tls, PARTY_TLS_VERIFY);
		CHECK_EQ_INT(p[0].line, 7);
		CHECK_EQ_INT(p[0].nclients, 2);
		CHECK_EQ_INT(p[0].clients[0].family, AF_INET);
		CHECK_EQ_INT(p[0].clients[0].prefix, 24);
		CHECK_EQ_INT(p[0].clients[1].family, AF_INET6);
		CHECK_EQ_INT(p[0].nsenders, 2);
		CHECK_STR(p[0].senders[0], "bank.example");
		CHECK_STR(p[0].senders[1], ".bank.example");
		CHECK_EQ_INT(p[0].nrecipients, 1);
		CHECK_STR(p[0].recipients[0], "legal.example");
		CHECK_EQ_INT(p[0].nfingerprints, 2);
		CHECK_MEM(p[0].fingerprints[0], CONFIG_SHA256_LEN, fp,
		    sizeof(fp));
		CHECK_MEM(p[0].fingerprints[1], CONFIG_SHA256_LEN, fp,
		    sizeof(fp));
		CHECK_EQ_INT(p[0].nnames, 2);
		CHECK_STR(p[0].names[1], ".mail.bank.example");
		CHECK_STR(p[1].name, "plain-partner");
		CHECK_EQ_INT(p[1].tls, PARTY_TLS_ENCRYPT);
		CHECK_EQ_INT(p[1].nclients, 0);
	}
	config_free(cfg);

	snprintf(text, sizeof text, "%s"
	    "[party:a]\n"                                   /* 5 */
	    "tls = maybe\n"                                 /* 6 */
	    "clients = 192.0.2.0/33\n"                      /* 7 */
	    "senders = ok.example bad..example\n"           /* 8 */
	    "client_fingerprints = abcd\n"                  /* 9 */
	    "[party:b]\n"                                   /* 10 */
	    "tls = encrypt\n"                               /* 11 */
	    "client_names = x.example\n"                    /* 12 */
	    "[party:c]\n"                                   /* 13 */
	    "recipients = c.example\n"                      /* 14 */
	    "[party:b]\n"                                   /* 15 */
	    "[party]\n"                                     /* 16 */
	    "[party:d]\n"                                   /* 17 */
	    "tls = verify\n"                                /* 18 */
	    "senders = d.example\n", minimal_inbound);      /* 19 */
	load_bad(text, 0,
	    "F:6: bad value for tls: 'maybe' (expected encrypt or verify)\n"
	    "F:7: bad value for clients: '192.0.2.0/33' (expected networks "
	    "such as 192.0.2.0/24 or 2001:db8::/32, separated by spaces or "
	    "commas, at most 64)\n"
	    "F:8: bad value for senders: 'ok.example bad..example' (expected "
	    "domains or .domain suffixes separated by spaces or commas, at "
	    "most 64)\n"
	    "F:9: bad value for client_fingerprints: 'abcd' (expected SHA-256 "
	    "fingerprints (64 hex digits, ':' between pairs allowed) "
	    "separated by spaces or commas, at most 64)\n"
	    "F:10: [party:b] matches nothing: give clients, senders or "
	    "recipients\n"
	    "F:12: client_names needs tls = verify\n"
	    "F:13: missing required key 'tls' in [party:c]\n"
	    "F:15: duplicate section [party:b] (first at line 10)\n"
	    "F:16: bad section name [party] (NAME in [party:NAME] is 1 to 64 "
	    "letters, digits, '.', '-' or '_')\n");
	/* Line 17 has no error: tls = off listeners ask for no certificate
	 * and cannot carry a verify party's mail anyway (530). */

	/* verify needs client_ca on every TLS inbound listener. */
	snprintf(text, sizeof text,
	    "[party:d]\ntls = verify\nsenders = d.example\n"     /* 1-3 */
	    "[inbound]\nlisten = 127.0.0.1:10025\n"             /* 4-5 */
	    "backend = 127.0.0.1:2525\ncert = c\nkey = k\n"      /* 6-8 */
	    "[inbound:b]\nlisten = 127.0.0.1:10026\n"           /* 9-10 */
	    "backend = 127.0.0.1:2525\ncert = c\nkey = k\n"      /* 11-13 */
	    "client_ca = ca\nreceived_header = maybe\n");       /* 14-15 */
	load_bad(text, 0,
	    "F:1: [party:d] tls = verify needs client_ca on [inbound]\n"
	    "F:15: bad value for received_header: 'maybe' (expected yes or "
	    "no)\n");

	/* client_ca, ticket_key and received_header. */
	snprintf(text, sizeof text, "%s"
	    "client_ca = /x/ca\nticket_key = /x/k1\nticket_key = /x/k2\n"
	    "received_header = yes\n", minimal_inbound);
	load_bad(text, 0,
	    "F:5: client_ca needs TLS (tls = off)\n"
	    "F:6: ticket_key needs TLS (tls = off)\n");
	snprintf(text, sizeof text,
	    "[inbound]\nlisten = 127.0.0.1:10025\nbackend = 127.0.0.1:2525\n"
	    "cert = c\nkey = k\n"
	    "ticket_key = /x/k1\nticket_key = /x/k2\nreceived_header = yes\n");
	cfg = load_ok(text);
	if (cfg != NULL) {
		CHECK_EQ_INT(cfg->listeners[0].nticket_keys, 2);
		CHECK_STR(cfg->listeners[0].ticket_keys[1], "/x/k2");
		CHECK_EQ_INT(cfg->listeners[0].received_header, 1);
		CHECK(cfg->listeners[0].client_ca == NULL);
	}
	config_free(cfg);
}

/* ticket_key files are checked for their size with check_files, and the
 * message never shows key bytes. */
static void
test_ticket_key_files(void)
{
	char text[4 * PATH_MAX], k80[PATH_MAX], k48[PATH_MAX], k20[PATH_MAX];
	char b[81];
	FILE *f;

	test_path(k80, sizeof k80, "k80");
	test_path(k48, sizeof k48, "k48");
	test_path(k20, sizeof k20, "k20");
	memset(b, 'Z', sizeof b);
	f = fopen(k80, "wb");
	fwrite(b, 1, 80, f);
	fclose(f);
	f = fopen(k48, "wb");
	fwrite(b, 1, 48, f);
	fclose(f);
	f = fopen(k20, "wb");
	fwrite(b, 1, 20, f);
	fclose(f);
	snprintf(text, sizeof text,
	    "[inbound]\nlisten = 127.0.0.1:10025\nbackend = 127.0.0.1:2525\n"
	    "tls = off\n[inbound:t]\nlisten = 127.0.0.1:10026\n"
	    "backend = 127.0.0.1:2525\ncert = c\nkey = k\n"
	    "ticket_key = %s\nticket_key = %s\nticket_key = %s\n"
	    "ticket_key = %s/none\n", k80, k48, k20, test_dir);
	{
		char *errs;
		config_t *cfg = load(text, 1, &errs);
		char line[2 * PATH_MAX];

		CHECK(cfg == NULL);
		snprintf(line, sizeof line, "F:12: ticket_key '%s': another "
		    "number of bytes; a key is 80 or 48 bytes (openssl rand 80 "
		    "> FILE)\n", k20);
		CHECK(strstr(errs, line) != NULL);
		snprintf(line, sizeof line, "F:13: ticket_key '%s/none': "
		    "cannot read: No such file or directory\n", test_dir);
		CHECK(strstr(errs, line) != NULL);
		CHECK(strstr(errs, "F:10:") == NULL);
		CHECK(strstr(errs, "F:11:") == NULL);
		CHECK(strstr(errs, "ZZZ") == NULL);
		free(errs);
		config_free(cfg);
	}
}

static void
test_allow_commands(void)
{
	char text[2048];
	config_t *cfg;

	snprintf(text, sizeof text, "%s"
	    "allow_commands = atrn, X-Foo\tturn,,Z9\n"
	    "[outbound]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = relay\n"
	    "relay = 127.0.0.1:2525\n"
	    "allow_commands = ATRN\n", minimal_inbound);
	cfg = load_ok(text);
	if (cfg != NULL) {
		const config_listener_t *l = &cfg->listeners[0];

		CHECK_EQ_INT(l->nallow_commands, 4);
		CHECK_STR(l->allow_commands[0], "ATRN");
		CHECK_STR(l->allow_commands[1], "X-FOO");
		CHECK_STR(l->allow_commands[2], "TURN");
		CHECK_STR(l->allow_commands[3], "Z9");
		CHECK_EQ_INT(cfg->listeners[1].nallow_commands, 1);
		CHECK_STR(cfg->listeners[1].allow_commands[0], "ATRN");
	}
	config_free(cfg);

	/* 32 characters pass, 33 do not; 16 verbs pass, 17 do not. */
	snprintf(text, sizeof text, "%s"
	    "allow_commands = A234567890123456789012345678901B "
	    "a b c d e f g h i j k l m n o\n", minimal_inbound);
	cfg = load_ok(text);
	if (cfg != NULL) {
		CHECK_EQ_INT(cfg->listeners[0].nallow_commands, 16);
		CHECK_STR(cfg->listeners[0].allow_commands[0],
		    "A234567890123456789012345678901B");
	}
	config_free(cfg);

	snprintf(text, sizeof text, "%s"
	    "allow_commands = A234567890123456789012345678901BC\n",
	    minimal_inbound);
	load_bad(text, 0, "F:5: allow_commands: bad verb "
	    "'A234567890123456789012345678901BC' (1 to 32 letters, digits or "
	    "'-', starting with a letter)\n");
	snprintf(text, sizeof text, "%s"
	    "allow_commands = a b c d e f g h i j k l m n o p q\n",
	    minimal_inbound);
	load_bad(text, 0, "F:5: allow_commands: too many verbs (at most 16)\n");

	snprintf(text, sizeof text, "%s"
	    "allow_commands = 9X -A A_B X.Y ok\n"        /* 5 */
	    "[inbound:b]\n"                              /* 6 */
	    "listen = 127.0.0.1:10026\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "allow_commands = ATRN atrn StartTLS bdat xclient XFORWARD\n"
	    "[inbound:c]\n"                              /* 11 */
	    "listen = 127.0.0.1:10027\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "allow_commands = mail, ehlo AUTH etrn\n"   /* 15 */
	    "allow_commands = ATRN\n"                   /* 16 */
	    "[outbound]\n"                              /* 17 */
	    "listen = 127.0.0.1:10587\n"
	    "mode = relay\n"
	    "relay = 127.0.0.1:2525\n"
	    "allow_commands = , ,\n", minimal_inbound); /* 21 */
	load_bad(text, 0,
	    "F:5: allow_commands: bad verb '9X' (1 to 32 letters, digits or "
	    "'-', starting with a letter)\n"
	    "F:5: allow_commands: bad verb '-A' (1 to 32 letters, digits or "
	    "'-', starting with a letter)\n"
	    "F:5: allow_commands: bad verb 'A_B' (1 to 32 letters, digits or "
	    "'-', starting with a letter)\n"
	    "F:5: allow_commands: bad verb 'X.Y' (1 to 32 letters, digits or "
	    "'-', starting with a letter)\n"
	    "F:10: allow_commands: duplicate verb ATRN\n"
	    "F:10: allow_commands: STARTTLS is handled by the proxy and is "
	    "never forwarded\n"
	    "F:10: allow_commands: BDAT is handled by the proxy and is never "
	    "forwarded\n"
	    "F:10: allow_commands: XCLIENT is handled by the proxy and is "
	    "never forwarded\n"
	    "F:10: allow_commands: XFORWARD is handled by the proxy and is "
	    "never forwarded\n"
	    "F:15: allow_commands: MAIL is always relayed; leave it out\n"
	    "F:15: allow_commands: EHLO is always relayed; leave it out\n"
	    "F:15: allow_commands: AUTH is always relayed; leave it out\n"
	    "F:15: allow_commands: ETRN is always relayed; leave it out\n"
	    "F:16: duplicate key 'allow_commands' in [inbound:c] "
	    "(first at line 15)\n"
	    "F:21: bad value for allow_commands: ', ,' (expected SMTP verbs "
	    "separated by spaces or commas)\n");
}

static void
test_tls_rate_limit(void)
{
	char text[1024];
	config_t *cfg;

	cfg = load_ok(minimal_inbound);
	if (cfg != NULL)
		CHECK_EQ_INT(cfg->listeners[0].tls_rate_limit, 0);
	config_free(cfg);
	cfg = load_ok("[inbound]\nlisten = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\ntls = implicit\ncert = c\nkey = k\n"
	    "tls_rate_limit = 1000000\n"
	    "[inbound:b]\nlisten = 127.0.0.1:10026\n"
	    "backend = 127.0.0.1:2525\ncert = c\nkey = k\n"
	    "tls_rate_limit = 0\n");
	if (cfg != NULL) {
		CHECK_EQ_INT(cfg->listeners[0].tls_rate_limit, 1000000);
		CHECK_EQ_INT(cfg->listeners[1].tls_rate_limit, 0);
	}
	config_free(cfg);

	snprintf(text, sizeof text, "%s"
	    "tls_rate_limit = 5\n"                    /* 5 */
	    "[inbound:b]\nlisten = 127.0.0.1:10026\n"
	    "backend = 127.0.0.1:2525\ncert = c\nkey = k\n"
	    "tls_rate_limit = 1000001\n"              /* 11 */
	    "[inbound:c]\nlisten = 127.0.0.1:10027\n"
	    "backend = 127.0.0.1:2525\ncert = c\nkey = k\n"
	    "tls_rate_limit = -1\n"                   /* 17 */
	    "[outbound]\nlisten = 127.0.0.1:10587\nmode = relay\n"
	    "relay = 127.0.0.1:2525\n"
	    "tls_rate_limit = 5\n", minimal_inbound); /* 22 */
	load_bad(text, 0,
	    "F:5: tls_rate_limit has nothing to limit with tls = off\n"
	    "F:11: bad value for tls_rate_limit: '1000001' (expected new TLS "
	    "handshakes per client address per minute, 0 to 1000000; 0: no "
	    "limit)\n"
	    "F:17: bad value for tls_rate_limit: '-1' (expected new TLS "
	    "handshakes per client address per minute, 0 to 1000000; 0: no "
	    "limit)\n"
	    "F:22: unknown key 'tls_rate_limit' in [outbound]\n");
}

static void
test_duplicates(void)
{
	load_bad("[global]\n"
	    "[inbound:a]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "tls = off\n"
	    "listen = 127.0.0.1:10026\n"
	    "[inbound:a]\n"
	    "listen = 127.0.0.1:10027\n"
	    "[global]\n"
	    "[outbound:a]\n"
	    "listen = [::1]:10025\n"
	    "mode = transparent\n"
	    "[outbound:bad name]\n", 0,
	    "F:6: duplicate key 'listen' in [inbound:a] (first at line 3)\n"
	    "F:7: duplicate section [inbound:a] (first at line 2)\n"
	    "F:9: duplicate section [global] (first at line 1)\n"
	    "F:13: bad section name [outbound:bad name] (NAME in "
	    "[outbound:NAME] is 1 to 64 letters, digits, '.', '-' or '_')\n");
}

static void
test_syntax(void)
{
	char text[1024], longline[400], want[PATH_MAX + 64];
	config_t *cfg;

	/*
	 * A byte order mark, CRLF, indented keys and section (not joined to
	 * the previous value), a comment after the section header, an
	 * inline comment, "key: value".
	 */
	cfg = load_ok("\xEF\xBB\xBF[inbound] ; the main one\r\n"
	    "\tlisten = 127.0.0.1:10025\r\n"
	    "    backend: 127.0.0.1:2525 ; the MTA\r\n"
	    "  # indented comment\r\n"
	    "   tls = off\r\n"
	    "  [ outbound:x ]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = transparent");
	if (cfg != NULL) {
		CHECK_EQ_INT(cfg->nlisteners, 2);
		CHECK_EQ_INT(addr_port(&cfg->listeners[0].backend), 2525);
		CHECK_EQ_INT(cfg->listeners[0].in_tls, IN_TLS_OFF);
		CHECK_STR(cfg->listeners[1].name, "outbound:x");
		CHECK_EQ_INT(cfg->listeners[1].line, 6);
	}
	config_free(cfg);

	memset(longline, 'a', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	memcpy(longline, "cert = ", 7);
	snprintf(text, sizeof text, "%s%s\n[inbound:x] junk\nkey = x\n",
	    minimal_inbound, longline);
	load_bad(text, 0,
	    "F:5: line too long (at most 198 characters)\n"
	    "F:6: bad section header: text after ']'\n");

	/* NUL bytes are not text. */
	{
		char *errs;
		FILE *f = fopen(test_ini, "w");

		fputs(minimal_inbound, f);
		fwrite("cert\0= x\n", 1, 9, f);
		fclose(f);
		errs = load_path(test_ini, &cfg);
		CHECK(cfg == NULL);
		snprintf(want, sizeof want, "%s:5: NUL byte in line\n",
		    test_ini);
		CHECK_STR(errs, want);
		free(errs);
	}
}

static void
test_unreadable(void)
{
	char path[PATH_MAX], want[PATH_MAX + 64], *errs;
	config_t *cfg;

	test_path(path, sizeof path, "does-not-exist.ini");
	errs = load_path(path, &cfg);
	snprintf(want, sizeof want,
	    "%s:0: cannot read: No such file or directory\n", path);
	CHECK(cfg == NULL);
	CHECK_STR(errs, want);
	free(errs);

	/* A directory opens but does not read. */
	errs = load_path(test_dir, &cfg);
	snprintf(want, sizeof want, "%s:0: cannot read: Is a directory\n",
	    test_dir);
	CHECK(cfg == NULL);
	CHECK_STR(errs, want);
	free(errs);

	config_free(NULL);
}

static int
have_openssl(void)
{
	return system("command -v openssl >/dev/null 2>&1") == 0;
}

/* make_pair makes DIR/NAME.pem and DIR/NAME.key with openssl req. */
static int
make_pair(const char *name, const char *keyopts)
{
	char cmd[TEST_MAX_CMD];

	snprintf(cmd, sizeof cmd, "openssl req -x509 -nodes -newkey %s "
	    "-keyout '%s/%s.key' -out '%s/%s.pem' -days 2 "
	    "-subj /CN=localhost >/dev/null 2>&1", keyopts, test_dir, name,
	    test_dir, name);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_check_files(void)
{
	char text[4096], want[1024], *errs;
	const char *d = test_dir;
	config_t *cfg;

	if (!have_openssl()) {
		fprintf(stderr, "note: no openssl command, skipping "
		    "test_check_files\n");
		return;
	}
	CHECK_EQ_INT(make_pair("rsa", "rsa:2048"), 0);
	CHECK_EQ_INT(make_pair("ec", "ec -pkeyopt ec_paramgen_curve:P-256"),
	    0);

	snprintf(text, sizeof text,
	    "[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "cert = %s/rsa.pem\n"
	    "key = %s/rsa.key\n"
	    "cert = %s/ec.pem\n"
	    "key = %s/ec.key\n"
	    "[outbound]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = transparent\n"
	    "ca_file = %s/rsa.pem\n", d, d, d, d, d);
	cfg = load(text, 1, &errs);
	CHECK(cfg != NULL);
	CHECK_STR(errs, "");
	if (cfg != NULL)
		CHECK_EQ_INT(cfg->listeners[0].ncerts, 2);
	config_free(cfg);
	free(errs);

	/* A mismatched pair, a missing file, a missing CA file. */
	snprintf(text, sizeof text,
	    "[inbound]\n"
	    "listen = 127.0.0.1:10025\n"
	    "backend = 127.0.0.1:2525\n"
	    "cert = %s/rsa.pem\n"
	    "key = %s/ec.key\n"
	    "cert = %s/missing.pem\n"
	    "key = %s/rsa.key\n"
	    "cert = %s/ec.pem\n"
	    "key = %s/ec.key\n"
	    "[outbound]\n"
	    "listen = 127.0.0.1:10587\n"
	    "mode = transparent\n"
	    "ca_file = %s/missing-ca.pem\n", d, d, d, d, d, d, d);
	cfg = load(text, 1, &errs);
	CHECK(cfg == NULL);
	{
		char *l1 = errs, *l2 = strchr(l1, '\n'), *l3;

		/* tls_check_keypair's own words follow "cert/key: ". */
		CHECK_PREFIX(l1, "F:4: cert/key: ");
		CHECK(l1[15] != '\n');
		CHECK(l2 != NULL);
		if (l2 == NULL)
			goto out;
		l2++;
		CHECK_PREFIX(l2, "F:6: cert/key: ");
		CHECK(l2[15] != '\n');
		l3 = strchr(l2, '\n');
		CHECK(l3 != NULL);
		if (l3 == NULL)
			goto out;
		snprintf(want, sizeof want, "F:13: cannot read ca_file "
		    "'%s/missing-ca.pem': No such file or directory\n", d);
		CHECK_STR(l3 + 1, want);
	}
out:
	free(errs);
	config_free(cfg);

	/* Without check_files, nothing is opened. */
	cfg = load(text, 0, &errs);
	CHECK(cfg != NULL);
	CHECK_STR(errs, "");
	free(errs);
	config_free(cfg);
}

static void
test_example_file(void)
{
	const char *src = getenv("STP_SOURCE_DIR");
	char path[PATH_MAX], *buf;
	config_t *cfg;
	int i, inbound = 0, implicit = 0, outbound = 0;

	if (src == NULL) {
		fprintf(stderr, "note: STP_SOURCE_DIR not set (ctest sets "
		    "it), skipping test_example_file\n");
		return;
	}
	snprintf(path, sizeof path, "%s/config/starttls-proxy.ini", src);
	buf = load_path(path, &cfg);
	CHECK(cfg != NULL);
	CHECK_STR(buf, "");
	free(buf);
	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nlisteners; i++) {
		const config_listener_t *l = &cfg->listeners[i];

		/* An outbound listener open to the world is an open relay. */
		if (l->dir == DIR_OUTBOUND) {
			outbound++;
			CHECK(l->listen.addr.ss_family == AF_INET &&
			    ntohl(((const struct sockaddr_in *)
			    &l->listen.addr)->sin_addr.s_addr) >> 24 == 127);
		} else {
			inbound++;
			if (l->in_tls == IN_TLS_IMPLICIT &&
			    addr_port(&l->listen) == 10465)
				implicit++;
		}
	}
	CHECK(inbound >= 2);
	CHECK_EQ_INT(implicit, 1);
	CHECK_STR(cfg->listeners[0].name, "inbound");
	CHECK_EQ_INT(addr_port(&cfg->listeners[0].listen), 10025);
	CHECK_EQ_INT(addr_port(&cfg->listeners[0].backend), 2525);
	CHECK(cfg->listeners[0].ncerts >= 1);
	(void)outbound;
	config_free(cfg);
}

static void
test_cleanup(void)
{
	char cmd[TEST_MAX_CMD];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "note: could not remove %s\n", test_dir);
}

/* tlsrpt_socket: an absolute name that fits sun_path (107 octets and the
 * NUL); off by default; the collector need not exist at load. */
static void
test_tlsrpt_socket(void)
{
#define RPT_LST "[outbound]\nlisten = 127.0.0.1:10587\nmode = relay\n" \
	"relay = 127.0.0.1:25\n"
	char ok[220], bad[260];
	config_t *cfg;

	cfg = load_ok("[global]\n" RPT_LST);
	if (cfg != NULL)
		CHECK(cfg->tlsrpt_socket == NULL);
	config_free(cfg);
	memset(ok, 'a', sizeof(ok));
	memcpy(ok, "[global]\ntlsrpt_socket = /", 26);
	memcpy(ok + 26 + 106, "\n" RPT_LST, sizeof(RPT_LST) + 1);
	/* "/" and 106 octets: 107 */
	cfg = load_ok(ok);
	if (cfg != NULL)
		CHECK_EQ_INT((int)strlen(cfg->tlsrpt_socket), 107);
	config_free(cfg);
	cfg = load_ok("[global]\ntlsrpt_socket = /nonexistent/collectd.sock\n"
	    RPT_LST);
	if (cfg != NULL)
		CHECK_STR(cfg->tlsrpt_socket, "/nonexistent/collectd.sock");
	config_free(cfg);
	memset(bad, 'a', sizeof(bad));
	memcpy(bad, "[global]\ntlsrpt_socket = /", 26);
	memcpy(bad + 26 + 107, "\n" RPT_LST, sizeof(RPT_LST) + 1);
	/* 108 octets: too long */
	{
		char *errs;
		config_t *c = load(bad, 0, &errs);

		CHECK(c == NULL);
		CHECK(strstr(errs, "F:2: bad value for tlsrpt_socket") != NULL);
		config_free(c);
		free(errs);
	}
	load_bad("[global]\ntlsrpt_socket = run/collectd.sock\n" RPT_LST, 0,
	    "F:2: bad value for tlsrpt_socket: 'run/collectd.sock' (expected "
	    "an absolute socket name of at most 107 octets)\n");
#undef RPT_LST
}

static void
test_authenticated_delivery(void)
{
	config_t *cfg;

	/* Defaults: resolver from resolv.conf, probe ns:., nothing on. */
	cfg = load_ok("[outbound]\nlisten = 127.0.0.1:10587\n"
	    "mode = transparent\n");
	if (cfg != NULL) {
		CHECK(cfg->dns.host == NULL);
		CHECK_EQ_INT(cfg->dns_timeout_ms, 5000);
		CHECK_EQ_INT(cfg->dns_trust_ad, 0);
		CHECK_EQ_INT(cfg->dnssec_probe_type, 2);
		CHECK_STR(cfg->dnssec_probe_name, ".");
		CHECK(cfg->state_dir == NULL);
		CHECK_EQ_INT(cfg->policy_lookup_timeout_ms, 15000);
		CHECK_EQ_INT(cfg->mta_sts_fetch_timeout_ms, 10000);
		CHECK_EQ_INT(cfg->listeners[0].dane, 0);
		CHECK_EQ_INT(cfg->listeners[0].mta_sts, 0);
	}
	config_free(cfg);

	cfg = load_ok("[global]\ndns = [::1]:5353\ndns_timeout = 2s\n"
	    "dns_trust_ad = yes\ndnssec_probe = mx:Lab.Test\n"
	    "state_dir = /var/lib/x\npolicy_lookup_timeout = 3s\n"
	    "mta_sts_fetch_timeout = 4s\nmta_sts_ca_file = /x/ca.pem\n"
	    "[outbound]\nlisten = 127.0.0.1:10587\n"
	    "mode = transparent\ndane = yes\nmta_sts = yes\n"
	    "[outbound:r]\nlisten = 127.0.0.1:10588\nmode = relay\n"
	    "relay = smtp.example.net:587\nrelay_dane = yes\n"
	    "[policy:broken.example]\ntls = may\n"
	    "[policy:partner.example]\ntls = dane\n");
	if (cfg != NULL) {
		CHECK_STR(cfg->dns.host, "::1");
		CHECK_EQ_INT(cfg->dns.port, 5353);
		CHECK(config_addr_resolved(&cfg->dns));
		CHECK_EQ_INT(cfg->dns_timeout_ms, 2000);
		CHECK_EQ_INT(cfg->dns_trust_ad, 1);
		CHECK_EQ_INT(cfg->dnssec_probe_type, 15);
		CHECK_STR(cfg->dnssec_probe_name, "lab.test");
		CHECK_STR(cfg->state_dir, "/var/lib/x");
		CHECK_EQ_INT(cfg->policy_lookup_timeout_ms, 3000);
		CHECK_EQ_INT(cfg->mta_sts_fetch_timeout_ms, 4000);
		CHECK_STR(cfg->mta_sts_ca_file, "/x/ca.pem");
		CHECK_EQ_INT(cfg->listeners[0].dane, 1);
		CHECK_EQ_INT(cfg->listeners[0].mta_sts, 1);
		CHECK_EQ_INT(cfg->listeners[1].relay_dane, 1);
		CHECK(!config_addr_resolved(&cfg->listeners[1].relay));
		CHECK_EQ_INT(cfg->policies[0].tls, OUT_TLS_MAY);
		CHECK_EQ_INT(cfg->policies[1].tls, OUT_TLS_DANE);
	}
	config_free(cfg);

	cfg = load_ok("[global]\ndnssec_probe = no\n"
	    "[outbound]\nlisten = 127.0.0.1:10587\nmode = transparent\n");
	if (cfg != NULL)
		CHECK_EQ_INT(cfg->dnssec_probe_type, 0);
	config_free(cfg);

	load_bad("[global]\n"
	    "dns = resolver.example:53\n"                  /* 2 */
	    "dnssec_probe = ns\n"                          /* 3 */
	    "state_dir = relative\n"                       /* 4 */
	    "[outbound]\nlisten = 127.0.0.1:10587\n"
	    "mode = relay\nrelay = 127.0.0.1:25\n"
	    "dane = yes\n"                                 /* 9 */
	    "mta_sts = yes\n"                              /* 10 */
	    "[outbound:t]\nlisten = 127.0.0.1:10588\n"
	    "mode = transparent\nrelay_dane = yes\n"       /* 14 */
	    "tls = none\nmta_sts = yes\n", 0,              /* 15 */
	    "F:2: bad value for dns: 'resolver.example:53' (expected a "
	    "numeric address and port, such as 127.0.0.1:53 or [::1]:53)\n"
	    "F:3: bad value for dnssec_probe: 'ns' (expected TYPE:NAME such "
	    "as ns:. (types ns, a, aaaa, mx, txt, tlsa, soa), or no)\n"
	    "F:4: bad value for state_dir: 'relative' (expected an absolute "
	    "directory name)\n"
	    "F:9: dane = yes is per recipient, for mode = transparent; a "
	    "relay's TLSA is relay_dane = yes\n"
	    "F:10: mta_sts = yes is for mode = transparent: the relay "
	    "delivers to the recipients' domains\n"
	    "F:14: relay_dane is only allowed with mode = relay\n"
	    "F:15: tls = none never tries TLS, so dane and mta_sts could "
	    "only refuse; use tls = may\n");
}

/* Smarthost keys (issue 13): relay_tls, auth_mechanisms, client
 * certificate, session reuse, listen_tls; what each needs. */
static void
test_smarthost(void)
{
	config_t *cfg = load_ok("[outbound]\nlisten = 127.0.0.1:10587\n"
	    "mode = relay\nrelay = smtp.example.net:465\ntls = verify\n"
	    "relay_tls = implicit\nauth_file = /run/a\n"
	    "auth_mechanisms = LOGIN, xoauth2\nclient_cert = /c.pem\n"
	    "client_key = /c.key\nsession_cache_timeout = 5m\n"
	    "listen_tls = starttls\ncert = /s.pem\nkey = /s.key\n"
	    "listen_min_tls = 1.0\n"
	    "[outbound:t]\nlisten = 127.0.0.1:10588\nmode = transparent\n");

	if (cfg != NULL) {
		const config_listener_t *l = &cfg->listeners[0];

		CHECK_EQ_INT(l->relay_tls, RELAY_TLS_IMPLICIT);
		CHECK_STR(l->auth_file, "/run/a");
		CHECK_EQ_INT(l->nauth_mechs, 2);
		CHECK_EQ_INT(l->auth_mechs[0], AUTH_MECH_LOGIN);
		CHECK_EQ_INT(l->auth_mechs[1], AUTH_MECH_XOAUTH2);
		CHECK_STR(l->client_cert, "/c.pem");
		CHECK_STR(l->client_key, "/c.key");
		CHECK_EQ_INT(l->session_cache_timeout_ms, 300000);
		CHECK_EQ_INT(l->listen_tls, IN_TLS_STARTTLS);
		CHECK_EQ_INT(l->listen_min_tls, 0x0301);
		CHECK_EQ_INT(l->ncerts, 1);
		/* Defaults. */
		l = &cfg->listeners[1];
		CHECK_EQ_INT(l->relay_tls, RELAY_TLS_STARTTLS);
		CHECK(l->auth_file == NULL);
		CHECK_EQ_INT(l->nauth_mechs, 0);
		CHECK_EQ_INT(l->session_cache_timeout_ms, 3600000);
		CHECK_EQ_INT(l->listen_tls, IN_TLS_OFF);
		CHECK_EQ_INT(l->listen_min_tls, 0x0303);
	}
	config_free(cfg);

	load_bad("[outbound]\nlisten = 127.0.0.1:10587\n"
	    "mode = relay\nrelay = 127.0.0.1:465\n"
	    "relay_tls = implicit\n"                       /* 5 */
	    "auth_file = /a\n"                             /* 6 */
	    "auth_mechanisms = plain plain\n"              /* 7 */
	    "client_cert = /c\n"                           /* 8 */
	    "listen_min_tls = 1.0\n"                       /* 9 */
	    "[outbound:t]\nlisten = 127.0.0.1:10588\n"
	    "mode = transparent\nauth_file = /a\n"        /* 13 */
	    "relay_tls = starttls\n", 0,                   /* 14 */
	    "F:5: relay_tls = implicit needs tls = encrypt or tls = verify\n"
	    "F:6: auth_file needs tls = encrypt or tls = verify: credentials "
	    "never cross an unencrypted leg\n"
	    "F:7: bad value for auth_mechanisms: 'plain plain' (expected "
	    "plain, login and xoauth2, in order, each once)\n"
	    "F:8: client_cert and client_key go together\n"
	    "F:9: listen_min_tls without listen_tls\n"
	    "F:13: auth_file is only allowed with mode = relay\n"
	    "F:14: relay_tls is only allowed with mode = relay\n");
}

int
main(void)
{
	if (mkdtemp(test_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_path(test_ini, sizeof test_ini, "t.ini");

	RUN(test_duration);
	RUN(test_size);
	RUN(test_count_bounds);
	RUN(test_hostport);
	RUN(test_defaults);
	RUN(test_values);
	RUN(test_unknown_key);
	RUN(test_unknown_section);
	RUN(test_bad_duration);
	RUN(test_many_errors);
	RUN(test_missing_required);
	RUN(test_certs);
	RUN(test_listen_addresses);
	RUN(test_unresolvable);
	RUN(test_transparent);
	RUN(test_policy);
	RUN(test_authenticated_delivery);
	RUN(test_allow_commands);
	RUN(test_tls_rate_limit);
	RUN(test_tlsrpt_socket);
	RUN(test_duplicates);
	RUN(test_syntax);
	RUN(test_unreadable);
	RUN(test_check_files);
	RUN(test_party);
	RUN(test_ticket_key_files);
	RUN(test_example_file);
	RUN(test_smarthost);
	test_cleanup();
	return CHECK_DONE();
}
