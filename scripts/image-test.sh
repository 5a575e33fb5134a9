#!/bin/bash
# image-test.sh -- checks the container image recipe (Dockerfile, runtime
# stage) without a Docker engine. Opt-in: needs root, debootstrap (installed
# with apt-get when missing) and the Debian mirror; not part of
# scripts/test.sh.
#
#   scripts/image-test.sh [--binary PATH] [--rebuild-rootfs] [--keep]
#
# What it does, mirroring the Dockerfile's runtime stage:
#   1. builds the proxy as the build stage does (Release, cmake --install
#      --strip into a staging tree; build-image/), or takes --binary PATH;
#   2. makes a Debian 12 root file system with debootstrap --variant=minbase
#      plus exactly the packages of deploy/runtime-packages.txt (the file the
#      Dockerfile installs from), cached in build/image-rootfs/base and made
#      anew only when the list, suite or mirror change (or --rebuild-rootfs);
#   3. in a fresh copy (build/image-rootfs/run): the same user (uid/gid
#      10025), directories, binaries and file capabilities as the Dockerfile,
#      the ini of deploy/kubernetes/configmap.yaml as
#      /etc/starttls-proxy/starttls-proxy.ini and test certificates
#      (tests/tools/mkcerts.sh) as /etc/starttls-proxy/tls/tls.{crt,key};
#   4. runs inside it with chroot, as uid 10025 under a container-like
#      capability bounding set (setpriv):
#        - every library resolves (ldd), no build tools, no libcap2-bin;
#        - starttls-proxy -V, both binaries; the -netadmin one refuses to
#          start without NET_ADMIN in the bounding set (as in a pod that
#          forgot to add it);
#        - starttls-proxy -t -c /etc/starttls-proxy/starttls-proxy.ini (the
#          Kubernetes ConfigMap's ini);
#        - a smoke test on high loopback ports: swaks on the host sends
#          through the chrooted proxy (STARTTLS, implicit TLS, and an
#          outbound listener with mark = 0x2a) to tests/tools/sink.py on the
#          host, and the messages must arrive; the plain binary must fail
#          the marked outbound session (no CAP_NET_ADMIN); with [global]
#          admin known to the binary, /healthz, /readyz and /metrics answer;
#          SIGTERM ends the proxy with status 0;
#        - in a private network namespace, the plain binary binds ports 25
#          and 465 as uid 10025 (cap_net_bind_service).
# Every process it starts is stopped by PID; /proc is unmounted on exit.
# Exit status 0 when every check passed. Timings are printed per step.
#
# Environment: STP_MIRROR (default http://deb.debian.org/debian),
# STP_SUITE (default bookworm).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

binary=
rebuild=0
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--binary) binary=$(readlink -f "$2") && shift 2 || usage ;;
	--rebuild-rootfs) rebuild=1 && shift ;;
	--keep) keep=1 && shift ;;
	*) usage ;;
	esac
done

mirror=${STP_MIRROR:-http://deb.debian.org/debian}
suite=${STP_SUITE:-bookworm}
uid=10025
cache=$repo/build/image-rootfs
base=$cache/base
root=$cache/run
work=$cache/work
pkgfile=$repo/deploy/runtime-packages.txt
cmfile=$repo/deploy/kubernetes/configmap.yaml
# Capability bounding sets the proxy runs under: Docker's (and containerd's)
# default set, and the Kubernetes example's "drop ALL, add NET_BIND_SERVICE,
# NET_ADMIN".
docker_caps=-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write
pod_caps=-all,+net_bind_service,+net_admin

t_start=$(date +%s.%N)
t_step=$t_start
failures=()
pids=()

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() {
	echo "=== $* (at $(elapsed "$t_start") s)"
	t_step=$(date +%s.%N)
}
pass() { echo "PASS: $* ($(elapsed "$t_step") s)"; }
fail() {
	echo "FAIL: $*" >&2
	failures+=("$*")
}
die() {
	echo "image-test: $*" >&2
	exit 1
}

mounted() { # mounted DIR: something is mounted at or below DIR
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts
}

stop_pid() { # stop_pid PID: SIGTERM, wait up to 10 s, SIGKILL
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

cleanup() {
	local p
	for p in "${pids[@]}"; do
		stop_pid "$p"
	done
	if [ -d "$root/proc" ] && mounted "$root/proc"; then
		umount "$root/proc" || umount -l "$root/proc"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, setcap)"

# listening PORT: a socket listens on 127.0.0.1:PORT (read from /proc of the
# caller's network namespace, without connecting).
listening() {
	local want
	want=$(printf '0100007F:%04X' "$1")
	awk -v w="$want" 'NR > 1 && $2 == w && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

wait_listening() { # wait_listening PID PORT...: all listen, PID alive
	local pid=$1 i p ok
	shift
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 1
		ok=1
		for p in "$@"; do
			listening "$p" || ok=0
		done
		[ $ok -eq 1 ] && return 0
		sleep 0.05
	done
	return 1
}

free_ports() { # free_ports N: N distinct free TCP ports on 127.0.0.1
	/usr/bin/python3 - "$1" <<-'EOF'
		import socket, sys
		socks = []
		for _ in range(int(sys.argv[1])):
		    s = socket.socket()
		    s.bind(("127.0.0.1", 0))
		    socks.append(s)
		print(" ".join(str(s.getsockname()[1]) for s in socks))
	EOF
}

# as_user CAPS: sets the array "run_as" to the command prefix that runs a
# program inside the image tree as uid/gid 10025 with the capability bounding
# set CAPS (no_new_privs stays off, as in a container that allows privilege
# escalation). chroot and setpriv exec, so a backgrounded "${run_as[@]}" CMD
# has the proxy's PID in $!.
as_user() {
	run_as=(chroot "$root" /usr/bin/setpriv --reuid=$uid --regid=$uid --clear-groups
		--bounding-set="$1" --inh-caps=-all --)
}
in_root() { # in_root CAPS CMD...: run CMD that way in the foreground
	local run_as
	as_user "$1"
	shift
	"${run_as[@]}" "$@"
}

packages=$(sed -e 's/#.*//' "$pkgfile" | xargs)
[ -n "$packages" ] || die "no packages in $pkgfile"

# --------------------------------------------------------------------------
step "tools"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v setcap >/dev/null || need+=(libcap2-bin)
command -v swaks >/dev/null || need+=(swaks)
command -v openssl >/dev/null || need+=(openssl)
command -v unshare >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
		die "apt-get install ${need[*]} failed"
fi
pass "debootstrap $(debootstrap --version | awk '{ print $2 }')"

# --------------------------------------------------------------------------
stage=$repo/build-image/stage
if [ -z "$binary" ]; then
	step "build (Release, as the Dockerfile's build stage)"
	rm -rf "$stage"
	mkdir -p build-image
	blog=build-image/image-test-build.log
	if cmake -S . -B build-image -G Ninja -DCMAKE_BUILD_TYPE=Release >$blog 2>&1 &&
		cmake --build build-image --target starttls-proxy >>$blog 2>&1 &&
		DESTDIR=$stage cmake --install build-image --prefix /usr/local --strip >>$blog 2>&1; then
		binary=$stage/usr/local/sbin/starttls-proxy
		pass "built $binary"
	else
		tail -30 $blog >&2
		die "build failed ($blog)"
	fi
fi
[ -x "$binary" ] || die "no binary at $binary"

# --------------------------------------------------------------------------
step "root file system (debootstrap --variant=minbase $suite + $packages)"
key=$(printf '%s\n%s\n%s\n' "$suite" "$mirror" "$packages" | sha256sum | cut -c1-16)
mkdir -p "$cache"
if [ $rebuild -eq 0 ] && [ -d "$base" ] && [ "$(cat "$cache/base.key" 2>/dev/null)" = "$key" ]; then
	pass "cached $base (key $key)"
else
	mounted "$base.new" && die "$base.new has mounts; unmount them first"
	rm -rf --one-file-system "$base.new" "$cache/base.key"
	if debootstrap --variant=minbase --include="$(echo "$packages" | tr ' ' ,)" \
		"$suite" "$base.new" "$mirror" >"$cache/debootstrap.log" 2>&1; then
		# As in the image: no package lists, no downloaded archives.
		rm -rf "$base.new"/var/lib/apt/lists/* "$base.new"/var/cache/apt/archives/*.deb
		mounted "$base" && die "$base has mounts; unmount them first"
		rm -rf --one-file-system "$base"
		mv "$base.new" "$base"
		echo "$key" >"$cache/base.key"
		pass "debootstrap done, $(du -sh "$base" | cut -f1)"
	else
		tail -20 "$cache/debootstrap.log" >&2
		die "debootstrap failed ($cache/debootstrap.log)"
	fi
fi

# --------------------------------------------------------------------------
step "image tree (the Dockerfile's runtime steps)"
mounted "$root" && die "$root has mounts; unmount them first"
rm -rf --one-file-system "$root" "$work"
cp -a "$base" "$root"
mkdir -p "$work"
chroot "$root" groupadd --system --gid $uid starttls-proxy
chroot "$root" useradd --uid $uid --gid $uid --home-dir /nonexistent \
	--no-create-home --shell /usr/sbin/nologin starttls-proxy
mkdir -p "$root/etc/starttls-proxy/tls" "$root/usr/local/sbin" "$root/usr/share/starttls-proxy"
install -m 0755 "$binary" "$root/usr/local/sbin/starttls-proxy"
cp -p "$root/usr/local/sbin/starttls-proxy" "$root/usr/local/sbin/starttls-proxy-netadmin"
setcap cap_net_bind_service=+ep "$root/usr/local/sbin/starttls-proxy"
setcap cap_net_bind_service,cap_net_admin=+ep "$root/usr/local/sbin/starttls-proxy-netadmin"
cp "$pkgfile" "$root/usr/share/starttls-proxy/runtime-packages.txt"
cp config/starttls-proxy.ini "$root/usr/share/starttls-proxy/starttls-proxy.ini.example"

# Test certificates where the Secret would be mounted, as the pod has them
# (fsGroup 10025, mode 0440).
bash tests/tools/mkcerts.sh "$cache/certs" >/dev/null || die "mkcerts.sh failed"
install -o root -g $uid -m 0440 "$cache/certs/server.pem" "$root/etc/starttls-proxy/tls/tls.crt"
install -o root -g $uid -m 0440 "$cache/certs/server.key" "$root/etc/starttls-proxy/tls/tls.key"

# The ConfigMap's ini: the block under "starttls-proxy.ini: |", unindented.
awk '
	/^  starttls-proxy\.ini: \|/ { on = 1; next }
	on && /^    / { print substr($0, 5); next }
	on && /^[[:space:]]*$/ { print ""; next }
	on { exit }
' "$cmfile" >"$root/etc/starttls-proxy/starttls-proxy.ini"
grep -q '^\[global\]' "$root/etc/starttls-proxy/starttls-proxy.ini" ||
	die "could not extract the ini from $cmfile"
mount -t proc proc "$root/proc" || die "cannot mount /proc in $root"
pass "$(getcap "$root"/usr/local/sbin/* | sed "s|$root||" | tr '\n' ';')"

# --------------------------------------------------------------------------
step "image contents"
if out=$(chroot "$root" ldd /usr/local/sbin/starttls-proxy 2>&1) && ! grep -q 'not found' <<<"$out"; then
	pass "ldd: every library found ($(grep -c '=>' <<<"$out") libraries)"
else
	echo "$out" >&2
	fail "ldd in the image tree"
fi
extra=$(chroot "$root" dpkg-query -W -f='${Package}\n' gcc cc cmake libcap2-bin 2>/dev/null | grep . || true)
if [ -z "$extra" ]; then
	pass "no compiler, cmake or libcap2-bin in the image"
else
	fail "unexpected packages in the image: $extra"
fi
missing=()
for p in $packages; do
	chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && pass "runtime packages installed: $packages" ||
	fail "runtime packages missing: ${missing[*]}"

# --------------------------------------------------------------------------
step "starttls-proxy -V as uid $uid"
if out=$(in_root "$docker_caps" /usr/local/sbin/starttls-proxy -V 2>&1); then
	pass "$out (plain binary, Docker's default capabilities)"
else
	fail "starttls-proxy -V: $out"
fi
if out=$(in_root "$pod_caps" /usr/local/sbin/starttls-proxy-netadmin -V 2>&1); then
	pass "-netadmin -V under the pod's capabilities: $out"
else
	fail "starttls-proxy-netadmin -V with NET_ADMIN: $out"
fi
step "-netadmin without NET_ADMIN in the bounding set must not start"
if out=$(in_root "$docker_caps" /usr/local/sbin/starttls-proxy-netadmin -V 2>&1); then
	fail "starttls-proxy-netadmin started without NET_ADMIN: $out"
else
	pass "refused: $out"
fi

# --------------------------------------------------------------------------
step "starttls-proxy -t -c /etc/starttls-proxy/starttls-proxy.ini (the ConfigMap's ini)"
if out=$(in_root "$pod_caps" /usr/local/sbin/starttls-proxy-netadmin -t \
	-c /etc/starttls-proxy/starttls-proxy.ini 2>&1); then
	pass "the ConfigMap's ini is valid${out:+: $out}"
else
	echo "$out" >&2
	fail "-t on the ConfigMap's ini (output above)"
fi

# --------------------------------------------------------------------------
step "smoke test: host swaks -> chrooted proxy -> host sink"
read -r p_smtp p_smtps p_out p_admin <<<"$(free_ports 4)"
/usr/bin/python3 tests/tools/sink.py --listen 127.0.0.1:0 --dir "$work/sink" \
	--max-seconds 300 >"$work/sink.out" 2>"$work/sink.err" &
pids+=($!)
sink_pid=$!
mkdir -p "$work/sink"
for i in $(seq 100); do
	grep -q '^ready ' "$work/sink.out" 2>/dev/null && break
	sleep 0.05
done
sink=$(awk '/^ready / { print $2; exit }' "$work/sink.out")
[ -n "$sink" ] || die "sink did not start: $(cat "$work/sink.err")"

# Does the binary know [global] admin yet? (-t on a minimal file)
printf '[global]\nadmin = 127.0.0.1:%s\n[inbound]\nlisten = 127.0.0.1:%s\nbackend = %s\ntls = off\n' \
	"$p_admin" "$p_smtp" "$sink" >"$root/etc/starttls-proxy/probe.ini"
admin_line=
if in_root "$pod_caps" /usr/local/sbin/starttls-proxy -t -c /etc/starttls-proxy/probe.ini >/dev/null 2>&1; then
	admin_line="admin = 127.0.0.1:$p_admin"
fi

cat >"$root/etc/starttls-proxy/smoke.ini" <<EOF
[global]
log_level = debug
$admin_line
[inbound]
listen = 127.0.0.1:$p_smtp
backend = $sink
tls = starttls
cert = /etc/starttls-proxy/tls/tls.crt
key = /etc/starttls-proxy/tls/tls.key
[inbound:smtps]
listen = 127.0.0.1:$p_smtps
backend = $sink
tls = implicit
cert = /etc/starttls-proxy/tls/tls.crt
key = /etc/starttls-proxy/tls/tls.key
[outbound:marked]
listen = 127.0.0.1:$p_out
mode = relay
relay = $sink
tls = may
mark = 0x2a
EOF

# send NAME PORT SWAKS-OPTIONS...: one message with a unique subject.
send() {
	local name=$1 port=$2
	shift 2
	swaks --server "127.0.0.1:$port" --from sender@example.org --to rcpt@example.net \
		--header "Subject: image-test $name $$" --body "image-test $name" \
		--timeout 20 "$@" >"$work/swaks-$name.log" 2>&1
}
arrived() { grep -lq "Subject: image-test $1 $$" "$work"/sink/msg-*.eml 2>/dev/null; }
http_get() { # http_get PORT PATH: prints "STATUS BODY-LENGTH"
	/usr/bin/python3 - "$1" "$2" <<-'EOF'
		import sys, urllib.request, urllib.error
		try:
		    r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=5)
		    print(r.status, len(r.read()))
		except urllib.error.HTTPError as e:
		    print(e.code, 0)
		except Exception as e:
		    print("error", e)
	EOF
}
# run_proxy BINARY CAPS LOG: start it in the image tree, wait for the ports.
run_proxy() {
	local run_as
	as_user "$2"
	"${run_as[@]}" "/usr/local/sbin/$1" -c /etc/starttls-proxy/smoke.ini 2>"$3" &
	proxy_pid=$!
	pids+=($proxy_pid)
	wait_listening $proxy_pid "$p_smtp" "$p_smtps" "$p_out"
}
stop_proxy() { # SIGTERM, wait up to 10 s; the exit status in stop_rc
	stop_pid "$proxy_pid"
	wait "$proxy_pid"
	stop_rc=$?
}
tlsv=(--tls-verify --tls-ca-path "$cache/certs/ca.pem")

step "smoke A: plain binary, Docker's default capabilities"
if run_proxy starttls-proxy "$docker_caps" "$work/proxy-a.log"; then
	send a-starttls "$p_smtp" --tls "${tlsv[@]}" && arrived a-starttls &&
		pass "STARTTLS on :$p_smtp delivered" || fail "STARTTLS via the plain binary (see $work/swaks-a-starttls.log)"
	send a-smtps "$p_smtps" --tls-on-connect "${tlsv[@]}" && arrived a-smtps &&
		pass "implicit TLS on :$p_smtps delivered" || fail "implicit TLS via the plain binary (see $work/swaks-a-smtps.log)"
	send a-marked "$p_out"
	if arrived a-marked; then
		fail "the plain binary relayed with mark = 0x2a (it has no CAP_NET_ADMIN?)"
	else
		pass "mark = 0x2a without CAP_NET_ADMIN: refused ($(grep -m1 -E '^ *<\*\* *[45][0-9][0-9]' "$work/swaks-a-marked.log" | sed 's/^ *//'))"
	fi
	stop_proxy
	[ "$stop_rc" = 0 ] && pass "SIGTERM: exit status 0" || fail "plain binary: exit status $stop_rc after SIGTERM (see $work/proxy-a.log)"
else
	tail -20 "$work/proxy-a.log" >&2
	fail "plain binary did not start listening"
	stop_pid "$proxy_pid"
fi

step "smoke B: -netadmin binary, the pod's capabilities (NET_BIND_SERVICE, NET_ADMIN)"
if run_proxy starttls-proxy-netadmin "$pod_caps" "$work/proxy-b.log"; then
	send b-starttls "$p_smtp" --tls "${tlsv[@]}" && arrived b-starttls &&
		pass "STARTTLS delivered" || fail "STARTTLS via -netadmin (see $work/swaks-b-starttls.log)"
	send b-smtps "$p_smtps" --tls-on-connect "${tlsv[@]}" && arrived b-smtps &&
		pass "implicit TLS delivered" || fail "implicit TLS via -netadmin (see $work/swaks-b-smtps.log)"
	send b-marked "$p_out" && arrived b-marked &&
		pass "outbound with mark = 0x2a delivered" || fail "marked outbound via -netadmin (see $work/swaks-b-marked.log)"
	if [ -n "$admin_line" ]; then
		for path in /healthz /readyz /metrics; do
			r=$(http_get "$p_admin" $path)
			case $r in
			"200 "*) pass "admin GET $path: $r" ;;
			*) fail "admin GET $path: $r" ;;
			esac
		done
	else
		echo "SKIP: admin endpoint (this binary does not know [global] admin yet)"
	fi
	stop_proxy
	[ "$stop_rc" = 0 ] && pass "SIGTERM: exit status 0" || fail "-netadmin: exit status $stop_rc after SIGTERM (see $work/proxy-b.log)"
else
	tail -20 "$work/proxy-b.log" >&2
	fail "-netadmin binary did not start listening"
	stop_pid "$proxy_pid"
fi
stop_pid "$sink_pid"

# --------------------------------------------------------------------------
step "ports 25 and 465 as uid $uid (private network namespace)"
cat >"$root/etc/starttls-proxy/lowports.ini" <<EOF
[inbound]
listen = 127.0.0.1:25
backend = 127.0.0.1:2525
tls = starttls
cert = /etc/starttls-proxy/tls/tls.crt
key = /etc/starttls-proxy/tls/tls.key
[inbound:smtps]
listen = 127.0.0.1:465
backend = 127.0.0.1:2525
tls = implicit
cert = /etc/starttls-proxy/tls/tls.crt
key = /etc/starttls-proxy/tls/tls.key
EOF
export -f listening wait_listening stop_pid
as_user "$docker_caps"
if out=$(unshare --net -- bash -c '
	ip link set lo up || exit 3
	"$@" 2>&1 &
	pid=$!
	if wait_listening $pid 25 465; then rc=0; else rc=1; fi
	stop_pid $pid
	wait $pid
	exit $rc
' lowports "${run_as[@]}" /usr/local/sbin/starttls-proxy -c /etc/starttls-proxy/lowports.ini 2>&1); then
	pass "bound 127.0.0.1:25 and 127.0.0.1:465 without root"
else
	echo "$out" | tail -20 >&2
	fail "binding ports 25/465 as uid $uid"
fi

# --------------------------------------------------------------------------
umount "$root/proc" 2>/dev/null
if [ $keep -eq 0 ]; then
	rm -rf --one-file-system "$root"
fi
echo "=== total $(elapsed "$t_start") s"
if [ ${#failures[@]} -gt 0 ]; then
	echo "image-test: ${#failures[@]} check(s) failed:" >&2
	printf '  %s\n' "${failures[@]}" >&2
	echo "logs in $work" >&2
	exit 1
fi
echo "image-test: all checks passed"
