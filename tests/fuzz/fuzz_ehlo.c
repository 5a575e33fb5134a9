/*
 * fuzz_ehlo: smtp_ehlo_caps and smtp_ehlo_rewrite with every flag
 * combination, against an independent model of the rewrite. The input is a
 * server's EHLO reply. Properties:
 * - rewrite succeeds exactly when the reply is a well-formed 250 reply, and
 *   caps is 0 when it is not;
 * - on success the output is byte for byte what the model builds: the
 *   greeting and the kept lines with their text after "250-"/"250 " intact,
 *   CRLF endings, '-' on all but the last line, "250 STARTTLS" last with
 *   ADD_STARTTLS;
 * - re-parsed with smtp_line_find and smtp_reply_line_parse the output is
 *   all 250, CRLF only, '-' on all but the last line; with ADD_STARTTLS it
 *   advertises STARTTLS exactly once, and a DEL_* flag leaves none of its
 *   keywords; smtp_ehlo_caps of the output is the input's, minus what was
 *   deleted, plus STARTTLS when added;
 * - the output fits 2 * inlen + 16 (inlen + 16 for CRLF input), a buffer one
 *   byte short is refused without a write past it, an exact one accepted.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "smtp.h"

#define FUZZ_EHLO_FLAGS 0x40 /* all combinations of the six flags */

static const struct {
	const char *kw;
	unsigned cap;
} fuzz_caps[] = {
	{ "STARTTLS", SMTP_CAP_STARTTLS },
	{ "PIPELINING", SMTP_CAP_PIPELINING },
	{ "CHUNKING", SMTP_CAP_CHUNKING },
	{ "SIZE", SMTP_CAP_SIZE },
	{ "AUTH", SMTP_CAP_AUTH },
	{ "XCLIENT", SMTP_CAP_XCLIENT },
	{ "8BITMIME", SMTP_CAP_8BITMIME },
	{ "SMTPUTF8", SMTP_CAP_SMTPUTF8 },
	{ "BINARYMIME", SMTP_CAP_BINARYMIME },
};

typedef struct {
	const uint8_t *text; /* without terminator */
	size_t len;
	int crlf;            /* ended by CRLF (not a bare LF) */
} fuzz_line_t;

static uint8_t
fuzz_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

/* The capability bit of a line's keyword (token after the 4-byte prefix). */
static unsigned
fuzz_line_cap(const uint8_t *t, size_t n)
{
	size_t k = 4, e, i, j;

	if (n <= k)
		return 0;
	for (e = k; e < n && t[e] != ' ' && t[e] != '\t' && t[e] != '='; e++)
		;
	for (i = 0; i < sizeof(fuzz_caps) / sizeof(fuzz_caps[0]); i++) {
		const char *kw = fuzz_caps[i].kw;

		if (strlen(kw) != e - k)
			continue;
		for (j = 0; j < e - k; j++) {
			if (fuzz_upper(t[k + j]) != (uint8_t)kw[j])
				break;
		}
		if (j == e - k)
			return fuzz_caps[i].cap;
	}
	return 0;
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
		lines[nl].crlf = tl > 0 && t[tl - 1] == '\r';
		if (lines[nl].crlf)
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

static unsigned
fuzz_del(unsigned flags)
{
	unsigned del = 0;

	if (flags & (SMTP_EHLO_ADD_STARTTLS | SMTP_EHLO_DEL_STARTTLS))
		del |= SMTP_CAP_STARTTLS;
	if (flags & SMTP_EHLO_DEL_AUTH)
		del |= SMTP_CAP_AUTH;
	if (flags & SMTP_EHLO_DEL_CHUNKING)
		del |= SMTP_CAP_CHUNKING | SMTP_CAP_BINARYMIME;
	if (flags & SMTP_EHLO_DEL_PIPELINING)
		del |= SMTP_CAP_PIPELINING;
	if (flags & SMTP_EHLO_DEL_XCLIENT)
		del |= SMTP_CAP_XCLIENT;
	return del;
}

/* Builds the expected rewrite into out (room: 2 * n + 16); returns length. */
static size_t
fuzz_model_rewrite(const fuzz_line_t *lines, long nl, unsigned flags,
    uint8_t *out)
{
	unsigned del = fuzz_del(flags);
	size_t o = 0;
	long i, lastkept = 0;

	for (i = 1; i < nl; i++) {
		if ((fuzz_line_cap(lines[i].text, lines[i].len) & del) == 0)
			lastkept = i;
	}
	for (i = 0; i < nl; i++) {
		int last;

		if (i > 0 && (fuzz_line_cap(lines[i].text, lines[i].len) &
		    del) != 0)
			continue;
		last = i == lastkept && !(flags & SMTP_EHLO_ADD_STARTTLS);
		memcpy(out + o, last ? "250 " : "250-", 4);
		o += 4;
		if (lines[i].len > 4) {
			memcpy(out + o, lines[i].text + 4, lines[i].len - 4);
			o += lines[i].len - 4;
		}
		memcpy(out + o, "\r\n", 2);
		o += 2;
	}
	if (flags & SMTP_EHLO_ADD_STARTTLS) {
		memcpy(out + o, "250 STARTTLS\r\n", 14);
		o += 14;
	}
	return o;
}

/* Re-parses a rewritten reply with the proxy's own line and reply parsers. */
static void
fuzz_check_output(const uint8_t *out, size_t outlen, unsigned flags)
{
	unsigned del = fuzz_del(flags) & ~(flags & SMTP_EHLO_ADD_STARTTLS ?
	    SMTP_CAP_STARTTLS : 0u);
	size_t off = 0, nstarttls = 0, nlines = 0;
	int seen_last = 0;

	while (off < outlen) {
		size_t ll, tl;
		unsigned fl;
		smtp_reply_line_t rl;

		FUZZ_CHECK(!seen_last);
		FUZZ_CHECK(smtp_line_find(out + off, outlen - off,
		    outlen - off, &ll, &tl, &fl) == SMTP_LINE_OK);
		FUZZ_CHECK(fl == 0 && ll == tl + 2);
		FUZZ_CHECK(smtp_reply_line_parse(out + off, tl, &rl) == 0);
		FUZZ_CHECK(rl.code == 250);
		if (nlines > 0) {
			unsigned cap = fuzz_line_cap(out + off, tl);

			FUZZ_CHECK((cap & del) == 0);
			nstarttls += cap == SMTP_CAP_STARTTLS;
		}
		seen_last = rl.last;
		nlines++;
		off += ll;
	}
	FUZZ_CHECK(seen_last && nlines >= 1);
	if (flags & SMTP_EHLO_ADD_STARTTLS) {
		FUZZ_CHECK(nstarttls == 1);
		FUZZ_CHECK(outlen >= 14 &&
		    memcmp(out + outlen - 14, "250 STARTTLS\r\n", 14) == 0);
	}
	if (flags & SMTP_EHLO_DEL_STARTTLS && !(flags & SMTP_EHLO_ADD_STARTTLS))
		FUZZ_CHECK(nstarttls == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in = fuzz_dup(data, size);
	fuzz_line_t *lines = malloc((size + 1) * sizeof(*lines));
	uint8_t *model = malloc(2 * size + 16);
	size_t cap = 2 * size + 16, i;
	unsigned caps_in, caps_model = 0, flags;
	long nl;
	int allcrlf = 1;

	FUZZ_CHECK(lines != NULL && model != NULL);
	nl = fuzz_model_lines(in, size, lines);
	for (i = 1; nl > 0 && i < (size_t)nl; i++)
		caps_model |= fuzz_line_cap(lines[i].text, lines[i].len);
	for (i = 0; nl > 0 && i < (size_t)nl; i++)
		allcrlf &= lines[i].crlf;
	caps_in = smtp_ehlo_caps(in, size);
	FUZZ_CHECK(caps_in == (nl > 0 ? caps_model : 0));

	for (flags = 0; flags < FUZZ_EHLO_FLAGS; flags++) {
		uint8_t *out = malloc(cap);
		size_t outlen = 0, mlen;
		int rc;

		FUZZ_CHECK(out != NULL);
		rc = smtp_ehlo_rewrite(in, size, flags, out, cap, &outlen);
		FUZZ_CHECK(rc == (nl > 0 ? 0 : -1));
		if (rc == -1) {
			free(out);
			continue;
		}
		FUZZ_CHECK(outlen <= cap);
		if (allcrlf)
			FUZZ_CHECK(outlen <= size + 16);
		mlen = fuzz_model_rewrite(lines, nl, flags, model);
		FUZZ_CHECK(mlen == outlen && memcmp(model, out, mlen) == 0);
		fuzz_check_output(out, outlen, flags);
		FUZZ_CHECK(smtp_ehlo_caps(out, outlen) ==
		    ((caps_in & ~fuzz_del(flags)) |
		    (flags & SMTP_EHLO_ADD_STARTTLS ? SMTP_CAP_STARTTLS : 0u)));
		free(out);

		/* Exact room is enough; one byte less is refused. */
		out = malloc(outlen);
		FUZZ_CHECK(out != NULL || outlen == 0);
		FUZZ_CHECK(smtp_ehlo_rewrite(in, size, flags, out, outlen,
		    &mlen) == 0 && mlen == outlen &&
		    memcmp(model, out, outlen) == 0);
		FUZZ_CHECK(outlen == 0 || smtp_ehlo_rewrite(in, size, flags,
		    out, outlen - 1, &mlen) == -1);
		free(out);
	}
	free(model);
	free(lines);
	free(in);
	return 0;
}
