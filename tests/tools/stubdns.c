/*
 * stubdns: a scripted stand-in for proxy/dns.c (dns_lookup, dns_cancel),
 * for tools that test what sits on the resolver (mtasts_cli). Answers come
 * from a zone file, one record a line:
 *
 *   NAME TYPE DATA        TYPE: TXT (DATA: the text, rest of the line),
 *                         A, AAAA (DATA: an address)
 *   NAME TYPE !STATUS     STATUS: servfail, timeout, error, nodata
 *
 * A name/type with no line is NODATA when the name has other lines,
 * NXDOMAIN otherwise. Answers are delivered from a zero timer (never from
 * inside dns_lookup), as dns.h promises; dns_cancel stops that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "dns.h"
#include "stubdns.h"

#define STUBDNS_MAX 256

typedef struct {
	char name[256];
	uint16_t type;
	int status;                  /* -1: data; else a dns_status_t */
	uint8_t data[DNSMSG_TXT_MAX];
	size_t len;
} stubdns_rec_t;

struct dns {
	uv_loop_t *loop;
	stubdns_rec_t recs[STUBDNS_MAX];
	int nrecs;
	unsigned lookups;
};

struct dns_lookup {
	uv_timer_t timer;
	dns_t *d;
	char name[256];
	uint16_t qtype;
	dns_cb cb;
	void *arg;
};

static uint16_t
stubdns_type(const char *s)
{
	if (strcasecmp(s, "TXT") == 0)
		return DNSMSG_TYPE_TXT;
	if (strcasecmp(s, "A") == 0)
		return DNSMSG_TYPE_A;
	if (strcasecmp(s, "AAAA") == 0)
		return DNSMSG_TYPE_AAAA;
	return 0;
}

dns_t *
stubdns_new(uv_loop_t *loop, const char *zone)
{
	dns_t *d = calloc(1, sizeof(*d));
	char line[4096];
	FILE *f;

	if (d == NULL || (f = fopen(zone, "r")) == NULL) {
		free(d);
		return NULL;
	}
	d->loop = loop;
	while (fgets(line, sizeof(line), f) != NULL && d->nrecs < STUBDNS_MAX) {
		stubdns_rec_t *r = &d->recs[d->nrecs];
		char name[256], type[16];
		int off = 0;
		const char *data;
		size_t n;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || sscanf(line, "%255s %15s %n", name, type,
		    &off) != 2)
			continue;
		data = line + off;
		snprintf(r->name, sizeof(r->name), "%s", name);
		if ((r->type = stubdns_type(type)) == 0)
			continue;
		r->status = -1;
		if (data[0] == '!') {
			static const char *const st[] = { "ok", "nodata",
			    "nxdomain", "servfail", "timeout", "error" };
			for (int i = 0; i < 6; i++)
				if (strcmp(data + 1, st[i]) == 0)
					r->status = i;
		} else if (r->type == DNSMSG_TYPE_A) {
			inet_pton(AF_INET, data, r->data);
			r->len = 4;
		} else if (r->type == DNSMSG_TYPE_AAAA) {
			inet_pton(AF_INET6, data, r->data);
			r->len = 16;
		} else {
			n = strlen(data);
			memcpy(r->data, data, n);
			r->len = n;
		}
		d->nrecs++;
	}
	fclose(f);
	return d;
}

unsigned
stubdns_lookups(const dns_t *d)
{
	return d->lookups;
}

static void
stubdns_close_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
stubdns_timer_cb(uv_timer_t *t)
{
	dns_lookup_t *l = t->data;
	dns_t *d = l->d;
	static dnsmsg_answer_t ans;
	dns_result_t res;
	int named = 0;

	memset(&ans, 0, sizeof(ans));
	memset(&res, 0, sizeof(res));
	res.status = DNS_NXDOMAIN;
	for (int i = 0; i < d->nrecs; i++) {
		stubdns_rec_t *r = &d->recs[i];
		if (strcasecmp(r->name, l->name) != 0)
			continue;
		named = 1;
		if (r->type != l->qtype)
			continue;
		if (r->status >= 0) {
			res.status = (dns_status_t)r->status;
			break;
		}
		res.status = DNS_OK;
		ans.rr[ans.nrr].type = r->type;
		ans.rr[ans.nrr].ttl = 60;
		ans.rr[ans.nrr].off = ans.store_len;
		ans.rr[ans.nrr].len = (uint16_t)r->len;
		memcpy(ans.store + ans.store_len, r->data, r->len);
		ans.store_len += (uint16_t)r->len;
		ans.nrr++;
	}
	if (res.status == DNS_NXDOMAIN && named)
		res.status = DNS_NODATA;
	ans.status = res.status == DNS_OK ? DNSMSG_OK : DNSMSG_NODATA;
	if (res.status != DNS_TIMEOUT && res.status != DNS_ERROR)
		res.ans = &ans;
	uv_close((uv_handle_t *)&l->timer, stubdns_close_cb);
	l->cb(l->arg, &res);
}

dns_lookup_t *
dns_lookup(dns_t *d, const char *name, uint16_t qtype, dns_cb cb, void *arg)
{
	dns_lookup_t *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	d->lookups++;
	l->d = d;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->qtype = qtype;
	l->cb = cb;
	l->arg = arg;
	uv_timer_init(d->loop, &l->timer);
	l->timer.data = l;
	uv_timer_start(&l->timer, stubdns_timer_cb, 0, 0);
	return l;
}

void
dns_cancel(dns_lookup_t *l)
{
	if (l == NULL)
		return;
	uv_timer_stop(&l->timer);
	uv_close((uv_handle_t *)&l->timer, stubdns_close_cb);
}

void
stubdns_free(dns_t *d)
{
	free(d);
}
