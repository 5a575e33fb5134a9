/*
 * fakedns: the scripted resolver of tests/tools/fakedns.c, standing in for
 * proxy/dns.c in test tools (it defines dns_lookup and dns_cancel).
 */
#ifndef FAKEDNS_H
#define FAKEDNS_H

#include <uv.h>

#include "dns.h"

/* fakedns_new reads the zone file (see fakedns.c). NULL if unreadable. */
dns_t *fakedns_new(uv_loop_t *loop, const char *zone);
/* fakedns_lookups: lookups asked so far. */
unsigned fakedns_lookups(const dns_t *d);
/* fakedns_free: after every lookup ended or was cancelled. */
void fakedns_free(dns_t *d);

#endif
