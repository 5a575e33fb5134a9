/*
 * config: the ini file (inih) read into one immutable config_t.
 *
 * Every problem is reported as "FILE:LINE: message" (LINE 0 when it concerns
 * the whole file); config_load keeps going after an error so that -t shows
 * all of them at once.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"

#define CONFIG_MAX_CERTS 8        /* cert/key pairs per inbound listener */
#define CONFIG_MAX_LISTENERS 64
#define CONFIG_MAX_POLICIES 4096
#define CONFIG_MAX_MATCH 16       /* names in one policy's match = */
#define CONFIG_MAX_CIDRS 32       /* networks in accept_proxy_from */
#define CONFIG_MAX_ALLOW 16       /* verbs in allow_commands */
#define CONFIG_VERB_MAX 32        /* one verb in allow_commands */
#define CONFIG_MAX_PARTIES 256    /* [party:NAME] sections */
#define CONFIG_MAX_PARTY_LIST 64  /* entries of one party list key */
#define CONFIG_MAX_TICKET_KEYS 8  /* ticket_key files per listener */
/*
 * Upper bounds of what the file may say, so that no value near 2^64 is
 * accepted only to overflow later (loop time + timeout, byte counts): a
 * duration at most one day (a longer SMTP timeout is a mistake: RFC 5321
 * 4.5.3.2 asks for minutes), a size at most 1 TiB (2^40), a session count
 * at most a million (two descriptors each: past any RLIMIT_NOFILE).
 */
#define CONFIG_MAX_DURATION_MS (24ULL * 60 * 60 * 1000)
#define CONFIG_MAX_SIZE (1ULL << 40)
#define CONFIG_MAX_SESSIONS 1000000

typedef enum { DIR_INBOUND, DIR_OUTBOUND } direction_t;

typedef enum { IN_TLS_OFF, IN_TLS_STARTTLS, IN_TLS_IMPLICIT } in_tls_t;
typedef enum { OUT_MODE_RELAY, OUT_MODE_TRANSPARENT } out_mode_t;
/* How the relay leg starts TLS: STARTTLS after EHLO (587, 25), or at
 * connect (RFC 8314 implicit TLS, 465). */
typedef enum { RELAY_TLS_STARTTLS, RELAY_TLS_IMPLICIT } relay_tls_t;
/* SASL mechanisms toward a relay (relayauth.c), in this order in
 * auth_mechanisms' table. */
typedef enum {
	AUTH_MECH_PLAIN, AUTH_MECH_LOGIN, AUTH_MECH_XOAUTH2, AUTH_MECH_COUNT
} auth_mech_t;
/* Outbound TLS session reuse: default lifetime (Postfix's
 * smtp_tls_session_cache_timeout). */
#define CONFIG_SESSION_CACHE_TIMEOUT_MS (3600ULL * 1000)
/* OUT_TLS_DANE only in [policy:DOMAIN]: DANE required for the domain. */
typedef enum {
	OUT_TLS_NONE, OUT_TLS_MAY, OUT_TLS_ENCRYPT, OUT_TLS_VERIFY, OUT_TLS_DANE
} out_tls_t;

/* host:port as written, plus the address it resolved to at load time. */
typedef struct {
	char *host;                  /* without brackets; owned */
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
} config_addr_t;

/* A network: address family, address bytes (network order), prefix. */
typedef struct {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
} config_cidr_t;

typedef enum { PROXY_PROTO_OFF, PROXY_PROTO_V1, PROXY_PROTO_V2 } proxy_proto_t;

typedef struct {
	char *cert; /* PEM chain path; owned */
	char *key;  /* PEM key path; owned */
	char *ocsp; /* DER OCSP response to staple, or NULL; owned */
	int line;   /* line of the cert key, for later error reports */
	int ocsp_line;
} config_certpair_t;

typedef struct {
	direction_t dir;
	char *name;        /* "inbound", "inbound:NAME", "outbound", ...; owned */
	int line;          /* line of the section header */
	config_addr_t listen;

	/* inbound */
	config_addr_t backend;
	in_tls_t in_tls;                       /* default IN_TLS_STARTTLS */
	config_certpair_t certs[CONFIG_MAX_CERTS];
	int ncerts;
	int require_tls;                       /* default 0 */
	int hide_auth_before_tls;              /* default 1 */
	uint64_t max_message_size;             /* octets; 0: no limit (default) */
	unsigned max_sessions_per_ip;          /* 0: no limit (default) */
	unsigned tls_rate_limit;               /* new TLS handshakes per client
						* address per minute; 0: off
						* (default) */
	proxy_proto_t proxy_protocol;          /* header toward the backend */
	int xclient;                           /* XCLIENT toward the backend */
	int accept_proxy;                      /* PROXY header from a balancer */
	config_cidr_t accept_from[CONFIG_MAX_CIDRS];
	int naccept_from;
	char *client_ca;                       /* PEM CAs for client
						* certificates: one is
						* requested, none demanded;
						* NULL: none requested; owned */
	int received_header;                   /* trace line on each message;
						* default 0 */
	char *ticket_keys[CONFIG_MAX_TICKET_KEYS]; /* nginx-format session
						* ticket key files, the first
						* encrypts; owned */
	int nticket_keys;

	/* both: extra SMTP verbs let through (upper case, NUL-terminated),
	 * beyond the ones the proxy always relays; never one it handles itself
	 * (STARTTLS, BDAT, XCLIENT, XFORWARD) */
	char allow_commands[CONFIG_MAX_ALLOW][CONFIG_VERB_MAX + 1];
	int nallow_commands;

	/* both: minimum TLS version as a BoringSSL constant (default TLS1_2_VERSION
	 * = 0x0303; "1.2" -> 0x0303, "1.3" -> 0x0304) */
	uint16_t min_tls;

	/* outbound */
	out_mode_t out_mode;                   /* required for outbound */
	config_addr_t relay;                   /* mode = relay */
	out_tls_t out_tls;                     /* default OUT_TLS_MAY */
	char *helo_name;                       /* NULL if unset; owned */
	char *ca_file;                         /* NULL: the system bundle; owned */
	uint32_t mark;                         /* 0: unset */
	int dane;                              /* transparent: DANE per RCPT */
	int mta_sts;                           /* transparent: MTA-STS per RCPT */
	int relay_dane;                        /* relay: TLSA of the relay host */
	relay_tls_t relay_tls;                 /* default RELAY_TLS_STARTTLS */
	char *auth_file;                       /* relay credentials; NULL:
	                                          none; owned */
	auth_mech_t auth_mechs[AUTH_MECH_COUNT]; /* in order of preference */
	int nauth_mechs;                       /* 0: the default (plain login,
	                                          or xoauth2 with a token) */
	char *client_cert, *client_key;        /* toward the relay; owned */
	uint64_t session_cache_timeout_ms;     /* outbound TLS session reuse;
	                                          default 1 h */
	/* outbound: TLS toward old devices on the listening leg (certs[]
	 * then holds its pairs); default IN_TLS_OFF */
	in_tls_t listen_tls;
	uint16_t listen_min_tls;               /* default TLS1_2_VERSION; down
	                                          to TLS1_VERSION */
} config_listener_t;

typedef struct {
	char *domain;                   /* lower case, no trailing dot; owned */
	out_tls_t tls;                  /* OUT_TLS_MAY (exempt from published
	                                   policies), _ENCRYPT, _VERIFY or
	                                   _DANE */
	char *match[CONFIG_MAX_MATCH];  /* owned; default { domain } */
	int nmatch;
	int line;
} config_policy_t;

/* [party:NAME]: what a matching MAIL or RCPT needs from the session. */
typedef enum { PARTY_TLS_ENCRYPT = 1, PARTY_TLS_VERIFY } party_tls_t;

#define CONFIG_SHA256_LEN 32

typedef struct {
	char *name;                     /* NAME; owned */
	int line;
	party_tls_t tls;                /* required key */
	/* Triggers, each on its own (any one that matches applies the
	 * party): the real client's network, the MAIL FROM domain, the
	 * RCPT TO domain. Domains are lower case without a trailing dot;
	 * ".example" stands for every name below example. */
	config_cidr_t clients[CONFIG_MAX_PARTY_LIST];
	int nclients;
	char *senders[CONFIG_MAX_PARTY_LIST];      /* owned */
	int nsenders;
	char *recipients[CONFIG_MAX_PARTY_LIST];   /* owned */
	int nrecipients;
	/* tls = verify: the client certificate must also be one of these
	 * (SHA-256 of the DER leaf) or name one of these (as [policy]'s
	 * match: a host or ".suffix"), when any is given. */
	uint8_t fingerprints[CONFIG_MAX_PARTY_LIST][CONFIG_SHA256_LEN];
	int nfingerprints;
	char *names[CONFIG_MAX_PARTY_LIST];        /* owned */
	int nnames;
} config_party_t;

typedef struct {
	char *path;                     /* owned */
	log_level_t log_level;          /* default LOG_INFO */
	log_format_t log_format;        /* default LOG_FORMAT_TEXT */
	unsigned max_sessions;          /* default 10000 */
	uint64_t idle_timeout_ms;       /* default 300 s (RFC 5321 4.5.3.2.7) */
	uint64_t handshake_timeout_ms;  /* default 30 s */
	uint64_t connect_timeout_ms;    /* default 30 s */
	uint64_t data_timeout_ms;       /* whole DATA body; default 10 min */
	uint64_t shutdown_grace_ms;     /* SIGTERM drain; default 30 s */
	unsigned workers;               /* event loop threads; 0: auto */
	config_addr_t admin;            /* HTTP endpoint; host NULL: off */
	unsigned max_errors;            /* protocol errors per session; 20 */
	config_listener_t *listeners;   /* owned array */
	int nlisteners;
	config_policy_t *policies;      /* owned array */
	int npolicies;
	config_party_t *parties;        /* owned array, in file order */
	int nparties;

	/* Authenticated delivery (DNS, DANE, MTA-STS). */
	config_addr_t dns;              /* resolver, numeric; host NULL: the
	                                   first nameserver of resolv.conf */
	uint64_t dns_timeout_ms;        /* default 5 s */
	int dns_trust_ad;               /* believe AD from a non-loopback
	                                   resolver; default no */
	uint16_t dnssec_probe_type;     /* DNSMSG_TYPE_*; 0: no probe */
	char *dnssec_probe_name;        /* default "." (ns:.); owned */
	char *state_dir;                /* NULL: MTA-STS cache in memory only;
	                                   owned */
	uint64_t policy_lookup_timeout_ms; /* RCPT decision; default 15 s */
	uint64_t mta_sts_fetch_timeout_ms; /* whole fetch; default 10 s */
	char *mta_sts_ca_file;          /* NULL: the system bundle; owned */
	char *tlsrpt_socket;            /* TLS-RPT collector's datagram
	                                   socket; NULL: none; owned */
} config_t;

/*
 * config_load reads and validates path. Returns a new config (free it with
 * config_free), or NULL after writing every problem to errs as
 * "FILE:LINE: message\n". When check_files is set, certificate and key files
 * must be readable PEM and each key must match its certificate.
 */
config_t *config_load(const char *path, int check_files, FILE *errs);

/* config_free releases cfg and everything it owns; NULL does nothing. */
void config_free(config_t *cfg);

/*
 * config_uses_dane: some outbound listener can apply DANE (dane or
 * relay_dane), or a [policy] demands it. Only then does the AD bit matter:
 * the DNSSEC probe runs and an untrusted resolver is worth a warning.
 * Returns 1 or 0.
 */
int config_uses_dane(const config_t *cfg);

/*
 * config_cidr_match: addr (AF_INET or AF_INET6 sockaddr; a v4-mapped v6
 * address counts as v4) lies in one of the n networks. Returns 1 or 0.
 */
int config_cidr_match(const config_cidr_t *nets, int n,
    const struct sockaddr *addr);

/* "10485760", "512k", "10m", "1g" (powers of 1024) -> octets, at most
 * CONFIG_MAX_SIZE. Returns 0 or -1. */
int config_parse_size(const char *s, uint64_t *octets);

/* "30", "30s", "5m", "1h", "250ms" -> milliseconds, from 1 to
 * CONFIG_MAX_DURATION_MS. Returns 0 or -1. */
int config_parse_duration(const char *s, uint64_t *ms);

/* config_addr_resolved: a has an address (a numeric host, or a name
 * looked up by the caller); a relay given by name has none until connect. */
static inline int
config_addr_resolved(const config_addr_t *a)
{
	return a->addrlen != 0;
}

/*
 * "host:port", "[v6]:port" -> host (allocated, brackets removed) and port.
 * Returns 0 or -1.
 */
int config_parse_hostport(const char *s, char **host, uint16_t *port);

#endif
