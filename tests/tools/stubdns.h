/*
 * stubdns: the scripted resolver of tests/tools/stubdns.c, standing in for
 * proxy/dns.c in test tools (it defines dns_lookup and dns_cancel).
 */
#ifndef STUBDNS_H
#define STUBDNS_H

#include <uv.h>

#include "dns.h"

/* stubdns_new reads the zone file (see stubdns.c). NULL if unreadable. */
dns_t *stubdns_new(uv_loop_t *loop, const char *zone);
/* stubdns_lookups: lookups asked so far. */
unsigned stubdns_lookups(const dns_t *d);
/* stubdns_free: after every lookup ended or was cancelled. */
void stubdns_free(dns_t *d);

#endif
