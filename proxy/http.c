/*
 * http: request head parsing and response heads for the admin endpoint;
 * response head parsing and body decoding for the MTA-STS policy fetch.
 * Every read is bounded by an explicit length; see http.h for the grammar.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"

/* Character classes ------------------------------------------------------ */

/* tchar (RFC 9110 5.6.2): what methods and field names are made of. */
static int
http_is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	default:
		return 0;
	}
}

/* unreserved / sub-delims / ':' / '@' (RFC 3986 pchar without pct-encoded). */
static int
http_is_pchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '-': case '.': case '_': case '~':                 /* unreserved */
	case '!': case '$': case '&': case '\'': case '(': case ')':
	case '*': case '+': case ',': case ';': case '=':       /* sub-delims */
	case ':': case '@':
		return 1;
	default:
		return 0;
	}
}

static int
http_is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* What http_uri_chars accepts besides pchar and pct-encoded. */
#define HTTP_URI_SLASH 0x1    /* '/': paths and queries */
#define HTTP_URI_QMARK 0x2    /* '?': queries */
#define HTTP_URI_BRACKET 0x4  /* '[' ']': IP literals in authorities */

/*
 * http_uri_chars checks that s[0..n) is pchars, pct-encoded octets and the
 * characters that the HTTP_URI_* bits in also allow. Returns 0 or -1.
 */
static int
http_uri_chars(const uint8_t *s, size_t n, unsigned also)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || !http_is_hex(s[i + 1]) ||
			    !http_is_hex(s[i + 2]))
				return -1;
			i += 2;
		} else if (!http_is_pchar(s[i]) &&
		    !(s[i] == '/' && (also & HTTP_URI_SLASH)) &&
		    !(s[i] == '?' && (also & HTTP_URI_QMARK)) &&
		    !((s[i] == '[' || s[i] == ']') &&
		    (also & HTTP_URI_BRACKET))) {
			return -1;
		}
	}
	return 0;
}

/* Case-insensitive comparison of s[0..n) with a lower-case literal. */
static int
http_eq_lower(const uint8_t *s, size_t n, const char *lit, size_t litlen)
{
	if (n != litlen)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		if (c != (uint8_t)lit[i])
			return 0;
	}
	return 1;
}

/* Request line ----------------------------------------------------------- */

/*
 * http_target parses the request-target t[0..n), found at offset off of
 * the buffer. Sets the path and query offsets in req. Returns 0 or -1.
 */
static int
http_target(const uint8_t *t, size_t n, size_t off, int options,
    http_request_t *req)
{
	size_t i = 0, q;

	if (n == 1 && t[0] == '*') {
		/* asterisk-form (RFC 9112 3.2.4): OPTIONS only. */
		if (!options)
			return -1;
		req->path_off_ = off;
		return 0;
	}
	if (t[0] != '/') {
		/* absolute-form (3.2.2): "http(s)://" authority [path] [?q]. */
		size_t a;

		if (n >= 7 && http_eq_lower(t, 7, "http://", 7))
			i = 7;
		else if (n >= 8 && http_eq_lower(t, 8, "https://", 8))
			i = 8;
		else
			return -1;
		for (a = i; i < n && t[i] != '/' && t[i] != '?'; i++)
			;
		if (i == a ||
		    http_uri_chars(t + a, i - a, HTTP_URI_BRACKET) == -1)
			return -1;
		if (i == n || t[i] == '?')
			req->path_static_ = 1;
	}
	req->path_off_ = off + i;
	for (q = i; q < n && t[q] != '?'; q++)
		;
	if (http_uri_chars(t + i, q - i, HTTP_URI_SLASH) == -1)
		return -1;
	if (q < n) {
		req->has_query_ = 1;
		req->query_off_ = off + q + 1;
		if (http_uri_chars(t + q + 1, n - q - 1,
		    HTTP_URI_SLASH | HTTP_URI_QMARK) == -1)
			return -1;
	}
	return 0;
}

/*
 * http_request_line parses the request line's text t[0..n) at offset off:
 * method SP request-target SP HTTP-version (RFC 9112 3), single spaces.
 */
static http_status_t
http_request_line(const uint8_t *t, size_t n, size_t off, http_request_t *req)
{
	size_t sp1, sp2, vlen;
	const uint8_t *v;

	for (sp1 = 0; sp1 < n && t[sp1] != ' '; sp1++)
		;
	if (sp1 == 0 || sp1 == n)
		return HTTP_BAD;
	for (sp2 = sp1 + 1; sp2 < n && t[sp2] != ' '; sp2++)
		;
	if (sp2 == sp1 + 1 || sp2 == n)
		return HTTP_BAD;

	/* The version first, so that an HTTP/2 preface gets its 505. */
	v = t + sp2 + 1;
	vlen = n - sp2 - 1;
	if (vlen != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return HTTP_BAD;
	if (v[5] != '1')
		return HTTP_BAD_VERSION;
	req->version_minor = v[7] - '0';

	for (size_t i = 0; i < sp1; i++)
		if (!http_is_tchar(t[i]))
			return HTTP_BAD;
	req->method_off_ = off;
	req->method.len = sp1;
	if (http_target(t + sp1 + 1, sp2 - sp1 - 1, off + sp1 + 1,
	    sp1 == 7 && memcmp(t, "OPTIONS", 7) == 0, req) == -1)
		return HTTP_BAD;
	/* Lengths are kept now; http_parse turns offsets into pointers. */
	if (req->has_query_) {
		req->query.len = off + sp2 - req->query_off_;
		req->path.len = req->query_off_ - 1 - req->path_off_;
	} else {
		req->path.len = off + sp2 - req->path_off_;
	}
	if (req->path_static_)
		req->path.len = 1;
	return HTTP_PARTIAL;
}

/* Header fields ---------------------------------------------------------- */

/*
 * http_header_line checks one field line t[0..n): token ':' value (the
 * scan already refused control characters). Counts Host fields and checks
 * their value (uri-host [":" port] characters, after optional whitespace).
 */
static http_status_t
http_header_line(const uint8_t *t, size_t n, http_request_t *req)
{
	size_t c, vs, ve;

	/* Whitespace here is obs-fold or a space before the first field:
	 * RFC 9112 5.2 and 2.2 let a server reject both. */
	for (c = 0; c < n && t[c] != ':'; c++)
		if (!http_is_tchar(t[c]))
			return HTTP_BAD;
	if (c == 0 || c == n)
		return HTTP_BAD;
	if (!http_eq_lower(t, c, "host", 4))
		return HTTP_PARTIAL;
	if (++req->nhost_ > 1)
		return HTTP_BAD;
	for (vs = c + 1; vs < n && (t[vs] == ' ' || t[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (t[ve - 1] == ' ' || t[ve - 1] == '\t'); ve--)
		;
	if (http_uri_chars(t + vs, ve - vs, HTTP_URI_BRACKET) == -1 ||
	    memchr(t + vs, '@', ve - vs) != NULL)
		return HTTP_BAD;
	return HTTP_PARTIAL;
}

/* Scanning --------------------------------------------------------------- */

/*
 * http_request_line_cb judges the line p[start..end) (terminator excluded)
 * of a request head, whose terminator ends at next. HTTP_PARTIAL means "go
 * on".
 */
static http_status_t
http_request_line_cb(void *ctx, const uint8_t *p, size_t start, size_t end,
    size_t next)
{
	http_request_t *req = ctx;
	http_status_t st;

	if (!req->scan_.in_headers) {
		if (end == start)
			return HTTP_PARTIAL; /* empty lines before it: 2.2 */
		st = http_request_line(p + start, end - start, start, req);
		if (st == HTTP_PARTIAL)
			req->scan_.in_headers = 1;
		return st;
	}
	if (end == start) {
		/* RFC 9112 3.2: HTTP/1.1 needs one Host field. */
		if (req->version_minor >= 1 && req->nhost_ != 1)
			return HTTP_BAD;
		req->headlen_ = next;
		return HTTP_OK;
	}
	if (++req->nheaders > HTTP_HEADERS_MAX)
		return HTTP_TOO_LARGE;
	return http_header_line(p + start, end - start, req);
}

/* The bounds of one kind of head. */
typedef struct {
	size_t first_max;         /* the first line, terminator included */
	http_status_t first_err;  /* the verdict when it is longer */
	size_t head_max;          /* the whole head */
} http_bounds_t;

/*
 * http_limit says whether a head byte at offset i would be within the
 * bounds: HTTP_PARTIAL if so, otherwise the error. It looks at positions
 * only, so it is asked before the byte has arrived: once the bytes so far
 * leave no room, the verdict comes without waiting for one more.
 */
static http_status_t
http_limit(const http_scan_t *sc, const http_bounds_t *b, size_t i)
{
	if (!sc->in_headers && i - sc->line >= b->first_max)
		return b->first_err;
	if (i >= b->head_max)
		return HTTP_TOO_LARGE;
	return HTTP_PARTIAL;
}

/* Called with each complete line of a head; HTTP_PARTIAL means "go on". */
typedef http_status_t (*http_line_cb_t)(void *ctx, const uint8_t *p,
    size_t start, size_t end, size_t next);

/*
 * http_scan examines bytes from sc->pos on, in order, and hands each line
 * to cb; each decision depends only on the bytes before and at the
 * position where it is made, which is what makes the result independent
 * of how the input was split. Lines end in CRLF or a bare LF (RFC 9112
 * 2.2); NUL, other controls but HTAB, and bare CR are HTTP_BAD.
 */
static http_status_t
http_scan(const uint8_t *p, size_t n, http_scan_t *sc, const http_bounds_t *b,
    http_line_cb_t cb, void *ctx)
{
	for (;;) {
		size_t i = sc->pos, next;
		http_status_t st;
		uint8_t c;

		if ((st = http_limit(sc, b, i)) != HTTP_PARTIAL)
			return st;
		if (i >= n)
			return HTTP_PARTIAL;
		c = p[i];
		if (c == '\n') {
			next = i + 1;
		} else if (c == '\r') {
			/* Its LF would be the next byte: within bounds? */
			if ((st = http_limit(sc, b, i + 1)) != HTTP_PARTIAL)
				return st;
			if (i + 1 == n)
				return HTTP_PARTIAL; /* resume at the CR */
			if (p[i + 1] != '\n')
				return HTTP_BAD;     /* bare CR */
			next = i + 2;
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			return HTTP_BAD;             /* NUL and controls */
		} else {
			sc->pos = i + 1;
			continue;
		}
		st = cb(ctx, p, sc->line, i, next);
		if (st != HTTP_PARTIAL)
			return st;
		sc->pos = sc->line = next;
	}
}

static const http_bounds_t http_request_bounds = {
	HTTP_REQUEST_LINE_MAX, HTTP_URI_TOO_LONG, HTTP_HEAD_MAX
};

void
http_request_init(http_request_t *req)
{
	memset(req, 0, sizeof(*req));
	req->status_ = HTTP_PARTIAL;
}

http_status_t
http_parse(const uint8_t *p, size_t n, http_request_t *req, size_t *headlen)
{
	if (req->status_ == HTTP_PARTIAL) {
		/* A shorter buffer than last time breaks the contract. */
		req->status_ = n < req->scan_.pos ? HTTP_BAD :
		    http_scan(p, n, &req->scan_, &http_request_bounds,
		    http_request_line_cb, req);
	}
	if (req->status_ != HTTP_OK)
		return req->status_;
	req->method.p = p + req->method_off_;
	req->path.p = req->path_static_ ? (const uint8_t *)"/" :
	    p + req->path_off_;
	req->query.p = req->has_query_ ? p + req->query_off_ : NULL;
	if (!req->has_query_)
		req->query.len = 0;
	*headlen = req->headlen_;
	return HTTP_OK;
}

int
http_status_code(http_status_t st)
{
	switch (st) {
	case HTTP_BAD:
		return 400;
	case HTTP_TOO_LARGE:
		return 431;
	case HTTP_URI_TOO_LONG:
		return 414;
	case HTTP_BAD_VERSION:
		return 505;
	case HTTP_PARTIAL:
	case HTTP_OK:
		break;
	}
	return 0;
}

/* Response heads --------------------------------------------------------- */

/* s[0..n) without optional whitespace (SP, HTAB) at either end. */
static void
http_trim_ows(const uint8_t *s, size_t n, size_t *vs, size_t *ve)
{
	size_t a = 0, b = n;

	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
		b--;
	*vs = a;
	*ve = b;
}

/*
 * http_status_line parses "HTTP/1.x SP 3DIGIT [SP reason-phrase]" in
 * t[0..n) (RFC 9112 4). The reason phrase is ignored; the scan already
 * refused control octets in it. A missing SP after the code is tolerated.
 */
static http_status_t
http_status_line(const uint8_t *t, size_t n, http_response_t *resp)
{
	int code;

	if (n < 8 || memcmp(t, "HTTP/", 5) != 0 || t[5] < '0' || t[5] > '9' ||
	    t[6] != '.' || t[7] < '0' || t[7] > '9')
		return HTTP_BAD;
	if (t[5] != '1' || t[7] > '1')
		return HTTP_BAD_VERSION;
	if (n < 12 || t[8] != ' ' || t[9] < '1' || t[9] > '5' ||
	    t[10] < '0' || t[10] > '9' || t[11] < '0' || t[11] > '9' ||
	    (n > 12 && t[12] != ' '))
		return HTTP_BAD;
	code = (t[9] - '0') * 100 + (t[10] - '0') * 10 + (t[11] - '0');
	if (code == 101)
		return HTTP_BAD; /* Switching Protocols: never asked for */
	resp->version_minor = t[7] - '0';
	resp->code = code;
	return HTTP_PARTIAL;
}

/* Content-Length = 1*DIGIT (RFC 9110 8.6); a huge value saturates. */
static http_status_t
http_content_length(const uint8_t *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0)
		return HTTP_BAD;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return HTTP_BAD;
		if (x > (UINT64_MAX - 9) / 10)
			x = UINT64_MAX;
		else
			x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return HTTP_PARTIAL;
}

/*
 * http_media_text_plain: the Content-Type value v[0..n) is
 * type "/" subtype *( OWS ";" OWS parameter ) (RFC 9110 8.3.1) with
 * type/subtype text/plain, case-insensitively. Parameters are not read.
 */
static int
http_media_text_plain(const uint8_t *v, size_t n)
{
	size_t i;

	if (n < 10 || !http_eq_lower(v, 10, "text/plain", 10))
		return 0;
	i = 10;
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	return i == n || v[i] == ';';
}

/* One field line t[0..n) of a response head. */
static http_status_t
http_response_field(const uint8_t *t, size_t n, http_response_t *resp)
{
	size_t c, vs, ve;
	const uint8_t *v;

	/* Whitespace here is obs-fold or before the colon: RFC 9112 5.1
	 * and 5.2 let a client refuse neither, but they have no use here
	 * and are how framing smuggling starts. */
	for (c = 0; c < n && t[c] != ':'; c++)
		if (!http_is_tchar(t[c]))
			return HTTP_BAD;
	if (c == 0 || c == n)
		return HTTP_BAD;
	http_trim_ows(t + c + 1, n - c - 1, &vs, &ve);
	v = t + c + 1 + vs;
	if (http_eq_lower(t, c, "content-length", 14)) {
		if (++resp->ncl_ > 1)
			return HTTP_BAD;
		return http_content_length(v, ve - vs, &resp->content_length);
	}
	if (http_eq_lower(t, c, "transfer-encoding", 17)) {
		if (++resp->nte_ > 1 ||
		    !http_eq_lower(v, ve - vs, "chunked", 7))
			return HTTP_BAD;
		return HTTP_PARTIAL;
	}
	if (http_eq_lower(t, c, "content-type", 12)) {
		if (++resp->nct_ > 1)
			return HTTP_BAD;
		resp->text_plain = http_media_text_plain(v, ve - vs);
	}
	return HTTP_PARTIAL;
}

/* The end of a head: an interim one is skipped, the final one decides. */
static http_status_t
http_response_head_end(http_response_t *resp, size_t next)
{
	if (resp->code < 200) {
		/* 1xx: its fields say nothing of the final response. */
		resp->scan_.in_headers = 0;
		resp->nheaders = resp->ncl_ = resp->nte_ = resp->nct_ = 0;
		resp->text_plain = 0;
		resp->content_length = 0;
		return HTTP_PARTIAL;
	}
	if (resp->nte_ > 0 && (resp->ncl_ > 0 || resp->version_minor == 0))
		return HTTP_BAD;
	if (resp->code == 204 || resp->code == 304)
		resp->framing = HTTP_FRAMING_NONE;
	else if (resp->nte_ > 0)
		resp->framing = HTTP_FRAMING_CHUNKED;
	else if (resp->ncl_ > 0)
		resp->framing = HTTP_FRAMING_LENGTH;
	else
		resp->framing = HTTP_FRAMING_CLOSE;
	resp->headlen_ = next;
	return HTTP_OK;
}

static http_status_t
http_response_line_cb(void *ctx, const uint8_t *p, size_t start, size_t end,
    size_t next)
{
	http_response_t *resp = ctx;
	http_status_t st;

	if (!resp->scan_.in_headers) {
		/* No empty lines before a status line: a client reads what
		 * it asked for, and stray line ends are a broken server. */
		st = http_status_line(p + start, end - start, resp);
		if (st == HTTP_PARTIAL)
			resp->scan_.in_headers = 1;
		return st;
	}
	if (end == start)
		return http_response_head_end(resp, next);
	if (++resp->nheaders > HTTP_HEADERS_MAX)
		return HTTP_TOO_LARGE;
	return http_response_field(p + start, end - start, resp);
}

static const http_bounds_t http_response_bounds = {
	HTTP_STATUS_LINE_MAX, HTTP_TOO_LARGE, HTTP_RESPONSE_HEAD_MAX
};

void
http_response_init(http_response_t *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status_ = HTTP_PARTIAL;
}

http_status_t
http_response_parse(const uint8_t *p, size_t n, http_response_t *resp,
    size_t *headlen)
{
	if (resp->status_ == HTTP_PARTIAL)
		resp->status_ = n < resp->scan_.pos ? HTTP_BAD :
		    http_scan(p, n, &resp->scan_, &http_response_bounds,
		    http_response_line_cb, resp);
	if (resp->status_ == HTTP_OK)
		*headlen = resp->headlen_;
	return resp->status_;
}

/* Response bodies -------------------------------------------------------- */

/* Where a chunked body's decoder stands (RFC 9112 7.1). */
enum {
	HTTP_CK_SIZE,        /* chunk-size: the first hex digit */
	HTTP_CK_SIZE_MORE,   /* more hex digits, or the end of the size */
	HTTP_CK_EXT,         /* chunk-ext, skipped up to CR */
	HTTP_CK_SIZE_LF,     /* the LF of the size line */
	HTTP_CK_DATA,        /* chunk-data */
	HTTP_CK_DATA_CR,     /* the CRLF after the data */
	HTTP_CK_DATA_LF,
	HTTP_CK_TRAILER,     /* the start of a trailer line or of the end */
	HTTP_CK_TRAILER_MORE,/* a trailer field line, skipped up to CR */
	HTTP_CK_TRAILER_LF,
	HTTP_CK_END_LF       /* the LF of the final empty line */
};

void
http_response_body_init(http_body_t *b, const http_response_t *resp,
    uint8_t *out, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->out = out;
	b->max = max;
	b->status_ = HTTP_PARTIAL;
	b->framing_ = resp->framing;
	b->state_ = HTTP_CK_SIZE;
	if (resp->framing == HTTP_FRAMING_NONE)
		b->status_ = HTTP_OK;
	else if (resp->framing == HTTP_FRAMING_LENGTH) {
		b->left_ = resp->content_length;
		if (b->left_ > max)
			b->status_ = HTTP_TOO_LARGE;
		else if (b->left_ == 0)
			b->status_ = HTTP_OK;
	}
}

static int
http_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copies up to b->left_ octets of p[0..n) into the body; returns them. */
static size_t
http_body_take(http_body_t *b, const uint8_t *p, size_t n)
{
	size_t k = n < b->left_ ? n : (size_t)b->left_;

	if (k == 0)
		return 0;
	memcpy(b->out + b->len, p, k);
	b->len += k;
	b->left_ -= k;
	return k;
}

/*
 * http_chunk_octet moves the chunked framing on by the octet c (never a
 * data octet). HTTP_PARTIAL means "go on".
 */
static http_status_t
http_chunk_octet(http_body_t *b, uint8_t c)
{
	int d;

	if (++b->overhead_ > HTTP_CHUNK_FRAMING_MAX ||
	    ++b->line_ > HTTP_CHUNK_LINE_MAX)
		return HTTP_TOO_LARGE;
	switch (b->state_) {
	case HTTP_CK_SIZE:
	case HTTP_CK_SIZE_MORE:
		if ((d = http_hex(c)) >= 0) {
			/* The size only grows with more digits: once over
			 * the room left, the verdict is final. */
			b->left_ = b->left_ * 16 + (uint64_t)d;
			if (b->left_ > b->max - b->len)
				return HTTP_TOO_LARGE;
			b->state_ = HTTP_CK_SIZE_MORE;
			return HTTP_PARTIAL;
		}
		if (b->state_ == HTTP_CK_SIZE)
			return HTTP_BAD;
		if (c == '\r')
			b->state_ = HTTP_CK_SIZE_LF;
		else if (c == ';' || c == ' ' || c == '\t')
			b->state_ = HTTP_CK_EXT; /* BWS ";" chunk-ext */
		else
			return HTTP_BAD;
		return HTTP_PARTIAL;
	case HTTP_CK_EXT:
	case HTTP_CK_TRAILER_MORE:
		if (c == '\r')
			b->state_ = b->state_ == HTTP_CK_EXT ? HTTP_CK_SIZE_LF :
			    HTTP_CK_TRAILER_LF;
		else if ((c < 0x20 && c != '\t') || c == 0x7f)
			return HTTP_BAD;
		return HTTP_PARTIAL;
	case HTTP_CK_SIZE_LF:
		if (c != '\n')
			return HTTP_BAD;
		b->line_ = 0;
		b->state_ = b->left_ == 0 ? HTTP_CK_TRAILER : HTTP_CK_DATA;
		return HTTP_PARTIAL;
	case HTTP_CK_DATA_CR:
		if (c != '\r')
			return HTTP_BAD;
		b->state_ = HTTP_CK_DATA_LF;
		return HTTP_PARTIAL;
	case HTTP_CK_DATA_LF:
		if (c != '\n')
			return HTTP_BAD;
		b->line_ = 0;
		b->state_ = HTTP_CK_SIZE;
		return HTTP_PARTIAL;
	case HTTP_CK_TRAILER:
		if (c == '\r') {
			b->state_ = HTTP_CK_END_LF;
			return HTTP_PARTIAL;
		}
		/* A field line (not checked further: it is skipped), never
		 * folded onto the one before. */
		if (++b->ntrailers_ > HTTP_HEADERS_MAX)
			return HTTP_TOO_LARGE;
		if (!http_is_tchar(c))
			return HTTP_BAD;
		b->state_ = HTTP_CK_TRAILER_MORE;
		return HTTP_PARTIAL;
	case HTTP_CK_TRAILER_LF:
		if (c != '\n')
			return HTTP_BAD;
		b->line_ = 0;
		b->state_ = HTTP_CK_TRAILER;
		return HTTP_PARTIAL;
	case HTTP_CK_END_LF:
		return c == '\n' ? HTTP_OK : HTTP_BAD;
	default:
		return HTTP_BAD;
	}
}

/* The chunked framing over p[0..n); *used as for the feed. */
static http_status_t
http_body_chunked(http_body_t *b, const uint8_t *p, size_t n, size_t *used)
{
	size_t i = 0;
	http_status_t st = HTTP_PARTIAL;

	while (i < n && st == HTTP_PARTIAL) {
		if (b->state_ == HTTP_CK_DATA) {
			i += http_body_take(b, p + i, n - i);
			if (b->left_ == 0)
				b->state_ = HTTP_CK_DATA_CR;
			continue;
		}
		st = http_chunk_octet(b, p[i++]);
	}
	*used = i;
	return st;
}

http_status_t
http_response_body_feed(http_body_t *b, const uint8_t *p, size_t n,
    size_t *used)
{
	*used = 0;
	if (b->status_ != HTTP_PARTIAL)
		return b->status_;
	switch (b->framing_) {
	case HTTP_FRAMING_LENGTH:
		*used = http_body_take(b, p, n);
		if (b->left_ == 0)
			b->status_ = HTTP_OK;
		break;
	case HTTP_FRAMING_CHUNKED:
		b->status_ = http_body_chunked(b, p, n, used);
		break;
	case HTTP_FRAMING_CLOSE:
		if (n > b->max - b->len) {
			b->status_ = HTTP_TOO_LARGE;
			break;
		}
		if (n > 0)
			memcpy(b->out + b->len, p, n);
		b->len += n;
		*used = n;
		break;
	case HTTP_FRAMING_NONE:
		b->status_ = HTTP_OK;
		break;
	}
	return b->status_;
}

http_status_t
http_response_body_end(http_body_t *b)
{
	if (b->status_ == HTTP_PARTIAL)
		b->status_ = b->framing_ == HTTP_FRAMING_CLOSE ? HTTP_OK :
		    HTTP_BAD;
	return b->status_;
}

/* Responses -------------------------------------------------------------- */

static const struct {
	int status;
	const char *reason;
} http_reasons[] = {
	{ 200, "OK" },
	{ 204, "No Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 304, "Not Modified" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

const char *
http_reason(int status)
{
	for (size_t i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]);
	    i++)
		if (http_reasons[i].status == status)
			return http_reasons[i].reason;
	return "";
}

/* Appends to out[*off..cap), keeping the NUL; -1 when it does not fit. */
static int http_put(char *out, size_t cap, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
http_put(char *out, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*off >= cap)
		return -1;
	va_start(ap, fmt);
	r = vsnprintf(out + *off, cap - *off, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= cap - *off)
		return -1;
	*off += (size_t)r;
	return 0;
}

/* extra must be whole CRLF-terminated lines without other controls. */
static int
http_extra_ok(const char *extra)
{
	size_t n = strlen(extra);

	if (n == 0)
		return 1;
	if (n < 2 || extra[n - 2] != '\r' || extra[n - 1] != '\n')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)extra[i];
		if (c == '\r' && extra[i + 1] != '\n')
			return 0;
		if (c == '\n' && (i == 0 || extra[i - 1] != '\r'))
			return 0;
		if (c < 0x20 && c != '\r' && c != '\n' && c != '\t')
			return 0;
		/* An empty line would end the head early. */
		if (c == '\n' && extra[i + 1] == '\r')
			return 0;
	}
	return extra[0] != '\r';
}

size_t
http_response_extra(char *out, size_t cap, int status,
    const char *content_type, size_t body_len, const char *extra)
{
	size_t off = 0;

	if (status < 200 || status > 599 || (status == 204 && body_len != 0))
		return 0;
	if (content_type == NULL)
		content_type = "text/plain; charset=utf-8";
	for (const char *c = content_type; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return 0;
	if (extra != NULL && !http_extra_ok(extra))
		return 0;
	if (http_put(out, cap, &off, "HTTP/1.1 %d %s\r\n", status,
	    http_reason(status)) == -1)
		return 0;
	if (status != 204 && http_put(out, cap, &off,
	    "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type,
	    body_len) == -1)
		return 0;
	if (http_put(out, cap, &off,
	    "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
	    extra != NULL ? extra : "") == -1)
		return 0;
	return off;
}

size_t
http_response(char *out, size_t cap, int status, const char *content_type,
    size_t body_len)
{
	return http_response_extra(out, cap, status, content_type, body_len,
	    NULL);
}

int
http_date(char *out, size_t cap, time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	int r;

	if (cap < HTTP_DATE_LEN + 1 || gmtime_r(&t, &tm) == NULL ||
	    tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 ||
	    tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11)
		return -1;
	/* Not strftime: its names follow the locale, HTTP's do not. */
	r = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return r == HTTP_DATE_LEN ? 0 : -1;
}
