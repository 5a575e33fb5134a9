/*
 * admin: a small HTTP/1.1 server on a libuv loop for /metrics, /healthz and
 * /readyz. What to answer is the caller's handler; this file only speaks
 * HTTP, and defensively: one GET or HEAD per connection, then close; a
 * deadline for the request head that trickled bytes do not extend; a cap on
 * connections; garbage gets a 400 and the door.
 *
 * Everything runs on the loop given to admin_new and must be called from
 * that loop's thread. The process must ignore SIGPIPE (libuv writes with
 * writev, and a scraper may reset the connection mid-response).
 */
#ifndef ADMIN_H
#define ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/*
 * Limits.
 * ADMIN_CONN_MAX: connections open at once; more are accepted and closed at
 * once (a probe and a scraper need a handful; each costs ~9 KiB of buffer).
 * ADMIN_TIMEOUT_MS: from accept to a complete request head, whatever
 * arrives meanwhile (slowloris); then the client gets a 408.
 * ADMIN_SEND_TIMEOUT_MS: from the complete head until the response is
 * written, for a client that does not read.
 * ADMIN_LINGER_MS: after the response, how long to wait for the client's
 * end (reading and discarding) before closing, so that unread bytes it
 * sent do not turn the close into a reset that destroys the response.
 * ADMIN_BODY_MAX: a response body; beyond, the request gets a 500.
 */
#define ADMIN_CONN_MAX 64
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_SEND_TIMEOUT_MS 10000
#define ADMIN_LINGER_MS 1000
#define ADMIN_BODY_MAX ((size_t)8 << 20)

/* A growable response body, at most ADMIN_BODY_MAX bytes. */
typedef struct {
	char *data;   /* owned; NULL until something was appended */
	size_t len;
	size_t cap;
	int failed;   /* an append did not fit or found no memory */
} admin_buf_t;

/* admin_buf_init prepares b (caller storage); admin_buf_cleanup frees it. */
void admin_buf_init(admin_buf_t *b);
void admin_buf_cleanup(admin_buf_t *b);

/*
 * admin_buf_append adds p[0..n) to b. Returns 0, or -1 (and sets b->failed;
 * b's contents stay as they were) if b would pass ADMIN_BODY_MAX or there
 * is no memory. Once failed, appends keep returning -1.
 */
int admin_buf_append(admin_buf_t *b, const void *p, size_t n);

/* admin_buf_printf appends printf-formatted text; returns as above. */
int admin_buf_printf(admin_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * The handler answers one GET or HEAD request (for HEAD its body is
 * measured and not sent). method[0..mlen) and path[0..plen) are not
 * NUL-terminated and are valid only during the call; path starts with '/',
 * has no query string and is as sent (no percent-decoding). The handler
 * appends the body to body (owned by the server) and may set *content_type
 * to a string that lives at least until it returns (default
 * "text/plain; charset=utf-8"). It returns the HTTP status, 200-599 and not
 * 204; anything else, or a body whose appends failed, becomes a 500.
 */
typedef int admin_handler_fn(void *arg, const char *method, size_t mlen,
    const char *path, size_t plen, admin_buf_t *body,
    const char **content_type);

typedef struct admin admin_t;

/*
 * admin_new binds addr (IPv4 or IPv6; IPv6 sockets are v6-only) on loop
 * and starts listening. handler and arg are borrowed until admin_free. Returns
 * the server, or NULL with a message in err[0..errlen). On failure the
 * half-made listening handle is closed and its memory goes in its close
 * callback, on the loop's next turn.
 */
admin_t *admin_new(uv_loop_t *loop, const struct sockaddr *addr,
    admin_handler_fn *handler, void *arg, char *err, size_t errlen);

/*
 * admin_sockname writes the bound address (the port chosen for port 0) to
 * *ss. Returns 0 or -1.
 */
int admin_sockname(const admin_t *a, struct sockaddr_storage *ss);

/*
 * admin_set_timeout changes ADMIN_TIMEOUT_MS for connections accepted from
 * now on (tests use a short one). ms must be > 0.
 */
void admin_set_timeout(admin_t *a, uint64_t ms);

/*
 * admin_free stops listening and closes every connection at once,
 * responses in flight included; the handler is not called again. It
 * completes asynchronously: the memory goes in the last close callback, so
 * the caller keeps running the loop (uv_run returns when it is done).
 * admin_free(NULL) does nothing; it may be called from the handler.
 */
void admin_free(admin_t *a);

#endif
