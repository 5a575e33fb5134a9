/*
 * sts: MTA-STS TXT records, policies and mx pattern matching (RFC 8461).
 * Every read is bounded by an explicit length; see sts.h for the grammar.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sts.h"

/* Character classes ------------------------------------------------------ */

static int
sts_is_alnum(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* WSP = SP / HTAB (RFC 5234 B.1). */
static int
sts_is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static uint8_t
sts_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/*
 * sts_ext_name: s[0..n) is an sts-ext-name / sts-policy-ext-name,
 * (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
 */
static int
sts_ext_name(const uint8_t *s, size_t n)
{
	if (n == 0 || n > STS_EXT_NAME_MAX || !sts_is_alnum(s[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!sts_is_alnum(s[i]) && s[i] != '_' && s[i] != '-' &&
		    s[i] != '.')
			return 0;
	return 1;
}

/* s[0..n) equals the literal lit, case-sensitively (%s in RFC 7405). */
static int
sts_eq(const uint8_t *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n == l && memcmp(s, lit, l) == 0;
}

/*
 * The length of the well-formed UTF-8 sequence of two to four octets
 * (RFC 3629 4: UTF8-2 / UTF8-3 / UTF8-4, no surrogates, no overlongs, at
 * most U+10FFFF) at p[0..n), or 0.
 */
static size_t
sts_utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/*
 * sts_policy_ext_value: s[0..n) is an sts-policy-ext-value, sts-policy-vchar
 * [*(%x20 / sts-policy-vchar) sts-policy-vchar], where sts-policy-vchar =
 * %x21-7E / UTF8-2 / UTF8-3 / UTF8-4 (RFC 8461 3.2): no HTAB, no control
 * octet, no SP at either end.
 */
static int
sts_policy_ext_value(const uint8_t *s, size_t n)
{
	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (size_t i = 0; i < n;) {
		size_t l;

		if (s[i] >= 0x20 && s[i] <= 0x7e) {
			i++;
			continue;
		}
		if (s[i] < 0x80 || (l = sts_utf8_len(s + i, n - i)) == 0)
			return 0;
		i += l;
	}
	return 1;
}

/*
 * sts_domain: s[0..n) is a Domain of RFC 5321 4.1.2, sub-domain *("."
 * sub-domain), sub-domain = Let-dig [Ldh-str]: labels of letters, digits
 * and inner hyphens. Within our bounds: labels of at most STS_LABEL_MAX.
 */
static int
sts_domain(const uint8_t *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!sts_is_alnum(s[i]) && s[i] != '-')
				return 0;
			continue;
		}
		if (i == start || i - start > STS_LABEL_MAX ||
		    s[start] == '-' || s[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

/* TXT record (RFC 8461 3.1) ------------------------------------------------ */

#define STS_TXT_VERSION "v=STSv1"
#define STS_TXT_VERSION_LEN 7

static size_t
sts_skip_wsp(const uint8_t *p, size_t n, size_t i)
{
	while (i < n && sts_is_wsp(p[i]))
		i++;
	return i;
}

/*
 * "Records that do not begin with v=STSv1; are discarded." The ABNF lets
 * white space come before the ';' (sts-field-delim = *WSP ";" *WSP), so a
 * record begins with the version when the version is followed by a
 * delimiter: "v=STSv1 ;" counts, "v=STSv10;" and "v=STSv1" do not.
 */
static int
sts_txt_is_v1(const uint8_t *p, size_t n)
{
	size_t i;

	if (n < STS_TXT_VERSION_LEN ||
	    memcmp(p, STS_TXT_VERSION, STS_TXT_VERSION_LEN) != 0)
		return 0;
	i = sts_skip_wsp(p, n, STS_TXT_VERSION_LEN);
	return i < n && p[i] == ';';
}

/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E): no '=', ';', SP, CTL. */
static int
sts_txt_value_char(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e && c != '=' && c != ';';
}

/*
 * sts_txt_record parses one record that sts_txt_is_v1 accepted. Returns 0
 * with the id in id, or -1.
 */
static int
sts_txt_record(const uint8_t *p, size_t n, char id[STS_ID_MAX + 1])
{
	size_t i = STS_TXT_VERSION_LEN, idlen = 0;
	const uint8_t *idp = NULL;
	unsigned nfields = 0;

	for (;;) {
		size_t j, name, eq, v;

		/* The end, right after the version or a field. */
		if (i == n)
			break;
		/* sts-field-delim, then a field or the end of the record. */
		j = sts_skip_wsp(p, n, i);
		if (j == n || p[j] != ';')
			return -1;
		j = sts_skip_wsp(p, n, j + 1);
		if (j == n)
			break;
		name = j;
		for (eq = j; eq < n && p[eq] != '='; eq++)
			;
		if (eq == n || !sts_ext_name(p + name, eq - name))
			return -1;
		for (v = eq + 1; v < n && sts_txt_value_char(p[v]); v++)
			;
		if (v == eq + 1)
			return -1;
		if (sts_eq(p + name, eq - name, "id")) {
			/* sts-id = %s"id=" 1*32(ALPHA / DIGIT). */
			if (idp != NULL || v - eq - 1 > STS_ID_MAX)
				return -1;
			for (size_t k = eq + 1; k < v; k++)
				if (!sts_is_alnum(p[k]))
					return -1;
			idp = p + eq + 1;
			idlen = v - eq - 1;
		}
		nfields++;
		i = v;
	}
	/* 1*(sts-field-delim sts-field), one of them the id. */
	if (nfields == 0 || idp == NULL)
		return -1;
	memcpy(id, idp, idlen);
	id[idlen] = '\0';
	return 0;
}

int
sts_txt_parse(const sts_slice_t *recs, size_t n, char id[STS_ID_MAX + 1],
    const char **why)
{
	const sts_slice_t *one = NULL;
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		if (!sts_txt_is_v1(recs[i].p, recs[i].len))
			continue;
		one = &recs[i];
		count++;
	}
	if (count == 0) {
		*why = "no v=STSv1 record";
		return -1;
	}
	if (count > 1) {
		*why = "several v=STSv1 records";
		return -1;
	}
	if (sts_txt_record(one->p, one->len, id) == -1) {
		*why = "invalid v=STSv1 record";
		return -1;
	}
	return 0;
}

/* Policy (RFC 8461 3.2) ---------------------------------------------------- */

/* What has been seen of the fields that count once. */
typedef struct {
	int version, mode, max_age;
} sts_seen_t;

/* max_age = 1*10(DIGIT), taken at most as STS_MAX_AGE_MAX. */
static int
sts_max_age(const uint8_t *v, size_t n, uint32_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x > STS_MAX_AGE_MAX ? STS_MAX_AGE_MAX : (uint32_t)x;
	return 0;
}

/* sts-policy-mx-value = ["*."] Domain; stored lower-cased. */
static int
sts_mx_add(const uint8_t *v, size_t n, sts_policy_t *pol, const char **why)
{
	size_t d = n >= 2 && v[0] == '*' && v[1] == '.' ? 2 : 0;

	if (!sts_domain(v + d, n - d) || n > STS_NAME_MAX) {
		*why = "invalid mx pattern";
		return -1;
	}
	if (pol->nmx == STS_MX_MAX) {
		*why = "too many mx patterns";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		pol->mx[pol->nmx][i] = (char)sts_lower(v[i]);
	pol->mx[pol->nmx][n] = '\0';
	pol->nmx++;
	return 0;
}

/*
 * sts_policy_field judges one line t[0..n) (terminator excluded).
 */
static int
sts_policy_field(const uint8_t *t, size_t n, sts_policy_t *pol,
    sts_seen_t *seen, const char **why)
{
	size_t c, vs, ve;
	const uint8_t *v;

	for (c = 0; c < n && t[c] != ':'; c++)
		;
	if (c == n || !sts_ext_name(t, c)) {
		*why = n == 0 ? "empty line" : "malformed field";
		return -1;
	}
	/* sts-policy-field-delim = ":" *WSP; *WSP before the line end. */
	vs = sts_skip_wsp(t, n, c + 1);
	for (ve = n; ve > vs && sts_is_wsp(t[ve - 1]); ve--)
		;
	v = t + vs;
	/* Every known value is also an ext-value: this checks them all. */
	if (!sts_policy_ext_value(v, ve - vs)) {
		*why = "malformed field value";
		return -1;
	}
	if (sts_eq(t, c, "mx"))
		return sts_mx_add(v, ve - vs, pol, why);
	if (sts_eq(t, c, "version") && !seen->version) {
		seen->version = 1;
		if (!sts_eq(v, ve - vs, "STSv1")) {
			*why = "unsupported version";
			return -1;
		}
	} else if (sts_eq(t, c, "mode") && !seen->mode) {
		seen->mode = 1;
		if (sts_eq(v, ve - vs, "enforce"))
			pol->mode = STS_MODE_ENFORCE;
		else if (sts_eq(v, ve - vs, "testing"))
			pol->mode = STS_MODE_TESTING;
		else if (sts_eq(v, ve - vs, "none"))
			pol->mode = STS_MODE_NONE;
		else {
			*why = "invalid mode";
			return -1;
		}
	} else if (sts_eq(t, c, "max_age") && !seen->max_age) {
		seen->max_age = 1;
		if (sts_max_age(v, ve - vs, &pol->max_age) == -1) {
			*why = "invalid max_age";
			return -1;
		}
	}
	/* Unknown fields and repeats after the first: ignored. */
	return 0;
}

int
sts_policy_parse(const uint8_t *p, size_t n, sts_policy_t *pol,
    const char **why)
{
	sts_seen_t seen = { 0, 0, 0 };
	size_t pos = 0;

	if (n > STS_BODY_MAX) {
		*why = "policy too large";
		return -1;
	}
	pol->mode = STS_MODE_NONE;
	pol->max_age = 0;
	pol->nmx = 0;
	/* At least one field; after each line end another field or the end. */
	do {
		size_t end;

		for (end = pos; end < n && p[end] != '\n' && p[end] != '\r';
		    end++) {
			uint8_t c = p[end];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				*why = "control character";
				return -1;
			}
		}
		if (sts_policy_field(p + pos, end - pos, pol, &seen, why) ==
		    -1)
			return -1;
		if (end == n)
			break;
		if (p[end] == '\r') {
			/* sts-policy-term = LF / CRLF: no bare CR. */
			if (end + 1 == n || p[end + 1] != '\n') {
				*why = "bare CR";
				return -1;
			}
			end++;
		}
		pos = end + 1;
	} while (pos < n);
	if (!seen.version || !seen.mode || !seen.max_age) {
		*why = !seen.version ? "no version" : !seen.mode ? "no mode" :
		    "no max_age";
		return -1;
	}
	/* mx: "required at least once, except when mode is none". */
	if (pol->mode != STS_MODE_NONE && pol->nmx == 0) {
		*why = "no mx";
		return -1;
	}
	return 0;
}

const char *
sts_mode_name(sts_mode_t m)
{
	switch (m) {
	case STS_MODE_ENFORCE:
		return "enforce";
	case STS_MODE_TESTING:
		return "testing";
	case STS_MODE_NONE:
		break;
	}
	return "none";
}

size_t
sts_policy_format(const sts_policy_t *pol, char *out, size_t cap)
{
	size_t off = 0;
	int r;

	r = snprintf(out, cap, "version: STSv1\r\nmode: %s\r\n",
	    sts_mode_name(pol->mode));
	if (r < 0 || (size_t)r >= cap)
		return 0;
	off = (size_t)r;
	for (unsigned i = 0; i < pol->nmx && i < STS_MX_MAX; i++) {
		r = snprintf(out + off, cap - off, "mx: %s\r\n", pol->mx[i]);
		if (r < 0 || (size_t)r >= cap - off)
			return 0;
		off += (size_t)r;
	}
	r = snprintf(out + off, cap - off, "max_age: %u\r\n",
	    (unsigned)pol->max_age);
	if (r < 0 || (size_t)r >= cap - off)
		return 0;
	return off + (size_t)r;
}

/* Matching (RFC 8461 4.1, 4.2) --------------------------------------------- */

/* a[0..n) and b[0..n) are equal, ASCII letters compared without case. */
static int
sts_eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sts_lower((uint8_t)a[i]) != sts_lower((uint8_t)b[i]))
			return 0;
	return 1;
}

/*
 * sts_match_plain: the pattern matches a name that is not absolute (no
 * trailing dot) and has no wildcard of its own.
 */
static int
sts_match_plain(const char *pat, size_t plen, const char *name, size_t nlen)
{
	size_t dot;

	if (nlen == 0 || plen == 0 || memchr(name, '\0', nlen) != NULL)
		return 0;
	if (plen >= 2 && pat[0] == '*' && pat[1] == '.') {
		/* Exactly one label, non-empty, before the pattern's suffix. */
		for (dot = 0; dot < nlen && name[dot] != '.'; dot++)
			;
		if (dot == 0 || dot == nlen || memchr(name, '*', dot) != NULL)
			return 0;
		return nlen - dot == plen - 1 &&
		    sts_eq_nocase(name + dot, pat + 1, plen - 1);
	}
	return plen == nlen && sts_eq_nocase(pat, name, nlen);
}

int
sts_mx_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	if (nlen == 0 || name[nlen - 1] == '.')
		return 0;
	return sts_match_plain(pat, plen, name, nlen);
}

int
sts_policy_match_host(const sts_policy_t *pol, const char *name,
    size_t nlen)
{
	for (unsigned i = 0; i < pol->nmx && i < STS_MX_MAX; i++)
		if (sts_mx_match(pol->mx[i], strlen(pol->mx[i]), name, nlen))
			return 1;
	return 0;
}

/*
 * sts_san_matches: a certificate's dNSName d[0..n) and the pattern pat.
 * The SAN is either a name (it must match the pattern as a host would) or
 * "*.rest" with rest of two labels or more: then the hosts it is valid for
 * are "label.rest", and one of them is allowed when the pattern is
 * "x.rest" (x one label) or "*.rest" itself.
 */
static int
sts_san_matches(const char *d, size_t n, const char *pat, size_t plen)
{
	const char *rest;
	size_t rlen, dot;

	if (n == 0 || d[n - 1] == '.' || memchr(d, '\0', n) != NULL)
		return 0;
	if (!(n > 2 && d[0] == '*' && d[1] == '.'))
		return memchr(d, '*', n) == NULL &&
		    sts_match_plain(pat, plen, d, n);
	rest = d + 2;
	rlen = n - 2;
	/* No second wildcard; not "*.com" (one label after the wildcard). */
	if (memchr(rest, '*', rlen) != NULL ||
	    memchr(rest, '.', rlen) == NULL)
		return 0;
	if (plen >= 2 && pat[0] == '*' && pat[1] == '.')
		return plen - 2 == rlen && sts_eq_nocase(pat + 2, rest, rlen);
	for (dot = 0; dot < plen && pat[dot] != '.'; dot++)
		;
	return dot > 0 && dot < plen && plen - dot - 1 == rlen &&
	    sts_eq_nocase(pat + dot + 1, rest, rlen);
}

int
sts_cert_matches(const sts_policy_t *pol, const X509 *x)
{
	GENERAL_NAMES *gens;
	int found = 0;

	if (x == NULL)
		return 0;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (size_t i = 0; gens != NULL && !found &&
	    i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *d;
		int len;

		if (g->type != GEN_DNS)
			continue;
		d = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || len > STS_NAME_MAX)
			continue;
		for (unsigned k = 0; k < pol->nmx && k < STS_MX_MAX; k++)
			if (sts_san_matches(d, (size_t)len, pol->mx[k],
			    strlen(pol->mx[k]))) {
				found = 1;
				break;
			}
	}
	GENERAL_NAMES_free(gens);
	return found;
}
