#!/bin/bash
# OpenSMTPD (Debian 12: 6.8) as a plaintext legacy backend, without
# installing the package: Debian's MTAs conflict with one another (Postfix is
# installed), so the .deb is downloaded once into a cache and unpacked.
#
#   opensmtpd-backend.sh up ADDR PORT DIR   listen on ADDR:PORT; every recipient
#                                           is delivered into DIR/varlib/stp-maildir/new/;
#                                           prints the daemon's PID last
#   opensmtpd-backend.sh down DIR           stop it (by the PID in DIR/smtpd.pid)
#
# Exit status 3: OpenSMTPD cannot run here (no package download, no private
# mount namespace); the caller skips. Needs root.
#
# Worth knowing: OpenSMTPD answers a second EHLO/HELO in one session with
# "503 5.5.1 Invalid command: Already identified" (RFC 5321 4.1.4 allows
# it), which is what a STARTTLS-terminating proxy must cope with (issue #16).
#
# The binary has its paths compiled in: helpers in /usr/libexec/opensmtpd,
# chroot /var/lib/opensmtpd/empty, queue /var/spool/smtpd, control socket
# /var/run/smtpd.sock, users opensmtpd and opensmtpq. Instead of creating
# them on the machine, the daemon runs in a private mount namespace
# (unshare -m) where DIR's own copies are bind-mounted over /usr/libexec,
# /var/lib, /var/spool, /run and /etc/passwd, /etc/group: the machine is left
# as it was, and two instances do not share a queue or a control socket.
#
# Cache of the .deb and its unpacked tree: $STP_CACHE_DIR/opensmtpd
# (default ~/.cache/starttls-proxy).
set -euo pipefail

die() { echo "$*" >&2; exit 1; }
unavailable() { echo "$*" >&2; exit 3; }

cmd=${1:-}
case "$cmd" in
down)
	dir=$2
	if [ -f "$dir/smtpd.pid" ]; then
		pid=$(cat "$dir/smtpd.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/smtpd.pid"
	fi
	exit 0
	;;
up) ;;
*) die "usage: $0 up ADDR PORT DIR | down DIR" ;;
esac

addr=$2 port=$3 dir=$4
[ "$(id -u)" = 0 ] || unavailable "needs root"
command -v unshare >/dev/null || unavailable "unshare not found"

cache=${STP_CACHE_DIR:-$HOME/.cache/starttls-proxy}/opensmtpd
mkdir -p "$cache"
if [ ! -x "$cache/pkg/usr/sbin/smtpd" ]; then
	# apt's sandbox user cannot write a root-owned cache: download in a
	# directory of its own, bounded in time.
	tmp=$(mktemp -d)
	chmod 755 "$tmp"
	if ! (cd "$tmp" && timeout 120 apt-get download opensmtpd >/dev/null 2>&1); then
		rm -rf "$tmp"
		unavailable "apt-get download opensmtpd failed (no network or no package source)"
	fi
	rm -rf "$cache/pkg"
	dpkg -x "$tmp"/opensmtpd_*.deb "$cache/pkg"
	mv "$tmp"/opensmtpd_*.deb "$cache/"
	rm -rf "$tmp"
fi

root="$dir/root"
rm -rf "$root"
mkdir -p "$root/varlib/opensmtpd/empty" "$root/varlib/stp-maildir" "$root/spool" \
	"$root/run" "$root/etc"
chmod 755 "$root" "$root/varlib" "$root/varlib/opensmtpd" "$root/varlib/opensmtpd/empty" \
	"$root/spool" "$root/run"
# Delivery runs as nobody: the Maildir is reached through the bind mount of
# varlib, whatever the modes of DIR's parents (a 0700 pytest tmpdir).
chown nobody "$root/varlib/stp-maildir"
cp /etc/passwd "$root/etc/passwd"
cp /etc/group "$root/etc/group"
grep -q '^opensmtpd:' "$root/etc/passwd" ||
	echo 'opensmtpd:x:64990:64990::/var/lib/opensmtpd/empty:/usr/sbin/nologin' >>"$root/etc/passwd"
grep -q '^opensmtpq:' "$root/etc/passwd" ||
	echo 'opensmtpq:x:64991:64991::/var/lib/opensmtpd/empty:/usr/sbin/nologin' >>"$root/etc/passwd"
grep -q '^opensmtpd:' "$root/etc/group" || echo 'opensmtpd:x:64990:' >>"$root/etc/group"
grep -q '^opensmtpq:' "$root/etc/group" || echo 'opensmtpq:x:64991:' >>"$root/etc/group"

cat >"$dir/smtpd.conf" <<EOF
table vusers { "@" = "nobody" }
listen on $addr port $port
action "d" maildir "/var/lib/stp-maildir" virtual <vusers>
match from any for any action "d"
EOF

# The namespace's mounts, then the daemon in the foreground (exec: the PID
# unshare was started with is the daemon's).
inner=$(cat <<'EOF'
set -e
mount --make-rprivate /
mount --bind "$R/varlib" /var/lib
mount --bind "$R/spool" /var/spool
mount --bind "$R/run" /run
mount --bind "$P/usr/libexec" /usr/libexec
mount --bind "$R/etc/passwd" /etc/passwd
mount --bind "$R/etc/group" /etc/group
"$P/usr/sbin/smtpd" -n -f "$C" >/dev/null
exec "$P/usr/sbin/smtpd" -d -f "$C"
EOF
)
if ! unshare -m true 2>/dev/null; then
	unavailable "no private mount namespace (unshare -m not permitted)"
fi
R="$root" P="$cache/pkg" C="$dir/smtpd.conf" unshare -m bash -c "$inner" \
	>"$dir/smtpd.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/smtpd.pid"
for _ in $(seq 100); do
	if ss -Hltn "sport = :$port" | grep -q .; then
		echo "$pid"
		exit 0
	fi
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill "$pid" 2>/dev/null || true
rm -f "$dir/smtpd.pid"
die "OpenSMTPD did not start: $(tail -5 "$dir/smtpd.log")"
