/*
 * outbound_auth: authenticated delivery for the outbound direction. The
 * per-recipient decisions of DANE (RFC 7672) and MTA-STS (RFC 8461) on top
 * of the operator's [policy:DOMAIN] sections, and the relay host's DANE
 * check (relay_dane).
 *
 * "TLS first, policy at RCPT": the upstream session is already set up
 * (TLS or not, with the chain its handshake recorded) when the legacy
 * server names a recipient. Each RCPT is then decided against what the
 * recipient's domain publishes:
 *
 *   [policy:DOMAIN] (the operator) > DANE > MTA-STS > the listener's tls
 *
 * An operator's section decides alone (tls = may exempts the domain from
 * what it publishes; tls = dane demands DANE). DANE applies when the
 * domain's MX RRset is secure, the destination of this session is a secure
 * address of one of its MX hosts, and that host has a secure TLSA RRset.
 * MTA-STS applies when DANE does not.
 *
 * Lookups are asynchronous. While they run the session is in
 * SS_POLICY_WAIT: the RCPT keeps its place, nothing the legacy server
 * pipelined after it is read, replies to earlier commands still flow, and
 * policy_lookup_timeout bounds the wait (451 4.4.3). A decision either
 * forwards the RCPT's canonical form or answers it with a 4xx for this
 * recipient alone: other recipients go ahead.
 *
 * Never a plaintext delivery against a published policy, never a 5xx for
 * something a retry can fix: every refusal here is temporary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "dane.h"
#include "dns.h"
#include "log.h"
#include "mtasts.h"
#include "policy.h"
#include "session.h"
#include "session_int.h"
#include "sts.h"
#include "tls.h"

/*
 * OA_MX_MAX: MX hosts of one domain examined. RFC 5321 sets no bound;
 * Postfix tries 5 addresses (smtp_mx_address_limit). A domain with more MX
 * hosts than this, none of which is the destination, is decided on the
 * first OA_MX_MAX (in preference order) alone.
 * OA_MEMO_MAX: recipient domains whose decision a session remembers, so
 * that a message to many recipients of one domain looks it up once.
 * OA_SNI_MAX: destination addresses whose MX name a worker remembers for
 * SNI (transparent mode), replaced in hash order when full.
 */
#define OA_MX_MAX 8
#define OA_MEMO_MAX 8
#define OA_SNI_MAX 1024

static const char R_RCPT_SYNTAX[] =
    "501 5.1.3 Bad recipient address syntax\r\n";
static const char R_POL_NO_TLS[] =
    "450 4.7.4 TLS required for this recipient's domain but not "
    "available\r\n";
static const char R_POL_NOT_VERIFIED[] =
    "450 4.7.5 Certificate verification failed for this recipient's "
    "domain\r\n";
static const char R_DANE_NO_TLS[] =
    "450 4.7.4 TLS required by the DANE TLSA records of this recipient's "
    "MX but not available\r\n";
static const char R_DANE_NOMATCH[] =
    "450 4.7.5 Certificate does not match the DANE TLSA records of this "
    "recipient's MX\r\n";
static const char R_DANE_BOGUS[] =
    "450 4.7.5 DNSSEC validation failed for this recipient's domain\r\n";
static const char R_DANE_NOT_MX[] =
    "450 4.7.5 Destination is not a DANE-authenticated MX of this "
    "recipient's domain\r\n";
static const char R_DANE_REQUIRED[] =
    "450 4.7.5 DANE required for this recipient's domain but no secure "
    "TLSA records\r\n";
static const char R_LOOKUP_TIMEOUT[] =
    "451 4.4.3 Policy lookup for this recipient's domain timed out, try "
    "again later\r\n";
static const char R_LOOKUP_FAILED[] =
    "451 4.4.3 Policy lookup for this recipient's domain failed, try "
    "again later\r\n";
static const char R_STS_NO_TLS[] =
    "450 4.7.4 TLS required by the MTA-STS policy of this recipient's "
    "domain but not available\r\n";
static const char R_STS_NOMATCH[] =
    "450 4.7.5 Certificate does not match the MTA-STS policy of this "
    "recipient's domain\r\n";
/* RFC 8689 4.2.1: a permanent failure, so the message comes back to its
 * sender rather than waiting in the legacy server's queue. */
static const char R_REQUIRETLS[] =
    "550 5.7.30 REQUIRETLS support required: no authenticated TLS to "
    "this recipient's domain\r\n";

/* Relay mode (session level). */
static const char R_RELAY_DNS[] =
    "421 4.4.3 Relay host name lookup failed, try again later\r\n";
static const char R_RELAY_BOGUS[] =
    "421 4.7.5 DNSSEC validation of the relay's TLSA records failed, try "
    "again later\r\n";
static const char R_RELAY_TIMEOUT[] =
    "421 4.4.3 TLSA lookup for the relay timed out, try again later\r\n";
static const char R_RELAY_DANE[] =
    "421 4.7.5 DANE authentication of the relay failed, try again "
    "later\r\n";

/* Decision sources for the log. */
static const char *const oa_source_names[] = { "config", "dane", "mta-sts" };
enum { SRC_CONFIG, SRC_DANE, SRC_STS };

#define oa_dane_names stats_dane_names
_Static_assert(OA_DANE_COUNT == STATS_DANE, "oa_dane_t and stats_dane_names");

/* TLSA records copied out of a DNS answer (which is borrowed). */
typedef struct {
	dns_status_t status;
	int secure;
	size_t n;
	dane_tlsa_t recs[DNSMSG_RR_MAX];
	uint8_t *buf;                 /* the records' data; owned */
} oa_tlsa_t;

typedef struct oa_job oa_job_t;

typedef struct {
	oa_job_t *job;
	char name[DNSMSG_NAME_TEXT_MAX];
	dns_addrs_t *aq;
	dns_lookup_t *tq;
	dns_status_t astatus;
	int asecure;
	int has_dest;                 /* the session's destination is one of
	                                 its addresses */
	oa_tlsa_t tlsa;
	/* RFC 7672 2.2.2: the name's addresses came, secure, through a
	 * CNAME chain ending at xname; its TLSA RRset is asked for too and
	 * comes first. */
	char xname[DNSMSG_NAME_TEXT_MAX];
	dns_lookup_t *xtq;
	oa_tlsa_t xtlsa;
} oa_mx_t;

/* One RCPT waiting for its lookups. */
struct oa_job {
	session_t *s;
	char domain[DNSMSG_NAME_TEXT_MAX];
	uint8_t line[SMTP_CMD_LINE_MAX];  /* the RCPT line, as parsed */
	smtp_cmd_info_t ci;
	const config_policy_t *pol;       /* the operator's, or NULL */
	int want_dane, want_sts;
	dns_lookup_t *mxq;
	oa_mx_t mx[OA_MX_MAX];
	int nmx;
	int pending;                      /* host lookups outstanding */
	mtasts_req_t *stsq;
	sts_policy_t *sts;                /* filled by mtasts; owned */
	int sync;                         /* inside outbound_auth_rcpt: the
	                                     engine's own loop reads on, no
	                                     kick from here */
	int auth;                         /* the upstream is authenticated for
	                                     this domain (REQUIRETLS) */
	outbound_rpt_res_t *rpt;          /* its TLS-RPT result, or NULL;
	                                     borrowed from the state */
};

typedef struct {
	char domain[DNSMSG_NAME_TEXT_MAX];
	const char *reply;                /* NULL: forward */
	int auth;                         /* oa_job_t.auth */
} oa_memo_t;

/* The session's outbound state (s->dirstate). */
typedef struct {
	oa_job_t *job;
	/* relay mode */
	dns_addrs_t *relay_aq;
	dns_lookup_t *relay_tq;
	int relay_pending;
	dns_status_t relay_astatus;
	int relay_asecure;
	struct sockaddr_storage relay_addr[SESSION_ADDRS_MAX];
	size_t nrelay_addr;
	oa_tlsa_t relay_tlsa;
	oa_memo_t memo[OA_MEMO_MAX];
	unsigned nmemo;
	char sni[DNSMSG_NAME_TEXT_MAX];
	outbound_rpt_t *rpt;              /* TLS-RPT results; owned */
} oa_state_t;

/* Per-worker map: destination address -> MX name, for SNI. */
typedef struct {
	uint8_t family;
	uint8_t addr[16];
	char name[DNSMSG_NAME_TEXT_MAX];
} oa_sni_t;

struct oa_sni_map {
	oa_sni_t slot[OA_SNI_MAX];
};

static void oa_sts_start(oa_job_t *j);
static void oa_decide(oa_job_t *j, const char *reply, int source,
    const char *reason);

/* Helpers ------------------------------------------------------------- */

/* Lookups on the worker's resolver; NULL (as for a name that cannot be
 * asked) when the worker has none: it could not be built (logged). */
static dns_lookup_t *
oa_lookup(session_t *s, const char *name, uint16_t qtype, dns_cb cb,
    void *arg)
{
	return s->px->dns == NULL ? NULL :
	    dns_lookup(s->px->dns, name, qtype, cb, arg);
}

static dns_addrs_t *
oa_addrs(session_t *s, const char *name, uint16_t port, dns_addrs_cb cb,
    void *arg)
{
	return s->px->dns == NULL ? NULL :
	    dns_addrs(s->px->dns, name, port, cb, arg);
}

static oa_state_t *
oa_state(session_t *s)
{
	if (s->dirstate == NULL)
		s->dirstate = calloc(1, sizeof(oa_state_t));
	return s->dirstate;
}

/* The address bytes of sa (v4-mapped v6 as v4), without the port. */
static size_t
oa_addr_bytes(const struct sockaddr *sa, uint8_t *out, uint8_t *family)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a, mapped, 12) == 0) {
			memcpy(out, a + 12, 4);
			*family = AF_INET;
			return 4;
		}
		memcpy(out, a, 16);
		*family = AF_INET6;
		return 16;
	}
	*family = 0;
	return 0;
}

static int
oa_addr_eq(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16], y[16], fx, fy;
	size_t nx = oa_addr_bytes(a, x, &fx), ny = oa_addr_bytes(b, y, &fy);

	return nx != 0 && nx == ny && fx == fy && memcmp(x, y, nx) == 0;
}

static void
oa_tlsa_clear(oa_tlsa_t *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

/* Copies the TLSA records of r (borrowed) into t. Returns 0 or -1. */
static int
oa_tlsa_copy(oa_tlsa_t *t, const dns_result_t *r)
{
	size_t total = 0, off = 0, i;

	oa_tlsa_clear(t);
	t->status = r->status;
	t->secure = r->secure;
	if (r->status != DNS_OK || r->ans == NULL)
		return 0;
	for (i = 0; i < r->ans->nrr; i++)
		total += r->ans->rr[i].len;
	if ((t->buf = malloc(total ? total : 1)) == NULL)
		return -1;
	for (i = 0; i < r->ans->nrr; i++) {
		const dnsmsg_rr_t *rr = &r->ans->rr[i];

		memcpy(t->buf + off, dnsmsg_rr_data(r->ans, rr), rr->len);
		t->recs[t->n].usage = rr->usage;
		t->recs[t->n].selector = rr->selector;
		t->recs[t->n].mtype = rr->mtype;
		t->recs[t->n].data = t->buf + off;
		t->recs[t->n].len = rr->len;
		t->n++;
		off += rr->len;
	}
	return 0;
}

/* Whether a secure TLSA RRset has usable records (RFC 7672 2.2). */
static int
oa_tlsa_usable(const oa_tlsa_t *t)
{
	if (t->status != DNS_OK || !t->secure || t->n == 0)
		return 0;
	return dane_verify(t->recs, t->n, NULL, NULL, 0, 0, NULL) !=
	    DANE_NONE_USABLE;
}

static STACK_OF(X509) *
oa_chain(const session_t *s)
{
	if (!s->tls || s->server->ssl == NULL)
		return NULL;
	return SSL_get_peer_cert_chain(s->server->ssl);
}

/* SNI map --------------------------------------------------------------- */

static size_t
oa_sni_hash(const uint8_t *a, size_t n)
{
	size_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	return h % OA_SNI_MAX;
}

void
outbound_sni_learn(proxy_t *px, const struct sockaddr *dest, const char *name)
{
	uint8_t a[16], fam;
	size_t n = oa_addr_bytes(dest, a, &fam);
	oa_sni_t *e;

	if (n == 0)
		return;
	if (px->sni == NULL &&
	    (px->sni = calloc(1, sizeof(struct oa_sni_map))) == NULL)
		return;
	e = &px->sni->slot[oa_sni_hash(a, n)];
	if (e->family == fam && memcmp(e->addr, a, n) == 0 &&
	    strcmp(e->name, name) == 0)
		return;
	e->family = fam;
	memset(e->addr, 0, sizeof(e->addr));
	memcpy(e->addr, a, n);
	snprintf(e->name, sizeof(e->name), "%s", name);
	STATS_INC(px->stats->sni_learned);
}

const char *
outbound_sni_find(proxy_t *px, const struct sockaddr *dest)
{
	uint8_t a[16], fam;
	size_t n = oa_addr_bytes(dest, a, &fam);
	const oa_sni_t *e;

	if (n == 0 || px->sni == NULL)
		return NULL;
	e = &px->sni->slot[oa_sni_hash(a, n)];
	if (e->family != fam || memcmp(e->addr, a, n) != 0)
		return NULL;
	return e->name;
}

void
outbound_sni_free(proxy_t *px)
{
	free(px->sni);
	px->sni = NULL;
}

/* Jobs ------------------------------------------------------------------ */

static void
oa_job_free(oa_job_t *j)
{
	int i;

	if (j == NULL)
		return;
	if (j->mxq != NULL)
		dns_cancel(j->mxq);
	for (i = 0; i < j->nmx; i++) {
		if (j->mx[i].aq != NULL)
			dns_addrs_cancel(j->mx[i].aq);
		if (j->mx[i].tq != NULL)
			dns_cancel(j->mx[i].tq);
		dns_cancel(j->mx[i].xtq);
		oa_tlsa_clear(&j->mx[i].tlsa);
		oa_tlsa_clear(&j->mx[i].xtlsa);
	}
	if (j->stsq != NULL)
		mtasts_cancel(j->stsq);
	free(j->sts);
	free(j);
}

static void
oa_memo_add(oa_state_t *st, const char *domain, const char *reply, int auth)
{
	oa_memo_t *m = &st->memo[st->nmemo++ % OA_MEMO_MAX];

	snprintf(m->domain, sizeof(m->domain), "%s", domain);
	m->reply = reply;
	m->auth = auth;
}

/*
 * Relay mode: the relay itself is authenticated (a DANE match, or its
 * certificate verified for its name), for every recipient behind it.
 * In transparent mode authentication is per recipient domain (oa_job_t).
 */
static int
oa_session_auth(const session_t *s)
{
	return s->tls && s->lc->out_mode == OUT_MODE_RELAY &&
	    (s->dane_ok || s->name_ok);
}

/*
 * REQUIRETLS (RFC 8689 4.2.1): in such a transaction a RCPT goes upstream
 * only over a session authenticated for its domain. Returns 1 when it was
 * answered 550 5.7.30, 0 to go on.
 */
static int
oa_requiretls_refused(session_t *s, const char *domain, int auth)
{
	if (!s->tx_requiretls || auth || oa_session_auth(s))
		return 0;
	log_event(LOG_WARN, "requiretls", "session", s->id, "domain",
	    domain != NULL ? domain : "-", "outcome", "refused", "verify",
	    policy_verify_name(outbound_verify(s)), "dest", s->dest_str,
	    NULL);
	session_local(s, R_REQUIRETLS);
	return 1;
}

/* The job's TLS-RPT result (the first one set counts). */
static void
oa_rpt(oa_job_t *j, tlsrpt_policy_t type, tlsrpt_result_t r, const char *mx,
    const char *info)
{
	outbound_rpt_set(j->rpt, type, r, mx, info);
}

/* No DANE, no MTA-STS: whether the session was encrypted at all. */
static void
oa_rpt_none(oa_job_t *j)
{
	oa_rpt(j, TLSRPT_POLICY_NONE, j->s->tls ? TLSRPT_SUCCESS :
	    TLSRPT_STARTTLS_NOT_SUPPORTED, j->s->dest_name, j->s->tls ?
	    NULL : j->s->tls_fail);
}

static const oa_memo_t *
oa_memo_find(const oa_state_t *st, const char *domain)
{
	unsigned n = st->nmemo < OA_MEMO_MAX ? st->nmemo : OA_MEMO_MAX;

	for (unsigned i = 0; i < n; i++)
		if (strcasecmp(st->memo[i].domain, domain) == 0)
			return &st->memo[i];
	return NULL;
}

/*
 * The RCPT is decided: forwarded (reply NULL) or answered. The session
 * leaves SS_POLICY_WAIT and reads on.
 */
static void
oa_decide(oa_job_t *j, const char *reply, int source, const char *reason)
{
	session_t *s = j->s;
	oa_state_t *st = s->dirstate;
	int kick = !j->sync;

	if (reply != NULL || source != SRC_CONFIG)
		log_event(reply != NULL ? LOG_WARN : LOG_INFO, "policy",
		    "session", s->id, "domain", j->domain, "source",
		    oa_source_names[source], "outcome", reply != NULL ?
		    "refused" : "ok", "reason", reason, "dest", s->dest_str,
		    NULL);
	oa_memo_add(st, j->domain, reply, j->auth);
	st->job = NULL;
	session_enter(s, SS_COMMAND);
	if (reply != NULL)
		session_local(s, reply);
	else if (!oa_requiretls_refused(s, j->domain, j->auth))
		session_forward(s, &j->ci, j->line, PEND_RELAY);
	oa_job_free(j);
	if (kick)
		session_kick(s);
}

static void
oa_dane_count(session_t *s, oa_dane_t r)
{
	STATS_INC(s->px->stats->dane[r]);
}

static void
oa_dane_log(oa_job_t *j, const char *mx, const char *tlsa, oa_dane_t r,
    const dane_info_t *info)
{
	char usage[8] = "-";

	if (info != NULL && info->usage >= 0)
		snprintf(usage, sizeof(usage), "%s", info->usage == 3 ? "ee" :
		    "ta");
	log_event(r == OA_DANE_MATCH || r == OA_DANE_NONE ? LOG_INFO :
	    LOG_WARN, "dane", "session", j->s->id, "domain", j->domain, "mx",
	    mx, "tlsa", tlsa, "result", oa_dane_names[r], "dane", usage,
	    "why", info != NULL && info->reason != NULL ? info->reason : "-",
	    NULL);
	oa_dane_count(j->s, r);
}

/*
 * The TLSA RRset that decides for MX host m, and its base domain (RFC 7672
 * 2.2.2): the CNAME-expanded name's when it was asked (a secure chain) and
 * did not deny TLSA, or failed (a failure there is not skipped); else the
 * MX name's.
 */
static const oa_tlsa_t *
oa_mx_tlsa(const oa_mx_t *m, const char **base)
{
	const oa_tlsa_t *x = &m->xtlsa;

	if (m->xname[0] != '\0' && (x->status == DNS_SERVFAIL ||
	    x->status == DNS_TIMEOUT || x->status == DNS_ERROR ||
	    (x->status == DNS_OK && x->secure))) {
		*base = m->xname;
		return x;
	}
	*base = m->name;
	return &m->tlsa;
}

/* DANE: every MX host's lookups are in; decide. */
static void
oa_dane_decide(oa_job_t *j)
{
	session_t *s = j->s;
	oa_mx_t *h = NULL;
	const oa_tlsa_t *t = NULL;
	const char *base = NULL;
	int i, usable_elsewhere = 0, bogus = 0, timeout = 0;

	for (i = 0; i < j->nmx; i++) {
		oa_mx_t *m = &j->mx[i];
		const char *mbase;
		const oa_tlsa_t *mt = oa_mx_tlsa(m, &mbase);

		/* SNI: the TLSA base domain (RFC 7672 3.2.3). */
		if (m->has_dest)
			outbound_sni_learn(s->px,
			    (const struct sockaddr *)&s->dest, mbase);
		if (m->has_dest && m->asecure && h == NULL) {
			h = m;
			t = mt;
			base = mbase;
		}
		if (oa_tlsa_usable(mt))
			usable_elsewhere = 1;
		if (mt->status == DNS_SERVFAIL ||
		    m->astatus == DNS_SERVFAIL)
			bogus = 1;
		if (mt->status == DNS_TIMEOUT ||
		    m->astatus == DNS_TIMEOUT)
			timeout = 1;
	}
	if (h == NULL) {
		/* The destination is no secure address of an MX: unless
		 * the domain publishes no usable TLSA at all, this is not a
		 * DANE-authenticated MX (an attacker who steered the legacy
		 * server's own, unvalidated lookup). */
		if (usable_elsewhere) {
			oa_dane_log(j, "-", "secure", OA_DANE_NOT_MX, NULL);
			oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_VALIDATION_FAILURE,
			    NULL, "destination is not a secure MX address");
			oa_decide(j, R_DANE_NOT_MX, SRC_DANE,
			    "destination is not a secure MX address");
			return;
		}
		if (bogus) {
			oa_dane_log(j, "-", "bogus", OA_DANE_BOGUS, NULL);
			oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_DNSSEC_INVALID,
			    NULL, "bogus MX host data");
			oa_decide(j, R_DANE_BOGUS, SRC_DANE, "bogus MX data");
			return;
		}
		if (timeout) {
			oa_dane_log(j, "-", "timeout", OA_DANE_TIMEOUT, NULL);
			oa_decide(j, R_LOOKUP_TIMEOUT, SRC_DANE,
			    "MX host lookup timed out");
			return;
		}
		oa_dane_log(j, "-", "none", OA_DANE_NONE, NULL);
		oa_sts_start(j);
		return;
	}
	switch (t->status) {
	case DNS_SERVFAIL:
		oa_dane_log(j, base, "bogus", OA_DANE_BOGUS, NULL);
		oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_DNSSEC_INVALID, h->name,
		    "TLSA lookup SERVFAIL");
		oa_decide(j, R_DANE_BOGUS, SRC_DANE, "TLSA lookup SERVFAIL");
		return;
	case DNS_TIMEOUT:
		oa_dane_log(j, base, "timeout", OA_DANE_TIMEOUT, NULL);
		oa_decide(j, R_LOOKUP_TIMEOUT, SRC_DANE,
		    "TLSA lookup timed out");
		return;
	case DNS_ERROR:
		oa_dane_log(j, base, "error", OA_DANE_ERROR, NULL);
		oa_decide(j, R_LOOKUP_FAILED, SRC_DANE, "TLSA lookup failed");
		return;
	default:
		if (t->status == DNS_OK && t->secure)
			break;
		/* Insecure, or a secure denial: no DANE for this MX. */
		oa_dane_log(j, base, t->status == DNS_OK ?
		    "insecure" : "none", OA_DANE_NONE, NULL);
		oa_sts_start(j);
		return;
	}
	outbound_rpt_tlsa(j->rpt, t->recs, t->n);
	if (!s->tls) {
		oa_dane_log(j, base, "secure", OA_DANE_NO_TLS, NULL);
		oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_STARTTLS_NOT_SUPPORTED,
		    h->name, s->tls_fail);
		oa_decide(j, R_DANE_NO_TLS, SRC_DANE, "no TLS to a DANE MX");
		return;
	}
	{
		/* DANE-TA reference names: the base domain, the MX name
		 * when a CNAME led elsewhere (RFC 7672 3.2.3), the domain. */
		const char *names[3] = { base, j->domain, h->name };
		dane_info_t info;
		dane_result_t r = dane_verify(t->recs, t->n,
		    oa_chain(s), names, base == h->name ? 2 : 3, time(NULL),
		    &info);

		switch (r) {
		case DANE_MATCH:
			oa_dane_log(j, base, "secure", OA_DANE_MATCH, &info);
			oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_SUCCESS, h->name,
			    NULL);
			j->auth = 1;
			oa_decide(j, NULL, SRC_DANE, info.usage == 3 ?
			    "Verified dane=ee" : "Verified dane=ta");
			return;
		case DANE_NONE_USABLE:
			/* TLS was the whole demand. */
			oa_dane_log(j, base, "secure", OA_DANE_UNUSABLE,
			    &info);
			oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_TLSA_INVALID,
			    h->name, "no usable TLSA record");
			oa_decide(j, NULL, SRC_DANE,
			    "TLSA unusable, encrypted");
			return;
		default:
			oa_dane_log(j, base, "secure", OA_DANE_NOMATCH,
			    &info);
			/* dane.c's reasons: only the DANE-TA name check says
			 * which kind; the rest is a plain mismatch. */
			oa_rpt(j, TLSRPT_POLICY_TLSA, info.reason != NULL &&
			    strstr(info.reason, "reference name") != NULL ?
			    TLSRPT_CERT_HOST_MISMATCH :
			    TLSRPT_VALIDATION_FAILURE, h->name, info.reason);
			oa_decide(j, R_DANE_NOMATCH, SRC_DANE,
			    info.reason != NULL ? info.reason : "no match");
			return;
		}
	}
}

static void
oa_mx_done(oa_job_t *j)
{
	if (--j->pending == 0)
		oa_dane_decide(j);
}

static void oa_mx_xtlsa_cb(void *arg, const dns_result_t *r);

static void
oa_mx_addrs_cb(void *arg, dns_status_t st, int secure,
    const struct sockaddr_storage *addrs, size_t n, const char *expanded)
{
	oa_mx_t *m = arg;
	oa_job_t *j = m->job;
	char q[DNSMSG_NAME_TEXT_MAX + 16];

	m->aq = NULL;
	m->astatus = st;
	m->asecure = st == DNS_OK && secure;
	for (size_t i = 0; i < n; i++)
		if (oa_addr_eq((const struct sockaddr *)&addrs[i],
		    (const struct sockaddr *)&j->s->dest))
			m->has_dest = 1;
	/* Secure all the way through a CNAME chain: the expanded name is
	 * the preferred TLSA base domain (RFC 7672 2.2.2). A TLSA query
	 * that cannot be asked leaves the MX name's alone in use. */
	if (m->asecure && expanded != NULL &&
	    strcasecmp(expanded, m->name) != 0 &&
	    (size_t)snprintf(q, sizeof(q), "_25._tcp.%s", expanded) <
	    sizeof(q) && (m->xtq = oa_lookup(j->s, q, DNSMSG_TYPE_TLSA,
	    oa_mx_xtlsa_cb, m)) != NULL) {
		snprintf(m->xname, sizeof(m->xname), "%s", expanded);
		j->pending++;
	}
	oa_mx_done(j);
}

/* A TLSA answer of MX host m into t (its lookup *q ends). */
static void
oa_mx_tlsa_in(oa_mx_t *m, oa_tlsa_t *t, dns_lookup_t **q,
    const dns_result_t *r)
{
	*q = NULL;
	if (oa_tlsa_copy(t, r) == -1)
		t->status = DNS_ERROR;
	oa_mx_done(m->job);
}

static void
oa_mx_xtlsa_cb(void *arg, const dns_result_t *r)
{
	oa_mx_t *m = arg;

	oa_mx_tlsa_in(m, &m->xtlsa, &m->xtq, r);
}

static void
oa_mx_tlsa_cb(void *arg, const dns_result_t *r)
{
	oa_mx_t *m = arg;

	oa_mx_tlsa_in(m, &m->tlsa, &m->tq, r);
}

/* Starts the address and TLSA lookups of MX host i. */
static int
oa_mx_lookup(oa_job_t *j, oa_mx_t *m)
{
	char q[DNSMSG_NAME_TEXT_MAX + 16];

	m->job = j;
	snprintf(q, sizeof(q), "_25._tcp.%s", m->name);
	m->aq = oa_addrs(j->s, m->name, 25, oa_mx_addrs_cb, m);
	m->tq = oa_lookup(j->s, q, DNSMSG_TYPE_TLSA, oa_mx_tlsa_cb,
	    m);
	if (m->aq == NULL || m->tq == NULL) {
		/* Neither callback may count down the job's lookups. */
		dns_addrs_cancel(m->aq);
		dns_cancel(m->tq);
		m->aq = NULL;
		m->tq = NULL;
		return -1;
	}
	j->pending += 2;
	return 0;
}

static int
oa_mx_cmp(const void *a, const void *b)
{
	const dnsmsg_rr_t *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

static void
oa_mx_cb(void *arg, const dns_result_t *r)
{
	oa_job_t *j = arg;
	dnsmsg_rr_t rrs[DNSMSG_RR_MAX];
	unsigned n = 0, i;

	j->mxq = NULL;
	switch (r->status) {
	case DNS_SERVFAIL:
		oa_dane_log(j, "-", "bogus", OA_DANE_BOGUS, NULL);
		oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_DNSSEC_INVALID, NULL,
		    "MX lookup SERVFAIL");
		oa_decide(j, R_DANE_BOGUS, SRC_DANE, "MX lookup SERVFAIL");
		return;
	case DNS_TIMEOUT:
		oa_dane_log(j, "-", "timeout", OA_DANE_TIMEOUT, NULL);
		oa_decide(j, R_LOOKUP_TIMEOUT, SRC_DANE, "MX lookup timed out");
		return;
	case DNS_ERROR:
		oa_dane_log(j, "-", "error", OA_DANE_ERROR, NULL);
		oa_decide(j, R_LOOKUP_FAILED, SRC_DANE, "MX lookup failed");
		return;
	default:
		if ((r->status == DNS_OK || r->status == DNS_NODATA) &&
		    r->secure)
			break;
		/* Insecure MX RRset, or no such domain: no DANE. */
		oa_dane_log(j, "-", "insecure", OA_DANE_NONE, NULL);
		oa_sts_start(j);
		return;
	}
	if (r->status == DNS_NODATA) {
		/* No MX: the domain itself is the implicit MX (RFC 5321 5.1). */
		snprintf(j->mx[0].name, sizeof(j->mx[0].name), "%s",
		    j->domain);
		j->nmx = 1;
	} else {
		memcpy(rrs, r->ans->rr, r->ans->nrr * sizeof(rrs[0]));
		n = r->ans->nrr;
		qsort(rrs, n, sizeof(rrs[0]), oa_mx_cmp);
		for (i = 0; i < n && j->nmx < OA_MX_MAX; i++) {
			oa_mx_t *m = &j->mx[j->nmx];

			/* "0 ." (RFC 7505, null MX) has no name. */
			if (dnsmsg_name_text(rrs[i].name, rrs[i].name_len,
			    m->name, sizeof(m->name)) <= 0 ||
			    strcmp(m->name, ".") == 0)
				continue;
			j->nmx++;
		}
		if (j->nmx == 0) {
			oa_dane_log(j, "-", "none", OA_DANE_NONE, NULL);
			oa_sts_start(j);
			return;
		}
	}
	for (i = 0; i < (unsigned)j->nmx; i++)
		if (oa_mx_lookup(j, &j->mx[i]) == -1) {
			/* A name dns cannot ask for: decide on the others
			 * once they are in, this one counts as failed. */
			j->mx[i].astatus = DNS_ERROR;
			j->mx[i].tlsa.status = DNS_ERROR;
		}
	if (j->pending == 0)
		oa_dane_decide(j);
}

/* MTA-STS ------------------------------------------------------------- */

static void
oa_sts_count(session_t *s, sts_mode_t mode, policy_outcome_t o)
{
	STATS_INC(s->px->stats->sts_decisions[mode][o]);
}

/* What a failed fetch, with no cached policy to fall back on, is in
 * RFC 8460's terms (4.3.2.1). */
static tlsrpt_result_t
oa_sts_fetch_result(stsfetch_result_t f)
{
	switch (f) {
	case STSFETCH_POLICY_INVALID:
		return TLSRPT_STS_INVALID;
	case STSFETCH_CERT:
		return TLSRPT_STS_WEBPKI_INVALID;
	default:
		return TLSRPT_STS_FETCH_ERROR;
	}
}

/* tls = dane with no secure TLSA: nothing else will do. */
static void
oa_dane_required(oa_job_t *j)
{
	oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_DANE_REQUIRED, j->s->dest_name,
	    "tls = dane, no secure TLSA");
	oa_decide(j, R_DANE_REQUIRED, SRC_CONFIG,
	    "tls = dane, no secure TLSA");
}

static void
oa_sts_cb(void *arg, const mtasts_result_t *r)
{
	oa_job_t *j = arg;
	session_t *s = j->s;
	policy_outcome_t o = POLICY_OK;
	tlsrpt_result_t rr = TLSRPT_SUCCESS;
	X509 *leaf;
	char why[96];

	j->stsq = NULL;
	if (!r->have_policy || r->policy->mode == STS_MODE_NONE) {
		if (j->pol != NULL && j->pol->tls == OUT_TLS_DANE) {
			oa_dane_required(j);
			return;
		}
		if (!r->have_policy && r->fetched &&
		    r->fetch_result != STSFETCH_OK)
			/* A record, but no policy could be had. */
			oa_rpt(j, TLSRPT_POLICY_STS,
			    oa_sts_fetch_result(r->fetch_result),
			    s->dest_name, r->why);
		else if (!r->temporary)
			oa_rpt_none(j);
		oa_decide(j, NULL, SRC_CONFIG, "no published policy");
		return;
	}
	if (!s->tls) {
		o = POLICY_NO_TLS;
		rr = TLSRPT_STARTTLS_NOT_SUPPORTED;
	} else if (!s->verified ||
	    (leaf = SSL_get_peer_certificate(s->server->ssl)) == NULL) {
		o = POLICY_NOT_VERIFIED;
		rr = SSL_get_verify_result(s->server->ssl) ==
		    X509_V_ERR_CERT_HAS_EXPIRED ? TLSRPT_CERT_EXPIRED :
		    TLSRPT_CERT_NOT_TRUSTED;
	} else {
		if (!sts_cert_matches(r->policy, leaf)) {
			o = POLICY_NOT_VERIFIED;
			rr = TLSRPT_CERT_HOST_MISMATCH;
		}
		X509_free(leaf);
	}
	oa_sts_count(s, r->policy->mode, o);
	snprintf(why, sizeof(why), "mode=%s id=%s %s",
	    sts_mode_name(r->policy->mode), r->id,
	    o == POLICY_OK ? "certificate matches" :
	    o == POLICY_NO_TLS ? "no TLS" : !s->verified ?
	    "certificate not trusted" : "no mx pattern matches");
	if (j->pol == NULL || j->pol->tls != OUT_TLS_DANE) {
		/* testing mode reports its failures too: that is what it is
		 * for (RFC 8461 5). */
		outbound_rpt_sts(j->rpt, r->policy);
		oa_rpt(j, TLSRPT_POLICY_STS, rr, s->dest_name,
		    o == POLICY_OK ? NULL : why);
	}
	/* A matching certificate authenticates the upstream for REQUIRETLS
	 * in testing mode as well (the check is enforce's); a failing one
	 * does not, so a REQUIRETLS message meets a testing policy as an
	 * enforce one (550 5.7.30 in oa_decide). */
	j->auth = o == POLICY_OK;
	if (r->policy->mode == STS_MODE_TESTING || o == POLICY_OK) {
		/* testing: decided, logged and counted, never refused. */
		if (j->pol != NULL && j->pol->tls == OUT_TLS_DANE) {
			j->auth = 0;
			oa_dane_required(j);
			return;
		}
		oa_decide(j, NULL, SRC_STS, why);
		return;
	}
	if (j->pol != NULL && j->pol->tls == OUT_TLS_DANE)
		oa_rpt(j, TLSRPT_POLICY_TLSA, TLSRPT_DANE_REQUIRED,
		    s->dest_name, "tls = dane, no secure TLSA");
	oa_decide(j, o == POLICY_NO_TLS ? R_STS_NO_TLS : R_STS_NOMATCH,
	    SRC_STS, why);
}

static void
oa_sts_start(oa_job_t *j)
{
	if (j->pol != NULL && j->pol->tls == OUT_TLS_DANE) {
		oa_dane_required(j);
		return;
	}
	if (!j->want_sts) {
		oa_rpt_none(j);
		oa_decide(j, NULL, SRC_CONFIG, "no DANE");
		return;
	}
	j->stsq = mtasts_get(j->s->px, j->domain, j->s->lc->mark, oa_sts_cb,
	    j);
	if (j->stsq == NULL)
		oa_decide(j, NULL, SRC_STS, "no MTA-STS lookup possible");
}

/* RCPT ---------------------------------------------------------------- */

static void
oa_operator(session_t *s, const config_policy_t *p, policy_outcome_t *o)
{
	policy_facts_t f = { s->tls, s->verified || s->dane_ok,
		outbound_matches, s->server->ssl };

	*o = policy_check(p, &f);
	STATS_INC(s->px->stats->policy[s->rt->domain_slot[p -
	    s->rt->cfg->policies]][*o]);
	log_event(*o == POLICY_OK ? LOG_INFO : LOG_WARN, "policy", "session",
	    s->id, "domain", p->domain, "source", "config", "demand",
	    p->tls == OUT_TLS_VERIFY ? "verify" : p->tls == OUT_TLS_MAY ?
	    "may" : p->tls == OUT_TLS_DANE ? "dane" : "encrypt", "verify",
	    policy_verify_name(outbound_verify(s)), "outcome",
	    policy_outcome_name(*o), NULL);
}

int
outbound_auth_rcpt(session_t *s, const smtp_cmd_info_t *ci,
    const uint8_t *text)
{
	const uint8_t *args = text + ci->arg_off, *dom;
	size_t len = ci->arg_len, domlen;
	const config_policy_t *p = NULL;
	const config_listener_t *lc = s->lc;
	int transparent = lc->out_mode == OUT_MODE_TRANSPARENT;
	int want_dane, want_sts;
	oa_state_t *st;
	const oa_memo_t *m;
	oa_job_t *j;
	policy_outcome_t o;
	uint8_t wire[DNSMSG_NAME_MAX];
	size_t wlen;

	want_dane = transparent && lc->dane;
	want_sts = transparent && lc->mta_sts;
	if (s->rt->cfg->npolicies == 0 && !want_dane && !want_sts)
		return oa_requiretls_refused(s, NULL, 0);
	if (smtp_addr_domain(args, len, &dom, &domlen) == -1) {
		/* No domain (<postmaster>) has no policy; an address whose
		 * domain cannot be read might be hiding one. */
		if (memchr(args, '@', len) == NULL)
			return oa_requiretls_refused(s, NULL, 0);
		session_local(s, R_RCPT_SYNTAX);
		return 1;
	}
	if ((p = policy_find(s->rt->cfg, dom, domlen)) != NULL &&
	    p->tls != OUT_TLS_DANE) {
		/* The operator's word, alone. */
		oa_operator(s, p, &o);
		if (o == POLICY_NO_TLS)
			session_local(s, R_POL_NO_TLS);
		else if (o == POLICY_NOT_VERIFIED)
			session_local(s, R_POL_NOT_VERIFIED);
		else
			/* verify met: the certificate names one of the
			 * section's match names. */
			return oa_requiretls_refused(s, p->domain,
			    p->tls == OUT_TLS_VERIFY);
		return 1;
	}
	if (p != NULL) {
		/* tls = dane: TLS first, then DANE decides. */
		oa_operator(s, p, &o);
		if (o != POLICY_OK) {
			session_local(s, R_POL_NO_TLS);
			return 1;
		}
		if (!transparent) {
			/* Behind a relay, the relay's own DANE check is
			 * what there is. */
			if (s->dane_ok)
				return 0;
			session_local(s, R_DANE_REQUIRED);
			return 1;
		}
		want_dane = 1;
	}
	if (!want_dane && !want_sts)
		return oa_requiretls_refused(s, NULL, 0);
	/* Only a host name can be looked up: an address literal or a
	 * U-label domain has no published policy the proxy can find. */
	if (dom[0] == '[' || dnsmsg_name_from_text((const char *)dom, domlen,
	    wire, &wlen) == -1) {
		if (p != NULL) {
			session_local(s, R_DANE_REQUIRED);
			return 1;
		}
		return oa_requiretls_refused(s, NULL, 0);
	}
	if ((st = oa_state(s)) == NULL)
		goto oom;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto oom;
	j->s = s;
	dnsmsg_name_text(wire, wlen, j->domain, sizeof(j->domain));
	for (char *c = j->domain; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if ((m = oa_memo_find(st, j->domain)) != NULL) {
		const char *reply = m->reply;

		free(j);
		if (reply == NULL)
			return oa_requiretls_refused(s, m->domain, m->auth);
		session_local(s, reply);
		return 1;
	}
	memcpy(j->line, text, ci->arg_off + ci->arg_len);
	j->ci = *ci;
	j->rpt = outbound_rpt_begin(s, &st->rpt, j->domain);
	j->pol = p;
	j->want_dane = want_dane;
	j->want_sts = want_sts;
	st->job = j;
	session_enter(s, SS_POLICY_WAIT);
	/* A decision made at once (a lookup that cannot start) leaves
	 * SS_POLICY_WAIT here, and the engine's loop reads on. */
	j->sync = 1;
	if (want_dane) {
		j->mxq = oa_lookup(s, j->domain, DNSMSG_TYPE_MX,
		    oa_mx_cb, j);
		if (j->mxq == NULL) {
			oa_decide(j, R_LOOKUP_FAILED, SRC_DANE,
			    "MX lookup not possible");
			return 1;
		}
	} else
		oa_sts_start(j);
	if (st->job == j)
		j->sync = 0;
	return 1;
oom:
	session_close(s, CR_INTERNAL, "out of memory", 0);
	return 1;
}

void
outbound_auth_timeout(session_t *s)
{
	oa_state_t *st = s->dirstate;

	if (st == NULL || st->job == NULL) {
		session_enter(s, SS_COMMAND);
		return;
	}
	oa_decide(st->job, R_LOOKUP_TIMEOUT, SRC_CONFIG,
	    "policy_lookup_timeout");
}

/* Relay --------------------------------------------------------------- */

static void
oa_relay_ready(session_t *s)
{
	oa_state_t *st = s->dirstate;
	const config_listener_t *lc = s->lc;

	if (--st->relay_pending > 0)
		return;
	if (st->relay_astatus != DNS_OK) {
		log_event(LOG_WARN, "relay_dns", "session", s->id, "relay",
		    lc->relay.host, "result", dns_status_name(st->relay_astatus),
		    NULL);
		session_reply(s, R_RELAY_DNS);
		session_close(s, CR_CONNECT_FAILED, "relay name lookup failed",
		    1);
		session_kick(s);
		return;
	}
	if (lc->relay_dane) {
		oa_tlsa_t *t = &st->relay_tlsa;
		oa_dane_t r = OA_DANE_NONE;
		const char *reply = NULL;

		if (t->status == DNS_SERVFAIL) {
			r = OA_DANE_BOGUS;
			reply = R_RELAY_BOGUS;
		} else if (t->status == DNS_TIMEOUT) {
			r = OA_DANE_TIMEOUT;
			reply = R_RELAY_TIMEOUT;
		} else if (t->status == DNS_ERROR) {
			r = OA_DANE_ERROR;
			reply = R_RELAY_TIMEOUT;
		} else if (t->status == DNS_OK && t->secure &&
		    st->relay_asecure) {
			/* DANE applies: TLS is a must from here on. */
			s->dane_tls = 1;
		}
		if (reply != NULL || !s->dane_tls) {
			log_event(reply ? LOG_WARN : LOG_INFO, "dane",
			    "session", s->id, "relay", lc->relay.host, "tlsa",
			    t->status == DNS_OK ? (t->secure ?
			    "secure, address insecure" : "insecure") :
			    dns_status_name(t->status), "result",
			    oa_dane_names[r], NULL);
			STATS_INC(s->px->stats->dane[r]);
		}
		if (reply != NULL) {
			session_reply(s, reply);
			session_close(s, CR_TLS_REQUIRED, "relay TLSA lookup "
			    "failed", 1);
			session_kick(s);
			return;
		}
	}
	session_connect_addrs(s, st->relay_addr, st->nrelay_addr, lc->mark);
	session_kick(s);
}

static void
oa_relay_addrs_cb(void *arg, dns_status_t status, int secure,
    const struct sockaddr_storage *addrs, size_t n, const char *expanded)
{
	session_t *s = arg;
	oa_state_t *st = s->dirstate;

	(void)expanded;   /* the relay's TLSA are at the name configured */

	st->relay_aq = NULL;
	st->relay_astatus = n > 0 ? DNS_OK : status == DNS_OK ? DNS_NODATA :
	    status;
	st->relay_asecure = secure;
	if (n > SESSION_ADDRS_MAX)
		n = SESSION_ADDRS_MAX;
	if (n > 0)
		memcpy(st->relay_addr, addrs, n * sizeof(addrs[0]));
	st->nrelay_addr = n;
	oa_relay_ready(s);
}

static void
oa_relay_tlsa_cb(void *arg, const dns_result_t *r)
{
	session_t *s = arg;
	oa_state_t *st = s->dirstate;

	st->relay_tq = NULL;
	if (oa_tlsa_copy(&st->relay_tlsa, r) == -1)
		st->relay_tlsa.status = DNS_ERROR;
	oa_relay_ready(s);
}

int
outbound_auth_relay_start(session_t *s)
{
	const config_listener_t *lc = s->lc;
	oa_state_t *st;
	char q[DNSMSG_NAME_TEXT_MAX + 16];

	if (config_addr_resolved(&lc->relay) && !lc->relay_dane)
		return 0;
	if ((st = oa_state(s)) == NULL) {
		session_close(s, CR_INTERNAL, "out of memory", 0);
		return 1;
	}
	session_enter(s, SS_CONNECT);
	st->relay_pending = 1;
	if (config_addr_resolved(&lc->relay)) {
		memcpy(&st->relay_addr[0], &lc->relay.addr, lc->relay.addrlen);
		st->nrelay_addr = 1;
		st->relay_astatus = DNS_OK;
		st->relay_asecure = 0;
	} else if ((st->relay_aq = oa_addrs(s, lc->relay.host,
	    lc->relay.port, oa_relay_addrs_cb, s)) == NULL) {
		st->relay_astatus = DNS_ERROR;
	} else
		st->relay_pending++;
	if (lc->relay_dane) {
		snprintf(q, sizeof(q), "_%u._tcp.%s", lc->relay.port,
		    lc->relay.host);
		if ((st->relay_tq = oa_lookup(s, q,
		    DNSMSG_TYPE_TLSA, oa_relay_tlsa_cb, s)) == NULL)
			st->relay_tlsa.status = DNS_ERROR;
		else
			st->relay_pending++;
	}
	/* Lookups answer on later turns: this drops the starting count. */
	oa_relay_ready(s);
	return 1;
}

/*
 * After the relay's handshake: its chain against its secure TLSA records.
 * Returns NULL to go on, or the 421 to give.
 */
const char *
outbound_auth_relay_check(session_t *s)
{
	oa_state_t *st = s->dirstate;
	const char *names[1];
	dane_info_t info;
	dane_result_t r;
	oa_dane_t res;

	if (!s->dane_tls || st == NULL)
		return NULL;
	names[0] = s->lc->relay.host;
	r = dane_verify(st->relay_tlsa.recs, st->relay_tlsa.n, oa_chain(s),
	    names, 1, time(NULL), &info);
	res = r == DANE_MATCH ? OA_DANE_MATCH : r == DANE_NONE_USABLE ?
	    OA_DANE_UNUSABLE : OA_DANE_NOMATCH;
	log_event(r == DANE_NO_MATCH ? LOG_WARN : LOG_INFO, "dane", "session",
	    s->id, "relay", s->lc->relay.host, "tlsa", "secure", "result",
	    oa_dane_names[res], "dane", info.usage == 3 ? "ee" :
	    info.usage == 2 ? "ta" : "-", "why", info.reason != NULL ?
	    info.reason : "-", NULL);
	STATS_INC(s->px->stats->dane[res]);
	if (r == DANE_MATCH)
		s->dane_ok = 1;
	return r == DANE_NO_MATCH ? R_RELAY_DANE : NULL;
}

/* Transparent mode: the MX name learned for this destination, for SNI. */
void
outbound_auth_sni(session_t *s)
{
	const char *name;
	oa_state_t *st;

	if (s->lc->out_mode != OUT_MODE_TRANSPARENT ||
	    (name = outbound_sni_find(s->px,
	    (const struct sockaddr *)&s->dest)) == NULL ||
	    (st = oa_state(s)) == NULL)
		return;
	snprintf(st->sni, sizeof(st->sni), "%s", name);
	s->dest_name = st->sni;
}

/*
 * The session closes: nothing may call back into it. The state itself
 * (s->dest_name may point into it, for the closing log line) is freed
 * with the session.
 */
void
outbound_auth_release(session_t *s)
{
	oa_state_t *st = s->dirstate;

	if (st == NULL)
		return;
	oa_job_free(st->job);
	st->job = NULL;
	outbound_rpt_finish(s, &st->rpt);
	if (st->relay_aq != NULL)
		dns_addrs_cancel(st->relay_aq);
	if (st->relay_tq != NULL)
		dns_cancel(st->relay_tq);
	st->relay_aq = NULL;
	st->relay_tq = NULL;
	oa_tlsa_clear(&st->relay_tlsa);
}
