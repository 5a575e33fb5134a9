/*
 * dnscache: see dnscache.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "dnscache.h"

/*
 * One packed RR of an entry (dnsmsg_rr_t without its 255-octet name
 * array), followed in the entry by name_len octets of name. Copied in and
 * out with memcpy: it sits at any offset.
 */
typedef struct {
	uint32_t ttl;
	uint16_t type, pref, off, len, name_len;
	uint8_t usage, selector, mtype;
} dnscache_rrpack_t;

void
dnscache_unref(dnscache_entry_t *e)
{
	if (e != NULL && --e->refs == 0)
		free(e);
}

dnscache_entry_t *
dnscache_ref(dnscache_entry_t *e)
{
	e->refs++;
	return e;
}

static const uint8_t *
dnscache_qname(const dnscache_entry_t *e)
{
	return e->data;
}

dnscache_entry_t *
dnscache_bare(dns_status_t st, const char *error, uint16_t qtype,
    const uint8_t *qname, size_t qlen)
{
	dnscache_entry_t *e;

	if ((e = calloc(1, sizeof(*e) + qlen)) == NULL)
		return NULL;
	e->refs = 1;
	e->size = sizeof(*e) + qlen;
	e->status = st;
	e->error = error;
	e->qtype = qtype;
	e->qname_len = (uint16_t)qlen;
	if (qlen > 0)
		memcpy(e->data, qname, qlen);
	return e;
}

dnscache_entry_t *
dnscache_pack(dns_status_t st, int secure, uint16_t qtype,
    const uint8_t *qname, size_t qlen, const dnsmsg_answer_t *ans)
{
	size_t size = sizeof(dnscache_entry_t) + qlen + ans->owner_len +
	    ans->store_len, off;
	dnscache_entry_t *e;

	for (unsigned i = 0; i < ans->nrr; i++)
		size += sizeof(dnscache_rrpack_t) + ans->rr[i].name_len;
	if ((e = calloc(1, size)) == NULL)
		return NULL;
	e->refs = 1;
	e->size = size;
	e->status = st;
	e->secure = secure;
	e->has_ans = 1;
	e->qtype = qtype;
	e->rcode = ans->rcode;
	e->ad = ans->secure;
	e->ttl = ans->ttl;
	e->ncname = ans->ncname;
	e->nrr = ans->nrr;
	e->qname_len = (uint16_t)qlen;
	e->owner_len = ans->owner_len;
	e->store_len = ans->store_len;
	memcpy(e->data, qname, qlen);
	off = qlen;
	memcpy(e->data + off, ans->owner, ans->owner_len);
	off += ans->owner_len;
	for (unsigned i = 0; i < ans->nrr; i++) {
		const dnsmsg_rr_t *rr = &ans->rr[i];
		dnscache_rrpack_t p = { rr->ttl, rr->type, rr->pref, rr->off,
		    rr->len, rr->name_len, rr->usage, rr->selector,
		    rr->mtype };

		memcpy(e->data + off, &p, sizeof(p));
		off += sizeof(p);
		memcpy(e->data + off, rr->name, rr->name_len);
		off += rr->name_len;
	}
	memcpy(e->data + off, ans->store, ans->store_len);
	return e;
}

static dnsmsg_status_t
dns_to_dnsmsg(dns_status_t st)
{
	switch (st) {
	case DNS_OK:
		return DNSMSG_OK;
	case DNS_NODATA:
		return DNSMSG_NODATA;
	case DNS_NXDOMAIN:
		return DNSMSG_NXDOMAIN;
	case DNS_SERVFAIL:
		return DNSMSG_SERVFAIL;
	default:
		return DNSMSG_ERROR;
	}
}

void
dnscache_unpack(const dnscache_entry_t *e, dnsmsg_answer_t *out)
{
	size_t off = e->qname_len;

	out->status = dns_to_dnsmsg(e->status);
	out->error = NULL;
	out->rcode = e->rcode;
	out->secure = e->ad;
	out->ttl = e->ttl;
	out->ncname = e->ncname;
	out->owner_len = e->owner_len;
	memcpy(out->owner, e->data + off, e->owner_len);
	off += e->owner_len;
	out->nrr = e->nrr;
	for (unsigned i = 0; i < e->nrr; i++) {
		dnsmsg_rr_t *rr = &out->rr[i];
		dnscache_rrpack_t p;

		memcpy(&p, e->data + off, sizeof(p));
		off += sizeof(p);
		rr->type = p.type;
		rr->ttl = p.ttl;
		rr->pref = p.pref;
		rr->usage = p.usage;
		rr->selector = p.selector;
		rr->mtype = p.mtype;
		rr->off = p.off;
		rr->len = p.len;
		rr->name_len = p.name_len;
		memcpy(rr->name, e->data + off, p.name_len);
		off += p.name_len;
	}
	out->store_len = e->store_len;
	memcpy(out->store, e->data + off, e->store_len);
}

static uint64_t
dnscache_hash(const dnscache_t *c, const uint8_t *name, size_t len,
    uint16_t qtype)
{
	uint8_t buf[2 + DNSMSG_NAME_MAX];

	buf[0] = (uint8_t)(qtype >> 8);
	buf[1] = (uint8_t)qtype;
	memcpy(buf + 2, name, len);
	return SIPHASH_24(c->key, buf, 2 + len);
}

static dnscache_entry_t **
dnscache_slot(dnscache_t *c, const uint8_t *name, size_t len, uint16_t qtype)
{
	dnscache_entry_t **pp = &c->hash[dnscache_hash(c, name, len, qtype) &
	    (DNSCACHE_BUCKETS - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if ((*pp)->qtype == qtype && (*pp)->qname_len == len &&
		    memcmp(dnscache_qname(*pp), name, len) == 0)
			break;
	return pp;
}

static void
dnscache_lru_unlink(dnscache_t *c, dnscache_entry_t *e)
{
	if (e->lprev != NULL)
		e->lprev->lnext = e->lnext;
	else
		c->head = e->lnext;
	if (e->lnext != NULL)
		e->lnext->lprev = e->lprev;
	else
		c->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
dnscache_lru_front(dnscache_t *c, dnscache_entry_t *e)
{
	e->lprev = NULL;
	e->lnext = c->head;
	if (c->head != NULL)
		c->head->lprev = e;
	else
		c->tail = e;
	c->head = e;
}

/* Drops the entry *pp of its bucket chain. */
static void
dnscache_remove(dnscache_t *c, dnscache_entry_t **pp)
{
	dnscache_entry_t *e = *pp;

	*pp = e->hnext;
	e->hnext = NULL;
	dnscache_lru_unlink(c, e);
	e->cached = 0;
	c->n--;
	c->bytes -= e->size;
	dnscache_unref(e);
}

void
dnscache_init(dnscache_t *c)
{
	memset(c, 0, sizeof(*c));
	RAND_bytes((uint8_t *)c->key, sizeof(c->key));
}

void
dnscache_cleanup(dnscache_t *c)
{
	for (unsigned i = 0; i < DNSCACHE_BUCKETS; i++)
		while (c->hash[i] != NULL)
			dnscache_remove(c, &c->hash[i]);
}

dnscache_entry_t *
dnscache_get(dnscache_t *c, const uint8_t *name, size_t len, uint16_t qtype,
    uint64_t now_ms)
{
	dnscache_entry_t **pp = dnscache_slot(c, name, len, qtype), *e = *pp;

	if (e == NULL)
		return NULL;
	if (e->expires <= now_ms) {
		dnscache_remove(c, pp);
		return NULL;
	}
	dnscache_lru_unlink(c, e);
	dnscache_lru_front(c, e);
	return dnscache_ref(e);
}

static uint32_t
dnscache_clamp(uint32_t ttl, uint32_t lo, uint32_t hi)
{
	return ttl < lo ? lo : ttl > hi ? hi : ttl;
}

void
dnscache_put(dnscache_t *c, dnscache_entry_t *e, uint64_t now_ms)
{
	dnscache_entry_t **pp;
	uint32_t ttl;

	switch (e->status) {
	case DNS_OK:
		ttl = dnscache_clamp(e->ttl, DNS_TTL_MIN, DNS_TTL_MAX);
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		ttl = dnscache_clamp(e->ttl, DNS_TTL_MIN, DNS_NEG_TTL_MAX);
		break;
	default:
		return; /* SERVFAIL, timeouts, errors: asked again next time */
	}
	if (e->cached || e->size > DNS_CACHE_BYTES_MAX / 16)
		return; /* one answer never crowds out the cache */
	pp = dnscache_slot(c, dnscache_qname(e), e->qname_len, e->qtype);
	if (*pp != NULL)
		dnscache_remove(c, pp);
	while (c->tail != NULL && (c->n >= DNS_CACHE_MAX ||
	    c->bytes + e->size > DNS_CACHE_BYTES_MAX)) {
		dnscache_entry_t *old = c->tail;

		dnscache_remove(c, dnscache_slot(c, dnscache_qname(old),
		    old->qname_len, old->qtype));
	}
	pp = dnscache_slot(c, dnscache_qname(e), e->qname_len, e->qtype);
	e->expires = now_ms + (uint64_t)ttl * 1000;
	e->cached = 1;
	e->hnext = NULL;
	*pp = dnscache_ref(e);
	dnscache_lru_front(c, e);
	c->n++;
	c->bytes += e->size;
}
