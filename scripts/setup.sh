#!/bin/bash
# setup.sh -- installs every Debian 12 package that building, running and
# testing starttls-proxy needs. Idempotent: when all are installed it only
# checks (no apt-get at all). Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(
	# build
	build-essential cmake ninja-build pkg-config
	libuv1-dev android-libboringssl-dev libinih-dev
	# the resolver (DANE, MTA-STS): c-ares, whose only dependency is libc
	libc-ares-dev
	# sanitizer build (scripts/test.sh) and formatting
	clang libclang-rt-14-dev llvm clang-format
	# tests: real peers and tools
	swaks libnet-ssleay-perl libio-socket-ssl-perl postfix openssl
	ca-certificates python3 python3-pytest python3-yaml
	# OCSP responses for the stapling tests (test_ocsp.py)
	python3-cryptography
	binutils iproute2 iptables procps curl
	# (OpenSMTPD is a test backend too, but never installed: it conflicts
	# with postfix. tests/tools/opensmtpd-backend.sh downloads its .deb with
	# apt-get download and runs it unpacked, with util-linux's unshare.)
	util-linux
	# the offline DNSSEC and MTA-STS lab (tests/tools/dnslab.py,
	# fakedns.py): a signing tool, an authoritative server, a validating
	# resolver, a scripted resolver, and an independent MTA-STS
	# implementation to cross-check the policy parser
	ldnsutils nsd unbound dns-root-data python3-dnslib
	postfix-mta-sts-resolver
	# TLS scan, metrics check, fuzzing (scripts/fuzz.sh)
	testssl.sh prometheus libfuzzer-14-dev
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#packages[@]} packages present"
	exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=(sudo)
	else
		echo "setup: must run as root to install: ${missing[*]}" >&2
		exit 1
	fi
fi

# Postfix is only a tool here (smtp-sink, a legacy server for tests): no
# system mail configuration, no questions.
echo "postfix postfix/main_mailer_type select No configuration" |
	"${sudo[@]}" debconf-set-selections
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}"
