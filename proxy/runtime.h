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
#include "stats.h"

typedef struct runtime {
	atomic_int refs;
	config_t *cfg;           /* owned */
	SSL_CTX **tls;           /* owned refs, per listener; NULL where none */
	int *slot;               /* stats listener slot, per listener */
	int *domain_slot;        /* stats domain slot, per policy */
	int *party_slot;         /* stats party slot, per party */
	uint64_t generation;
} runtime_t;

/*
 * runtime_new builds the TLS contexts of cfg and gives its listeners and
 * policies stats slots in names (main thread only). Takes ownership of cfg
 * on success. Returns a runtime holding one reference, or NULL with err.
 */
runtime_t *runtime_new(config_t *cfg, stats_names_t *names,
    uint64_t generation, char *err, size_t errlen);

/* runtime_ref adds a reference; runtime_unref drops one (NULL: nothing). */
runtime_t *runtime_ref(runtime_t *rt);
void runtime_unref(runtime_t *rt);

#endif
