/*
 * check.h: the unit test harness. Each test file is its own executable,
 * registered with ctest; main() calls RUN(fn) for each test function.
 * A failed CHECK prints file:line and the expression and marks the run
 * failed; the process exits 1 if any check failed.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(expr)                                                        \
	do {                                                               \
		check_count++;                                             \
		if (!(expr)) {                                             \
			check_failures++;                                  \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",       \
			    __FILE__, __LINE__, #expr);                    \
		}                                                          \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                 \
	do {                                                               \
		long long check_a_ = (long long)(a);                       \
		long long check_b_ = (long long)(b);                       \
		check_count++;                                             \
		if (check_a_ != check_b_) {                                \
			check_failures++;                                  \
			fprintf(stderr, "%s:%d: %s == %lld, want %lld\n",  \
			    __FILE__, __LINE__, #a, check_a_, check_b_);   \
		}                                                          \
	} while (0)

/* Compares n bytes of memory; prints both sides on failure. */
#define CHECK_MEM(got, gotlen, want, wantlen)                              \
	do {                                                               \
		size_t check_gl_ = (gotlen), check_wl_ = (wantlen);        \
		check_count++;                                             \
		if (check_gl_ != check_wl_ ||                              \
		    memcmp((got), (want), check_wl_) != 0) {               \
			check_failures++;                                  \
			fprintf(stderr, "%s:%d: %s: got [%.*s] (%zu), "    \
			    "want [%.*s] (%zu)\n", __FILE__, __LINE__,     \
			    #got, (int)check_gl_, (const char *)(got),     \
			    check_gl_, (int)check_wl_,                     \
			    (const char *)(want), check_wl_);              \
		}                                                          \
	} while (0)

#define RUN(fn)                                                            \
	do {                                                               \
		int check_before_ = check_failures;                        \
		fn();                                                      \
		fprintf(stderr, "%s %s\n",                                 \
		    check_failures == check_before_ ? "ok  " : "FAIL", #fn); \
	} while (0)

#define CHECK_DONE()                                                       \
	(fprintf(stderr, "%d checks, %d failed\n", check_count,            \
	     check_failures),                                              \
	    check_failures ? 1 : 0)

#endif
