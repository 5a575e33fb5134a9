#!/bin/bash
# pfx-instance.sh -- a throw-away Postfix MX with STARTTLS, in its own
# directory: its own config_directory, queue_directory and data_directory;
# /etc/postfix is only read (the stock master.cf), never changed.
#
#   pfx-instance.sh up   DIR ADDR PORT DOMAIN CERT KEY
#   pfx-instance.sh down DIR
#
# up: mail for DOMAIN is accepted from anyone and delivered into the Maildir
#     DIR/mail/sink/new/; STARTTLS is offered with CERT/KEY (PEM), and the
#     Received header of each message records the TLS protocol and cipher
#     (smtpd_tls_received_header). Nothing is relayed elsewhere. Headers are
#     never rewritten or added beyond Received/Return-Path/Delivered-To, so a
#     test can compare the message. The log is DIR/maillog. Prints the master
#     PID once the listener is up.
# down: stops the instance (postfix stop, then the master PID, bounded).
#
# DIR must be reachable by the postfix and nobody users (mode 0755 up to /).
set -euo pipefail

usage() {
	echo "usage: $0 up DIR ADDR PORT DOMAIN CERT KEY | down DIR" >&2
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
	if [ -f "$D/etc/main.cf" ]; then
		postfix -c "$D/etc" stop >/dev/null 2>&1 || true
	fi
	if [ -n "$pid" ]; then
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || exit 0
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	exit 0
fi

if [ "$cmd" != up ] || [ $# -ne 7 ]; then
	usage
fi
addr=$3 port=$4 dom=$5 cert=$6 key=$7

mkdir -p "$D"/etc "$D"/queue "$D"/data "$D"/mail
chmod 0755 "$D" "$D/etc" "$D/queue" "$D/mail"
chown postfix "$D/data"
chown nobody:nogroup "$D/mail"
cp /etc/postfix/master.cf "$D/etc/master.cf"
install -m 0644 "$cert" "$D/etc/cert.pem"
install -m 0600 "$key" "$D/etc/key.pem"
: >"$D/maillog"

cat >"$D/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $D/queue
data_directory = $D/data
maillog_file_prefixes = /var, /tmp, $D
maillog_file = $D/maillog
myhostname = mx.$dom
mydomain = $dom
myorigin = \$myhostname
mydestination =
inet_protocols = ipv4
inet_interfaces = $addr
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
local_header_rewrite_clients =
always_add_missing_headers = no
virtual_mailbox_domains = $dom
virtual_mailbox_base = $D/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtp_dns_support_level = disabled
smtpd_banner = \$myhostname ESMTP
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
smtpd_tls_security_level = may
smtpd_tls_cert_file = $D/etc/cert.pem
smtpd_tls_key_file = $D/etc/key.pem
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_exclude_ciphers = aNULL
tls_preempt_cipherlist = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none
EOF
# No chroot (the queue is not under /var/spool/postfix); the stock port-25
# listener is replaced by ADDR:PORT.
postconf -c "$D/etc" -F '*/*/chroot = n'
postconf -c "$D/etc" -MX 'smtp/inet'
postconf -c "$D/etc" -M "$addr:$port/inet = $addr:$port inet n - n - - smtpd"
postfix -c "$D/etc" start >/dev/null 2>&1 || {
	echo "postfix start failed; maillog:" >&2
	cat "$D/maillog" >&2
	exit 1
}
# The master writes its PID and opens the listener shortly after start.
for _ in $(seq 1 200); do
	pid=$(master_pid)
	if [ -n "$pid" ] && ss -Hltn "src $addr:$port" 2>/dev/null | grep -q .; then
		echo "$pid"
		exit 0
	fi
	sleep 0.1
done
echo "postfix did not listen on $addr:$port within 20 s; maillog:" >&2
cat "$D/maillog" >&2
exit 1
