/*
 * conn: one TCP leg of a session. A libuv stream, an optional BoringSSL
 * SSL* (server or client role) behind a BIO of the conn's own that reads
 * ciphertext in place and collects what it writes, a bounded plaintext read
 * buffer the owner consumes from, an output buffer flushed once per turn,
 * and the count of bytes queued in the kernel-bound write queue for
 * back-pressure.
 *
 * Events go to one owner callback. The owner never frees a conn itself:
 * conn_close starts uv_close and CONN_EV_CLOSED reports the end, after which
 * the memory may go.
 */
#ifndef CONN_H
#define CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <openssl/ssl.h>

/*
 * Plaintext read buffer. It must hold one whole command line
 * (SMTP_CMD_LINE_MAX) so an over-long line is always detected; 16 KiB is
 * also the largest TLS record's plaintext.
 */
#define CONN_RBUF_SIZE (16 * 1024)
/* Ciphertext read chunk (shared scratch per event loop): large, so a bulk
 * transfer costs few read and write calls per megabyte. */
#define CONN_SCRATCH_SIZE (256 * 1024)
/* Write queue marks: above HIGH the other leg stops reading; below LOW it
 * resumes (CONN_EV_DRAINED). */
#define CONN_WQ_HIGH (256 * 1024)
#define CONN_WQ_LOW (64 * 1024)
/* Ciphertext buffered but not yet decrypted before the socket is paused;
 * the least size of the buffer that holds what a read left over. */
#define CONN_TLS_IN_MAX (64 * 1024)

typedef enum {
	CONN_EV_CONNECTED,      /* conn_connect finished */
	CONN_EV_CONNECT_FAILED, /* conn_connect failed; conn->err says why */
	CONN_EV_READ,           /* new plaintext in the read buffer */
	CONN_EV_HANDSHAKE_DONE, /* TLS established */
	CONN_EV_EOF,            /* peer closed (after any READ) */
	CONN_EV_ERROR,          /* I/O or TLS error; conn->err says why */
	CONN_EV_DRAINED,        /* write queue fell below CONN_WQ_LOW */
	CONN_EV_CLOSED          /* uv_close finished: last event */
} conn_event_t;

typedef struct conn conn_t;
typedef void conn_event_cb(conn_t *c, conn_event_t ev);

/*
 * A worker's spare CONN_RBUF_SIZE buffers. An idle conn holds no read or
 * output buffer: it takes one from here when bytes arrive or are written and
 * gives it back once empty (conn_trim), so memory follows traffic, not the
 * number of sessions.
 */
#define CONN_POOL_MAX 256       /* spare buffers kept per worker */
typedef struct {
	void *free[CONN_POOL_MAX];
	int n;
} conn_pool_t;

/* conn_pool_cleanup frees the spare buffers (the pool is caller storage). */
void conn_pool_cleanup(conn_pool_t *pool);

typedef enum { CONN_TLS_NONE, CONN_TLS_SERVER, CONN_TLS_CLIENT } conn_tls_role_t;

/*
 * An output buffer: starts as a pool buffer, outgrows it into one of its own
 * (doubling), and goes back once empty.
 */
typedef struct {
	uint8_t *p;              /* NULL while empty and released */
	size_t len, cap;
	int pooled;              /* p came from the pool (cap == RBUF) */
} conn_obuf_t;

struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	void *owner;             /* borrowed: the session */
	conn_event_cb *cb;
	uint8_t *scratch;        /* borrowed: the loop's CONN_SCRATCH_SIZE buffer */
	conn_pool_t *pool;       /* borrowed: the loop's spare buffers */

	SSL *ssl;                /* owned; NULL while plaintext */
	conn_tls_role_t tls_role;
	int handshake_done;
	/*
	 * Ciphertext in: BoringSSL reads cin[cpos..clen) through the conn's
	 * BIO. During a read callback cin is the loop's scratch (read in
	 * place); what is left when the callback returns moves to tin, which
	 * the next read then extends. Nothing is allocated per read.
	 */
	const uint8_t *cin;
	size_t cpos, clen;
	uint8_t *tin;            /* owned: tin_cap bytes, or NULL */
	size_t tin_cap;          /* at least CONN_TLS_IN_MAX */
	conn_obuf_t tout;        /* ciphertext out, sent at each flush */

	uint8_t *rbuf;           /* owned (from pool), NULL while idle */
	size_t rpos;             /* rbuf[rpos..rlen) is unread */
	size_t rlen;
	conn_obuf_t out;         /* plaintext output collected this turn */

	size_t wq_bytes;         /* bytes in uv_write requests in flight */
	int wq_high;             /* wq_bytes went above CONN_WQ_HIGH */

	uint64_t bytes_in;       /* plaintext bytes read */
	uint64_t bytes_out;      /* plaintext bytes written */

	unsigned open : 1;       /* tcp initialised, uv_close not yet called */
	unsigned connected : 1;
	unsigned reading : 1;    /* uv_read_start in force */
	unsigned read_held : 1;  /* reading, but no input wanted now: the
	                            next readable event stops it (conn.c,
	                            conn_read_update) */
	unsigned want_read : 1;  /* owner wants input */
	unsigned eof : 1;
	unsigned eof_told : 1;   /* CONN_EV_EOF reported (conn_take_eof) */
	unsigned failed : 1;
	unsigned close_on_drain : 1;

	char err[160];           /* why the conn failed, for the log */
};

/*
 * conn_init prepares c (caller storage) on loop; owner and cb receive the
 * events; scratch is borrowed for ciphertext reads. Returns 0 or -1.
 */
int conn_init(conn_t *c, uv_loop_t *loop, void *owner, conn_event_cb *cb,
    uint8_t *scratch, conn_pool_t *pool);

/*
 * conn_trim gives back buffers that are empty now (read and output) and
 * shrinks TLS buffers that an earlier burst grew. The owner calls it once
 * it has consumed what it could; pointers into consumed bytes die here.
 */
void conn_trim(conn_t *c);

/* conn_accept takes the pending connection of server. Returns 0 or -1. */
int conn_accept(conn_t *c, uv_stream_t *server);

/* conn_connect starts a connection to addr, optionally with SO_MARK. */
int conn_connect(conn_t *c, const struct sockaddr *addr, uint32_t mark);

/*
 * conn_start_tls switches the leg to TLS from the next byte read on: ctx is
 * borrowed (SSL_new takes its own reference), sni (client role, may be NULL)
 * is sent as server name. With CONN_TLS_DISCARD whatever sat unread in the
 * plaintext read buffer is discarded (its length is returned through
 * *discarded), because bytes that arrived before the switch must never be
 * taken as protected data (STARTTLS). With CONN_TLS_KEEP those bytes are the
 * start of the TLS stream (a ClientHello that followed a PROXY header in
 * the same segment). Returns 0 or -1.
 */
#define CONN_TLS_DISCARD 0
#define CONN_TLS_KEEP 1
int conn_start_tls(conn_t *c, SSL_CTX *ctx, conn_tls_role_t role,
    const char *sni, int unread, size_t *discarded);
/*
 * conn_start_tls_resume is conn_start_tls that, in the client role, offers
 * resume (borrowed; SSL_set_session takes its own reference; may be NULL)
 * for resumption.
 */
int conn_start_tls_resume(conn_t *c, SSL_CTX *ctx, conn_tls_role_t role,
    const char *sni, SSL_SESSION *resume, int unread, size_t *discarded);

/* conn_write appends p[0..n) to the output of this turn (copied). */
int conn_write(conn_t *c, const void *p, size_t n);
int conn_write_str(conn_t *c, const char *s);

/*
 * conn_reserve returns room for n more output bytes (owned by c, valid until
 * the next write or flush), or NULL; conn_commit adds the n bytes written
 * there. Lets a filter write straight into the output.
 */
uint8_t *conn_reserve(conn_t *c, size_t n);
void conn_commit(conn_t *c, size_t n);

/* conn_flush sends the collected output (through TLS if on). */
void conn_flush(conn_t *c);

/*
 * conn_flush_data is conn_flush, except that TLS records with no
 * application data behind them (a TLS 1.3 session ticket) wait for the next
 * flush that has some, so both leave in one segment. For a leg that expects
 * to write soon (a reply is pending).
 */
void conn_flush_data(conn_t *c);

/* The unread plaintext, borrowed until the next read or conn_fill. */
static inline const uint8_t *
conn_rdata(const conn_t *c)
{
	/* Never arithmetic on NULL: an idle conn's data is an empty array. */
	static const uint8_t conn_none[1];

	return c->rbuf != NULL ? c->rbuf + c->rpos : conn_none;
}

static inline size_t
conn_rsize(const conn_t *c)
{
	return c->rlen - c->rpos;
}

/*
 * conn_consume drops n bytes from the front of the read buffer; the bytes
 * stay readable at their address until the next read or conn_fill.
 */
void conn_consume(conn_t *c, size_t n);

/*
 * conn_fill decrypts ciphertext already received into free read buffer
 * space (no events). Returns the number of plaintext bytes added.
 */
size_t conn_fill(conn_t *c);

/*
 * conn_fill_to is conn_fill into the owner's dst[0..cap) instead of the read
 * buffer, which must be empty; it lets a relay decrypt straight into the
 * other leg's output (conn_reserve). conn_unread gives back the n <=
 * CONN_RBUF_SIZE bytes of it the owner did not take, as unread input, ahead
 * of anything decrypted later.
 */
size_t conn_fill_to(conn_t *c, uint8_t *dst, size_t cap);
void conn_unread(conn_t *c, const uint8_t *p, size_t n);

/*
 * conn_take_eof returns 1, once, when the peer's end of stream has been
 * seen but not yet reported as CONN_EV_EOF, and marks it reported. An owner
 * that calls conn_fill outside the leg's own read event (where a
 * close_notify found by conn_fill is reported) checks it afterwards.
 */
int conn_take_eof(conn_t *c);

/*
 * conn_set_read says whether the owner wants input. Reading also pauses
 * while the read buffer is full.
 */
void conn_set_read(conn_t *c, int want);

/* conn_close_after_flush closes once everything queued has been written. */
void conn_close_after_flush(conn_t *c);

/* conn_close closes now (idempotent); CONN_EV_CLOSED follows. */
void conn_close(conn_t *c);

/* conn_unsent is the plaintext collected but not yet flushed. */
static inline size_t
conn_unsent(const conn_t *c)
{
	return c->out.len;
}

/* conn_pending is the number of bytes queued toward the peer. */
size_t conn_pending(const conn_t *c);


#endif
