/*
 * fuzz_canon: the canonical command form against two other readings
 * (issue #10). The input is a client's byte stream, cut into lines by
 * smtp_line_find; each line's text goes through smtp_cmd_parse. For a line
 * the proxy accepts (0), smtp_cmd_canon builds what would be forwarded,
 * and two tokenizer models written here from the servers' documented
 * behaviour read it:
 *
 *   postfix   smtpd_token (Postfix smtpd/smtpd_token.c): leading white
 *             space skipped, tokens split on any run of ISSPACE (isascii &&
 *             isspace: SP, HT, LF, VT, FF, CR), the verb the first token,
 *             compared case-insensitively. Postfix's grouping of "<...>"
 *             and "\"...\"" and its split after "from:"/"to:" regroup the
 *             same octets; they are not modelled: what is checked is that
 *             no octet of the canonical form is white space to Postfix
 *             but SP, where the proxy sees a separator too.
 *   sendmail  srvrsmtp.c: leading white space skipped, the command word
 *             ends at the first isascii && isspace octet, white space
 *             skipped again, the arguments are the rest of the line.
 *
 * Properties (abort on a mismatch): both models read the verb the proxy
 * read (case-insensitively); Postfix's argument tokens are the proxy's
 * arguments split on runs of SP; sendmail's argument string is the proxy's
 * (leading SPs aside, which sendmail skips). Also: an accepted line has
 * no control octet and is valid UTF-8; its verb starts the line and ends
 * at SP or the end; the canonical form is VERB-in-upper-case [SP args]
 * CRLF, fits in textlen + 2, and is a fixed point (parsing it again and
 * canonicalising gives the same bytes).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "smtp.h"

#define FUZZ_TOKENS_MAX (SMTP_CMD_LINE_MAX / 2 + 2)

typedef struct {
	size_t off[FUZZ_TOKENS_MAX];
	size_t len[FUZZ_TOKENS_MAX];
	size_t n;
} fuzz_tokens_t;

/* isascii(c) && isspace(c) in the C locale, as Postfix and sendmail. */
static int
fuzz_c_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
	    c == '\r';
}

static uint8_t
fuzz_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

static int
fuzz_caseeq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (fuzz_upper(a[i]) != fuzz_upper(b[i]))
			return 0;
	return 1;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int
fuzz_utf8_ok(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		size_t k;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1, cp = c & 0x1F, min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2, cp = c & 0x0F, min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return 0;
		}
		if (n - i - 1 < k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + j] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* Splits p[0..n) on runs of octets for which sep() holds; empty tokens
 * (leading, trailing, between two separators) are not kept. */
static void
fuzz_split(const uint8_t *p, size_t n, int (*sep)(uint8_t), fuzz_tokens_t *t)
{
	size_t i = 0;

	t->n = 0;
	while (i < n) {
		size_t start;

		while (i < n && sep(p[i]))
			i++;
		if (i == n)
			break;
		start = i;
		while (i < n && !sep(p[i]))
			i++;
		FUZZ_CHECK(t->n < FUZZ_TOKENS_MAX);
		t->off[t->n] = start;
		t->len[t->n] = i - start;
		t->n++;
	}
}

static int
fuzz_is_sp(uint8_t c)
{
	return c == ' ';
}

/*
 * A Postfix-style server reading line[0..n) (its terminator removed, as
 * smtp_get does): the tokens of smtpd_token without its quoting rules.
 */
static void
fuzz_postfix_read(const uint8_t *line, size_t n, fuzz_tokens_t *t)
{
	fuzz_split(line, n, fuzz_c_space, t);
}

/*
 * A sendmail-style server reading line[0..n): the command word and the
 * argument string (*arg, *arglen).
 */
static void
fuzz_sendmail_read(const uint8_t *line, size_t n, size_t *verb,
    size_t *verblen, size_t *arg, size_t *arglen)
{
	size_t i = 0;

	while (i < n && fuzz_c_space(line[i]))
		i++;
	*verb = i;
	while (i < n && !fuzz_c_space(line[i]))
		i++;
	*verblen = i - *verb;
	while (i < n && fuzz_c_space(line[i]))
		i++;
	*arg = i;
	*arglen = n - i;
}

static void
fuzz_line(const uint8_t *text, size_t len)
{
	smtp_cmd_info_t ci, ci2;
	uint8_t *canon, *canon2;
	size_t cap = len + 2, clen, clen2, body, i;
	const uint8_t *args;
	size_t arglen, verb, verblen, sarg, sarglen;
	fuzz_tokens_t ptok, atok;

	memset(&ci, 0xA5, sizeof(ci));
	if (smtp_cmd_parse(text, len, &ci) != 0)
		return;

	/* What was accepted is clean. */
	FUZZ_CHECK(len > 0);
	for (i = 0; i < len; i++)
		FUZZ_CHECK(text[i] >= 0x20 && text[i] != 0x7F);
	FUZZ_CHECK(fuzz_utf8_ok(text, len));
	/* The verb: a letter, then letters, digits and '-', at most
	 * SMTP_VERB_MAX (smtp.h). */
	FUZZ_CHECK(ci.verb_len > 0 && ci.verb_len <= len &&
	    ci.verb_len <= SMTP_VERB_MAX);
	FUZZ_CHECK(fuzz_upper(text[0]) >= 'A' && fuzz_upper(text[0]) <= 'Z');
	for (i = 0; i < ci.verb_len; i++)
		FUZZ_CHECK((fuzz_upper(text[i]) >= 'A' &&
		    fuzz_upper(text[i]) <= 'Z') ||
		    (text[i] >= '0' && text[i] <= '9') || text[i] == '-');
	FUZZ_CHECK(ci.verb_len == len || text[ci.verb_len] == ' ');
	FUZZ_CHECK(ci.arg_off <= len && ci.arg_len <= len - ci.arg_off);
	FUZZ_CHECK(ci.arg_len == 0 || ci.arg_off > ci.verb_len);
	FUZZ_CHECK(ci.arg_len == 0 || text[ci.arg_off + ci.arg_len - 1] != ' ');
	/* A recognised verb is that verb (SMTP_CMD_EXT names a family). */
	if (ci.cmd != SMTP_CMD_UNKNOWN && ci.cmd != SMTP_CMD_EXT) {
		const char *name = smtp_cmd_name(ci.cmd);

		FUZZ_CHECK(fuzz_caseeq(text, ci.verb_len, (const uint8_t *)name,
		    strlen(name)));
	}
	args = text + ci.arg_off;
	arglen = ci.arg_len;

	/* The canonical form: VERB [SP args] CRLF. */
	/* Exactly the documented bound, so ASan sees a write past it. */
	canon = malloc(cap);
	FUZZ_CHECK(canon != NULL);
	clen = smtp_cmd_canon(text, &ci, canon, cap);
	FUZZ_CHECK(clen >= ci.verb_len + 2 && clen <= cap);
	FUZZ_CHECK(canon[clen - 2] == '\r' && canon[clen - 1] == '\n');
	body = clen - 2;
	for (i = 0; i < ci.verb_len; i++)
		FUZZ_CHECK(canon[i] == fuzz_upper(text[i]));
	if (arglen == 0) {
		FUZZ_CHECK(body == ci.verb_len);
	} else {
		FUZZ_CHECK(body == ci.verb_len + 1 + arglen);
		FUZZ_CHECK(canon[ci.verb_len] == ' ');
		FUZZ_CHECK(memcmp(canon + ci.verb_len + 1, args, arglen) == 0);
	}
	for (i = 0; i < body; i++)
		FUZZ_CHECK(canon[i] == ' ' || !fuzz_c_space(canon[i]));

	/* Postfix: the same verb, the same argument tokens. */
	fuzz_postfix_read(canon, body, &ptok);
	fuzz_split(args, arglen, fuzz_is_sp, &atok);
	FUZZ_CHECK(ptok.n >= 1);
	FUZZ_CHECK(fuzz_caseeq(canon + ptok.off[0], ptok.len[0], text,
	    ci.verb_len));
	FUZZ_CHECK(ptok.n == atok.n + 1);
	for (i = 0; i < atok.n; i++) {
		FUZZ_CHECK(ptok.len[i + 1] == atok.len[i]);
		FUZZ_CHECK(memcmp(canon + ptok.off[i + 1], args + atok.off[i],
		    atok.len[i]) == 0);
	}

	/* sendmail: the same verb, the same argument string. */
	fuzz_sendmail_read(canon, body, &verb, &verblen, &sarg, &sarglen);
	FUZZ_CHECK(fuzz_caseeq(canon + verb, verblen, text, ci.verb_len));
	while (arglen > 0 && args[0] == ' ')
		args++, arglen--;
	FUZZ_CHECK(sarglen == arglen);
	FUZZ_CHECK(arglen == 0 || memcmp(canon + sarg, args, arglen) == 0);

	/* A fixed point: the canonical form is accepted and unchanged. */
	canon2 = malloc(body + 2);
	FUZZ_CHECK(canon2 != NULL);
	memset(&ci2, 0x5A, sizeof(ci2));
	FUZZ_CHECK(smtp_cmd_parse(canon, body, &ci2) == 0);
	FUZZ_CHECK(ci2.cmd == ci.cmd && ci2.verb_len == ci.verb_len);
	clen2 = smtp_cmd_canon(canon, &ci2, canon2, body + 2);
	FUZZ_CHECK(clen2 == clen && memcmp(canon2, canon, clen) == 0);
	free(canon2);
	free(canon);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	/* The whole input as one line's text, then cut into lines. */
	if (size <= SMTP_CMD_LINE_MAX) {
		uint8_t *copy = fuzz_dup(data, size);

		fuzz_line(copy, size);
		free(copy);
	}
	while (off < size) {
		size_t linelen, textlen;
		unsigned flags;
		uint8_t *copy;

		if (smtp_line_find(data + off, size - off, SMTP_CMD_LINE_MAX,
		    &linelen, &textlen, &flags) != SMTP_LINE_OK)
			break;
		FUZZ_CHECK(linelen > 0 && textlen <= linelen);
		copy = fuzz_dup(data + off, textlen);
		fuzz_line(copy, textlen);
		free(copy);
		off += linelen;
	}
	return 0;
}
