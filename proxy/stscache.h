/*
 * stscache: the process-wide MTA-STS policy cache (RFC 8461 5.1). One
 * table for all workers, behind a mutex taken once per lookup or store
 * (never per byte), keyed by the policy domain in lower case. Each entry
 * keeps the TXT id, the mode, max_age, the mx patterns packed back to back
 * (a few dozen octets, not the 16 KiB of an sts_policy_t), when it was
 * fetched, when it expires (fetched_at + max_age) and when it was last
 * used. The table is bounded: past its maximum the least recently used
 * entry goes. A policy of mode "none" is kept like any other: that is how
 * a domain withdraws its policy (RFC 8461 10.2).
 *
 * A failed fetch of (domain, id) leaves a negative marker that says "do
 * not try this id again for STSCACHE_NEG_SECS" (RFC 8461 3.3 leaves the
 * retry policy to the sender; five minutes keeps a broken policy host from
 * being hit once per RCPT). The marker never hides a valid cached policy.
 *
 * Persistence (trust on first use survives a restart): stscache_save
 * writes the policies to a text file through a temporary file, fsync and
 * an atomic rename; stscache_load reads it back, checking every line with
 * the pure parsers of sts.c and dnsmsg.c. Format, one line per domain
 * after the header line "starttls-proxy mta-sts cache 1":
 *   DOMAIN ID FETCHED_AT EXPIRES_AT LAST_USED MODE MAX_AGE MX[,MX...]
 * (times in Unix seconds, MX "-" when there is none). Negative markers are
 * not saved.
 *
 * Times are given by the caller (Unix seconds), so tests need no clock.
 */
#ifndef STSCACHE_H
#define STSCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "sts.h"

/*
 * STSCACHE_MAX: entries kept (design note 2.2, mta_sts_cache_max); a few
 * hundred octets each.
 * STSCACHE_NEG_SECS: how long a failed fetch of (domain, id) is not
 * retried.
 * STSCACHE_FILE: the file's name under state_dir.
 * STSCACHE_LINE_MAX: one line of the file: 64 patterns of 253 octets and
 * their commas, the domain, the id, five numbers and the mode.
 */
#define STSCACHE_MAX 100000
#define STSCACHE_NEG_SECS 300
#define STSCACHE_FILE "mta-sts.cache"
#define STSCACHE_LINE_MAX (STS_MX_MAX * (STS_NAME_MAX + 1) + 512)

typedef struct stscache stscache_t;

/* What a lookup tells besides the patterns. */
typedef struct {
	char id[STS_ID_MAX + 1];
	sts_mode_t mode;
	uint32_t max_age;
	int64_t fetched_at;
	int64_t expires_at;    /* fetched_at + max_age */
	int64_t last_used;
} stscache_info_t;

/*
 * stscache_new makes an empty cache of at most max entries (0:
 * STSCACHE_MAX). Returns NULL without memory. stscache_free releases it;
 * NULL does nothing.
 */
stscache_t *stscache_new(size_t max);
void stscache_free(stscache_t *c);

/*
 * stscache_get looks up the policy of domain (any case, no trailing dot)
 * that has not expired at now (expires_at > now). On a hit it returns 0,
 * fills *info and, if pol is not NULL, *pol (caller storage) with mode,
 * max_age and patterns, and marks the entry used at now (most recently
 * used). An expired policy is dropped here. Returns -1 when there is none.
 */
int stscache_get(stscache_t *c, const char *domain, int64_t now,
    stscache_info_t *info, sts_policy_t *pol);

/*
 * stscache_put stores pol (copied) as the policy of domain with TXT id,
 * fetched at now, replacing what was there and clearing its negative
 * marker. The least recently used entries go beyond the bound. Returns 0,
 * or -1 for a domain or id that is not valid, or without memory.
 */
int stscache_put(stscache_t *c, const char *domain, const char *id,
    const sts_policy_t *pol, int64_t now);

/*
 * stscache_fail records that fetching the policy of domain with TXT id
 * failed at now; stscache_failed says whether (domain, id) failed less
 * than STSCACHE_NEG_SECS ago (1) or not (0). Marking keeps the entry's
 * policy, if any. stscache_fail returns 0 or -1.
 */
int stscache_fail(stscache_t *c, const char *domain, const char *id,
    int64_t now);
int stscache_failed(stscache_t *c, const char *domain, const char *id,
    int64_t now);

/* stscache_remove drops domain's entry (policy and marker). Returns 0 or -1
 * if there was none. */
int stscache_remove(stscache_t *c, const char *domain);

/* stscache_count: entries holding a policy (expired ones included until
 * they are dropped). */
size_t stscache_count(stscache_t *c);

/*
 * stscache_save writes every policy not expired at now to path: into a new
 * temporary file in the same directory (path.XXXXXX, mode 0600), fsync,
 * rename over path, fsync of the directory. A reader of path sees the old
 * file or the new one, never a part. The table is copied under the lock
 * and written without it. Returns the number of policies written, or -1
 * with err set (the temporary file is removed, path is left as it was).
 */
long stscache_save(stscache_t *c, const char *path, int64_t now, char *err,
    size_t errlen);

/*
 * stscache_load adds the policies of the file at path that are valid and
 * not expired at now (entries already in c for the same domain are
 * replaced). A line that does not parse, or whose domain, id or policy the
 * parsers of sts.c refuse, or whose times do not agree (expires_at must be
 * fetched_at + max_age, fetched_at not in the future), is skipped and
 * counted in *skipped; expired lines are dropped without being counted.
 * Returns the number of policies loaded; 0 when path does not exist; -1
 * with err set when it cannot be read or its header is not ours.
 */
long stscache_load(stscache_t *c, const char *path, int64_t now,
    unsigned *skipped, char *err, size_t errlen);

#endif
