/*
 * fuzz_body: the DATA body filter (SMTP smuggling normalisation).
 *
 * Input layout: byte 0 gives the number of cuts k (0..15), the next k bytes
 * the lengths of the first k pieces (0..255; empty calls included); the rest
 * is the body, fed in those pieces and then the remainder. Properties:
 * - any split gives the output, consumption, done flag and NUL count of one
 *   call, and so does feeding one octet per call (which never takes the
 *   multi-line fast path: a differential check of it), and so does taking
 *   each piece through smtp_body_pass first (in place, unchanged) and the
 *   filter for the rest; no call writes past SMTP_BODY_OUT_MAX of its input (each call's
 *   output buffer is exactly that large), consumes more than it was given,
 *   or stops short before done; after done every call is empty;
 * - the filter ends exactly where a strict reader does: at the first
 *   CRLF "." CRLF of the input, a virtual CRLF before the body included;
 * - the output has no NUL, no bare CR or LF (a CR whose LF is held back is
 *   allowed at the very end when not done), and "." CRLF at a line start
 *   (end-of-data) only once, at the very end, when done, and nowhere when
 *   not done;
 * - when not done, appending CRLF "." CRLF ends the body where a strict
 *   reader of the concatenation ends it, and the output then has exactly
 *   one end-of-data, at its end;
 * - well-formed input (no NUL, CRLF only) is copied byte-exact;
 * - the whole output fits SMTP_BODY_OUT_MAX(total input).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "smtp.h"

#define FUZZ_MAX_CUTS 16

typedef struct {
	uint8_t *out;
	size_t outlen;
	size_t consumed;
	uint64_t nuls;
	int done;
} fuzz_run_t;

/* One call with exact-size input and output blocks; appends to r. */
static void
fuzz_call(smtp_body_t *b, const uint8_t *p, size_t len, fuzz_run_t *r)
{
	uint8_t *in = fuzz_dup(p, len);
	uint8_t *out = malloc(SMTP_BODY_OUT_MAX(len));
	size_t olen = (size_t)-1, c;
	int done = -1, was_done = r->done;

	FUZZ_CHECK(out != NULL);
	c = smtp_body_filter(b, in, len, out, &olen, &done);
	FUZZ_CHECK(c <= len && olen <= SMTP_BODY_OUT_MAX(len));
	FUZZ_CHECK(done == 0 || done == 1);
	FUZZ_CHECK(done || c == len);
	if (was_done)
		FUZZ_CHECK(done && c == 0 && olen == 0);
	memcpy(r->out + r->outlen, out, olen);
	r->outlen += olen;
	r->consumed += c;
	r->done = done;
	FUZZ_CHECK(b->octets == r->consumed);
	r->nuls = b->nuls;
	free(out);
	free(in);
}

/* smtp_body_pass on a copy of the piece, then the filter on the rest. */
static void
fuzz_pass_call(smtp_body_t *b, const uint8_t *p, size_t len, fuzz_run_t *r)
{
	uint8_t *in = fuzz_dup(p, len);
	size_t k;

	if (r->done) {
		free(in);
		fuzz_call(b, p, len, r);
		return;
	}
	k = smtp_body_pass(b, in, len);
	FUZZ_CHECK(k <= len && memcmp(in, p, len) == 0);
	FUZZ_CHECK(memchr(in, 0, k) == NULL);
	memcpy(r->out + r->outlen, in, k);
	r->outlen += k;
	r->consumed += k;
	free(in);
	fuzz_call(b, p + k, len - k, r);
}

typedef void fuzz_call_fn(smtp_body_t *, const uint8_t *, size_t,
    fuzz_run_t *);

/* The body in the pieces cuts[0..ncuts) says, then the rest, through call. */
static void
fuzz_split(const uint8_t *cuts, size_t ncuts, const uint8_t *body, size_t n,
    fuzz_call_fn *call, fuzz_run_t *r)
{
	smtp_body_t b;
	size_t k, from = 0;

	smtp_body_init(&b);
	for (k = 0; k < ncuts; k++) {
		size_t len = cuts[k];

		if (len > n - from)
			len = n - from;
		call(&b, body + from, len, r);
		from += len;
	}
	call(&b, body + from, n - from, r);
}

/* Two runs over the same body agree in every respect. */
static void
fuzz_same(const fuzz_run_t *a, const fuzz_run_t *b)
{
	FUZZ_CHECK(a->outlen == b->outlen && a->done == b->done &&
	    a->consumed == b->consumed && a->nuls == b->nuls &&
	    memcmp(a->out, b->out, b->outlen) == 0);
}

static size_t
fuzz_count_nul(const uint8_t *p, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += p[i] == 0;
	return k;
}

/* Where a strict reader ends the body: after the first CRLF.CRLF, or 0. */
static size_t
fuzz_strict_end(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 3 <= n; i++) {
		if (p[i] == '.' && p[i + 1] == '\r' && p[i + 2] == '\n' &&
		    (i == 0 || (i >= 2 && p[i - 2] == '\r' && p[i - 1] == '\n')))
			return i + 3;
	}
	return 0;
}

/*
 * Output rules. When not done a final CR is allowed (its LF is held back).
 * A '.' at a line start (after CRLF, or first) followed by CR is what any
 * reader, strict or lenient, takes for end-of-data: allowed once, as the
 * last three octets ".\r\n", when done, and never otherwise. With no bare
 * CR or LF in the output, lenient forms ("\n.\n", "\r.\r") cannot occur.
 */
static void
fuzz_check_output(const uint8_t *o, size_t n, int done)
{
	size_t i, eod = 0;

	for (i = 0; i < n; i++) {
		FUZZ_CHECK(o[i] != 0);
		if (o[i] == '\r')
			FUZZ_CHECK((i + 1 < n && o[i + 1] == '\n') ||
			    (!done && i + 1 == n));
		if (o[i] == '\n')
			FUZZ_CHECK(i > 0 && o[i - 1] == '\r');
		if (o[i] == '.' && (i == 0 || o[i - 1] == '\n') &&
		    i + 1 < n && o[i + 1] == '\r') {
			/*
			 * A line "." then CR: end-of-data for every reader,
			 * strict or lenient (whatever follows the CR).
			 */
			eod++;
			FUZZ_CHECK(done && i + 3 == n && o[i + 2] == '\n');
		}
	}
	FUZZ_CHECK(eod == (done ? 1u : 0u));
}

/* Well-formed: no NUL, every CR followed by LF, every LF after a CR. */
static int
fuzz_wellformed(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == 0)
			return 0;
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			return 0;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t ncuts, from, n, strict;
	const uint8_t *body;
	fuzz_run_t whole = { 0 }, split = { 0 }, bytes = { 0 }, pass = { 0 };
	uint8_t *withend;
	smtp_body_t b;

	if (size == 0)
		return 0;
	ncuts = data[0] % FUZZ_MAX_CUTS;
	if (size < 1 + ncuts)
		return 0;
	body = data + 1 + ncuts;
	n = size - 1 - ncuts;
	/*
	 * Room for the body's output plus an appended end-of-data; for the
	 * split run, the sum of the per-call bounds.
	 */
	whole.out = malloc(SMTP_BODY_OUT_MAX(n) + SMTP_BODY_OUT_MAX(5));
	split.out = malloc(2 * n + 8 * (ncuts + 1));
	bytes.out = malloc(10 * n + 1);
	pass.out = malloc(2 * n + 8 * (ncuts + 1));
	withend = malloc(n + 5);
	FUZZ_CHECK(whole.out != NULL && split.out != NULL &&
	    bytes.out != NULL && pass.out != NULL && withend != NULL);

	smtp_body_init(&b);
	fuzz_call(&b, body, n, &whole);
	FUZZ_CHECK(whole.outlen <= SMTP_BODY_OUT_MAX(n));

	fuzz_split(data + 1, ncuts, body, n, fuzz_call, &split);
	fuzz_same(&split, &whole);
	fuzz_split(data + 1, ncuts, body, n, fuzz_pass_call, &pass);
	fuzz_same(&pass, &whole);

	smtp_body_init(&b);
	for (from = 0; from < n && !bytes.done; from++)
		fuzz_call(&b, body + from, 1, &bytes);
	fuzz_same(&bytes, &whole);

	FUZZ_CHECK(whole.nuls == fuzz_count_nul(body, whole.consumed));
	strict = fuzz_strict_end(body, n);
	FUZZ_CHECK(whole.done == (strict != 0));
	if (whole.done)
		FUZZ_CHECK(whole.consumed == strict);
	fuzz_check_output(whole.out, whole.outlen, whole.done);
	if (fuzz_wellformed(body, whole.consumed))
		FUZZ_CHECK(whole.outlen == whole.consumed &&
		    memcmp(whole.out, body, whole.consumed) == 0);

	if (!whole.done) {
		/* The same filter state, then a real end-of-data. */
		memcpy(withend, body, n);
		memcpy(withend + n, "\r\n.\r\n", 5);
		fuzz_call(&b, withend + n, 5, &whole);
		FUZZ_CHECK(whole.done);
		FUZZ_CHECK(whole.consumed == fuzz_strict_end(withend, n + 5));
		fuzz_check_output(whole.out, whole.outlen, 1);
	}
	free(withend);
	free(bytes.out);
	free(pass.out);
	free(split.out);
	free(whole.out);
	return 0;
}
