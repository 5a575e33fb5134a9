/*
 * fuzz_ehlo: smtp_ehlo_caps and smtp_ehlo_rewrite, with every combination
 * of the three flags and three operator keyword lists (none, empty, and
 * {"ATRN", "X-FOO"}), against an independent model of the allowlist that
 * smtp.h describes. The input is a server's EHLO reply. Properties:
 * - rewrite succeeds exactly when the reply is a well-formed 250 reply (all
 *   lines "250" then SP, '-' or the end, each ended by LF, no bare CR or
 *   NUL, one last line and nothing after it), and caps is 0 when it is not;
 * - on success the output is byte for byte what the model builds: the
 *   greeting with its control octets made SP, then one line per carried
 *   capability in the order received, each once (operator keywords: see
 *   FUZZ_EHLO_EXTRA_ONCE), rebuilt from its parsed keyword (upper case)
 *   and the parameters understood (SIZE: the first number of 1 to 20
 *   digits; AUTH: mechanism names, and no line when none is left; operator
 *   keywords: printable tokens; the rest: none), CRLF endings, '-' on all
 *   but the last line, "250 STARTTLS" last with SMTP_EHLO_ADD_STARTTLS;
 * - re-parsed with smtp_line_find and smtp_reply_line_parse the output is
 *   all 250, CRLF only, '-' on all but the last line; its capabilities are
 *   carried ones (SMTP_CAP_CARRIED, AUTH with SMTP_EHLO_KEEP_AUTH, less
 *   PIPELINING with SMTP_EHLO_DEL_PIPELINING) or operator keywords, plus
 *   STARTTLS exactly once when added and never otherwise;
 * - rewriting the output again with the same flags and keywords gives the
 *   same output (the canonical form is a fixed point);
 * - 2 * inlen + 16 bytes of room always suffice, the exact room is
 *   accepted, one byte less is refused (and nothing is written past it).
 *
 * Where smtp.h is silent the model takes smtp.c's reading, written down
 * here so that a change of mind shows: a keyword followed by '=' ("SIZE=1",
 * not only the legacy "AUTH=LOGIN") drops the line, since '=' is never part
 * of an ehlo-keyword; parameters are separated by SP or HTAB; an operator
 * keyword's parameters are copied as sent (AUTH's mechanisms are
 * upper-cased); a keyword
 * of the SMTP_CAP_* table that is not carried would stay out even if the
 * operator listed it (the list tried here does not overlap the table).
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "smtp.h"

#define FUZZ_EHLO_FLAGS 0x8 /* all combinations of the three flags */

/*
 * smtp.h says "each once", operator keywords included (1); 0 models a
 * rewrite that repeats an operator keyword as often as the server lists
 * it, to check that the model tells the two apart.
 */
#ifndef FUZZ_EHLO_EXTRA_ONCE
#define FUZZ_EHLO_EXTRA_ONCE 1
#endif

/* How a capability's parameters are rebuilt (smtp.h's allowlist). */
enum {
	FUZZ_PARAM_NONE,
	FUZZ_PARAM_SIZE,  /* the first number of 1 to 20 digits */
	FUZZ_PARAM_MECHS, /* SASL mechanism names, at least one */
	FUZZ_PARAM_WORDS  /* an operator's keyword: printable tokens */
};

static const struct {
	const char *kw;
	unsigned cap;
	int param;
} fuzz_caps[] = {
	{ "STARTTLS", SMTP_CAP_STARTTLS, FUZZ_PARAM_NONE },
	{ "PIPELINING", SMTP_CAP_PIPELINING, FUZZ_PARAM_NONE },
	{ "CHUNKING", SMTP_CAP_CHUNKING, FUZZ_PARAM_NONE },
	{ "SIZE", SMTP_CAP_SIZE, FUZZ_PARAM_SIZE },
	{ "AUTH", SMTP_CAP_AUTH, FUZZ_PARAM_MECHS },
	{ "XCLIENT", SMTP_CAP_XCLIENT, FUZZ_PARAM_NONE },
	{ "8BITMIME", SMTP_CAP_8BITMIME, FUZZ_PARAM_NONE },
	{ "SMTPUTF8", SMTP_CAP_SMTPUTF8, FUZZ_PARAM_NONE },
	{ "BINARYMIME", SMTP_CAP_BINARYMIME, FUZZ_PARAM_NONE },
	{ "DSN", SMTP_CAP_DSN, FUZZ_PARAM_NONE },
	{ "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCEDSTATUSCODES,
	    FUZZ_PARAM_NONE },
	{ "HELP", SMTP_CAP_HELP, FUZZ_PARAM_NONE },
	{ "ETRN", SMTP_CAP_ETRN, FUZZ_PARAM_NONE },
	{ "VRFY", SMTP_CAP_VRFY, FUZZ_PARAM_NONE },
	{ "EXPN", SMTP_CAP_EXPN, FUZZ_PARAM_NONE },
	{ "XFORWARD", SMTP_CAP_XFORWARD, FUZZ_PARAM_NONE },
};

#define FUZZ_NCAPS (sizeof(fuzz_caps) / sizeof(fuzz_caps[0]))
#define FUZZ_PARAM_MAX 20 /* digits of SIZE, octets of a mechanism name */

/* The operator keyword lists tried: none, an empty one, two words. */
static const char fuzz_words[2][SMTP_VERB_MAX + 1] = { "ATRN", "X-FOO" };
static const smtp_words_t fuzz_words_empty = { fuzz_words, 0 };
static const smtp_words_t fuzz_words_two = { fuzz_words, 2 };
static const smtp_words_t *const fuzz_extras[] = { NULL, &fuzz_words_empty,
	&fuzz_words_two };

typedef struct {
	const uint8_t *text; /* without terminator */
	size_t len;
} fuzz_line_t;

static uint8_t
fuzz_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

static int
fuzz_is_sep(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/*
 * Whether p[0..n) is the word w, ignoring case. strncasecmp (ASCII in the
 * fuzzer's C locale) reads at most n octets of p, and libFuzzer hooks it:
 * the keywords compared against become mutations, so the target reaches
 * XFORWARD or X-FOO lines without seeds.
 */
static int
fuzz_word_is(const uint8_t *p, size_t n, const char *w)
{
	return strncasecmp((const char *)p, w, n) == 0 && strlen(w) == n;
}

/*
 * A capability line's keyword: the token after the 4-byte "250-"/"250 "
 * prefix, up to SP, HTAB or '=' (smtp.h, smtp_ehlo_caps). Sets *kwlen.
 */
static const uint8_t *
fuzz_keyword(const fuzz_line_t *l, size_t *kwlen)
{
	size_t e = 4;

	*kwlen = 0;
	if (l->len <= 4)
		return l->text + l->len;
	while (e < l->len && !fuzz_is_sep(l->text[e]) && l->text[e] != '=')
		e++;
	*kwlen = e - 4;
	return l->text + 4;
}

/* The fuzz_caps index of a line's keyword, or -1. */
static int
fuzz_line_idx(const fuzz_line_t *l)
{
	size_t kwlen, i;
	const uint8_t *kw = fuzz_keyword(l, &kwlen);

	for (i = 0; i < FUZZ_NCAPS; i++) {
		if (fuzz_word_is(kw, kwlen, fuzz_caps[i].kw))
			return (int)i;
	}
	return -1;
}

static unsigned
fuzz_line_cap(const fuzz_line_t *l)
{
	int i = fuzz_line_idx(l);

	return i < 0 ? 0 : fuzz_caps[i].cap;
}

/* The index in extra of a line's keyword, or -1. */
static int
fuzz_line_word(const fuzz_line_t *l, const smtp_words_t *extra)
{
	size_t kwlen, i;
	const uint8_t *kw = fuzz_keyword(l, &kwlen);

	for (i = 0; extra != NULL && i < extra->n; i++) {
		if (fuzz_word_is(kw, kwlen, extra->word[i]))
			return (int)i;
	}
	return -1;
}

/*
 * Splits in[0..n) into lines; returns their number if the whole input is a
 * well-formed all-250 reply, else -1. lines must hold n entries.
 */
static long
fuzz_model_lines(const uint8_t *in, size_t n, fuzz_line_t *lines)
{
	size_t off = 0, nl = 0;
	int seen_last = 0;

	while (off < n) {
		const uint8_t *lf = memchr(in + off, '\n', n - off);
		size_t end, tl, i;
		const uint8_t *t = in + off;
		int last;

		if (lf == NULL || seen_last)
			return -1;
		end = (size_t)(lf - in);
		tl = end - off;
		if (tl > 0 && t[tl - 1] == '\r')
			tl--;
		for (i = 0; i < tl; i++) {
			if (t[i] == '\r' || t[i] == 0)
				return -1;
		}
		if (tl < 3 || t[0] != '2' || t[1] != '5' || t[2] != '0')
			return -1;
		if (tl == 3 || t[3] == ' ')
			last = 1;
		else if (t[3] == '-')
			last = 0;
		else
			return -1;
		lines[nl].text = t;
		lines[nl].len = tl;
		nl++;
		seen_last = last;
		off = end + 1;
	}
	return seen_last ? (long)nl : -1;
}

/* Whether a parameter token is understood for this kind of capability. */
static int
fuzz_param_ok(int kind, const uint8_t *t, size_t n)
{
	size_t i;

	if (kind == FUZZ_PARAM_NONE)
		return 0;
	if (kind != FUZZ_PARAM_WORDS && n > FUZZ_PARAM_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		uint8_t c = fuzz_upper(t[i]);
		int ok;

		if (kind == FUZZ_PARAM_SIZE)
			ok = c >= '0' && c <= '9';
		else if (kind == FUZZ_PARAM_MECHS)
			ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_';
		else
			ok = c > ' ' && c < 0x7f;
		if (!ok)
			return 0;
	}
	return n > 0;
}

/*
 * The parsed form of one capability line: whether it is kept, and the
 * offsets of the parameter tokens kept (at most len of them).
 */
typedef struct {
	int kept;
	int kind;       /* FUZZ_PARAM_* */
	size_t nparams;
	size_t *pstart; /* into the line's text */
	size_t *plen;
} fuzz_cap_t;

/* Parses line l as a capability of this kind into c (its token arrays
 * hold l->len entries). */
static void
fuzz_cap_parse(const fuzz_line_t *l, int kind, fuzz_cap_t *c)
{
	size_t kwlen, i;

	(void)fuzz_keyword(l, &kwlen);
	c->kept = 0;
	c->kind = kind;
	c->nparams = 0;
	i = 4 + kwlen;
	if (i < l->len && l->text[i] == '=')
		return; /* "AUTH=LOGIN": not an ehlo-keyword */
	while (i < l->len) {
		size_t s;

		if (fuzz_is_sep(l->text[i])) {
			i++;
			continue;
		}
		for (s = i; i < l->len && !fuzz_is_sep(l->text[i]); i++)
			;
		if (!fuzz_param_ok(kind, l->text + s, i - s))
			continue;
		if (kind == FUZZ_PARAM_SIZE && c->nparams == 1)
			continue; /* one number */
		c->pstart[c->nparams] = s;
		c->plen[c->nparams] = i - s;
		c->nparams++;
	}
	c->kept = kind != FUZZ_PARAM_MECHS || c->nparams > 0;
}

static size_t
fuzz_put(uint8_t *out, size_t o, const void *p, size_t n)
{
	memcpy(out + o, p, n);
	return o + n;
}

static size_t
fuzz_put_upper(uint8_t *out, size_t o, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[o + i] = fuzz_upper(p[i]);
	return o + n;
}

/*
 * Builds the expected rewrite into out (room: 2 * n + 16); returns its
 * length. First decides which capability lines are kept (so that the last
 * one is known), then writes them.
 */
static size_t
fuzz_model_rewrite(const fuzz_line_t *lines, long nl, unsigned flags,
    const smtp_words_t *extra, uint8_t *out)
{
	unsigned carried = SMTP_CAP_CARRIED, seen = 0, seen_word = 0;
	int *keep = calloc((size_t)nl, sizeof(*keep));
	fuzz_cap_t *caps = calloc((size_t)nl, sizeof(*caps));
	long i, last = 0;
	size_t o = 0, k;

	FUZZ_CHECK(keep != NULL && caps != NULL);
	if (flags & SMTP_EHLO_KEEP_AUTH)
		carried |= SMTP_CAP_AUTH;
	if (flags & SMTP_EHLO_DEL_PIPELINING)
		carried &= ~(unsigned)SMTP_CAP_PIPELINING;
	for (i = 1; i < nl; i++) {
		int idx = fuzz_line_idx(&lines[i]), w = -1, kind;
		fuzz_cap_t *c = &caps[i];

		if (idx >= 0) {
			if (!(fuzz_caps[idx].cap & carried) ||
			    (seen & fuzz_caps[idx].cap))
				continue;
			kind = fuzz_caps[idx].param;
		} else if ((w = fuzz_line_word(&lines[i], extra)) >= 0) {
			if (FUZZ_EHLO_EXTRA_ONCE && (seen_word & (1u << w)))
				continue;
			kind = FUZZ_PARAM_WORDS;
		} else
			continue;
		c->pstart = malloc((lines[i].len + 1) * sizeof(size_t));
		c->plen = malloc((lines[i].len + 1) * sizeof(size_t));
		FUZZ_CHECK(c->pstart != NULL && c->plen != NULL);
		fuzz_cap_parse(&lines[i], kind, c);
		if (!c->kept)
			continue;
		keep[i] = 1;
		last = i;
		if (idx >= 0)
			seen |= fuzz_caps[idx].cap;
		else
			seen_word |= 1u << w;
	}

	/* The greeting: its text with control octets made SP. */
	o = fuzz_put(out, o, last == 0 && !(flags & SMTP_EHLO_ADD_STARTTLS) ?
	    "250 " : "250-", 4);
	for (k = 4; k < lines[0].len; k++) {
		uint8_t c = lines[0].text[k];

		out[o++] = c < 0x20 || c == 0x7f ? ' ' : c;
	}
	o = fuzz_put(out, o, "\r\n", 2);
	for (i = 1; i < nl; i++) {
		const uint8_t *kw;
		size_t kwlen;

		if (!keep[i])
			continue;
		o = fuzz_put(out, o, i == last &&
		    !(flags & SMTP_EHLO_ADD_STARTTLS) ? "250 " : "250-", 4);
		kw = fuzz_keyword(&lines[i], &kwlen);
		o = fuzz_put_upper(out, o, kw, kwlen);
		for (k = 0; k < caps[i].nparams; k++) {
			o = fuzz_put(out, o, " ", 1);
			if (caps[i].kind == FUZZ_PARAM_WORDS)
				o = fuzz_put(out, o, lines[i].text +
				    caps[i].pstart[k], caps[i].plen[k]);
			else
				o = fuzz_put_upper(out, o, lines[i].text +
				    caps[i].pstart[k], caps[i].plen[k]);
		}
		o = fuzz_put(out, o, "\r\n", 2);
	}
	if (flags & SMTP_EHLO_ADD_STARTTLS)
		o = fuzz_put(out, o, "250 STARTTLS\r\n", 14);

	for (i = 0; i < nl; i++) {
		free(caps[i].pstart);
		free(caps[i].plen);
	}
	free(caps);
	free(keep);
	return o;
}

/*
 * Re-parses a rewritten reply with the proxy's own line and reply parsers:
 * all 250, CRLF only, marks right, only carried or operator capabilities,
 * STARTTLS exactly once and last when added, never otherwise.
 */
static void
fuzz_check_output(const uint8_t *out, size_t outlen, unsigned flags,
    const smtp_words_t *extra)
{
	unsigned carried = SMTP_CAP_CARRIED, caps;
	size_t off = 0, nstarttls = 0, nlines = 0;
	int seen_last = 0;

	if (flags & SMTP_EHLO_KEEP_AUTH)
		carried |= SMTP_CAP_AUTH;
	if (flags & SMTP_EHLO_DEL_PIPELINING)
		carried &= ~(unsigned)SMTP_CAP_PIPELINING;
	if (flags & SMTP_EHLO_ADD_STARTTLS)
		carried |= SMTP_CAP_STARTTLS;

	while (off < outlen) {
		size_t ll, tl;
		unsigned fl;
		smtp_reply_line_t rl;

		FUZZ_CHECK(!seen_last);
		FUZZ_CHECK(smtp_line_find(out + off, outlen - off,
		    outlen - off, &ll, &tl, &fl) == SMTP_LINE_OK);
		FUZZ_CHECK(fl == 0 && ll == tl + 2 && tl >= 4);
		FUZZ_CHECK(smtp_reply_line_parse(out + off, tl, &rl) == 0);
		FUZZ_CHECK(rl.code == 250);
		FUZZ_CHECK(out[off + 3] == (rl.last ? ' ' : '-'));
		if (nlines > 0) {
			fuzz_line_t l = { out + off, tl };
			unsigned cap = fuzz_line_cap(&l);

			FUZZ_CHECK(cap != 0 ? (cap & carried) != 0 :
			    fuzz_line_word(&l, extra) >= 0);
			nstarttls += cap == SMTP_CAP_STARTTLS;
		}
		seen_last = rl.last;
		nlines++;
		off += ll;
	}
	FUZZ_CHECK(seen_last && nlines >= 1);
	caps = smtp_ehlo_caps(out, outlen);
	FUZZ_CHECK((caps & ~carried) == 0);
	if (flags & SMTP_EHLO_ADD_STARTTLS) {
		FUZZ_CHECK(nstarttls == 1 && (caps & SMTP_CAP_STARTTLS));
		FUZZ_CHECK(outlen >= 14 &&
		    memcmp(out + outlen - 14, "250 STARTTLS\r\n", 14) == 0);
	} else {
		FUZZ_CHECK(nstarttls == 0);
	}
}

/* One flag combination and keyword list on a well-formed reply. */
static void
fuzz_rewrite_ok(const uint8_t *in, size_t size, const fuzz_line_t *lines,
    long nl, unsigned flags, const smtp_words_t *extra, uint8_t *model)
{
	size_t cap = 2 * size + 16, outlen = 0, mlen, again_len = 0;
	uint8_t *out = malloc(cap), *again;

	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(smtp_ehlo_rewrite(in, size, flags, extra, out, cap,
	    &outlen) == 0);
	FUZZ_CHECK(outlen <= cap);
	mlen = fuzz_model_rewrite(lines, nl, flags, extra, model);
	FUZZ_CHECK(mlen == outlen && memcmp(model, out, mlen) == 0);
	fuzz_check_output(out, outlen, flags, extra);

	/* The canonical form is a fixed point. */
	again = malloc(2 * outlen + 16);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(smtp_ehlo_rewrite(out, outlen, flags, extra, again,
	    2 * outlen + 16, &again_len) == 0);
	FUZZ_CHECK(again_len == outlen && memcmp(again, out, outlen) == 0);
	free(again);
	free(out);

	/* Exact room is enough; one byte less is refused. */
	out = malloc(outlen);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(smtp_ehlo_rewrite(in, size, flags, extra, out, outlen,
	    &mlen) == 0 && mlen == outlen && memcmp(model, out, outlen) == 0);
	free(out);
	out = malloc(outlen - 1);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(smtp_ehlo_rewrite(in, size, flags, extra, out, outlen - 1,
	    &mlen) == -1);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in = fuzz_dup(data, size);
	fuzz_line_t *lines = malloc((size + 1) * sizeof(*lines));
	uint8_t *model = malloc(2 * size + 16);
	unsigned caps_model = 0, flags;
	size_t e;
	long nl, i;

	FUZZ_CHECK(lines != NULL && model != NULL);
	nl = fuzz_model_lines(in, size, lines);
	for (i = 1; i < nl; i++)
		caps_model |= fuzz_line_cap(&lines[i]);
	FUZZ_CHECK(smtp_ehlo_caps(in, size) == (nl > 0 ? caps_model : 0));

	for (flags = 0; flags < FUZZ_EHLO_FLAGS; flags++) {
		for (e = 0; e < sizeof(fuzz_extras) / sizeof(fuzz_extras[0]);
		    e++) {
			uint8_t *out;
			size_t outlen;

			if (nl > 0) {
				fuzz_rewrite_ok(in, size, lines, nl, flags,
				    fuzz_extras[e], model);
				continue;
			}
			out = malloc(2 * size + 16);
			FUZZ_CHECK(out != NULL);
			FUZZ_CHECK(smtp_ehlo_rewrite(in, size, flags,
			    fuzz_extras[e], out, 2 * size + 16, &outlen) == -1);
			free(out);
		}
	}
	free(model);
	free(lines);
	free(in);
	return 0;
}
