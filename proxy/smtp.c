/*
 * smtp: pure, bounded SMTP parsers (see smtp.h for the contracts).
 *
 * Nothing here allocates, logs or depends on the locale: case folding is
 * ASCII only, and every scan is bounded by an explicit length.
 */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "smtp.h"

#define SMTP_CR '\r'
#define SMTP_LF '\n'
#define SMTP_SP ' '
#define SMTP_HTAB '\t'

static uint8_t
smtp_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/*
 * Case-insensitive (ASCII) equality of peer bytes p[0..n) with our own
 * NUL-terminated constant s (never peer data).
 */
static int
smtp_ieq(const uint8_t *p, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\0' ||
		    smtp_lower(p[i]) != smtp_lower((uint8_t)s[i]))
			return 0;
	}
	return s[n] == '\0';
}

/* Line framing -------------------------------------------------------- */

smtp_line_status_t
smtp_line_find(const uint8_t *p, size_t n, size_t max, size_t *linelen,
    size_t *textlen, unsigned *flags)
{
	size_t lim = n < max ? n : max;
	const uint8_t *lf;
	size_t idx, tl;
	unsigned f = 0;

	lf = lim > 0 ? memchr(p, SMTP_LF, lim) : NULL;
	if (lf == NULL)
		return n < max ? SMTP_LINE_PARTIAL : SMTP_LINE_TOO_LONG;

	idx = (size_t)(lf - p);
	if (idx > 0 && p[idx - 1] == SMTP_CR) {
		tl = idx - 1;
	} else {
		tl = idx;
		f |= SMTP_LINE_BARE_LF;
	}
	/*
	 * The first LF is at idx, so every CR in the text is followed by
	 * something other than LF: it is bare.
	 */
	if (tl > 0 && memchr(p, SMTP_CR, tl) != NULL)
		f |= SMTP_LINE_BARE_CR;
	if (tl > 0 && memchr(p, 0, tl) != NULL)
		f |= SMTP_LINE_NUL;

	*linelen = idx + 1;
	*textlen = tl;
	*flags = f;
	return SMTP_LINE_OK;
}

/* Replies --------------------------------------------------------------- */

int
smtp_reply_line_parse(const uint8_t *text, size_t textlen,
    smtp_reply_line_t *out)
{
	if (textlen < 3)
		return -1;
	if (text[0] < '2' || text[0] > '5' || text[1] < '0' || text[1] > '5' ||
	    text[2] < '0' || text[2] > '9')
		return -1;
	if (textlen == 3 || text[3] == SMTP_SP)
		out->last = 1;
	else if (text[3] == '-')
		out->last = 0;
	else
		return -1;
	out->code = (text[0] - '0') * 100 + (text[1] - '0') * 10 +
	    (text[2] - '0');
	return 0;
}

/* Commands -------------------------------------------------------------- */

static const char *const smtp_cmd_names[SMTP_CMD_COUNT] = {
	[SMTP_CMD_UNKNOWN] = "?",
	[SMTP_CMD_EHLO] = "EHLO",
	[SMTP_CMD_HELO] = "HELO",
	[SMTP_CMD_STARTTLS] = "STARTTLS",
	[SMTP_CMD_MAIL] = "MAIL",
	[SMTP_CMD_RCPT] = "RCPT",
	[SMTP_CMD_DATA] = "DATA",
	[SMTP_CMD_BDAT] = "BDAT",
	[SMTP_CMD_AUTH] = "AUTH",
	[SMTP_CMD_RSET] = "RSET",
	[SMTP_CMD_NOOP] = "NOOP",
	[SMTP_CMD_QUIT] = "QUIT",
	[SMTP_CMD_VRFY] = "VRFY",
	[SMTP_CMD_EXPN] = "EXPN",
	[SMTP_CMD_HELP] = "HELP",
	[SMTP_CMD_ETRN] = "ETRN",
	[SMTP_CMD_XCLIENT] = "XCLIENT",
	[SMTP_CMD_XFORWARD] = "XFORWARD",
	[SMTP_CMD_EXT] = "EXT",
};

/*
 * Extension verbs of the IANA SMTP registry and of RFC 821 that the proxy
 * recognises but does not carry unless allow_commands names them: they are
 * answered 502 (not implemented) rather than 500 (not recognised).
 */
static const char *const smtp_ext_verbs[] = {
	"TURN", "ATRN", "BURL", "SEND", "SOML", "SAML", "VERB", "ONEX",
	"XEXCH50", "X-EXPS", "X-LINK2STATE", "XUSR", "XAUTH", "XQUE",
};

const char *
smtp_cmd_name(smtp_cmd_t cmd)
{
	if ((unsigned)cmd >= SMTP_CMD_COUNT)
		return smtp_cmd_names[SMTP_CMD_UNKNOWN];
	return smtp_cmd_names[cmd];
}

static int
smtp_is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * The length of the well-formed UTF-8 sequence (RFC 3629 4) at p[0..n)
 * whose lead octet is >= 0x80, or 0 if it is malformed: a stray
 * continuation octet, an overlong form, a surrogate, a code point past
 * U+10FFFF, or a sequence cut off by n.
 */
static size_t
smtp_utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;  /* overlong */
		else if (c == 0xed)
			hi = 0x9f;  /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;  /* overlong */
		else if (c == 0xf4)
			hi = 0x8f;  /* past U+10FFFF */
	} else
		return 0;
	if (len > n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

int
smtp_cmd_parse(const uint8_t *text, size_t textlen, smtp_cmd_info_t *out)
{
	size_t v = 0, off, end, i;
	unsigned k;

	/* The verb: from the first octet to SP or the end. */
	while (v < textlen && text[v] != SMTP_SP) {
		uint8_t c = text[v];

		if (!smtp_is_alpha(c) && !(v > 0 && ((c >= '0' && c <= '9') ||
		    c == '-')))
			return -1;
		if (++v > SMTP_VERB_MAX)
			return -1;
	}
	if (v == 0)
		return -1;
	off = v;
	while (off < textlen && text[off] == SMTP_SP)
		off++;
	end = textlen;
	while (end > off && text[end - 1] == SMTP_SP)
		end--;
	/* The arguments: printable US-ASCII, SP and well-formed UTF-8. */
	for (i = off; i < end;) {
		size_t n;

		if (text[i] >= 0x20 && text[i] < 0x7f) {
			i++;
			continue;
		}
		if (text[i] < 0x80 || (n = smtp_utf8_len(text + i,
		    end - i)) == 0)
			return -1;
		i += n;
	}

	out->cmd = SMTP_CMD_UNKNOWN;
	for (k = SMTP_CMD_UNKNOWN + 1; k < SMTP_CMD_EXT; k++) {
		if (smtp_ieq(text, v, smtp_cmd_names[k])) {
			out->cmd = (smtp_cmd_t)k;
			break;
		}
	}
	for (k = 0; out->cmd == SMTP_CMD_UNKNOWN &&
	    k < sizeof(smtp_ext_verbs) / sizeof(smtp_ext_verbs[0]); k++) {
		if (smtp_ieq(text, v, smtp_ext_verbs[k]))
			out->cmd = SMTP_CMD_EXT;
	}
	out->verb_len = v;
	out->arg_off = off;
	out->arg_len = end - off;
	return 0;
}

size_t
smtp_cmd_canon(const uint8_t *text, const smtp_cmd_info_t *ci, uint8_t *out,
    size_t cap)
{
	size_t n = ci->verb_len, i;

	if (cap < ci->verb_len + (ci->arg_len ? 1 + ci->arg_len : 0) + 2)
		return 0;
	for (i = 0; i < ci->verb_len; i++) {
		uint8_t c = text[i];

		out[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
	}
	if (ci->arg_len > 0) {
		out[n++] = SMTP_SP;
		memcpy(out + n, text + ci->arg_off, ci->arg_len);
		n += ci->arg_len;
	}
	out[n++] = SMTP_CR;
	out[n++] = SMTP_LF;
	return n;
}

/* MAIL FROM / RCPT TO paths -------------------------------------------- */

/*
 * smtp_path_find locates the path in "FROM:<path> params" or "TO:<path>
 * params" (the "FROM:"/"TO:" keyword is optional, spaces after the colon are
 * tolerated, and so is a path without angle brackets, which then ends at the
 * first space outside quotes). Quoted strings are skipped with their
 * backslash escapes, so '@', '>' and spaces inside a quoted local part
 * neither end the path nor count as the domain separator.
 *
 * On success sets *pstart and *pend to the path without brackets, *at to the
 * offset of the last '@' outside quotes (or len when there is none) and
 * *rest to the offset just after the path (after '>' when bracketed).
 * Returns -1 for an unterminated quote or bracket.
 */
static int
smtp_path_find(const uint8_t *args, size_t len, size_t *pstart, size_t *pend,
    size_t *at, size_t *rest)
{
	size_t i = 0, k;
	int bracket, quoted = 0;

	while (i < len && args[i] == SMTP_SP)
		i++;
	/* Optional keyword: letters followed by ':'. */
	for (k = i; k < len; k++) {
		uint8_t c = smtp_lower(args[k]);

		if (c < 'a' || c > 'z')
			break;
	}
	if (k > i && k < len && args[k] == ':') {
		i = k + 1;
		while (i < len && args[i] == SMTP_SP)
			i++;
	}

	bracket = i < len && args[i] == '<';
	if (bracket)
		i++;
	*pstart = i;
	*at = len;
	for (; i < len; i++) {
		uint8_t c = args[i];

		if (quoted) {
			if (c == '\\') {
				if (i + 1 >= len)
					return -1;
				i++;
			} else if (c == '"') {
				quoted = 0;
			}
			continue;
		}
		if (c == '"')
			quoted = 1;
		else if (c == '@')
			*at = i;
		else if (bracket && c == '>')
			break;
		else if (!bracket && (c == SMTP_SP || c == SMTP_HTAB))
			break;
	}
	if (quoted)
		return -1;
	if (bracket && i >= len)
		return -1;
	*pend = i;
	*rest = bracket ? i + 1 : i;
	return 0;
}

static int
smtp_is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * A domain is a name of LDH octets, '_' (seen in the wild) and UTF-8 (for
 * SMTPUTF8 U-labels), or an address literal "[...]" of alphanumerics and
 * ".:-". Anything else (a ':' left over from a source route without a
 * mailbox domain, spaces, quotes, controls) means there is no domain.
 */
static int
smtp_domain_ok(const uint8_t *d, size_t n)
{
	size_t i;

	if (n >= 2 && d[0] == '[' && d[n - 1] == ']') {
		for (i = 1; i + 1 < n; i++) {
			if (!smtp_is_alnum(d[i]) && d[i] != '.' &&
			    d[i] != ':' && d[i] != '-')
				return 0;
		}
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (!smtp_is_alnum(d[i]) && d[i] != '-' && d[i] != '.' &&
		    d[i] != '_' && d[i] < 0x80)
			return 0;
	}
	return 1;
}

int
smtp_addr_domain(const uint8_t *args, size_t len, const uint8_t **dom,
    size_t *domlen)
{
	size_t ps, pe, at, rest, dl;

	if (smtp_path_find(args, len, &ps, &pe, &at, &rest) == -1)
		return -1;
	if (at >= pe)
		return -1;
	dl = pe - (at + 1);
	if (dl > 0 && args[at + 1 + dl - 1] == '.')
		dl--;
	if (dl == 0 || !smtp_domain_ok(args + at + 1, dl))
		return -1;
	*dom = args + at + 1;
	*domlen = dl;
	return 0;
}

/*
 * The next ESMTP parameter of a MAIL/RCPT line from *i: skips SP and HTAB,
 * then sets [*start, *i) to the parameter. Returns 0 at the end.
 */
static int
smtp_param_next(const uint8_t *args, size_t len, size_t *i, size_t *start)
{
	while (*i < len && (args[*i] == SMTP_SP || args[*i] == SMTP_HTAB))
		(*i)++;
	if (*i == len)
		return 0;
	*start = *i;
	while (*i < len && args[*i] != SMTP_SP && args[*i] != SMTP_HTAB)
		(*i)++;
	return 1;
}

int
smtp_mail_size(const uint8_t *args, size_t len, uint64_t *size)
{
	size_t ps, pe, at, i, start, eq, k;
	uint64_t v = 0;
	int found = 0;

	if (smtp_path_find(args, len, &ps, &pe, &at, &i) == -1)
		return -1;
	while (smtp_param_next(args, len, &i, &start)) {
		eq = start;
		while (eq < i && args[eq] != '=')
			eq++;
		if (!smtp_ieq(args + start, eq - start, "SIZE"))
			continue;
		/* "SIZE" without a value, an empty value or a second SIZE. */
		if (found || eq == i || eq + 1 == i)
			return -1;
		for (k = eq + 1; k < i; k++) {
			unsigned d;

			if (args[k] < '0' || args[k] > '9')
				return -1;
			d = (unsigned)(args[k] - '0');
			if (v > (UINT64_MAX - d) / 10)
				return -1;
			v = v * 10 + d;
		}
		found = 1;
	}
	if (found)
		*size = v;
	return found;
}

int
smtp_mail_requiretls(const uint8_t *args, size_t len)
{
	size_t ps, pe, at, i, start;
	int found = 0;

	if (smtp_path_find(args, len, &ps, &pe, &at, &i) == -1)
		return -1;
	while (smtp_param_next(args, len, &i, &start)) {
		if (smtp_ieq(args + start, i - start, "REQUIRETLS"))
			found = 1;
		else if (i - start > 10 && smtp_ieq(args + start, 11,
		    "REQUIRETLS="))
			return -1;  /* RFC 8689 2: no value */
	}
	return found;
}

/* EHLO capabilities --------------------------------------------------- */

#define SMTP_EHLO_CODE 250
#define SMTP_REPLY_PREFIX 4 /* "250-" / "250 " */

typedef struct {
	const uint8_t *text; /* line without its terminator */
	size_t len;
	int last;
} smtp_ehlo_line_t;

typedef struct {
	const uint8_t *in;
	size_t inlen;
	size_t off;
	int seen_last;
} smtp_ehlo_iter_t;

/*
 * smtp_ehlo_next returns 1 with the next line, 0 at the clean end of the
 * reply, -1 if the reply is not a well-formed all-250 reply: a line without
 * LF, a bad reply line, another code, a NUL or bare CR, a line after the
 * last line, or no last line at all.
 */
static int
smtp_ehlo_next(smtp_ehlo_iter_t *it, smtp_ehlo_line_t *line)
{
	smtp_reply_line_t rl;
	size_t linelen, textlen;
	unsigned flags;
	size_t left = it->inlen - it->off;

	if (left == 0)
		return it->seen_last ? 0 : -1;
	if (it->seen_last)
		return -1;
	if (smtp_line_find(it->in + it->off, left, left, &linelen, &textlen,
	    &flags) != SMTP_LINE_OK)
		return -1;
	if (flags & (SMTP_LINE_BARE_CR | SMTP_LINE_NUL))
		return -1;
	line->text = it->in + it->off;
	line->len = textlen;
	if (smtp_reply_line_parse(line->text, textlen, &rl) == -1 ||
	    rl.code != SMTP_EHLO_CODE)
		return -1;
	line->last = rl.last;
	it->seen_last = rl.last;
	it->off += linelen;
	return 1;
}

/* How a carried capability's parameters are rebuilt. */
enum {
	CAP_PARAM_NONE,  /* none: whatever the server wrote is dropped */
	CAP_PARAM_SIZE,  /* an optional number (RFC 1870) */
	CAP_PARAM_MECHS  /* SASL mechanism names (RFC 4954) */
};

/* Maps a capability keyword (compared as a whole token) to its bit. */
static const struct {
	const char *kw;
	unsigned cap;
	int param;
} smtp_caps[] = {
	{ "STARTTLS", SMTP_CAP_STARTTLS, CAP_PARAM_NONE },
	{ "PIPELINING", SMTP_CAP_PIPELINING, CAP_PARAM_NONE },
	{ "CHUNKING", SMTP_CAP_CHUNKING, CAP_PARAM_NONE },
	{ "SIZE", SMTP_CAP_SIZE, CAP_PARAM_SIZE },
	{ "AUTH", SMTP_CAP_AUTH, CAP_PARAM_MECHS },
	{ "XCLIENT", SMTP_CAP_XCLIENT, CAP_PARAM_NONE },
	{ "8BITMIME", SMTP_CAP_8BITMIME, CAP_PARAM_NONE },
	{ "SMTPUTF8", SMTP_CAP_SMTPUTF8, CAP_PARAM_NONE },
	{ "BINARYMIME", SMTP_CAP_BINARYMIME, CAP_PARAM_NONE },
	{ "DSN", SMTP_CAP_DSN, CAP_PARAM_NONE },
	{ "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCEDSTATUSCODES,
	    CAP_PARAM_NONE },
	{ "HELP", SMTP_CAP_HELP, CAP_PARAM_NONE },
	{ "ETRN", SMTP_CAP_ETRN, CAP_PARAM_NONE },
	{ "VRFY", SMTP_CAP_VRFY, CAP_PARAM_NONE },
	{ "EXPN", SMTP_CAP_EXPN, CAP_PARAM_NONE },
	{ "XFORWARD", SMTP_CAP_XFORWARD, CAP_PARAM_NONE },
	{ "REQUIRETLS", SMTP_CAP_REQUIRETLS, CAP_PARAM_NONE },
};

#define SMTP_CAP_PARAM_MAX 20 /* digits of SIZE, octets of a mechanism */

/*
 * The keyword of a capability line is its first token after "250-": it ends
 * at SP, HTAB or '=' ('=' never occurs in an ehlo-keyword, and the legacy
 * "AUTH=LOGIN PLAIN" form must count as AUTH). Sets *kwlen; returns the
 * table index or -1.
 */
static int
smtp_ehlo_line_kw(const smtp_ehlo_line_t *line, size_t *kwlen)
{
	const uint8_t *kw;
	size_t n = 0, i, len;

	*kwlen = 0;
	if (line->len <= SMTP_REPLY_PREFIX)
		return -1;
	kw = line->text + SMTP_REPLY_PREFIX;
	len = line->len - SMTP_REPLY_PREFIX;
	while (n < len && kw[n] != SMTP_SP && kw[n] != SMTP_HTAB &&
	    kw[n] != '=')
		n++;
	*kwlen = n;
	for (i = 0; i < sizeof(smtp_caps) / sizeof(smtp_caps[0]); i++) {
		if (smtp_ieq(kw, n, smtp_caps[i].kw))
			return (int)i;
	}
	return -1;
}

static unsigned
smtp_ehlo_line_cap(const smtp_ehlo_line_t *line)
{
	size_t kwlen;
	int i = smtp_ehlo_line_kw(line, &kwlen);

	return i < 0 ? 0 : smtp_caps[i].cap;
}

unsigned
smtp_ehlo_caps(const uint8_t *in, size_t inlen)
{
	smtp_ehlo_iter_t it = { in, inlen, 0, 0 };
	smtp_ehlo_line_t line;
	unsigned caps = 0;
	int first = 1, r;

	while ((r = smtp_ehlo_next(&it, &line)) == 1) {
		if (!first)
			caps |= smtp_ehlo_line_cap(&line);
		first = 0;
	}
	return r == 0 ? caps : 0;
}

typedef struct {
	uint8_t *out;
	size_t cap;
	size_t len;
	int overflow;
} smtp_obuf_t;

static void
smtp_obuf_put(smtp_obuf_t *o, const void *p, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	memcpy(o->out + o->len, p, n);
	o->len += n;
}

/* Appends p[0..n) upper-cased. */
static void
smtp_obuf_upper(smtp_obuf_t *o, const uint8_t *p, size_t n)
{
	size_t i;

	if (o->overflow || n > o->cap - o->len) {
		o->overflow = 1;
		return;
	}
	for (i = 0; i < n; i++)
		o->out[o->len + i] = (p[i] >= 'a' && p[i] <= 'z') ?
		    (uint8_t)(p[i] - 'a' + 'A') : p[i];
	o->len += n;
}

/* Whether a parameter token may be carried for this kind of keyword. */
static int
smtp_ehlo_param_ok(int kind, const uint8_t *t, size_t n)
{
	size_t i;

	if (kind == CAP_PARAM_NONE)
		return 0;
	if (kind != -1 && n > SMTP_CAP_PARAM_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		uint8_t c = t[i];

		switch (kind) {
		case CAP_PARAM_SIZE:
			if (c < '0' || c > '9')
				return 0;
			break;
		case CAP_PARAM_MECHS:
			if (!smtp_is_alpha(c) && !(c >= '0' && c <= '9') &&
			    c != '-' && c != '_')
				return 0;
			break;
		default: /* an operator's keyword: RFC 5321 ehlo-param */
			if (c < 33 || c > 126)
				return 0;
			break;
		}
	}
	return 1;
}

/*
 * Appends the canonical parameters of a capability line: the tokens after
 * the keyword (separated by SP or HTAB) that smtp_ehlo_param_ok accepts,
 * each after one SP. kind -1 is an operator's keyword. Returns the number
 * of tokens written.
 */
static size_t
smtp_ehlo_put_params(smtp_obuf_t *o, const uint8_t *p, size_t n, int kind)
{
	size_t i = 0, start, written = 0;

	while (i < n) {
		if (p[i] == SMTP_SP || p[i] == SMTP_HTAB) {
			i++;
			continue;
		}
		start = i;
		while (i < n && p[i] != SMTP_SP && p[i] != SMTP_HTAB)
			i++;
		if (!smtp_ehlo_param_ok(kind, p + start, i - start))
			continue;
		if (kind == CAP_PARAM_SIZE && written > 0)
			break;
		smtp_obuf_put(o, " ", 1);
		/* Mechanism names are case-insensitive (RFC 4422 3.1); an
		 * operator's keyword's parameters are the server's words. */
		if (kind == -1)
			smtp_obuf_put(o, p + start, i - start);
		else
			smtp_obuf_upper(o, p + start, i - start);
		written++;
	}
	return written;
}

/* The index in an operator's keyword list of kw[0..n), or -1. */
static long
smtp_words_find(const smtp_words_t *w, const uint8_t *kw, size_t n)
{
	size_t i;

	for (i = 0; w != NULL && i < w->n; i++) {
		if (smtp_ieq(kw, n, w->word[i]))
			return (long)i;
	}
	return -1;
}

/*
 * Writes one canonical capability line, or nothing when the line is not
 * carried. The continuation mark is written as '-' and fixed once the last
 * line is known. Returns 1 if a line was written.
 */
static int
smtp_ehlo_put_cap(smtp_obuf_t *o, const smtp_ehlo_line_t *line,
    unsigned carried, const smtp_words_t *extra, unsigned *seen,
    uint64_t *seen_words)
{
	const uint8_t *kw = line->text + SMTP_REPLY_PREFIX;
	size_t kwlen, mark = o->len;
	int i = smtp_ehlo_line_kw(line, &kwlen), kind, overflow = o->overflow;
	long w = -1;

	if (i >= 0) {
		if (!(smtp_caps[i].cap & carried) ||
		    (*seen & smtp_caps[i].cap))
			return 0;
		kind = smtp_caps[i].param;
	} else if ((w = smtp_words_find(extra, kw, kwlen)) >= 0) {
		/* Each once: an operator's keyword counts like a capability
		 * (config.c allows far fewer than 64 of them). */
		if (w < 64 && (*seen_words & ((uint64_t)1 << w)))
			return 0;
		kind = -1;
	} else
		return 0;
	/* The legacy "AUTH=LOGIN" form: the standard line says it all. */
	if (kwlen < line->len - SMTP_REPLY_PREFIX && kw[kwlen] == '=')
		return 0;
	smtp_obuf_put(o, "250-", SMTP_REPLY_PREFIX);
	smtp_obuf_upper(o, kw, kwlen);
	if (smtp_ehlo_put_params(o, kw + kwlen,
	    line->len - SMTP_REPLY_PREFIX - kwlen, kind) == 0 &&
	    kind == CAP_PARAM_MECHS) {
		/* AUTH without a mechanism we can carry: the line was never
		 * written, so it cannot have run out of room either. */
		o->len = mark;
		o->overflow = overflow;
		return 0;
	}
	smtp_obuf_put(o, "\r\n", 2);
	if (i >= 0)
		*seen |= smtp_caps[i].cap;
	else if (w < 64)
		*seen_words |= (uint64_t)1 << w;
	return 1;
}

int
smtp_ehlo_rewrite(const uint8_t *in, size_t inlen, unsigned flags,
    const smtp_words_t *extra, uint8_t *out, size_t outcap, size_t *outlen)
{
	smtp_ehlo_iter_t it = { in, inlen, 0, 0 };
	smtp_ehlo_line_t line;
	smtp_obuf_t o = { out, outcap, 0, 0 };
	unsigned carried = SMTP_CAP_CARRIED, seen = 0;
	uint64_t seen_words = 0;
	size_t lastmark = 0, i;
	int r;

	if (flags & SMTP_EHLO_KEEP_AUTH)
		carried |= SMTP_CAP_AUTH;
	if (flags & SMTP_EHLO_DEL_PIPELINING)
		carried &= ~SMTP_CAP_PIPELINING;
	if (flags & SMTP_EHLO_KEEP_REQUIRETLS)
		carried |= SMTP_CAP_REQUIRETLS;
	/* The greeting: domain and text, control octets made SP. */
	if ((r = smtp_ehlo_next(&it, &line)) != 1)
		return -1;
	smtp_obuf_put(&o, "250-", SMTP_REPLY_PREFIX);
	if (line.len > SMTP_REPLY_PREFIX && !o.overflow &&
	    line.len - SMTP_REPLY_PREFIX <= o.cap - o.len) {
		for (i = SMTP_REPLY_PREFIX; i < line.len; i++) {
			uint8_t c = line.text[i];

			o.out[o.len++] = (c < 0x20 || c == 0x7f) ? SMTP_SP : c;
		}
	} else if (line.len > SMTP_REPLY_PREFIX)
		o.overflow = 1;
	smtp_obuf_put(&o, "\r\n", 2);
	while ((r = smtp_ehlo_next(&it, &line)) == 1) {
		size_t mark = o.len;

		if (smtp_ehlo_put_cap(&o, &line, carried, extra, &seen,
		    &seen_words))
			lastmark = mark;
	}
	if (r == -1)
		return -1;
	if (flags & SMTP_EHLO_ADD_STARTTLS)
		smtp_obuf_put(&o, "250 STARTTLS\r\n", 14);
	else if (!o.overflow)
		o.out[lastmark + 3] = SMTP_SP; /* the last line's mark */
	if (o.overflow)
		return -1;
	*outlen = o.len;
	return 0;
}

/* DATA body --------------------------------------------------------------
 *
 * States of the body filter. "Real" line start means after a CRLF that was
 * in the input (or at body start); "fake" line start means after a bare LF
 * or bare CR that we turned into CRLF, or after NULs at a line start (they
 * are removed, so what follows them lands at the start of the output line).
 * Only a '.' at a real line start can begin end-of-data; a '.' at a fake
 * line start is stuffed.
 *
 * NUL is removed from the output but counts as an ordinary octet for every
 * framing decision: it separates a CR from an LF (both are then bare) and it
 * keeps a "." line from being end-of-data. So the filter's end-of-data is
 * exactly the strict one of the input, and a receiver that strips NUL sees
 * none, because there is none left to strip.
 *
 * Held-back bytes: in BODY_CR the CR has been written already (a bare CR
 * becomes CRLF, so the CR is right either way; only the LF is pending). In
 * BODY_DOT the '.' has been written (an extra stuffing '.' is the same byte,
 * so it can follow). In BODY_DOT_CR the CR after the '.' is held: if this
 * is not end-of-data a '.' must be written before it. In BODY_DOT_NUL a
 * stuffing '.' is pending: it is written if the line ends before any octet
 * other than NUL (". NUL CRLF" must not become ". CRLF").
 */
enum {
	BODY_BOL = 0,  /* real line start */
	BODY_BOL_FAKE, /* line start after a bare LF/CR, or NULs at line start */
	BODY_MID,      /* inside a line */
	BODY_CR,       /* CR written, LF or not still unknown */
	BODY_DOT,      /* '.' at real line start written */
	BODY_DOT_CR,   /* ".\r" at real line start, CR held */
	BODY_DOT_NUL,  /* '.' at real line start then NULs, stuffing '.' held */
	BODY_DONE      /* end-of-data consumed */
};

void
smtp_body_init(smtp_body_t *b)
{
	b->state = BODY_BOL;
	b->octets = 0;
	b->nuls = 0;
}

/*
 * Copies in[i..j) to out, where j is the position of the first CR, LF or
 * NUL at or after i in in[0..inlen), or inlen; returns j. SSE2 (every
 * x86-64) scans and copies 16 octets per step in one pass, and may store up
 * to 15 octets past out + (j - i) (garbage the caller overwrites; its room
 * covers it, see smtp_body_clean). Elsewhere one octet per step. With out
 * NULL it only scans.
 */
static size_t
smtp_body_copy_plain(const uint8_t *in, size_t inlen, size_t i, uint8_t *out)
{
#if defined(__SSE2__)
	const __m128i cr = _mm_set1_epi8(SMTP_CR), lf = _mm_set1_epi8(SMTP_LF);
	const __m128i zero = _mm_setzero_si128();

	while (inlen - i >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(in + i));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, cr),
		    _mm_cmpeq_epi8(v, lf)), _mm_cmpeq_epi8(v, zero));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (out != NULL) {
			_mm_storeu_si128((__m128i *)out, v);
			out += 16;
		}
		if (bits != 0)
			return i + (size_t)__builtin_ctz(bits);
		i += 16;
	}
#endif
	/* The tail, and all of it elsewhere: linear whatever the input (a
	 * memchr per octet class would rescan the rest for each bare LF). */
	for (; i < inlen; i++) {
		if (in[i] == SMTP_CR || in[i] == SMTP_LF || in[i] == 0)
			return i;
		if (out != NULL)
			*out++ = in[i];
	}
	return inlen;
}

/*
 * The fast path of BODY_MID: copies to out (unless NULL) the longest run
 * from i that the filter passes unchanged and leaves in BODY_MID, and
 * returns where it ends. Such a run crosses a line end only at CRLF
 * followed by an octet that is neither '.' nor NUL (the two that mean
 * something at line start); it stops at anything else.
 *
 * Room: a 16-octet store happens only with 16 input octets left from i, and
 * the filter's output never runs more than 8 octets ahead of twice its
 * input (SMTP_BODY_OUT_MAX), so out + 16 stays inside the caller's room.
 */
static size_t
smtp_body_clean(const uint8_t *in, size_t inlen, size_t i, uint8_t *out)
{
	const size_t start = i;

	for (;;) {
		size_t j = smtp_body_copy_plain(in, inlen, i,
		    out != NULL ? out + (i - start) : NULL);
		if (j + 2 >= inlen || in[j] != SMTP_CR ||
		    in[j + 1] != SMTP_LF || in[j + 2] == '.' || in[j + 2] == 0)
			return j;
		if (out != NULL) {
			out[j - start] = SMTP_CR;
			out[j - start + 1] = SMTP_LF;
		}
		i = j + 2;
	}
}

size_t
smtp_body_pass(smtp_body_t *b, uint8_t *in, size_t inlen)
{
	size_t k;

	if (inlen == 0)
		return 0;
	/* At a line start, an octet other than '.' and NUL only moves the
	 * filter inside the line, writing nothing (BODY_BOL, BODY_BOL_FAKE). */
	if ((b->state == BODY_BOL || b->state == BODY_BOL_FAKE) &&
	    in[0] != '.' && in[0] != 0)
		b->state = BODY_MID;
	if (b->state != BODY_MID)
		return 0;
	/* Scan only: the output is the input, where it already is. */
	k = smtp_body_clean(in, inlen, 0, NULL);
	b->octets += k;
	return k;
}

size_t
smtp_body_filter(smtp_body_t *b, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t *outlen, int *done)
{
	size_t i = 0, o = 0, run, nul = 0;
	uint8_t st = b->state;

	if (st == BODY_DONE) {
		*outlen = 0;
		*done = 1;
		return 0;
	}
	while (i < inlen && st != BODY_DONE) {
		uint8_t c = in[i];

		switch (st) {
		case BODY_MID:
			/* Well-formed lines in one copy; then the CR, LF or
			 * NUL it stopped at, if any. */
			run = smtp_body_clean(in, inlen, i, out + o) - i;
			o += run;
			i += run;
			if (i == inlen)
				break;
			if (in[i] == 0) {
				nul++;
			} else if (in[i] == SMTP_CR) {
				out[o++] = SMTP_CR;
				st = BODY_CR;
			} else {
				/* Bare LF. */
				out[o++] = SMTP_CR;
				out[o++] = SMTP_LF;
				st = BODY_BOL_FAKE;
			}
			i++;
			break;
		case BODY_BOL:
			if (c == '.') {
				out[o++] = '.';
				st = BODY_DOT;
				i++;
			} else if (c == 0) {
				/* A '.' after NULs must not reach line start. */
				nul++;
				st = BODY_BOL_FAKE;
				i++;
			} else {
				st = BODY_MID;
			}
			break;
		case BODY_BOL_FAKE:
			if (c == 0) {
				nul++;
				i++;
				break;
			}
			if (c == '.') {
				out[o++] = '.';
				out[o++] = '.';
				i++;
			}
			st = BODY_MID;
			break;
		case BODY_CR:
			out[o++] = SMTP_LF;
			if (c == SMTP_LF) {
				st = BODY_BOL;
				i++;
			} else {
				/* Bare CR (also before a NUL); c again. */
				st = BODY_BOL_FAKE;
			}
			break;
		case BODY_DOT:
			if (c == SMTP_CR) {
				st = BODY_DOT_CR;
				i++;
			} else if (c == SMTP_LF) {
				/* "." bare LF: content, so stuffed. */
				out[o++] = '.';
				out[o++] = SMTP_CR;
				out[o++] = SMTP_LF;
				st = BODY_BOL_FAKE;
				i++;
			} else if (c == 0) {
				nul++;
				st = BODY_DOT_NUL;
				i++;
			} else {
				st = BODY_MID;
			}
			break;
		case BODY_DOT_NUL:
			if (c == 0) {
				nul++;
				i++;
				break;
			}
			/*
			 * "." NULs then the line's end: content, so stuffed
			 * (never ". CRLF"); c is handled again inside the line.
			 */
			if (c == SMTP_CR || c == SMTP_LF)
				out[o++] = '.';
			st = BODY_MID;
			break;
		case BODY_DOT_CR:
			if (c == SMTP_LF) {
				st = BODY_DONE;
				i++;
			} else {
				/* "." bare CR: content, so stuffed; c again. */
				out[o++] = '.';
				st = BODY_BOL_FAKE;
			}
			out[o++] = SMTP_CR;
			out[o++] = SMTP_LF;
			break;
		default:
			/* Cannot happen (private state): treat as content. */
			st = BODY_MID;
			break;
		}
	}
	b->state = st;
	b->octets += i;
	b->nuls += nul;
	*outlen = o;
	*done = st == BODY_DONE;
	return i;
}
