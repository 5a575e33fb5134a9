/*
 * Unit tests for proxy/dns.c: a uv loop with an in-process fake DNS server
 * on 127.0.0.1 (uv_udp, a random port) answering canned messages chosen
 * by the first label of the question: AD or not, SERVFAIL, NXDOMAIN,
 * NODATA, silence, malformed, TC. Checks status mapping, trust, the cache
 * (hits, negatives, TTL clamp and expiry), asynchrony, cancel, joining,
 * the in-flight bound, dns_addrs and the hosts file.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "dns.h"

/* The fake server ---------------------------------------------------------- */

#define FAKE_NAMES 512

/* A reply sent late (mode "tcslow"). */
typedef struct {
	uv_timer_t t;
	uv_udp_t *udp;
	struct sockaddr_storage to;
	uint8_t b[1024];
	size_t n;
	int used;
} late_t;

#define FAKE_LATE 8
#define FAKE_TCP 8
#define LATE_MS 550

typedef struct {
	uv_udp_t udp;
	uv_tcp_t tcp;             /* accepts and never answers */
	uv_tcp_t conns[FAKE_TCP];
	int nconns;
	late_t late[FAKE_LATE];
	struct sockaddr_in addr;
	char names[FAKE_NAMES][64];  /* first labels seen */
	int hits[FAKE_NAMES];
	int total;
	char buf[2048];
} fake_t;

static fake_t fake;
static uv_loop_t loop;

static int
fake_hit(const char *label)
{
	for (int i = 0; i < FAKE_NAMES; i++) {
		if (fake.names[i][0] == '\0') {
			snprintf(fake.names[i], sizeof(fake.names[i]), "%s",
			    label);
			return ++fake.hits[i];
		}
		if (strcmp(fake.names[i], label) == 0)
			return ++fake.hits[i];
	}
	return 0;
}

/* Queries the fake server received for first label (then ".test"). */
static int
hits(const char *label)
{
	for (int i = 0; i < FAKE_NAMES && fake.names[i][0] != '\0'; i++)
		if (strcmp(fake.names[i], label) == 0)
			return fake.hits[i];
	return 0;
}

typedef struct {
	uint8_t b[1024];
	size_t n;
} out_t;

static void
o8(out_t *o, unsigned v)
{
	if (o->n < sizeof(o->b))
		o->b[o->n++] = (uint8_t)v;
}

static void
o16(out_t *o, unsigned v)
{
	o8(o, v >> 8);
	o8(o, v & 0xff);
}

static void
o32(out_t *o, uint32_t v)
{
	o16(o, v >> 16);
	o16(o, v & 0xffff);
}

static void
oput(out_t *o, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		o8(o, ((const uint8_t *)p)[i]);
}

/* One answer RR owned by the question's name (pointer to offset 12). */
static void
orr(out_t *o, unsigned type, uint32_t ttl, const void *rd, size_t n)
{
	o16(o, 0xc00c);
	o16(o, type);
	o16(o, 1);
	o32(o, ttl);
	o16(o, (unsigned)n);
	oput(o, rd, n);
}

#define F_QR 0x8000
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080
#define F_AD 0x0020

static void
late_cb(uv_timer_t *t)
{
	late_t *l = t->data;
	uv_buf_t ob = uv_buf_init((char *)l->b, (unsigned)l->n);

	uv_udp_try_send(l->udp, &ob, 1, (const struct sockaddr *)&l->to);
}

static void
fake_tcp_cb(uv_stream_t *srv, int status)
{
	if (status != 0 || fake.nconns == FAKE_TCP)
		return;
	uv_tcp_init(&loop, &fake.conns[fake.nconns]);
	if (uv_accept(srv, (uv_stream_t *)&fake.conns[fake.nconns]) == 0)
		fake.nconns++;
	else
		uv_close((uv_handle_t *)&fake.conns[fake.nconns], NULL);
}

static void
fake_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *from, unsigned flags)
{
	const uint8_t *q = (const uint8_t *)buf->base;
	size_t qend = 12, n = (size_t)nread;
	char label[64];
	unsigned qtype, flags16 = F_QR | F_RD | F_RA, rcode = 0;
	out_t o;
	uv_buf_t ob;
	static const uint8_t v4[4] = { 127, 0, 0, 2 };
	static const uint8_t v6[16] = { [15] = 2 };

	(void)flags;
	if (nread <= 12 || from == NULL)
		return;
	/* The question: labels up to the root, then type and class. */
	while (qend < n && q[qend] != 0)
		qend += 1u + q[qend];
	if (qend + 5 > n || q[12] == 0 || q[12] >= sizeof(label))
		return;
	memcpy(label, q + 13, q[12]);
	label[q[12]] = '\0';
	qtype = (unsigned)(q[qend + 1] << 8 | q[qend + 2]);
	qend += 5;
	fake.total++;
	fake_hit(label);
	if (strncmp(label, "silent", 6) == 0)
		return;

	memset(&o, 0, sizeof(o));
	o16(&o, (unsigned)(q[0] << 8 | q[1]));
	if (strcmp(label, "ad") == 0 || strcmp(label, "both") == 0 ||
	    strcmp(label, "nxad") == 0)
		flags16 |= F_AD;
	if (strcmp(label, "servfail") == 0)
		rcode = 2;
	if (strcmp(label, "nx") == 0 || strcmp(label, "nxad") == 0)
		rcode = 3;
	if (strcmp(label, "tc") == 0 || strcmp(label, "tcslow") == 0)
		flags16 |= F_TC;
	o16(&o, flags16 | rcode);
	o16(&o, 1);
	if (rcode != 0 || strcmp(label, "nodata") == 0 ||
	    strcmp(label, "tc") == 0 || strcmp(label, "tcslow") == 0 ||
	    (strcmp(label, "v4only") == 0 && qtype == 28)) {
		o16(&o, 0);
	} else if (strcmp(label, "bad") == 0) {
		o16(&o, 1); /* an answer RR announced, then cut short */
	} else if (strcmp(label, "cname") == 0) {
		o16(&o, 2); /* the CNAME, then the address at its target */
	} else {
		o16(&o, 1);
	}
	o16(&o, 0);
	o16(&o, 0);
	oput(&o, q + 12, qend - 12);
	if (o.b[7] >= 1) {
		uint32_t ttl = strcmp(label, "ttl") == 0 ? 1 : 300;

		if (strcmp(label, "bad") == 0) {
			o16(&o, 0xc00c);
			o16(&o, qtype);
		} else if (strcmp(label, "cname") == 0) {
			static const uint8_t target[] = "\006Target\004test";
			size_t at = o.n + 12;   /* the CNAME's rdata */

			orr(&o, 5, ttl, target, sizeof(target));
			o16(&o, 0xc000 | (unsigned)at);
			o16(&o, qtype);
			o16(&o, 1);
			o32(&o, ttl);
			o16(&o, qtype == 28 ? 16 : 4);
			if (qtype == 28)
				oput(&o, v6, sizeof(v6));
			else
				oput(&o, v4, sizeof(v4));
		} else if (qtype == 28)
			orr(&o, 28, ttl, v6, sizeof(v6));
		else
			orr(&o, qtype, ttl, v4, sizeof(v4));
	}
	if (strcmp(label, "tcslow") == 0) {
		for (int i = 0; i < FAKE_LATE; i++) {
			late_t *l = &fake.late[i];

			if (l->used)
				continue;
			l->used = 1;
			l->udp = h;
			memcpy(&l->to, from, sizeof(struct sockaddr_in));
			memcpy(l->b, o.b, o.n);
			l->n = o.n;
			uv_timer_init(&loop, &l->t);
			l->t.data = l;
			uv_timer_start(&l->t, late_cb, LATE_MS, 0);
			break;
		}
		return;
	}
	ob = uv_buf_init((char *)o.b, (unsigned)o.n);
	uv_udp_try_send(h, &ob, 1, from);
}

static void
fake_alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	(void)h;
	(void)size;
	*buf = uv_buf_init(fake.buf, sizeof(fake.buf));
}

static void
fake_start(void)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	/*
	 * The same port over UDP and TCP (a retry after TC connects and
	 * waits). The UDP port is the kernel's choice; another process may
	 * hold it over TCP, so a few ports are tried.
	 */
	for (int tries = 0;; tries++) {
		memset(&fake, 0, sizeof(fake));
		uv_ip4_addr("127.0.0.1", 0, &fake.addr);
		CHECK(uv_udp_init(&loop, &fake.udp) == 0);
		CHECK(uv_udp_bind(&fake.udp, (const struct sockaddr *)&fake.addr,
		    0) == 0);
		len = sizeof(ss);
		uv_udp_getsockname(&fake.udp, (struct sockaddr *)&ss, &len);
		fake.addr.sin_port = ((struct sockaddr_in *)&ss)->sin_port;
		CHECK(uv_tcp_init(&loop, &fake.tcp) == 0);
		if (uv_tcp_bind(&fake.tcp, (const struct sockaddr *)&fake.addr,
		    0) == 0 && uv_listen((uv_stream_t *)&fake.tcp, 8,
		    fake_tcp_cb) == 0)
			break;
		uv_close((uv_handle_t *)&fake.tcp, NULL);
		uv_close((uv_handle_t *)&fake.udp, NULL);
		uv_run(&loop, UV_RUN_NOWAIT);
		CHECK(tries < 20);
		if (tries >= 20)
			return;
	}
	CHECK(uv_udp_recv_start(&fake.udp, fake_alloc_cb, fake_recv_cb) == 0);
}

static void
noop_close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
fake_stop(void)
{
	uv_close((uv_handle_t *)&fake.udp, noop_close_cb);
	uv_close((uv_handle_t *)&fake.tcp, noop_close_cb);
	for (int i = 0; i < fake.nconns; i++)
		uv_close((uv_handle_t *)&fake.conns[i], noop_close_cb);
	for (int i = 0; i < FAKE_LATE; i++)
		if (fake.late[i].used)
			uv_close((uv_handle_t *)&fake.late[i].t,
			    noop_close_cb);
}

/* Harness ------------------------------------------------------------------ */

static _Atomic uint64_t counts[DNS_QT_COUNT][DNS_STATUS_COUNT];
static int in_lookup;         /* set around dns_lookup calls */

typedef struct {
	int calls;
	int inside;               /* a call came from inside dns_lookup */
	dns_status_t status;
	int secure, cached;
	unsigned nrr;
	uint8_t addr[16];
	char error[64];
	uint64_t at;              /* loop ms of the call */
} got_t;

static void
got_cb(void *arg, const dns_result_t *r)
{
	got_t *g = arg;

	g->calls++;
	g->inside |= in_lookup;
	g->status = r->status;
	g->secure = r->secure;
	g->cached = r->cached;
	g->nrr = r->ans != NULL ? r->ans->nrr : 0;
	if (r->ans != NULL && r->ans->nrr > 0 && r->ans->rr[0].len <= 16)
		memcpy(g->addr, dnsmsg_rr_data(r->ans, &r->ans->rr[0]),
		    r->ans->rr[0].len);
	snprintf(g->error, sizeof(g->error), "%s",
	    r->error != NULL ? r->error : "");
	g->at = uv_now(&loop);
}

static dns_lookup_t *
lookup(dns_t *d, const char *name, uint16_t qtype, got_t *g)
{
	dns_lookup_t *l;

	in_lookup = 1;
	l = dns_lookup(d, name, qtype, got_cb, g);
	in_lookup = 0;
	return l;
}

static void
stop_cb(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* Runs the loop until *calls reaches want or ms pass. */
static void
run_until(const int *calls, int want, uint64_t ms)
{
	uv_timer_t t;
	int expired = 0;

	uv_timer_init(&loop, &t);
	t.data = &expired;
	uv_timer_start(&t, stop_cb, ms, 0);
	while (!expired && (calls == NULL || *calls < want))
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, noop_close_cb);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static char hosts_file[64];

static dns_t *
resolver(uint64_t timeout_ms)
{
	dns_config_t cfg;
	char err[128];
	dns_t *d;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(&cfg.server, &fake.addr, sizeof(fake.addr));
	cfg.server_len = sizeof(fake.addr);
	cfg.timeout_ms = timeout_ms;
	snprintf(cfg.hosts_path, sizeof(cfg.hosts_path), "%s", hosts_file);
	d = dns_new(&loop, &cfg, counts, err, sizeof(err));
	CHECK(d != NULL);
	return d;
}

static void
setup(void)
{
	CHECK(uv_loop_init(&loop) == 0);
	fake_start();
	memset(counts, 0, sizeof(counts));
}

/* Frees d and the server; every handle must be closed (nothing leaks). */
static void
teardown(dns_t *d)
{
	dns_free(d);
	fake_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* Tests ---------------------------------------------------------------------- */

static void
test_statuses(void)
{
	static const struct {
		const char *name;
		dns_status_t status;
		int secure;
		unsigned nrr;
	} cases[] = {
		{ "ad.test", DNS_OK, 1, 1 },
		{ "noad.test", DNS_OK, 0, 1 },
		{ "servfail.test", DNS_SERVFAIL, 0, 0 },
		{ "nx.test", DNS_NXDOMAIN, 0, 0 },
		{ "nxad.test", DNS_NXDOMAIN, 1, 0 },
		{ "nodata.test", DNS_NODATA, 0, 0 },
		{ "bad.test", DNS_ERROR, 0, 0 },
	};
	got_t g[sizeof(cases) / sizeof(cases[0])];
	int calls = 0;
	dns_t *d;

	setup();
	d = resolver(2000);
	CHECK(dns_trusted(d));
	memset(g, 0, sizeof(g));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(lookup(d, cases[i].name, DNSMSG_TYPE_A, &g[i]) != NULL);
	for (;;) {
		calls = 0;
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			calls += g[i].calls;
		if (calls == (int)(sizeof(cases) / sizeof(cases[0])))
			break;
		run_until(NULL, 0, 50);
		if (uv_now(&loop) > 10000)
			break;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (g[i].status != cases[i].status)
			fprintf(stderr, "%s: %s (%s)\n", cases[i].name,
			    dns_status_name(g[i].status), g[i].error);
		CHECK_EQ_INT(g[i].calls, 1);
		CHECK_EQ_INT(g[i].inside, 0);
		CHECK_EQ_INT(g[i].status, cases[i].status);
		CHECK_EQ_INT(g[i].secure, cases[i].secure);
		CHECK_EQ_INT(g[i].nrr, cases[i].nrr);
		CHECK_EQ_INT(g[i].cached, 0);
	}
	CHECK(memcmp(g[0].addr, "\x7f\x00\x00\x02", 4) == 0);
	CHECK(g[6].error[0] != '\0');
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_OK], 2);
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_SERVFAIL], 1);
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_NXDOMAIN], 2);
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_NODATA], 1);
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_ERROR], 1);
	teardown(d);
}

/* AD from a resolver whose path is not trusted is never believed. */
static void
test_untrusted(void)
{
	dns_config_t cfg;
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg.server;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg.server;
	const char *why = NULL;
	got_t g;
	dns_t *d;

	memset(&cfg, 0, sizeof(cfg));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.53", &sin->sin_addr);
	CHECK_EQ_INT(dns_config_trusted(&cfg, &why), 0);
	CHECK(strcmp(why, "not-loopback") == 0);
	cfg.trust_ad = 1;
	CHECK_EQ_INT(dns_config_trusted(&cfg, &why), 1);
	CHECK(strcmp(why, "dns_trust_ad") == 0);
	inet_pton(AF_INET, "127.0.0.53", &sin->sin_addr);
	cfg.trust_ad = 0;
	CHECK_EQ_INT(dns_config_trusted(&cfg, &why), 1);
	CHECK(strcmp(why, "loopback") == 0);
	memset(&cfg, 0, sizeof(cfg));
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &sin6->sin6_addr);
	CHECK(dns_is_loopback((struct sockaddr *)sin6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6->sin6_addr);
	CHECK(dns_is_loopback((struct sockaddr *)sin6));
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &sin6->sin6_addr);
	CHECK(!dns_is_loopback((struct sockaddr *)sin6));
	inet_pton(AF_INET6, "2001:db8::1", &sin6->sin6_addr);
	CHECK(!dns_is_loopback((struct sockaddr *)sin6));

	/* The fake server stands in for one on another host. */
	setup();
	d = resolver(2000);
	dns_set_trusted_for_test(d, 0);
	memset(&g, 0, sizeof(g));
	lookup(d, "ad.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_OK);
	CHECK_EQ_INT(g.secure, 0);
	teardown(d);
}

static void
test_timeout(void)
{
	got_t g;
	dns_t *d;
	uint64_t t0;

	setup();
	d = resolver(300);
	memset(&g, 0, sizeof(g));
	uv_update_time(&loop);
	t0 = uv_now(&loop);
	lookup(d, "silent.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.calls, 1);
	CHECK_EQ_INT(g.status, DNS_TIMEOUT);
	/* Within the configured whole-lookup timeout (and not long before:
	 * c-ares tried twice). */
	CHECK(g.at - t0 <= 300 + 150);
	CHECK(g.at - t0 >= 200);
	CHECK_EQ_INT(hits("silent"), 2);
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_TIMEOUT], 1);
	/* A timeout is not cached. */
	memset(&g, 0, sizeof(g));
	lookup(d, "silent.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_TIMEOUT);
	CHECK_EQ_INT(hits("silent"), 4);
	teardown(d);
}

/*
 * TC over UDP: c-ares retries over TCP, where the fake server accepts and
 * never answers. "tcslow" sends its TC late (LATE_MS, just before the
 * second UDP try ends), so that the TCP try c-ares then starts would end
 * well after the configured timeout: our own deadline ends the lookup.
 */
static void
test_truncated(void)
{
	got_t g;
	dns_t *d;
	uint64_t t0;

	setup();
	d = resolver(600);
	memset(&g, 0, sizeof(g));
	uv_update_time(&loop);
	t0 = uv_now(&loop);
	lookup(d, "tc.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.calls, 1);
	CHECK_EQ_INT(g.status, DNS_TIMEOUT);
	CHECK(fake.nconns >= 1);          /* it did go over TCP */
	memset(&g, 0, sizeof(g));
	uv_update_time(&loop);
	t0 = uv_now(&loop);
	lookup(d, "tcslow.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_TIMEOUT);
	CHECK(g.at - t0 <= 600 + 150);
	/* After the late TC: c-ares moved to TCP by then. */
	run_until(NULL, 0, LATE_MS - 600 + 200);
	CHECK(fake.nconns >= 2);
	teardown(d);
}

static void
test_cache(void)
{
	got_t g1, g2, g3;
	dns_t *d;

	setup();
	d = resolver(2000);
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	memset(&g3, 0, sizeof(g3));
	lookup(d, "ad.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	CHECK_EQ_INT(hits("ad"), 1);
	/* Answered from the cache, still on a later loop turn; case folded. */
	CHECK(lookup(d, "AD.Test.", DNSMSG_TYPE_A, &g2) != NULL);
	CHECK_EQ_INT(g2.calls, 0);
	run_until(&g2.calls, 1, 5000);
	CHECK_EQ_INT(g2.calls, 1);
	CHECK_EQ_INT(g2.inside, 0);
	CHECK_EQ_INT(g2.cached, 1);
	CHECK_EQ_INT(g2.status, DNS_OK);
	CHECK_EQ_INT(g2.secure, 1);
	CHECK(memcmp(g2.addr, "\x7f\x00\x00\x02", 4) == 0);
	CHECK_EQ_INT(hits("ad"), 1);
	/* Cache hits are not counted as queries. */
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_OK], 1);
	/* Another type is another key. */
	lookup(d, "ad.test", DNSMSG_TYPE_AAAA, &g3);
	run_until(&g3.calls, 1, 5000);
	CHECK_EQ_INT(hits("ad"), 2);
	CHECK_EQ_INT(g3.cached, 0);

	/* Negative answers are cached; SERVFAIL is not. */
	memset(&g1, 0, sizeof(g1));
	lookup(d, "nx.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	memset(&g1, 0, sizeof(g1));
	lookup(d, "nx.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	CHECK_EQ_INT(g1.status, DNS_NXDOMAIN);
	CHECK_EQ_INT(g1.cached, 1);
	CHECK_EQ_INT(hits("nx"), 1);
	memset(&g1, 0, sizeof(g1));
	lookup(d, "nodata.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	memset(&g1, 0, sizeof(g1));
	lookup(d, "nodata.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	CHECK_EQ_INT(g1.status, DNS_NODATA);
	CHECK_EQ_INT(hits("nodata"), 1);
	for (int i = 0; i < 2; i++) {
		memset(&g1, 0, sizeof(g1));
		lookup(d, "servfail.test", DNSMSG_TYPE_A, &g1);
		run_until(&g1.calls, 1, 5000);
		CHECK_EQ_INT(g1.status, DNS_SERVFAIL);
		CHECK_EQ_INT(g1.cached, 0);
	}
	CHECK_EQ_INT(hits("servfail"), 2);
	memset(&g1, 0, sizeof(g1));
	lookup(d, "bad.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	memset(&g1, 0, sizeof(g1));
	lookup(d, "bad.test", DNSMSG_TYPE_A, &g1);
	run_until(&g1.calls, 1, 5000);
	CHECK_EQ_INT(g1.status, DNS_ERROR);
	CHECK_EQ_INT(hits("bad"), 2);
	teardown(d);
}

/* TTL 1 is kept DNS_TTL_MIN seconds, and no longer. */
static void
test_ttl(void)
{
	got_t g;
	dns_t *d;

	setup();
	d = resolver(2000);
	memset(&g, 0, sizeof(g));
	lookup(d, "ttl.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(hits("ttl"), 1);
	/* Past the record's own TTL of 1 s: still cached (the clamp). */
	run_until(NULL, 0, 1500);
	memset(&g, 0, sizeof(g));
	lookup(d, "ttl.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.cached, 1);
	CHECK_EQ_INT(hits("ttl"), 1);
	/* Past DNS_TTL_MIN: asked again. */
	run_until(NULL, 0, DNS_TTL_MIN * 1000 - 1500 + 300);
	memset(&g, 0, sizeof(g));
	lookup(d, "ttl.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.cached, 0);
	CHECK_EQ_INT(hits("ttl"), 2);
	teardown(d);
}

static void
test_cancel(void)
{
	got_t g1, g2, g3;
	dns_lookup_t *l;
	dns_t *d;

	setup();
	d = resolver(2000);
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	memset(&g3, 0, sizeof(g3));
	/* A lookup in flight, cancelled: its callback never runs, the
	 * answer still lands in the cache. */
	l = lookup(d, "ad.test", DNSMSG_TYPE_A, &g1);
	dns_cancel(l);
	run_until(NULL, 0, 300);
	CHECK_EQ_INT(g1.calls, 0);
	CHECK_EQ_INT(hits("ad"), 1);
	/* A cached answer waiting for its loop turn, cancelled. */
	l = lookup(d, "ad.test", DNSMSG_TYPE_A, &g2);
	dns_cancel(l);
	run_until(NULL, 0, 100);
	CHECK_EQ_INT(g2.calls, 0);
	/* Two lookups on one query, one cancelled: the other is answered. */
	l = lookup(d, "noad.test", DNSMSG_TYPE_A, &g1);
	lookup(d, "noad.test", DNSMSG_TYPE_A, &g3);
	dns_cancel(l);
	run_until(&g3.calls, 1, 5000);
	CHECK_EQ_INT(g1.calls, 0);
	CHECK_EQ_INT(g3.calls, 1);
	/* dns_free cancels what is left. */
	memset(&g1, 0, sizeof(g1));
	lookup(d, "silent.test", DNSMSG_TYPE_A, &g1);
	lookup(d, "ad.test", DNSMSG_TYPE_A, &g2);
	teardown(d);
	CHECK_EQ_INT(g1.calls, 0);
	CHECK_EQ_INT(g2.calls, 0);
	/* An invalid name: NULL, and no callback. */
	setup();
	d = resolver(2000);
	memset(&g1, 0, sizeof(g1));
	CHECK(lookup(d, "bad name.test", DNSMSG_TYPE_A, &g1) == NULL);
	CHECK(lookup(d, "a..test", DNSMSG_TYPE_A, &g1) == NULL);
	run_until(NULL, 0, 50);
	CHECK_EQ_INT(g1.calls, 0);
	teardown(d);
}

static void
test_join(void)
{
	got_t g1, g2;
	dns_t *d;

	setup();
	d = resolver(2000);
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	lookup(d, "noad.test", DNSMSG_TYPE_A, &g1);
	lookup(d, "NOAD.test", DNSMSG_TYPE_A, &g2);
	run_until(&g2.calls, 1, 5000);
	run_until(&g1.calls, 1, 5000);
	CHECK_EQ_INT(g1.calls, 1);
	CHECK_EQ_INT(g2.calls, 1);
	CHECK_EQ_INT(g1.status, DNS_OK);
	CHECK_EQ_INT(g2.status, DNS_OK);
	CHECK_EQ_INT(g2.cached, 0);
	CHECK_EQ_INT(hits("noad"), 1);
	CHECK_EQ_INT(counts[DNS_QT_A][DNS_OK], 1);
	teardown(d);
}

/* Past DNS_INFLIGHT_MAX queries a new name fails at once ("busy"), on a
 * later turn; a name in flight still joins. */
static void
test_inflight_bound(void)
{
	static got_t g[DNS_INFLIGHT_MAX];
	got_t busy, join;
	char name[64];
	dns_t *d;
	int done = 0;

	setup();
	d = resolver(600);
	memset(g, 0, sizeof(g));
	memset(&busy, 0, sizeof(busy));
	memset(&join, 0, sizeof(join));
	for (int i = 0; i < DNS_INFLIGHT_MAX; i++) {
		snprintf(name, sizeof(name), "silent%d.test", i);
		CHECK(lookup(d, name, DNSMSG_TYPE_A, &g[i]) != NULL);
	}
	CHECK(lookup(d, "ad.test", DNSMSG_TYPE_A, &busy) != NULL);
	CHECK(lookup(d, "silent0.test", DNSMSG_TYPE_A, &join) != NULL);
	CHECK_EQ_INT(busy.calls, 0);
	run_until(&busy.calls, 1, 5000);
	CHECK_EQ_INT(busy.calls, 1);
	CHECK_EQ_INT(busy.inside, 0);
	CHECK_EQ_INT(busy.status, DNS_ERROR);
	CHECK(strcmp(busy.error, "busy") == 0);
	CHECK_EQ_INT(g[0].calls, 0);
	CHECK_EQ_INT(hits("ad"), 0);
	run_until(&join.calls, 1, 5000);
	CHECK_EQ_INT(join.status, DNS_TIMEOUT);
	run_until(NULL, 0, 200);
	for (int i = 0; i < DNS_INFLIGHT_MAX; i++)
		done += g[i].calls == 1 && g[i].status == DNS_TIMEOUT;
	CHECK_EQ_INT(done, DNS_INFLIGHT_MAX);
	/* Room again. */
	memset(&busy, 0, sizeof(busy));
	lookup(d, "ad.test", DNSMSG_TYPE_A, &busy);
	run_until(&busy.calls, 1, 5000);
	CHECK_EQ_INT(busy.status, DNS_OK);
	teardown(d);
}

typedef struct {
	int calls;
	dns_status_t status;
	int secure;
	size_t n;
	struct sockaddr_storage a[DNS_ADDRS_MAX];
	char expanded[DNSMSG_NAME_TEXT_MAX];  /* "" for NULL */
} gota_t;

static void
gota_cb(void *arg, dns_status_t status, int secure,
    const struct sockaddr_storage *addrs, size_t n, const char *expanded)
{
	gota_t *g = arg;

	snprintf(g->expanded, sizeof(g->expanded), "%s",
	    expanded != NULL ? expanded : "");
	g->calls++;
	g->status = status;
	g->secure = secure;
	g->n = n;
	memcpy(g->a, addrs, n * sizeof(*addrs));
}

static int
is_addr(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	char buf[64];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		return strcmp(buf, ip) == 0 && ntohs(sin->sin_port) == port;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
		return strcmp(buf, ip) == 0 && ntohs(sin6->sin6_port) == port;
	}
	return 0;
}

static void
test_addrs(void)
{
	gota_t g;
	dns_addrs_t *a;
	dns_t *d;

	setup();
	d = resolver(400);
	memset(&g, 0, sizeof(g));
	CHECK(dns_addrs(d, "both.test", 25, gota_cb, &g) != NULL);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.calls, 1);
	CHECK_EQ_INT(g.status, DNS_OK);
	CHECK_EQ_INT(g.secure, 1);
	CHECK_EQ_INT(g.n, 2);
	CHECK(is_addr(&g.a[0], "127.0.0.2", 25));
	CHECK(is_addr(&g.a[1], "::2", 25));
	CHECK(g.expanded[0] == '\0'); /* the name owns them */
	/* Through a CNAME: the name the addresses were found at. */
	memset(&g, 0, sizeof(g));
	CHECK(dns_addrs(d, "cname.test", 25, gota_cb, &g) != NULL);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_OK);
	CHECK_EQ_INT(g.n, 2);
	CHECK(is_addr(&g.a[0], "127.0.0.2", 25));
	CHECK(is_addr(&g.a[1], "::2", 25));
	CHECK(strcmp(g.expanded, "Target.test") == 0);
	/* One family only: OK; not secure when one answer is not. */
	memset(&g, 0, sizeof(g));
	dns_addrs(d, "v4only.test", 587, gota_cb, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_OK);
	CHECK_EQ_INT(g.secure, 0);
	CHECK_EQ_INT(g.n, 1);
	CHECK(is_addr(&g.a[0], "127.0.0.2", 587));
	/* Failures: the more telling one. */
	memset(&g, 0, sizeof(g));
	dns_addrs(d, "nx.test", 25, gota_cb, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_NXDOMAIN);
	CHECK_EQ_INT(g.n, 0);
	memset(&g, 0, sizeof(g));
	dns_addrs(d, "servfail.test", 25, gota_cb, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_SERVFAIL);
	memset(&g, 0, sizeof(g));
	dns_addrs(d, "silent.test", 25, gota_cb, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_TIMEOUT);
	/* Cancelled: never called. */
	memset(&g, 0, sizeof(g));
	a = dns_addrs(d, "noad.test", 25, gota_cb, &g);
	dns_addrs_cancel(a);
	run_until(NULL, 0, 200);
	CHECK_EQ_INT(g.calls, 0);
	CHECK(dns_addrs(d, "no way", 25, gota_cb, &g) == NULL);
	/* dns_free with one in progress: never called. */
	dns_addrs(d, "silent2.test", 25, gota_cb, &g);
	teardown(d);
	CHECK_EQ_INT(g.calls, 0);
}

static void
test_hosts(void)
{
	FILE *f;
	got_t g;
	gota_t ga;
	dns_t *d;
	int fd;

	snprintf(hosts_file, sizeof(hosts_file), "/tmp/test_dns_hostsXXXXXX");
	fd = mkstemp(hosts_file);
	CHECK(fd != -1);
	f = fdopen(fd, "w");
	fprintf(f, "# comment\n127.0.0.1 localhost\n"
	    "10.1.2.3 relay.hosts.test alias.test # hostAliases\n"
	    "fd00::9 relay.hosts.test\n"
	    "fe80::1%%eth0 scoped.test\n"
	    "10.9.9.9 ad.test\n");
	for (int i = 0; i < 3000; i++)
		fputc('x', f); /* a line over DNSFILE_LINE_MAX, skipped */
	fprintf(f, " 10.7.7.7 long.test\n10.8.8.8 after.test\n");
	fclose(f);

	setup();
	d = resolver(400);
	memset(&g, 0, sizeof(g));
	CHECK(lookup(d, "Relay.Hosts.Test", DNSMSG_TYPE_A, &g) != NULL);
	CHECK_EQ_INT(g.calls, 0);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_OK);
	CHECK_EQ_INT(g.secure, 0);          /* a file is never secure */
	CHECK_EQ_INT(g.inside, 0);
	CHECK(memcmp(g.addr, "\x0a\x01\x02\x03", 4) == 0);
	/* The hosts file wins over DNS (whose answer would be secure). */
	memset(&g, 0, sizeof(g));
	lookup(d, "ad.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.secure, 0);
	CHECK(memcmp(g.addr, "\x0a\x09\x09\x09", 4) == 0);
	memset(&g, 0, sizeof(g));
	lookup(d, "after.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK(memcmp(g.addr, "\x0a\x08\x08\x08", 4) == 0);
	memset(&g, 0, sizeof(g));
	lookup(d, "localhost", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(g.status, DNS_OK);
	CHECK(memcmp(g.addr, "\x7f\x00\x00\x01", 4) == 0);
	CHECK_EQ_INT(fake.total, 0);        /* none reached the server */
	/* Not in the file (or only on the skipped line): DNS. */
	memset(&g, 0, sizeof(g));
	lookup(d, "long.test", DNSMSG_TYPE_A, &g);
	run_until(&g.calls, 1, 5000);
	CHECK_EQ_INT(hits("long"), 1);
	memset(&ga, 0, sizeof(ga));
	dns_addrs(d, "alias.test", 25, gota_cb, &ga);
	run_until(&ga.calls, 1, 5000);
	CHECK_EQ_INT(ga.status, DNS_OK);
	CHECK_EQ_INT(ga.n, 2);        /* AAAA not in the file: from DNS */
	CHECK(is_addr(&ga.a[0], "10.1.2.3", 25));
	CHECK(is_addr(&ga.a[1], "::2", 25));
	CHECK_EQ_INT(hits("alias"), 1);
	memset(&ga, 0, sizeof(ga));
	dns_addrs(d, "relay.hosts.test", 25, gota_cb, &ga);
	run_until(&ga.calls, 1, 5000);
	CHECK_EQ_INT(ga.n, 2);
	CHECK(is_addr(&ga.a[0], "10.1.2.3", 25));
	CHECK(is_addr(&ga.a[1], "fd00::9", 25));
	CHECK_EQ_INT(ga.secure, 0);
	teardown(d);
	unlink(hosts_file);
	hosts_file[0] = '\0';
}

/* A resolver retired with a lookup in flight delivers it, then frees
 * itself (the loop ends: no handle left). */
static void
test_retire(void)
{
	got_t g1, g2;
	dns_t *d;

	setup();
	d = resolver(300);
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	lookup(d, "ad.test", DNSMSG_TYPE_A, &g1);
	lookup(d, "silent.test", DNSMSG_TYPE_A, &g2);
	dns_retire(d);
	run_until(&g2.calls, 1, 5000);
	fake_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(g1.calls, 1);
	CHECK_EQ_INT(g1.status, DNS_OK);
	CHECK_EQ_INT(g2.calls, 1);
	CHECK_EQ_INT(g2.status, DNS_TIMEOUT);
	CHECK_EQ_INT(uv_loop_close(&loop), 0);
	/* Idle: freed at once. */
	setup();
	d = resolver(300);
	dns_retire(d);
	fake_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

/* A callback may free the resolver: no other callback runs after it. */
static dns_t *free_me;

static void
free_cb(void *arg, const dns_result_t *r)
{
	(void)r;
	(*(int *)arg)++;
	dns_free(free_me);
}

static void
test_free_in_callback(void)
{
	int calls = 0;

	setup();
	free_me = resolver(1000);
	dns_lookup(free_me, "ad.test", DNSMSG_TYPE_A, free_cb, &calls);
	dns_lookup(free_me, "ad.test", DNSMSG_TYPE_A, free_cb, &calls);
	run_until(&calls, 1, 5000);
	fake_stop();
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ_INT(calls, 1);
	CHECK_EQ_INT(uv_loop_close(&loop), 0);
}

static void
test_config_default(void)
{
	char path[] = "/tmp/test_dns_resolvXXXXXX";
	dns_config_t cfg;
	char ip[64];
	FILE *f;
	int fd = mkstemp(path);

	CHECK(fd != -1);
	f = fdopen(fd, "w");
	fprintf(f, "# resolv.conf\nsearch example.com\n"
	    "nameserver fe80::1%%eth0\nnameserver 10.96.0.10\n"
	    "nameserver 1.1.1.1\noptions ndots:5\n");
	fclose(f);
	memset(&cfg, 0, sizeof(cfg));
	CHECK_EQ_INT(dns_config_default(path, &cfg), 0);
	CHECK_EQ_INT(cfg.server.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&cfg.server)->sin_addr, ip,
	    sizeof(ip));
	CHECK(strcmp(ip, "10.96.0.10") == 0);
	CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&cfg.server)->sin_port), 53);
	f = fopen(path, "w");
	fprintf(f, "nameserver ::1\n");
	fclose(f);
	CHECK_EQ_INT(dns_config_default(path, &cfg), 0);
	CHECK_EQ_INT(cfg.server.ss_family, AF_INET6);
	CHECK(dns_is_loopback((struct sockaddr *)&cfg.server));
	f = fopen(path, "w");
	fprintf(f, "search x\n");
	fclose(f);
	CHECK_EQ_INT(dns_config_default(path, &cfg), -1);
	unlink(path);
	CHECK_EQ_INT(dns_config_default("/nonexistent/resolv.conf", &cfg), -1);

	CHECK(strcmp(dns_status_name(DNS_SERVFAIL), "servfail") == 0);
	CHECK(strcmp(dns_qtype_name(dns_qtype_index(52)), "tlsa") == 0);
	CHECK(strcmp(dns_qtype_name(dns_qtype_index(2)), "ns") == 0);
	CHECK(strcmp(dns_qtype_name(dns_qtype_index(99)), "other") == 0);
}

int
main(void)
{
	RUN(test_config_default);
	RUN(test_statuses);
	RUN(test_untrusted);
	RUN(test_timeout);
	RUN(test_truncated);
	RUN(test_cache);
	RUN(test_cancel);
	RUN(test_join);
	RUN(test_inflight_bound);
	RUN(test_addrs);
	RUN(test_hosts);
	RUN(test_retire);
	RUN(test_free_in_callback);
	RUN(test_ttl);
	return CHECK_DONE();
}
