/*
 * fuzz.h: helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK aborts on a broken property even in release builds (assert()
 * is compiled out by NDEBUG), so libFuzzer records the input as a crash.
 * fuzz_dup copies peer bytes into a heap block of exactly n bytes, so that
 * AddressSanitizer reports any read past the length a parser was given.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(expr)                                                   \
	do {                                                               \
		if (!(expr)) {                                             \
			fprintf(stderr, "%s:%d: property failed: %s\n",    \
			    __FILE__, __LINE__, #expr);                    \
			abort();                                           \
		}                                                          \
	} while (0)

/*
 * Returns a malloc'd copy of p[0..n); the caller frees it. For n == 0 this
 * is a zero-size block (under ASan every access to it is reported).
 */
static inline uint8_t *
fuzz_dup(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n);

	FUZZ_CHECK(q != NULL || n == 0);
	if (n > 0)
		memcpy(q, p, n);
	return q;
}

/* libFuzzer's entry point, declared for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
