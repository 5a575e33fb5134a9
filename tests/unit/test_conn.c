/*
 * Unit tests for proxy/conn.c: two conns against each other over loopback
 * TCP in one uv loop, or a server conn and a raw BoringSSL client (memory
 * BIOs, blocking socket) on a thread for exact control of the wire. Every
 * run has a uv timer as a hard deadline; the raw client's socket has send
 * and receive timeouts and all its loops are bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "check.h"
#include "conn.h"

#define MIB ((size_t)1 << 20)
#define DEADLINE_MS 10000
#define SMALL_BUF 32768         /* SO_SNDBUF/SO_RCVBUF: the kernel holds little */
#define IO_TIMEOUT_S 5          /* the raw client's socket timeouts */
#define LOG_MAX 64
#define HOLD_MSG "250 data behind the held records\r\n"

typedef struct peer peer_t;
typedef void peer_fn(peer_t *p, conn_event_t ev);

/* The owner of one conn: records events, consumes input, sends tx. */
struct peer {
	conn_t c;
	const char *name;
	int inited, closed;
	conn_tls_role_t role;    /* TLS started on CONNECTED or on accept */
	SSL_CTX *ctx;
	int n_ev[CONN_EV_CLOSED + 1];
	int last_ev;
	char log[LOG_MAX + 1];   /* the first events, one letter each */
	int nlog;
	uint8_t *rx;             /* everything consumed, in order */
	size_t rx_len, rx_over;
	size_t step;             /* consume at most this per READ; 0: all */
	int slow;                /* no conn_fill, no conn_set_read in events */
	int full_seen, full_reading, tin_seen, read_after_eof;
	size_t rx_at_eof, rsize_at_eof;
	int shutdown_seen;       /* close_notify had come when EOF was told */
	const uint8_t *tx;
	size_t tx_len, tx_sent, chunk;
	int tx_close, close_called;
	int hold;                /* flush with conn_flush_data */
	peer_fn *hook;           /* per test, after the common handling */
	peer_fn *on_read;        /* per test, instead of the common READ */
};

static struct {
	uv_loop_t loop;
	conn_pool_t pool;
	uv_tcp_t lsn;
	uv_timer_t deadline, aux;
	void (*aux_fn)(void);
	int port, small_bufs, ended, timed_out;
	peer_t cli, srv;         /* cli connects, srv is accepted */
	SSL_CTX *sctx, *cctx, *cctx12, *rawctx;
	int tickets;             /* sessions cctx received */
	size_t expect;           /* bytes a test waits for */
} T;

/* Per-test observations, cleared by t_begin. */
static struct {
	int replied, keep, line_ok, tls_r, armed, done, eof_lost;
	int open_after, on_drain, self_closed, version, hs_window;
	size_t kept, discarded, pending_hs, pending_window, pending_after;
	int reads_hs, reads_window, reads_data, tickets_window, tickets_data;
	int pre[2], idle[2], pool_gain;
	peer_t *holder;
} V;

static uint8_t scratch[CONN_SCRATCH_SIZE];
static uint8_t A[MIB], B[MIB];          /* what is sent */
static uint8_t rxbuf[2][MIB];           /* what is received */

static void t_end(void);

static void
rand_fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 32);
	}
}

/* Bits for the buffers c still holds: 1 rbuf, 2 out, 4 tout, 8 tin. */
static int
held_mask(const conn_t *c)
{
	return (c->rbuf != NULL) | (c->out.p != NULL) << 1 |
	    (c->tout.p != NULL) << 2 | (c->tin != NULL) << 3;
}

static void
bufs_small(uv_handle_t *h)
{
	int v = SMALL_BUF;

	uv_send_buffer_size(h, &v);
	v = SMALL_BUF;
	uv_recv_buffer_size(h, &v);
}

static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	(void)sess;
	T.tickets++;
	return 0; /* not kept */
}

static SSL_CTX *
ctx_new(uint16_t min, uint16_t max)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, min) ||
	    !SSL_CTX_set_max_proto_version(ctx, max)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* The contexts; the server's with a self-signed ECDSA P-256 certificate. */
static int
make_ctxs(void)
{
	EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EVP_PKEY *pk = EVP_PKEY_new();
	X509 *x = X509_new();
	X509_NAME *nm;
	int ok = 0;

	if (ec == NULL || pk == NULL || x == NULL || !EC_KEY_generate_key(ec) ||
	    !EVP_PKEY_assign_EC_KEY(pk, ec))
		goto out;
	ec = NULL; /* pk's now */
	nm = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const uint8_t *)"test.invalid", -1, -1, 0) ||
	    !X509_set_issuer_name(x, nm) || !X509_set_pubkey(x, pk) ||
	    !X509_sign(x, pk, EVP_sha256()))
		goto out;
	T.sctx = ctx_new(TLS1_2_VERSION, TLS1_3_VERSION);
	T.cctx = ctx_new(TLS1_2_VERSION, TLS1_3_VERSION);
	T.cctx12 = ctx_new(TLS1_2_VERSION, TLS1_2_VERSION);
	T.rawctx = ctx_new(TLS1_2_VERSION, TLS1_3_VERSION);
	if (T.sctx == NULL || T.cctx == NULL || T.cctx12 == NULL ||
	    T.rawctx == NULL || !SSL_CTX_use_certificate(T.sctx, x) ||
	    !SSL_CTX_use_PrivateKey(T.sctx, pk))
		goto out;
	SSL_CTX_set_session_cache_mode(T.cctx, SSL_SESS_CACHE_CLIENT);
	SSL_CTX_sess_set_new_cb(T.cctx, on_new_session);
	ok = 1;
out:
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	X509_free(x);
	return ok ? 0 : -1;
}

/* The owner ------------------------------------------------------------ */

static void
peer_setup(peer_t *p, const char *name, conn_tls_role_t role, SSL_CTX *ctx)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->role = role;
	p->ctx = ctx;
	p->last_ev = -1;
	p->rx = rxbuf[p == &T.srv];
}

/* Sets up both ends: a client (role crole, context cctx) and a server. */
static void
pair(conn_tls_role_t crole, SSL_CTX *cctx, conn_tls_role_t srole)
{
	peer_setup(&T.cli, "cli", crole, cctx);
	peer_setup(&T.srv, "srv", srole, T.sctx);
}

/* Consumes up to max unread bytes (0: all) into rx. */
static void
peer_take(peer_t *p, size_t max)
{
	size_t n = conn_rsize(&p->c);

	if (max > 0 && n > max)
		n = max;
	if (n == 0)
		return;
	if (n > MIB - p->rx_len)
		p->rx_over += n;
	else {
		memcpy(p->rx + p->rx_len, conn_rdata(&p->c), n);
		p->rx_len += n;
	}
	conn_consume(&p->c, n);
}

static void
peer_read(peer_t *p)
{
	peer_take(p, p->step);
	if (p->slow)
		return;
	/* Like the session: decrypt what is already here, in a loop. */
	for (int i = 0; i < 256 && conn_fill(&p->c) > 0; i++)
		peer_take(p, p->step);
}

static void
peer_flush(peer_t *p)
{
	if (p->hold)
		conn_flush_data(&p->c);
	else
		conn_flush(&p->c);
}

/* Writes tx while the write queue is at most CONN_WQ_HIGH. */
static void
peer_pump(peer_t *p)
{
	conn_t *c = &p->c;

	if (p->tx == NULL || !c->open ||
	    (c->ssl != NULL ? !c->handshake_done : !c->connected))
		return;
	for (int i = 0; i < 4096 && p->tx_sent < p->tx_len &&
	    conn_pending(c) <= CONN_WQ_HIGH; i++) {
		size_t n = p->tx_len - p->tx_sent;
		if (n > p->chunk)
			n = p->chunk;
		if (conn_write(c, p->tx + p->tx_sent, n) != 0)
			break;
		p->tx_sent += n;
		peer_flush(p);
	}
	if (p->tx_sent == p->tx_len && p->tx_close && !p->close_called) {
		p->close_called = 1;
		conn_close_after_flush(c);
	}
}

static void
peer_event(conn_t *c, conn_event_t ev)
{
	peer_t *p = c->owner;
	size_t d;

	p->n_ev[ev]++;
	p->last_ev = (int)ev;
	if (p->nlog < LOG_MAX)
		p->log[p->nlog++] = "CFRHEXDZ"[ev];
	switch (ev) {
	case CONN_EV_CONNECTED:
		if (T.small_bufs)
			bufs_small((uv_handle_t *)&c->tcp);
		if (p->role != CONN_TLS_NONE && conn_start_tls(c, p->ctx,
		    p->role, "test.invalid", CONN_TLS_DISCARD, &d) != 0)
			fprintf(stderr, "%s: start_tls: %s\n", p->name, c->err);
		break;
	case CONN_EV_READ:
		if (p->n_ev[CONN_EV_EOF] > 0)
			p->read_after_eof++;
		if (conn_rsize(c) == CONN_RBUF_SIZE) {
			p->full_seen++;
			/* Held counts as off: nothing is read then. */
			p->full_reading += c->reading && !c->read_held;
		}
		if (p->on_read != NULL)
			p->on_read(p, ev);
		else
			peer_read(p);
		break;
	case CONN_EV_EOF:
		p->rx_at_eof = p->rx_len;
		p->rsize_at_eof = conn_rsize(c);
		p->shutdown_seen = c->ssl != NULL &&
		    (SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
		peer_take(p, 0);
		break;
	case CONN_EV_CONNECT_FAILED:
	case CONN_EV_ERROR:
		fprintf(stderr, "%s: %s\n", p->name, c->err);
		break;
	case CONN_EV_CLOSED:
		p->closed = 1;
		if (p->hook != NULL)
			p->hook(p, ev);
		return;
	default:
		break;
	}
	if (c->open) {
		peer_pump(p);
		peer_flush(p);
	}
	if (p->hook != NULL)
		p->hook(p, ev);
	if (c->open && !p->slow && !c->close_on_drain)
		conn_set_read(c, 1);
	if (ev == CONN_EV_ERROR || ev == CONN_EV_CONNECT_FAILED)
		t_end();
}

static void
peer_dump(const peer_t *p)
{
	const conn_t *c = &p->c;

	if (p->inited)
		fprintf(stderr, "  %s: events [%.*s] rx %zu tx %zu/%zu eof %d "
		    "reading %d hs %d failed %d wq %zu rsize %zu cin %zu "
		    "held %d err '%s'\n", p->name, p->nlog, p->log, p->rx_len,
		    p->tx_sent, p->tx_len, c->eof, c->reading,
		    c->handshake_done, c->failed, c->wq_bytes, conn_rsize(c),
		    c->clen - c->cpos, held_mask(c), c->err);
}

static int
errors(void)
{
	return T.cli.n_ev[CONN_EV_ERROR] + T.srv.n_ev[CONN_EV_ERROR];
}

/* The whole stream p received is exactly want[0..n). */
static int
got_exact(const peer_t *p, const uint8_t *want, size_t n)
{
	return p->rx_over == 0 && p->rx_len == n &&
	    memcmp(p->rx, want, n) == 0;
}

/* The harness ---------------------------------------------------------- */

static void
on_deadline(uv_timer_t *t)
{
	(void)t;
	T.timed_out = 1;
	fprintf(stderr, "deadline of %d ms passed\n", DEADLINE_MS);
	peer_dump(&T.cli);
	peer_dump(&T.srv);
	t_end();
}

static void
on_aux(uv_timer_t *t)
{
	(void)t;
	if (!T.ended && T.aux_fn != NULL)
		T.aux_fn();
}

static void
aux_start(void (*fn)(void), uint64_t ms, uint64_t repeat)
{
	if (T.ended)
		return;
	T.aux_fn = fn;
	uv_timer_start(&T.aux, on_aux, ms, repeat);
}

static void
on_accept(uv_stream_t *s, int status)
{
	peer_t *p = &T.srv;
	size_t d;

	if (status < 0 || p->inited || T.ended ||
	    conn_init(&p->c, &T.loop, p, peer_event, scratch, &T.pool) != 0)
		return;
	p->inited = 1;
	if (conn_accept(&p->c, s) != 0) {
		t_end();
		return;
	}
	if (T.small_bufs)
		bufs_small((uv_handle_t *)&p->c.tcp);
	if (p->role != CONN_TLS_NONE && conn_start_tls(&p->c, p->ctx,
	    p->role, NULL, CONN_TLS_DISCARD, &d) != 0)
		fprintf(stderr, "srv: start_tls: %s\n", p->c.err);
	conn_set_read(&p->c, 1);
	peer_pump(p);
}

/*
 * Listens on 127.0.0.1, arms the deadline and, if connect, starts the
 * client conn; the peers are set up before.
 */
static void
t_begin(int small_bufs, int connect)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	memset(&V, 0, sizeof(V));
	T.small_bufs = small_bufs;
	T.ended = T.timed_out = T.tickets = T.port = 0;
	T.aux_fn = NULL;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	CHECK_EQ_INT(uv_tcp_init(&T.loop, &T.lsn), 0);
	CHECK_EQ_INT(uv_tcp_bind(&T.lsn, (struct sockaddr *)&sa, 0), 0);
	if (small_bufs)
		bufs_small((uv_handle_t *)&T.lsn); /* accepted sockets inherit */
	CHECK_EQ_INT(uv_listen((uv_stream_t *)&T.lsn, 8, on_accept), 0);
	if (uv_tcp_getsockname(&T.lsn, (struct sockaddr *)&ss, &len) == 0)
		T.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	CHECK(T.port > 0);
	uv_timer_init(&T.loop, &T.deadline);
	uv_timer_init(&T.loop, &T.aux);
	uv_timer_start(&T.deadline, on_deadline, DEADLINE_MS, 0);
	if (!connect)
		return;
	uv_ip4_addr("127.0.0.1", T.port, &sa);
	CHECK_EQ_INT(conn_init(&T.cli.c, &T.loop, &T.cli, peer_event, scratch,
	    &T.pool), 0);
	T.cli.inited = 1;
	CHECK_EQ_INT(conn_connect(&T.cli.c, (struct sockaddr *)&sa, 0), 0);
}

static void
t_end(void)
{
	if (T.ended)
		return;
	T.ended = 1;
	uv_close((uv_handle_t *)&T.lsn, NULL);
	uv_timer_stop(&T.deadline);
	uv_close((uv_handle_t *)&T.deadline, NULL);
	uv_timer_stop(&T.aux);
	uv_close((uv_handle_t *)&T.aux, NULL);
	if (T.cli.inited)
		conn_close(&T.cli.c);
	if (T.srv.inited)
		conn_close(&T.srv.c);
}

/* Runs the loop until t_end has closed everything. */
static void
t_run(void)
{
	uv_run(&T.loop, UV_RUN_DEFAULT);
	CHECK(!T.timed_out);
	CHECK(T.ended);
	CHECK(!T.cli.inited || T.cli.closed);
	CHECK(!T.srv.inited || T.srv.closed);
	conn_pool_cleanup(&T.pool);
}

/* 1. Plaintext ---------------------------------------------------------- */

static void
plain_hook(peer_t *p, conn_event_t ev)
{
	if (p != &T.srv || ev != CONN_EV_EOF)
		return;
	conn_trim(&p->c);
	V.idle[1] = held_mask(&p->c);
	t_end();
}

static void
test_plain_1mib(void)
{
	pair(CONN_TLS_NONE, NULL, CONN_TLS_NONE);
	T.cli.tx = A;
	T.cli.tx_len = MIB;
	T.cli.chunk = 16384;
	T.cli.tx_close = 1;
	T.srv.step = 4096;
	T.srv.hook = plain_hook;
	t_begin(1, 1);
	t_run();

	CHECK(got_exact(&T.srv, A, MIB));
	CHECK_EQ_INT(T.srv.c.bytes_in, MIB);
	CHECK_EQ_INT(T.cli.c.bytes_out, MIB);
	/* rbuf filled, and reading was off (or held) while it was full. */
	CHECK(T.srv.full_seen > 0);
	CHECK_EQ_INT(T.srv.full_reading, 0);
	/* EOF once, after all the data, nothing after it. */
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_EOF], 1);
	CHECK_EQ_INT(T.srv.rx_at_eof + T.srv.rsize_at_eof, MIB);
	CHECK_EQ_INT(T.srv.read_after_eof, 0);
	CHECK_EQ_INT(V.idle[1], 0);
	/* The write queue went above HIGH and reported draining. */
	CHECK(T.cli.n_ev[CONN_EV_DRAINED] >= 1);
	CHECK_EQ_INT(errors(), 0);
	CHECK_EQ_INT(T.cli.last_ev, CONN_EV_CLOSED);
}

/* 2. TLS both ways, 8. conn_trim ------------------------------------- */

/* 20 ms after all arrived: each conn gives its buffers back. */
static void
trim_check(void)
{
	int before = T.pool.n;

	V.pre[0] = held_mask(&T.cli.c);
	V.pre[1] = held_mask(&T.srv.c);
	conn_trim(&T.cli.c);
	conn_trim(&T.srv.c);
	V.idle[0] = held_mask(&T.cli.c);
	V.idle[1] = held_mask(&T.srv.c);
	V.pool_gain = T.pool.n - before;
	t_end();
}

static void
both_hook(peer_t *p, conn_event_t ev)
{
	if (ev == CONN_EV_HANDSHAKE_DONE && p == &T.srv)
		V.version = SSL_version(p->c.ssl);
	if (!V.armed && T.cli.rx_len == T.expect &&
	    T.srv.rx_len == T.expect) {
		V.armed = 1;
		aux_start(trim_check, 20, 0);
	}
}

/* n bytes each way, written chunk bytes at a time. */
static void
tls_both_ways(SSL_CTX *cctx, int version, size_t n, size_t chunk)
{
	pair(CONN_TLS_CLIENT, cctx, CONN_TLS_SERVER);
	T.cli.tx = A;
	T.srv.tx = B;
	T.cli.tx_len = T.srv.tx_len = T.expect = n;
	T.cli.chunk = chunk;
	T.srv.chunk = chunk < 5000 ? chunk : 5000; /* records of other sizes */
	T.cli.hook = T.srv.hook = both_hook;
	t_begin(n == MIB, 1);
	t_run();

	CHECK_EQ_INT(V.version, version);
	CHECK_EQ_INT(T.cli.n_ev[CONN_EV_HANDSHAKE_DONE], 1);
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_HANDSHAKE_DONE], 1);
	CHECK_EQ_INT(T.cli.c.tls_role, CONN_TLS_CLIENT);
	CHECK_EQ_INT(T.srv.c.tls_role, CONN_TLS_SERVER);
	CHECK(got_exact(&T.srv, A, n));
	CHECK(got_exact(&T.cli, B, n));
	CHECK_EQ_INT(T.srv.c.bytes_in, n);
	CHECK_EQ_INT(T.cli.c.bytes_in, n);
	CHECK_EQ_INT(T.cli.c.bytes_out, n);
	CHECK_EQ_INT(T.srv.c.bytes_out, n);
	if (n == MIB) {
		/* Small socket buffers: the queues went above HIGH. */
		CHECK(T.cli.n_ev[CONN_EV_DRAINED] >= 1);
		CHECK(T.srv.n_ev[CONN_EV_DRAINED] >= 1);
	}
	CHECK_EQ_INT(errors(), 0);
	CHECK_EQ_INT(T.cli.n_ev[CONN_EV_EOF] + T.srv.n_ev[CONN_EV_EOF], 0);
	/* conn_trim: read, output and TLS output buffers were held; after,
	 * none, and the read buffers went back to the pool. */
	CHECK_EQ_INT(V.pre[0] & 7, 7);
	CHECK_EQ_INT(V.pre[1] & 7, 7);
	CHECK_EQ_INT(V.idle[0], 0);
	CHECK_EQ_INT(V.idle[1], 0);
	CHECK(V.pool_gain >= 2);
}

static void
test_tls13_both_ways(void)
{
	tls_both_ways(T.cctx, TLS1_3_VERSION, MIB, 16384);
}

static void
test_tls12_both_ways(void)
{
	tls_both_ways(T.cctx12, TLS1_2_VERSION, MIB, 16384);
}

/* One write each way: output and TLS buffers outgrow the pool's size. */
static void
test_trim_idle(void)
{
	tls_both_ways(T.cctx, TLS1_3_VERSION, 100 * 1024, 100 * 1024);
}

/* 2b. A deferred read stop --------------------------------------------- */

#define HELD_N 1000

/*
 * Every 50 ms, one step. The server stops wanting input before anything
 * was sent: the stop is deferred (libuv keeps reading armed); a stop and a
 * start with nothing between leave it armed. The client then sends while
 * the server holds: nothing is read, and the first readable event ends
 * the interest for real. Wanted again, everything arrives.
 */
static void
held_step(void)
{
	peer_t *s = &T.srv;
	conn_t *c = &s->c;

	switch (V.done++) {
	case 0:
		if (!s->inited || !T.cli.c.connected) {
			V.done--;   /* not both up yet */
			return;
		}
		conn_set_read(c, 0);
		V.pre[0] = c->reading && c->read_held;
		conn_set_read(c, 1);
		V.pre[1] = c->reading && !c->read_held;
		conn_set_read(c, 0);
		T.cli.tx = A;
		T.cli.tx_len = T.cli.chunk = HELD_N;
		peer_pump(&T.cli);
		break;
	case 1:
		/* The bytes arrived long ago; they are still the kernel's. */
		V.reads_window = s->n_ev[CONN_EV_READ];
		V.kept = conn_rsize(c) + s->rx_len;
		V.idle[0] = c->reading || c->read_held;
		conn_set_read(c, 1);
		break;
	default:
		if (s->rx_len == HELD_N || V.done > 40)
			t_end();
		break;
	}
}

static void
test_read_held(void)
{
	pair(CONN_TLS_NONE, NULL, CONN_TLS_NONE);
	T.srv.slow = 1;   /* reading only as held_step says */
	t_begin(0, 1);
	aux_start(held_step, 50, 50);
	t_run();

	CHECK(V.pre[0]);
	CHECK(V.pre[1]);
	CHECK_EQ_INT(V.reads_window, 0);
	CHECK_EQ_INT(V.kept, 0);
	CHECK_EQ_INT(V.idle[0], 0);
	CHECK(got_exact(&T.srv, A, HELD_N));
	CHECK_EQ_INT(errors(), 0);
}

/* 3. Slow consumer ------------------------------------------------------ */

/* Every millisecond: a little consumed, then conn_fill, then reading on. */
static void
slow_tick(void)
{
	peer_t *p = &T.srv;
	conn_t *c = &p->c;

	if (!p->inited || !c->open)
		return;
	if (c->tin != NULL && c->cin == c->tin && c->clen > c->cpos)
		p->tin_seen++;
	for (int i = 0; i < 4; i++) {
		peer_take(p, 1000);
		if (conn_fill(c) == 0 && conn_rsize(c) == 0)
			break;
	}
	conn_set_read(c, 1);
	if (p->rx_len == T.expect) {
		conn_trim(c);
		V.idle[1] = held_mask(c);
		t_end();
	}
}

static void
test_tls_slow_consumer(void)
{
	size_t n = 512 * 1024;

	pair(CONN_TLS_CLIENT, T.cctx, CONN_TLS_SERVER);
	T.cli.tx = A;
	T.cli.tx_len = T.expect = n;
	T.cli.chunk = 16384;
	T.srv.step = 300;
	T.srv.slow = 1;
	t_begin(0, 1);
	aux_start(slow_tick, 1, 1);
	t_run();

	CHECK(got_exact(&T.srv, A, n));
	CHECK_EQ_INT(T.srv.c.bytes_in, n);
	/* Ciphertext did wait in tin across callbacks. */
	CHECK(T.srv.tin_seen > 0);
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_HANDSHAKE_DONE], 1);
	CHECK_EQ_INT(errors(), 0);
	CHECK_EQ_INT(V.idle[1], 0);
}

/* Raw TLS client on a thread ------------------------------------------- */

typedef struct {
	int port, dribble;
	const char *prefix;      /* with the ClientHello, or alone if wait */
	const char *wait;        /* plaintext the server sends before TLS */
	const uint8_t *payload;
	const size_t *recs;      /* SSL_write sizes */
	int nrecs;
	size_t ch_len;           /* ClientHello bytes sent behind prefix */
	int hs_ok, reply_ok, eof_ok;
	char err[128];
	int fd;
	unsigned seed;
	SSL *ssl;
	BIO *wbio;
} raw_t;

/* Sends p[0..n), in 1..7-byte pieces with a pause after each if dribble. */
static int
raw_send(raw_t *r, const uint8_t *p, size_t n)
{
	struct timespec ts = { 0, 50000 };
	size_t off = 0;

	for (int i = 0; off < n && i < (1 << 20); i++) {
		size_t k = n - off;
		ssize_t w;
		if (r->dribble) {
			r->seed = r->seed * 1103515245u + 12345u;
			if (k > 1 + (r->seed >> 16) % 7)
				k = 1 + (r->seed >> 16) % 7;
		}
		if ((w = send(r->fd, p + off, k, MSG_NOSIGNAL)) <= 0) {
			snprintf(r->err, sizeof(r->err), "send: %s",
			    strerror(errno));
			return -1;
		}
		off += (size_t)w;
		if (r->dribble)
			nanosleep(&ts, NULL);
	}
	return off == n ? 0 : -1;
}

/* Sends what BoringSSL wrote. */
static int
raw_out(raw_t *r)
{
	uint8_t buf[4096];

	for (int i = 0; i < 1024; i++) {
		int n = BIO_read(r->wbio, buf, sizeof(buf));
		if (n <= 0)
			return 0;
		if (raw_send(r, buf, (size_t)n) != 0)
			return -1;
	}
	return -1;
}

/* After ret from SSL: sends its output; if it wants to read, feeds it. */
static int
raw_step(raw_t *r, int ret)
{
	uint8_t buf[4096];
	ssize_t n;

	if (raw_out(r) != 0 || SSL_get_error(r->ssl, ret) != SSL_ERROR_WANT_READ)
		return -1;
	if ((n = recv(r->fd, buf, sizeof(buf), 0)) <= 0) {
		snprintf(r->err, sizeof(r->err), "recv: %s",
		    n < 0 ? strerror(errno) : "eof");
		return -1;
	}
	return BIO_write(SSL_get_rbio(r->ssl), buf, (int)n) == (int)n ? 0 : -1;
}

static void
raw_session(raw_t *r)
{
	uint8_t buf[8192];
	size_t off = 0, got = 0, want, plen = strlen(r->prefix ? r->prefix : "");
	int i, n = 0;

	if (r->wait != NULL) {
		/* STARTTLS: the line, the server's go, then TLS. */
		want = strlen(r->wait);
		if (want > sizeof(buf) ||
		    raw_send(r, (const uint8_t *)r->prefix, plen) != 0)
			return;
		for (i = 0; got < want && i < 64; i++) {
			ssize_t k = recv(r->fd, buf + got, want - got, 0);
			if (k <= 0)
				return;
			got += (size_t)k;
		}
		if (got != want || memcmp(buf, r->wait, want) != 0)
			return;
	} else if (r->prefix != NULL) {
		/* The line and the ClientHello in one segment. */
		if (plen > 1024 || SSL_do_handshake(r->ssl) == 1)
			return;
		memcpy(buf, r->prefix, plen);
		n = BIO_read(r->wbio, buf + plen, (int)(sizeof(buf) - plen));
		if (n <= 0 || BIO_pending(r->wbio) != 0 ||
		    raw_send(r, buf, plen + (size_t)n) != 0)
			return;
		r->ch_len = (size_t)n;
	}
	for (i = 0; i < 64 && (n = SSL_do_handshake(r->ssl)) != 1; i++)
		if (raw_step(r, n) != 0)
			return;
	if (n != 1 || raw_out(r) != 0)
		return;
	r->hs_ok = 1;
	for (i = 0; i < r->nrecs; i++) {
		if (SSL_write(r->ssl, r->payload + off, (int)r->recs[i]) !=
		    (int)r->recs[i] || raw_out(r) != 0)
			return;
		off += r->recs[i];
	}
	/* The server's answer, then close_notify and our FIN. */
	for (i = 0, got = 0; got < 4 && i < 256; i++) {
		if ((n = SSL_read(r->ssl, buf + got, 16)) > 0)
			got += (size_t)n;
		else if (raw_step(r, n) != 0)
			return;
	}
	r->reply_ok = got == 4 && memcmp(buf, "ok\r\n", 4) == 0;
	SSL_shutdown(r->ssl);
	if (raw_out(r) != 0 || shutdown(r->fd, SHUT_WR) != 0)
		return;
	/* Until the server closes: no unread bytes here to reset it. */
	for (i = 0; i < 4096; i++) {
		ssize_t k = recv(r->fd, buf, sizeof(buf), 0);
		if (k <= 0) {
			r->eof_ok = k == 0;
			break;
		}
	}
}

static void *
raw_main(void *arg)
{
	raw_t *r = arg;
	struct sockaddr_in sa;
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int one = 1;
	BIO *rbio = NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)r->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return NULL;
	setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    (r->ssl = SSL_new(T.rawctx)) != NULL &&
	    (rbio = BIO_new(BIO_s_mem())) != NULL &&
	    (r->wbio = BIO_new(BIO_s_mem())) != NULL) {
		SSL_set_bio(r->ssl, rbio, r->wbio);
		SSL_set_connect_state(r->ssl);
		raw_session(r);
	} else
		BIO_free(rbio);
	SSL_free(r->ssl);
	close(r->fd);
	return NULL;
}

/* The server answers a whole payload with "ok" and ends at EOF. */
static void
raw_srv_hook(peer_t *p, conn_event_t ev)
{
	if (ev == CONN_EV_CLOSED || !p->c.open)
		return;
	if (!V.replied && p->rx_len == T.expect) {
		V.replied = 1;
		conn_write_str(&p->c, "ok\r\n");
		conn_flush(&p->c);
	}
	if (ev == CONN_EV_EOF)
		t_end();
}

static void
raw_run(raw_t *r)
{
	pthread_t th;

	r->port = T.port;
	r->fd = -1;
	T.srv.hook = raw_srv_hook;
	if (pthread_create(&th, NULL, raw_main, r) != 0) {
		CHECK(0); /* pthread_create */
		t_end();
		t_run();
		return;
	}
	t_run();
	pthread_join(th, NULL);
	if (r->err[0] != '\0')
		fprintf(stderr, "raw client: %s\n", r->err);
	CHECK(r->hs_ok);
	CHECK(r->reply_ok);
	CHECK(r->eof_ok);
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_HANDSHAKE_DONE], 1);
	CHECK(got_exact(&T.srv, r->payload, T.expect));
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_EOF], 1);
	CHECK(T.srv.shutdown_seen);
	CHECK_EQ_INT(errors(), 0);
}

/* 4. Partial records ---------------------------------------------------- */

static void
test_tls_partial_records(void)
{
	static const size_t recs[] = { 1, 7, 1000, 16384, 7000 };
	raw_t r;

	memset(&r, 0, sizeof(r));
	r.dribble = 1;
	r.seed = 7;
	r.payload = A;
	r.recs = recs;
	r.nrecs = 5;
	pair(CONN_TLS_NONE, NULL, CONN_TLS_SERVER);
	T.expect = 1 + 7 + 1000 + 16384 + 7000;
	t_begin(0, 0);
	raw_run(&r);
}

/* 5. conn_start_tls with bytes already read ---------------------------- */

/* Plaintext: "HELLO\r\n", then the switch to TLS with what follows. */
static void
starttls_read(peer_t *p, conn_event_t ev)
{
	conn_t *c = &p->c;
	const uint8_t *d = conn_rdata(c), *lf;
	size_t len;

	(void)ev;
	if (c->ssl != NULL) {
		peer_read(p);
		return;
	}
	if ((lf = memchr(d, '\n', conn_rsize(c))) == NULL)
		return;
	len = (size_t)(lf - d) + 1;
	V.line_ok = len == 7 && memcmp(d, "HELLO\r\n", 7) == 0;
	conn_consume(c, len);
	V.kept = conn_rsize(c);
	if (!V.keep) {
		conn_write_str(c, "220 go\r\n");
		conn_flush(c);
	}
	V.tls_r = conn_start_tls(c, T.sctx, CONN_TLS_SERVER, NULL,
	    V.keep ? CONN_TLS_KEEP : CONN_TLS_DISCARD, &V.discarded);
}

static void
start_tls_after_line(int keep)
{
	static const char junk[] = "MAIL FROM:<injected@example.org>\r\n";
	static const size_t recs[] = { 23 };
	char prefix[64];
	raw_t r;

	memset(&r, 0, sizeof(r));
	snprintf(prefix, sizeof(prefix), "HELLO\r\n%s", keep ? "" : junk);
	r.prefix = prefix;
	r.wait = keep ? NULL : "220 go\r\n";
	r.payload = B;
	r.recs = recs;
	r.nrecs = 1;
	pair(CONN_TLS_NONE, NULL, CONN_TLS_NONE);
	T.srv.on_read = starttls_read;
	T.expect = recs[0];
	t_begin(0, 0);
	V.keep = keep;
	V.discarded = 99999;
	V.tls_r = -2;
	raw_run(&r);

	CHECK(V.line_ok);
	CHECK_EQ_INT(V.tls_r, 0);
	if (keep) {
		/* The ClientHello came with the line and was used. */
		CHECK(r.ch_len > 0);
		CHECK_EQ_INT(V.kept, r.ch_len);
		CHECK_EQ_INT(V.discarded, 0);
	} else {
		CHECK_EQ_INT(V.kept, strlen(junk));
		CHECK_EQ_INT(V.discarded, strlen(junk));
	}
}

static void
test_start_tls_keep(void)
{
	start_tls_after_line(1);
}

static void
test_start_tls_discard(void)
{
	start_tls_after_line(0);
}

/* 6. conn_flush_data holds TLS-only records --------------------------- */

static peer_t *
other(const peer_t *p)
{
	return p == &T.cli ? &T.srv : &T.cli;
}

/* 100 ms after the holder's handshake: what reached the peer, then data. */
static void
hold_window_end(void)
{
	peer_t *h = V.holder, *o = other(h);

	V.reads_window = o->n_ev[CONN_EV_READ] - V.reads_hs;
	V.hs_window = o->n_ev[CONN_EV_HANDSHAKE_DONE];
	V.tickets_window = T.tickets;
	V.pending_window = conn_pending(&h->c);
	conn_write_str(&h->c, HOLD_MSG);
	conn_flush(&h->c);
	V.pending_after = conn_pending(&h->c);
}

static void
hold_hook(peer_t *p, conn_event_t ev)
{
	if (ev == CONN_EV_HANDSHAKE_DONE && p == V.holder) {
		/* The common handling did conn_flush_data, nothing written. */
		V.pending_hs = conn_pending(&p->c);
		V.version = SSL_version(p->c.ssl);
		V.reads_hs = other(p)->n_ev[CONN_EV_READ];
		aux_start(hold_window_end, 100, 0);
	}
	if (ev == CONN_EV_READ && p != V.holder && !V.done &&
	    p->rx_len >= strlen(HOLD_MSG)) {
		V.done = 1;
		V.reads_data = p->n_ev[CONN_EV_READ] - V.reads_hs;
		V.tickets_data = T.tickets;
		t_end();
	}
}

static void
flush_data_hold(peer_t *holder)
{
	peer_t *o = other(holder);

	pair(CONN_TLS_CLIENT, T.cctx, CONN_TLS_SERVER);
	holder->hold = 1;
	T.cli.hook = T.srv.hook = hold_hook;
	t_begin(0, 1);
	V.holder = holder;
	t_run();

	CHECK_EQ_INT(V.version, TLS1_3_VERSION);
	CHECK_EQ_INT(T.cli.n_ev[CONN_EV_HANDSHAKE_DONE], 1);
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_HANDSHAKE_DONE], 1);
	/* Held: nothing reached the peer for 100 ms, nothing was lost. */
	CHECK_EQ_INT(V.reads_window, 0);
	CHECK_EQ_INT(V.pending_window, V.pending_hs);
	/* Then what was held and the data in one segment: one READ. */
	CHECK(V.done);
	CHECK_EQ_INT(V.pending_after, 0);
	CHECK_EQ_INT(V.reads_data, 1);
	CHECK_MEM(o->rx, o->rx_len, HOLD_MSG, strlen(HOLD_MSG));
	CHECK_EQ_INT(errors(), 0);
	if (holder == &T.cli) {
		/* The client's Finished waited in tout: the server's
		 * handshake could not end before the data came. */
		CHECK(V.pending_hs > 0);
		CHECK_EQ_INT(V.hs_window, 0);
	} else {
		/* The session ticket went with the data, not before. */
		CHECK_EQ_INT(V.tickets_window, 0);
		CHECK(V.tickets_data >= 1);
	}
}

static void
test_flush_data_holds_finished(void)
{
	flush_data_hold(&T.cli);
}

static void
test_flush_data_holds_ticket(void)
{
	flush_data_hold(&T.srv);
}

/* 7. conn_close_after_flush on TLS ------------------------------------- */

static void
close_check(void)
{
	if (T.cli.n_ev[CONN_EV_EOF] > 0 && T.srv.closed)
		t_end();
}

static void
close_srv_hook(peer_t *p, conn_event_t ev)
{
	if (ev == CONN_EV_HANDSHAKE_DONE) {
		conn_write(&p->c, B, T.expect);
		conn_close_after_flush(&p->c);
		V.open_after = p->c.open;
		V.on_drain = p->c.close_on_drain;
	}
	if (ev == CONN_EV_CLOSED && !T.ended)
		V.self_closed = 1;
	close_check();
}

/* conn->eof is set but CONN_EV_EOF was not told: give it 500 ms. */
static void
eof_lost(void)
{
	if (T.cli.n_ev[CONN_EV_EOF] > 0)
		return;
	V.eof_lost = 1;
	fprintf(stderr, "cli: eof set, no CONN_EV_EOF after 500 ms\n");
	peer_dump(&T.cli);
	t_end();
}

static void
close_cli_hook(peer_t *p, conn_event_t ev)
{
	(void)ev;
	if (p->c.eof && p->n_ev[CONN_EV_EOF] == 0 && !V.armed) {
		V.armed = 1;
		aux_start(eof_lost, 500, 0);
	}
	close_check();
}

static void
close_after_flush(size_t n)
{
	pair(CONN_TLS_CLIENT, T.cctx, CONN_TLS_SERVER);
	T.srv.hook = close_srv_hook;
	T.cli.hook = close_cli_hook;
	T.expect = n;
	t_begin(n > 64 * 1024, 1);
	t_run();

	if (n > 64 * 1024)
		CHECK(V.open_after && V.on_drain); /* waited for the queue */
	else
		CHECK(!V.open_after);              /* all written at once */
	CHECK(V.self_closed);
	CHECK(!V.eof_lost);
	CHECK_EQ_INT(T.srv.c.bytes_out, n);
	CHECK(got_exact(&T.cli, B, n));
	CHECK_EQ_INT(T.cli.n_ev[CONN_EV_EOF], 1);
	CHECK_EQ_INT(T.cli.rx_at_eof + T.cli.rsize_at_eof, n);
	CHECK_EQ_INT(T.cli.read_after_eof, 0);
	CHECK(T.cli.shutdown_seen);        /* close_notify, not just FIN */
	CHECK_EQ_INT(T.srv.n_ev[CONN_EV_CLOSED], 1);
	CHECK_EQ_INT(T.srv.last_ev, CONN_EV_CLOSED);
	CHECK_EQ_INT(errors(), 0);
}

static void
test_close_after_flush_small(void)
{
	close_after_flush(100);
}

static void
test_close_after_flush_large(void)
{
	close_after_flush(512 * 1024);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	rand_fill(A, MIB, 1);
	rand_fill(B, MIB, 2);
	if (uv_loop_init(&T.loop) != 0 || make_ctxs() != 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	RUN(test_plain_1mib);
	RUN(test_tls13_both_ways);
	RUN(test_tls12_both_ways);
	RUN(test_tls_slow_consumer);
	RUN(test_tls_partial_records);
	RUN(test_start_tls_keep);
	RUN(test_start_tls_discard);
	RUN(test_flush_data_holds_finished);
	RUN(test_flush_data_holds_ticket);
	RUN(test_close_after_flush_small);
	RUN(test_close_after_flush_large);
	RUN(test_trim_idle);
	RUN(test_read_held);
	SSL_CTX_free(T.sctx);
	SSL_CTX_free(T.cctx);
	SSL_CTX_free(T.cctx12);
	SSL_CTX_free(T.rawctx);
	CHECK_EQ_INT(uv_loop_close(&T.loop), 0);
	return CHECK_DONE();
}
