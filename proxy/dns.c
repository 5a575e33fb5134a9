/*
 * dns: see dns.h. The resolver of one worker, on that worker's loop.
 *
 * c-ares 1.18.1 sends and retries; everything else is ours. A lookup is a
 * dns_lookup_t; it waits on a dns_query_t (one per (name, type) in
 * flight, shared by every lookup of that pair) or sits on the ready list
 * with its result, a refcounted dns_entry_t (dnscache.h), which is also
 * what the cache keeps. Results reach callbacks only from dns_drain, run
 * by an idle handle or at the end of a c-ares event: never from
 * dns_lookup, never from inside c-ares.
 *
 * Re-entry: a callback may look up, cancel, free or retire. d->depth
 * counts the frames of ours on the stack that must not see d vanish;
 * dns_free and dns_retire then leave the teardown to dns_leave.
 *
 * Query ids: c-ares up to 1.21 keeps the id of the query given to
 * ares_send (1.18.1 ares_send.c: query->qid = DNS_HEADER_QID(qbuf)), so
 * the id dnsmsg_parse checks is the one we drew. From 1.22 on ares_send
 * draws its own and the answer carries that one; c-ares has then matched
 * it (and the question) to what it sent, and dns_answer takes the id from
 * the answer. Which applies is decided from the library loaded
 * (ares_version), not the headers built against.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "dns.h"
#include "dnscache.h"
#include "dnsfile.h"
#include "stats.h"

#define DNS_QUERY_BUCKETS 256    /* power of two; DNS_INFLIGHT_MAX */
#define DNS_TRIES 2              /* c-ares tries per query (see dns.h) */
#define DNS_ID_TRIES 16          /* random ids drawn to avoid one in use */
/* The hosts file is looked at (stat) at most this often, and read again
 * only when it changed: not a file read per lookup. */
#define DNS_HOSTS_RECHECK_MS 1000

#define DNS_CONTAINER(p, type, field) \
	((type *)(void *)((char *)(p) - offsetof(type, field)))

/* A circular doubly linked list with a sentinel head. */
typedef struct dns_link {
	struct dns_link *prev, *next;
} dns_link_t;

static void
dns_list_init(dns_link_t *h)
{
	h->prev = h->next = h;
}

static int
dns_list_empty(const dns_link_t *h)
{
	return h->next == h;
}

static void
dns_list_add_tail(dns_link_t *h, dns_link_t *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void
dns_list_del(dns_link_t *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* Moves every node of from to the end of to; from is left empty. */
static void
dns_list_splice(dns_link_t *to, dns_link_t *from)
{
	if (dns_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	dns_list_init(from);
}

typedef dnscache_entry_t dns_entry_t;

typedef struct dns_query {
	dns_t *d;
	struct dns_query *hnext;  /* query bucket, while joinable */
	dns_link_t all;           /* d->queries, in deadline order */
	dns_link_t waiters;       /* dns_lookup_t.link */
	uint64_t deadline;        /* loop ms */
	int joinable;             /* 0 once its deadline passed */
	uint16_t id, qtype;
	uint16_t qname_len;
	uint8_t qname[DNSMSG_NAME_MAX];
} dns_query_t;

struct dns_lookup {
	dns_t *d;
	dns_query_t *q;           /* waiting on q; NULL: ready with e */
	dns_entry_t *e;
	int from_cache;           /* e came from the cache */
	dns_link_t link;          /* q->waiters, d->ready or the drain's */
	dns_cb cb;
	void *arg;
};

typedef struct dns_poll {
	uv_poll_t h;
	dns_t *d;
	ares_socket_t fd;
	struct dns_poll *next;
} dns_poll_t;

struct dns_addrs {
	dns_t *d;
	dns_link_t link;          /* d->addrs */
	dns_lookup_t *l[2];       /* A, AAAA; NULL once answered */
	dns_status_t st[2];
	int secure[2];
	size_t n[2];
	struct sockaddr_storage a[2][DNS_ADDRS_MAX];
	char expanded[2][DNSMSG_NAME_TEXT_MAX]; /* "" unless a CNAME led */
	uint16_t port;
	dns_addrs_cb cb;
	void *arg;
};

struct dns {
	uv_loop_t *loop;
	ares_channel channel;
	int channel_ok;
	dns_config_t cfg;
	int trusted;
	_Atomic uint64_t (*counts)[DNS_STATUS_COUNT];
	uint64_t hkey[2];          /* SipHash key: names come from peers */

	uv_timer_t timer;          /* c-ares timeouts and our deadlines */
	uv_idle_t idle;            /* drains the ready list */
	dns_poll_t *polls;
	int handles;               /* uv handles not yet closed */

	dns_query_t *qhash[DNS_QUERY_BUCKETS];
	dns_link_t queries;        /* joinable queries, oldest first */
	unsigned inflight;         /* queries c-ares has not ended */

	dnscache_t cache;

	dns_link_t ready;          /* lookups with their result */
	dns_link_t *draining;      /* the drain's own list, while it runs */
	dns_link_t addrs;          /* dns_addrs_t in progress */
	unsigned nlookups;         /* not yet delivered nor cancelled */

	int depth;                 /* frames of ours on the stack */
	int dying;                 /* dns_free called */
	int retired;               /* dns_retire called */
	int torn;                  /* teardown done; memory goes at close */

	int tearing;               /* inside dns_teardown */
	int own_ids;               /* c-ares sends our query ids (< 1.22) */
	/* The result when no other could be allocated: kept from dns_new
	 * so that no lookup is ever left without its callback. */
	dns_entry_t *nomem;

	dnsmsg_answer_t parse;     /* dnsmsg_parse's output */
	dnsmsg_answer_t deliver;   /* what a callback borrows */

	dnsfile_snap_t hosts;      /* the hosts file, as last read */
	uint64_t hosts_checked;    /* loop time of its last stat */
};

static void dns_arm(dns_t *d);
static void dns_drain(dns_t *d);
static void dns_teardown(dns_t *d);
static void dns_idle_cb(uv_idle_t *h);
static void dns_lookup_drop(dns_lookup_t *l);

/* Names ---------------------------------------------------------------- */

static uint64_t
dns_hash(const dns_t *d, const uint8_t *name, size_t len, uint16_t qtype)
{
	uint8_t buf[2 + DNSMSG_NAME_MAX];

	buf[0] = (uint8_t)(qtype >> 8);
	buf[1] = (uint8_t)qtype;
	memcpy(buf + 2, name, len);
	return SIPHASH_24(d->hkey, buf, 2 + len);
}

/* Wire names as keys: labels hold A-Z a-z 0-9 - _ only (dnsmsg), and length
 * octets (at most 63) are below 'A', so folding every octet is safe. */
static void
dns_name_fold(uint8_t *name, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (uint8_t)(name[i] - 'A' + 'a');
}

/* Delivery --------------------------------------------------------------- */

static void
dns_count(dns_t *d, uint16_t qtype, dns_status_t st)
{
	if (d->counts != NULL)
		STATS_INC(d->counts[dns_qtype_index(qtype)][st]);
}

/* l gets its result e (takes the reference) and waits for the drain. */
static void
dns_ready(dns_t *d, dns_lookup_t *l, dns_entry_t *e)
{
	l->q = NULL;
	l->e = e;
	dns_list_add_tail(&d->ready, &l->link);
	if (!d->torn)
		uv_idle_start(&d->idle, dns_idle_cb);
}

/* Ends a frame of ours: a teardown asked for inside it happens now. */
static void
dns_leave(dns_t *d)
{
	if (--d->depth > 0 || d->torn)
		return;
	if (d->dying || (d->retired && d->nlookups == 0))
		dns_teardown(d);
}

/*
 * Runs the callbacks of the lookups ready now (not those a callback makes
 * ready: they wait for the next turn, so a loop of lookups cannot starve
 * the loop).
 */
static void
dns_drain(dns_t *d)
{
	dns_link_t batch;

	if (d->draining != NULL || d->torn)
		return;
	dns_list_init(&batch);
	dns_list_splice(&batch, &d->ready);
	d->draining = &batch;
	d->depth++;
	while (!dns_list_empty(&batch) && !d->dying) {
		dns_lookup_t *l = DNS_CONTAINER(batch.next, dns_lookup_t, link);
		dns_entry_t *e = l->e;
		dns_result_t r;
		dns_cb cb = l->cb;
		void *arg = l->arg;
		int from_cache = l->from_cache;

		dns_list_del(&l->link);
		d->nlookups--;
		free(l);
		r.status = e->status;
		r.secure = e->secure;
		r.error = e->error;
		r.cached = from_cache;
		r.ans = NULL;
		if (e->has_ans) {
			dnscache_unpack(e, &d->deliver);
			r.ans = &d->deliver;
		}
		cb(arg, &r);
		dnscache_unref(e);
	}
	/* Left only when a callback freed d: never called. */
	while (!dns_list_empty(&batch))
		dns_lookup_drop(DNS_CONTAINER(batch.next, dns_lookup_t, link));
	d->draining = NULL;
	if (dns_list_empty(&d->ready) && !d->torn)
		uv_idle_stop(&d->idle);
	dns_leave(d);
}

static void
dns_idle_cb(uv_idle_t *h)
{
	dns_drain(h->data);
}

/* Queries ---------------------------------------------------------------- */

static dns_query_t **
dns_query_slot(dns_t *d, const uint8_t *name, size_t len, uint16_t qtype)
{
	dns_query_t **pp = &d->qhash[dns_hash(d, name, len, qtype) &
	    (DNS_QUERY_BUCKETS - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if ((*pp)->qtype == qtype && (*pp)->qname_len == len &&
		    memcmp((*pp)->qname, name, len) == 0)
			break;
	return pp;
}

/* q stops being joinable: out of the hash and the deadline list. c-ares
 * still holds it until it ends the query. */
static void
dns_query_unlink(dns_t *d, dns_query_t *q)
{
	dns_query_t **pp;

	if (!q->joinable)
		return;
	pp = dns_query_slot(d, q->qname, q->qname_len, q->qtype);
	if (*pp == q)
		*pp = q->hnext;
	q->hnext = NULL;
	dns_list_del(&q->all);
	q->joinable = 0;
}

/* Every waiter of q gets e (one reference each); e's own goes. */
static void
dns_query_finish(dns_t *d, dns_query_t *q, dns_entry_t *e)
{
	while (!dns_list_empty(&q->waiters)) {
		dns_lookup_t *l = DNS_CONTAINER(q->waiters.next, dns_lookup_t,
		    link);

		dns_list_del(&l->link);
		dns_ready(d, l, dnscache_ref(e));
	}
	dnscache_unref(e);
}

/* The result of an answer, in a new entry. */
static dns_entry_t *
dns_answer(dns_t *d, dns_query_t *q, const uint8_t *abuf, int alen)
{
	dnsmsg_answer_t *ans = &d->parse;
	dns_status_t st;
	uint16_t id = q->id;

	if (!d->own_ids && alen >= 2)
		id = (uint16_t)(abuf[0] << 8 | abuf[1]);
	switch (dnsmsg_parse(abuf, (size_t)alen, q->qname, q->qname_len,
	    q->qtype, id, ans)) {
	case DNSMSG_OK:
		st = DNS_OK;
		break;
	case DNSMSG_NODATA:
		st = DNS_NODATA;
		break;
	case DNSMSG_NXDOMAIN:
		st = DNS_NXDOMAIN;
		break;
	case DNSMSG_SERVFAIL:
		st = DNS_SERVFAIL;
		break;
	case DNSMSG_TRUNCATED:
		/* c-ares retries a TC answer over TCP; one still cut there
		 * cannot be trusted to hold every RR. */
		return dnscache_bare(DNS_ERROR, "truncated answer", q->qtype,
		    q->qname, q->qname_len);
	default:
		return dnscache_bare(DNS_ERROR, ans->error != NULL ?
		    ans->error : "malformed answer", q->qtype, q->qname,
		    q->qname_len);
	}
	return dnscache_pack(st, ans->secure && d->trusted, q->qtype,
	    q->qname, q->qname_len, ans);
}

/* c-ares ends a query (inside ares_process_fd, ares_send or ares_destroy). */
static void
dns_ares_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	dns_query_t *q = arg;
	dns_t *d = q->d;
	dns_entry_t *e;

	(void)timeouts;
	d->inflight--;
	if (status == ARES_EDESTRUCTION || !q->joinable) {
		/* Torn down (no waiters left), or past our deadline: its
		 * lookups already had DNS_TIMEOUT. */
		dns_query_unlink(d, q);
		free(q);
		return;
	}
	dns_query_unlink(d, q);
	if (status == ARES_SUCCESS && abuf != NULL)
		e = dns_answer(d, q, abuf, alen);
	else if (status == ARES_ETIMEOUT)
		e = dnscache_bare(DNS_TIMEOUT, NULL, q->qtype, q->qname,
		    q->qname_len);
	else
		e = dnscache_bare(DNS_ERROR, ares_strerror(status), q->qtype,
		    q->qname, q->qname_len);
	if (e == NULL)
		e = dnscache_ref(d->nomem);
	dns_count(d, q->qtype, e->status);
	dnscache_put(&d->cache, e, uv_now(d->loop));
	dns_query_finish(d, q, e);
	free(q);
}

/* Our deadline: queries not ended by c-ares within timeout_ms end here. */
static void
dns_expire(dns_t *d)
{
	uint64_t now = uv_now(d->loop);

	while (!dns_list_empty(&d->queries)) {
		dns_query_t *q = DNS_CONTAINER(d->queries.next, dns_query_t,
		    all);
		dns_entry_t *e;

		if (q->deadline > now)
			break;
		dns_query_unlink(d, q);
		dns_count(d, q->qtype, DNS_TIMEOUT);
		if ((e = dnscache_bare(DNS_TIMEOUT, NULL, q->qtype, q->qname,
		    q->qname_len)) == NULL)
			e = dnscache_ref(d->nomem);
		dns_query_finish(d, q, e);
	}
}

/* c-ares I/O ----------------------------------------------------------- */

/* After any c-ares event: our deadlines, callbacks, the next wake-up. */
static void
dns_after_ares(dns_t *d)
{
	uv_update_time(d->loop);
	dns_expire(d);
	dns_drain(d);
	if (!d->torn)
		dns_arm(d);
}

static void
dns_poll_cb(uv_poll_t *h, int status, int events)
{
	dns_poll_t *p = h->data;
	dns_t *d = p->d;
	ares_socket_t fd = p->fd;

	d->depth++;
	/* An error: let c-ares read and write, and find it. */
	ares_process_fd(d->channel,
	    status < 0 || (events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
	    status < 0 || (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
	dns_after_ares(d);
	dns_leave(d);
}

static void
dns_timer_cb(uv_timer_t *t)
{
	dns_t *d = t->data;

	d->depth++;
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_after_ares(d);
	dns_leave(d);
}

static void
dns_handle_closed(dns_t *d)
{
	if (--d->handles == 0 && d->torn)
		free(d);
}

static void
dns_poll_close_cb(uv_handle_t *h)
{
	dns_poll_t *p = h->data;
	dns_t *d = p->d;

	free(p);
	dns_handle_closed(d);
}

/* c-ares opens, watches or closes a socket. */
static void
dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	dns_t *d = data;
	dns_poll_t **pp, *p;
	int events = (readable ? UV_READABLE : 0) |
	    (writable ? UV_WRITABLE : 0);

	for (pp = &d->polls; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->fd == fd)
			break;
	p = *pp;
	if (events == 0) {
		if (p == NULL)
			return;
		*pp = p->next;
		/* uv_close takes the descriptor out of epoll now, before
		 * c-ares closes it and may get the same number again. */
		uv_close((uv_handle_t *)&p->h, dns_poll_close_cb);
		return;
	}
	if (p == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return; /* the query times out */
		if (uv_poll_init_socket(d->loop, &p->h, fd) != 0) {
			free(p);
			return;
		}
		p->d = d;
		p->fd = fd;
		p->h.data = p;
		p->next = d->polls;
		d->polls = p;
		d->handles++;
	}
	uv_poll_start(&p->h, events, dns_poll_cb);
}

/* The timer at the earlier of c-ares's next timeout and our next deadline. */
static void
dns_arm(dns_t *d)
{
	struct timeval tvbuf, *tv;
	uint64_t now = uv_now(d->loop), ms = UINT64_MAX;

	if ((tv = ares_timeout(d->channel, NULL, &tvbuf)) != NULL)
		ms = (uint64_t)tv->tv_sec * 1000 +
		    ((uint64_t)tv->tv_usec + 999) / 1000;
	if (!dns_list_empty(&d->queries)) {
		dns_query_t *q = DNS_CONTAINER(d->queries.next, dns_query_t,
		    all);
		uint64_t left = q->deadline > now ? q->deadline - now : 0;

		if (left < ms)
			ms = left;
	}
	if (ms == UINT64_MAX)
		uv_timer_stop(&d->timer);
	else
		uv_timer_start(&d->timer, dns_timer_cb, ms, 0);
}

/* Hosts file ------------------------------------------------------------- */

/*
 * The addresses of name (text, lower case, no final dot) of the family of
 * qtype in the hosts file, as an entry; NULL when the file has none (or
 * cannot be read: then DNS decides, as the system resolver would). Uses
 * d->parse: never called from inside c-ares.
 */
static dns_entry_t *
dns_hosts(dns_t *d, const char *name, const uint8_t *qname, size_t qlen,
    uint16_t qtype)
{
	uint8_t addrs[DNSMSG_RR_MAX][16];
	dnsmsg_answer_t *ans = &d->parse;
	int af = qtype == DNSMSG_TYPE_A ? AF_INET : AF_INET6;
	size_t alen = af == AF_INET ? 4 : 16, n;
	uint64_t now = uv_now(d->loop);

	if (!d->hosts.seen || now - d->hosts_checked >= DNS_HOSTS_RECHECK_MS) {
		dnsfile_snap_refresh(&d->hosts, d->cfg.hosts_path);
		d->hosts_checked = now;
	}
	if ((n = dnsfile_hosts_snap(&d->hosts, name, af, addrs,
	    DNSMSG_RR_MAX)) == 0)
		return NULL;
	ans->status = DNSMSG_OK;
	ans->error = NULL;
	ans->rcode = 0;
	ans->secure = 0;
	ans->ttl = 0;
	ans->ncname = 0;
	ans->owner_len = (uint16_t)qlen;
	memcpy(ans->owner, qname, qlen);
	ans->store_len = 0;
	ans->nrr = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		dnsmsg_rr_t *rr = &ans->rr[i];

		memset(rr, 0, offsetof(dnsmsg_rr_t, name));
		rr->type = qtype;
		rr->off = ans->store_len;
		rr->len = (uint16_t)alen;
		memcpy(ans->store + ans->store_len, addrs[i], alen);
		ans->store_len = (uint16_t)(ans->store_len + alen);
	}
	/* Never secure: a file is not DNSSEC. */
	return dnscache_pack(DNS_OK, 0, qtype, qname, qlen, ans);
}

/* Lookups ---------------------------------------------------------------- */

/* A query id no query in flight has (c-ares matches answers on it). */
static uint16_t
dns_new_id(dns_t *d)
{
	uint16_t id = 0;

	for (int t = 0; t < DNS_ID_TRIES; t++) {
		int used = 0;
		uint8_t b[2];

		RAND_bytes(b, sizeof(b));
		id = (uint16_t)(b[0] << 8 | b[1]);
		for (dns_link_t *n = d->queries.next; n != &d->queries;
		    n = n->next)
			if (DNS_CONTAINER(n, dns_query_t, all)->id == id) {
				used = 1;
				break;
			}
		if (!used)
			break;
	}
	return id;
}

/* fresh: neither the hosts file nor the cache answers (dns_probe). */
static dns_lookup_t *
dns_lookup_opt(dns_t *d, const char *name, uint16_t qtype, dns_cb cb,
    void *arg, int fresh)
{
	uint8_t qname[DNSMSG_NAME_MAX], msg[DNSMSG_QUERY_MAX];
	char text[DNSMSG_NAME_TEXT_MAX];
	size_t qlen, mlen;
	dns_lookup_t *l;
	dns_query_t **qp, *q;
	dns_entry_t *e;

	if (d->dying || d->retired || d->torn ||
	    dnsmsg_name_from_text(name, strlen(name), qname, &qlen) == -1)
		return NULL;
	dns_name_fold(qname, qlen);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->d = d;
	l->cb = cb;
	l->arg = arg;
	dns_list_init(&l->link);
	d->nlookups++;

	/* Hosts file first, as "hosts: files dns". */
	if (!fresh && (qtype == DNSMSG_TYPE_A || qtype == DNSMSG_TYPE_AAAA) &&
	    dnsmsg_name_text(qname, qlen, text, sizeof(text)) > 0 &&
	    (e = dns_hosts(d, text, qname, qlen, qtype)) != NULL) {
		dns_ready(d, l, e);
		return l;
	}
	if (!fresh && (e = dnscache_get(&d->cache, qname, qlen, qtype,
	    uv_now(d->loop))) != NULL) {
		l->from_cache = 1;
		dns_ready(d, l, e);
		return l;
	}
	qp = dns_query_slot(d, qname, qlen, qtype);
	if ((q = *qp) != NULL) {
		l->q = q;
		dns_list_add_tail(&q->waiters, &l->link);
		return l;
	}
	if (d->inflight >= DNS_INFLIGHT_MAX || (q = calloc(1,
	    sizeof(*q))) == NULL) {
		if ((e = dnscache_bare(DNS_ERROR, d->inflight >=
		    DNS_INFLIGHT_MAX ? "busy" : "out of memory", qtype, qname,
		    qlen)) == NULL)
			e = dnscache_ref(d->nomem);
		dns_count(d, qtype, DNS_ERROR);
		dns_ready(d, l, e);
		return l;
	}
	q->d = d;
	q->qtype = qtype;
	q->qname_len = (uint16_t)qlen;
	memcpy(q->qname, qname, qlen);
	q->id = dns_new_id(d);
	dns_list_init(&q->waiters);
	if (dnsmsg_query(msg, sizeof(msg), &mlen, qname, qlen, qtype,
	    q->id) == -1) {
		/* Cannot happen for a name dnsmsg_name_from_text made. */
		free(q);
		d->nlookups--;
		free(l);
		return NULL;
	}
	uv_update_time(d->loop);
	q->deadline = uv_now(d->loop) + d->cfg.timeout_ms;
	q->joinable = 1;
	q->hnext = *qp;
	*qp = q;
	dns_list_add_tail(&d->queries, &q->all);
	l->q = q;
	dns_list_add_tail(&q->waiters, &l->link);
	d->inflight++;
	/* c-ares may end the query inside ares_send (a socket it cannot
	 * open): dns_ares_cb then makes l ready; q is gone either way. */
	d->depth++;
	ares_send(d->channel, msg, (int)mlen, dns_ares_cb, q);
	dns_arm(d);
	d->depth--;
	return l;
}

dns_lookup_t *
dns_lookup(dns_t *d, const char *name, uint16_t qtype, dns_cb cb, void *arg)
{
	return dns_lookup_opt(d, name, qtype, cb, arg, 0);
}

dns_lookup_t *
dns_probe(dns_t *d, const char *name, uint16_t qtype, dns_cb cb, void *arg)
{
	return dns_lookup_opt(d, name, qtype, cb, arg, 1);
}

static void
dns_lookup_drop(dns_lookup_t *l)
{
	dns_t *d = l->d;

	dns_list_del(&l->link);
	if (l->q == NULL)
		dnscache_unref(l->e);
	d->nlookups--;
	free(l);
}

void
dns_cancel(dns_lookup_t *l)
{
	dns_t *d;

	if (l == NULL)
		return;
	d = l->d;
	/* A query left without waiters goes on: its answer is cached. */
	dns_lookup_drop(l);
	if (d->depth == 0 && !d->torn && !d->tearing && d->retired &&
	    d->nlookups == 0)
		dns_teardown(d);
}

/* Addresses -------------------------------------------------------------- */

static int
dns_addrs_rank(dns_status_t st)
{
	switch (st) {
	case DNS_SERVFAIL:
		return 5;
	case DNS_TIMEOUT:
		return 4;
	case DNS_ERROR:
		return 3;
	case DNS_NXDOMAIN:
		return 2;
	case DNS_NODATA:
		return 1;
	default:
		return 0;
	}
}

static void
dns_addrs_part(dns_addrs_t *a, int i, const dns_result_t *r)
{
	a->l[i] = NULL;
	a->st[i] = r->status;
	a->secure[i] = r->secure;
	a->n[i] = 0;
	if (r->status != DNS_OK || r->ans == NULL)
		return;
	if (r->ans->ncname > 0 && dnsmsg_name_text(r->ans->owner,
	    r->ans->owner_len, a->expanded[i], sizeof(a->expanded[i])) <= 0)
		a->expanded[i][0] = '\0';
	for (unsigned k = 0; k < r->ans->nrr && a->n[i] < DNS_ADDRS_MAX;
	    k++) {
		const dnsmsg_rr_t *rr = &r->ans->rr[k];
		struct sockaddr_storage *ss = &a->a[i][a->n[i]];

		memset(ss, 0, sizeof(*ss));
		if (i == 0 && rr->len == 4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)ss;

			sin->sin_family = AF_INET;
			sin->sin_port = htons(a->port);
			memcpy(&sin->sin_addr, dnsmsg_rr_data(r->ans, rr), 4);
		} else if (i == 1 && rr->len == 16) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(a->port);
			memcpy(&sin6->sin6_addr, dnsmsg_rr_data(r->ans, rr),
			    16);
		} else
			continue;
		a->n[i]++;
	}
}

static void
dns_addrs_done(dns_addrs_t *a)
{
	struct sockaddr_storage out[DNS_ADDRS_MAX];
	size_t n = 0;
	dns_status_t st;
	int secure = a->secure[0] && a->secure[1];
	const char *x = a->n[0] > 0 && a->expanded[0][0] ? a->expanded[0] :
	    a->n[1] > 0 && a->expanded[1][0] ? a->expanded[1] : NULL;

	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < a->n[i] && n < DNS_ADDRS_MAX; k++)
			out[n++] = a->a[i][k];
	if (n > 0)
		st = DNS_OK;
	else
		st = dns_addrs_rank(a->st[0]) >= dns_addrs_rank(a->st[1]) ?
		    a->st[0] : a->st[1];
	if (st == DNS_OK && n == 0)
		st = DNS_NODATA; /* OK answers whose RRs were not addresses */
	dns_list_del(&a->link);
	a->cb(a->arg, st, secure, out, n, x);
	free(a);
}

static void
dns_addrs_cb4(void *arg, const dns_result_t *r)
{
	dns_addrs_t *a = arg;

	dns_addrs_part(a, 0, r);
	if (a->l[1] == NULL)
		dns_addrs_done(a);
}

static void
dns_addrs_cb6(void *arg, const dns_result_t *r)
{
	dns_addrs_t *a = arg;

	dns_addrs_part(a, 1, r);
	if (a->l[0] == NULL)
		dns_addrs_done(a);
}

dns_addrs_t *
dns_addrs(dns_t *d, const char *name, uint16_t port, dns_addrs_cb cb,
    void *arg)
{
	dns_addrs_t *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->d = d;
	a->port = port;
	a->cb = cb;
	a->arg = arg;
	if ((a->l[0] = dns_lookup(d, name, DNSMSG_TYPE_A, dns_addrs_cb4,
	    a)) == NULL ||
	    (a->l[1] = dns_lookup(d, name, DNSMSG_TYPE_AAAA, dns_addrs_cb6,
	    a)) == NULL) {
		dns_cancel(a->l[0]);
		free(a);
		return NULL;
	}
	dns_list_add_tail(&d->addrs, &a->link);
	return a;
}

void
dns_addrs_cancel(dns_addrs_t *a)
{
	if (a == NULL)
		return;
	dns_list_del(&a->link);
	/* The second cancel may tear a retired resolver down: a is
	 * unlinked and its fields read before. */
	{
		dns_lookup_t *l0 = a->l[0], *l1 = a->l[1];

		free(a);
		if (l0 != NULL)
			dns_cancel(l0);
		if (l1 != NULL)
			dns_cancel(l1);
	}
}

/* Life -------------------------------------------------------------------- */

static int
dns_ares_init(dns_t *d, char *err, size_t errlen)
{
	struct ares_options o;
	struct ares_addr_port_node srv;
	int mask, rc;
	uint64_t per_try = d->cfg.timeout_ms / 3;

	/* Two tries, the second twice as long (c-ares's back-off): three
	 * per-try timeouts make the whole lookup. */
	if (per_try < 1)
		per_try = 1;
	if (per_try > 1000000)
		per_try = 1000000;
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH |
	    ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	o.timeout = (int)per_try;
	o.tries = DNS_TRIES;
	o.ndots = 1;
	o.domains = NULL;
	o.ndomains = 0;
	o.lookups = (char *)"b";
	o.sock_state_cb = dns_sock_state_cb;
	o.sock_state_cb_data = d;
	o.ednspsz = DNSMSG_UDP_PAYLOAD;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_NDOTS | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS |
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_EDNSPSZ | ARES_OPT_NOROTATE;
#ifdef ARES_OPT_QUERY_CACHE
	/* c-ares 1.23 and later cache answers themselves: ours decides
	 * (it never keeps a SERVFAIL and bounds its memory). */
	o.qcache_max_ttl = 0;
	mask |= ARES_OPT_QUERY_CACHE;
#endif
	if ((rc = ares_init_options(&d->channel, &o, mask)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return -1;
	}
	d->channel_ok = 1;
	memset(&srv, 0, sizeof(srv));
	if (d->cfg.server.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&d->cfg.server;

		srv.family = AF_INET;
		memcpy(&srv.addr.addr4, &sin->sin_addr, 4);
		srv.udp_port = srv.tcp_port = ntohs(sin->sin_port);
	} else if (d->cfg.server.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&d->cfg.server;

		srv.family = AF_INET6;
		memcpy(&srv.addr.addr6, &sin6->sin6_addr, 16);
		srv.udp_port = srv.tcp_port = ntohs(sin6->sin6_port);
	} else {
		snprintf(err, errlen, "no resolver address");
		return -1;
	}
	if ((rc = ares_set_servers_ports(d->channel, &srv)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

static void
dns_handle_close_cb(uv_handle_t *h)
{
	dns_handle_closed(h->data);
}

dns_t *
dns_new(uv_loop_t *loop, const dns_config_t *cfg,
    _Atomic uint64_t (*queries)[DNS_STATUS_COUNT], char *err, size_t errlen)
{
	dns_t *d;
	int ver = 0;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	d->cfg = *cfg;
	d->cfg.hosts_path[sizeof(d->cfg.hosts_path) - 1] = '\0';
	if (d->cfg.timeout_ms == 0)
		d->cfg.timeout_ms = 1;
	d->trusted = dns_config_trusted(&d->cfg, NULL);
	d->counts = queries;
	ares_version(&ver);
	d->own_ids = ver < 0x011600;
	RAND_bytes((uint8_t *)d->hkey, sizeof(d->hkey));
	dns_list_init(&d->queries);
	dnscache_init(&d->cache);
	dns_list_init(&d->ready);
	dns_list_init(&d->addrs);
	if ((d->nomem = dnscache_bare(DNS_ERROR, "out of memory", 0, NULL,
	    0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(d);
		return NULL;
	}
	if (dns_ares_init(d, err, errlen) == -1) {
		if (d->channel_ok)
			ares_destroy(d->channel);
		dnscache_unref(d->nomem);
		free(d);
		return NULL;
	}
	uv_timer_init(loop, &d->timer);
	uv_idle_init(loop, &d->idle);
	d->timer.data = d->idle.data = d;
	d->handles = 2;
	return d;
}

/* Everything goes: lookups (callbacks never run), queries, handles. */
static void
dns_teardown(dns_t *d)
{
	dns_link_t *lists[2] = { &d->ready, d->draining };

	if (d->torn || d->tearing)
		return;
	/* The cancels below must not start another teardown. */
	d->tearing = 1;
	while (!dns_list_empty(&d->addrs))
		dns_addrs_cancel(DNS_CONTAINER(d->addrs.next, dns_addrs_t,
		    link));
	for (dns_link_t *n = d->queries.next; n != &d->queries; n = n->next) {
		dns_query_t *q = DNS_CONTAINER(n, dns_query_t, all);

		while (!dns_list_empty(&q->waiters))
			dns_lookup_drop(DNS_CONTAINER(q->waiters.next,
			    dns_lookup_t, link));
	}
	for (int i = 0; i < 2; i++)
		while (lists[i] != NULL && !dns_list_empty(lists[i]))
			dns_lookup_drop(DNS_CONTAINER(lists[i]->next,
			    dns_lookup_t, link));
	d->torn = 1;
	/* Ends every query (ARES_EDESTRUCTION frees them) and closes every
	 * socket (dns_sock_state_cb closes the polls). */
	ares_destroy(d->channel);
	dnscache_cleanup(&d->cache);
	dnsfile_snap_free(&d->hosts);
	dnscache_unref(d->nomem);
	d->nomem = NULL;
	uv_close((uv_handle_t *)&d->timer, dns_handle_close_cb);
	uv_close((uv_handle_t *)&d->idle, dns_handle_close_cb);
}

void
dns_free(dns_t *d)
{
	if (d == NULL || d->torn)
		return;
	d->dying = 1;
	if (d->depth > 0) {
		/* Inside one of our callbacks: no more of them run (the
		 * drain stops at dying); the rest at dns_leave. */
		return;
	}
	dns_teardown(d);
}

void
dns_retire(dns_t *d)
{
	if (d == NULL || d->torn)
		return;
	d->retired = 1;
	if (d->depth == 0 && d->nlookups == 0)
		dns_teardown(d);
}

/* Settings and names --------------------------------------------------- */

int
dns_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
	}
	return 0;
}

int
dns_config_trusted(const dns_config_t *cfg, const char **why)
{
	const char *w;
	int t = 1;

	if (dns_is_loopback((const struct sockaddr *)&cfg->server))
		w = "loopback";
	else if (cfg->trust_ad)
		w = "dns_trust_ad";
	else {
		w = "not-loopback";
		t = 0;
	}
	if (why != NULL)
		*why = w;
	return t;
}

int
dns_trusted(const dns_t *d)
{
	return d->trusted;
}

void
dns_set_trusted_for_test(dns_t *d, int trusted)
{
	d->trusted = trusted;
}

int
dns_config_same(const dns_config_t *a, const dns_config_t *b)
{
	return a->server_len == b->server_len &&
	    memcmp(&a->server, &b->server, a->server_len) == 0 &&
	    a->timeout_ms == b->timeout_ms && a->trust_ad == b->trust_ad &&
	    strcmp(a->hosts_path, b->hosts_path) == 0;
}

int
dns_config_default(const char *path, dns_config_t *cfg)
{
	return dnsfile_nameserver(path, &cfg->server, &cfg->server_len);
}

const char *
dns_status_name(dns_status_t st)
{
	static const char *const names[DNS_STATUS_COUNT] = {
		"ok", "nodata", "nxdomain", "servfail", "timeout", "error",
	};

	return (unsigned)st < DNS_STATUS_COUNT ? names[st] : "error";
}

const char *
dns_qtype_name(dns_qtype_index_t t)
{
	static const char *const names[DNS_QT_COUNT] = {
		"a", "aaaa", "mx", "txt", "tlsa", "ns", "other",
	};

	return (unsigned)t < DNS_QT_COUNT ? names[t] : "other";
}

dns_qtype_index_t
dns_qtype_index(uint16_t qtype)
{
	switch (qtype) {
	case DNSMSG_TYPE_A:
		return DNS_QT_A;
	case DNSMSG_TYPE_AAAA:
		return DNS_QT_AAAA;
	case DNSMSG_TYPE_MX:
		return DNS_QT_MX;
	case DNSMSG_TYPE_TXT:
		return DNS_QT_TXT;
	case DNSMSG_TYPE_TLSA:
		return DNS_QT_TLSA;
	case 2: /* NS (RFC 1035 3.2.2): the DNSSEC probe's type */
		return DNS_QT_NS;
	default:
		return DNS_QT_OTHER;
	}
}
