/*
 * tlsrpt: the libtlsrpt datagram encoder (see tlsrpt.h). Written from the
 * format as libtlsrpt.c and tlsrpt-collectd read it; no code taken.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tlsrpt.h"

const char *const tlsrpt_policy_names[TLSRPT_POLICY_COUNT] = {
	"tlsa", "sts", "no-policy-found"
};

const char *const tlsrpt_result_names[TLSRPT_RESULT_COUNT] = {
	"success",
	"starttls-not-supported",
	"certificate-host-mismatch",
	"certificate-not-trusted",
	"certificate-expired",
	"validation-failure",
	"sts-policy-fetch-error",
	"sts-policy-invalid",
	"sts-webpki-invalid",
	"tlsa-invalid",
	"dnssec-invalid",
	"dane-required",
};

/* libtlsrpt's tlsrpt.h numbers, in tlsrpt_result_t order. */
static const int tlsrpt_result_codes[TLSRPT_RESULT_COUNT] = {
	0, 201, 202, 203, 204, 205, 301, 302, 303, 304, 305, 306
};

static const int tlsrpt_policy_codes[TLSRPT_POLICY_COUNT] = { 1, 2, 9 };

int
tlsrpt_policy_code(tlsrpt_policy_t p)
{
	return (unsigned)p < TLSRPT_POLICY_COUNT ? tlsrpt_policy_codes[p] : 9;
}

int
tlsrpt_result_code(tlsrpt_result_t r)
{
	return (unsigned)r < TLSRPT_RESULT_COUNT ? tlsrpt_result_codes[r] :
	    205;
}

typedef struct {
	char *p;
	size_t len, cap;
	int overflow;
} tlsrpt_buf_t;

static void
tlsrpt_put(tlsrpt_buf_t *b, const void *s, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
tlsrpt_puts(tlsrpt_buf_t *b, const char *s)
{
	tlsrpt_put(b, s, strlen(s));
}

static void
tlsrpt_int(tlsrpt_buf_t *b, int v)
{
	char n[16];
	int k = snprintf(n, sizeof(n), "%d", v);

	tlsrpt_put(b, n, (size_t)k);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629 4: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t
tlsrpt_utf8_len(const uint8_t *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string: the quotes and the escaped value. */
static void
tlsrpt_str(tlsrpt_buf_t *b, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *s = (const uint8_t *)(v != NULL ? v : "");
	size_t n = strlen((const char *)s), i = 0, k;

	tlsrpt_put(b, "\"", 1);
	while (i < n) {
		uint8_t c = s[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			tlsrpt_put(b, e, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
				hex[c & 15] };
			tlsrpt_put(b, e, 6);
			i++;
		} else if (c < 0x80) {
			tlsrpt_put(b, &c, 1);
			i++;
		} else if ((k = tlsrpt_utf8_len(s + i, n - i)) > 0) {
			tlsrpt_put(b, s + i, k);
			i += k;
		} else {
			tlsrpt_put(b, "\\ufffd", 6);
			i++;
		}
	}
	tlsrpt_put(b, "\"", 1);
}

/* ,"name": "value" (the spacing libtlsrpt writes). */
static void
tlsrpt_attr(tlsrpt_buf_t *b, const char *name, const char *v, int first)
{
	if (!first)
		tlsrpt_put(b, ",", 1);
	tlsrpt_put(b, "\"", 1);
	tlsrpt_puts(b, name);
	tlsrpt_put(b, "\": ", 3);
	tlsrpt_str(b, v);
}

static void
tlsrpt_list(tlsrpt_buf_t *b, const char *name, const char *const *v,
    size_t n)
{
	if (n == 0)
		return;
	tlsrpt_put(b, ",\"", 2);
	tlsrpt_puts(b, name);
	tlsrpt_put(b, "\":[", 3);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			tlsrpt_put(b, ",", 1);
		tlsrpt_str(b, v[i]);
	}
	tlsrpt_put(b, "]", 1);
}

int
tlsrpt_encode(const tlsrpt_rec_t *r, char *out, size_t cap)
{
	tlsrpt_buf_t b = { out, 0, cap, 0 };
	int failed = r->result != TLSRPT_SUCCESS;

	tlsrpt_put(&b, "{", 1);
	tlsrpt_attr(&b, "dpv", "1", 1);
	tlsrpt_attr(&b, "d", r->domain, 0);
	tlsrpt_attr(&b, "pr", r->record, 0);
	tlsrpt_puts(&b, ",\"policies\":[{\"policy-type\":");
	tlsrpt_int(&b, tlsrpt_policy_code(r->type));
	tlsrpt_attr(&b, "policy-domain", r->policy_domain, 0);
	tlsrpt_list(&b, "policy-string", r->strings, r->nstrings);
	tlsrpt_list(&b, "mx-host", r->mx, r->nmx);
	if (failed) {
		tlsrpt_puts(&b, ",\"failure-details\":[{\"c\":");
		tlsrpt_int(&b, tlsrpt_result_code(r->result));
		if (r->sending_ip != NULL)
			tlsrpt_attr(&b, "s", r->sending_ip, 0);
		if (r->mx_name != NULL)
			tlsrpt_attr(&b, "n", r->mx_name, 0);
		if (r->receiving_ip != NULL)
			tlsrpt_attr(&b, "r", r->receiving_ip, 0);
		if (r->info != NULL)
			tlsrpt_attr(&b, "a", r->info, 0);
		tlsrpt_put(&b, "}]", 2);
	}
	tlsrpt_puts(&b, failed ? ",\"t\":1,\"f\":1}]}" : ",\"t\":0,\"f\":0}]}");
	if (b.overflow || b.len > (size_t)INT32_MAX)
		return -1;
	return (int)b.len;
}
