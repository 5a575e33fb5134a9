#!/bin/bash
# test.sh -- builds starttls-proxy and runs every test (unit and end-to-end)
# twice: a normal build with -Werror (build/), then a clang build with
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), then a short
# bounded run of every libFuzzer target (scripts/fuzz.sh 20: 20 s each, in
# build-fuzz/). Exits non-zero when anything fails; every stage runs even if
# an earlier one fails.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || exit 1

jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 8 ] && jobs=8
status=0

suite() { # suite DIR CMAKE-ARGS...
	local dir=$1
	shift
	echo "=== $dir: configure and build"
	if ! cmake -S . -B "$dir" -G Ninja "$@" || ! cmake --build "$dir"; then
		echo "=== $dir: BUILD FAILED" >&2
		status=1
		return
	fi
	echo "=== $dir: ctest"
	if ! ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 300; then
		echo "=== $dir: TESTS FAILED" >&2
		status=1
	fi
}

suite build -DSTP_WERROR=ON

# Sanitizer reports must fail the test that caused them, not scroll by.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
suite build-asan -DSTP_SANITIZE=ON -DSTP_WERROR=ON -DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=Debug

# Fuzzing: a short bounded run per target; a crash or broken property fails.
if ! bash scripts/fuzz.sh 20; then
	echo "=== build-fuzz: FUZZING FOUND SOMETHING (or failed to build)" >&2
	status=1
fi

if [ $status -eq 0 ]; then
	echo "=== all tests passed (build/, build-asan/ and build-fuzz/)"
else
	echo "=== FAILURES (see above)" >&2
fi
exit $status
