/*
 * config: the ini file read into one config_t.
 *
 * inih splits "key = value" lines; our reader sits in front of it and sees
 * every physical line first. It counts lines (Debian's inih hands the
 * handler no line number), opens sections, and turns lines inih would
 * reject into blank ones after reporting them, so inih never stops us and
 * every message carries the right line. Errors are collected, sorted by line
 * and printed at the end, so one run shows every problem in the file.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ini.h>

#include "config.h"
#include "relayauth.h"
#include "tls.h"

#define CFG_MAX_ERRORS 100    /* then stop reading: this is not a config file */
#define CFG_MAX_MSG 512       /* one formatted message, without FILE:LINE */
#define CFG_MAX_SECTION 256   /* text between [ and ] */
#define CFG_MAX_NAME 64       /* NAME in [inbound:NAME] */
#define CFG_MAX_HOST 255      /* RFC 1035 2.3.4: a name's length */
#define CFG_MAX_DOMAIN 253    /* RFC 1035 2.3.4, text form without final dot */
#define CFG_MAX_LABEL 63      /* RFC 1035 2.3.4 */
#define CFG_MAX_PORT 65535

#define CFG_DEFAULT_MAX_SESSIONS 10000
#define CFG_DEFAULT_IDLE_MS (300 * 1000)      /* RFC 5321 4.5.3.2.7 */
#define CFG_DEFAULT_HANDSHAKE_MS (30 * 1000)
#define CFG_DEFAULT_CONNECT_MS (30 * 1000)
/* RFC 5321 4.5.3.2.5 gives the client 3 minutes per body block and 10 for
 * the reply; 10 minutes for a whole body is generous for any real sender. */
#define CFG_DEFAULT_DATA_MS (600 * 1000)
#define CFG_DEFAULT_MAX_ERRORS 20
#define CFG_DEFAULT_SHUTDOWN_MS (30 * 1000)
#define CFG_MAX_WORKERS 256
/* tls_rate_limit: a million handshakes a minute from one address is no limit
 * at all; the bound only keeps the count's arithmetic far from overflow. */
#define CFG_MAX_TLS_RATE 1000000
#define CFG_DEFAULT_DNS_MS (5 * 1000)
#define CFG_DEFAULT_POLICY_LOOKUP_MS (15 * 1000)
#define CFG_DEFAULT_STS_FETCH_MS (10 * 1000)

typedef enum {
	SEC_NONE,       /* before the first section header */
	SEC_GLOBAL,
	SEC_INBOUND,
	SEC_OUTBOUND,
	SEC_POLICY,
	SEC_PARTY,
	SEC_SKIP,       /* unknown or broken header, already reported */
} cfg_sec_t;

#define SEC_BIT(s) (1u << (s))

/* Index of each key in cfg_keys. */
enum {
	K_LOG_LEVEL,
	K_LOG_FORMAT,
	K_MAX_SESSIONS,
	K_IDLE_TIMEOUT,
	K_HANDSHAKE_TIMEOUT,
	K_CONNECT_TIMEOUT,
	K_LISTEN,
	K_MIN_TLS,
	K_BACKEND,
	K_IN_TLS,
	K_CERT,
	K_KEY,
	K_REQUIRE_TLS,
	K_HIDE_AUTH,
	K_MODE,
	K_RELAY,
	K_OUT_TLS,
	K_HELO_NAME,
	K_CA_FILE,
	K_MARK,
	K_POLICY_TLS,
	K_MATCH,
	K_DATA_TIMEOUT,
	K_SHUTDOWN_GRACE,
	K_WORKERS,
	K_ADMIN,
	K_MAX_ERRORS,
	K_MAX_MESSAGE_SIZE,
	K_MAX_PER_IP,
	K_PROXY_PROTOCOL,
	K_XCLIENT,
	K_ACCEPT_PROXY,
	K_ACCEPT_FROM,
	K_ALLOW_COMMANDS,
	K_TLS_RATE_LIMIT,
	K_DNS,
	K_DNS_TIMEOUT,
	K_DNS_TRUST_AD,
	K_DNSSEC_PROBE,
	K_STATE_DIR,
	K_POLICY_LOOKUP_TIMEOUT,
	K_STS_FETCH_TIMEOUT,
	K_STS_CA_FILE,
	K_DANE,
	K_MTA_STS,
	K_RELAY_DANE,
	K_CLIENT_CA,
	K_RECEIVED_HEADER,
	K_TICKET_KEY,
	K_OCSP,
	K_PARTY_TLS,
	K_CLIENTS,
	K_SENDERS,
	K_RECIPIENTS,
	K_CLIENT_FINGERPRINTS,
	K_CLIENT_NAMES,
	K_RELAY_TLS,
	K_AUTH_FILE,
	K_AUTH_MECHS,
	K_CLIENT_CERT,
	K_CLIENT_KEY,
	K_SESSION_CACHE_TIMEOUT,
	K_LISTEN_TLS,
	K_LISTEN_MIN_TLS,
	K_TLSRPT_SOCKET,
	K_COUNT
};

typedef struct {
	char *msg;  /* without "FILE:LINE: "; owned */
	int line;
	int seq;    /* keeps messages of one line in the order found */
} cfg_error_t;

typedef struct {
	const char *path;         /* borrowed */
	FILE *fp;                 /* borrowed */
	int check_files;
	config_t *cfg;            /* being filled; borrowed */
	char *buf;                /* getline's buffer; owned */
	size_t bufcap;
	int lineno;               /* physical line last read */
	int read_errno;           /* reading stopped on this error */
	int stopped;              /* too many errors, reading stopped */
	int oom;                  /* a message was lost to a failed malloc */

	cfg_error_t *errors;      /* owned */
	int nerrors;
	int errcap;

	/* The section being read. */
	cfg_sec_t sec;
	char secname[CFG_MAX_SECTION];
	int secline;
	int cur;                  /* index in cfg->listeners or cfg->policies */
	int open_cert;            /* cert still waiting for its key, or -1 */
	int global_line;          /* line of [global], 0 until seen */
	int key_line[K_COUNT];    /* first line of each key, 0 if absent */
	unsigned char key_bad[K_COUNT];
} cfg_parse_t;

/*
 * A setter parses value into the current section's object. It returns -1
 * when the value does not parse; the caller then reports it with the key's
 * expected text. Other problems (a name that does not resolve, a file that
 * cannot be read) the setter reports itself, returning 0.
 */
typedef int (*cfg_set_fn)(cfg_parse_t *p, const char *value);

typedef struct {
	const char *name;
	unsigned sections;        /* SEC_BIT mask where the key belongs */
	cfg_set_fn set;
	const char *expected;
	int repeatable;
} cfg_key_t;

typedef struct {
	const char *name;
	int value;
} cfg_enum_t;

static const cfg_enum_t cfg_log_levels[] = {
	{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "warn", LOG_WARN },
	{ "error", LOG_ERROR }, { NULL, 0 },
};
static const cfg_enum_t cfg_log_formats[] = {
	{ "text", LOG_FORMAT_TEXT }, { "json", LOG_FORMAT_JSON }, { NULL, 0 },
};
static const cfg_enum_t cfg_in_tls[] = {
	{ "starttls", IN_TLS_STARTTLS }, { "implicit", IN_TLS_IMPLICIT },
	{ "off", IN_TLS_OFF }, { NULL, 0 },
};
static const cfg_enum_t cfg_out_tls[] = {
	{ "none", OUT_TLS_NONE }, { "may", OUT_TLS_MAY },
	{ "encrypt", OUT_TLS_ENCRYPT }, { "verify", OUT_TLS_VERIFY },
	{ NULL, 0 },
};
static const cfg_enum_t cfg_policy_tls[] = {
	{ "may", OUT_TLS_MAY }, { "encrypt", OUT_TLS_ENCRYPT },
	{ "verify", OUT_TLS_VERIFY }, { "dane", OUT_TLS_DANE },
	{ NULL, 0 },
};
static const cfg_enum_t cfg_modes[] = {
	{ "relay", OUT_MODE_RELAY }, { "transparent", OUT_MODE_TRANSPARENT },
	{ NULL, 0 },
};
static const cfg_enum_t cfg_relay_tls[] = {
	{ "starttls", RELAY_TLS_STARTTLS }, { "implicit", RELAY_TLS_IMPLICIT },
	{ NULL, 0 },
};
/* auth_mech_t order. */
static const cfg_enum_t cfg_auth_mechs[] = {
	{ "plain", AUTH_MECH_PLAIN }, { "login", AUTH_MECH_LOGIN },
	{ "xoauth2", AUTH_MECH_XOAUTH2 }, { NULL, 0 },
};
/* The listening leg of an outbound listener, for old devices only. */
static const cfg_enum_t cfg_listen_tls_versions[] = {
	{ "1.0", TLS1_VERSION }, { "1.1", TLS1_1_VERSION },
	{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION }, { NULL, 0 },
};
static const cfg_enum_t cfg_tls_versions[] = {
	{ "1.2", TLS1_2_VERSION }, { "1.3", TLS1_3_VERSION }, { NULL, 0 },
};
static const cfg_enum_t cfg_proxy_protos[] = {
	{ "off", PROXY_PROTO_OFF }, { "v1", PROXY_PROTO_V1 },
	{ "v2", PROXY_PROTO_V2 }, { NULL, 0 },
};
static const cfg_enum_t cfg_booleans[] = {
	{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
	{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 }, { NULL, 0 },
};

__attribute__((format(printf, 3, 4)))
static void
cfg_err(cfg_parse_t *p, int line, const char *fmt, ...)
{
	char msg[CFG_MAX_MSG];
	cfg_error_t *e;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	if (p->nerrors == p->errcap) {
		int cap = p->errcap ? p->errcap * 2 : 16;
		cfg_error_t *n = realloc(p->errors, (size_t)cap * sizeof *n);

		if (n == NULL) {
			p->oom = 1;
			return;
		}
		p->errors = n;
		p->errcap = cap;
	}
	e = &p->errors[p->nerrors];
	if ((e->msg = strdup(msg)) == NULL) {
		p->oom = 1;
		return;
	}
	e->line = line;
	e->seq = p->nerrors++;
}

static int
cfg_error_cmp(const void *a, const void *b)
{
	const cfg_error_t *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* cfg_strdup copies s, reporting a failure at the current line. */
static char *
cfg_strdup(cfg_parse_t *p, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		cfg_err(p, p->lineno, "out of memory");
	return d;
}

static int
cfg_enum(const cfg_enum_t *t, const char *v, int *out)
{
	for (; t->name != NULL; t++) {
		if (strcasecmp(t->name, v) == 0) {
			*out = t->value;
			return 0;
		}
	}
	return -1;
}

/*
 * cfg_u64 reads digits of base 10 or 16 from *s up to the first non-digit,
 * advancing *s. Returns -1 when there is no digit or the value passes max.
 */
static int
cfg_u64(const char **s, int base, uint64_t max, uint64_t *out)
{
	const char *c = *s;
	uint64_t v = 0;
	int d;

	for (;; c++) {
		if (*c >= '0' && *c <= '9')
			d = *c - '0';
		else if (base == 16 && *c >= 'a' && *c <= 'f')
			d = *c - 'a' + 10;
		else if (base == 16 && *c >= 'A' && *c <= 'F')
			d = *c - 'A' + 10;
		else
			break;
		if (v > (max - (uint64_t)d) / (uint64_t)base)
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (c == *s)
		return -1;
	*s = c;
	*out = v;
	return 0;
}

int
config_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 },
	};
	uint64_t v;
	size_t i;

	if (cfg_u64(&s, 10, CONFIG_MAX_DURATION_MS, &v) == -1 || v == 0)
		return -1;
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(s, units[i].suffix) != 0)
			continue;
		/* Division first: v * ms must not wrap before the check. */
		if (v > CONFIG_MAX_DURATION_MS / units[i].ms)
			return -1;
		*ms = v * units[i].ms;
		return 0;
	}
	return -1;
}

static int
cfg_host_char(int c, int bracketed)
{
	if (isalnum(c) || c == '.' || c == '-' || c == '_')
		return 1;
	/* ':' for IPv6, '%' for a scope id such as fe80::1%eth0 */
	return bracketed && (c == ':' || c == '%');
}

int
config_parse_hostport(const char *s, char **host, uint16_t *port)
{
	const char *h, *he, *c;
	uint64_t v;
	char *out;

	if (*s == '[') {
		h = s + 1;
		if ((he = strchr(h, ']')) == NULL || he[1] != ':')
			return -1;
		c = he + 2;
	} else {
		h = s;
		if ((he = strchr(h, ':')) == NULL)
			return -1;
		c = he + 1;
	}
	if (he == h || he - h > CFG_MAX_HOST)
		return -1;
	if (!(*s != '[' && he - h == 1 && *h == '*')) {
		const char *x;

		for (x = h; x < he; x++)
			if (!cfg_host_char((unsigned char)*x, *s == '['))
				return -1;
	}
	if (cfg_u64(&c, 10, CFG_MAX_PORT, &v) == -1 || *c != '\0' || v == 0)
		return -1;
	if ((out = malloc((size_t)(he - h) + 1)) == NULL)
		return -1;
	memcpy(out, h, (size_t)(he - h));
	out[he - h] = '\0';
	*host = out;
	*port = (uint16_t)v;
	return 0;
}

/*
 * cfg_domain checks the n bytes of s as a DNS name and returns a lower-case
 * copy without the trailing dot (caller frees), or NULL. With suffix, a
 * leading dot (".example.com": any name below) is allowed and kept.
 */
static char *
cfg_domain(const char *s, size_t n, int suffix)
{
	size_t i, label = 0, start = 0;
	char *out;

	if (suffix && n > 0 && s[0] == '.')
		start = 1;
	if (n > start && s[n - 1] == '.')
		n--;
	if (n <= start || n - start > CFG_MAX_DOMAIN)
		return NULL;
	for (i = start; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return NULL;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > CFG_MAX_LABEL)
				return NULL;
		} else {
			return NULL;
		}
	}
	if (label == 0)
		return NULL;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
	return out;
}

static config_listener_t *
cfg_listener(cfg_parse_t *p)
{
	return &p->cfg->listeners[p->cur];
}

static config_policy_t *
cfg_policy(cfg_parse_t *p)
{
	return &p->cfg->policies[p->cur];
}

static config_party_t *
cfg_party(cfg_parse_t *p)
{
	return &p->cfg->parties[p->cur];
}

/*
 * cfg_addr parses "host:port" into a. listen: numeric addresses and "*"
 * only; otherwise names are resolved now and a failure is reported here.
 * later (relay): a numeric address is taken as is; a name is kept without
 * an address, for the proxy's own resolver at connect time (so that -t
 * never needs it to resolve).
 */
static int
cfg_addr_later(cfg_parse_t *p, config_addr_t *a, const char *v, int listen,
    const char *key, int later)
{
	struct addrinfo hints, *res;
	char *host;
	uint16_t port;
	int rc;

	if (config_parse_hostport(v, &host, &port) == -1)
		return -1;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if (strcmp(host, "*") == 0) {
		if (!listen) {
			free(host);
			return -1;
		}
		hints.ai_family = AF_INET;
		hints.ai_flags = AI_PASSIVE;
		rc = getaddrinfo(NULL, "0", &hints, &res);
	} else {
		hints.ai_family = AF_UNSPEC;
		hints.ai_flags = listen || later ? AI_NUMERICHOST : 0;
		rc = getaddrinfo(host, NULL, &hints, &res);
	}
	if (rc != 0 && later && !listen) {
		/* cfg_domain only checks the name here: its copy goes. */
		char *dom = cfg_domain(host, strlen(host), 0);

		if (dom == NULL) {
			free(host);
			return -1;
		}
		free(dom);
		free(a->host);
		a->host = host;
		a->port = port;
		memset(&a->addr, 0, sizeof(a->addr));
		a->addrlen = 0;
		return 0;
	}
	if (rc != 0) {
		if (listen) {
			free(host);
			return -1;
		}
		cfg_err(p, p->lineno, "cannot resolve %s host '%s': %s", key,
		    host, gai_strerror(rc));
		free(host);
		return 0;
	}
	free(a->host);
	a->host = host;
	a->port = port;
	memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
	a->addrlen = (socklen_t)res->ai_addrlen;
	if (a->addr.ss_family == AF_INET)
		((struct sockaddr_in *)&a->addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->addr)->sin6_port = htons(port);
	freeaddrinfo(res);
	return 0;
}

static int
cfg_addr(cfg_parse_t *p, config_addr_t *a, const char *v, int listen,
    const char *key)
{
	return cfg_addr_later(p, a, v, listen, key, 0);
}

/* Two listen addresses collide when bind would refuse the second. */
static int
cfg_addr_overlap(const config_addr_t *a, const config_addr_t *b)
{
	if (a->addrlen == 0 || b->addrlen == 0 ||
	    a->addr.ss_family != b->addr.ss_family || a->port != b->port)
		return 0;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->addr;
		const struct sockaddr_in *y = (const void *)&b->addr;

		return x->sin_addr.s_addr == y->sin_addr.s_addr ||
		    x->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    y->sin_addr.s_addr == htonl(INADDR_ANY);
	} else {
		const struct sockaddr_in6 *x = (const void *)&a->addr;
		const struct sockaddr_in6 *y = (const void *)&b->addr;

		return IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr);
	}
}

static int
set_log_level(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_log_levels, v, &x) == -1)
		return -1;
	p->cfg->log_level = (log_level_t)x;
	return 0;
}

static int
set_log_format(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_log_formats, v, &x) == -1)
		return -1;
	p->cfg->log_format = (log_format_t)x;
	return 0;
}

static int
set_max_sessions(cfg_parse_t *p, const char *v)
{
	uint64_t n;

	if (cfg_u64(&v, 10, CONFIG_MAX_SESSIONS, &n) == -1 || *v != '\0' ||
	    n == 0)
		return -1;
	p->cfg->max_sessions = (unsigned)n;
	return 0;
}

static int
set_idle_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->idle_timeout_ms);
}

static int
set_handshake_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->handshake_timeout_ms);
}

static int
set_connect_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->connect_timeout_ms);
}

static int
set_listen(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	int i;

	if (cfg_addr(p, &l->listen, v, 1, "listen") == -1)
		return -1;
	for (i = 0; i < p->cur; i++) {
		const config_listener_t *o = &p->cfg->listeners[i];

		if (cfg_addr_overlap(&l->listen, &o->listen)) {
			cfg_err(p, p->lineno, "listen address %s is already "
			    "used by [%s] (line %d)", v, o->name, o->line);
			break;
		}
	}
	return 0;
}

static int
set_min_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_tls_versions, v, &x) == -1)
		return -1;
	cfg_listener(p)->min_tls = (uint16_t)x;
	return 0;
}

static int
set_backend(cfg_parse_t *p, const char *v)
{
	/* A name is resolved at each connection by the worker's resolver. */
	return cfg_addr_later(p, &cfg_listener(p)->backend, v, 0, "backend", 1);
}

static int
set_in_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_in_tls, v, &x) == -1)
		return -1;
	cfg_listener(p)->in_tls = (in_tls_t)x;
	return 0;
}

static void
cfg_cert_without_key(cfg_parse_t *p)
{
	config_listener_t *l = cfg_listener(p);

	if (p->open_cert < 0)
		return;
	cfg_err(p, l->certs[p->open_cert].line,
	    "cert without key (each cert = must be followed by its key =)");
	p->open_cert = -1;
}

static int
set_cert(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	config_certpair_t *c;

	if (*v == '\0')
		return -1;
	cfg_cert_without_key(p);
	if (l->ncerts == CONFIG_MAX_CERTS) {
		cfg_err(p, p->lineno, "too many cert/key pairs in [%s] "
		    "(at most %d)", p->secname, CONFIG_MAX_CERTS);
		return 0;
	}
	c = &l->certs[l->ncerts++];
	c->cert = cfg_strdup(p, v);
	c->line = p->lineno;
	p->open_cert = l->ncerts - 1;
	return 0;
}

static int
set_key(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);

	if (*v == '\0')
		return -1;
	if (p->open_cert < 0) {
		cfg_err(p, p->lineno,
		    "key without cert (each key = must follow its cert =)");
		return 0;
	}
	l->certs[p->open_cert].key = cfg_strdup(p, v);
	p->open_cert = -1;
	return 0;
}

/* ocsp = FILE belongs to the pair just completed by its key. */
static int
set_ocsp(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	config_certpair_t *c;

	if (*v == '\0')
		return -1;
	if (l->ncerts == 0 || p->open_cert >= 0) {
		cfg_err(p, p->lineno, "ocsp without a cert/key pair (each "
		    "ocsp = must follow the key = of its pair)");
		return 0;
	}
	c = &l->certs[l->ncerts - 1];
	if (c->ocsp != NULL) {
		cfg_err(p, p->lineno, "second ocsp for the pair of line %d",
		    c->line);
		return 0;
	}
	c->ocsp = cfg_strdup(p, v);
	c->ocsp_line = p->lineno;
	return 0;
}

static int
set_require_tls(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->require_tls);
}

static int
set_hide_auth(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v,
	    &cfg_listener(p)->hide_auth_before_tls);
}

static int
set_mode(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_modes, v, &x) == -1)
		return -1;
	cfg_listener(p)->out_mode = (out_mode_t)x;
	return 0;
}

static int
set_relay(cfg_parse_t *p, const char *v)
{
	/* The host stays as written: it is the name TLS verifies, and a
	 * name is resolved at connect time by the proxy's resolver. */
	return cfg_addr_later(p, &cfg_listener(p)->relay, v, 0, "relay", 1);
}

static int
set_out_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_out_tls, v, &x) == -1)
		return -1;
	cfg_listener(p)->out_tls = (out_tls_t)x;
	return 0;
}

static int
set_helo_name(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	size_t n = strlen(v), i;
	char *d;

	/* It goes on the wire after EHLO: a name or an address literal. */
	if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
		for (i = 1; i + 1 < n; i++)
			if (!isalnum((unsigned char)v[i]) && v[i] != ':' &&
			    v[i] != '.')
				return -1;
		if (n == 2 || n > CFG_MAX_HOST)
			return -1;
	} else {
		if ((d = cfg_domain(v, n, 0)) == NULL)
			return -1;
		free(d);
	}
	free(l->helo_name);
	l->helo_name = cfg_strdup(p, v);
	return 0;
}

/* cfg_readable checks that path can be opened and read as a file. */
static int
cfg_readable(const char *path, int *err)
{
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		*err = errno;
		return -1;
	}
	errno = 0;
	if (getc(f) == EOF && ferror(f)) {
		*err = errno;
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static int
set_ca_file(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	int e;

	if (*v == '\0')
		return -1;
	free(l->ca_file);
	l->ca_file = cfg_strdup(p, v);
	if (p->check_files && cfg_readable(v, &e) == -1)
		cfg_err(p, p->lineno, "cannot read ca_file '%s': %s", v,
		    strerror(e));
	return 0;
}

static int
set_mark(cfg_parse_t *p, const char *v)
{
	uint64_t m;
	int base = 10;

	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
		v += 2;
		base = 16;
	}
	if (cfg_u64(&v, base, UINT32_MAX, &m) == -1 || *v != '\0' || m == 0)
		return -1;
	cfg_listener(p)->mark = (uint32_t)m;
	return 0;
}

int
config_parse_size(const char *s, uint64_t *octets)
{
	uint64_t v, mul = 1;

	if (cfg_u64(&s, 10, CONFIG_MAX_SIZE, &v) == -1)
		return -1;
	switch (*s) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1024;
		s++;
		break;
	case 'm': case 'M':
		mul = 1024 * 1024;
		s++;
		break;
	case 'g': case 'G':
		mul = 1024 * 1024 * 1024;
		s++;
		break;
	default:
		return -1;
	}
	/* Division first: v * mul must not wrap before the check. */
	if (*s != '\0' || v > CONFIG_MAX_SIZE / mul)
		return -1;
	*octets = v * mul;
	return 0;
}

static int
set_data_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->data_timeout_ms);
}

static int
set_shutdown_grace(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->shutdown_grace_ms);
}

static int
set_workers(cfg_parse_t *p, const char *v)
{
	uint64_t n;

	if (strcasecmp(v, "auto") == 0) {
		p->cfg->workers = 0;
		return 0;
	}
	if (cfg_u64(&v, 10, CFG_MAX_WORKERS, &n) == -1 || *v != '\0' || n == 0)
		return -1;
	p->cfg->workers = (unsigned)n;
	return 0;
}

static int
set_admin(cfg_parse_t *p, const char *v)
{
	return cfg_addr(p, &p->cfg->admin, v, 1, "admin");
}

static int
set_max_errors(cfg_parse_t *p, const char *v)
{
	uint64_t n;

	if (cfg_u64(&v, 10, 100000, &n) == -1 || *v != '\0' || n == 0)
		return -1;
	p->cfg->max_errors = (unsigned)n;
	return 0;
}

static int
set_max_message_size(cfg_parse_t *p, const char *v)
{
	return config_parse_size(v, &cfg_listener(p)->max_message_size);
}

static int
set_max_per_ip(cfg_parse_t *p, const char *v)
{
	uint64_t n;

	if (cfg_u64(&v, 10, CONFIG_MAX_SESSIONS, &n) == -1 || *v != '\0')
		return -1;
	cfg_listener(p)->max_sessions_per_ip = (unsigned)n;
	return 0;
}

static int
set_tls_rate_limit(cfg_parse_t *p, const char *v)
{
	uint64_t n;

	if (cfg_u64(&v, 10, CFG_MAX_TLS_RATE, &n) == -1 || *v != '\0')
		return -1;
	cfg_listener(p)->tls_rate_limit = (unsigned)n;
	return 0;
}

static int
set_proxy_protocol(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_proxy_protos, v, &x) == -1)
		return -1;
	cfg_listener(p)->proxy_protocol = (proxy_proto_t)x;
	return 0;
}

static int
set_xclient(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->xclient);
}

static int
set_accept_proxy(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->accept_proxy);
}

/* One network "a.b.c.d[/n]" or "v6[/n]" (no brackets). */
static int
cfg_cidr(const char *s, size_t n, config_cidr_t *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	uint64_t prefix;
	int max;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(c, 0, sizeof(*c));
	if ((slash = strchr(buf, '/')) != NULL)
		buf[slash - buf] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	c->prefix = max;
	if (slash != NULL) {
		const char *d = slash + 1;
		if (cfg_u64(&d, 10, (uint64_t)max, &prefix) == -1 ||
		    *d != '\0')
			return -1;
		c->prefix = (int)prefix;
	}
	return 0;
}

static int
set_accept_from(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);

	while (*v != '\0') {
		size_t n = strcspn(v, " \t,");
		if (n > 0) {
			if (l->naccept_from == CONFIG_MAX_CIDRS ||
			    cfg_cidr(v, n, &l->accept_from[l->naccept_from]) ==
			    -1)
				return -1;
			l->naccept_from++;
		}
		v += n;
		v += strspn(v, " \t,");
	}
	return l->naccept_from > 0 ? 0 : -1;
}

/*
 * Verbs allow_commands may not name. The proxy handles the first four itself
 * (or must never let a client send them: XCLIENT and XFORWARD would let it
 * choose the address the backend believes); the rest are relayed already, so
 * naming one is a mistake worth reporting rather than a no-op.
 */
static const struct {
	const char *verb;
	int builtin;            /* 1: always relayed; 0: never forwarded */
} cfg_verbs_reserved[] = {
	{ "STARTTLS", 0 }, { "BDAT", 0 }, { "XCLIENT", 0 }, { "XFORWARD", 0 },
	{ "HELO", 1 }, { "EHLO", 1 }, { "MAIL", 1 }, { "RCPT", 1 },
	{ "DATA", 1 }, { "RSET", 1 }, { "NOOP", 1 }, { "QUIT", 1 },
	{ "VRFY", 1 }, { "EXPN", 1 }, { "HELP", 1 }, { "ETRN", 1 },
	{ "AUTH", 1 },
};

/* cfg_verb: RFC 5321 4.1.1 verbs, letters first; 1*32 ALPHA/DIGIT/"-". */
static int
cfg_verb(const char *s, size_t n, char out[CONFIG_VERB_MAX + 1])
{
	size_t i;

	if (n == 0 || n > CONFIG_VERB_MAX || !isalpha((unsigned char)s[0]))
		return -1;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return -1;
		out[i] = (char)toupper((unsigned char)s[i]);
	}
	out[n] = '\0';
	return 0;
}

/*
 * set_allow_commands reads the whole list or nothing, so a list with a
 * mistake leaves no half of it in force. Problems with one verb are
 * reported here, naming the verb; -1 only for a value with no verb at all.
 */
static int
set_allow_commands(cfg_parse_t *p, const char *v)
{
	static const char sep[] = " \t,";
	config_listener_t *l = cfg_listener(p);
	char verbs[CONFIG_MAX_ALLOW][CONFIG_VERB_MAX + 1];
	int n = 0, bad = 0, i;
	size_t len, r;

	for (v += strspn(v, sep); *v != '\0'; v += strspn(v, sep)) {
		char verb[CONFIG_VERB_MAX + 1];

		len = strcspn(v, sep);
		if (cfg_verb(v, len, verb) == -1) {
			cfg_err(p, p->lineno, "allow_commands: bad verb '%.*s' "
			    "(1 to %d letters, digits or '-', starting with a "
			    "letter)", (int)(len > 64 ? 64 : len), v,
			    CONFIG_VERB_MAX);
			bad = 1;
			v += len;
			continue;
		}
		v += len;
		for (r = 0; r < sizeof cfg_verbs_reserved /
		    sizeof cfg_verbs_reserved[0]; r++)
			if (strcmp(verb, cfg_verbs_reserved[r].verb) == 0)
				break;
		if (r < sizeof cfg_verbs_reserved /
		    sizeof cfg_verbs_reserved[0]) {
			cfg_err(p, p->lineno, cfg_verbs_reserved[r].builtin ?
			    "allow_commands: %s is always relayed; leave it out" :
			    "allow_commands: %s is handled by the proxy and is "
			    "never forwarded", verb);
			bad = 1;
			continue;
		}
		for (i = 0; i < n; i++)
			if (strcmp(verbs[i], verb) == 0)
				break;
		if (i < n) {
			cfg_err(p, p->lineno, "allow_commands: duplicate verb %s",
			    verb);
			bad = 1;
			continue;
		}
		if (n == CONFIG_MAX_ALLOW) {
			cfg_err(p, p->lineno, "allow_commands: too many verbs "
			    "(at most %d)", CONFIG_MAX_ALLOW);
			return 0;
		}
		memcpy(verbs[n++], verb, sizeof verb);
	}
	if (bad)
		return 0;
	if (n == 0)
		return -1;
	memcpy(l->allow_commands, verbs, sizeof verbs);
	l->nallow_commands = n;
	return 0;
}

int
config_cidr_match(const config_cidr_t *nets, int n,
    const struct sockaddr *addr)
{
	uint8_t a[16];
	int family;

	if (addr->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		family = AF_INET;
	} else if (addr->sa_family == AF_INET6) {
		const struct in6_addr *x =
		    &((const struct sockaddr_in6 *)addr)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(x)) {
			memcpy(a, x->s6_addr + 12, 4);
			family = AF_INET;
		} else {
			memcpy(a, x->s6_addr, 16);
			family = AF_INET6;
		}
	} else
		return 0;
	for (int i = 0; i < n; i++) {
		const config_cidr_t *c = &nets[i];
		int full = c->prefix / 8, rest = c->prefix % 8;

		if (c->family != family || memcmp(a, c->addr, (size_t)full))
			continue;
		if (rest == 0 || ((a[full] ^ c->addr[full]) &
		    (uint8_t)(0xff << (8 - rest))) == 0)
			return 1;
	}
	return 0;
}

static int
set_policy_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_policy_tls, v, &x) == -1)
		return -1;
	cfg_policy(p)->tls = (out_tls_t)x;
	return 0;
}

static int
set_match(cfg_parse_t *p, const char *v)
{
	static const char sep[] = " \t,";
	config_policy_t *pol = cfg_policy(p);
	char *names[CONFIG_MAX_MATCH];
	int n = 0, i;
	size_t len;

	/* All names or none: a bad list leaves the policy as it was. */
	for (v += strspn(v, sep); *v != '\0'; v += strspn(v, sep)) {
		len = strcspn(v, sep);
		if (pol->nmatch + n == CONFIG_MAX_MATCH ||
		    (names[n] = cfg_domain(v, len, 1)) == NULL)
			goto bad;
		n++;
		v += len;
	}
	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		pol->match[pol->nmatch++] = names[i];
	return 0;
bad:
	for (i = 0; i < n; i++)
		free(names[i]);
	return -1;
}

/* Inbound client certificates, trace header, ticket keys ------------- */

static int
set_client_ca(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	int e;

	if (*v == '\0')
		return -1;
	free(l->client_ca);
	l->client_ca = cfg_strdup(p, v);
	if (p->check_files && cfg_readable(v, &e) == -1)
		cfg_err(p, p->lineno, "cannot read client_ca '%s': %s", v,
		    strerror(e));
	return 0;
}

static int
set_received_header(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->received_header);
}

static int
set_ticket_key(cfg_parse_t *p, const char *v)
{
	config_listener_t *l = cfg_listener(p);
	char err[200];

	if (*v == '\0')
		return -1;
	if (l->nticket_keys == CONFIG_MAX_TICKET_KEYS) {
		cfg_err(p, p->lineno, "too many ticket_key files in [%s] "
		    "(at most %d)", p->secname, CONFIG_MAX_TICKET_KEYS);
		return 0;
	}
	l->ticket_keys[l->nticket_keys++] = cfg_strdup(p, v);
	/* Never the key itself in a message: only its size. */
	if (p->check_files && tls_ticket_key_check(v, err, sizeof(err)) == -1)
		cfg_err(p, p->lineno, "ticket_key '%s': %s", v, err);
	return 0;
}

/* [party:NAME] --------------------------------------------------------- */

static const cfg_enum_t cfg_party_tls[] = {
	{ "encrypt", PARTY_TLS_ENCRYPT }, { "verify", PARTY_TLS_VERIFY },
	{ NULL, 0 },
};
static const char cfg_list_sep[] = " \t,";

static int
set_party_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_party_tls, v, &x) == -1)
		return -1;
	cfg_party(p)->tls = (party_tls_t)x;
	return 0;
}

static int
set_clients(cfg_parse_t *p, const char *v)
{
	config_party_t *pt = cfg_party(p);
	int n = pt->nclients;

	for (v += strspn(v, cfg_list_sep); *v != '\0';
	    v += strspn(v, cfg_list_sep)) {
		size_t len = strcspn(v, cfg_list_sep);
		if (n == CONFIG_MAX_PARTY_LIST ||
		    cfg_cidr(v, len, &pt->clients[n]) == -1)
			return -1;
		n++;
		v += len;
	}
	if (n == pt->nclients)
		return -1;
	pt->nclients = n;
	return 0;
}

/*
 * A list of domain names (".suffix" allowed) into names[*n..]: all or
 * nothing, as [policy]'s match.
 */
static int
cfg_domain_list(const char *v, char **names, int *n)
{
	int k = *n;

	for (v += strspn(v, cfg_list_sep); *v != '\0';
	    v += strspn(v, cfg_list_sep)) {
		size_t len = strcspn(v, cfg_list_sep);
		if (k == CONFIG_MAX_PARTY_LIST ||
		    (names[k] = cfg_domain(v, len, 1)) == NULL)
			goto bad;
		k++;
		v += len;
	}
	if (k == *n)
		return -1;
	*n = k;
	return 0;
bad:
	while (k > *n)
		free(names[--k]);
	return -1;
}

static int
set_senders(cfg_parse_t *p, const char *v)
{
	config_party_t *pt = cfg_party(p);

	return cfg_domain_list(v, pt->senders, &pt->nsenders);
}

static int
set_recipients(cfg_parse_t *p, const char *v)
{
	config_party_t *pt = cfg_party(p);

	return cfg_domain_list(v, pt->recipients, &pt->nrecipients);
}

static int
set_client_names(cfg_parse_t *p, const char *v)
{
	config_party_t *pt = cfg_party(p);

	return cfg_domain_list(v, pt->names, &pt->nnames);
}

static int
cfg_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* One SHA-256 fingerprint: 64 hex digits, pairs optionally split by ':'
 * (as openssl x509 -fingerprint -sha256 prints them). */
static int
cfg_fingerprint(const char *s, size_t n, uint8_t out[CONFIG_SHA256_LEN])
{
	size_t i = 0, k = 0;

	while (i < n) {
		int hi, lo;
		if (k == CONFIG_SHA256_LEN || i + 1 >= n ||
		    (hi = cfg_hex((unsigned char)s[i])) < 0 ||
		    (lo = cfg_hex((unsigned char)s[i + 1])) < 0)
			return -1;
		out[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
		if (i < n && s[i] == ':') {
			if (++i == n)
				return -1;
		}
	}
	return k == CONFIG_SHA256_LEN ? 0 : -1;
}

static int
set_client_fingerprints(cfg_parse_t *p, const char *v)
{
	config_party_t *pt = cfg_party(p);
	int n = pt->nfingerprints;

	for (v += strspn(v, cfg_list_sep); *v != '\0';
	    v += strspn(v, cfg_list_sep)) {
		size_t len = strcspn(v, cfg_list_sep);
		if (n == CONFIG_MAX_PARTY_LIST ||
		    cfg_fingerprint(v, len, pt->fingerprints[n]) == -1)
			return -1;
		n++;
		v += len;
	}
	if (n == pt->nfingerprints)
		return -1;
	pt->nfingerprints = n;
	return 0;
}

static int
set_dns(cfg_parse_t *p, const char *v)
{
	config_addr_t *a = &p->cfg->dns;

	/* Numeric only: the resolver cannot be found by name. */
	if (cfg_addr_later(p, a, v, 1, "dns", 0) == -1)
		return -1;
	if (a->host != NULL && strcmp(a->host, "*") == 0)
		return -1;
	return 0;
}

static int
set_dns_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->dns_timeout_ms);
}

static int
set_dns_trust_ad(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &p->cfg->dns_trust_ad);
}

/* "ns:.", "mx:example.com", ... or "no". */
static int
set_dnssec_probe(cfg_parse_t *p, const char *v)
{
	static const cfg_enum_t types[] = {
		{ "ns", 2 }, { "a", 1 }, { "aaaa", 28 }, { "mx", 15 },
		{ "txt", 16 }, { "tlsa", 52 }, { "soa", 6 }, { NULL, 0 },
	};
	const char *colon = strchr(v, ':');
	char t[8], *name;
	int x;

	if (strcmp(v, "no") == 0) {
		p->cfg->dnssec_probe_type = 0;
		return 0;
	}
	if (colon == NULL || (size_t)(colon - v) >= sizeof(t))
		return -1;
	memcpy(t, v, (size_t)(colon - v));
	t[colon - v] = '\0';
	if (cfg_enum(types, t, &x) == -1)
		return -1;
	if (strcmp(colon + 1, ".") == 0)
		name = cfg_strdup(p, ".");
	else if ((name = cfg_domain(colon + 1, strlen(colon + 1), 0)) == NULL)
		return -1;
	if (name == NULL)
		return 0;
	free(p->cfg->dnssec_probe_name);
	p->cfg->dnssec_probe_name = name;
	p->cfg->dnssec_probe_type = (uint16_t)x;
	return 0;
}

static int
set_state_dir(cfg_parse_t *p, const char *v)
{
	struct stat st;

	if (*v != '/')
		return -1;
	free(p->cfg->state_dir);
	p->cfg->state_dir = cfg_strdup(p, v);
	if (p->check_files && (stat(v, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    access(v, W_OK) == -1))
		cfg_err(p, p->lineno, "state_dir '%s' is not a writable "
		    "directory", v);
	return 0;
}

static int
set_policy_lookup_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->policy_lookup_timeout_ms);
}

static int
set_sts_fetch_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v, &p->cfg->mta_sts_fetch_timeout_ms);
}

static int
set_sts_ca_file(cfg_parse_t *p, const char *v)
{
	int e;

	if (*v == '\0')
		return -1;
	free(p->cfg->mta_sts_ca_file);
	p->cfg->mta_sts_ca_file = cfg_strdup(p, v);
	if (p->check_files && cfg_readable(v, &e) == -1)
		cfg_err(p, p->lineno, "cannot read mta_sts_ca_file '%s': %s",
		    v, strerror(e));
	return 0;
}

/* An absolute name that fits sockaddr_un.sun_path; the collector need not
 * exist yet (it may start after the proxy): datagrams wait for nobody. */
static int
set_tlsrpt_socket(cfg_parse_t *p, const char *v)
{
	struct sockaddr_un un;

	if (*v != '/' || strlen(v) >= sizeof(un.sun_path))
		return -1;
	free(p->cfg->tlsrpt_socket);
	p->cfg->tlsrpt_socket = cfg_strdup(p, v);
	return 0;
}

static int
set_dane(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->dane);
}

static int
set_mta_sts(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->mta_sts);
}

static int
set_relay_dane(cfg_parse_t *p, const char *v)
{
	return cfg_enum(cfg_booleans, v, &cfg_listener(p)->relay_dane);
}

static int
set_relay_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_relay_tls, v, &x) == -1)
		return -1;
	cfg_listener(p)->relay_tls = (relay_tls_t)x;
	return 0;
}

/* A file name key of an outbound listener, checked for reading with -t. */
static int
cfg_file_key(cfg_parse_t *p, char **dst, const char *v, const char *key)
{
	int e;

	if (*v == '\0')
		return -1;
	free(*dst);
	*dst = cfg_strdup(p, v);
	if (p->check_files && cfg_readable(v, &e) == -1)
		cfg_err(p, p->lineno, "cannot read %s '%s': %s", key, v,
		    strerror(e));
	return 0;
}

static int
set_auth_file(cfg_parse_t *p, const char *v)
{
	/* Read whole at the end of the section (cfg_end_outbound). */
	if (*v == '\0')
		return -1;
	free(cfg_listener(p)->auth_file);
	cfg_listener(p)->auth_file = cfg_strdup(p, v);
	return 0;
}

static int
set_auth_mechs(cfg_parse_t *p, const char *v)
{
	static const char sep[] = " \t,";
	config_listener_t *l = cfg_listener(p);
	auth_mech_t m[AUTH_MECH_COUNT];
	int n = 0;

	for (v += strspn(v, sep); *v != '\0'; v += strspn(v, sep)) {
		char w[16];
		size_t len = strcspn(v, sep);
		int x, i;

		if (len >= sizeof(w))
			return -1;
		memcpy(w, v, len);
		w[len] = '\0';
		v += len;
		for (i = 0; w[i] != '\0'; i++)
			w[i] = (char)tolower((unsigned char)w[i]);
		if (cfg_enum(cfg_auth_mechs, w, &x) == -1)
			return -1;
		for (i = 0; i < n; i++)
			if (m[i] == (auth_mech_t)x)
				return -1;
		m[n++] = (auth_mech_t)x;
	}
	if (n == 0)
		return -1;
	memcpy(l->auth_mechs, m, sizeof(m));
	l->nauth_mechs = n;
	return 0;
}

static int
set_client_cert(cfg_parse_t *p, const char *v)
{
	return cfg_file_key(p, &cfg_listener(p)->client_cert, v,
	    "client_cert");
}

static int
set_client_key(cfg_parse_t *p, const char *v)
{
	return cfg_file_key(p, &cfg_listener(p)->client_key, v, "client_key");
}

static int
set_session_cache_timeout(cfg_parse_t *p, const char *v)
{
	return config_parse_duration(v,
	    &cfg_listener(p)->session_cache_timeout_ms);
}

static int
set_listen_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_in_tls, v, &x) == -1)
		return -1;
	cfg_listener(p)->listen_tls = (in_tls_t)x;
	return 0;
}

static int
set_listen_min_tls(cfg_parse_t *p, const char *v)
{
	int x;

	if (cfg_enum(cfg_listen_tls_versions, v, &x) == -1)
		return -1;
	cfg_listener(p)->listen_min_tls = (uint16_t)x;
	return 0;
}

#define G SEC_BIT(SEC_GLOBAL)
#define IN SEC_BIT(SEC_INBOUND)
#define OUT SEC_BIT(SEC_OUTBOUND)
#define POL SEC_BIT(SEC_POLICY)
#define PTY SEC_BIT(SEC_PARTY)

static const char cfg_duration_expected[] =
    "a duration such as 30, 30s, 5m, 1h or 250ms, from 1ms to 24h";
static const char cfg_bool_expected[] = "yes or no";

/* Every key, where it belongs, how it is read. */
static const cfg_key_t cfg_keys[K_COUNT] = {
	[K_LOG_LEVEL] = { "log_level", G, set_log_level,
	    "debug, info, warn or error", 0 },
	[K_LOG_FORMAT] = { "log_format", G, set_log_format,
	    "text or json", 0 },
	[K_MAX_SESSIONS] = { "max_sessions", G, set_max_sessions,
	    "a number from 1 to 1000000", 0 },
	[K_IDLE_TIMEOUT] = { "idle_timeout", G, set_idle_timeout,
	    cfg_duration_expected, 0 },
	[K_HANDSHAKE_TIMEOUT] = { "handshake_timeout", G,
	    set_handshake_timeout, cfg_duration_expected, 0 },
	[K_CONNECT_TIMEOUT] = { "connect_timeout", G, set_connect_timeout,
	    cfg_duration_expected, 0 },
	[K_LISTEN] = { "listen", IN | OUT, set_listen,
	    "a numeric address and port: 127.0.0.1:25, [::1]:25, *:25", 0 },
	[K_MIN_TLS] = { "min_tls", IN | OUT, set_min_tls, "1.2 or 1.3", 0 },
	[K_BACKEND] = { "backend", IN, set_backend,
	    "host:port or [v6]:port", 0 },
	[K_IN_TLS] = { "tls", IN, set_in_tls, "starttls, implicit or off", 0 },
	[K_CERT] = { "cert", IN | OUT, set_cert, "a file name", 1 },
	[K_KEY] = { "key", IN | OUT, set_key, "a file name", 1 },
	[K_REQUIRE_TLS] = { "require_tls", IN, set_require_tls,
	    cfg_bool_expected, 0 },
	[K_HIDE_AUTH] = { "hide_auth_before_tls", IN, set_hide_auth,
	    cfg_bool_expected, 0 },
	[K_MODE] = { "mode", OUT, set_mode, "relay or transparent", 0 },
	[K_RELAY] = { "relay", OUT, set_relay,
	    "host:port or [v6]:port", 0 },
	[K_OUT_TLS] = { "tls", OUT, set_out_tls,
	    "none, may, encrypt or verify", 0 },
	[K_HELO_NAME] = { "helo_name", OUT, set_helo_name,
	    "a host name or an [address] literal", 0 },
	[K_CA_FILE] = { "ca_file", OUT, set_ca_file, "a file name", 0 },
	[K_MARK] = { "mark", OUT, set_mark,
	    "a nonzero 32-bit number, decimal or 0x hex", 0 },
	[K_POLICY_TLS] = { "tls", POL, set_policy_tls,
	    "may, encrypt, verify or dane", 0 },
	[K_MATCH] = { "match", POL, set_match,
	    "host names or .domain suffixes separated by spaces or commas, "
	    "at most 16", 1 },
	[K_DATA_TIMEOUT] = { "data_timeout", G, set_data_timeout,
	    cfg_duration_expected, 0 },
	[K_SHUTDOWN_GRACE] = { "shutdown_grace", G, set_shutdown_grace,
	    cfg_duration_expected, 0 },
	[K_WORKERS] = { "workers", G, set_workers,
	    "auto or a number of threads from 1 to 256", 0 },
	[K_ADMIN] = { "admin", G, set_admin,
	    "a numeric address and port: 127.0.0.1:9925, [::1]:9925", 0 },
	[K_MAX_ERRORS] = { "max_errors", G, set_max_errors,
	    "a number from 1 to 100000", 0 },
	[K_MAX_MESSAGE_SIZE] = { "max_message_size", IN, set_max_message_size,
	    "a size in octets, with k, m or g for powers of 1024, at most "
	    "1024g; 0: no limit", 0 },
	[K_MAX_PER_IP] = { "max_sessions_per_ip", IN, set_max_per_ip,
	    "a number from 0 to 1000000; 0: no limit", 0 },
	[K_PROXY_PROTOCOL] = { "proxy_protocol", IN, set_proxy_protocol,
	    "off, v1 or v2", 0 },
	[K_XCLIENT] = { "xclient", IN, set_xclient, cfg_bool_expected, 0 },
	[K_ACCEPT_PROXY] = { "accept_proxy_protocol", IN, set_accept_proxy,
	    cfg_bool_expected, 0 },
	[K_ACCEPT_FROM] = { "accept_proxy_from", IN, set_accept_from,
	    "networks such as 10.0.0.0/8 or ::1/128, separated by spaces or "
	    "commas, at most 32", 0 },
	[K_ALLOW_COMMANDS] = { "allow_commands", IN | OUT, set_allow_commands,
	    "SMTP verbs separated by spaces or commas", 0 },
	[K_DNS] = { "dns", G, set_dns, "a numeric address and port, such as "
	    "127.0.0.1:53 or [::1]:53", 0 },
	[K_DNS_TIMEOUT] = { "dns_timeout", G, set_dns_timeout,
	    cfg_duration_expected, 0 },
	[K_DNS_TRUST_AD] = { "dns_trust_ad", G, set_dns_trust_ad,
	    cfg_bool_expected, 0 },
	[K_DNSSEC_PROBE] = { "dnssec_probe", G, set_dnssec_probe,
	    "TYPE:NAME such as ns:. (types ns, a, aaaa, mx, txt, tlsa, soa), "
	    "or no", 0 },
	[K_STATE_DIR] = { "state_dir", G, set_state_dir,
	    "an absolute directory name", 0 },
	[K_POLICY_LOOKUP_TIMEOUT] = { "policy_lookup_timeout", G,
	    set_policy_lookup_timeout, cfg_duration_expected, 0 },
	[K_STS_FETCH_TIMEOUT] = { "mta_sts_fetch_timeout", G,
	    set_sts_fetch_timeout, cfg_duration_expected, 0 },
	[K_STS_CA_FILE] = { "mta_sts_ca_file", G, set_sts_ca_file,
	    "a file name", 0 },
	[K_DANE] = { "dane", OUT, set_dane, cfg_bool_expected, 0 },
	[K_MTA_STS] = { "mta_sts", OUT, set_mta_sts, cfg_bool_expected, 0 },
	[K_RELAY_DANE] = { "relay_dane", OUT, set_relay_dane,
	    cfg_bool_expected, 0 },
	[K_RELAY_TLS] = { "relay_tls", OUT, set_relay_tls,
	    "starttls or implicit", 0 },
	[K_AUTH_FILE] = { "auth_file", OUT, set_auth_file, "a file name", 0 },
	[K_AUTH_MECHS] = { "auth_mechanisms", OUT, set_auth_mechs,
	    "plain, login and xoauth2, in order, each once", 0 },
	[K_CLIENT_CERT] = { "client_cert", OUT, set_client_cert,
	    "a file name", 0 },
	[K_CLIENT_KEY] = { "client_key", OUT, set_client_key, "a file name",
	    0 },
	[K_SESSION_CACHE_TIMEOUT] = { "session_cache_timeout", OUT,
	    set_session_cache_timeout, cfg_duration_expected, 0 },
	[K_LISTEN_TLS] = { "listen_tls", OUT, set_listen_tls,
	    "starttls, implicit or off", 0 },
	[K_LISTEN_MIN_TLS] = { "listen_min_tls", OUT, set_listen_min_tls,
	    "1.0, 1.1, 1.2 or 1.3", 0 },
	[K_TLSRPT_SOCKET] = { "tlsrpt_socket", G, set_tlsrpt_socket,
	    "an absolute socket name of at most 107 octets", 0 },
	[K_TLS_RATE_LIMIT] = { "tls_rate_limit", IN, set_tls_rate_limit,
	    "new TLS handshakes per client address per minute, 0 to 1000000; "
	    "0: no limit", 0 },
	[K_CLIENT_CA] = { "client_ca", IN, set_client_ca, "a file name", 0 },
	[K_RECEIVED_HEADER] = { "received_header", IN, set_received_header,
	    cfg_bool_expected, 0 },
	[K_TICKET_KEY] = { "ticket_key", IN, set_ticket_key, "a file name",
	    1 },
	[K_OCSP] = { "ocsp", IN, set_ocsp, "a file name", 1 },
	[K_PARTY_TLS] = { "tls", PTY, set_party_tls, "encrypt or verify", 0 },
	[K_CLIENTS] = { "clients", PTY, set_clients,
	    "networks such as 192.0.2.0/24 or 2001:db8::/32, separated by "
	    "spaces or commas, at most 64", 1 },
	[K_SENDERS] = { "senders", PTY, set_senders,
	    "domains or .domain suffixes separated by spaces or commas, at "
	    "most 64", 1 },
	[K_RECIPIENTS] = { "recipients", PTY, set_recipients,
	    "domains or .domain suffixes separated by spaces or commas, at "
	    "most 64", 1 },
	[K_CLIENT_FINGERPRINTS] = { "client_fingerprints", PTY,
	    set_client_fingerprints, "SHA-256 fingerprints (64 hex digits, "
	    "':' between pairs allowed) separated by spaces or commas, at "
	    "most 64", 1 },
	[K_CLIENT_NAMES] = { "client_names", PTY, set_client_names,
	    "host names or .domain suffixes separated by spaces or commas, "
	    "at most 64", 1 },
};

#undef G
#undef IN
#undef OUT
#undef POL
#undef PTY

static void
cfg_missing(cfg_parse_t *p, int k, const char *why)
{
	if (p->key_line[k] == 0)
		cfg_err(p, p->secline, "missing required key '%s' in [%s]%s",
		    cfg_keys[k].name, p->secname, why);
}

/* key_ok: the key was given and its value parsed. */
static int
cfg_key_ok(const cfg_parse_t *p, int k)
{
	return p->key_line[k] != 0 && !p->key_bad[k];
}

static void
cfg_end_inbound(cfg_parse_t *p)
{
	config_listener_t *l = cfg_listener(p);
	char err[256];
	int i;

	cfg_missing(p, K_LISTEN, "");
	cfg_missing(p, K_BACKEND, "");
	cfg_cert_without_key(p);
	if (!p->key_bad[K_IN_TLS] && l->in_tls != IN_TLS_OFF &&
	    l->ncerts == 0)
		cfg_missing(p, K_CERT, " (needed unless tls = off)");
	if (cfg_key_ok(p, K_IN_TLS) && l->in_tls == IN_TLS_OFF &&
	    l->require_tls)
		cfg_err(p, p->key_line[K_REQUIRE_TLS],
		    "require_tls = yes cannot be met with tls = off");
	if (cfg_key_ok(p, K_ACCEPT_PROXY) && l->accept_proxy &&
	    p->key_line[K_ACCEPT_FROM] == 0)
		cfg_err(p, p->key_line[K_ACCEPT_PROXY],
		    "accept_proxy_protocol = yes needs accept_proxy_from: "
		    "the networks of the load balancers allowed to send it");
	if (p->key_line[K_ACCEPT_FROM] != 0 && !l->accept_proxy)
		cfg_err(p, p->key_line[K_ACCEPT_FROM],
		    "accept_proxy_from without accept_proxy_protocol = yes");
	if (cfg_key_ok(p, K_TLS_RATE_LIMIT) && l->tls_rate_limit > 0 &&
	    cfg_key_ok(p, K_IN_TLS) && l->in_tls == IN_TLS_OFF)
		cfg_err(p, p->key_line[K_TLS_RATE_LIMIT],
		    "tls_rate_limit has nothing to limit with tls = off");
	if (cfg_key_ok(p, K_IN_TLS) && l->in_tls == IN_TLS_OFF &&
	    p->key_line[K_CLIENT_CA] != 0)
		cfg_err(p, p->key_line[K_CLIENT_CA],
		    "client_ca needs TLS (tls = off)");
	if (cfg_key_ok(p, K_IN_TLS) && l->in_tls == IN_TLS_OFF &&
	    p->key_line[K_TICKET_KEY] != 0)
		cfg_err(p, p->key_line[K_TICKET_KEY],
		    "ticket_key needs TLS (tls = off)");
	if (!p->check_files)
		return;
	for (i = 0; i < l->ncerts; i++) {
		config_certpair_t *c = &l->certs[i];

		if (c->cert == NULL || c->key == NULL)
			continue;
		err[0] = '\0';
		if (tls_check_keypair(c->cert, c->key, err, sizeof err) == -1)
			cfg_err(p, c->line, "cert/key: %s", err);
		else if (c->ocsp != NULL && tls_check_ocsp(c->cert, c->key,
		    c->ocsp, err, sizeof err) == -1)
			cfg_err(p, c->ocsp_line, "ocsp '%s': %s", c->ocsp, err);
	}
}

/* The smarthost keys of a relay listener (relay_tls, auth_file, client
 * certificate). */
static void
cfg_end_smarthost(cfg_parse_t *p)
{
	config_listener_t *l = cfg_listener(p);
	int encrypted = !p->key_bad[K_OUT_TLS] &&
	    (l->out_tls == OUT_TLS_ENCRYPT || l->out_tls == OUT_TLS_VERIFY);
	char err[512];

	if (cfg_key_ok(p, K_RELAY_TLS) && l->relay_tls == RELAY_TLS_IMPLICIT &&
	    !encrypted && !p->key_bad[K_OUT_TLS])
		cfg_err(p, p->key_line[K_RELAY_TLS],
		    "relay_tls = implicit needs tls = encrypt or tls = verify");
	if (cfg_key_ok(p, K_AUTH_FILE) && !encrypted && !p->key_bad[K_OUT_TLS])
		cfg_err(p, p->key_line[K_AUTH_FILE],
		    "auth_file needs tls = encrypt or tls = verify: "
		    "credentials never cross an unencrypted leg");
	if (p->key_line[K_AUTH_MECHS] != 0 && p->key_line[K_AUTH_FILE] == 0)
		cfg_err(p, p->key_line[K_AUTH_MECHS],
		    "auth_mechanisms without auth_file");
	if ((l->client_cert == NULL) != (l->client_key == NULL) &&
	    !p->key_bad[K_CLIENT_CERT] && !p->key_bad[K_CLIENT_KEY])
		cfg_err(p, p->key_line[l->client_cert ? K_CLIENT_CERT :
		    K_CLIENT_KEY], "client_cert and client_key go together");
	if (l->client_cert != NULL && !p->key_bad[K_OUT_TLS] &&
	    l->out_tls == OUT_TLS_NONE)
		cfg_err(p, p->key_line[K_CLIENT_CERT],
		    "client_cert cannot be used with tls = none");
	if (!p->check_files)
		return;
	if (l->client_cert != NULL && l->client_key != NULL) {
		err[0] = '\0';
		if (tls_check_keypair(l->client_cert, l->client_key, err,
		    sizeof(err)) == -1)
			cfg_err(p, p->key_line[K_CLIENT_CERT],
			    "client_cert/client_key: %s", err);
	}
	if (cfg_key_ok(p, K_AUTH_FILE)) {
		/* Read as the proxy will, never printed: errors name lines
		 * and keys only. */
		relayauth_t *a = relayauth_load(l->auth_file, err,
		    sizeof(err));

		if (a == NULL) {
			cfg_err(p, p->key_line[K_AUTH_FILE], "%s", err);
			return;
		}
		if (l->nauth_mechs > 0 && relayauth_choose(a, l->auth_mechs,
		    l->nauth_mechs, ~0u) == -1)
			cfg_err(p, p->key_line[K_AUTH_MECHS],
			    "auth_mechanisms: none of them can be used with the "
			    "credentials of auth_file (a password serves plain "
			    "and login, a token_file xoauth2)");
		relayauth_free(a);
	}
}

/* listen_tls: the listening leg's TLS for old devices. */
static void
cfg_end_listen_tls(cfg_parse_t *p)
{
	config_listener_t *l = cfg_listener(p);
	char err[256];

	cfg_cert_without_key(p);
	if (cfg_key_ok(p, K_LISTEN_TLS) && l->listen_tls != IN_TLS_OFF &&
	    l->ncerts == 0)
		cfg_missing(p, K_CERT, " (needed for listen_tls)");
	if (l->ncerts > 0 && !p->key_bad[K_LISTEN_TLS] &&
	    l->listen_tls == IN_TLS_OFF)
		cfg_err(p, l->certs[0].line, "cert/key on an outbound "
		    "listener serve listen_tls = starttls or implicit");
	if (p->key_line[K_LISTEN_MIN_TLS] != 0 && !p->key_bad[K_LISTEN_TLS] &&
	    l->listen_tls == IN_TLS_OFF)
		cfg_err(p, p->key_line[K_LISTEN_MIN_TLS],
		    "listen_min_tls without listen_tls");
	if (!p->check_files)
		return;
	for (int i = 0; i < l->ncerts; i++) {
		config_certpair_t *c = &l->certs[i];

		if (c->cert == NULL || c->key == NULL)
			continue;
		err[0] = '\0';
		if (tls_check_keypair(c->cert, c->key, err, sizeof err) == -1)
			cfg_err(p, c->line, "cert/key: %s", err);
	}
}

static void
cfg_end_outbound(cfg_parse_t *p)
{
	config_listener_t *l = cfg_listener(p);

	cfg_end_listen_tls(p);
	cfg_missing(p, K_LISTEN, "");
	cfg_missing(p, K_MODE, "");
	if (!cfg_key_ok(p, K_MODE))
		return;
	if (l->out_mode == OUT_MODE_RELAY) {
		cfg_missing(p, K_RELAY, " (needed for mode = relay)");
		if (cfg_key_ok(p, K_DANE) && l->dane)
			cfg_err(p, p->key_line[K_DANE],
			    "dane = yes is per recipient, for mode = "
			    "transparent; a relay's TLSA is relay_dane = yes");
		if (cfg_key_ok(p, K_MTA_STS) && l->mta_sts)
			cfg_err(p, p->key_line[K_MTA_STS],
			    "mta_sts = yes is for mode = transparent: the "
			    "relay delivers to the recipients' domains");
		if (cfg_key_ok(p, K_RELAY_DANE) && l->relay_dane &&
		    cfg_key_ok(p, K_RELAY) && config_addr_resolved(&l->relay))
			cfg_err(p, p->key_line[K_RELAY_DANE],
			    "relay_dane = yes needs the relay as a host name: "
			    "its TLSA records are at _PORT._tcp.NAME");
		if (cfg_key_ok(p, K_RELAY_DANE) && l->relay_dane &&
		    cfg_key_ok(p, K_OUT_TLS) && (l->out_tls == OUT_TLS_NONE))
			cfg_err(p, p->key_line[K_RELAY_DANE],
			    "relay_dane = yes cannot be met with tls = none");
		cfg_end_smarthost(p);
		return;
	}
	for (int k = K_RELAY_TLS; k <= K_CLIENT_KEY; k++)
		if (p->key_line[k] != 0)
			cfg_err(p, p->key_line[k], "%s is only allowed with "
			    "mode = relay", cfg_keys[k].name);
	if (p->key_line[K_RELAY_DANE] != 0)
		cfg_err(p, p->key_line[K_RELAY_DANE],
		    "relay_dane is only allowed with mode = relay");
	if (((cfg_key_ok(p, K_DANE) && l->dane) ||
	    (cfg_key_ok(p, K_MTA_STS) && l->mta_sts)) &&
	    cfg_key_ok(p, K_OUT_TLS) && l->out_tls == OUT_TLS_NONE)
		cfg_err(p, p->key_line[K_OUT_TLS],
		    "tls = none never tries TLS, so dane and mta_sts could "
		    "only refuse; use tls = may");
	if (p->key_line[K_RELAY] != 0)
		cfg_err(p, p->key_line[K_RELAY],
		    "relay is only allowed with mode = relay");
	if (cfg_key_ok(p, K_OUT_TLS) && l->out_tls == OUT_TLS_VERIFY)
		cfg_err(p, p->key_line[K_OUT_TLS],
		    "tls = verify needs a name to verify, which transparent "
		    "mode does not know; use [policy:DOMAIN] sections");
}

static void
cfg_end_policy(cfg_parse_t *p)
{
	config_policy_t *pol = cfg_policy(p);

	cfg_missing(p, K_POLICY_TLS, "");
	if (pol->nmatch == 0) {
		pol->match[0] = cfg_strdup(p, pol->domain);
		if (pol->match[0] != NULL)
			pol->nmatch = 1;
	}
}

static void
cfg_end_party(cfg_parse_t *p)
{
	config_party_t *pt = cfg_party(p);

	cfg_missing(p, K_PARTY_TLS, "");
	if (p->key_line[K_CLIENTS] == 0 && p->key_line[K_SENDERS] == 0 &&
	    p->key_line[K_RECIPIENTS] == 0)
		cfg_err(p, p->secline, "[%s] matches nothing: give clients, "
		    "senders or recipients", p->secname);
	if (cfg_key_ok(p, K_PARTY_TLS) && pt->tls != PARTY_TLS_VERIFY) {
		if (p->key_line[K_CLIENT_FINGERPRINTS] != 0)
			cfg_err(p, p->key_line[K_CLIENT_FINGERPRINTS],
			    "client_fingerprints needs tls = verify");
		if (p->key_line[K_CLIENT_NAMES] != 0)
			cfg_err(p, p->key_line[K_CLIENT_NAMES],
			    "client_names needs tls = verify");
	}
}

/* cfg_end_section checks what needs the whole section. */
static void
cfg_end_section(cfg_parse_t *p)
{
	switch (p->sec) {
	case SEC_INBOUND:
		cfg_end_inbound(p);
		break;
	case SEC_OUTBOUND:
		cfg_end_outbound(p);
		break;
	case SEC_POLICY:
		cfg_end_policy(p);
		break;
	case SEC_PARTY:
		cfg_end_party(p);
		break;
	case SEC_NONE:
	case SEC_GLOBAL:
	case SEC_SKIP:
		break;
	}
	p->sec = SEC_SKIP;
}

static int
cfg_listener_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > CFG_MAX_NAME)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
}

/* cfg_grow makes room for one more element in *arr (n used). */
static int
cfg_grow(void **arr, int n, size_t size)
{
	void *a;

	/* Grow at powers of two: n is a power of two when the array is full. */
	if (n != 0 && (n & (n - 1)) != 0)
		return 0;
	if ((a = realloc(*arr, (size_t)(n ? n * 2 : 1) * size)) == NULL)
		return -1;
	*arr = a;
	return 0;
}

static void
cfg_begin_listener(cfg_parse_t *p, direction_t dir, const char *arg)
{
	config_t *cfg = p->cfg;
	config_listener_t *l;
	int i;

	if (arg != NULL && !cfg_listener_name_ok(arg)) {
		cfg_err(p, p->lineno, "bad section name [%s] (NAME in "
		    "[%s:NAME] is 1 to %d letters, digits, '.', '-' or '_')",
		    p->secname, dir == DIR_INBOUND ? "inbound" : "outbound",
		    CFG_MAX_NAME);
		return;
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		if (strcmp(cfg->listeners[i].name, p->secname) == 0) {
			cfg_err(p, p->lineno, "duplicate section [%s] "
			    "(first at line %d)", p->secname,
			    cfg->listeners[i].line);
			return;
		}
	}
	if (cfg->nlisteners == CONFIG_MAX_LISTENERS) {
		cfg_err(p, p->lineno, "too many listeners (at most %d)",
		    CONFIG_MAX_LISTENERS);
		return;
	}
	if (cfg_grow((void **)&cfg->listeners, cfg->nlisteners,
	    sizeof *cfg->listeners) == -1) {
		cfg_err(p, p->lineno, "out of memory");
		return;
	}
	l = &cfg->listeners[cfg->nlisteners];
	memset(l, 0, sizeof *l);
	if ((l->name = cfg_strdup(p, p->secname)) == NULL)
		return;
	cfg->nlisteners++;
	l->dir = dir;
	l->line = p->lineno;
	l->in_tls = IN_TLS_STARTTLS;
	l->require_tls = 0;
	l->hide_auth_before_tls = 1;
	l->min_tls = TLS1_2_VERSION;
	l->out_mode = OUT_MODE_RELAY;
	l->out_tls = OUT_TLS_MAY;
	l->relay_tls = RELAY_TLS_STARTTLS;
	l->session_cache_timeout_ms = CONFIG_SESSION_CACHE_TIMEOUT_MS;
	l->listen_tls = IN_TLS_OFF;
	l->listen_min_tls = TLS1_2_VERSION;
	p->cur = cfg->nlisteners - 1;
	p->sec = dir == DIR_INBOUND ? SEC_INBOUND : SEC_OUTBOUND;
}

static void
cfg_begin_policy(cfg_parse_t *p, const char *arg)
{
	config_t *cfg = p->cfg;
	config_policy_t *pol;
	char *domain;
	int i;

	if (arg == NULL || (domain = cfg_domain(arg, strlen(arg), 1)) == NULL) {
		cfg_err(p, p->lineno, "bad section name [%s] "
		    "(expected [policy:DOMAIN])", p->secname);
		return;
	}
	for (i = 0; i < cfg->npolicies; i++) {
		if (strcmp(cfg->policies[i].domain, domain) == 0) {
			cfg_err(p, p->lineno, "duplicate policy for %s "
			    "(first at line %d)", domain,
			    cfg->policies[i].line);
			free(domain);
			return;
		}
	}
	if (cfg->npolicies == CONFIG_MAX_POLICIES ||
	    cfg_grow((void **)&cfg->policies, cfg->npolicies,
	    sizeof *cfg->policies) == -1) {
		if (cfg->npolicies == CONFIG_MAX_POLICIES)
			cfg_err(p, p->lineno, "too many policies (at most %d)",
			    CONFIG_MAX_POLICIES);
		else
			cfg_err(p, p->lineno, "out of memory");
		free(domain);
		return;
	}
	pol = &cfg->policies[cfg->npolicies++];
	memset(pol, 0, sizeof *pol);
	pol->domain = domain;
	pol->line = p->lineno;
	p->cur = cfg->npolicies - 1;
	p->sec = SEC_POLICY;
}

static void
cfg_begin_party(cfg_parse_t *p, const char *arg)
{
	config_t *cfg = p->cfg;
	config_party_t *pt;
	int i;

	if (arg == NULL || !cfg_listener_name_ok(arg)) {
		cfg_err(p, p->lineno, "bad section name [%s] (NAME in "
		    "[party:NAME] is 1 to %d letters, digits, '.', '-' or '_')",
		    p->secname, CFG_MAX_NAME);
		return;
	}
	for (i = 0; i < cfg->nparties; i++) {
		if (strcmp(cfg->parties[i].name, arg) == 0) {
			cfg_err(p, p->lineno, "duplicate section [%s] "
			    "(first at line %d)", p->secname,
			    cfg->parties[i].line);
			return;
		}
	}
	if (cfg->nparties == CONFIG_MAX_PARTIES ||
	    cfg_grow((void **)&cfg->parties, cfg->nparties,
	    sizeof *cfg->parties) == -1) {
		if (cfg->nparties == CONFIG_MAX_PARTIES)
			cfg_err(p, p->lineno, "too many parties (at most %d)",
			    CONFIG_MAX_PARTIES);
		else
			cfg_err(p, p->lineno, "out of memory");
		return;
	}
	pt = &cfg->parties[cfg->nparties];
	memset(pt, 0, sizeof *pt);
	if ((pt->name = cfg_strdup(p, arg)) == NULL)
		return;
	cfg->nparties++;
	pt->line = p->lineno;
	p->cur = cfg->nparties - 1;
	p->sec = SEC_PARTY;
}

/*
 * cfg_begin_section handles a header line s ("[...]" and maybe a comment):
 * it closes the previous section and opens the new one. An unusable header
 * is reported once, and its keys are skipped silently.
 */
static void
cfg_begin_section(cfg_parse_t *p, char *s)
{
	char *end, *name, *arg, *rest;

	cfg_end_section(p);
	memset(p->key_line, 0, sizeof p->key_line);
	memset(p->key_bad, 0, sizeof p->key_bad);
	p->open_cert = -1;
	p->secline = p->lineno;

	if ((end = strchr(s, ']')) == NULL) {
		cfg_err(p, p->lineno, "bad section header: missing ']'");
		return;
	}
	rest = end + 1;
	rest += strspn(rest, " \t");
	if (*rest != '\0' && *rest != ';' && *rest != '#') {
		cfg_err(p, p->lineno, "bad section header: text after ']'");
		return;
	}
	name = s + 1;
	name += strspn(name, " \t");
	while (end > name && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if ((size_t)(end - name) >= sizeof p->secname) {
		cfg_err(p, p->lineno, "bad section header: name too long");
		return;
	}
	memcpy(p->secname, name, (size_t)(end - name) + 1);

	if ((arg = strchr(name, ':')) != NULL)
		*arg++ = '\0';
	if (strcmp(name, "global") == 0 && arg == NULL) {
		if (p->global_line != 0) {
			cfg_err(p, p->lineno, "duplicate section [global] "
			    "(first at line %d)", p->global_line);
			return;
		}
		p->global_line = p->lineno;
		p->sec = SEC_GLOBAL;
	} else if (strcmp(name, "inbound") == 0) {
		cfg_begin_listener(p, DIR_INBOUND, arg);
	} else if (strcmp(name, "outbound") == 0) {
		cfg_begin_listener(p, DIR_OUTBOUND, arg);
	} else if (strcmp(name, "policy") == 0) {
		cfg_begin_policy(p, arg);
	} else if (strcmp(name, "party") == 0) {
		cfg_begin_party(p, arg);
	} else {
		cfg_err(p, p->lineno, "unknown section [%s]", p->secname);
	}
}

/*
 * has_separator says whether inih will find '=' or ':' in s before an
 * inline comment (';' after white space), i.e. whether s is a key line.
 */
static int
cfg_has_separator(const char *s)
{
	const char *c;

	for (c = s; *c != '\0'; c++) {
		if (*c == '=' || *c == ':')
			return 1;
		if (*c == ';' && c > s && isspace((unsigned char)c[-1]))
			return 0;
	}
	return 0;
}

static char *
cfg_blank(char *str)
{
	str[0] = '\n';
	str[1] = '\0';
	return str;
}

/*
 * cfg_reader is inih's line source: one call, one physical line. Lines that
 * inih would misread come back blank after they have been reported; white
 * space is stripped in front so that inih never joins continuation lines.
 */
static char *
cfg_reader(char *str, int num, void *stream)
{
	cfg_parse_t *p = stream;
	char *s, *e;
	ssize_t n;

	if (num < 2)
		return NULL;
	if (p->nerrors >= CFG_MAX_ERRORS) {
		p->stopped = 1;
		return NULL;
	}
	errno = 0;
	if ((n = getline(&p->buf, &p->bufcap, p->fp)) < 0) {
		if (ferror(p->fp))
			p->read_errno = errno ? errno : EIO;
		return NULL;
	}
	p->lineno++;
	s = p->buf;
	e = s + n;
	if (p->lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;   /* a UTF-8 byte order mark */
	if (memchr(s, '\0', (size_t)(e - s)) != NULL) {
		cfg_err(p, p->lineno, "NUL byte in line");
		return cfg_blank(str);
	}
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	while (s < e && isspace((unsigned char)*s))
		s++;
	*e = '\0';
	if (s == e || *s == ';' || *s == '#')
		return cfg_blank(str);
	if (e - s > num - 2) {
		cfg_err(p, p->lineno, "line too long (at most %d characters)",
		    num - 2);
		return cfg_blank(str);
	}
	if (*s == '[') {
		cfg_begin_section(p, s);
		return cfg_blank(str);
	}
	if (!cfg_has_separator(s)) {
		cfg_err(p, p->lineno,
		    "expected 'key = value', '[section]' or a comment");
		return cfg_blank(str);
	}
	memcpy(str, s, (size_t)(e - s));
	str[e - s] = '\n';
	str[e - s + 1] = '\0';
	return str;
}

/* cfg_handler gets each key; the reader has set the section and line. */
static int
cfg_handler(void *user, const char *section, const char *name,
    const char *value)
{
	cfg_parse_t *p = user;
	const cfg_key_t *k = NULL;
	int i;

	(void)section;
	if (p->sec == SEC_SKIP)
		return 1;
	if (p->sec == SEC_NONE) {
		cfg_err(p, p->lineno, "key '%s' outside any section", name);
		return 1;
	}
	for (i = 0; i < K_COUNT; i++) {
		if ((cfg_keys[i].sections & SEC_BIT(p->sec)) &&
		    strcmp(cfg_keys[i].name, name) == 0) {
			k = &cfg_keys[i];
			break;
		}
	}
	if (k == NULL) {
		cfg_err(p, p->lineno, "unknown key '%s' in [%s]", name,
		    p->secname);
		return 1;
	}
	if (p->key_line[i] != 0 && !k->repeatable) {
		cfg_err(p, p->lineno, "duplicate key '%s' in [%s] "
		    "(first at line %d)", name, p->secname, p->key_line[i]);
		return 1;
	}
	if (p->key_line[i] == 0)
		p->key_line[i] = p->lineno;
	if (k->set(p, value) == -1) {
		p->key_bad[i] = 1;
		cfg_err(p, p->lineno, "bad value for %s: '%s' (expected %s)",
		    name, value, k->expected);
	}
	/* Never 0: inih would keep only the first error line. */
	return 1;
}

/*
 * Parties apply on every inbound listener; tls = verify needs the
 * certificate requested there, so a TLS listener without client_ca would
 * refuse every such command: an error, not a surprise at run time.
 */
static void
cfg_check_parties(cfg_parse_t *p)
{
	const config_t *cfg = p->cfg;

	for (int i = 0; i < cfg->nparties; i++) {
		const config_party_t *pt = &cfg->parties[i];
		if (pt->tls != PARTY_TLS_VERIFY)
			continue;
		for (int k = 0; k < cfg->nlisteners; k++) {
			const config_listener_t *l = &cfg->listeners[k];
			if (l->dir == DIR_INBOUND && l->in_tls != IN_TLS_OFF &&
			    l->client_ca == NULL)
				cfg_err(p, pt->line, "[party:%s] tls = verify "
				    "needs client_ca on [%s]", pt->name,
				    l->name);
		}
	}
}

static void
cfg_parse(cfg_parse_t *p)
{
	int rc;

	rc = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	if (rc == -2)
		cfg_err(p, 0, "out of memory");
	else if (rc > 0 && p->nerrors == 0)
		cfg_err(p, rc, "syntax error");
	cfg_end_section(p);
	if (p->read_errno != 0) {
		cfg_err(p, 0, "cannot read: %s", strerror(p->read_errno));
		return;
	}
	if (p->stopped) {
		cfg_err(p, 0, "too many errors, stopped at line %d", p->lineno);
		return;
	}
	if (p->cfg->nlisteners == 0)
		cfg_err(p, 0, "no [inbound] or [outbound] listener");
	cfg_check_parties(p);
}

config_t *
config_load(const char *path, int check_files, FILE *errs)
{
	cfg_parse_t p;
	config_t *cfg;
	int i;

	memset(&p, 0, sizeof p);
	p.path = path;
	p.check_files = check_files;
	p.sec = SEC_NONE;
	p.open_cert = -1;
	if ((cfg = calloc(1, sizeof *cfg)) == NULL ||
	    (cfg->path = strdup(path)) == NULL) {
		if (errs != NULL)
			fprintf(errs, "%s:0: out of memory\n", path);
		config_free(cfg);
		return NULL;
	}
	cfg->log_level = LOG_INFO;
	cfg->log_format = LOG_FORMAT_TEXT;
	cfg->max_sessions = CFG_DEFAULT_MAX_SESSIONS;
	cfg->idle_timeout_ms = CFG_DEFAULT_IDLE_MS;
	cfg->handshake_timeout_ms = CFG_DEFAULT_HANDSHAKE_MS;
	cfg->connect_timeout_ms = CFG_DEFAULT_CONNECT_MS;
	cfg->data_timeout_ms = CFG_DEFAULT_DATA_MS;
	cfg->dns_timeout_ms = CFG_DEFAULT_DNS_MS;
	cfg->policy_lookup_timeout_ms = CFG_DEFAULT_POLICY_LOOKUP_MS;
	cfg->mta_sts_fetch_timeout_ms = CFG_DEFAULT_STS_FETCH_MS;
	cfg->dnssec_probe_type = 2; /* ns:. as Postfix's dnssec_probe */
	cfg->dnssec_probe_name = strdup(".");
	if (cfg->dnssec_probe_name == NULL) {
		if (errs != NULL)
			fprintf(errs, "%s:0: out of memory\n", path);
		config_free(cfg);
		return NULL;
	}
	cfg->max_errors = CFG_DEFAULT_MAX_ERRORS;
	cfg->shutdown_grace_ms = CFG_DEFAULT_SHUTDOWN_MS;
	p.cfg = cfg;

	if ((p.fp = fopen(path, "r")) == NULL) {
		cfg_err(&p, 0, "cannot read: %s", strerror(errno));
	} else {
		cfg_parse(&p);
		fclose(p.fp);
	}
	free(p.buf);

	if (p.nerrors > 0)
		qsort(p.errors, (size_t)p.nerrors, sizeof *p.errors,
		    cfg_error_cmp);
	for (i = 0; i < p.nerrors; i++) {
		if (errs != NULL)
			fprintf(errs, "%s:%d: %s\n", path, p.errors[i].line,
			    p.errors[i].msg);
		free(p.errors[i].msg);
	}
	if (p.oom && errs != NULL)
		fprintf(errs, "%s:0: out of memory\n", path);
	free(p.errors);
	if (p.nerrors > 0 || p.oom) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

int
config_uses_dane(const config_t *cfg)
{
	int i;

	for (i = 0; i < cfg->nlisteners; i++) {
		const config_listener_t *l = &cfg->listeners[i];
		if (l->dir == DIR_OUTBOUND && (l->dane || l->relay_dane))
			return 1;
	}
	for (i = 0; i < cfg->npolicies; i++)
		if (cfg->policies[i].tls == OUT_TLS_DANE)
			return 1;
	return 0;
}

static void
cfg_addr_cleanup(config_addr_t *a)
{
	free(a->host);
}

void
config_free(config_t *cfg)
{
	int i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nlisteners; i++) {
		config_listener_t *l = &cfg->listeners[i];

		free(l->name);
		cfg_addr_cleanup(&l->listen);
		cfg_addr_cleanup(&l->backend);
		cfg_addr_cleanup(&l->relay);
		for (j = 0; j < l->ncerts; j++) {
			free(l->certs[j].cert);
			free(l->certs[j].key);
			free(l->certs[j].ocsp);
		}
		free(l->helo_name);
		free(l->ca_file);
		free(l->client_ca);
		for (j = 0; j < l->nticket_keys; j++)
			free(l->ticket_keys[j]);
		free(l->auth_file);
		free(l->client_cert);
		free(l->client_key);
	}
	free(cfg->listeners);
	for (i = 0; i < cfg->npolicies; i++) {
		free(cfg->policies[i].domain);
		for (j = 0; j < cfg->policies[i].nmatch; j++)
			free(cfg->policies[i].match[j]);
	}
	free(cfg->policies);
	for (i = 0; i < cfg->nparties; i++) {
		config_party_t *pt = &cfg->parties[i];

		free(pt->name);
		for (j = 0; j < pt->nsenders; j++)
			free(pt->senders[j]);
		for (j = 0; j < pt->nrecipients; j++)
			free(pt->recipients[j]);
		for (j = 0; j < pt->nnames; j++)
			free(pt->names[j]);
	}
	free(cfg->parties);
	cfg_addr_cleanup(&cfg->admin);
	cfg_addr_cleanup(&cfg->dns);
	free(cfg->dnssec_probe_name);
	free(cfg->state_dir);
	free(cfg->mta_sts_ca_file);
	free(cfg->tlsrpt_socket);
	free(cfg->path);
	free(cfg);
}
