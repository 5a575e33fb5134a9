/*
 * relayauth: the proxy's own credentials toward a smarthost (auth_file),
 * and the SASL pieces of the client side of SMTP AUTH (RFC 4954): PLAIN
 * (RFC 4616), LOGIN (draft-murchison-sasl-login) and XOAUTH2 (Google's and
 * Microsoft's bearer-token mechanism). Pure logic apart from
 * relayauth_load; no libuv.
 *
 * Secrets never leave this module except on the wire: no error message
 * quotes a value, and relayauth_free wipes them.
 */
#ifndef RELAYAUTH_H
#define RELAYAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* An auth_file or token file is small; a longer one is a mistake. */
#define RELAYAUTH_FILE_MAX (64 * 1024)
/* username and password: far above what relays accept. */
#define RELAYAUTH_FIELD_MAX 1024
/* An OAuth access token (Microsoft's run to about 2.5 KiB). */
#define RELAYAUTH_TOKEN_MAX 16384
/* The longest AUTH command line the proxy builds: RFC 4954 4 asks
 * servers to take 12288 octets; a token pushes past that, as it must. */
#define RELAYAUTH_LINE_MAX (2 * RELAYAUTH_TOKEN_MAX + 3 * RELAYAUTH_FIELD_MAX)

typedef struct relayauth {
	char *username;       /* owned, wiped at free */
	char *password;       /* owned, wiped at free; NULL with a token */
	char *token_file;     /* owned; NULL with a password */
	char *token;          /* owned, wiped at free: token_file's content */
	unsigned usable;      /* 1 << auth_mech_t the credentials allow */
} relayauth_t;

/*
 * relayauth_parse reads auth_file text (key = value lines; '#' and ';'
 * comments; keys username, password, token_file) into a (caller storage,
 * zeroed by it; release with relayauth_cleanup). It does not read the token
 * file. Returns 0, or -1 with a message in err that names lines and keys,
 * never a value.
 */
int relayauth_parse(relayauth_t *a, const uint8_t *text, size_t len,
    char *err, size_t errlen);

/* relayauth_cleanup wipes and frees what a holds; idempotent. */
void relayauth_cleanup(relayauth_t *a);

/*
 * relayauth_load reads path, and the token file it names, into a new
 * relayauth_t (caller owns it; relayauth_free). Blocking file reads: main
 * thread or -t only. Returns NULL with err set (no secret in it).
 */
relayauth_t *relayauth_load(const char *path, char *err, size_t errlen);
void relayauth_free(relayauth_t *a);

/* The mechanism's SASL name ("PLAIN"), and its label ("plain"). */
const char *relayauth_mech_name(auth_mech_t m);
const char *relayauth_mech_label(auth_mech_t m);

/*
 * relayauth_offered returns the mechanisms (1 << auth_mech_t) a complete
 * EHLO reply lists on its AUTH lines ("250-AUTH PLAIN LOGIN" or the old
 * "250-AUTH=LOGIN"), case-insensitively.
 */
unsigned relayauth_offered(const uint8_t *ehlo, size_t len);

/*
 * relayauth_choose: the first of the n configured mechanisms (want; n 0
 * means the default: plain login, or xoauth2 with a token) that the
 * credentials allow and the relay offers. Returns the mechanism or -1.
 */
int relayauth_choose(const relayauth_t *a, const auth_mech_t *want, int n,
    unsigned offered);

/*
 * relayauth_line writes step of the exchange for mechanism m into out (cap
 * bytes), with its CRLF: step 0 the AUTH command (PLAIN and XOAUTH2 with
 * their initial response), for LOGIN step 1 the username and step 2 the
 * password. Returns the length, or -1 (no such step, too long). The
 * caller wipes out after use.
 */
int relayauth_line(const relayauth_t *a, auth_mech_t m, int step, char *out,
    size_t cap);

#endif
