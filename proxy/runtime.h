/*
 * runtime: one loaded configuration with what is built from it (TLS
 * contexts, stats slots), shared read-only by every worker and session and
 * freed with its last reference. A reload makes a new runtime; sessions in
 * flight finish on the one they started with.
 */
#ifndef RUNTIME_H
#define RUNTIME_H

#include <stdatomic.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "config.h"
#include "dns.h"
#include "stats.h"

typedef struct runtime {
	atomic_int refs;
	config_t *cfg;           /* owned */
	SSL_CTX **tls;           /* owned refs, per listener; NULL where none */
	SSL_CTX **listen_tls;    /* owned refs, per listener: an outbound
	                            listener's listening leg (listen_tls);
	                            NULL where none */
	struct relayauth **auth; /* owned, per listener: auth_file's
	                            credentials (read at load, so a change of
	                            the file or its token file is a reload);
	                            NULL where none */
	int *slot;               /* stats listener slot, per listener */
	int *domain_slot;        /* stats domain slot, per policy */
	int *party_slot;         /* stats party slot, per party */
	SSL_CTX *sts_ctx;        /* owned ref: MTA-STS policy fetches
	                            (mta_sts_ca_file); NULL when no listener
	                            has mta_sts */
	uint64_t generation;
	/* The resolver's settings, computed once per load on main: `dns`
	 * of the config, else the first nameserver of RUNTIME_RESOLV_CONF,
	 * else 127.0.0.1:53. Workers build their resolvers from it. */
	dns_config_t dns;
	const char *dns_source;  /* "dns", "resolv.conf" or "default" */
} runtime_t;

#define RUNTIME_RESOLV_CONF "/etc/resolv.conf"
#define RUNTIME_HOSTS "/etc/hosts"

/*
 * runtime_new builds the TLS contexts of cfg, the resolver settings (may
 * read RUNTIME_RESOLV_CONF) and gives its listeners and policies stats
 * slots in names (main thread only). Takes ownership of cfg
 * on success. Returns a runtime holding one reference, or NULL with err.
 */
runtime_t *runtime_new(config_t *cfg, stats_names_t *names,
    uint64_t generation, char *err, size_t errlen);

/* runtime_ref adds a reference; runtime_unref drops one (NULL: nothing). */
runtime_t *runtime_ref(runtime_t *rt);
void runtime_unref(runtime_t *rt);

#endif
