/*
 * proxyproto: PROXY protocol v1/v2 encoding and decoding, written from the
 * HAProxy specification (doc/proxy-protocol.txt). See proxyproto.h.
 *
 * The v1 decoder scans each token with a character-at-a-time checker that
 * rejects a byte as soon as no valid token can contain it. The same checker
 * therefore answers both "is this complete token valid" and "can these
 * bytes still become a valid token", which is what makes PARTIAL exact.
 */
#include <netinet/in.h>

#include <string.h>

#include "proxyproto.h"

/* Spec section 2.2: the 12-byte v2 signature (note the NUL). */
static const uint8_t pp_v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PP_V2_VERSION 0x20     /* high nibble of byte 13 */
#define PP_V2_CMD_LOCAL 0x0
#define PP_V2_CMD_PROXY 0x1
#define PP_V2_FAM_UNSPEC 0x00
#define PP_V2_FAM_TCP4 0x11
#define PP_V2_FAM_TCP6 0x21
#define PP_V2_ADDR4_LEN 12     /* 2 * 4 + 2 * 2 */
#define PP_V2_ADDR6_LEN 36     /* 2 * 16 + 2 * 2 */
#define PP_V2_ADDRUNIX_LEN 216 /* 2 * 108 */
#define PP_TLV_HDR 3           /* type, length_hi, length_lo */
#define PP_SSL_HDR 5           /* client, verify (32 bits) */

static const char pp_v1_prefix[] = "PROXY ";
#define PP_V1_PREFIX_LEN (sizeof(pp_v1_prefix) - 1)

/* Buffered output ------------------------------------------------------- */

/* A bounded writer: once anything does not fit, err is set and stays set. */
typedef struct {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err;
} pp_out_t;

static void
pp_put(pp_out_t *o, const void *s, size_t n)
{
	if (o->err || n > o->cap - o->len) {
		o->err = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
pp_put_byte(pp_out_t *o, uint8_t c)
{
	pp_put(o, &c, 1);
}

static void
pp_put_dec(pp_out_t *o, unsigned v)
{
	uint8_t d[10];
	size_t i = sizeof(d);

	do {
		d[--i] = (uint8_t)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	pp_put(o, d + i, sizeof(d) - i);
}

static void
pp_put_hex16(pp_out_t *o, unsigned v)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t d[4];
	size_t i = sizeof(d);

	do {
		d[--i] = (uint8_t)hex[v & 0xf];
		v >>= 4;
	} while (v != 0);
	pp_put(o, d + i, sizeof(d) - i);
}

static void
pp_put_v4(pp_out_t *o, const uint8_t a[4])
{
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0)
			pp_put_byte(o, '.');
		pp_put_dec(o, a[i]);
	}
}

/* RFC 5952 section 4: lower case, no leading zeros, the longest run of two
 * or more zero groups (the first of equal runs) becomes "::". */
static void
pp_put_v6(pp_out_t *o, const uint8_t a[16])
{
	unsigned g[8];
	int i, run, best = -1, bestlen = 1;

	for (i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (i = 0; i < 8; i += run > 0 ? run : 1) {
		for (run = 0; i + run < 8 && g[i + run] == 0; run++)
			;
		if (run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			pp_put(o, "::", 2);
			i += bestlen - 1;
			continue;
		}
		if (i > 0 && i != best + bestlen)
			pp_put_byte(o, ':');
		pp_put_hex16(o, g[i]);
	}
}

/* Addresses --------------------------------------------------------------- */

/* The address and port of one endpoint, family-tagged, in network order. */
typedef struct {
	int family;
	uint8_t addr[16]; /* 4 bytes used for AF_INET */
	uint8_t port[2];
} pp_ep_t;

static const uint8_t pp_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int
pp_ep_get(pp_ep_t *e, const struct sockaddr *sa)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(e, 0, sizeof(*e));
	if (sa == NULL)
		return -1;
	switch (sa->sa_family) {
	case AF_INET:
		memcpy(&sin, sa, sizeof(sin));
		memcpy(e->addr, &sin.sin_addr, 4);
		memcpy(e->port, &sin.sin_port, 2);
		break;
	case AF_INET6:
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(e->addr, &sin6.sin6_addr, 16);
		memcpy(e->port, &sin6.sin6_port, 2);
		break;
	default:
		return -1;
	}
	e->family = sa->sa_family;
	return 0;
}

/* ss receives e as a sockaddr_in or sockaddr_in6; everything else zero. */
static void
pp_ep_put(struct sockaddr_storage *ss, const pp_ep_t *e)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(ss, 0, sizeof(*ss));
	if (e->family == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, e->addr, 4);
		memcpy(&sin.sin_port, e->port, 2);
		memcpy(ss, &sin, sizeof(sin));
	} else if (e->family == AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, e->addr, 16);
		memcpy(&sin6.sin6_port, e->port, 2);
		memcpy(ss, &sin6, sizeof(sin6));
	}
}

static int
pp_ep_is_mapped(const pp_ep_t *e)
{
	return e->family == AF_INET6 &&
	    memcmp(e->addr, pp_v4mapped, sizeof(pp_v4mapped)) == 0;
}

static void
pp_ep_unmap(pp_ep_t *e)
{
	memmove(e->addr, e->addr + 12, 4);
	memset(e->addr + 4, 0, 12);
	e->family = AF_INET;
}

static void
pp_ep_map(pp_ep_t *e)
{
	memmove(e->addr + 12, e->addr, 4);
	memcpy(e->addr, pp_v4mapped, sizeof(pp_v4mapped));
	e->family = AF_INET6;
}

int
proxyproto_addr_set(proxyproto_addr_t *a, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	pp_ep_t s, d;

	memset(a, 0, sizeof(*a));
	a->family = AF_UNSPEC;
	if (pp_ep_get(&s, src) == -1 || pp_ep_get(&d, dst) == -1)
		return -1;
	if (pp_ep_is_mapped(&s) && (pp_ep_is_mapped(&d) ||
	    d.family == AF_INET))
		pp_ep_unmap(&s);
	if (pp_ep_is_mapped(&d) && s.family == AF_INET)
		pp_ep_unmap(&d);
	/* Still mixed: one side is a real IPv6 address. */
	if (s.family == AF_INET && d.family == AF_INET6)
		pp_ep_map(&s);
	if (d.family == AF_INET && s.family == AF_INET6)
		pp_ep_map(&d);
	a->family = s.family;
	pp_ep_put(&a->src, &s);
	pp_ep_put(&a->dst, &d);
	return 0;
}

/* Fills s and d from *a; -1 if *a is not one of the three documented forms. */
static int
pp_addr_get(const proxyproto_addr_t *a, pp_ep_t *s, pp_ep_t *d)
{
	if (a->family == AF_UNSPEC) {
		memset(s, 0, sizeof(*s));
		memset(d, 0, sizeof(*d));
		s->family = d->family = AF_UNSPEC;
		return 0;
	}
	if (a->family != AF_INET && a->family != AF_INET6)
		return -1;
	if (pp_ep_get(s, (const struct sockaddr *)&a->src) == -1 ||
	    pp_ep_get(d, (const struct sockaddr *)&a->dst) == -1 ||
	    s->family != a->family || d->family != a->family)
		return -1;
	return 0;
}

/* Encoding ---------------------------------------------------------------- */

int
proxyproto_v1_encode(const proxyproto_addr_t *a, char *out, size_t outcap,
    size_t *outlen)
{
	pp_out_t o = { (uint8_t *)out, outcap, 0, 0 };
	pp_ep_t s, d;

	if (pp_addr_get(a, &s, &d) == -1)
		return -1;
	pp_put(&o, pp_v1_prefix, PP_V1_PREFIX_LEN);
	if (a->family == AF_UNSPEC) {
		pp_put(&o, "UNKNOWN\r\n", 9);
	} else {
		if (a->family == AF_INET) {
			pp_put(&o, "TCP4 ", 5);
			pp_put_v4(&o, s.addr);
			pp_put_byte(&o, ' ');
			pp_put_v4(&o, d.addr);
		} else {
			pp_put(&o, "TCP6 ", 5);
			pp_put_v6(&o, s.addr);
			pp_put_byte(&o, ' ');
			pp_put_v6(&o, d.addr);
		}
		pp_put_byte(&o, ' ');
		pp_put_dec(&o, (unsigned)s.port[0] << 8 | s.port[1]);
		pp_put_byte(&o, ' ');
		pp_put_dec(&o, (unsigned)d.port[0] << 8 | d.port[1]);
		pp_put(&o, "\r\n", 2);
	}
	if (o.err)
		return -1;
	*outlen = o.len;
	return 0;
}

/* Length of a TLS name, or 0 if it is empty, too long or not printable. */
static size_t
pp_name_len(const char *s)
{
	size_t i;

	for (i = 0; i <= PROXYPROTO_TLS_NAME_MAX; i++) {
		if (s[i] == '\0')
			return i;
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return 0;
}

static void
pp_put_tlv_hdr(pp_out_t *o, uint8_t type, size_t len)
{
	uint8_t h[PP_TLV_HDR] = { type, (uint8_t)(len >> 8), (uint8_t)len };

	pp_put(o, h, sizeof(h));
}

int
proxyproto_v2_encode(const proxyproto_addr_t *a, const char *tls_version,
    const char *tls_cipher, uint8_t *out, size_t outcap, size_t *outlen)
{
	proxyproto_ssl_t ssl = { PP2_CLIENT_SSL, 1, tls_version, tls_cipher,
		NULL };

	return proxyproto_v2_encode_ssl(a, tls_version != NULL ||
	    tls_cipher != NULL ? &ssl : NULL, out, outcap, outlen);
}

int
proxyproto_v2_encode_ssl(const proxyproto_addr_t *a,
    const proxyproto_ssl_t *ssl, uint8_t *out, size_t outcap,
    size_t *outlen)
{
	pp_out_t o = { out, outcap, 0, 0 };
	pp_ep_t s, d;
	size_t vlen = 0, clen = 0, nlen = 0, blen, tlen = 0;
	const char *tls_version = ssl != NULL ? ssl->version : NULL;
	const char *tls_cipher = ssl != NULL ? ssl->cipher : NULL;
	const char *cn = ssl != NULL ? ssl->cn : NULL;
	uint8_t fam;

	if (pp_addr_get(a, &s, &d) == -1)
		return -1;
	if (tls_version != NULL && (vlen = pp_name_len(tls_version)) == 0)
		return -1;
	if (tls_cipher != NULL && (clen = pp_name_len(tls_cipher)) == 0)
		return -1;
	if (cn != NULL && ((nlen = pp_name_len(cn)) == 0 ||
	    nlen > PROXYPROTO_CN_MAX))
		return -1;
	if (ssl != NULL) {
		tlen = PP_SSL_HDR;
		if (tls_version != NULL)
			tlen += PP_TLV_HDR + vlen;
		if (cn != NULL)
			tlen += PP_TLV_HDR + nlen;
		if (tls_cipher != NULL)
			tlen += PP_TLV_HDR + clen;
	}
	switch (a->family) {
	case AF_INET:
		fam = PP_V2_FAM_TCP4;
		blen = PP_V2_ADDR4_LEN;
		break;
	case AF_INET6:
		fam = PP_V2_FAM_TCP6;
		blen = PP_V2_ADDR6_LEN;
		break;
	default:
		fam = PP_V2_FAM_UNSPEC;
		blen = 0;
		break;
	}
	if (tlen > 0)
		blen += PP_TLV_HDR + tlen;
	/* At most PROXYPROTO_V2_ENCODE_MAX - 16: within our decoder's bound. */

	pp_put(&o, pp_v2_sig, sizeof(pp_v2_sig));
	pp_put_byte(&o, PP_V2_VERSION | PP_V2_CMD_PROXY);
	pp_put_byte(&o, fam);
	pp_put_byte(&o, (uint8_t)(blen >> 8));
	pp_put_byte(&o, (uint8_t)blen);
	if (a->family == AF_INET) {
		pp_put(&o, s.addr, 4);
		pp_put(&o, d.addr, 4);
	} else if (a->family == AF_INET6) {
		pp_put(&o, s.addr, 16);
		pp_put(&o, d.addr, 16);
	}
	if (a->family != AF_UNSPEC) {
		pp_put(&o, s.port, 2);
		pp_put(&o, d.port, 2);
	}
	if (tlen > 0) {
		pp_put_tlv_hdr(&o, PP2_TYPE_SSL, tlen);
		uint8_t fixed[PP_SSL_HDR] = { ssl->client,
			(uint8_t)(ssl->verify >> 24), (uint8_t)(ssl->verify >> 16),
			(uint8_t)(ssl->verify >> 8), (uint8_t)ssl->verify };

		pp_put(&o, fixed, sizeof(fixed));
		if (tls_version != NULL) {
			pp_put_tlv_hdr(&o, PP2_SUBTYPE_SSL_VERSION, vlen);
			pp_put(&o, tls_version, vlen);
		}
		if (cn != NULL) {
			pp_put_tlv_hdr(&o, PP2_SUBTYPE_SSL_CN, nlen);
			pp_put(&o, cn, nlen);
		}
		if (tls_cipher != NULL) {
			pp_put_tlv_hdr(&o, PP2_SUBTYPE_SSL_CIPHER, clen);
			pp_put(&o, tls_cipher, clen);
		}
	}
	if (o.err)
		return -1;
	*outlen = o.len;
	return 0;
}

/* v1 token checkers ------------------------------------------------------
 *
 * Each checks tok[0..len): PP_TOK_BAD as soon as a byte cannot belong to a
 * valid token; otherwise PP_TOK_MORE when the token is not complete yet
 * (more bytes may follow), else PP_TOK_OK (and the value) or PP_TOK_BAD.
 */

typedef enum {
	PP_TOK_OK,
	PP_TOK_MORE,
	PP_TOK_BAD
} pp_tok_t;

static int
pp_isdigit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int
pp_hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A decimal number of at most max without leading zeros ("0" is fine). */
static pp_tok_t
pp_tok_dec(const uint8_t *tok, size_t len, int complete, unsigned max,
    unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!pp_isdigit(tok[i]) || (i == 1 && v == 0))
			return PP_TOK_BAD;
		v = v * 10 + (unsigned)(tok[i] - '0');
		if (v > max)
			return PP_TOK_BAD;
	}
	if (!complete)
		return PP_TOK_MORE;
	if (len == 0)
		return PP_TOK_BAD;
	*out = v;
	return PP_TOK_OK;
}

/* Dotted quad: four decimal numbers 0..255, no leading zeros. */
static pp_tok_t
pp_tok_v4(const uint8_t *tok, size_t len, int complete, uint8_t out[4])
{
	unsigned v = 0, digits = 0, n = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (digits == 0 || n == 3)
				return PP_TOK_BAD;
			out[n++] = (uint8_t)v;
			v = digits = 0;
			continue;
		}
		if (!pp_isdigit(tok[i]) || (digits == 1 && v == 0))
			return PP_TOK_BAD;
		v = v * 10 + (unsigned)(tok[i] - '0');
		digits++;
		if (v > 255)
			return PP_TOK_BAD;
	}
	if (!complete)
		return PP_TOK_MORE;
	if (n != 3 || digits == 0)
		return PP_TOK_BAD;
	out[3] = (uint8_t)v;
	return PP_TOK_OK;
}

/*
 * RFC 4291 section 2.2 text: 8 groups of 1-4 hex digits; or fewer with one
 * "::" standing for at least one zero group; the last two groups may be a
 * dotted quad after a colon. Each rule is checked at the byte that breaks
 * it, so any prefix that survives the loop can still be completed.
 */
enum {
	PP_V6_NOCOLON,  /* after a digit, or at the start */
	PP_V6_COLON,    /* one ':' after a group: a digit or ':' must follow */
	PP_V6_LEADING,  /* one ':' at the start: ':' must follow */
	PP_V6_DCOLON    /* just after "::" */
};

static pp_tok_t
pp_tok_v6(const uint8_t *tok, size_t len, int complete, uint8_t out[16])
{
	unsigned g[8], ng = 0;          /* completed explicit groups */
	unsigned val = 0, digits = 0;   /* current group, as hex */
	unsigned dec = 0, decok = 1;    /* current group, as a decimal octet */
	unsigned q[4], nq = 0, in4 = 0; /* dotted-quad tail */
	unsigned maxg;
	int dc = -1, colon = PP_V6_NOCOLON, h;
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = tok[i];

		maxg = dc >= 0 ? 7 : 8;
		if (in4) {
			if (c == '.') {
				if (digits == 0 || nq == 3)
					return PP_TOK_BAD;
				q[nq++] = val;
				val = digits = 0;
				continue;
			}
			if (!pp_isdigit(c) || (digits == 1 && val == 0))
				return PP_TOK_BAD;
			val = val * 10 + (unsigned)(c - '0');
			digits++;
			if (val > 255)
				return PP_TOK_BAD;
			continue;
		}
		if ((h = pp_hexval(c)) >= 0) {
			if (colon == PP_V6_LEADING || digits == 4 ||
			    (digits == 0 && ng + 1 > maxg))
				return PP_TOK_BAD;
			val = val * 16 + (unsigned)h;
			if (!pp_isdigit(c) || (digits == 1 && dec == 0))
				decok = 0;
			else
				dec = dec * 10 + (unsigned)h;
			digits++;
			colon = PP_V6_NOCOLON;
		} else if (c == ':') {
			if (colon == PP_V6_DCOLON)
				return PP_TOK_BAD;
			if (colon == PP_V6_COLON || colon == PP_V6_LEADING) {
				if (dc >= 0)
					return PP_TOK_BAD;
				dc = (int)ng;
				colon = PP_V6_DCOLON;
			} else if (digits > 0) {
				/* Another group must fit after this colon. */
				if (ng + 1 >= maxg)
					return PP_TOK_BAD;
				g[ng++] = val;
				val = digits = dec = 0;
				decok = 1;
				colon = PP_V6_COLON;
			} else {
				colon = PP_V6_LEADING;
			}
		} else if (c == '.') {
			/* The group so far becomes the quad's first number;
			 * the quad takes two groups and ends the address. */
			if (digits == 0 || !decok || dec > 255 ||
			    (dc >= 0 ? ng + 2 > 7 : ng != 6))
				return PP_TOK_BAD;
			in4 = 1;
			q[0] = dec;
			nq = 1;
			val = digits = 0;
		} else {
			return PP_TOK_BAD;
		}
	}
	if (!complete)
		return PP_TOK_MORE;
	if (in4) {
		if (nq != 3 || digits == 0)
			return PP_TOK_BAD;
		g[ng++] = q[0] << 8 | q[1];
		g[ng++] = q[2] << 8 | val;
	} else {
		/* A lone leading ':' fails the group count below. */
		if (colon == PP_V6_COLON)
			return PP_TOK_BAD;
		if (digits > 0)
			g[ng++] = val;
	}
	if (dc >= 0 ? ng > 7 : ng != 8)
		return PP_TOK_BAD;
	memset(out, 0, 16);
	for (i = 0; i < ng; i++) {
		/* Groups after "::" go to the end of the address. */
		size_t at = dc >= 0 && i >= (size_t)dc ? i + 8 - ng : i;

		out[2 * at] = (uint8_t)(g[i] >> 8);
		out[2 * at + 1] = (uint8_t)g[i];
	}
	return PP_TOK_OK;
}

/* The protocol word: "TCP4", "TCP6" or "UNKNOWN"; *fam gets the family. */
static pp_tok_t
pp_tok_proto(const uint8_t *tok, size_t len, int complete, int *fam)
{
	static const struct {
		const char *word;
		size_t len;
		int fam;
	} protos[] = {
		{ "TCP4", 4, AF_INET },
		{ "TCP6", 4, AF_INET6 },
		{ "UNKNOWN", 7, AF_UNSPEC },
	};
	size_t i;
	int prefix = 0;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		if (len > protos[i].len || memcmp(tok, protos[i].word, len) != 0)
			continue;
		if (len == protos[i].len && complete) {
			*fam = protos[i].fam;
			return PP_TOK_OK;
		}
		prefix = 1;
	}
	return prefix && !complete ? PP_TOK_MORE : PP_TOK_BAD;
}

/* v1 decoding -------------------------------------------------------------- */

/* p[0..seen) is a valid prefix needing at least need more bytes. */
static proxyproto_status_t
pp_v1_more(size_t seen, size_t need)
{
	return seen + need <= PROXYPROTO_V1_MAX ? PROXYPROTO_PARTIAL :
	    PROXYPROTO_INVALID;
}

/* Shortest text of address/port token t (0, 1: addresses; 2, 3: ports). */
static size_t
pp_v1_mintok(int fam, size_t t)
{
	if (t >= 2)
		return 1;                   /* "0" */
	return fam == AF_INET ? 7 : 2;      /* "0.0.0.0", "::" */
}

static int
pp_v1_delim(uint8_t c)
{
	return c == ' ' || c == '\r' || c == '\n';
}

/* "UNKNOWN" then CRLF, or a space and ignored bytes up to the first CRLF. */
static proxyproto_status_t
pp_v1_unknown(const uint8_t *p, size_t lim, size_t i, size_t *consumed)
{
	if (p[i] == '\r') {
		if (i + 1 == lim)
			return pp_v1_more(lim, 1);
		if (p[i + 1] != '\n')
			return PROXYPROTO_INVALID;
		*consumed = i + 2;
		return PROXYPROTO_OK;
	}
	if (p[i] != ' ')
		return PROXYPROTO_INVALID;
	for (i++; i < lim; i++) {
		if (p[i] != '\n')
			continue;
		/* The spec forbids a bare LF as the line's end. */
		if (p[i - 1] != '\r')
			return PROXYPROTO_INVALID;
		*consumed = i + 1;
		return PROXYPROTO_OK;
	}
	return pp_v1_more(lim, p[lim - 1] == '\r' ? 1 : 2);
}

static proxyproto_status_t
pp_v1_decode(const uint8_t *p, size_t n, proxyproto_addr_t *out,
    size_t *consumed)
{
	size_t lim = n < PROXYPROTO_V1_MAX ? n : PROXYPROTO_V1_MAX;
	size_t i, j, start, t, need, used;
	unsigned port[2];
	pp_ep_t ep[2];
	pp_tok_t r;
	proxyproto_status_t st;
	int fam = AF_UNSPEC;

	for (i = 0; i < PP_V1_PREFIX_LEN; i++) {
		if (i == lim)
			return PROXYPROTO_PARTIAL;
		if (p[i] != (uint8_t)pp_v1_prefix[i])
			return PROXYPROTO_INVALID;
	}
	for (start = i; i < lim && !pp_v1_delim(p[i]); i++)
		;
	r = pp_tok_proto(p + start, i - start, i < lim, &fam);
	if (r == PP_TOK_BAD)
		return PROXYPROTO_INVALID;
	if (r == PP_TOK_MORE)
		return pp_v1_more(lim, 1);
	if (fam == AF_UNSPEC) {
		st = pp_v1_unknown(p, lim, i, &used);
		if (st != PROXYPROTO_OK)
			return st;
		memset(out, 0, sizeof(*out));
		out->family = AF_UNSPEC;
		*consumed = used;
		return PROXYPROTO_OK;
	}
	if (p[i] != ' ')
		return PROXYPROTO_INVALID;

	memset(ep, 0, sizeof(ep));
	/* Tokens 0 and 1 are the addresses, 2 and 3 the ports. */
	for (t = 0; t < 4; t++) {
		for (start = ++i; i < lim && !pp_v1_delim(p[i]); i++)
			;
		used = i - start;
		if (t < 2) {
			ep[t].family = fam;
			r = fam == AF_INET ?
			    pp_tok_v4(p + start, used, i < lim, ep[t].addr) :
			    pp_tok_v6(p + start, used, i < lim, ep[t].addr);
		} else {
			r = pp_tok_dec(p + start, used, i < lim, 65535,
			    &port[t - 2]);
		}
		if (r == PP_TOK_BAD)
			return PROXYPROTO_INVALID;
		if (r == PP_TOK_MORE) {
			/* The rest of this token, the tokens after it
			 * (each with its space) and CRLF. */
			need = pp_v1_mintok(fam, t);
			need = need > used ? need - used : 0;
			for (j = t + 1; j < 4; j++)
				need += 1 + pp_v1_mintok(fam, j);
			return pp_v1_more(lim, need + 2);
		}
		if (t < 3 && p[i] != ' ')
			return PROXYPROTO_INVALID;
	}
	if (p[i] != '\r')
		return PROXYPROTO_INVALID;
	if (i + 1 == lim)
		return pp_v1_more(lim, 1);
	if (p[i + 1] != '\n')
		return PROXYPROTO_INVALID;

	for (t = 0; t < 2; t++) {
		ep[t].port[0] = (uint8_t)(port[t] >> 8);
		ep[t].port[1] = (uint8_t)port[t];
	}
	memset(out, 0, sizeof(*out));
	out->family = fam;
	pp_ep_put(&out->src, &ep[0]);
	pp_ep_put(&out->dst, &ep[1]);
	*consumed = i + 2;
	return PROXYPROTO_OK;
}

/* v2 decoding -------------------------------------------------------------- */

static proxyproto_status_t
pp_v2_decode(const uint8_t *p, size_t n, proxyproto_addr_t *out,
    size_t *consumed)
{
	size_t i, len, end, alen, tlen = 0;
	pp_ep_t s, d;
	uint8_t cmd, fam;

	for (i = 0; i < sizeof(pp_v2_sig); i++) {
		if (i == n)
			return PROXYPROTO_PARTIAL;
		if (p[i] != pp_v2_sig[i])
			return PROXYPROTO_INVALID;
	}
	if (n == 12)
		return PROXYPROTO_PARTIAL;
	cmd = p[12] & 0x0f;
	if ((p[12] & 0xf0) != PP_V2_VERSION ||
	    (cmd != PP_V2_CMD_LOCAL && cmd != PP_V2_CMD_PROXY))
		return PROXYPROTO_INVALID;
	if (n == 13)
		return PROXYPROTO_PARTIAL;
	fam = p[13];
	switch (fam) {
	case 0x00:
		alen = 0;
		break;
	case 0x11: case 0x12:
		alen = PP_V2_ADDR4_LEN;
		break;
	case 0x21: case 0x22:
		alen = PP_V2_ADDR6_LEN;
		break;
	case 0x31: case 0x32:
		alen = PP_V2_ADDRUNIX_LEN;
		break;
	default:
		/* Spec: other values must be rejected, whatever the command. */
		return PROXYPROTO_INVALID;
	}
	if (n < PROXYPROTO_V2_HDR)
		return PROXYPROTO_PARTIAL;
	len = (size_t)p[14] << 8 | p[15];
	if (len > PROXYPROTO_V2_LEN_MAX)
		return PROXYPROTO_INVALID;
	end = PROXYPROTO_V2_HDR + len;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.family = d.family = AF_UNSPEC;
	if (cmd == PP_V2_CMD_PROXY) {
		if (len < alen)
			return PROXYPROTO_INVALID;
		/* The rest must be whole TLVs; judge each as soon as its
		 * header is here, since len already fixes where they end. */
		for (i = PROXYPROTO_V2_HDR + alen; i < end; i += tlen) {
			if (end - i < PP_TLV_HDR)
				return PROXYPROTO_INVALID;
			if (n < i + PP_TLV_HDR)
				return PROXYPROTO_PARTIAL;
			tlen = PP_TLV_HDR + ((size_t)p[i + 1] << 8 | p[i + 2]);
			if (tlen > end - i)
				return PROXYPROTO_INVALID;
		}
	}
	/* LOCAL: the spec has the block (family included) ignored. */
	if (n < end)
		return PROXYPROTO_PARTIAL;

	if (cmd == PP_V2_CMD_PROXY && fam == PP_V2_FAM_TCP4) {
		s.family = d.family = AF_INET;
		memcpy(s.addr, p + 16, 4);
		memcpy(d.addr, p + 20, 4);
		memcpy(s.port, p + 24, 2);
		memcpy(d.port, p + 26, 2);
	} else if (cmd == PP_V2_CMD_PROXY && fam == PP_V2_FAM_TCP6) {
		s.family = d.family = AF_INET6;
		memcpy(s.addr, p + 16, 16);
		memcpy(d.addr, p + 32, 16);
		memcpy(s.port, p + 48, 2);
		memcpy(d.port, p + 50, 2);
	}
	memset(out, 0, sizeof(*out));
	out->family = s.family;
	pp_ep_put(&out->src, &s);
	pp_ep_put(&out->dst, &d);
	*consumed = end;
	return PROXYPROTO_OK;
}

proxyproto_status_t
proxyproto_decode(const uint8_t *p, size_t n, proxyproto_addr_t *out,
    size_t *consumed)
{
	if (n == 0)
		return PROXYPROTO_PARTIAL;
	if (p[0] == pp_v1_prefix[0])
		return pp_v1_decode(p, n, out, consumed);
	if (p[0] == pp_v2_sig[0])
		return pp_v2_decode(p, n, out, consumed);
	return PROXYPROTO_INVALID;
}
