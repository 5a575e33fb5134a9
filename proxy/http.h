/*
 * http: pure, bounded HTTP/1.x pieces: the admin endpoint's requests and
 * responses, and the responses of the MTA-STS policy fetch (below,
 * http_response_parse and the body decoder). No I/O, no allocation, no
 * libuv.
 *
 * The request parser reads a request head (request line and header fields,
 * RFC 9112 sections 2-5) from a caller buffer that grows between calls; it
 * never reads past the length it is given, and NUL, control characters and
 * bare CR are errors, never terminators. Message bodies are not parsed: the
 * admin server answers one request per connection and then closes it, so
 * Connection, Content-Length and Transfer-Encoding ask nothing of it and are
 * tolerated like any other field.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Limits. RFC 9112 sets none; these are the admin endpoint's own, sized for
 * probes and scrapers (short fixed paths, a few header fields).
 * HTTP_HEAD_MAX: the whole head including the empty line that ends it (the
 * usual 8 KiB server default, e.g. nginx's header buffers).
 * HTTP_REQUEST_LINE_MAX: the request line including its terminator (414
 * beyond). RFC 9112 section 3 recommends 8000 for general servers; half the
 * head is plenty for ours and leaves room for the header fields.
 * HTTP_HEADERS_MAX: header field lines (431 beyond); keeps the work per head
 * predictable however short the lines are.
 */
#define HTTP_HEAD_MAX 8192
#define HTTP_REQUEST_LINE_MAX 4096
#define HTTP_HEADERS_MAX 100

typedef enum {
	HTTP_PARTIAL,      /* no end of head yet: read more, call again */
	HTTP_OK,           /* a complete, valid head */
	HTTP_BAD,          /* malformed: answer 400 */
	HTTP_TOO_LARGE,    /* over HTTP_HEAD_MAX or HTTP_HEADERS_MAX: 431 */
	HTTP_URI_TOO_LONG, /* request line over HTTP_REQUEST_LINE_MAX: 414 */
	HTTP_BAD_VERSION   /* well-formed HTTP-version, major not 1: 505 */
} http_status_t;

/* A slice of the caller's buffer (or of a static string, see below). */
typedef struct {
	const uint8_t *p;
	size_t len;
} http_slice_t;

/* Where a head parser stands; parser state, not for callers. */
typedef struct {
	size_t pos;      /* bytes examined */
	size_t line;     /* offset of the current line */
	int in_headers;  /* the first line (request or status line) was read */
} http_scan_t;

/*
 * A request head. The public fields are set when http_parse returns
 * HTTP_OK and point into the buffer given to that call (borrowed: valid as
 * long as those bytes are). The fields ending in '_' are the parser's state
 * between calls; callers do not touch them.
 */
typedef struct {
	http_slice_t method;  /* a token, as sent (case-sensitive) */
	http_slice_t path;    /* '/'..., or "*" (OPTIONS only); no query */
	http_slice_t query;   /* after '?', without it; p == NULL if no '?' */
	int version_minor;    /* HTTP/1.x: x (0-9) */
	unsigned nheaders;    /* header field lines */

	http_status_t status_;  /* sticky once not PARTIAL */
	http_scan_t scan_;
	size_t headlen_;
	unsigned nhost_;
	size_t method_off_, path_off_, query_off_;
	int path_static_;       /* absolute-form without a path: path is "/" */
	int has_query_;
} http_request_t;

/* http_request_init prepares req (caller storage) for a new head. */
void http_request_init(http_request_t *req);

/*
 * http_parse examines a request head in p[0..n). Call it again with the
 * same req after more bytes arrive: p[0..n) must then begin with the bytes
 * of every earlier call (the buffer may have moved), and the parser resumes
 * where it stopped, so feeding a head byte by byte costs O(n) in all. The
 * result does not depend on how the bytes were split: every call returns
 * HTTP_PARTIAL until the first byte that decides, and from then on the same
 * result (sticky).
 *
 * On HTTP_OK, *headlen is the length of the head including its final empty
 * line (CRLF CRLF, or bare LF LF, which RFC 9112 section 2.2 lets a
 * recipient accept), at most HTTP_HEAD_MAX; bytes after it are not read.
 * *headlen is left alone otherwise. Once n reaches HTTP_HEAD_MAX the result
 * is never HTTP_PARTIAL.
 *
 * Accepted: leading empty lines (RFC 9112 2.2); a request line of a token,
 * one SP, an origin-form target (or absolute-form "http://host/path", or
 * "*" with OPTIONS), one SP and "HTTP/" DIGIT "." DIGIT; header lines of a
 * token, ':' and a value of visible characters, SP, HTAB and octets over
 * 0x7f. HTTP/1.1 needs exactly one Host field, HTTP/1.0 at most one
 * (RFC 9112 3.2). Everything else is HTTP_BAD: control characters and NUL
 * anywhere, bare CR, whitespace before ':' or at the start of a line
 * (obs-fold), targets with characters RFC 3986 does not allow or bad
 * percent-escapes (including '#' and non-ASCII octets).
 */
http_status_t http_parse(const uint8_t *p, size_t n, http_request_t *req,
    size_t *headlen);

/* http_status_code maps a parse error to its HTTP status; 0 for the others. */
int http_status_code(http_status_t st);

/* http_reason returns the reason phrase for an HTTP status ("" if unknown). */
const char *http_reason(int status);

/*
 * http_response writes a response head into out[0..cap): the status line
 * and Content-Type, Content-Length, Connection: close (the server always
 * closes after one response) and Cache-Control: no-store, then the empty
 * line. A 204 carries neither Content-Type nor Content-Length (RFC 9110
 * 8.6) and needs body_len == 0. content_type is trusted text (ours, never a
 * peer's); NULL means "text/plain; charset=utf-8". out is NUL-terminated;
 * returns the length without the NUL, or 0 if the head and its NUL do not
 * fit, status is not 200-599, or content_type holds a control character.
 */
size_t http_response(char *out, size_t cap, int status,
    const char *content_type, size_t body_len);

/*
 * http_response_extra is http_response with more header lines: extra is
 * NULL or complete lines, each ending in CRLF ("Allow: GET, HEAD\r\n"),
 * placed before the empty line. Returns 0 as http_response does, and also
 * when extra has a bare CR or LF or does not end in CRLF.
 */
size_t http_response_extra(char *out, size_t cap, int status,
    const char *content_type, size_t body_len, const char *extra);

/* Responses (the MTA-STS policy fetch) ------------------------------------ */

/*
 * Limits of a response head (RFC 9112 sets none). The client only fetches
 * small text documents from web servers it does not control, whose heads
 * run to a few hundred octets, or a few KiB behind a CDN.
 * HTTP_RESPONSE_HEAD_MAX: every head up to the end of the final one (1xx
 * interim heads included), twice the request's, for CDN headers.
 * HTTP_STATUS_LINE_MAX: the status line with its terminator.
 * HTTP_HEADERS_MAX (above) bounds the field lines of each head and the
 * trailer lines of a chunked body.
 * HTTP_CHUNK_LINE_MAX: a chunk-size line (size and skipped extensions) or a
 * trailer line, terminator included.
 * HTTP_CHUNK_FRAMING_MAX: all octets of a chunked body that are not data
 * (sizes, extensions, CRLFs, trailers), so that the wire octets are bounded
 * as well as the decoded ones: 2048 chunks of a normal size line.
 */
#define HTTP_RESPONSE_HEAD_MAX 16384
#define HTTP_STATUS_LINE_MAX 1024
#define HTTP_CHUNK_LINE_MAX 1024
#define HTTP_CHUNK_FRAMING_MAX 16384

/* How a response body ends (RFC 9112 6.3). */
typedef enum {
	HTTP_FRAMING_NONE,     /* 1xx, 204, 304: no body */
	HTTP_FRAMING_LENGTH,   /* Content-Length */
	HTTP_FRAMING_CHUNKED,  /* Transfer-Encoding: chunked */
	HTTP_FRAMING_CLOSE     /* neither: the body ends at the server's close */
} http_framing_t;

/*
 * A response head, parsed as http_parse parses a request head. The public
 * fields are set when http_response_parse returns HTTP_OK and describe the
 * final response (interim 1xx heads are skipped). Nothing points into the
 * buffer. Fields ending in '_' are the parser's.
 */
typedef struct {
	int version_minor;        /* HTTP/1.x: 0 or 1 */
	int code;                 /* 100-599; never 1xx once HTTP_OK */
	unsigned nheaders;        /* field lines of the final head */
	int text_plain;           /* Content-Type's media type is text/plain */
	http_framing_t framing;   /* how its body ends */
	uint64_t content_length;  /* HTTP_FRAMING_LENGTH: the body's length */

	http_status_t status_;
	http_scan_t scan_;
	size_t headlen_;
	unsigned ncl_, nte_, nct_; /* Content-Length, T-E, Content-Type */
} http_response_t;

/* http_response_init prepares resp (caller storage) for a new response. */
void http_response_init(http_response_t *resp);

/*
 * http_response_parse examines a response head in p[0..n), with the
 * contract of http_parse: call again with the same resp and a longer
 * buffer that begins with the same bytes; the verdict does not depend on
 * the splits and is sticky; *headlen (on HTTP_OK) is the length of every
 * head up to the end of the final one, at most HTTP_RESPONSE_HEAD_MAX; the
 * body begins there. Once n reaches HTTP_RESPONSE_HEAD_MAX the result is
 * never HTTP_PARTIAL.
 *
 * Accepted: a status line "HTTP/1.0" or "HTTP/1.1", SP, three digits
 * 100-599, then SP and a reason phrase (ignored), or the line end; field
 * lines as in requests (token ':' value; no whitespace before ':', no
 * obs-fold, no control octet but HTAB); CRLF or bare LF line ends.
 * Interim 1xx heads (RFC 9110 15.2: a client must parse them) are checked
 * the same way and skipped; 101 is HTTP_BAD (never asked for).
 * HTTP_BAD_VERSION: another HTTP version. HTTP_BAD also for: a second
 * Content-Length, Transfer-Encoding or Content-Type field; a Content-Length
 * that is not 1*DIGIT (no lists); Transfer-Encoding other than exactly
 * "chunked" (no other coding was asked for), or in an HTTP/1.0 response
 * (RFC 9112 6.1); Transfer-Encoding with Content-Length (RFC 9112 6.3 lets
 * T-E win; a server that sends both is not trusted with either).
 * HTTP_TOO_LARGE: over HTTP_RESPONSE_HEAD_MAX or HTTP_STATUS_LINE_MAX, or
 * more than HTTP_HEADERS_MAX field lines in one head.
 *
 * text_plain is 1 when the Content-Type's type/subtype is text/plain
 * (case-insensitive, RFC 9110 8.3.1), whatever its parameters (RFC 8461
 * 3.2 ignores them); 0 without the field or with another or malformed one.
 */
http_status_t http_response_parse(const uint8_t *p, size_t n,
    http_response_t *resp, size_t *headlen);

/*
 * An incremental body decoder. The decoded body collects in out[0..len),
 * caller storage of max octets (borrowed: it must outlive the decoder);
 * fields ending in '_' are the decoder's.
 */
typedef struct {
	uint8_t *out;
	size_t max;
	size_t len;

	http_status_t status_;
	http_framing_t framing_;
	uint64_t left_;      /* LENGTH: body left; CHUNKED: chunk data left */
	int state_;          /* CHUNKED: where in the framing */
	size_t line_;        /* CHUNKED: octets of this size or trailer line */
	size_t overhead_;    /* CHUNKED: framing octets so far */
	unsigned ntrailers_;
} http_body_t;

/*
 * http_response_body_init prepares b for the body of resp (a head that
 * http_response_parse accepted), at most max octets into out[0..max). A
 * Content-Length over max is HTTP_TOO_LARGE at once.
 */
void http_response_body_init(http_body_t *b, const http_response_t *resp,
    uint8_t *out, size_t max);

/*
 * http_response_body_feed decodes the next octets p[0..n) of the body
 * (each octet is given once: the decoder keeps its own position). *used is
 * how many it consumed: all of them, except after the end of a
 * Content-Length or chunked body, whose remaining octets are not the
 * body's. The result does not depend on how the body is split between
 * calls, and once not HTTP_PARTIAL it is sticky:
 *   HTTP_PARTIAL    more is needed (for a close-delimited body, until
 *                   http_response_body_end);
 *   HTTP_OK         the body is complete in out[0..len);
 *   HTTP_TOO_LARGE  it would exceed max, or the chunked framing exceeds
 *                   HTTP_CHUNK_LINE_MAX, HTTP_CHUNK_FRAMING_MAX or
 *                   HTTP_HEADERS_MAX trailer lines;
 *   HTTP_BAD        malformed chunked framing (RFC 9112 7.1): a size that
 *                   is not 1*HEXDIG, control octets, a line end other
 *                   than CRLF, data not followed by CRLF.
 * Chunk extensions and trailer fields are skipped.
 */
http_status_t http_response_body_feed(http_body_t *b, const uint8_t *p,
    size_t n, size_t *used);

/*
 * http_response_body_end: the server closed the connection. A
 * close-delimited body is then complete (HTTP_OK); any other that is not
 * complete is truncated (HTTP_BAD). An error so far stays the result.
 */
http_status_t http_response_body_end(http_body_t *b);

/* HTTP_DATE_LEN: an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT". */
#define HTTP_DATE_LEN 29

/*
 * http_date writes t as an IMF-fixdate (RFC 9110 5.6.7) and a NUL into
 * out[0..cap). Returns 0, or -1 if cap < HTTP_DATE_LEN + 1 or t is out of
 * the four-digit year range.
 */
int http_date(char *out, size_t cap, time_t t);

#endif
