#!/bin/bash
# run.sh [CONFIG] -- installs packages, builds, and runs starttls-proxy in
# the foreground with CONFIG (default config/starttls-proxy.ini).
#
# Test certificates are made in build/certs/ if missing. When the configured
# backend is a loopback address where nothing listens, a stand-in legacy
# server (tests/tools/sink.py) is started there; it stores every message
# under build/sink/ and is stopped when the proxy stops (Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:-config/starttls-proxy.ini}

bash scripts/setup.sh
cmake -S . -B build -G Ninja
cmake --build build
bash tests/tools/mkcerts.sh build/certs >/dev/null

if [ ! -f "$config" ]; then
	echo "run: $config not found" >&2
	exit 1
fi

# ini_get SECTION KEY -- first value of KEY in [SECTION] (no inheritance).
ini_get() {
	awk -v want="[$1]" -v key="$2" '
		/^[ \t]*[;#]/ { next }
		/^[ \t]*\[/ { gsub(/[ \t]/, ""); sect = $0; next }
		sect == want {
			line = $0
			sub(/^[ \t]*/, "", line)
			if (index(line, key) == 1) {
				rest = substr(line, length(key) + 1)
				if (rest ~ /^[ \t]*=/) {
					sub(/^[ \t]*=[ \t]*/, "", rest)
					sub(/[ \t]*([;#].*)?$/, "", rest)
					print rest
					exit
				}
			}
		}' "$config"
}

backend=$(ini_get inbound backend)
listen=$(ini_get inbound listen)
smtps_listen=""
for s in $(awk '/^[ \t]*\[inbound:/ { gsub(/[][ \t]/, ""); print }' "$config"); do
	if [ "$(ini_get "$s" tls)" = implicit ]; then
		smtps_listen=$(ini_get "$s" listen)
		break
	fi
done

sink_pid=""
proxy_pid=""
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$proxy_pid" ] && kill -0 "$proxy_pid" 2>/dev/null; then
		kill -TERM "$proxy_pid" 2>/dev/null || true
		wait "$proxy_pid" 2>/dev/null || true
	fi
	if [ -n "$sink_pid" ] && kill -0 "$sink_pid" 2>/dev/null; then
		kill -TERM "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bhost=${backend%:*}
bport=${backend##*:}
bhost=${bhost#[}
bhost=${bhost%]}
if [ -n "$backend" ] && [[ $bhost == 127.* || $bhost == localhost || $bhost == ::1 ]] &&
	[ -z "$(ss -Hltn "sport = :$bport" 2>/dev/null)" ]; then
	mkdir -p build/sink
	fifo=$(mktemp -u build/sink/.ready.XXXXXX)
	mkfifo "$fifo"
	/usr/bin/python3 tests/tools/sink.py --listen "$backend" --dir build/sink \
		--max-seconds 0 >"$fifo" &
	sink_pid=$!
	if ! read -r -t 10 ready <"$fifo" || [[ $ready != ready* ]]; then
		rm -f "$fifo"
		echo "run: the stand-in legacy server did not start on $backend" >&2
		exit 1
	fi
	rm -f "$fifo"
	echo "run: stand-in legacy server (tests/tools/sink.py, pid $sink_pid) on $backend," \
		"messages go to $(pwd)/build/sink/msg-N.eml"
else
	echo "run: backend $backend is already listening (or not on loopback): using it"
fi

cat <<INFO

Send a test message through the proxy (STARTTLS on ${listen:-the [inbound] listener}):
  swaks --server ${listen:-127.0.0.1:10025} --tls --from a@example.org --to b@example.net
${smtps_listen:+Implicit TLS (SMTPS):
  swaks --server $smtps_listen --tls-on-connect --from a@example.org --to b@example.net
}Verify against the test CA: add --tls-verify --tls-ca-path build/certs/ca.pem
Messages arrive at the legacy server${sink_pid:+: build/sink/msg-N.eml (connection transcripts in build/sink/conn-N.log)}.
Stop with Ctrl-C.

INFO

build/starttls-proxy -c "$config" &
proxy_pid=$!
wait "$proxy_pid"
