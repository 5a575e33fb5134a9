/*
 * fuzz_reply: reply-line parsing over a server's byte stream. The input is
 * cut into lines (smtp_line_find, SMTP_REPLY_LINE_MAX) and each line's text
 * goes through smtp_reply_line_parse, which must agree with an independent
 * reading of RFC 5321 4.2 (three digits, 2-5 / 0-5 / 0-9, then SP, '-' or
 * the end), on the exact code and on the last-line mark. A partial or
 * over-long line at the end is parsed as it stands.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "smtp.h"

static int
fuzz_reply_ok(const uint8_t *t, size_t n)
{
	return n >= 3 && t[0] >= '2' && t[0] <= '5' && t[1] >= '0' &&
	    t[1] <= '5' && t[2] >= '0' && t[2] <= '9' &&
	    (n == 3 || t[3] == ' ' || t[3] == '-');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		size_t ll = 0, tl = 0;
		unsigned fl = 0;
		smtp_reply_line_t rl = { -1, -1 };
		uint8_t *text;
		int rc;

		if (smtp_line_find(data + off, size - off, SMTP_REPLY_LINE_MAX,
		    &ll, &tl, &fl) != SMTP_LINE_OK) {
			/* A partial or over-long line: parse what is there. */
			size_t n = size - off < SMTP_REPLY_LINE_MAX ?
			    size - off : SMTP_REPLY_LINE_MAX;

			text = fuzz_dup(data + off, n);
			rc = smtp_reply_line_parse(text, n, &rl);
			FUZZ_CHECK(rc == (fuzz_reply_ok(text, n) ? 0 : -1));
			free(text);
			break;
		}
		FUZZ_CHECK(ll <= size - off && tl <= ll);
		text = fuzz_dup(data + off, tl);
		rc = smtp_reply_line_parse(text, tl, &rl);
		FUZZ_CHECK(rc == (fuzz_reply_ok(text, tl) ? 0 : -1));
		if (rc == 0) {
			FUZZ_CHECK(rl.code >= 200 && rl.code <= 559);
			FUZZ_CHECK(rl.code == (text[0] - '0') * 100 +
			    (text[1] - '0') * 10 + (text[2] - '0'));
			FUZZ_CHECK(rl.last == (tl == 3 || text[3] == ' '));
		}
		free(text);
		off += ll;
	}
	return 0;
}
