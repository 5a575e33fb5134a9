/*
 * smtp: pure, bounded SMTP parsers. No I/O, no allocation, no libuv.
 *
 * Every function takes an explicit length and never reads past it; NUL and
 * bare CR/LF are reported as flags, never used as terminators.
 */
#ifndef SMTP_H
#define SMTP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Limits. RFC 5321 4.5.3.1.4 fixes 512 octets for a command line and
 * 4.5.3.1.5 512 for a reply line; those are floors. AUTH initial responses
 * (RFC 4954 section 4 recommends accepting 12288 octets) set the command bound.
 */
#define SMTP_CMD_LINE_MAX 12288   /* command line including CRLF */
#define SMTP_REPLY_LINE_MAX 2048  /* reply line including CRLF */
#define SMTP_EHLO_REPLY_MAX 8192  /* whole EHLO reply buffered for rewriting */

/* Line framing -------------------------------------------------------- */

typedef enum {
	SMTP_LINE_OK,       /* a complete line was found */
	SMTP_LINE_PARTIAL,  /* no LF yet within n (< max) bytes: read more */
	SMTP_LINE_TOO_LONG  /* no LF within the first max bytes */
} smtp_line_status_t;

#define SMTP_LINE_BARE_LF 0x1 /* terminated by an LF without CR before it */
#define SMTP_LINE_BARE_CR 0x2 /* text contains a CR not followed by LF */
#define SMTP_LINE_NUL 0x4     /* text contains a NUL octet */

/*
 * smtp_line_find looks for the first LF in p[0..n), considering at most max
 * bytes. On SMTP_LINE_OK, *linelen is the length including the terminator
 * (CRLF or bare LF), *textlen the length without it, and *flags describes the
 * line. Otherwise the outputs are left unspecified. A line of exactly max
 * bytes including its LF is OK. A CR as the last byte of p[0..n) with no LF
 * yet is not judged: the result is SMTP_LINE_PARTIAL (or TOO_LONG).
 */
smtp_line_status_t smtp_line_find(const uint8_t *p, size_t n, size_t max,
    size_t *linelen, size_t *textlen, unsigned *flags);

/* Replies --------------------------------------------------------------- */

typedef struct {
	int code;  /* 200..599 */
	int last;  /* 1 for the final line of a (multi-line) reply */
} smtp_reply_line_t;

/*
 * smtp_reply_line_parse parses one reply line's text (without terminator):
 * three digits, first 2-5, second 0-5, then ' ', '-' or end of text (a bare
 * "250" is a last line). Returns 0, or -1 if the text is not a reply line.
 */
int smtp_reply_line_parse(const uint8_t *text, size_t textlen,
    smtp_reply_line_t *out);

/* Commands -------------------------------------------------------------- */

/* The longest verb the parser accepts (RFC 5321 verbs are four letters;
 * extension verbs such as "X-ANONYMOUSTLS" are longer). */
#define SMTP_VERB_MAX 32

typedef enum {
	SMTP_CMD_UNKNOWN = 0, /* a well-formed verb the proxy does not know */
	SMTP_CMD_EHLO,
	SMTP_CMD_HELO,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_BDAT,
	SMTP_CMD_AUTH,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_ETRN,
	SMTP_CMD_XCLIENT,
	SMTP_CMD_XFORWARD,
	SMTP_CMD_EXT,         /* a known extension verb not carried by default
	                         (TURN, ATRN, BURL, SEND, SOML, SAML, ...) */
	SMTP_CMD_COUNT
} smtp_cmd_t;

typedef struct {
	smtp_cmd_t cmd;
	size_t verb_len; /* the verb is text[0..verb_len) */
	size_t arg_off;  /* offset of the arguments (after the SPs that follow
	                    the verb); == textlen when there are none */
	size_t arg_len;  /* without trailing SPs; 0 when there are none */
} smtp_cmd_info_t;

/*
 * smtp_cmd_parse reads a command line's text (without terminator) strictly,
 * as RFC 5321 4.1.1 writes it: VERB [SP arguments]. The verb starts at the
 * first octet and is 1 to SMTP_VERB_MAX letters, digits and '-', starting
 * with a letter; it ends at SP or the end of the text. The arguments are
 * everything after the SPs that follow the verb, less trailing SPs, and must
 * be printable US-ASCII or well-formed UTF-8 (RFC 6531): no control octet
 * (HTAB, CR, LF, NUL, DEL, ...), no overlong form, surrogate or code point
 * past U+10FFFF.
 *
 * Returns 0 and fills *out, or -1 when the line is not of that form (empty,
 * leading white space, a separator other than SP after the verb, a control
 * octet anywhere, malformed UTF-8): such a line is answered 500 5.5.2 and
 * never forwarded, since another parser could read it differently (Postfix
 * skips leading white space and splits on any white space). Verbs compare
 * case-insensitively; "STARTTLSX" is SMTP_CMD_UNKNOWN.
 */
int smtp_cmd_parse(const uint8_t *text, size_t textlen, smtp_cmd_info_t *out);

/*
 * smtp_cmd_canon writes the canonical form of a line smtp_cmd_parse
 * accepted: the verb in upper case, then SP and the arguments if there are
 * any, then CRLF. This, never the line as received, is what is forwarded.
 * Returns the length written, or 0 if cap is too small (textlen + 2 always
 * suffices).
 */
size_t smtp_cmd_canon(const uint8_t *text, const smtp_cmd_info_t *ci,
    uint8_t *out, size_t cap);

/* smtp_cmd_name returns the upper-case verb for a command ("?" for unknown,
 * "EXT" for SMTP_CMD_EXT). */
const char *smtp_cmd_name(smtp_cmd_t cmd);

/*
 * smtp_mail_size finds a SIZE=n parameter (case-insensitive) in MAIL FROM
 * arguments ("FROM:<path> SIZE=123 BODY=8BITMIME"; parameters are looked for
 * only after the path, so a quoted local part cannot fake one). Returns 1
 * and sets *size when present and valid, 0 when absent, -1 when malformed
 * ("SIZE", "SIZE=", non-digits, a second SIZE, an unterminated path) or
 * larger than UINT64_MAX (overflow is an error, not a wrap).
 */
int smtp_mail_size(const uint8_t *args, size_t len, uint64_t *size);

/*
 * smtp_mail_requiretls says whether MAIL FROM arguments carry the
 * REQUIRETLS parameter (RFC 8689 2, case-insensitive, after the path only,
 * as smtp_mail_size looks). Returns 1 when present, 0 when absent, -1 when
 * the path is unterminated or REQUIRETLS has a value ("REQUIRETLS=x").
 */
int smtp_mail_requiretls(const uint8_t *args, size_t len);

/*
 * smtp_addr_domain extracts the domain of a MAIL FROM:/RCPT TO: argument
 * ("TO:<user@Example.ORG.> NOTIFY=..."). The domain is what follows the last
 * '@' of the path between '<' and '>' (so quoted local parts and source
 * routes cannot hide it: quoted strings are skipped, so '@' and '>' inside
 * them count for nothing); a trailing dot is dropped. The "FROM:"/"TO:"
 * keyword is optional and spaces after it are tolerated; without '<' the
 * path ends at the first space. Returns 0 and sets *dom and *domlen to a slice
 * of args (case as sent), or -1 when there is no domain (<>, postmaster), the
 * path is unterminated, or the domain is neither a name of letters, digits,
 * "-._" and UTF-8 (>= 0x80) nor an address literal "[...]".
 */
int smtp_addr_domain(const uint8_t *args, size_t len, const uint8_t **dom,
    size_t *domlen);

/* EHLO capabilities --------------------------------------------------- */

#define SMTP_CAP_STARTTLS 0x01
#define SMTP_CAP_PIPELINING 0x02
#define SMTP_CAP_CHUNKING 0x04
#define SMTP_CAP_SIZE 0x08
#define SMTP_CAP_AUTH 0x10
#define SMTP_CAP_XCLIENT 0x20
#define SMTP_CAP_8BITMIME 0x40
#define SMTP_CAP_SMTPUTF8 0x80
#define SMTP_CAP_BINARYMIME 0x100
#define SMTP_CAP_DSN 0x200
#define SMTP_CAP_ENHANCEDSTATUSCODES 0x400
#define SMTP_CAP_HELP 0x800
#define SMTP_CAP_ETRN 0x1000
#define SMTP_CAP_VRFY 0x2000
#define SMTP_CAP_EXPN 0x4000
#define SMTP_CAP_XFORWARD 0x8000
#define SMTP_CAP_REQUIRETLS 0x10000  /* RFC 8689; never in CARRIED */

/*
 * The capabilities the proxy knows how to carry: their commands and
 * parameters pass through it unchanged in meaning. Everything else an
 * EHLO reply lists is removed (SMTP_CAP_AUTH only with SMTP_EHLO_KEEP_AUTH;
 * STARTTLS is never carried, only added by SMTP_EHLO_ADD_STARTTLS).
 */
#define SMTP_CAP_CARRIED (SMTP_CAP_SIZE | SMTP_CAP_PIPELINING | \
    SMTP_CAP_8BITMIME | SMTP_CAP_DSN | SMTP_CAP_ENHANCEDSTATUSCODES | \
    SMTP_CAP_SMTPUTF8 | SMTP_CAP_HELP | SMTP_CAP_ETRN | SMTP_CAP_VRFY | \
    SMTP_CAP_EXPN)

/*
 * smtp_ehlo_caps returns the SMTP_CAP_* bits advertised by a complete EHLO
 * reply in[0..inlen) (all lines with their terminators, CRLF or bare LF).
 * The first line is the greeting, never a capability. The keyword is the
 * first token after "250-"/"250 ", ending at SP, HTAB or '='; it compares
 * case-insensitively and as a whole token ("XSTARTTLS" is not STARTTLS);
 * "AUTH=LOGIN" counts as AUTH. A reply smtp_ehlo_rewrite would refuse
 * (not all 250, malformed, bare CR or NUL in a line) advertises nothing: 0.
 */
unsigned smtp_ehlo_caps(const uint8_t *in, size_t inlen);

#define SMTP_EHLO_ADD_STARTTLS 0x1  /* advertise STARTTLS (last line) */
#define SMTP_EHLO_KEEP_AUTH 0x2     /* carry AUTH (the mechanisms) */
#define SMTP_EHLO_DEL_PIPELINING 0x4
/* carry REQUIRETLS (RFC 8689): outbound only, over an authenticated
 * upstream; inbound never (the legacy backend cannot keep the promise). */
#define SMTP_EHLO_KEEP_REQUIRETLS 0x8

/* Extension keywords an operator added (allow_commands), upper case. */
typedef struct {
	const char (*word)[SMTP_VERB_MAX + 1];
	size_t n;
} smtp_words_t;

/*
 * smtp_ehlo_rewrite writes the canonical form of a complete positive (250)
 * EHLO reply: the greeting line, then one line per carried capability
 * (SMTP_CAP_CARRIED, SMTP_CAP_AUTH with SMTP_EHLO_KEEP_AUTH, and the
 * keywords in extra, which may be NULL), in the order received, each once.
 * A line is rebuilt from what was parsed: "250", the continuation mark, the
 * keyword in upper case, and only parameters that were understood (SIZE:
 * one number of up to 20 digits; AUTH: mechanism names of up to 20 letters,
 * digits, '-' and '_', upper-cased; PIPELINING and the others: none; extra
 * keywords: tokens of printable US-ASCII), separated by one SP. The legacy
 * "AUTH=..." line is dropped. The greeting's text is copied with control
 * octets turned into SP. With SMTP_EHLO_ADD_STARTTLS, "250 STARTTLS" is the
 * last line. Lines end in CRLF; out of 2 * inlen + 16 bytes always
 * suffices. Returns 0 and sets *outlen, or -1 if the reply is not a
 * well-formed 250 reply (another code, mixed codes, a bad continuation mark,
 * a line after the last line, no last line, a line without LF, a bare CR or
 * NUL in a line) or out is too small: the caller must then not relay it.
 */
int smtp_ehlo_rewrite(const uint8_t *in, size_t inlen, unsigned flags,
    const smtp_words_t *extra, uint8_t *out, size_t outcap, size_t *outlen);

/* DATA body --------------------------------------------------------------
 *
 * The body filter copies a DATA body from the peer toward the other side.
 * The only end-of-data is CRLF "." CRLF (the body starts at line start, so a
 * first line "." CRLF also ends it). Bare LF and bare CR are rewritten to
 * CRLF, and a line that begins with '.' but did not start after a real CRLF
 * (or a "." line not ended by a real CRLF) is dot-stuffed once more, so a
 * lenient receiver can never see a second end-of-data (SMTP smuggling).
 * Well-formed input (CRLF everywhere, no NUL) is copied byte-exact. Works on
 * any split of the input across calls: the output is the same as for one
 * call.
 *
 * NUL octets are removed from the output: 7bit and 8bit data exclude NUL
 * (RFC 2045 2.7 and 2.8, which RFC 6152 8BITMIME refers to; RFC 5321 4.1.1.4
 * says control characters SHOULD be avoided), and a receiver that strips NUL
 * would read CRLF NUL "." CRLF as end-of-data. Lines and end-of-data are
 * decided on the input as sent, before NUL removal, so a NUL never helps to
 * form an end-of-data: CR NUL LF is a bare CR followed by a bare LF (it
 * becomes CRLF CRLF), "." NUL CRLF is not end-of-data (it becomes ".." CRLF),
 * and a line whose first non-NUL octet is '.' after one or more NULs is
 * dot-stuffed once more (CRLF NUL "." CRLF becomes CRLF ".." CRLF). After a
 * '.' at a real line start, NULs followed by other text are just dropped
 * (". NUL a" becomes ".a": the receiver still unstuffs it to "a").
 */
typedef struct {
	uint8_t state;   /* private */
	uint64_t octets; /* body octets consumed so far, including end-of-data */
	uint64_t nuls;   /* NUL octets consumed and removed from the output */
} smtp_body_t;

/* Worst-case output for n input bytes plus held-back state. */
#define SMTP_BODY_OUT_MAX(n) (2 * (n) + 8)

void smtp_body_init(smtp_body_t *b);

/*
 * smtp_body_filter consumes in[0..inlen) up to and including the
 * end-of-data line, writing at most SMTP_BODY_OUT_MAX(inlen) bytes to out
 * (the caller provides that room). Returns the number of input bytes
 * consumed; sets *outlen; sets *done to 1 when the end-of-data ".\r\n" has
 * been consumed and written (then the return value may be < inlen: the rest
 * are pipelined commands), else 0. Output that depends on input not seen
 * yet is held back in *b and emitted by a later call: the LF that completes a
 * CR (CRLF either way), the CR of ".\r" at real line start (".\r\n" on
 * end-of-data, "..\r\n" otherwise), and the stuffing '.' that ". NUL..."
 * at real line start needs if the line ends before any other octet. Once done, further calls consume and
 * write nothing and set *done to 1.
 */
size_t smtp_body_filter(smtp_body_t *b, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t *outlen, int *done);

/*
 * smtp_body_pass is smtp_body_filter for input that is already where its
 * output goes: it returns the length k of the longest prefix of in[0..inlen)
 * that the filter would copy unchanged (never the end-of-data, never a
 * NUL, a bare CR or LF, or a line start that needs stuffing) and consumes
 * it, so the caller keeps in[0..k) as output and filters the rest. 0 when
 * the filter's state needs the general path first. Writes nothing that
 * differs from what in[] already holds.
 */
size_t smtp_body_pass(smtp_body_t *b, uint8_t *in, size_t inlen);

#endif
