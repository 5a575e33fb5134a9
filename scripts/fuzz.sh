#!/bin/bash
# fuzz.sh [SECONDS] [TARGET...] -- builds the libFuzzer targets of tests/fuzz/
# (clang, ASan+UBSan, in build-fuzz/) and runs each for SECONDS (default 60).
#
#   scripts/fuzz.sh                  every target, 60 s each
#   scripts/fuzz.sh 20               the short CI stage of scripts/test.sh
#   FUZZ_JOBS=2 scripts/fuzz.sh 600  the long run: 10 min each, two at a time
#   scripts/fuzz.sh 300 body ehlo    some targets (fuzz_ prefix optional)
#   FUZZ_DIR=build-fz scripts/fuzz.sh   build and run in build-fz/ instead
#
# The committed seeds in tests/fuzz/corpus/TARGET/ are only read; what a run
# finds goes to build-fuzz/corpus-TARGET/ (kept between runs, so later runs
# start from there), crash inputs to build-fuzz/artifacts/, each run's output
# to build-fuzz/logs/TARGET.log. Exits non-zero when a target crashed, broke
# a property, leaked, timed out on one input or could not be built. Per
# target it prints runs executed, coverage (edges and features), exec/s and
# the corpus size. Reproduce a finding with:
#   build-fuzz/fuzz/TARGET build-fuzz/artifacts/TARGET-crash-...
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac
jobs=${FUZZ_JOBS:-1}
dir=${FUZZ_DIR:-build-fuzz} # another build directory, e.g. for a private run

# -max_len per target: a little over the largest input the proxy hands the
# parser (SMTP_CMD_LINE_MAX 12288, SMTP_REPLY_LINE_MAX 2048,
# SMTP_EHLO_REPLY_MAX 8192); the body filter streams, so any length will
# do; config files are small but the example is ~10 kB; MTA-STS policy
# responses have a head of at most HTTP_RESPONSE_HEAD_MAX.
max_len() {
	case $1 in
	fuzz_cmdline) echo 16384 ;;
	fuzz_canon) echo 16384 ;;
	fuzz_reply) echo 4096 ;;
	fuzz_ehlo) echo 8192 ;;
	fuzz_body) echo 4096 ;;
	fuzz_proxyproto) echo 2048 ;; # over PROXYPROTO_MAX (1040)
	fuzz_http) echo 12288 ;; # over HTTP_HEAD_MAX (8192) + 4 control bytes
	fuzz_config) echo 16384 ;;
	# HTTP_RESPONSE_HEAD_MAX (16384) + a body + 6 control bytes.
	fuzz_http_response) echo 24576 ;;
	# Policies are bounded at 64 KiB, but real ones are a few hundred
	# octets; the 64 KiB bound itself is a unit test.
	fuzz_sts) echo 8192 ;;
	fuzz_dane) echo 2048 ;; # up to 12 records of 4 + 255 octets, enough for digests and a Full(0) SPKI
	fuzz_ocsp) echo 8192 ;; # a basic response with a few SingleResponses
	fuzz_dnsmsg) echo 4097 ;; # control byte + over DNSMSG_UDP_PAYLOAD (1232), with room for TCP-sized answers
	*) echo 4096 ;;
	esac
}

# Named targets: only those are built (a target that does not build does
# not stop the others from running); none named: every target.
build=(fuzz)
if [ $# -gt 0 ]; then
	build=()
	for t in "$@"; do
		case $t in fuzz_*) ;; *) t=fuzz_$t ;; esac
		if [ ! -f "tests/fuzz/$t.c" ]; then
			echo "fuzz: no target $t (see tests/fuzz/)" >&2
			exit 2
		fi
		build+=("$t")
	done
fi

echo "=== $dir: configure and build ${build[*]}"
if ! cmake -S . -B "$dir" -G Ninja -DSTP_FUZZ=ON -DSTP_WERROR=ON \
	-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
	! cmake --build "$dir" --target "${build[@]}"; then
	echo "=== fuzz: BUILD FAILED" >&2
	exit 1
fi

targets=()
if [ $# -eq 0 ]; then
	for src in tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$src" .c)")
	done
else
	targets=("${build[@]}")
fi
mkdir -p "$dir/artifacts" "$dir/logs"

# run_one TARGET: one bounded libFuzzer run; its exit status is libFuzzer's.
run_one() {
	local t=$1 seeds=tests/fuzz/corpus/$1 work=$dir/corpus-$1
	local -a seeddir=()
	mkdir -p "$work"
	[ -d "$seeds" ] && seeddir=("$seeds")
	# -timeout: one input taking 10 s is a finding (a hang), not patience.
	# The outer timeout only guards against libFuzzer itself wedging.
	timeout --kill-after=30 $((seconds + 300)) "$dir/fuzz/$t" \
		-max_total_time="$seconds" -max_len="$(max_len "$t")" \
		-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$t-" \
		"$work" "${seeddir[@]}" >"$dir/logs/$t.log" 2>&1
}

# report TARGET STATUS: the figures of one run, from its log.
report() {
	local t=$1 rc=$2 log=$dir/logs/$1.log
	local runs cov ft corp eps line
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" |
		tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
	corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$line")
	printf '%-16s %s  runs=%s exec/s=%s cov=%s ft=%s corpus=%s\n' "$t" \
		"$([ "$rc" -eq 0 ] && echo ok || echo "FAILED(rc=$rc)")" \
		"${runs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|property failed|SUMMARY|Test unit written|^artifact' \
			"$log" | head -10 | sed 's/^/    /' >&2
		echo "    full log: $log" >&2
	fi
}

echo "=== fuzz: ${#targets[@]} target(s), ${seconds}s each, $jobs at a time"
status=0
declare -A pids=()
# reap: waits for one run to end (wait -n -p: bash >= 5.1) and reports it.
reap() {
	local p rc
	wait -n -p p
	rc=$?
	report "${pids[$p]}" $rc
	[ $rc -eq 0 ] || status=1
	unset "pids[$p]"
}
for t in "${targets[@]}"; do
	while [ ${#pids[@]} -ge "$jobs" ]; do
		reap
	done
	run_one "$t" &
	pids[$!]=$t
done
while [ ${#pids[@]} -gt 0 ]; do
	reap
done

if [ $status -eq 0 ]; then
	echo "=== fuzz: no finding"
else
	echo "=== fuzz: FINDINGS (inputs in $dir/artifacts/)" >&2
fi
exit $status
