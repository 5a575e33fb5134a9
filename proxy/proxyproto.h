/*
 * proxyproto: pure PROXY protocol (HAProxy, versions 1 and 2) encoding and
 * decoding. No I/O, no allocation, no libuv.
 *
 * The encoders build the header the proxy sends to the legacy server so that
 * it sees the real client instead of the proxy's own (often trusted)
 * address. The decoder reads the header a load balancer in front of the
 * proxy sends; it must only ever be applied to connections from trusted
 * sources (the spec forbids guessing whether a header is present).
 *
 * Every function takes explicit lengths and never reads or writes past them.
 * Nothing here keeps a pointer to its arguments.
 */
#ifndef PROXYPROTO_H
#define PROXYPROTO_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

/*
 * Limits, from the HAProxy "PROXY protocol" specification (proxy-protocol.txt):
 * section 2.1 fixes 107 bytes including CRLF as the longest v1 line a
 * receiver must support; section 2.2 a 16-byte fixed v2 header followed by
 * a 16-bit length. That length may reach 65535; we accept at most
 * PROXYPROTO_V2_LEN_MAX, enough for any address block (216 bytes for
 * AF_UNIX) plus the TLVs load balancers send in practice (SSL, authority,
 * unique id of up to 128 bytes, cloud vendor TLVs).
 */
#define PROXYPROTO_V1_MAX 107       /* v1 line including CRLF */
#define PROXYPROTO_V2_HDR 16        /* fixed v2 header: signature..len */
#define PROXYPROTO_V2_LEN_MAX 1024  /* our bound on the v2 len field */
#define PROXYPROTO_V2_MAX (PROXYPROTO_V2_HDR + PROXYPROTO_V2_LEN_MAX)
/* A receive buffer of this size holds any header proxyproto_decode accepts. */
#define PROXYPROTO_MAX PROXYPROTO_V2_MAX

/* Longest TLS version or cipher name proxyproto_v2_encode accepts. */
#define PROXYPROTO_TLS_NAME_MAX 128
/* Longest client certificate CN sent (ub-common-name, RFC 5280). */
#define PROXYPROTO_CN_MAX 64
/* Longest header proxyproto_v2_encode_ssl writes (389): IPv6 addresses,
 * then the SSL TLV (3 + 5) with the version and cipher sub-TLVs at the
 * longest names and the CN sub-TLV. */
#define PROXYPROTO_V2_ENCODE_MAX (PROXYPROTO_V2_HDR + 36 + 3 + 5 + \
	2 * (3 + PROXYPROTO_TLS_NAME_MAX) + 3 + PROXYPROTO_CN_MAX)

/* v2 TLV types used here (spec section 2.2). */
#define PP2_TYPE_SSL 0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN 0x22
#define PP2_SUBTYPE_SSL_CIPHER 0x23
#define PP2_CLIENT_SSL 0x01
#define PP2_CLIENT_CERT_CONN 0x02  /* a certificate on this connection */
#define PP2_CLIENT_CERT_SESS 0x04  /* a certificate in its TLS session */

/*
 * The two endpoints of the client's connection. family is AF_INET or
 * AF_INET6, and then src and dst hold a sockaddr_in or sockaddr_in6 of that
 * family with the port in network byte order; or AF_UNSPEC when the
 * addresses are not known (v1 UNKNOWN, v2 LOCAL or UNSPEC, or a v2 family
 * we do not implement), and then src and dst are all zero. src is the
 * client, dst the address the client connected to.
 */
typedef struct {
	int family;
	struct sockaddr_storage src;
	struct sockaddr_storage dst;
} proxyproto_addr_t;

/*
 * proxyproto_addr_set fills *a from two socket addresses (as returned by
 * getpeername and getsockname; both borrowed, neither kept). An IPv4-mapped
 * IPv6 pair (::ffff:a.b.c.d, from a dual-stack socket) becomes AF_INET so
 * the legacy server sees the address its IPv4 access lists name; an IPv4
 * address paired with an IPv6 one is mapped to IPv6 so both share a family.
 * Any other family gives AF_UNSPEC. Returns 0, or -1 (and AF_UNSPEC) when an
 * address is NULL or of an unsupported family.
 */
int proxyproto_addr_set(proxyproto_addr_t *a, const struct sockaddr *src,
    const struct sockaddr *dst);

/*
 * proxyproto_v1_encode writes a v1 line, "PROXY TCP4 <src> <dst> <sport>
 * <dport>\r\n" (TCP6 likewise, IPv6 in RFC 5952 form) or "PROXY
 * UNKNOWN\r\n" for AF_UNSPEC, to out[0..outcap). No NUL is written.
 * PROXYPROTO_V1_MAX bytes always suffice. Returns 0 and sets *outlen, or -1
 * if out is too small or *a is inconsistent (a sockaddr's family differs
 * from a->family, or the family is not one of the three above).
 */
int proxyproto_v1_encode(const proxyproto_addr_t *a, char *out, size_t outcap,
    size_t *outlen);

/*
 * proxyproto_v2_encode writes a v2 header with the PROXY command: TCP over
 * IPv4 (0x11), TCP over IPv6 (0x21) or, for AF_UNSPEC, UNSPEC (0x00, the
 * receiver then uses the real endpoints). When tls_version or tls_cipher is
 * non-NULL (NUL-terminated, borrowed: our own names such as "TLSv1.3" and
 * "TLS_AES_128_GCM_SHA256", not peer data), a PP2_TYPE_SSL TLV follows the
 * addresses: client = PP2_CLIENT_SSL, verify = 1 (non-zero: no verified
 * client certificate; we never request one), then a
 * PP2_SUBTYPE_SSL_VERSION and a PP2_SUBTYPE_SSL_CIPHER sub-TLV for each name
 * given. PROXYPROTO_V2_ENCODE_MAX bytes always suffice. Returns 0 and sets
 * *outlen, or -1 if out is too small, *a is inconsistent, or a name is
 * empty, longer than PROXYPROTO_TLS_NAME_MAX or not printable US-ASCII.
 */
int proxyproto_v2_encode(const proxyproto_addr_t *a, const char *tls_version,
    const char *tls_cipher, uint8_t *out, size_t outcap, size_t *outlen);

/*
 * The SSL TLV of a v2 header (spec section 2.2.5). Names are borrowed,
 * NUL-terminated, NULL to leave their sub-TLV out; cn is peer data and
 * must have been made printable by the caller.
 */
typedef struct {
	uint8_t client;       /* PP2_CLIENT_* bits; PP2_CLIENT_SSL for TLS */
	uint32_t verify;      /* 0 only when a client certificate was
	                         presented and verified */
	const char *version;  /* PP2_SUBTYPE_SSL_VERSION, "TLSv1.3" */
	const char *cipher;   /* PP2_SUBTYPE_SSL_CIPHER */
	const char *cn;       /* PP2_SUBTYPE_SSL_CN: the client
	                         certificate's subject CN */
} proxyproto_ssl_t;

/*
 * proxyproto_v2_encode_ssl is proxyproto_v2_encode with the whole SSL TLV
 * given (ssl NULL: none). Returns -1 also when a name is empty, too long
 * (PROXYPROTO_TLS_NAME_MAX; PROXYPROTO_CN_MAX for cn) or not printable
 * US-ASCII. PROXYPROTO_V2_ENCODE_MAX bytes always suffice.
 */
int proxyproto_v2_encode_ssl(const proxyproto_addr_t *a,
    const proxyproto_ssl_t *ssl, uint8_t *out, size_t outcap,
    size_t *outlen);

typedef enum {
	PROXYPROTO_OK,       /* a complete, valid header: see *out, *consumed */
	PROXYPROTO_PARTIAL,  /* a valid prefix of a header: read more */
	PROXYPROTO_INVALID   /* cannot be the start of a valid header: close */
} proxyproto_status_t;

/*
 * proxyproto_decode looks for a v1 or v2 header at the start of p[0..n)
 * (the first byte tells which: 'P' or CR). On PROXYPROTO_OK *out is filled
 * and *consumed is the header's length (<= n, <= PROXYPROTO_MAX); the bytes
 * after it are the client's. Otherwise *out and *consumed are not touched.
 *
 * PROXYPROTO_PARTIAL is returned only while p[0..n) can still be the start
 * of a header we would accept, so garbage (an SMTP or HTTP client talking
 * first) is INVALID as soon as its first byte, and a caller that has
 * buffered PROXYPROTO_MAX bytes never sees PARTIAL.
 *
 * v1: exact syntax of spec section 2.1: single spaces, CRLF within 107
 * bytes (a bare CR or LF is invalid), IPv4 as four decimal numbers 0..255
 * without leading zeros, IPv6 as RFC 4291 text (hex groups of 1-4 digits,
 * at most one "::" standing for at least one group, an optional dotted IPv4
 * tail; no zone), ports 0..65535 without leading zeros, addresses matching
 * TCP4/TCP6. "UNKNOWN" is followed by CRLF or by a space and any bytes
 * other than LF up to the first CRLF; they are ignored (AF_UNSPEC).
 *
 * v2: signature, version 2, command LOCAL or PROXY, a defined
 * family/transport byte and len <= PROXYPROTO_V2_LEN_MAX. LOCAL: the block
 * is skipped unread (AF_UNSPEC). PROXY: len must cover the family's address
 * block; TCP over IPv4/IPv6 gives AF_INET/AF_INET6, UNSPEC and the families
 * we do not implement (UDP, AF_UNIX) give AF_UNSPEC as the spec asks; the
 * bytes after the address block must be a sequence of well-formed TLVs,
 * which are skipped (a CRC32C TLV is not verified).
 *
 * AF_UNSPEC tells the caller to use the real endpoint, i.e. the load
 * balancer's own address: whether that is acceptable is the caller's
 * policy.
 */
proxyproto_status_t proxyproto_decode(const uint8_t *p, size_t n,
    proxyproto_addr_t *out, size_t *consumed);

#endif
