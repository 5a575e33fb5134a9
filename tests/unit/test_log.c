/* Unit tests for proxy/log.c: escaping and line formats. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

/* Runs one log_event with stderr captured; returns the line. */
static char captured[8192];

static const char *
capture(log_format_t fmt, const char *value)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	fflush(stderr);
	dup2(fileno(f), 2);
	log_setup(LOG_INFO, fmt);
	log_event(LOG_INFO, "test", "session", "abc", "peer", value, NULL);
	log_event(LOG_DEBUG, "hidden", NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(captured, 1, sizeof(captured) - 1, f);
	captured[n] = '\0';
	fclose(f);
	return captured;
}

static void
test_text(void)
{
	const char *l = capture(LOG_FORMAT_TEXT, "plain");
	CHECK(strstr(l, " level=info event=test session=abc peer=plain\n") !=
	    NULL);
	CHECK(strstr(l, "hidden") == NULL);
	/* A peer cannot break the line or forge a field. */
	l = capture(LOG_FORMAT_TEXT, "x\r\nts=forged event=\"evil\"");
	CHECK(strstr(l, "peer=\"x\\x0d\\x0ats=forged event=\\\"evil\\\"\"\n")
	    != NULL);
	CHECK(strchr(l, '\n') == l + strlen(l) - 1);
	l = capture(LOG_FORMAT_TEXT, "");
	CHECK(strstr(l, "peer=\"\"\n") != NULL);
}

static void
test_json(void)
{
	const char *l = capture(LOG_FORMAT_JSON, "a\"b\\c\x01");
	CHECK(l[0] == '{');
	CHECK(strstr(l, "\"event\":\"test\",\"session\":\"abc\","
	    "\"peer\":\"a\\\"b\\\\c\\u0001\"}\n") != NULL);
}

static void
test_escape(void)
{
	char out[8];
	const uint8_t in[] = { 'a', '\0', 'b' };

	CHECK(strcmp(log_escape(in, sizeof(in), out, sizeof(out)), "a?b") ==
	    0);
	CHECK(strcmp(log_escape((const uint8_t *)"0123456789", 10, out,
	    sizeof(out)), "0123456") == 0);
}

/*
 * A reload changes the settings while workers log: every line must come out
 * whole, in one format. Under ThreadSanitizer (see DEVELOPERS.md) the old
 * plain struct was reported as a data race here.
 */
static atomic_int race_stop;

static void *
race_setup(void *arg)
{
	(void)arg;
	for (int i = 0; !atomic_load(&race_stop); i++)
		log_setup(i & 1 ? LOG_DEBUG : LOG_INFO,
		    i & 2 ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT);
	return NULL;
}

static void
test_reload_race(void)
{
	FILE *f = tmpfile();
	int saved = dup(2), lines = 0, bad = 0;
	char buf[8192];
	pthread_t t;

	fflush(stderr);
	dup2(fileno(f), 2);
	CHECK(pthread_create(&t, NULL, race_setup, NULL) == 0);
	for (int i = 0; i < 20000; i++)
		log_event(LOG_INFO, "race", "session", "abc", NULL);
	atomic_store(&race_stop, 1);
	pthread_join(t, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_setup(LOG_INFO, LOG_FORMAT_TEXT);
	rewind(f);
	while (fgets(buf, sizeof buf, f) != NULL) {
		lines++;
		if (strncmp(buf, "ts=", 3) == 0)
			bad += strstr(buf, " level=info event=race session=abc\n")
			    == NULL;
		else
			bad += strncmp(buf, "{\"ts\":", 6) != 0 ||
			    strstr(buf, "\"event\":\"race\"") == NULL;
	}
	fclose(f);
	CHECK_EQ_INT(lines, 20000);
	CHECK_EQ_INT(bad, 0);
}

int
main(void)
{
	RUN(test_text);
	RUN(test_json);
	RUN(test_escape);
	RUN(test_reload_race);
	return CHECK_DONE();
}
