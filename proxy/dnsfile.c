/*
 * dnsfile: see dnsfile.h. The files are local configuration, not peer
 * data, but still read within bounds: a line at a time into a fixed
 * buffer, the whole file at most DNSFILE_BYTES_MAX.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnsfile.h"

typedef struct {
	FILE *f;
	size_t total;
	char line[DNSFILE_LINE_MAX + 2];
} dnsfile_t;

/*
 * The next line (comment cut, NUL-terminated) in r->line; 0 at the end,
 * after an error or past DNSFILE_BYTES_MAX. An over-long line is skipped.
 */
static int
dnsfile_line(dnsfile_t *r)
{
	while (fgets(r->line, sizeof(r->line), r->f) != NULL) {
		size_t n = strlen(r->line);
		char *hash;

		if ((r->total += n) > DNSFILE_BYTES_MAX)
			return 0;
		if (n > 0 && r->line[n - 1] != '\n' && !feof(r->f)) {
			int c;

			while ((c = getc(r->f)) != EOF && c != '\n')
				if (++r->total > DNSFILE_BYTES_MAX)
					return 0;
			continue;
		}
		if ((hash = strchr(r->line, '#')) != NULL)
			*hash = '\0';
		return 1;
	}
	return 0;
}

/* The hosts lines of r naming name, as dnsfile_hosts_snap says. */
static size_t
dnsfile_hosts_read(dnsfile_t *r, const char *name, int af,
    uint8_t (*out)[16], size_t max)
{
	size_t n = 0, nl = strlen(name);

	r->total = 0;
	while (n < max && dnsfile_line(r)) {
		char *save = NULL, *tok;
		uint8_t addr[16];

		/* inet_pton refuses a scope ("%eth0"): such lines go. */
		if ((tok = strtok_r(r->line, " \t\r\n", &save)) == NULL ||
		    inet_pton(af, tok, addr) != 1)
			continue;
		while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
			size_t tl = strlen(tok);

			if (tl > 0 && tok[tl - 1] == '.')
				tl--;
			if (tl == nl && strncasecmp(tok, name, tl) == 0) {
				memcpy(out[n++], addr, af == AF_INET ? 4 : 16);
				break;
			}
		}
	}
	return n;
}

size_t
dnsfile_hosts_snap(const dnsfile_snap_t *s, const char *name, int af,
    uint8_t (*out)[16], size_t max)
{
	dnsfile_t r;
	size_t n;

	if (s->buf == NULL || s->len == 0 ||
	    (r.f = fmemopen(s->buf, s->len, "r")) == NULL)
		return 0;
	n = dnsfile_hosts_read(&r, name, af, out, max);
	fclose(r.f);
	return n;
}

void
dnsfile_snap_free(dnsfile_snap_t *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = 0;
	s->seen = 0;
}

void
dnsfile_snap_refresh(dnsfile_snap_t *s, const char *path)
{
	struct stat st;
	FILE *f;
	char *buf;
	size_t want, got;

	if (path[0] == '\0' || stat(path, &st) == -1) {
		dnsfile_snap_free(s);
		return;
	}
	if (s->seen && st.st_dev == s->st.st_dev && st.st_ino == s->st.st_ino &&
	    st.st_size == s->st.st_size &&
	    st.st_mtim.tv_sec == s->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec)
		return;
	dnsfile_snap_free(s);
	want = st.st_size < 0 ? 0 : (size_t)st.st_size;
	if (want > DNSFILE_BYTES_MAX)
		want = DNSFILE_BYTES_MAX;
	if ((f = fopen(path, "re")) == NULL)
		return;
	if ((buf = malloc(want + 1)) == NULL) {
		fclose(f);
		return;
	}
	got = fread(buf, 1, want, f);
	fclose(f);
	s->buf = buf;
	s->len = got;
	s->st = st;
	s->seen = 1;
}

int
dnsfile_nameserver(const char *path, struct sockaddr_storage *ss,
    socklen_t *len)
{
	dnsfile_t r;
	int found = -1;

	if ((r.f = fopen(path, "re")) == NULL)
		return -1;
	r.total = 0;
	while (found == -1 && dnsfile_line(&r)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		char *save = NULL, *key, *val;
		struct in_addr a4;
		struct in6_addr a6;

		if ((key = strtok_r(r.line, " \t\r\n", &save)) == NULL ||
		    strcmp(key, "nameserver") != 0 ||
		    (val = strtok_r(NULL, " \t\r\n", &save)) == NULL)
			continue;
		if (inet_pton(AF_INET, val, &a4) == 1) {
			memset(ss, 0, sizeof(*ss));
			sin->sin_family = AF_INET;
			sin->sin_port = htons(53);
			sin->sin_addr = a4;
			*len = sizeof(*sin);
			found = 0;
		} else if (inet_pton(AF_INET6, val, &a6) == 1) {
			memset(ss, 0, sizeof(*ss));
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(53);
			sin6->sin6_addr = a6;
			*len = sizeof(*sin6);
			found = 0;
		}
	}
	fclose(r.f);
	return found;
}
