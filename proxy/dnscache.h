/*
 * dnscache: the resolver's results, compact and refcounted, and the LRU
 * cache of them (one per resolver, one thread). No libuv: times are given.
 *
 * An entry is what a lookup is handed and what the cache keeps: status,
 * believed AD, and the parsed answer packed (the qname, the owner, the RRs
 * used with their names, the store's bytes), so an A answer costs about
 * 150 octets instead of a whole dnsmsg_answer_t (about 17 KiB, mostly
 * unused). dnscache_unpack makes the dnsmsg_answer_t back for a callback.
 *
 * Memory bound: at most DNS_CACHE_MAX entries and DNS_CACHE_BYTES_MAX
 * octets of entries (allocation sizes, headers included), whichever comes
 * first; the least recently used entry goes first. One entry is at most
 * about 17 KiB (DNSMSG_RR_MAX names and a full store); one larger than a
 * sixteenth of the byte bound is never cached.
 */
#ifndef DNSCACHE_H
#define DNSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"
#include "dnsmsg.h"

#define DNSCACHE_BUCKETS 4096   /* power of two; DNS_CACHE_MAX entries */

typedef struct dnscache_entry {
	int refs;
	struct dnscache_entry *hnext;          /* bucket chain */
	struct dnscache_entry *lprev, *lnext;  /* LRU, most recent first */
	int cached;                            /* in a cache */
	uint64_t expires;                      /* ms, the caller's clock */
	size_t size;                           /* the allocation */
	dns_status_t status;
	int secure;               /* believed AD */
	const char *error;        /* static, DNS_ERROR only */
	int has_ans;              /* data holds an answer */
	uint16_t qtype;
	/* The answer's fields (dnsmsg_answer_t). */
	int rcode, ad;
	uint32_t ttl;
	unsigned ncname, nrr;
	uint16_t qname_len, owner_len, store_len;
	uint8_t data[];           /* qname, owner, packed RRs, store */
} dnscache_entry_t;

typedef struct {
	uint64_t key[2];          /* SipHash key: names come from peers */
	dnscache_entry_t *hash[DNSCACHE_BUCKETS];
	dnscache_entry_t *head, *tail;
	unsigned n;
	size_t bytes;
} dnscache_t;

/*
 * dnscache_bare makes an entry without an answer (timeout, error, busy);
 * dnscache_pack one holding ans (copied). qname is the wire name asked
 * (its case as the key should have it). Each returns one reference, or
 * NULL when memory ran out. error must be static.
 */
dnscache_entry_t *dnscache_bare(dns_status_t st, const char *error,
    uint16_t qtype, const uint8_t *qname, size_t qlen);
dnscache_entry_t *dnscache_pack(dns_status_t st, int secure, uint16_t qtype,
    const uint8_t *qname, size_t qlen, const dnsmsg_answer_t *ans);

/* dnscache_unpack writes e's answer (e->has_ans) into out; only the fields
 * in use are written. */
void dnscache_unpack(const dnscache_entry_t *e, dnsmsg_answer_t *out);

/* dnscache_ref adds a reference; dnscache_unref drops one (NULL: nothing)
 * and frees the entry with its last. */
dnscache_entry_t *dnscache_ref(dnscache_entry_t *e);
void dnscache_unref(dnscache_entry_t *e);

/* dnscache_init empties c (a fresh random hash key); dnscache_cleanup
 * drops every entry (references held elsewhere stay valid). */
void dnscache_init(dnscache_t *c);
void dnscache_cleanup(dnscache_t *c);

/*
 * dnscache_get returns the entry for (name, qtype) with one more reference
 * when there is one not expired at now_ms (it becomes the most recent),
 * else NULL (an expired one is dropped).
 */
dnscache_entry_t *dnscache_get(dnscache_t *c, const uint8_t *name,
    size_t len, uint16_t qtype, uint64_t now_ms);

/*
 * dnscache_put keeps e (a reference of its own) when its status may be
 * cached: DNS_OK for its TTL clamped to [DNS_TTL_MIN, DNS_TTL_MAX],
 * DNS_NODATA and DNS_NXDOMAIN clamped to [DNS_TTL_MIN, DNS_NEG_TTL_MAX];
 * never SERVFAIL, timeouts or errors. Replaces an entry of the same key;
 * evicts the least recently used past the bounds.
 */
void dnscache_put(dnscache_t *c, dnscache_entry_t *e, uint64_t now_ms);

#endif
