#!/bin/bash
# cryptofloor.sh -- the crypto floor under the proxy comparison: BoringSSL
# (android-libboringssl, what starttls-proxy links) beside OpenSSL 3
# (Debian's libcrypto.so.3, what nginx links), per operation, on one CPU.
#
#   tests/bench/cryptofloor.sh [PATH/TO/stp-cryptospeed]
#
# Default binary: build/tests/bench/stp-cryptospeed under the repository.
# BoringSSL is measured by stp-cryptospeed (tests/bench/cryptospeed.c),
# OpenSSL by `openssl speed` (a separate process: the two libraries never
# share an address space). Both are pinned to CPU 1 with taskset when there
# are two or more CPUs. Both divide by the CPU time of the measuring
# process (`openssl speed`'s default); CRYPTOFLOOR_WALL=1 makes both use
# wall-clock time (stp-cryptospeed -w, openssl speed -elapsed).
#
# Everything runs CRYPTOFLOOR_ROUNDS times (default 2), alternating the
# order (B O, O B, ...); the table shows the best round of each side and
# the spread between rounds. About 15 s a round with the defaults:
# CRYPTOFLOOR_SECONDS (default 0.5) per BoringSSL operation, 1 s per
# OpenSSL one (its -seconds takes whole seconds only).
#
# Matching `openssl speed` runs:
#   X25519 shared      speed ecdhx25519 ecdsap256 (derive only; openssl
#   ECDSA sign/verify  speed has no key generation timing)
#   AEAD open/seal     speed -aead [-decrypt] -evp CIPHER -bytes 16384: one
#                      TLS-like record per op (IV, 13-byte AAD, update,
#                      tag); -decrypt times decryption (tag check included,
#                      against a fake tag, so it fails, after all the work)
#   SHA-256 16 KB      speed -bytes 16384 sha256
#   HMAC-SHA256 64 B   speed -bytes 64 -hmac sha256 (key set up once, as
#                      stp-cryptospeed's "key reused" row)
#
# Nothing is left running: every command is in the foreground under
# timeout(1).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${1:-$REPO/build/tests/bench/stp-cryptospeed}
SECS=${CRYPTOFLOOR_SECONDS:-0.5}
ROUNDS=${CRYPTOFLOOR_ROUNDS:-2}
WALL=${CRYPTOFLOOR_WALL:-0}
OPENSSL=${OPENSSL:-openssl}

die() { echo "cryptofloor: $*" >&2; exit 1; }

[[ -x $BIN ]] || die "no stp-cryptospeed at $BIN (build it: ninja -C build stp-cryptospeed)"
command -v "$OPENSSL" >/dev/null || die "no openssl binary"
command -v timeout >/dev/null || die "no timeout(1)"
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || die "CRYPTOFLOOR_ROUNDS must be 1..99"
[[ $SECS =~ ^[0-9]*\.?[0-9]+$ ]] || die "CRYPTOFLOOR_SECONDS must be a number"

PIN=()
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
	PIN=(taskset -c 1)
fi
BFLAGS=(-t "$SECS" -q)
OFLAGS=(-mr -seconds 1)
if [[ $WALL == 1 ]]; then
	BFLAGS+=(-w)
	OFLAGS+=(-elapsed)
fi

TMP=$(mktemp -d /tmp/cryptofloor.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Rows: key | label | unit | openssl source. Units: ops (ops/s) or MB
# (10^6 bytes/s). The openssl source names what parse_openssl extracts.
ROWS=(
	"x25519_keygen|X25519 keygen|ops|-"
	"x25519_shared|X25519 shared secret|ops|ecdh"
	"ecdsa_p256_sign|ECDSA P-256 sign|ops|sign"
	"ecdsa_p256_verify|ECDSA P-256 verify|ops|verify"
	"aes128gcm_open_16k|AES-128-GCM open 16 KB|MB|aes128_open"
	"aes128gcm_seal_16k|AES-128-GCM seal 16 KB|MB|aes128_seal"
	"aes256gcm_open_16k|AES-256-GCM open 16 KB|MB|aes256_open"
	"chacha20poly1305_open_16k|ChaCha20-Poly1305 open 16 KB|MB|chacha_open"
	"sha256_16k|SHA-256 16 KB|MB|sha256"
	"hmac_sha256_64|HMAC-SHA256 64 B, key reused|ops|hmac"
	"hmac_sha256_64_oneshot|HMAC-SHA256 64 B, one-shot|ops|-"
)

# Runs BoringSSL once; writes "key value" lines (ops/s or MB/s) to $1.
run_boringssl() {
	local out=$1 json row key unit obj
	json=$(timeout -k 2 120 "${PIN[@]}" "$BIN" "${BFLAGS[@]}") ||
		die "stp-cryptospeed failed"
	: >"$out"
	for row in "${ROWS[@]}"; do
		IFS='|' read -r key _ unit _ <<<"$row"
		obj=$(grep -o "\"$key\":{[^}]*}" <<<"$json") || die "no $key in: $json"
		if [[ $unit == MB ]]; then
			sed -E 's/.*"mb_per_s":([0-9.]+).*/\1/' <<<"$obj"
		else
			sed -E 's/.*"ops_per_s":([0-9.]+).*/\1/' <<<"$obj"
		fi | sed "s/^/$key /" >>"$out"
	done
}

# One `openssl speed` run, pinned and bounded.
ossl() {
	timeout -k 2 60 "${PIN[@]}" "$OPENSSL" speed "${OFLAGS[@]}" "$@" 2>&1 ||
		die "openssl speed $* failed"
}

# The bytes/s of the only size of a -bytes run ("+F:idx:name:bytes_per_s").
ossl_mb() {
	awk -F: '$1 == "+F" { printf "%.2f\n", $4 / 1e6; found = 1 }
	    END { exit !found }' || die "cannot parse openssl speed output"
}

# Runs OpenSSL once; writes "source value" lines to $1.
run_openssl() {
	local out=$1 pk
	pk=$(ossl ecdhx25519 ecdsap256)
	{
		# +F4:idx:256:sign/s:verify/s  +F5:idx:253:derive/s:s/op
		awk -F: '$1 == "+F4" && $3 == 256 { print "sign", $4; print "verify", $5 }
		    $1 == "+F5" && $3 == 253 { print "ecdh", $4 }' <<<"$pk"
		echo "aes128_open $(ossl -aead -decrypt -evp aes-128-gcm -bytes 16384 | ossl_mb)"
		echo "aes128_seal $(ossl -aead -evp aes-128-gcm -bytes 16384 | ossl_mb)"
		echo "aes256_open $(ossl -aead -decrypt -evp aes-256-gcm -bytes 16384 | ossl_mb)"
		echo "chacha_open $(ossl -aead -decrypt -evp chacha20-poly1305 -bytes 16384 | ossl_mb)"
		echo "sha256 $(ossl -bytes 16384 sha256 | ossl_mb)"
		# ops/s = bytes/s / 64
		echo "hmac $(ossl -bytes 64 -hmac sha256 | ossl_mb | awk '{ printf "%.2f", $1 * 1e6 / 64 }')"
	} >"$out"
	# A die inside $(...) only ends that subshell: check every value here.
	awk 'NF == 2 && $2 ~ /^[0-9.]+$/ && $2 > 0 { n++ } END { exit n != 9 }' "$out" ||
		die "cannot parse openssl speed output: $(tr '\n' ' ' <"$out")"
}

bver=$(dpkg-query -W -f '${Version}' android-libboringssl 2>/dev/null || echo "?")
over=$("$OPENSSL" version)
echo "BoringSSL: android-libboringssl $bver ($(readlink -f "$BIN"))"
echo "OpenSSL:   $over"
echo "CPU:       $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs," \
	"pinned: ${PIN[*]:-no}; clock: $([[ $WALL == 1 ]] && echo wall || echo CPU time)"

start=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=(b o); else order=(o b); fi
	for side in "${order[@]}"; do
		if [[ $side == b ]]; then
			run_boringssl "$TMP/b.$r"
		else
			run_openssl "$TMP/o.$r"
		fi
	done
	echo "round $r/$ROUNDS done ($((SECONDS - start)) s)" >&2
done

# best = max over rounds; spread = (max - min) / max in percent.
best_of() {   # file-prefix key -> "best spread" or "- -"
	local prefix=$1 key=$2
	cat "$TMP/$prefix".* | awk -v k="$key" '$1 == k && $2 > 0 {
		n++; if (n == 1 || $2 > mx) mx = $2; if (n == 1 || $2 < mn) mn = $2 }
	    END { if (n) printf "%.2f %.0f\n", mx, 100 * (mx - mn) / mx; else print "- -" }'
}

fmt() {       # value unit spread -> cell
	local v=$1 unit=$2 sp=$3
	if [[ $v == - ]]; then
		echo "n/a"
	elif [[ $unit == ops ]]; then
		awk -v v="$v" -v s="$sp" 'BEGIN { printf "%.0f/s %.2f us ~%s%%", v, 1e6 / v, s }'
	else
		awk -v v="$v" -v s="$sp" 'BEGIN { printf "%.0f MB/s ~%s%%", v, s }'
	fi
}

echo
echo "Best of $ROUNDS rounds; ~N% = spread between rounds; ratio = OpenSSL / BoringSSL" \
	"throughput (>1: OpenSSL faster)."
printf '%-30s | %-28s | %-28s | %s\n' "operation" "BoringSSL (android 13)" \
	"OpenSSL 3.0 (Debian)" "ratio"
printf '%s\n' "-------------------------------+------------------------------+------------------------------+------"
for row in "${ROWS[@]}"; do
	IFS='|' read -r key label unit src <<<"$row"
	read -r bv bs <<<"$(best_of b "$key")"
	if [[ $src == - ]]; then
		ov=- os=-
	else
		read -r ov os <<<"$(best_of o "$src")"
	fi
	if [[ $bv != - && $ov != - ]]; then
		ratio=$(awk -v b="$bv" -v o="$ov" 'BEGIN { printf "%.2f", o / b }')
	else
		ratio=-
	fi
	printf '%-30s | %-28s | %-28s | %s\n' "$label" "$(fmt "$bv" "$unit" "$bs")" \
		"$(fmt "$ov" "$unit" "$os")" "$ratio"
done
echo "($((SECONDS - start)) s)"
