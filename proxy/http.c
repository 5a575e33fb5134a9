/*
 * http: request head parsing and response heads for the admin endpoint.
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
