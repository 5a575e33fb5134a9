/*
 * stscache: see stscache.h. A chained hash table (SipHash with a random
 * key: domains come from mail the proxy relays, so their hashes must not
 * be predictable) and a doubly linked LRU list, most recently used first.
 * The patterns of an entry are one allocation of NUL-terminated strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <uv.h>
#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "dnsmsg.h"
#include "stscache.h"

#define STSCACHE_HEADER "starttls-proxy mta-sts cache 1"
/* Buckets of a new table; the table doubles when entries pass buckets. */
#define STSCACHE_MIN_BUCKETS 64
/* A saved fetched_at later than now by more than this is not believed
 * (a clock set back a little is tolerated, a forged far future is not). */
#define STSCACHE_SKEW_SECS 3600

typedef struct stscache_entry {
	struct stscache_entry *hnext;        /* bucket chain */
	struct stscache_entry *prev, *next;  /* LRU, most recent first */
	uint64_t hash;
	int has_policy;
	stscache_info_t info;
	unsigned nmx;
	size_t mxlen;
	char *mx;                            /* owned; patterns, each NUL-ended */
	char neg_id[STS_ID_MAX + 1];
	int64_t neg_until;                   /* 0: no marker */
	char domain[];
} stscache_entry_t;

struct stscache {
	uv_mutex_t lock;
	uint64_t key[2];                     /* SipHash key */
	stscache_entry_t **buckets;
	size_t nbuckets;                     /* power of two */
	size_t n;                            /* entries */
	size_t npolicies;                    /* entries with a policy */
	size_t max;
	stscache_entry_t *head, *tail;       /* LRU */
};

/* Domain checks and normalisation -------------------------------------- */

/*
 * Copies domain into out in lower case, refusing what is not a host name
 * of 1..STS_NAME_MAX octets (dnsmsg's rules: letters, digits, '-', '_'; no
 * trailing dot). Returns the length or -1.
 */
static int
stscache_norm(const char *domain, char out[STS_NAME_MAX + 1])
{
	uint8_t wire[DNSMSG_NAME_MAX];
	size_t wlen, n = strnlen(domain, STS_NAME_MAX + 1);

	if (n == 0 || n > STS_NAME_MAX || domain[n - 1] == '.' ||
	    dnsmsg_name_from_text(domain, n, wire, &wlen) == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char ch = domain[i];
		out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	out[n] = '\0';
	return (int)n;
}

/* id is an sts-id value (1*32 ALPHA / DIGIT): the TXT parser decides. */
static int
stscache_id_ok(const char *id)
{
	char rec[16 + STS_ID_MAX + 1], got[STS_ID_MAX + 1];
	size_t n = strnlen(id, STS_ID_MAX + 1);
	sts_slice_t s;
	const char *why;

	if (n == 0 || n > STS_ID_MAX)
		return 0;
	s.len = (size_t)snprintf(rec, sizeof(rec), "v=STSv1; id=%s", id);
	s.p = (const uint8_t *)rec;
	return sts_txt_parse(&s, 1, got, &why) == 0 && strcmp(got, id) == 0;
}

/* Table ------------------------------------------------------------------ */

stscache_t *
stscache_new(size_t max)
{
	stscache_t *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (uv_mutex_init(&c->lock) != 0)
		goto err0;
	c->nbuckets = STSCACHE_MIN_BUCKETS;
	if ((c->buckets = calloc(c->nbuckets, sizeof(*c->buckets))) == NULL)
		goto err1;
	RAND_bytes((uint8_t *)c->key, sizeof(c->key));
	c->max = max ? max : STSCACHE_MAX;
	return c;

err1:
	uv_mutex_destroy(&c->lock);
err0:
	free(c);
	return NULL;
}

static void
stscache_entry_free(stscache_entry_t *e)
{
	free(e->mx);
	free(e);
}

void
stscache_free(stscache_t *c)
{
	stscache_entry_t *e, *next;

	if (c == NULL)
		return;
	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		stscache_entry_free(e);
	}
	free(c->buckets);
	uv_mutex_destroy(&c->lock);
	free(c);
}

static uint64_t
stscache_hash(const stscache_t *c, const char *d, size_t n)
{
	return SIPHASH_24(c->key, (const uint8_t *)d, n);
}

/* The entry of the normalised domain d, or NULL. Lock held. */
static stscache_entry_t *
stscache_find(const stscache_t *c, const char *d, size_t n, uint64_t h)
{
	stscache_entry_t *e;

	for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->domain, d) == 0)
			return e;
	(void)n;
	return NULL;
}

static void
stscache_lru_unlink(stscache_t *c, stscache_entry_t *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
stscache_lru_front(stscache_t *c, stscache_entry_t *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void
stscache_lru_back(stscache_t *c, stscache_entry_t *e)
{
	e->next = NULL;
	e->prev = c->tail;
	if (c->tail != NULL)
		c->tail->next = e;
	c->tail = e;
	if (c->head == NULL)
		c->head = e;
}

/* Unlinks and frees e. Lock held. */
static void
stscache_drop(stscache_t *c, stscache_entry_t *e)
{
	stscache_entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	stscache_lru_unlink(c, e);
	c->n--;
	if (e->has_policy)
		c->npolicies--;
	stscache_entry_free(e);
}

/* Doubles the buckets; on failure the table stays as it is (longer
 * chains, still correct). Lock held. */
static void
stscache_grow(stscache_t *c)
{
	size_t nb = c->nbuckets * 2;
	stscache_entry_t **b;

	if ((b = calloc(nb, sizeof(*b))) == NULL)
		return;
	for (stscache_entry_t *e = c->head; e != NULL; e = e->next) {
		size_t i = e->hash & (nb - 1);
		e->hnext = b[i];
		b[i] = e;
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = nb;
}

/* The entry of d, made (empty, at the front or back of the LRU) when
 * missing. Lock held. Returns NULL without memory. */
static stscache_entry_t *
stscache_obtain(stscache_t *c, const char *d, size_t n, int at_back)
{
	uint64_t h = stscache_hash(c, d, n);
	stscache_entry_t *e = stscache_find(c, d, n, h);
	size_t i;

	if (e != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e) + n + 1)) == NULL)
		return NULL;
	memcpy(e->domain, d, n + 1);
	e->hash = h;
	if (c->n >= c->nbuckets)
		stscache_grow(c);
	i = h & (c->nbuckets - 1);
	e->hnext = c->buckets[i];
	c->buckets[i] = e;
	if (at_back)
		stscache_lru_back(c, e);
	else
		stscache_lru_front(c, e);
	c->n++;
	return e;
}

/* Evicts least recently used entries beyond the bound, sparing keep. */
static void
stscache_bound(stscache_t *c, const stscache_entry_t *keep)
{
	while (c->n > c->max && c->tail != NULL) {
		stscache_entry_t *e = c->tail;
		if (e == keep) {
			if (e->prev == NULL)
				return;
			e = e->prev;
		}
		stscache_drop(c, e);
	}
}

/* Sets e's policy (patterns copied). Lock held. Returns 0 or -1. */
static int
stscache_set(stscache_t *c, stscache_entry_t *e, const char *id,
    const sts_policy_t *pol, int64_t fetched_at, int64_t last_used)
{
	size_t len = 0, off = 0;
	char *mx = NULL;

	for (unsigned i = 0; i < pol->nmx; i++)
		len += strnlen(pol->mx[i], STS_NAME_MAX) + 1;
	if (len > 0 && (mx = malloc(len)) == NULL)
		return -1;
	for (unsigned i = 0; i < pol->nmx; i++) {
		size_t k = strnlen(pol->mx[i], STS_NAME_MAX);
		memcpy(mx + off, pol->mx[i], k);
		mx[off + k] = '\0';
		off += k + 1;
	}
	free(e->mx);
	e->mx = mx;
	e->mxlen = len;
	e->nmx = pol->nmx;
	snprintf(e->info.id, sizeof(e->info.id), "%s", id);
	e->info.mode = pol->mode;
	e->info.max_age = pol->max_age;
	e->info.fetched_at = fetched_at;
	e->info.expires_at = fetched_at + (int64_t)pol->max_age;
	e->info.last_used = last_used;
	if (!e->has_policy)
		c->npolicies++;
	e->has_policy = 1;
	return 0;
}

/* Fills pol from e. */
static void
stscache_expand(const stscache_entry_t *e, sts_policy_t *pol)
{
	const char *p = e->mx;

	pol->mode = e->info.mode;
	pol->max_age = e->info.max_age;
	pol->nmx = e->nmx;
	for (unsigned i = 0; i < e->nmx; i++) {
		size_t k = strlen(p); /* our own packed strings */
		memcpy(pol->mx[i], p, k + 1);
		p += k + 1;
	}
}

/* Forgets e's expired policy; drops e when nothing else is kept. */
static void
stscache_expire(stscache_t *c, stscache_entry_t *e, int64_t now)
{
	if (e->neg_until > now) {
		free(e->mx);
		e->mx = NULL;
		e->nmx = 0;
		e->mxlen = 0;
		e->has_policy = 0;
		c->npolicies--;
		return;
	}
	stscache_drop(c, e);
}

int
stscache_get(stscache_t *c, const char *domain, int64_t now,
    stscache_info_t *info, sts_policy_t *pol)
{
	char d[STS_NAME_MAX + 1];
	stscache_entry_t *e;
	int n, r = -1;

	if ((n = stscache_norm(domain, d)) < 0)
		return -1;
	uv_mutex_lock(&c->lock);
	e = stscache_find(c, d, (size_t)n, stscache_hash(c, d, (size_t)n));
	if (e != NULL && e->has_policy) {
		if (e->info.expires_at <= now)
			stscache_expire(c, e, now);
		else {
			e->info.last_used = now;
			stscache_lru_unlink(c, e);
			stscache_lru_front(c, e);
			*info = e->info;
			if (pol != NULL)
				stscache_expand(e, pol);
			r = 0;
		}
	}
	uv_mutex_unlock(&c->lock);
	return r;
}

/* A policy fit to keep: what sts_policy_parse can return. */
static int
stscache_policy_ok(const sts_policy_t *pol)
{
	if (pol->nmx > STS_MX_MAX || pol->max_age > STS_MAX_AGE_MAX ||
	    (pol->mode != STS_MODE_NONE && pol->nmx == 0))
		return 0;
	for (unsigned i = 0; i < pol->nmx; i++)
		if (strnlen(pol->mx[i], STS_NAME_MAX + 1) > STS_NAME_MAX)
			return 0;
	return 1;
}

int
stscache_put(stscache_t *c, const char *domain, const char *id,
    const sts_policy_t *pol, int64_t now)
{
	char d[STS_NAME_MAX + 1];
	stscache_entry_t *e;
	int n, r = -1;

	if ((n = stscache_norm(domain, d)) < 0 || !stscache_id_ok(id) ||
	    !stscache_policy_ok(pol))
		return -1;
	uv_mutex_lock(&c->lock);
	if ((e = stscache_obtain(c, d, (size_t)n, 0)) != NULL) {
		stscache_lru_unlink(c, e);
		stscache_lru_front(c, e);
		if (stscache_set(c, e, id, pol, now, now) == 0) {
			e->neg_until = 0;
			e->neg_id[0] = '\0';
			r = 0;
		} else if (!e->has_policy && e->neg_until == 0)
			stscache_drop(c, e);
		if (r == 0)
			stscache_bound(c, e);
	}
	uv_mutex_unlock(&c->lock);
	return r;
}

int
stscache_fail(stscache_t *c, const char *domain, const char *id,
    int64_t now)
{
	char d[STS_NAME_MAX + 1];
	stscache_entry_t *e;
	int n;

	if ((n = stscache_norm(domain, d)) < 0 || !stscache_id_ok(id))
		return -1;
	uv_mutex_lock(&c->lock);
	if ((e = stscache_obtain(c, d, (size_t)n, 0)) != NULL) {
		snprintf(e->neg_id, sizeof(e->neg_id), "%s", id);
		e->neg_until = now + STSCACHE_NEG_SECS;
		stscache_bound(c, e);
	}
	uv_mutex_unlock(&c->lock);
	return e != NULL ? 0 : -1;
}

int
stscache_failed(stscache_t *c, const char *domain, const char *id,
    int64_t now)
{
	char d[STS_NAME_MAX + 1];
	stscache_entry_t *e;
	int n, r = 0;

	if ((n = stscache_norm(domain, d)) < 0)
		return 0;
	uv_mutex_lock(&c->lock);
	e = stscache_find(c, d, (size_t)n, stscache_hash(c, d, (size_t)n));
	if (e != NULL && e->neg_until > now && strcmp(e->neg_id, id) == 0)
		r = 1;
	uv_mutex_unlock(&c->lock);
	return r;
}

int
stscache_remove(stscache_t *c, const char *domain)
{
	char d[STS_NAME_MAX + 1];
	stscache_entry_t *e;
	int n;

	if ((n = stscache_norm(domain, d)) < 0)
		return -1;
	uv_mutex_lock(&c->lock);
	e = stscache_find(c, d, (size_t)n, stscache_hash(c, d, (size_t)n));
	if (e != NULL)
		stscache_drop(c, e);
	uv_mutex_unlock(&c->lock);
	return e != NULL ? 0 : -1;
}

size_t
stscache_count(stscache_t *c)
{
	size_t n;

	uv_mutex_lock(&c->lock);
	n = c->npolicies;
	uv_mutex_unlock(&c->lock);
	return n;
}

/* Persistence ------------------------------------------------------------ */

/* Appends the line of e to the memory stream f. */
static void
stscache_line(FILE *f, const stscache_entry_t *e)
{
	const char *p = e->mx;

	fprintf(f, "%s %s %lld %lld %lld %s %u ", e->domain, e->info.id,
	    (long long)e->info.fetched_at, (long long)e->info.expires_at,
	    (long long)e->info.last_used, sts_mode_name(e->info.mode),
	    (unsigned)e->info.max_age);
	if (e->nmx == 0)
		fputc('-', f);
	for (unsigned i = 0; i < e->nmx; i++) {
		size_t k = strlen(p);
		fprintf(f, "%s%s", i ? "," : "", p);
		p += k + 1;
	}
	fputc('\n', f);
}

/* Writes all of p[0..n) to fd. Returns 0 or -1 (errno set). */
static int
stscache_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

long
stscache_save(stscache_t *c, const char *path, int64_t now, char *err,
    size_t errlen)
{
	char *text = NULL, *tmp = NULL, *dcopy = NULL;
	size_t len = 0;
	long count = 0;
	int fd = -1, dfd;
	FILE *f;

	/* Most recently used first: loading appends, so the order stays. */
	if ((f = open_memstream(&text, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fprintf(f, "%s\n", STSCACHE_HEADER);
	uv_mutex_lock(&c->lock);
	for (stscache_entry_t *e = c->head; e != NULL; e = e->next)
		if (e->has_policy && e->info.expires_at > now) {
			stscache_line(f, e);
			count++;
		}
	uv_mutex_unlock(&c->lock);
	if (fclose(f) != 0 || text == NULL) {
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		snprintf(err, errlen, "out of memory");
		goto err0;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err0;
	}
	if (fchmod(fd, 0600) != 0 || stscache_write_all(fd, text, len) != 0 ||
	    fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err1;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err1;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "rename to %s: %s", path,
		    strerror(errno));
		goto err1;
	}
	/* The rename itself must reach the disk too. */
	if ((dcopy = strdup(path)) != NULL &&
	    (dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dcopy);
	free(tmp);
	free(text);
	return count;

err1:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
err0:
	free(tmp);
	free(text);
	return -1;
}

/*
 * Reads a decimal number of 1..19 digits from *p up to a space, moving *p
 * past the space. Returns 0 or -1.
 */
static int
stscache_num(char **p, int64_t *out)
{
	int64_t v = 0;
	int digits = 0;
	char *s = *p;

	while (*s >= '0' && *s <= '9') {
		if (++digits > 18)
			return -1;
		v = v * 10 + (*s - '0');
		s++;
	}
	if (digits == 0 || *s != ' ')
		return -1;
	*p = s + 1;
	*out = v;
	return 0;
}

/* The next space-delimited field of *p, NUL-terminated in place. */
static char *
stscache_field(char **p)
{
	char *s = *p, *sp = strchr(s, ' ');

	if (sp == NULL || sp == s)
		return NULL;
	*sp = '\0';
	*p = sp + 1;
	return s;
}

/*
 * Parses one line (without its newline) and, when every part is valid,
 * stores it. Returns 1 stored, 0 expired, -1 invalid. Lock not held.
 */
static int
stscache_load_line(stscache_t *c, char *line, int64_t now, sts_policy_t *pol)
{
	char *p = line, *domain, *id, *mode, *mx, *body = NULL;
	char d[STS_NAME_MAX + 1];
	int64_t fetched, expires, used, max_age;
	size_t blen = 0;
	const char *why;
	stscache_entry_t *e;
	FILE *f;
	int n, r;

	/* Only visible ASCII and the separating spaces. */
	for (const char *s = line; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return -1;
	if ((domain = stscache_field(&p)) == NULL ||
	    (id = stscache_field(&p)) == NULL ||
	    stscache_num(&p, &fetched) == -1 ||
	    stscache_num(&p, &expires) == -1 ||
	    stscache_num(&p, &used) == -1 ||
	    (mode = stscache_field(&p)) == NULL ||
	    stscache_num(&p, &max_age) == -1)
		return -1;
	mx = p;
	if (*mx == '\0' || strchr(mx, ' ') != NULL)
		return -1;
	if ((n = stscache_norm(domain, d)) < 0 || strcmp(d, domain) != 0 ||
	    !stscache_id_ok(id))
		return -1;
	if (fetched > now + STSCACHE_SKEW_SECS || max_age > STS_MAX_AGE_MAX ||
	    expires != fetched + max_age || used < fetched)
		return -1;
	/* The policy, as a body for the policy parser. */
	if ((f = open_memstream(&body, &blen)) == NULL)
		return -1;
	fprintf(f, "version: STSv1\nmode: %s\nmax_age: %lld\n", mode,
	    (long long)max_age);
	if (strcmp(mx, "-") != 0)
		for (char *s = mx, *comma;; s = comma + 1) {
			comma = strchr(s, ',');
			fprintf(f, "mx: %.*s\n", comma ? (int)(comma - s) :
			    (int)strlen(s), s);
			if (comma == NULL)
				break;
		}
	if (fclose(f) != 0 || body == NULL) {
		free(body);
		return -1;
	}
	r = blen <= STS_BODY_MAX && strchr(mx, '\n') == NULL &&
	    sts_policy_parse((const uint8_t *)body, blen, pol, &why) == 0 &&
	    (strcmp(mx, "-") == 0) == (pol->nmx == 0) &&
	    (int64_t)pol->max_age == max_age ? 1 : -1;
	free(body);
	if (r == -1)
		return -1;
	if (expires <= now)
		return 0;
	uv_mutex_lock(&c->lock);
	/* The file lists the most recently used first: once the table is
	 * full, the rest are the ones the bound would evict. */
	if (c->n >= c->max && stscache_find(c, d, (size_t)n,
	    stscache_hash(c, d, (size_t)n)) == NULL) {
		uv_mutex_unlock(&c->lock);
		return 0;
	}
	if ((e = stscache_obtain(c, d, (size_t)n, 1)) != NULL &&
	    stscache_set(c, e, id, pol, fetched, used) == 0)
		stscache_bound(c, e);
	else
		r = -1;
	uv_mutex_unlock(&c->lock);
	return r;
}

/*
 * Reads one line into buf[0..cap) without its newline, NUL-terminated.
 * Returns 1; 0 at the end of the file; -1 for a line that is longer than
 * cap - 1, holds a NUL or has no final newline (read to its end and
 * dropped).
 */
static int
stscache_readline(FILE *f, char *buf, size_t cap)
{
	size_t n = 0;
	int ch, bad = 0;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0' || n + 1 >= cap)
			bad = 1;
		else
			buf[n++] = (char)ch;
	}
	if (ch == EOF && n == 0 && !bad)
		return 0;
	buf[n] = '\0';
	return bad || ch == EOF ? -1 : 1;
}

long
stscache_load(stscache_t *c, const char *path, int64_t now,
    unsigned *skipped, char *err, size_t errlen)
{
	char *line = NULL;
	sts_policy_t *pol = NULL;
	long count = 0;
	FILE *f;
	int r;

	*skipped = 0;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((line = malloc(STSCACHE_LINE_MAX + 1)) == NULL ||
	    (pol = malloc(sizeof(*pol))) == NULL) {
		snprintf(err, errlen, "out of memory");
		count = -1;
		goto out;
	}
	if (stscache_readline(f, line, STSCACHE_LINE_MAX + 1) != 1 ||
	    strcmp(line, STSCACHE_HEADER) != 0) {
		snprintf(err, errlen, "%s: not a cache file of this version",
		    path);
		count = -1;
		goto out;
	}
	while ((r = stscache_readline(f, line, STSCACHE_LINE_MAX + 1)) != 0) {
		if (r == -1) {
			(*skipped)++;
			continue;
		}
		switch (stscache_load_line(c, line, now, pol)) {
		case 1:
			count++;
			break;
		case -1:
			(*skipped)++;
			break;
		default:
			break;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		count = -1;
	}
out:
	free(pol);
	free(line);
	fclose(f);
	return count;
}
