#!/bin/bash
# netns.sh -- two private network namespaces joined by one veth pair, for
# testing transparent interception. Nothing touches the host's interfaces,
# routes or firewall; the TEST-NET traffic never leaves the machine.
#
#   netns.sh up         POD INET   create both namespaces and the veth pair
#   netns.sh redirect   POD PORT MARK
#   netns.sh unredirect POD
#   netns.sh down       POD INET   delete both (stop their processes first)
#
# POD  : the "pod" (legacy client + proxy): POD-veth 192.0.2.1/24, default
#        route via 192.0.2.2.
# INET : the "internet": 192.0.2.2/24 on its veth end; the remote MX address
#        198.51.100.25/32 on its loopback.
# redirect: in POD, outgoing TCP to any port 25 is REDIRECTed to local PORT,
#        except sockets carrying SO_MARK MARK (the proxy's own connections).
# The veth ends are created inside the namespaces and named after them
# (at most 15 characters: keep POD and INET short and unique per run).
set -euo pipefail

usage() {
	echo "usage: $0 up POD INET | redirect POD PORT MARK | unredirect POD | down POD INET" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
pod=$2

case $cmd in
up)
	[ $# -eq 3 ] || usage
	inet=$3
	vp="${pod:0:13}v0"
	vi="${inet:0:13}v0"
	ip netns add "$pod"
	if ! ip netns add "$inet"; then
		ip netns del "$pod"
		exit 1
	fi
	P="ip netns exec $pod"
	I="ip netns exec $inet"
	ip link add "$vp" netns "$pod" type veth peer name "$vi" netns "$inet"
	$P ip link set lo up
	$P ip link set "$vp" up
	$I ip link set lo up
	$I ip link set "$vi" up
	$P ip addr add 192.0.2.1/24 dev "$vp"
	$I ip addr add 192.0.2.2/24 dev "$vi"
	$I ip addr add 198.51.100.25/32 dev lo
	$P ip route add default via 192.0.2.2
	;;
redirect)
	[ $# -eq 4 ] || usage
	port=$3
	mark=$4
	P="ip netns exec $pod"
	$P iptables -w 5 -t nat -A OUTPUT -p tcp --dport 25 -m mark --mark "$mark" -j RETURN
	$P iptables -w 5 -t nat -A OUTPUT -p tcp --dport 25 -j REDIRECT --to-ports "$port"
	;;
unredirect)
	ip netns exec "$pod" iptables -w 5 -t nat -F OUTPUT
	;;
down)
	[ $# -eq 3 ] || usage
	inet=$3
	# Deleting a namespace removes its veth end, and with it the peer.
	ip netns del "$pod" 2>/dev/null || true
	ip netns del "$inet" 2>/dev/null || true
	;;
*)
	usage
	;;
esac
