/*
 * relayauth: see relayauth.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/base64.h>
#include <openssl/mem.h>

#include "relayauth.h"

static const char *const relayauth_names[AUTH_MECH_COUNT] = {
	"PLAIN", "LOGIN", "XOAUTH2"
};
static const char *const relayauth_labels[AUTH_MECH_COUNT] = {
	"plain", "login", "xoauth2"
};

const char *
relayauth_mech_name(auth_mech_t m)
{
	return (unsigned)m < AUTH_MECH_COUNT ? relayauth_names[m] : "-";
}

const char *
relayauth_mech_label(auth_mech_t m)
{
	return (unsigned)m < AUTH_MECH_COUNT ? relayauth_labels[m] : "none";
}

static void
relayauth_wipe_free(char *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, strlen(p));
	free(p);
}

void
relayauth_cleanup(relayauth_t *a)
{
	relayauth_wipe_free(a->username);
	relayauth_wipe_free(a->password);
	relayauth_wipe_free(a->token);
	free(a->token_file);
	memset(a, 0, sizeof(*a));
}

void
relayauth_free(relayauth_t *a)
{
	if (a == NULL)
		return;
	relayauth_cleanup(a);
	free(a);
}

static int
relayauth_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* A value: printable, no control octets (a NUL would cut PLAIN's fields). */
static int
relayauth_value_ok(const uint8_t *v, size_t n, size_t max)
{
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

static char *
relayauth_dup(const uint8_t *v, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, v, n);
	s[n] = '\0';
	return s;
}

int
relayauth_parse(relayauth_t *a, const uint8_t *text, size_t len, char *err,
    size_t errlen)
{
	size_t off = 0;
	int lineno = 0;

	memset(a, 0, sizeof(*a));
	while (off < len) {
		const uint8_t *line = text + off, *nl, *eq;
		size_t n, kn, vn;
		const uint8_t *k, *v;
		char **slot;
		size_t max;

		nl = memchr(line, '\n', len - off);
		n = nl ? (size_t)(nl - line) : len - off;
		off += n + (nl != NULL);
		lineno++;
		while (n > 0 && relayauth_space(line[n - 1]))
			n--;
		k = line;
		while (n > 0 && relayauth_space(*k)) {
			k++;
			n--;
		}
		if (n == 0 || *k == '#' || *k == ';')
			continue;
		if ((eq = memchr(k, '=', n)) == NULL) {
			snprintf(err, errlen, "line %d: expected key = value",
			    lineno);
			goto err0;
		}
		kn = (size_t)(eq - k);
		while (kn > 0 && relayauth_space(k[kn - 1]))
			kn--;
		v = eq + 1;
		vn = n - (size_t)(v - k);
		while (vn > 0 && relayauth_space(*v)) {
			v++;
			vn--;
		}
		if (kn == 8 && memcmp(k, "username", 8) == 0) {
			slot = &a->username;
			max = RELAYAUTH_FIELD_MAX;
		} else if (kn == 8 && memcmp(k, "password", 8) == 0) {
			slot = &a->password;
			max = RELAYAUTH_FIELD_MAX;
		} else if (kn == 10 && memcmp(k, "token_file", 10) == 0) {
			slot = &a->token_file;
			max = 4096;
		} else {
			/* The key is not a secret; it is still not echoed, in
			 * case a value was written where a key belongs. */
			snprintf(err, errlen, "line %d: unknown key (expected "
			    "username, password or token_file)", lineno);
			goto err0;
		}
		if (*slot != NULL) {
			snprintf(err, errlen, "line %d: %.*s given twice",
			    lineno, (int)kn, (const char *)k);
			goto err0;
		}
		if (!relayauth_value_ok(v, vn, max)) {
			snprintf(err, errlen, "line %d: %.*s is empty, too "
			    "long or holds control characters", lineno,
			    (int)kn, (const char *)k);
			goto err0;
		}
		if ((*slot = relayauth_dup(v, vn)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto err0;
		}
	}
	if (a->username == NULL) {
		snprintf(err, errlen, "username is missing");
		goto err0;
	}
	if ((a->password == NULL) == (a->token_file == NULL)) {
		snprintf(err, errlen, "give either password or token_file "
		    "(one of them)");
		goto err0;
	}
	a->usable = a->password != NULL ?
	    (1u << AUTH_MECH_PLAIN) | (1u << AUTH_MECH_LOGIN) :
	    1u << AUTH_MECH_XOAUTH2;
	return 0;

err0:
	relayauth_cleanup(a);
	return -1;
}

/* Reads a whole small file into a NUL-terminated buffer (wiped by the
 * caller). Returns it or NULL with err. */
static char *
relayauth_read(const char *path, const char *what, size_t *len, char *err,
    size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s '%s': %s", what, path,
		    strerror(errno));
		return NULL;
	}
	if ((buf = malloc(RELAYAUTH_FILE_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, RELAYAUTH_FILE_MAX + 1, f);
	if (ferror(f) || n > RELAYAUTH_FILE_MAX) {
		snprintf(err, errlen, ferror(f) ? "cannot read %s '%s'" :
		    "%s '%s' is too long", what, path);
		fclose(f);
		OPENSSL_cleanse(buf, RELAYAUTH_FILE_MAX + 1);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

relayauth_t *
relayauth_load(const char *path, char *err, size_t errlen)
{
	relayauth_t *a = calloc(1, sizeof(*a));
	char *text, *tok;
	size_t len, n;
	int r;

	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((text = relayauth_read(path, "auth_file", &len, err,
	    errlen)) == NULL)
		goto err0;
	r = relayauth_parse(a, (const uint8_t *)text, len, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	if (r == -1) {
		char m[256];

		snprintf(m, sizeof(m), "%s", err);
		snprintf(err, errlen, "auth_file '%s': %s", path, m);
		goto err0;
	}
	if (a->token_file == NULL)
		return a;
	if ((tok = relayauth_read(a->token_file, "token_file", &len, err,
	    errlen)) == NULL)
		goto err1;
	/* A helper writes the token with or without a newline. */
	n = len;
	while (n > 0 && (tok[n - 1] == '\n' || relayauth_space(
	    (uint8_t)tok[n - 1])))
		n--;
	if (!relayauth_value_ok((const uint8_t *)tok, n,
	    RELAYAUTH_TOKEN_MAX) || memchr(tok, ' ', n) != NULL) {
		snprintf(err, errlen, "token_file '%s': the token is empty, "
		    "too long or not one word", a->token_file);
		OPENSSL_cleanse(tok, len);
		free(tok);
		goto err1;
	}
	tok[n] = '\0';
	if (n < len)
		OPENSSL_cleanse(tok + n, len - n);
	a->token = tok;
	return a;

err1:
	relayauth_cleanup(a);
err0:
	free(a);
	return NULL;
}

static int
relayauth_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
relayauth_word_is(const uint8_t *w, size_t n, const char *want)
{
	size_t k = strlen(want);

	if (n != k)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (relayauth_lower(w[i]) != relayauth_lower((uint8_t)want[i]))
			return 0;
	return 1;
}

unsigned
relayauth_offered(const uint8_t *ehlo, size_t len)
{
	unsigned got = 0;
	size_t off = 0;

	while (off < len) {
		const uint8_t *line = ehlo + off, *nl;
		size_t n, i;

		nl = memchr(line, '\n', len - off);
		n = nl ? (size_t)(nl - line) : len - off;
		off += n + (nl != NULL);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		/* "250-" or "250 ", then the keyword. */
		if (n < 9 || !relayauth_word_is(line + 4, 4, "auth") ||
		    (line[8] != ' ' && line[8] != '='))
			continue;
		for (i = 9; i < n;) {
			size_t w = i;

			while (w < n && line[w] != ' ')
				w++;
			for (int m = 0; m < AUTH_MECH_COUNT; m++)
				if (relayauth_word_is(line + i, w - i,
				    relayauth_names[m]))
					got |= 1u << m;
			i = w + 1;
		}
	}
	return got;
}

int
relayauth_choose(const relayauth_t *a, const auth_mech_t *want, int n,
    unsigned offered)
{
	static const auth_mech_t dflt[] = {
		AUTH_MECH_XOAUTH2, AUTH_MECH_PLAIN, AUTH_MECH_LOGIN
	};

	if (n == 0) {
		want = dflt;
		n = 3;
	}
	for (int i = 0; i < n; i++)
		if ((a->usable & offered & (1u << want[i])) != 0)
			return (int)want[i];
	return -1;
}

/* Appends the base64 of in[0..n) at out + *pos. Returns 0 or -1. */
static int
relayauth_b64(char *out, size_t cap, size_t *pos, const uint8_t *in,
    size_t n)
{
	size_t need;

	if (!EVP_EncodedLength(&need, n) || *pos + need > cap)
		return -1;
	*pos += EVP_EncodeBlock((uint8_t *)out + *pos, in, n);
	return 0;
}

static int
relayauth_put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (*pos + n > cap)
		return -1;
	memcpy(out + *pos, s, n);
	*pos += n;
	return 0;
}

int
relayauth_line(const relayauth_t *a, auth_mech_t m, int step, char *out,
    size_t cap)
{
	uint8_t raw[RELAYAUTH_TOKEN_MAX + 2 * RELAYAUTH_FIELD_MAX + 64];
	size_t rn = 0, pos = 0, u = strlen(a->username);
	const char *cmd = NULL;
	int r = -1;

	switch (m) {
	case AUTH_MECH_PLAIN:
		/* RFC 4616: authzid NUL authcid NUL passwd; no authzid. */
		if (step != 0 || a->password == NULL)
			return -1;
		cmd = "AUTH PLAIN ";
		raw[rn++] = 0;
		memcpy(raw + rn, a->username, u);
		rn += u;
		raw[rn++] = 0;
		memcpy(raw + rn, a->password, strlen(a->password));
		rn += strlen(a->password);
		break;
	case AUTH_MECH_LOGIN:
		if (step == 0)
			return relayauth_put(out, cap, &pos, "AUTH LOGIN\r\n",
			    12) == -1 ? -1 : (int)pos;
		if (step == 1) {
			memcpy(raw, a->username, u);
			rn = u;
		} else if (step == 2 && a->password != NULL) {
			rn = strlen(a->password);
			memcpy(raw, a->password, rn);
		} else
			return -1;
		break;
	case AUTH_MECH_XOAUTH2:
		/* "user=" u ^A "auth=Bearer " token ^A ^A */
		if (step != 0 || a->token == NULL)
			return -1;
		cmd = "AUTH XOAUTH2 ";
		rn = (size_t)snprintf((char *)raw, sizeof(raw),
		    "user=%s\001auth=Bearer %s\001\001", a->username,
		    a->token);
		if (rn >= sizeof(raw))
			goto out;
		break;
	default:
		return -1;
	}
	if ((cmd != NULL && relayauth_put(out, cap, &pos, cmd,
	    strlen(cmd)) == -1) ||
	    relayauth_b64(out, cap, &pos, raw, rn) == -1 ||
	    relayauth_put(out, cap, &pos, "\r\n", 2) == -1)
		goto out;
	r = (int)pos;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (r == -1)
		OPENSSL_cleanse(out, cap);
	return r;
}
