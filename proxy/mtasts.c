/*
 * mtasts: see mtasts.h. A "flight" is the lookup of one domain: its TXT
 * query, then perhaps the A/AAAA queries and the fetch. Requests wait on
 * their domain's flight; a flight answers its waiters once (mtasts_answer)
 * and, when it refreshes ahead of expiry, goes on in the background with
 * none. Requests that can be answered from the cache without a flight go
 * through the ready list, answered on the next loop turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/rand.h>

#include "dnsmsg.h"
#include "log.h"
#include "mtasts.h"
#include "proxy.h"

_Static_assert(STATS_STS_FETCH_RESULTS == STSFETCH_RESULT_COUNT,
    "stats_t counts every fetch result");

#define MTASTS_HOST_MAX (8 + STS_NAME_MAX)

typedef struct mtasts_flight mtasts_flight_t;

struct mtasts_req {
	mtasts_req_t *prev, *next;   /* a flight's waiters or the ready list */
	mtasts_t *m;
	mtasts_flight_t *flight;     /* NULL: on the ready list */
	mtasts_cb *cb;
	void *arg;
	const char *why;             /* ready list: why no flight */
	int temporary;               /* ready list: DNS could not be asked */
	char domain[STS_NAME_MAX + 1];
};

struct mtasts_flight {
	mtasts_flight_t *prev, *next;
	mtasts_t *m;
	char domain[STS_NAME_MAX + 1];     /* lower case */
	char host[MTASTS_HOST_MAX + 1];    /* mta-sts.DOMAIN */
	char id[STS_ID_MAX + 1];           /* from the TXT record */
	mtasts_req_t *waiters;
	int background;                    /* waiters answered; refreshing */
	int linked;                        /* in the table of flights */
	dns_lookup_t *txt, *a, *aaaa;
	int addr_pending;                  /* A/AAAA lookups not answered */
	struct sockaddr_storage v4[MTASTS_ADDRS_MAX], v6[MTASTS_ADDRS_MAX];
	int nv4, nv6;
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	int naddrs, next_addr;
	stsfetch_t *fetch;
	SSL_CTX *ctx;                      /* one reference */
	uint64_t timeout_ms;
	uint64_t deadline;                 /* uv_now when fetches must end */
	uint64_t t0;                       /* uv_now at the first fetch */
	uint32_t mark;
};

struct mtasts {
	mtasts_env_t env;
	mtasts_flight_t *flights;
	int nflights;
	mtasts_req_t *ready;               /* answered from the cache soon */
	uv_timer_t soon;
	int closing;
	sts_policy_t pol;                  /* the policy lent to callbacks */
};

static int64_t
mtasts_now(void)
{
	return (int64_t)time(NULL);
}

/* A lookup on the worker's current resolver; NULL without one. */
static dns_lookup_t *
mtasts_dns(mtasts_t *m, const char *name, uint16_t qtype, dns_cb cb,
    void *arg)
{
	dns_t *d = m->env.dns != NULL ? *m->env.dns : NULL;

	return d != NULL ? dns_lookup(d, name, qtype, cb, arg) : NULL;
}

/* Lists ----------------------------------------------------------------- */

static void
mtasts_req_link(mtasts_req_t **head, mtasts_req_t *r)
{
	r->prev = NULL;
	r->next = *head;
	if (*head != NULL)
		(*head)->prev = r;
	*head = r;
}

static void
mtasts_req_unlink(mtasts_req_t **head, mtasts_req_t *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		*head = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* The waiters' list holding r. */
static mtasts_req_t **
mtasts_req_list(mtasts_req_t *r)
{
	return r->flight != NULL ? &r->flight->waiters : &r->m->ready;
}

/* Answers ---------------------------------------------------------------- */

/*
 * Fills res from the cache (any id, not expired) or as "no policy"; the
 * id goes to id[], m->pol is lent to the callbacks that follow.
 */
static void
mtasts_from_cache(mtasts_t *m, const char *domain, mtasts_result_t *res,
    const char *why, char id[STS_ID_MAX + 1])
{
	stscache_info_t info;

	memset(res, 0, sizeof(*res));
	id[0] = '\0';
	res->id = id;
	res->why = why;
	if (stscache_get(m->env.cache, domain, mtasts_now(), &info,
	    &m->pol) == 0) {
		snprintf(id, STS_ID_MAX + 1, "%s", info.id);
		res->have_policy = 1;
		res->mode = m->pol.mode;
		res->max_age = m->pol.max_age;
		res->policy = &m->pol;
		res->source = MTASTS_SRC_CACHE;
	}
}

/* Calls and frees every waiter of f with res. */
static void
mtasts_answer(mtasts_flight_t *f, const mtasts_result_t *res)
{
	mtasts_req_t *r;

	while ((r = f->waiters) != NULL) {
		mtasts_req_unlink(&f->waiters, r);
		r->cb(r->arg, res);
		free(r);
	}
}

/*
 * Takes f out of the table of flights (once): before its waiters are
 * answered, so that a lookup a callback starts makes a new flight.
 */
static void
mtasts_flight_unlink(mtasts_flight_t *f)
{
	mtasts_t *m = f->m;

	if (!f->linked)
		return;
	f->linked = 0;
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		m->flights = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	f->prev = f->next = NULL;
	m->nflights--;
}

static void
mtasts_flight_free(mtasts_flight_t *f)
{
	mtasts_flight_unlink(f);
	if (f->txt != NULL)
		dns_cancel(f->txt);
	if (f->a != NULL)
		dns_cancel(f->a);
	if (f->aaaa != NULL)
		dns_cancel(f->aaaa);
	stsfetch_cancel(f->fetch);
	while (f->waiters != NULL) {
		mtasts_req_t *r = f->waiters;
		mtasts_req_unlink(&f->waiters, r);
		free(r);
	}
	SSL_CTX_free(f->ctx);
	free(f);
}

/*
 * Ends f: answers its waiters (if any are left) from the cache with why,
 * and frees it.
 */
static void
mtasts_end_cached(mtasts_flight_t *f, const char *why, int fetched,
    stsfetch_result_t fr, int temporary)
{
	mtasts_result_t res;
	char id[STS_ID_MAX + 1];

	mtasts_flight_unlink(f);
	if (f->waiters != NULL) {
		mtasts_from_cache(f->m, f->domain, &res, why, id);
		res.fetched = fetched;
		res.fetch_result = fr;
		res.temporary = !res.have_policy && temporary;
		mtasts_answer(f, &res);
	}
	mtasts_flight_free(f);
}

/* Fetch ------------------------------------------------------------------ */

static void mtasts_fetch_next(mtasts_flight_t *f);

static void
mtasts_fetch_log(mtasts_flight_t *f, const stsfetch_done_t *d,
    stsfetch_result_t r)
{
	char ms[24];

	if (f->m->env.fetches != NULL)
		STATS_INC(f->m->env.fetches[r]);
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)
	    (uv_now(f->m->env.loop) - f->t0));
	log_event(r == STSFETCH_OK ? LOG_INFO : LOG_WARN, "mta_sts_fetch",
	    "domain", f->domain, "id", f->id, "result",
	    stsfetch_result_name(r), "ms", ms, "detail",
	    d != NULL ? d->detail : "no address", NULL);
}

/* The fetch of f ended with r (policy when STSFETCH_OK). */
static void
mtasts_fetched(mtasts_flight_t *f, const stsfetch_done_t *d,
    stsfetch_result_t r)
{
	mtasts_t *m = f->m;
	mtasts_result_t res;
	char age[16];

	mtasts_fetch_log(f, d, r);
	if (r != STSFETCH_OK) {
		stscache_fail(m->env.cache, f->domain, f->id, mtasts_now());
		mtasts_end_cached(f, "fetch failed", 1, r, 0);
		return;
	}
	m->pol = *d->policy;
	if (stscache_put(m->env.cache, f->domain, f->id, &m->pol,
	    mtasts_now()) == -1)
		log_event(LOG_WARN, "mta_sts_cache_failed", "domain", f->domain,
		    NULL);
	snprintf(age, sizeof(age), "%u", (unsigned)m->pol.max_age);
	mtasts_flight_unlink(f);
	log_event(LOG_INFO, "mta_sts_policy", "domain", f->domain, "mode",
	    sts_mode_name(m->pol.mode), "id", f->id, "max_age", age, NULL);
	if (f->waiters != NULL) {
		memset(&res, 0, sizeof(res));
		res.have_policy = 1;
		res.mode = m->pol.mode;
		res.id = f->id;
		res.max_age = m->pol.max_age;
		res.policy = &m->pol;
		res.source = MTASTS_SRC_FETCH;
		res.fetched = 1;
		res.fetch_result = STSFETCH_OK;
		res.why = "fetched";
		mtasts_answer(f, &res);
	}
	mtasts_flight_free(f);
}

static void
mtasts_fetch_cb(void *arg, const stsfetch_done_t *d)
{
	mtasts_flight_t *f = arg;

	f->fetch = NULL;
	/* Another address only when this one could not be reached. */
	if (d->result == STSFETCH_CONNECT && f->next_addr < f->naddrs &&
	    uv_now(f->m->env.loop) < f->deadline) {
		mtasts_fetch_next(f);
		return;
	}
	mtasts_fetched(f, d, d->result);
}

/* Starts the fetch from the next address, within the deadline. */
static void
mtasts_fetch_next(mtasts_flight_t *f)
{
	mtasts_t *m = f->m;
	uint64_t now = uv_now(m->env.loop);
	stsfetch_env_t env;
	stsfetch_done_t d;

	memset(&env, 0, sizeof(env));
	env.loop = m->env.loop;
	env.ctx = f->ctx;
	env.scratch = m->env.scratch;
	env.pool = m->env.pool;
	env.timeout_ms = f->deadline > now ? f->deadline - now : 1;
	env.mark = f->mark;
	f->fetch = stsfetch_start(&env, f->domain,
	    (struct sockaddr *)&f->addrs[f->next_addr++], mtasts_fetch_cb, f);
	if (f->fetch == NULL) {
		memset(&d, 0, sizeof(d));
		d.result = STSFETCH_INTERNAL;
		d.detail = "fetch not started";
		mtasts_fetched(f, &d, STSFETCH_INTERNAL);
	}
}

/* Both address lookups are in: order the addresses, fetch. */
static void
mtasts_addrs_done(mtasts_flight_t *f)
{
	stsfetch_done_t d;

	for (int i = 0; i < f->nv4 && f->naddrs < MTASTS_ADDRS_MAX; i++)
		f->addrs[f->naddrs++] = f->v4[i];
	for (int i = 0; i < f->nv6 && f->naddrs < MTASTS_ADDRS_MAX; i++)
		f->addrs[f->naddrs++] = f->v6[i];
	if (f->naddrs == 0) {
		memset(&d, 0, sizeof(d));
		d.result = STSFETCH_DNS;
		d.detail = "no address for the policy host";
		mtasts_fetched(f, &d, STSFETCH_DNS);
		return;
	}
	mtasts_fetch_next(f);
}

static void
mtasts_addr_cb(mtasts_flight_t *f, const dns_result_t *r, int v6)
{
	uint16_t port = f->m->env.https_port ? f->m->env.https_port : 443;

	if (r->status == DNS_OK && r->ans != NULL)
		for (unsigned i = 0; i < r->ans->nrr; i++) {
			const dnsmsg_rr_t *rr = &r->ans->rr[i];
			const uint8_t *p = dnsmsg_rr_data(r->ans, rr);
			struct sockaddr_storage *ss;

			if (!v6 && rr->type == DNSMSG_TYPE_A && rr->len == 4 &&
			    f->nv4 < MTASTS_ADDRS_MAX) {
				struct sockaddr_in *sin;
				ss = &f->v4[f->nv4++];
				memset(ss, 0, sizeof(*ss));
				sin = (struct sockaddr_in *)ss;
				sin->sin_family = AF_INET;
				sin->sin_port = htons(port);
				memcpy(&sin->sin_addr, p, 4);
			} else if (v6 && rr->type == DNSMSG_TYPE_AAAA &&
			    rr->len == 16 && f->nv6 < MTASTS_ADDRS_MAX) {
				struct sockaddr_in6 *sin6;
				ss = &f->v6[f->nv6++];
				memset(ss, 0, sizeof(*ss));
				sin6 = (struct sockaddr_in6 *)ss;
				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons(port);
				memcpy(&sin6->sin6_addr, p, 16);
			}
		}
	if (--f->addr_pending == 0)
		mtasts_addrs_done(f);
}

static void
mtasts_a_cb(void *arg, const dns_result_t *r)
{
	mtasts_flight_t *f = arg;

	f->a = NULL;
	mtasts_addr_cb(f, r, 0);
}

static void
mtasts_aaaa_cb(void *arg, const dns_result_t *r)
{
	mtasts_flight_t *f = arg;

	f->aaaa = NULL;
	mtasts_addr_cb(f, r, 1);
}

/* Looks up the policy host's addresses; the fetch follows. */
static void
mtasts_fetch_start(mtasts_flight_t *f)
{
	mtasts_t *m = f->m;
	stsfetch_done_t d;

	f->t0 = uv_now(m->env.loop);
	f->deadline = f->t0 + f->timeout_ms;
	f->addr_pending = 2;
	f->a = mtasts_dns(m, f->host, DNSMSG_TYPE_A, mtasts_a_cb, f);
	f->aaaa = mtasts_dns(m, f->host, DNSMSG_TYPE_AAAA, mtasts_aaaa_cb, f);
	if (f->a == NULL || f->aaaa == NULL) {
		/* Not a host name: cannot happen for a checked domain. */
		memset(&d, 0, sizeof(d));
		d.result = STSFETCH_DNS;
		d.detail = "policy host is not a host name";
		mtasts_fetched(f, &d, STSFETCH_DNS);
	}
}

/* TXT --------------------------------------------------------------------- */

/* Whether a policy with left seconds of max_age is due for a refresh. */
static int
mtasts_refresh_due(uint32_t max_age, int64_t left)
{
	uint32_t jitter = 0;

	RAND_bytes((uint8_t *)&jitter, sizeof(jitter));
	jitter %= max_age / 16 + 1;
	return left < (int64_t)(max_age / 4) + (int64_t)jitter;
}

/* The record says the domain publishes policy id f->id. */
static void
mtasts_txt_id(mtasts_flight_t *f)
{
	mtasts_t *m = f->m;
	stscache_info_t info;
	mtasts_result_t res;
	int64_t now = mtasts_now();

	if (stscache_get(m->env.cache, f->domain, now, &info, &m->pol) == 0 &&
	    strcmp(info.id, f->id) == 0) {
		int refresh = mtasts_refresh_due(info.max_age,
		    info.expires_at - now) &&
		    !stscache_failed(m->env.cache, f->domain, f->id, now);

		/* Decided before the callbacks: a lookup they start must
		 * not join a flight that is about to end. */
		if (refresh)
			f->background = 1;
		else
			mtasts_flight_unlink(f);
		memset(&res, 0, sizeof(res));
		res.have_policy = 1;
		res.mode = m->pol.mode;
		res.id = f->id;
		res.max_age = m->pol.max_age;
		res.policy = &m->pol;
		res.source = MTASTS_SRC_CACHE;
		res.why = "cached, id unchanged";
		mtasts_answer(f, &res);
		if (!refresh) {
			mtasts_flight_free(f);
			return;
		}
		mtasts_fetch_start(f);
		return;
	}
	if (stscache_failed(m->env.cache, f->domain, f->id, now)) {
		mtasts_end_cached(f, "fetch failed recently", 0,
		    STSFETCH_OK, 0);
		return;
	}
	mtasts_fetch_start(f);
}

static void
mtasts_txt_cb(void *arg, const dns_result_t *r)
{
	mtasts_flight_t *f = arg;
	sts_slice_t recs[DNSMSG_RR_MAX];
	size_t n = 0;
	const char *why;

	f->txt = NULL;
	switch (r->status) {
	case DNS_OK:
		break;
	case DNS_NODATA:
	case DNS_NXDOMAIN:
		mtasts_end_cached(f, "no TXT record", 0, STSFETCH_OK, 0);
		return;
	default:
		mtasts_end_cached(f, "TXT lookup failed", 0, STSFETCH_OK, 1);
		return;
	}
	for (unsigned i = 0; r->ans != NULL && i < r->ans->nrr; i++)
		if (r->ans->rr[i].type == DNSMSG_TYPE_TXT) {
			recs[n].p = dnsmsg_rr_data(r->ans, &r->ans->rr[i]);
			recs[n].len = r->ans->rr[i].len;
			n++;
		}
	if (sts_txt_parse(recs, n, f->id, &why) == -1) {
		mtasts_end_cached(f, why, 0, STSFETCH_OK, 0);
		return;
	}
	mtasts_txt_id(f);
}

/* Requests ---------------------------------------------------------------- */

static void
mtasts_soon_cb(uv_timer_t *t)
{
	mtasts_t *m = t->data;
	mtasts_req_t *r;
	mtasts_result_t res;
	char id[STS_ID_MAX + 1];

	while ((r = m->ready) != NULL) {
		mtasts_req_unlink(&m->ready, r);
		mtasts_from_cache(m, r->domain, &res, r->why, id);
		res.temporary = !res.have_policy && r->temporary;
		r->cb(r->arg, &res);
		free(r);
	}
}

/* Puts r on the ready list: answered from the cache next turn. */
static void
mtasts_defer(mtasts_t *m, mtasts_req_t *r, const char *why)
{
	r->flight = NULL;
	r->why = why;
	mtasts_req_link(&m->ready, r);
	uv_timer_start(&m->soon, mtasts_soon_cb, 0, 0);
}

mtasts_req_t *
mtasts_lookup(mtasts_t *m, const runtime_t *rt, const char *domain,
    uint32_t mark, mtasts_cb *cb, void *arg)
{
	uint8_t wire[DNSMSG_NAME_MAX];
	size_t wlen, n = strnlen(domain, STS_NAME_MAX + 1);
	char txt[MTASTS_HOST_MAX + 2];  /* "_mta-sts." DOMAIN */
	mtasts_flight_t *f;
	mtasts_req_t *r;

	if (m->closing || rt->sts_ctx == NULL || n == 0 ||
	    n > STS_NAME_MAX - 9 || domain[n - 1] == '.' ||
	    dnsmsg_name_from_text(domain, n, wire, &wlen) == -1 ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		r->domain[i] = domain[i] >= 'A' && domain[i] <= 'Z' ?
		    (char)(domain[i] - 'A' + 'a') : domain[i];
	r->m = m;
	r->cb = cb;
	r->arg = arg;
	for (f = m->flights; f != NULL; f = f->next)
		if (strcmp(f->domain, r->domain) == 0)
			break;
	if (f != NULL) {
		if (f->background)
			/* Just answered from the cache and refreshing. */
			mtasts_defer(m, r, "cached, refreshing");
		else {
			r->flight = f;
			mtasts_req_link(&f->waiters, r);
		}
		return r;
	}
	if (m->nflights >= MTASTS_FLIGHTS_MAX) {
		mtasts_defer(m, r, "busy");
		return r;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		free(r);
		return NULL;
	}
	f->m = m;
	memcpy(f->domain, r->domain, n + 1);
	snprintf(f->host, sizeof(f->host), "mta-sts.%s", f->domain);
	snprintf(txt, sizeof(txt), "_mta-sts.%s", f->domain);
	SSL_CTX_up_ref(rt->sts_ctx);
	f->ctx = rt->sts_ctx;
	f->timeout_ms = rt->cfg->mta_sts_fetch_timeout_ms;
	f->mark = mark;
	f->next = m->flights;
	if (m->flights != NULL)
		m->flights->prev = f;
	m->flights = f;
	m->nflights++;
	f->linked = 1;
	r->flight = f;
	mtasts_req_link(&f->waiters, r);
	if ((f->txt = mtasts_dns(m, txt, DNSMSG_TYPE_TXT, mtasts_txt_cb,
	    f)) == NULL) {
		/* No resolver (the name was checked): like a failed TXT
		 * lookup, the cache or a temporary "no policy". */
		mtasts_req_unlink(&f->waiters, r);
		mtasts_flight_free(f);
		r->temporary = 1;
		mtasts_defer(m, r, "no resolver");
	}
	return r;
}

mtasts_req_t *
mtasts_get(struct proxy *px, const char *domain, uint32_t mark,
    mtasts_cb *cb, void *arg)
{
	if (px->mtasts == NULL)
		return NULL;
	return mtasts_lookup(px->mtasts, px->rt, domain, mark, cb, arg);
}

void
mtasts_cancel(mtasts_req_t *r)
{
	if (r == NULL)
		return;
	/* The flight goes on: its fetch fills the cache for later. */
	mtasts_req_unlink(mtasts_req_list(r), r);
	free(r);
}

/* Life -------------------------------------------------------------------- */

mtasts_t *
mtasts_new(const mtasts_env_t *env)
{
	mtasts_t *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->env = *env;
	uv_timer_init(env->loop, &m->soon);
	m->soon.data = m;
	return m;
}

static void
mtasts_close_cb(uv_handle_t *h)
{
	free(h->data);
}

void
mtasts_free(mtasts_t *m)
{
	if (m == NULL || m->closing)
		return;
	m->closing = 1;
	while (m->flights != NULL)
		mtasts_flight_free(m->flights);
	while (m->ready != NULL) {
		mtasts_req_t *r = m->ready;
		mtasts_req_unlink(&m->ready, r);
		free(r);
	}
	uv_close((uv_handle_t *)&m->soon, mtasts_close_cb);
}
