/* Unit tests for proxy/log.c: escaping and line formats. */
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

int
main(void)
{
	RUN(test_text);
	RUN(test_json);
	RUN(test_escape);
	return CHECK_DONE();
}
