/*
 * Unit tests for proxy/stscache.c: lookups, expiry, the LRU bound, mode
 * none, negative markers, and the state file (round trip, damaged lines,
 * atomic replacement).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "check.h"
#include "stscache.h"

static sts_policy_t pol_a, pol_b;

static void
mkpol(sts_policy_t *p, sts_mode_t mode, uint32_t max_age, unsigned nmx,
    const char *const *mx)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->max_age = max_age;
	p->nmx = nmx;
	for (unsigned i = 0; i < nmx; i++)
		snprintf(p->mx[i], sizeof(p->mx[i]), "%s", mx[i]);
}

static void
setup(void)
{
	static const char *const a[] = { "mx1.example.com",
	    "*.backup.example.com" };
	static const char *const b[] = { "mx.other.test" };

	mkpol(&pol_a, STS_MODE_ENFORCE, 86400, 2, a);
	mkpol(&pol_b, STS_MODE_TESTING, 600, 1, b);
}

static int
has(stscache_t *c, const char *d, int64_t now)
{
	stscache_info_t info;

	return stscache_get(c, d, now, &info, NULL) == 0;
}

static void
test_put_get(void)
{
	stscache_t *c = stscache_new(0);
	stscache_info_t info;
	static sts_policy_t got;

	CHECK(c != NULL);
	CHECK_EQ_INT(stscache_get(c, "example.com", 1000, &info, &got), -1);
	CHECK_EQ_INT(stscache_put(c, "Example.COM", "20260101", &pol_a, 1000),
	    0);
	memset(&got, 0xa5, sizeof(got));
	CHECK_EQ_INT(stscache_get(c, "example.com", 1001, &info, &got), 0);
	CHECK(strcmp(info.id, "20260101") == 0);
	CHECK_EQ_INT(info.mode, STS_MODE_ENFORCE);
	CHECK_EQ_INT(info.max_age, 86400);
	CHECK_EQ_INT(info.fetched_at, 1000);
	CHECK_EQ_INT(info.expires_at, 1000 + 86400);
	CHECK_EQ_INT(info.last_used, 1001);
	CHECK_EQ_INT(got.mode, STS_MODE_ENFORCE);
	CHECK_EQ_INT(got.nmx, 2);
	CHECK(strcmp(got.mx[0], "mx1.example.com") == 0);
	CHECK(strcmp(got.mx[1], "*.backup.example.com") == 0);
	CHECK(sts_policy_match_host(&got, "a.backup.example.com", 20));
	CHECK(!sts_policy_match_host(&got, "mx2.example.com", 15));
	/* Any case finds it. */
	CHECK(has(c, "EXAMPLE.com", 1002));
	/* A new policy replaces the old one. */
	CHECK_EQ_INT(stscache_put(c, "example.com", "20260102", &pol_b, 2000),
	    0);
	CHECK_EQ_INT(stscache_get(c, "example.com", 2001, &info, &got), 0);
	CHECK(strcmp(info.id, "20260102") == 0);
	CHECK_EQ_INT(got.nmx, 1);
	CHECK(strcmp(got.mx[0], "mx.other.test") == 0);
	CHECK_EQ_INT(stscache_count(c), 1);
	/* Refused: names and ids the parsers would not give. */
	CHECK_EQ_INT(stscache_put(c, "exa mple.com", "1", &pol_a, 1), -1);
	CHECK_EQ_INT(stscache_put(c, "example.com.", "1", &pol_a, 1), -1);
	CHECK_EQ_INT(stscache_put(c, "", "1", &pol_a, 1), -1);
	CHECK_EQ_INT(stscache_put(c, "x.test", "", &pol_a, 1), -1);
	CHECK_EQ_INT(stscache_put(c, "x.test", "a-b", &pol_a, 1), -1);
	CHECK_EQ_INT(stscache_put(c, "x.test",
	    "123456789012345678901234567890123", &pol_a, 1), -1);
	CHECK_EQ_INT(stscache_count(c), 1);
	CHECK_EQ_INT(stscache_remove(c, "example.com"), 0);
	CHECK(!has(c, "example.com", 2002));
	CHECK_EQ_INT(stscache_count(c), 0);
	stscache_free(c);
	stscache_free(NULL);
}

static void
test_expiry(void)
{
	stscache_t *c = stscache_new(0);

	CHECK_EQ_INT(stscache_put(c, "example.com", "1", &pol_b, 5000), 0);
	/* max_age 600: valid through 5599, gone at 5600. */
	CHECK(has(c, "example.com", 5599));
	CHECK(!has(c, "example.com", 5600));
	CHECK_EQ_INT(stscache_count(c), 0);
	/* It stays gone. */
	CHECK(!has(c, "example.com", 5000));
	stscache_free(c);
}

static void
test_lru_bound(void)
{
	stscache_t *c = stscache_new(3);

	CHECK_EQ_INT(stscache_put(c, "a.test", "1", &pol_a, 100), 0);
	CHECK_EQ_INT(stscache_put(c, "b.test", "1", &pol_a, 101), 0);
	CHECK_EQ_INT(stscache_put(c, "c.test", "1", &pol_a, 102), 0);
	/* a is used: b is now the least recently used. */
	CHECK(has(c, "a.test", 103));
	CHECK_EQ_INT(stscache_put(c, "d.test", "1", &pol_a, 104), 0);
	CHECK_EQ_INT(stscache_count(c), 3);
	CHECK(!has(c, "b.test", 105));
	CHECK(has(c, "a.test", 105));
	CHECK(has(c, "c.test", 105));
	CHECK(has(c, "d.test", 105));
	/* Many more: never above the bound, the last three stay. */
	for (int i = 0; i < 1000; i++) {
		char d[32];
		snprintf(d, sizeof(d), "n%d.test", i);
		CHECK_EQ_INT(stscache_put(c, d, "1", &pol_a, 200 + i), 0);
	}
	CHECK_EQ_INT(stscache_count(c), 3);
	CHECK(has(c, "n999.test", 2000));
	CHECK(has(c, "n997.test", 2000));
	CHECK(!has(c, "n996.test", 2000));
	stscache_free(c);

	/* A large table: the hash grows and every entry is found. */
	c = stscache_new(0);
	for (int i = 0; i < 5000; i++) {
		char d[32];
		snprintf(d, sizeof(d), "h%d.example", i);
		CHECK_EQ_INT(stscache_put(c, d, "1", &pol_b, 10), 0);
	}
	for (int i = 0; i < 5000; i++) {
		char d[32];
		snprintf(d, sizeof(d), "h%d.example", i);
		if (!has(c, d, 11)) {
			CHECK(has(c, d, 11));
			break;
		}
	}
	CHECK_EQ_INT(stscache_count(c), 5000);
	stscache_free(c);
}

static void
test_mode_none(void)
{
	stscache_t *c = stscache_new(0);
	sts_policy_t none;
	static sts_policy_t got;
	stscache_info_t info;

	mkpol(&none, STS_MODE_NONE, 3600, 0, NULL);
	CHECK_EQ_INT(stscache_put(c, "gone.test", "2", &none, 10), 0);
	CHECK_EQ_INT(stscache_get(c, "gone.test", 11, &info, &got), 0);
	CHECK_EQ_INT(info.mode, STS_MODE_NONE);
	CHECK_EQ_INT(got.mode, STS_MODE_NONE);
	CHECK_EQ_INT(got.nmx, 0);
	CHECK_EQ_INT(info.expires_at, 3610);
	/* Enforce or testing without mx is not a policy. */
	none.mode = STS_MODE_ENFORCE;
	CHECK_EQ_INT(stscache_put(c, "bad.test", "2", &none, 10), -1);
	stscache_free(c);
}

static void
test_negative(void)
{
	stscache_t *c = stscache_new(0);

	CHECK_EQ_INT(stscache_failed(c, "neg.test", "1", 100), 0);
	CHECK_EQ_INT(stscache_fail(c, "neg.test", "1", 100), 0);
	CHECK_EQ_INT(stscache_failed(c, "NEG.test", "1", 100), 1);
	CHECK_EQ_INT(stscache_failed(c, "neg.test", "1",
	    100 + STSCACHE_NEG_SECS - 1), 1);
	CHECK_EQ_INT(stscache_failed(c, "neg.test", "1",
	    100 + STSCACHE_NEG_SECS), 0);
	/* Another id is another policy: tried at once. */
	CHECK_EQ_INT(stscache_failed(c, "neg.test", "2", 101), 0);
	/* A marker is no policy. */
	CHECK(!has(c, "neg.test", 101));
	CHECK_EQ_INT(stscache_count(c), 0);
	/* A marker keeps the policy that is there. */
	CHECK_EQ_INT(stscache_put(c, "pol.test", "1", &pol_a, 100), 0);
	CHECK_EQ_INT(stscache_fail(c, "pol.test", "2", 200), 0);
	CHECK(has(c, "pol.test", 201));
	CHECK_EQ_INT(stscache_failed(c, "pol.test", "2", 201), 1);
	/* A stored policy clears the marker. */
	CHECK_EQ_INT(stscache_put(c, "pol.test", "2", &pol_a, 202), 0);
	CHECK_EQ_INT(stscache_failed(c, "pol.test", "2", 203), 0);
	/* An expired policy with a live marker: the marker stays. */
	CHECK_EQ_INT(stscache_put(c, "exp.test", "1", &pol_b, 1000), 0);
	CHECK_EQ_INT(stscache_fail(c, "exp.test", "9", 1500), 0);
	CHECK(!has(c, "exp.test", 1600));
	CHECK_EQ_INT(stscache_failed(c, "exp.test", "9", 1601), 1);
	stscache_free(c);
}

static char tmpdir[] = "/tmp/test_stscache.XXXXXX";

static char *
path_in(const char *name)
{
	static char buf[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
	return buf[k];
}

static int
count_files(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	if (d != NULL)
		closedir(d);
	return n;
}

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f == NULL)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
}

static char *
read_file(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void
test_save_load(void)
{
	stscache_t *c = stscache_new(0), *c2 = stscache_new(0);
	sts_policy_t none, big;
	static sts_policy_t got;
	stscache_info_t info;
	char err[256], *path = path_in(STSCACHE_FILE);
	unsigned skipped = 99;

	mkpol(&none, STS_MODE_NONE, 7200, 0, NULL);
	memset(&big, 0, sizeof(big));
	big.mode = STS_MODE_ENFORCE;
	big.max_age = STS_MAX_AGE_MAX;
	big.nmx = STS_MX_MAX;
	for (unsigned i = 0; i < STS_MX_MAX; i++) {
		/* Long patterns: 194 octets each. */
		snprintf(big.mx[i], sizeof(big.mx[i]), "%s%02u.%.60s.%.60s.%.60s"
		    ".%.6s", "*.", i, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
		    "dddddd");
	}
	CHECK_EQ_INT(stscache_put(c, "a.test", "A1", &pol_a, 1000), 0);
	CHECK_EQ_INT(stscache_put(c, "none.test", "N1", &none, 1001), 0);
	CHECK_EQ_INT(stscache_put(c, "big.test", "B1", &big, 1002), 0);
	CHECK_EQ_INT(stscache_put(c, "short.test", "S1", &pol_b, 1003), 0);
	CHECK(has(c, "a.test", 1500)); /* most recently used */
	CHECK_EQ_INT(stscache_fail(c, "neg.test", "X", 1500), 0);
	/* At 1700 short.test (max_age 600) has expired: not written. */
	CHECK_EQ_INT(stscache_save(c, path, 1700, err, sizeof(err)), 3);
	CHECK_EQ_INT(count_files(), 1);
	CHECK(strncmp(read_file(path), "starttls-proxy mta-sts cache 1\n"
	    "a.test A1 1000 87400 1500 enforce 86400 mx1.example.com,"
	    "*.backup.example.com\n", 100) == 0);
	{
		struct stat st;
		CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	}

	CHECK_EQ_INT(stscache_load(c2, path, 1800, &skipped, err,
	    sizeof(err)), 3);
	CHECK_EQ_INT(skipped, 0);
	CHECK_EQ_INT(stscache_count(c2), 3);
	CHECK_EQ_INT(stscache_get(c2, "a.test", 1801, &info, &got), 0);
	CHECK(strcmp(info.id, "A1") == 0);
	CHECK_EQ_INT(info.fetched_at, 1000);
	CHECK_EQ_INT(info.expires_at, 87400);
	CHECK_EQ_INT(got.nmx, 2);
	CHECK(strcmp(got.mx[1], "*.backup.example.com") == 0);
	CHECK_EQ_INT(stscache_get(c2, "none.test", 1801, &info, &got), 0);
	CHECK_EQ_INT(info.mode, STS_MODE_NONE);
	CHECK_EQ_INT(got.nmx, 0);
	CHECK_EQ_INT(stscache_get(c2, "big.test", 1801, &info, &got), 0);
	CHECK_EQ_INT(got.nmx, STS_MX_MAX);
	CHECK(memcmp(&got.mx, &big.mx, sizeof(big.mx)) == 0);
	CHECK(!has(c2, "short.test", 1801));
	/* Markers are not saved. */
	CHECK_EQ_INT(stscache_failed(c2, "neg.test", "X", 1801), 0);
	/* Loaded in LRU order: with room for one, the most recent is kept. */
	{
		stscache_t *c3 = stscache_new(1);
		CHECK_EQ_INT(stscache_load(c3, path, 1800, &skipped, err,
		    sizeof(err)), 1);
		CHECK(has(c3, "a.test", 1801));
		stscache_free(c3);
	}
	/* Expired by the time of loading: dropped, not counted as bad. */
	stscache_free(c2);
	c2 = stscache_new(0);
	CHECK_EQ_INT(stscache_load(c2, path, 7200 + 1001, &skipped, err,
	    sizeof(err)), 2);
	CHECK_EQ_INT(skipped, 0);
	CHECK(!has(c2, "none.test", 7200 + 1001));
	/* No file: nothing, no error. */
	CHECK_EQ_INT(stscache_load(c2, path_in("missing"), 1, &skipped, err,
	    sizeof(err)), 0);
	unlink(path);
	stscache_free(c);
	stscache_free(c2);
}

static void
test_load_damaged(void)
{
	stscache_t *c = stscache_new(0);
	char err[256], *path = path_in("damaged");
	unsigned skipped = 0;
	static char text[40000];
	size_t len;
	static char longline[STSCACHE_LINE_MAX + 100];

	memset(longline, 'a', sizeof(longline) - 1);
	len = (size_t)snprintf(text, sizeof(text),
	    "starttls-proxy mta-sts cache 1\n"
	    "good.test ID1 1000 2000 1000 enforce 1000 mx.good.test\n"
	    "good2.test ID2 1000 2000 1500 none 1000 -\n"
	    /* each of these is wrong in one way */
	    "Upper.test ID 1000 2000 1000 enforce 1000 mx.test\n"
	    "bad_.test. ID 1000 2000 1000 enforce 1000 mx.test\n"
	    "b.test I-D 1000 2000 1000 enforce 1000 mx.test\n"
	    "b.test ID 1000 2001 1000 enforce 1000 mx.test\n"
	    "b.test ID 1000 2000 999 enforce 1000 mx.test\n"
	    "b.test ID 1000 2000 1000 enforcing 1000 mx.test\n"
	    "b.test ID 1000 2000 1000 enforce 1000 -\n"
	    "b.test ID 1000 2000 1000 none 1000 mx..test\n"
	    "b.test ID 1000 2000 1000 enforce 1000 mx.test,\n"
	    "b.test ID 1000 2000 1000 enforce 1000 mx.test extra\n"
	    "b.test ID 1000 2000 1000 enforce 1000\n"
	    "b.test ID 1000 2000 1000 enforce 1000 mx.test\r\n"
	    "b.test ID +1000 2000 1000 enforce 1000 mx.test\n"
	    "b.test ID 1000  2000 1000 enforce 1000 mx.test\n"
	    "b.test ID 999999 1000999 999999 enforce 1000000 mx.test\n"
	    "b.test ID 1000 31558600 1000 enforce 31557601 mx.test\n"
	    "\n"
	    "%s\n"
	    "b.test ID 1000 2000 1000 enforce 1000 mx.te\001st\n",
	    longline);
	/* A NUL inside a line, and a last line without its newline. */
	memcpy(text + len, "n.test ID 1000 2000 1000 enforce 1000 mx\0.test\n"
	    "last.test ID 1000 2000 1000 enforce 1000 mx.test", 96);
	len += 96;
	write_file(path, text, len);
	CHECK_EQ_INT(stscache_load(c, path, 1100, &skipped, err, sizeof(err)),
	    2);
	CHECK_EQ_INT(skipped, 21);
	CHECK_EQ_INT(stscache_count(c), 2);
	CHECK(has(c, "good.test", 1100));
	CHECK(has(c, "good2.test", 1100));
	CHECK(!has(c, "b.test", 1100));
	CHECK(!has(c, "last.test", 1100));

	/* Not our header: refused whole. */
	write_file(path, "starttls-proxy mta-sts cache 2\n", 31);
	CHECK_EQ_INT(stscache_load(c, path, 1100, &skipped, err, sizeof(err)),
	    -1);
	write_file(path, "", 0);
	CHECK_EQ_INT(stscache_load(c, path, 1100, &skipped, err, sizeof(err)),
	    -1);
	unlink(path);
	stscache_free(c);
}

static void
test_save_atomic(void)
{
	stscache_t *c = stscache_new(0);
	char err[256], *path = path_in(STSCACHE_FILE);
	char *old = path_in("old-link"), before[256];

	CHECK_EQ_INT(stscache_put(c, "a.test", "1", &pol_a, 1000), 0);
	CHECK_EQ_INT(stscache_save(c, path, 1000, err, sizeof(err)), 1);
	snprintf(before, sizeof(before), "%s", read_file(path));
	/* A second name for the old file: replacing in place would change
	 * what it shows, a rename leaves it whole. */
	CHECK(link(path, old) == 0);
	CHECK_EQ_INT(stscache_put(c, "b.test", "2", &pol_b, 1001), 0);
	CHECK_EQ_INT(stscache_save(c, path, 1001, err, sizeof(err)), 2);
	CHECK(strcmp(read_file(old), before) == 0);
	CHECK(strcmp(read_file(path), before) != 0);
	CHECK(strstr(read_file(path), "b.test 2 1001") != NULL);
	unlink(old);
	/* No temporary file stays behind. */
	CHECK_EQ_INT(count_files(), 1);

	/* A failed save leaves the file as it was and no temporary file:
	 * here the rename fails (the target is a non-empty directory). */
	unlink(path);
	CHECK(mkdir(path, 0700) == 0);
	write_file(path_in(STSCACHE_FILE "/x"), "x", 1);
	CHECK_EQ_INT(stscache_save(c, path, 1002, err, sizeof(err)), -1);
	CHECK(strstr(err, "rename") != NULL);
	CHECK_EQ_INT(count_files(), 1);
	unlink(path_in(STSCACHE_FILE "/x"));
	rmdir(path);
	/* A directory that does not exist. */
	CHECK_EQ_INT(stscache_save(c, path_in("no/such/file"), 1002, err,
	    sizeof(err)), -1);
	CHECK_EQ_INT(count_files(), 0);
	stscache_free(c);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	setup();
	RUN(test_put_get);
	RUN(test_expiry);
	RUN(test_lru_bound);
	RUN(test_mode_none);
	RUN(test_negative);
	RUN(test_save_load);
	RUN(test_load_damaged);
	RUN(test_save_atomic);
	rmdir(tmpdir);
	return CHECK_DONE();
}
