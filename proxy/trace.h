/*
 * trace: the one line the proxy adds to a message (received_header = yes):
 * an RFC 5321 4.4 trace field recording the real client and the TLS the
 * proxy terminated, in the style of Postfix's smtpd_tls_received_header.
 * Pure: no I/O; the caller gives every fact, the time included.
 *
 *   Received: from HELO (unknown [ADDRESS])
 *   \t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
 *   \t(Client CN "mx.partner.example", Issuer "Partner CA" (verified OK))
 *   \tby HOSTNAME (starttls-proxy) with ESMTPS;
 *   \tWed, 02 Dec 2026 21:53:24 +0000
 *
 * The second and third lines only with TLS; the third reads "(Client did
 * not present a certificate)" or "(No client certificate requested)"
 * otherwise, "(not verified)" for an untrusted one. "unknown": the proxy
 * does no reverse DNS. HELO is the client's EHLO/HELO argument when it is
 * a plain domain name or address literal (else the address literal
 * stands in: peer text never shapes the header).
 */
#ifndef TRACE_H
#define TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Longest line trace_received writes: every field at its bound. */
#define TRACE_MAX 1536
#define TRACE_HELO_MAX 255   /* RFC 1035 2.3.4, or a literal */

typedef struct {
	const char *helo;       /* the client's argument, or NULL */
	int ehlo;               /* EHLO (ESMTP) rather than HELO (SMTP) */
	const char *addr;       /* the real client, numeric */
	int v6;                 /* addr is IPv6: "[IPv6:...]" */
	const char *hostname;   /* the proxy's own name */
	/* TLS: version NULL for none. */
	const char *version, *cipher;
	int alg_bits, bits;
	/* Client certificate (tls_ccert_t's fields). */
	int requested, present, trusted;
	const char *cn, *issuer_cn;
	time_t now;
} trace_info_t;

/*
 * trace_received writes the field, CRLF line ends, to out[0..cap) and
 * returns its length, or -1 when it does not fit (TRACE_MAX always does)
 * or a name given is too long.
 */
int trace_received(const trace_info_t *t, char *out, size_t cap);

/* trace_helo_ok: the argument may appear in the header (a domain of
 * letters, digits, '-', '_' and '.', or a bracketed literal of letters,
 * digits, '.', ':' and '-'). */
int trace_helo_ok(const char *helo);

#endif
