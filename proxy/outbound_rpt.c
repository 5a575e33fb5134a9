/*
 * outbound_rpt: a session's TLS-RPT results (RFC 8460), collected while
 * outbound_auth decides recipients and sent when the session closes.
 *
 * One result per upstream session and policy domain: the first RCPT of a
 * domain that outbound_auth looks up (DANE or MTA-STS on the listener)
 * opens the domain's entry, and its decision fills it once; later RCPTs of
 * the domain in the same session add nothing. A domain whose lookups did
 * not end (timeout, DNS failure, the session closed while waiting) has no
 * result: no policy was known, and the legacy server's retry reports. A
 * session that ends before any RCPT (a 421 at EHLO) has no policy domain,
 * so no result either. Domains the operator's [policy:DOMAIN] decides
 * alone, and relay mode, report nothing: no published policy was
 * evaluated.
 *
 * With [global] tlsrpt_socket, the domain's TLSRPT record (TXT
 * _smtp._tls.DOMAIN, "v=TLSRPTv1", RFC 8460 3) is looked up beside the
 * policy lookups; a result whose domain publishes exactly one such record
 * goes to the collector as one libtlsrpt datagram ("pr" is where
 * tlsrpt-reportd finds the rua). Like Postfix, nothing is sent for a
 * domain without a record: nobody asked for reports. The session never
 * waits for that lookup: when it closes first, the results whose record is
 * still being looked up leave the session (copied, no pointer into it) and
 * are sent when the answer comes, within the resolver's timeout. A worker
 * stop drops them, and so does a worker that already holds
 * OUTBOUND_RPT_LATE_MAX such sessions (counted as dropped). The send is non-blocking: a
 * collector that is absent or full costs one failed sendto, counted in
 * stp_tlsrpt_datagrams_dropped_total. The metrics count every result, with
 * or without a collector, when the session closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "addr.h"
#include "dane.h"
#include "dns.h"
#include "log.h"
#include "session.h"
#include "session_int.h"
#include "sts.h"
#include "tlsrpt.h"

/*
 * OUTBOUND_RPT_MAX: policy domains with a result per session (a message to
 * more recipient domains than this reports the first ones).
 * OUTBOUND_RPT_TXT_PREFIX: what a TLSRPT record begins with (RFC 8460 3).
 * OUTBOUND_RPT_LATE_MAX: closed sessions per worker whose results wait for
 * a TLSRPT record (each about 14 KB, each for at most dns_timeout); the
 * results of one more are dropped, counted as dropped.
 */
#define OUTBOUND_RPT_MAX 16
#define OUTBOUND_RPT_LATE_MAX 1024
#define OUTBOUND_RPT_TXT_PREFIX "v=TLSRPTv1"

enum { RPT_PENDING, RPT_DONE };

struct outbound_rpt_res {
	session_t *s;                    /* NULL once the session closed */
	outbound_rpt_t *owner;
	int state;
	int send_late;                   /* sent when its record lookup ends */
	char domain[DNSMSG_NAME_TEXT_MAX];
	tlsrpt_policy_t type;
	tlsrpt_result_t result;
	char mx[DNSMSG_NAME_TEXT_MAX];   /* "" when not known */
	char info[128];
	char sip[64], rip[64];           /* sending and receiving address */
	char *strings;                   /* policy strings, NUL-separated;
	                                    owned */
	size_t nstrings, strings_len;
	char *mxpat;                     /* MTA-STS mx patterns, likewise */
	size_t nmxpat, mxpat_len;
	dns_lookup_t *rq;                /* the TLSRPT record lookup */
	int rq_done;
	char *record;                    /* the TLSRPT record; owned */
};

struct outbound_rpt {
	outbound_rpt_res_t res[OUTBOUND_RPT_MAX];
	unsigned n;
	/* After the session closed with record lookups in flight: */
	proxy_t *px;
	char sid[24];                    /* the session's id, for the log */
	struct sockaddr_un to;           /* the collector */
	unsigned late;                   /* results waiting for a record */
	outbound_rpt_t *next, **prevp;   /* in px->rpt_late */
};

/* Appends s (NUL included) to a packed list. Returns 0 or -1. */
static int
outbound_rpt_pack(char **list, size_t *n, size_t *len, const char *s)
{
	size_t k = strlen(s) + 1;
	char *p = realloc(*list, *len + k);

	if (p == NULL)
		return -1;
	memcpy(p + *len, s, k);
	*list = p;
	*len += k;
	(*n)++;
	return 0;
}

/* The packed list as an array of n pointers into it; NULL without
 * memory (or n == 0). Free the array, not the strings. */
static const char **
outbound_rpt_unpack(const char *list, size_t n)
{
	const char **v;

	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = list;
		list += strlen(list) + 1;
	}
	return v;
}

static void outbound_rpt_emit(proxy_t *px, const char *sid,
    const struct sockaddr_un *to, const outbound_rpt_res_t *e);
static void outbound_rpt_free(outbound_rpt_t *r);
static void outbound_rpt_drop(outbound_rpt_t *r, const char *why);

/* The domain's TLSRPT record from the TXT answer r, when there is exactly
 * one; e->record stays NULL otherwise. */
static void
outbound_rpt_record(outbound_rpt_res_t *e, const dns_result_t *r)
{
	const char *found = NULL;
	size_t flen = 0, pl = sizeof(OUTBOUND_RPT_TXT_PREFIX) - 1;
	int count = 0;

	if (r->status != DNS_OK || r->ans == NULL)
		return;
	for (unsigned i = 0; i < r->ans->nrr; i++) {
		const dnsmsg_rr_t *rr = &r->ans->rr[i];
		const char *t;

		if (rr->type != DNSMSG_TYPE_TXT || rr->len < pl)
			continue;
		t = (const char *)dnsmsg_rr_data(r->ans, rr);
		/* "v=TLSRPTv1" then ';' or space, or the end (3.1). */
		if (memcmp(t, OUTBOUND_RPT_TXT_PREFIX, pl) != 0 ||
		    (rr->len > pl && t[pl] != ';' && t[pl] != ' '))
			continue;
		found = t;
		flen = rr->len;
		count++;
	}
	/* More than one record: none applies (RFC 8460 3). A NUL inside
	 * would cut the record: none either. */
	if (count != 1 || memchr(found, '\0', flen) != NULL)
		return;
	if ((e->record = malloc(flen + 1)) == NULL)
		return;
	memcpy(e->record, found, flen);
	e->record[flen] = '\0';
}

static void
outbound_rpt_txt_cb(void *arg, const dns_result_t *r)
{
	outbound_rpt_res_t *e = arg;
	outbound_rpt_t *o = e->owner;

	e->rq = NULL;
	e->rq_done = 1;
	outbound_rpt_record(e, r);
	if (!e->send_late)
		return;
	/* The session closed before this answer came. */
	e->send_late = 0;
	if (e->record != NULL)
		outbound_rpt_emit(o->px, o->sid, &o->to, e);
	if (--o->late == 0) {
		if ((*o->prevp = o->next) != NULL)
			o->next->prevp = o->prevp;
		o->px->nrpt_late--;
		outbound_rpt_free(o);
	}
}

outbound_rpt_res_t *
outbound_rpt_begin(session_t *s, outbound_rpt_t **rp, const char *domain)
{
	outbound_rpt_t *r = *rp;
	outbound_rpt_res_t *e;
	char q[DNSMSG_NAME_TEXT_MAX + 16];

	if (r == NULL && (r = *rp = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	for (unsigned i = 0; i < r->n; i++)
		if (strcasecmp(r->res[i].domain, domain) == 0)
			return NULL;
	if (r->n == OUTBOUND_RPT_MAX)
		return NULL;
	e = &r->res[r->n++];
	memset(e, 0, sizeof(*e));
	e->s = s;
	e->owner = r;
	e->state = RPT_PENDING;
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	if (s->rt->cfg->tlsrpt_socket != NULL && s->px->dns != NULL) {
		snprintf(q, sizeof(q), "_smtp._tls.%s", domain);
		e->rq = dns_lookup(s->px->dns, q, DNSMSG_TYPE_TXT,
		    outbound_rpt_txt_cb, e);
	}
	return e;
}

void
outbound_rpt_set(outbound_rpt_res_t *e, tlsrpt_policy_t type,
    tlsrpt_result_t result, const char *mx, const char *info)
{
	session_t *s;
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	uv_os_fd_t fd;

	if (e == NULL || e->state != RPT_PENDING)
		return;
	s = e->s;
	e->state = RPT_DONE;
	e->type = type;
	e->result = result;
	snprintf(e->mx, sizeof(e->mx), "%s", mx != NULL ? mx : "");
	snprintf(e->info, sizeof(e->info), "%s", info != NULL ? info : "");
	addr_ip((const struct sockaddr *)&s->dest, e->rip, sizeof(e->rip));
	snprintf(e->sip, sizeof(e->sip), "-");
	if (s->server != NULL && uv_fileno((uv_handle_t *)&s->server->tcp,
	    &fd) == 0 && getsockname(fd, (struct sockaddr *)&local,
	    &len) == 0)
		addr_ip((const struct sockaddr *)&local, e->sip,
		    sizeof(e->sip));
}

void
outbound_rpt_tlsa(outbound_rpt_res_t *e, const dane_tlsa_t *recs, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	if (e == NULL || e->nstrings > 0)
		return;
	for (size_t i = 0; i < n; i++) {
		/* "255 255 255 " and the hex digits and the NUL. */
		size_t k, cap = 16 + 2 * recs[i].len;
		char *t = malloc(cap);
		int rc;

		if (t == NULL)
			return;
		k = (size_t)snprintf(t, cap, "%u %u %u ", recs[i].usage,
		    recs[i].selector, recs[i].mtype);
		for (size_t j = 0; j < recs[i].len; j++) {
			t[k++] = hex[recs[i].data[j] >> 4];
			t[k++] = hex[recs[i].data[j] & 15];
		}
		t[k] = '\0';
		rc = outbound_rpt_pack(&e->strings, &e->nstrings,
		    &e->strings_len, t);
		free(t);
		if (rc == -1)
			return;
	}
}

void
outbound_rpt_sts(outbound_rpt_res_t *e, const sts_policy_t *p)
{
	char line[STS_NAME_MAX + 16];

	if (e == NULL || p == NULL || e->nstrings > 0)
		return;
	/* The policy as its lines (RFC 8460 4.4 "policy-string"). */
	outbound_rpt_pack(&e->strings, &e->nstrings, &e->strings_len,
	    "version: STSv1");
	snprintf(line, sizeof(line), "mode: %s", sts_mode_name(p->mode));
	outbound_rpt_pack(&e->strings, &e->nstrings, &e->strings_len, line);
	for (unsigned i = 0; i < p->nmx; i++) {
		snprintf(line, sizeof(line), "mx: %s", p->mx[i]);
		outbound_rpt_pack(&e->strings, &e->nstrings, &e->strings_len,
		    line);
		outbound_rpt_pack(&e->mxpat, &e->nmxpat, &e->mxpat_len,
		    p->mx[i]);
	}
	snprintf(line, sizeof(line), "max_age: %u", (unsigned)p->max_age);
	outbound_rpt_pack(&e->strings, &e->nstrings, &e->strings_len, line);
}

/* Sends one result to the collector. Returns 0 or -1 (dropped). */
static int
outbound_rpt_send(int fd, const struct sockaddr_un *to,
    const outbound_rpt_res_t *e, char *buf)
{
	const char **strings = outbound_rpt_unpack(e->strings, e->nstrings);
	const char **mx = outbound_rpt_unpack(e->mxpat, e->nmxpat);
	tlsrpt_rec_t r = {
		.domain = e->domain, .record = e->record, .type = e->type,
		.policy_domain = e->domain,
		.strings = strings, .nstrings = strings ? e->nstrings : 0,
		.mx = mx, .nmx = mx ? e->nmxpat : 0,
		.result = e->result, .sending_ip = e->sip,
		.mx_name = e->mx[0] ? e->mx : NULL, .receiving_ip = e->rip,
		.info = e->info[0] ? e->info : NULL,
	};
	int n = tlsrpt_encode(&r, buf, TLSRPT_DATAGRAM_MAX);

	free(strings);
	free(mx);
	if (n < 0 || fd == -1)
		return -1;
	if (sendto(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)to, sizeof(*to)) != n)
		return -1;
	return 0;
}

/* Sends e (filled, with a record) to the collector at to, and counts. */
static void
outbound_rpt_emit(proxy_t *px, const char *sid, const struct sockaddr_un *to,
    const outbound_rpt_res_t *e)
{
	char *buf = malloc(TLSRPT_DATAGRAM_MAX);
	int fd = -1, rc = -1;

	if (buf != NULL) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		rc = outbound_rpt_send(fd, to, e, buf);
	}
	if (rc == 0)
		STATS_INC(px->stats->tlsrpt_sent);
	else {
		STATS_INC(px->stats->tlsrpt_dropped);
		log_event(LOG_DEBUG, "tlsrpt_dropped", "session", sid,
		    "domain", e->domain, "error", buf == NULL ?
		    "out of memory" : strerror(errno), NULL);
	}
	if (fd != -1)
		close(fd);
	free(buf);
}

static void
outbound_rpt_free(outbound_rpt_t *r)
{
	for (unsigned i = 0; i < r->n; i++) {
		dns_cancel(r->res[i].rq);
		free(r->res[i].strings);
		free(r->res[i].mxpat);
		free(r->res[i].record);
	}
	free(r);
}

void
outbound_rpt_finish(session_t *s, outbound_rpt_t **rp)
{
	outbound_rpt_t *r = *rp;
	const char *path = s->rt->cfg->tlsrpt_socket;

	if (r == NULL)
		return;
	*rp = NULL;
	r->px = s->px;
	snprintf(r->sid, sizeof(r->sid), "%s", s->id);
	r->to.sun_family = AF_UNIX;
	if (path != NULL)
		snprintf(r->to.sun_path, sizeof(r->to.sun_path), "%s", path);
	for (unsigned i = 0; i < r->n; i++) {
		outbound_rpt_res_t *e = &r->res[i];

		e->s = NULL;
		if (e->state != RPT_DONE || path == NULL) {
			dns_cancel(e->rq);
			e->rq = NULL;
		}
		if (e->state != RPT_DONE)
			continue;
		STATS_INC(s->px->stats->tlsrpt_results[e->type][e->result]);
		log_event(e->result == TLSRPT_SUCCESS ? LOG_INFO : LOG_WARN,
		    "tlsrpt", "session", s->id, "domain", e->domain,
		    "policy_type", tlsrpt_policy_names[e->type], "result",
		    tlsrpt_result_names[e->result], "mx", e->mx[0] ? e->mx :
		    "-", "record", e->record != NULL ? "yes" : e->rq_done ?
		    "no" : "pending", NULL);
		if (e->rq != NULL) {
			e->send_late = 1;
			r->late++;
		} else if (path != NULL && e->record != NULL)
			outbound_rpt_emit(s->px, r->sid, &r->to, e);
	}
	if (r->late == 0) {
		outbound_rpt_free(r);
		return;
	}
	if (s->px->nrpt_late >= OUTBOUND_RPT_LATE_MAX) {
		outbound_rpt_drop(r, "too many results waiting for a TLSRPT "
		    "record");
		return;
	}
	/* Records still being looked up: the results wait for them, apart
	 * from the session. */
	if ((r->next = s->px->rpt_late) != NULL)
		r->next->prevp = &r->next;
	r->prevp = &s->px->rpt_late;
	s->px->rpt_late = r;
	s->px->nrpt_late++;
}

/* Drops (counts and logs) r's results that wait for a record, frees r. */
static void
outbound_rpt_drop(outbound_rpt_t *r, const char *why)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->res[i].send_late) {
			STATS_INC(r->px->stats->tlsrpt_dropped);
			log_event(LOG_DEBUG, "tlsrpt_dropped", "session", r->sid,
			    "domain", r->res[i].domain, "error", why, NULL);
		}
	outbound_rpt_free(r);
}

void
outbound_rpt_abandon(proxy_t *px)
{
	outbound_rpt_t *r;

	while ((r = px->rpt_late) != NULL) {
		if ((px->rpt_late = r->next) != NULL)
			r->next->prevp = &px->rpt_late;
		px->nrpt_late--;
		outbound_rpt_drop(r, "stopped before the TLSRPT record lookup "
		    "ended");
	}
}
