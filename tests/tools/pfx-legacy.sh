#!/bin/bash
# pfx-legacy.sh -- a throw-away plaintext Postfix standing in for a legacy
# server behind starttls-proxy, in its own directory (own config_directory,
# queue_directory, data_directory; /etc/postfix is only read, never changed).
#
#   pfx-legacy.sh up   DIR ADDR XCLIENT_PORT PROXY_PORT DOMAIN TRUSTED
#   pfx-legacy.sh down DIR
#
# up: two smtpd listeners on ADDR, both without TLS, delivering mail for
#     DOMAIN into the Maildir DIR/mail/sink/new/:
#       XCLIENT_PORT  accepts XCLIENT from the networks TRUSTED (a Postfix
#                     network list, e.g. 127.0.0.1/32)
#       PROXY_PORT    expects a HAProxy PROXY header (v1 or v2) first
#                     (smtpd_upstream_proxy_protocol = haproxy)
#     mynetworks is empty, so no client is trusted for relaying. The log is
#     DIR/maillog. Prints the master PID once both listeners are up.
# down: stops the instance (postfix stop, then the master PID, bounded).
#
# DIR must be reachable by the postfix and nobody users (mode 0755 up to /).
set -euo pipefail

usage() {
	echo "usage: $0 up DIR ADDR XCLIENT_PORT PROXY_PORT DOMAIN TRUSTED | down DIR" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
D=$2

master_pid() {
	head -1 "$D/queue/pid/master.pid" 2>/dev/null | tr -d ' ' || true
}

if [ "$cmd" = down ]; then
	pid=$(master_pid)
	[ -f "$D/etc/main.cf" ] && postfix -c "$D/etc" stop >/dev/null 2>&1 || true
	if [ -n "$pid" ]; then
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || exit 0
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	exit 0
fi

[ "$cmd" = up ] && [ $# -eq 7 ] || usage
addr=$3 xport=$4 pport=$5 dom=$6 trusted=$7

mkdir -p "$D"/etc "$D"/queue "$D"/data "$D"/mail
chmod 0755 "$D" "$D/etc" "$D/queue" "$D/mail"
chown postfix "$D/data"
chown nobody:nogroup "$D/mail"
cp /etc/postfix/master.cf "$D/etc/master.cf"
: >"$D/maillog"

cat >"$D/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $D/queue
data_directory = $D/data
maillog_file_prefixes = /var, /tmp, $D
maillog_file = $D/maillog
myhostname = legacy.$dom
mydomain = $dom
myorigin = \$myhostname
mydestination =
inet_protocols = ipv4
inet_interfaces = $addr
mynetworks =
smtpd_relay_restrictions = reject_unauth_destination
smtpd_authorized_xclient_hosts = $trusted
local_header_rewrite_clients =
always_add_missing_headers = no
virtual_mailbox_domains = $dom
virtual_mailbox_base = $D/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
smtpd_tls_security_level = none
smtp_tls_security_level = none
CF
postconf -c "$D/etc" -F '*/*/chroot = n'
postconf -c "$D/etc" -MX 'smtp/inet'
postconf -c "$D/etc" -M "$addr:$xport/inet = $addr:$xport inet n - n - - smtpd"
postconf -c "$D/etc" -M "$addr:$pport/inet = $addr:$pport inet n - n - - smtpd -o smtpd_upstream_proxy_protocol=haproxy"
# "postfix start" was seen to fail once on a fresh instance ("mail system
# startup failed") and succeed when run again: two tries.
started=0
for _ in 1 2; do
	if postfix -c "$D/etc" start >/dev/null 2>&1; then
		started=1
		break
	fi
	pid=$(master_pid)
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { started=1; break; }
	sleep 1
done
if [ $started -ne 1 ]; then
	echo "postfix start failed; maillog:" >&2
	cat "$D/maillog" >&2
	exit 1
fi
for _ in $(seq 1 200); do
	pid=$(master_pid)
	if [ -n "$pid" ] && ss -Hltn "src $addr:$xport" 2>/dev/null | grep -q . &&
		ss -Hltn "src $addr:$pport" 2>/dev/null | grep -q .; then
		echo "$pid"
		exit 0
	fi
	sleep 0.1
done
echo "postfix did not listen on $addr:$xport and :$pport within 20 s; maillog:" >&2
cat "$D/maillog" >&2
exit 1
