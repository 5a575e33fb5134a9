/*
 * fuzz_cmdline: the command line reader. The input is a client's byte
 * stream; it is cut into lines by smtp_line_find under several line limits,
 * and each line goes through smtp_cmd_parse, smtp_mail_size and
 * smtp_addr_domain. Properties: every output lies within what was given
 * (linelen <= n and <= max, textlen <= linelen, arg_off + arg_len <=
 * textlen, the domain a slice of the arguments), the flags agree with the
 * bytes, and a recognised verb is really that verb.
 */
#include <stdint.h>
#include <string.h>

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

/* One command line's text (no terminator), in an exact-size heap block. */
static void
fuzz_line(const uint8_t *p, size_t tl)
{
	uint8_t *text = fuzz_dup(p, tl);
	smtp_cmd_info_t ci;
	const char *name;
	size_t vlen = 0;

	memset(&ci, 0xff, sizeof ci);
	smtp_cmd_parse(text, tl, &ci);
	FUZZ_CHECK((unsigned)ci.cmd < SMTP_CMD_COUNT);
	FUZZ_CHECK(ci.arg_off <= tl && ci.arg_len <= tl - ci.arg_off);
	if (ci.arg_len > 0)
		FUZZ_CHECK(text[ci.arg_off] != ' ' &&
		    !fuzz_is_space(text[ci.arg_off + ci.arg_len - 1]));
	/* Past the arguments there are only spaces and tabs. */
	for (size_t i = ci.arg_off + ci.arg_len; i < tl; i++)
		FUZZ_CHECK(fuzz_is_space(text[i]));

	name = smtp_cmd_name(ci.cmd);
	FUZZ_CHECK(name != NULL);
	while (vlen < tl && text[vlen] != ' ')
		vlen++;
	if (ci.cmd != SMTP_CMD_UNKNOWN) {
		size_t i;

		FUZZ_CHECK(strlen(name) == vlen);
		for (i = 0; i < vlen; i++)
			FUZZ_CHECK(fuzz_upper(text[i]) == (uint8_t)name[i]);
	}

	/* The arguments as the session passes them, and the whole text. */
	{
		uint8_t *args = fuzz_dup(text + ci.arg_off, ci.arg_len);

		fuzz_args(args, ci.arg_len);
		free(args);
	}
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
