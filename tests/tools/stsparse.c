/*
 * stsparse FILE: runs the proxy's MTA-STS policy parser (sts_policy_parse,
 * proxy/sts.h) on the bytes of FILE and prints one line:
 *   ok mode=MODE max_age=N mx=PATTERN,PATTERN,...
 *   invalid WHY
 * Exit status 0 for either verdict, 2 when FILE cannot be read. Used by
 * tests/e2e/test_sts_oracle.py to compare our parser with another one.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sts.h"

/* Reads at most this much: above STS_BODY_MAX, so the parser sees (and
 * refuses) an oversized policy itself. */
#define STSPARSE_READ_MAX (4u * STS_BODY_MAX)

static uint8_t buf[STSPARSE_READ_MAX];
static sts_policy_t pol;

int
main(int argc, char **argv)
{
	const char *why = NULL;
	FILE *f;
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
		return 2;
	}
	n = fread(buf, 1, sizeof(buf), f);
	if (ferror(f)) {
		perror(argv[1]);
		fclose(f);
		return 2;
	}
	fclose(f);
	if (sts_policy_parse(buf, n, &pol, &why) == -1) {
		printf("invalid %s\n", why != NULL ? why : "(no reason)");
		return 0;
	}
	printf("ok mode=%s max_age=%u mx=", sts_mode_name(pol.mode),
	    (unsigned)pol.max_age);
	for (unsigned i = 0; i < pol.nmx; i++)
		printf("%s%s", i ? "," : "", pol.mx[i]);
	printf("\n");
	return 0;
}
