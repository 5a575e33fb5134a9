/*
 * fuzz_cmdline: the command line reader. The input is a client's byte
 * stream; it is cut into lines by smtp_line_find under several line limits,
 * and each line goes through smtp_cmd_parse, smtp_cmd_canon, smtp_mail_size
 * and smtp_addr_domain. Properties:
 * - framing: every output lies within what was given (linelen <= n and
 *   <= max, textlen <= linelen) and the flags agree with the bytes;
 * - smtp_cmd_parse returns -1 exactly when an independent model of smtp.h's
 *   strict form (VERB [SP args]: a verb of 1 to SMTP_VERB_MAX letters,
 *   digits and '-' from a letter, at the first octet, ended by SP or the
 *   end; arguments without a control octet, in well-formed UTF-8) says the
 *   line is not of that form, and otherwise agrees with the model on
 *   verb_len, arg_off and arg_len;
 * - on 0: the verb's octets are verb octets, the arguments lie within the
 *   text, carry no control octet, are well-formed UTF-8 (a decoder of our
 *   own, not the parser's table), neither start nor end with SP, and only
 *   SPs lie around them; a recognised verb is really that verb, and the
 *   verb with its letters' case swapped is the same command;
 * - smtp_cmd_canon writes exactly upper(verb) [SP args] CRLF, never more
 *   than textlen + 2, into an exact buffer, and refuses one byte less;
 * - the canonical text (without CRLF) parses to the same command, verb
 *   (upper case) and arguments, and canonicalises to itself;
 * - smtp_mail_size finds a SIZE= parameter only where one is, with its
 *   value; smtp_addr_domain's domain is a slice of the arguments after '@'.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "smtp.h"

static int
fuzz_is_space(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static uint8_t
fuzz_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

static int
fuzz_is_letter(uint8_t c)
{
	return fuzz_upper(c) >= 'A' && fuzz_upper(c) <= 'Z';
}

/* A control octet: C0, SP excluded, and DEL (RFC 5234 CTL). */
static int
fuzz_is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * Whether p[0..n) is well-formed UTF-8 (RFC 3629): decodes each sequence
 * to its code point by the lead octet's bit pattern and then rejects what
 * RFC 3629 excludes, instead of the parser's per-lead-octet ranges.
 */
static int
fuzz_utf8_ok(const uint8_t *p, size_t n)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0, len, k;
	uint32_t cp;

	while (i < n) {
		uint8_t c = p[i];

		if ((c & 0x80) == 0) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else
			return 0; /* a continuation octet, or 0xf8..0xff */
		if (len > n - i)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min[len] || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

/* The strict line as smtp.h words it, computed without the parser. */
typedef struct {
	size_t verb_len;
	size_t arg_off;
	size_t arg_len;
} fuzz_cmd_model_t;

static int
fuzz_model_cmd(const uint8_t *t, size_t n, fuzz_cmd_model_t *m)
{
	size_t v, a, e, i;

	/* The verb is everything up to the first SP. */
	for (v = 0; v < n && t[v] != ' '; v++)
		;
	if (v == 0 || v > SMTP_VERB_MAX || !fuzz_is_letter(t[0]))
		return -1;
	for (i = 1; i < v; i++) {
		if (!fuzz_is_letter(t[i]) && !(t[i] >= '0' && t[i] <= '9') &&
		    t[i] != '-')
			return -1;
	}
	for (a = v; a < n && t[a] == ' '; a++)
		;
	for (e = n; e > a && t[e - 1] == ' '; e--)
		;
	for (i = a; i < e; i++) {
		if (fuzz_is_ctl(t[i]))
			return -1;
	}
	if (!fuzz_utf8_ok(t + a, e - a))
		return -1;
	m->verb_len = v;
	m->arg_off = a;
	m->arg_len = e - a;
	return 0;
}

/*
 * The verbs smtp.h names, with the command each must give. SMTP_CMD_EXT's
 * list ends in "..." there: a verb not named here may be SMTP_CMD_EXT or
 * SMTP_CMD_UNKNOWN, but never a command of its own.
 */
static const struct {
	const char *verb;
	smtp_cmd_t cmd;
} fuzz_verbs[] = {
	{ "EHLO", SMTP_CMD_EHLO }, { "HELO", SMTP_CMD_HELO },
	{ "STARTTLS", SMTP_CMD_STARTTLS }, { "MAIL", SMTP_CMD_MAIL },
	{ "RCPT", SMTP_CMD_RCPT }, { "DATA", SMTP_CMD_DATA },
	{ "BDAT", SMTP_CMD_BDAT }, { "AUTH", SMTP_CMD_AUTH },
	{ "RSET", SMTP_CMD_RSET }, { "NOOP", SMTP_CMD_NOOP },
	{ "QUIT", SMTP_CMD_QUIT }, { "VRFY", SMTP_CMD_VRFY },
	{ "EXPN", SMTP_CMD_EXPN }, { "HELP", SMTP_CMD_HELP },
	{ "ETRN", SMTP_CMD_ETRN }, { "XCLIENT", SMTP_CMD_XCLIENT },
	{ "XFORWARD", SMTP_CMD_XFORWARD },
	{ "TURN", SMTP_CMD_EXT }, { "ATRN", SMTP_CMD_EXT },
	{ "BURL", SMTP_CMD_EXT }, { "SEND", SMTP_CMD_EXT },
	{ "SOML", SMTP_CMD_EXT }, { "SAML", SMTP_CMD_EXT },
};

/*
 * The command smtp.h names for verb[0..n), or SMTP_CMD_COUNT if none.
 * strncasecmp (ASCII in the fuzzer's C locale) reads at most n octets of
 * verb, and libFuzzer hooks it: the verbs become mutations.
 */
static smtp_cmd_t
fuzz_model_verb(const uint8_t *verb, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(fuzz_verbs) / sizeof(fuzz_verbs[0]); i++) {
		const char *w = fuzz_verbs[i].verb;

		if (strncasecmp((const char *)verb, w, n) == 0 &&
		    strlen(w) == n)
			return fuzz_verbs[i].cmd;
	}
	return SMTP_CMD_COUNT;
}

static void
fuzz_args(const uint8_t *args, size_t len)
{
	const uint8_t *dom = NULL;
	size_t domlen = 0;
	uint64_t size = 0;
	int rc;

	rc = smtp_mail_size(args, len, &size);
	FUZZ_CHECK(rc == -1 || rc == 0 || rc == 1);
	if (rc == 1) {
		/*
		 * A SIZE= parameter really is there, with size's digits: a
		 * token after a space or right after the path's '>'.
		 */
		size_t i, k;
		uint64_t v;
		int seen = 0;

		for (i = 0; i + 5 <= len && !seen; i++) {
			if (fuzz_upper(args[i]) != 'S' ||
			    fuzz_upper(args[i + 1]) != 'I' ||
			    fuzz_upper(args[i + 2]) != 'Z' ||
			    fuzz_upper(args[i + 3]) != 'E' || args[i + 4] != '=')
				continue;
			if (i > 0 && !fuzz_is_space(args[i - 1]) &&
			    args[i - 1] != '>')
				continue;
			v = 0;
			for (k = i + 5; k < len && args[k] >= '0' &&
			    args[k] <= '9'; k++)
				v = v * 10 + (uint64_t)(args[k] - '0');
			seen = k > i + 5 && (k == len || fuzz_is_space(args[k])) &&
			    v == size;
		}
		FUZZ_CHECK(seen);
	}

	rc = smtp_addr_domain(args, len, &dom, &domlen);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		size_t i;

		FUZZ_CHECK(dom != NULL && domlen > 0);
		FUZZ_CHECK(dom >= args && domlen <= len &&
		    (size_t)(dom - args) <= len - domlen);
		/* The domain follows an '@' and holds no '@', space or '>'. */
		FUZZ_CHECK(dom > args && dom[-1] == '@');
		for (i = 0; i < domlen; i++)
			FUZZ_CHECK(dom[i] != '@' && !fuzz_is_space(dom[i]) &&
			    dom[i] != '>' && dom[i] != '<' && dom[i] != '"');
	}
}

/*
 * What smtp.h promises of a line smtp_cmd_parse accepted, checked on the
 * parser's own output rather than against the model.
 */
static void
fuzz_accepted(const uint8_t *text, size_t tl, const smtp_cmd_info_t *ci)
{
	size_t v = ci->verb_len, end, i;
	const char *name;
	smtp_cmd_t named;

	FUZZ_CHECK((unsigned)ci->cmd < SMTP_CMD_COUNT);
	FUZZ_CHECK(v >= 1 && v <= SMTP_VERB_MAX && v <= tl);
	FUZZ_CHECK(v == tl || text[v] == ' ');
	FUZZ_CHECK(fuzz_is_letter(text[0]));
	for (i = 1; i < v; i++)
		FUZZ_CHECK(fuzz_is_letter(text[i]) ||
		    (text[i] >= '0' && text[i] <= '9') || text[i] == '-');

	FUZZ_CHECK(ci->arg_off >= v && ci->arg_off <= tl &&
	    ci->arg_len <= tl - ci->arg_off);
	end = ci->arg_off + ci->arg_len;
	if (ci->arg_len == 0) {
		FUZZ_CHECK(ci->arg_off == tl);
	} else {
		FUZZ_CHECK(ci->arg_off > v);
		FUZZ_CHECK(text[ci->arg_off] != ' ' && text[end - 1] != ' ');
	}
	/* Only SPs between the verb and the arguments, and after them. */
	for (i = v; i < ci->arg_off; i++)
		FUZZ_CHECK(text[i] == ' ');
	for (i = end; i < tl; i++)
		FUZZ_CHECK(text[i] == ' ');
	for (i = ci->arg_off; i < end; i++)
		FUZZ_CHECK(!fuzz_is_ctl(text[i]));
	FUZZ_CHECK(fuzz_utf8_ok(text + ci->arg_off, ci->arg_len));

	/* A recognised verb is that verb; smtp_cmd_name agrees. */
	name = smtp_cmd_name(ci->cmd);
	FUZZ_CHECK(name != NULL);
	named = fuzz_model_verb(text, v);
	if (named != SMTP_CMD_COUNT)
		FUZZ_CHECK(ci->cmd == named);
	else
		FUZZ_CHECK(ci->cmd == SMTP_CMD_UNKNOWN ||
		    ci->cmd == SMTP_CMD_EXT);
	if (ci->cmd == SMTP_CMD_UNKNOWN) {
		FUZZ_CHECK(strcmp(name, "?") == 0);
	} else if (ci->cmd == SMTP_CMD_EXT) {
		FUZZ_CHECK(strcmp(name, "EXT") == 0);
	} else {
		FUZZ_CHECK(strlen(name) == v);
		for (i = 0; i < v; i++)
			FUZZ_CHECK(fuzz_upper(text[i]) == (uint8_t)name[i]);
	}
}

/*
 * The verb with the case of its letters swapped is the same command with
 * the same layout (verbs compare case-insensitively), and is refused when
 * the line was.
 */
static void
fuzz_swapcase(const uint8_t *text, size_t tl, int rc,
    const smtp_cmd_info_t *ci)
{
	uint8_t *t = fuzz_dup(text, tl);
	smtp_cmd_info_t c2;
	size_t i;

	for (i = 0; i < tl && t[i] != ' '; i++) {
		if (fuzz_is_letter(t[i]))
			t[i] ^= 0x20;
	}
	memset(&c2, 0xff, sizeof c2);
	FUZZ_CHECK(smtp_cmd_parse(t, tl, &c2) == rc);
	if (rc == 0)
		FUZZ_CHECK(c2.cmd == ci->cmd && c2.verb_len == ci->verb_len &&
		    c2.arg_off == ci->arg_off && c2.arg_len == ci->arg_len);
	free(t);
}

/*
 * smtp_cmd_canon on an accepted line: exactly upper(verb) [SP args] CRLF,
 * with textlen + 2 of room, with exact room, and nothing (0) with one byte
 * less. Then the canonical text parses to the same thing and canonicalises
 * to itself.
 */
static void
fuzz_canon(const uint8_t *text, size_t tl, const smtp_cmd_info_t *ci)
{
	size_t want = ci->verb_len + (ci->arg_len > 0 ? 1 + ci->arg_len : 0) +
	    2;
	uint8_t *model = malloc(want), *out, *ctext;
	size_t o = 0, i, n, cl = want - 2;
	smtp_cmd_info_t c2;

	FUZZ_CHECK(model != NULL);
	for (i = 0; i < ci->verb_len; i++)
		model[o++] = fuzz_upper(text[i]);
	if (ci->arg_len > 0) {
		model[o++] = ' ';
		memcpy(model + o, text + ci->arg_off, ci->arg_len);
		o += ci->arg_len;
	}
	model[o++] = '\r';
	model[o++] = '\n';
	FUZZ_CHECK(o == want && want <= tl + 2);

	out = malloc(tl + 2);
	FUZZ_CHECK(out != NULL);
	n = smtp_cmd_canon(text, ci, out, tl + 2);
	FUZZ_CHECK(n == want && memcmp(out, model, want) == 0);
	free(out);
	out = malloc(want);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(smtp_cmd_canon(text, ci, out, want) == want &&
	    memcmp(out, model, want) == 0);
	free(out);
	out = malloc(want - 1);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(smtp_cmd_canon(text, ci, out, want - 1) == 0);
	free(out);

	/* Idempotence: the canonical text is read back as the same line. */
	ctext = fuzz_dup(model, cl);
	memset(&c2, 0xff, sizeof c2);
	FUZZ_CHECK(smtp_cmd_parse(ctext, cl, &c2) == 0);
	FUZZ_CHECK(c2.cmd == ci->cmd && c2.verb_len == ci->verb_len &&
	    c2.arg_len == ci->arg_len);
	FUZZ_CHECK(c2.arg_off == (ci->arg_len > 0 ? ci->verb_len + 1 : cl));
	for (i = 0; i < c2.verb_len; i++)
		FUZZ_CHECK(ctext[i] == fuzz_upper(text[i]) &&
		    !(ctext[i] >= 'a' && ctext[i] <= 'z'));
	if (ci->arg_len > 0)
		FUZZ_CHECK(memcmp(ctext + c2.arg_off, text + ci->arg_off,
		    ci->arg_len) == 0);
	out = malloc(want);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(smtp_cmd_canon(ctext, &c2, out, cl + 2) == want &&
	    memcmp(out, model, want) == 0);
	free(out);
	free(ctext);
	free(model);
}

/* One command line's text (no terminator), in an exact-size heap block. */
static void
fuzz_line(const uint8_t *p, size_t tl)
{
	uint8_t *text = fuzz_dup(p, tl);
	smtp_cmd_info_t ci;
	fuzz_cmd_model_t m = { 0, 0, 0 };
	int rc;

	memset(&ci, 0xff, sizeof ci);
	rc = smtp_cmd_parse(text, tl, &ci);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc == fuzz_model_cmd(text, tl, &m));
	fuzz_swapcase(text, tl, rc, &ci);
	if (rc == 0) {
		uint8_t *args;

		FUZZ_CHECK(ci.verb_len == m.verb_len &&
		    ci.arg_off == m.arg_off && ci.arg_len == m.arg_len);
		fuzz_accepted(text, tl, &ci);
		fuzz_canon(text, tl, &ci);
		/* The arguments as the session passes them. */
		args = fuzz_dup(text + ci.arg_off, ci.arg_len);
		fuzz_args(args, ci.arg_len);
		free(args);
	}
	/* The whole text too: the path helpers take any bytes. */
	fuzz_args(text, tl);
	free(text);
}

static void
fuzz_stream(const uint8_t *data, size_t size, size_t max)
{
	size_t off = 0;

	while (off < size) {
		size_t n = size - off, ll = 0, tl = 0, lim;
		unsigned fl = 0;
		smtp_line_status_t st;
		const uint8_t *lf;

		st = smtp_line_find(data + off, n, max, &ll, &tl, &fl);
		lim = n < max ? n : max;
		lf = lim > 0 ? memchr(data + off, '\n', lim) : NULL;
		if (st == SMTP_LINE_PARTIAL) {
			FUZZ_CHECK(n < max && lf == NULL);
			return;
		}
		if (st == SMTP_LINE_TOO_LONG) {
			FUZZ_CHECK(n >= max && lf == NULL);
			if (max == 0)
				return;
			/* The session skips ahead; so do we. */
			off += max;
			continue;
		}
		FUZZ_CHECK(st == SMTP_LINE_OK);
		FUZZ_CHECK(lf != NULL && ll == (size_t)(lf - (data + off)) + 1);
		FUZZ_CHECK(ll >= 1 && ll <= n && ll <= max && tl <= ll);
		FUZZ_CHECK(ll - tl == 1 || ll - tl == 2);
		FUZZ_CHECK(((fl & SMTP_LINE_BARE_LF) != 0) == (ll - tl == 1));
		if (ll - tl == 2)
			FUZZ_CHECK(data[off + tl] == '\r');
		FUZZ_CHECK(((fl & SMTP_LINE_BARE_CR) != 0) ==
		    (tl > 0 && memchr(data + off, '\r', tl) != NULL));
		FUZZ_CHECK(((fl & SMTP_LINE_NUL) != 0) ==
		    (tl > 0 && memchr(data + off, 0, tl) != NULL));
		FUZZ_CHECK((fl & ~(unsigned)(SMTP_LINE_BARE_LF |
		    SMTP_LINE_BARE_CR | SMTP_LINE_NUL)) == 0);
		fuzz_line(data + off, tl);
		off += ll;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = { 0, 1, 2, 7, 64, 512,
		SMTP_CMD_LINE_MAX };
	uint8_t *copy = fuzz_dup(data, size);
	size_t i;

	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++)
		fuzz_stream(copy, size, maxes[i]);
	free(copy);
	return 0;
}
