"""Outbound loops: a connection that would make the proxy dial itself.

Transparent mode dials the connection's original destination
(SO_ORIGINAL_DST). A connection that was not redirected has as "original"
destination the accepted socket's own local address, whatever the listener
was bound to (0.0.0.0 and [::] included): it gets 421 and is never relayed
into the proxy itself.

These tests run in a private network namespace whose connection tracking is
on (a NAT rule for port 25 that these connections do not match), as it is
in a pod with a REDIRECT rule: without tracking SO_ORIGINAL_DST fails
outright and any listener answers 421.
"""

import os
import shutil
import textwrap
import time

import pytest

import stplib
from outlib import make_outproxy, outbound  # noqa: F401

R_NO_DEST = b"421 4.3.0 No original destination, closing connection\r\n"
V4 = "10.255.0.1"
V6 = "fd00:255::1"

# A client run inside the namespace: connects, prints every byte received
# until the peer closes or 5 s pass.
CLIENT = textwrap.dedent("""
    import socket, sys
    fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((sys.argv[1], int(sys.argv[2])))
    data = b""
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
    except (socket.timeout, ConnectionResetError):
        pass
    sys.stdout.write(data.hex())
""")


def ns_run(ns, argv, timeout=30):
    return stplib.run(["ip", "netns", "exec", ns] + argv, timeout=timeout)


@pytest.fixture
def tracked_ns():
    """A network namespace with loopback up, V4 and V6 on it and connection
    tracking on; deleted at teardown (request it before the proxy)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "iptables", "ip6tables"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)
    ns = "stp%dl" % os.getpid()
    r = stplib.run(["ip", "netns", "add", ns], timeout=30)
    if r.returncode != 0:
        pytest.skip("cannot create network namespaces here: %s" % r.stderr.strip())
    try:
        for argv in (["ip", "link", "set", "lo", "up"],
                     ["ip", "addr", "add", V4 + "/32", "dev", "lo"],
                     ["ip", "addr", "add", V6 + "/128", "dev", "lo", "nodad"],
                     ["iptables", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
                      "--dport", "25", "-j", "REDIRECT", "--to-ports", "9"],
                     ["ip6tables", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
                      "--dport", "25", "-j", "REDIRECT", "--to-ports", "9"]):
            r = ns_run(ns, argv)
            assert r.returncode == 0, "%s: %s" % (argv, r.stderr)
        yield ns
    finally:
        stplib.run(["ip", "netns", "del", ns], timeout=30)


def client(ns, host, port):
    r = ns_run(ns, ["/usr/bin/python3", "-c", CLIENT, host, str(port)])
    assert r.returncode == 0, r.stderr
    return bytes.fromhex(r.stdout.strip())


@pytest.mark.parametrize("listen,connect", [
    ("*", V4), ("*", "127.0.0.1"), ("[::]", V6), ("[::]", "::1"), ("[%s]" % V6, V6),
], ids=["v4-wildcard", "v4-wildcard-lo", "v6-wildcard", "v6-wildcard-lo", "v6"])
def test_direct_connection_refused(tracked_ns, make_outproxy, listen, connect):
    port = stplib.free_port()
    # max_sessions bounds a loop, should there be one, to a few hops.
    px = make_outproxy([outbound(mode="transparent", tls="may",
                                 listen="%s:%d" % (listen, port))],
                       global_keys={"max_sessions": "20"}, netns=tracked_ns)
    got = client(tracked_ns, connect, port)
    assert got == R_NO_DEST, got
    time.sleep(0.3)
    opens = px.events("session_open")
    assert len(opens) == 1, opens
    assert not px.events("connect_failed"), px.stderr()


R_LOOP = b"421 4.4.6 Mail loop detected, closing connection\r\n"


def loop_sections():
    """[outbound:a] relays to [outbound:b], which relays back to a; and
    [outbound:self] relays to itself."""
    pa, pb, ps = stplib.free_port(), stplib.free_port(), stplib.free_port()
    return [
        outbound("outbound:a", relay="127.0.0.1:%d" % pb, tls="none",
                 listen="127.0.0.1:%d" % pa),
        outbound("outbound:b", relay="127.0.0.1:%d" % pa, tls="none",
                 listen="127.0.0.1:%d" % pb),
        outbound("outbound:self", relay="127.0.0.1:%d" % ps, tls="may",
                 listen="127.0.0.1:%d" % ps),
    ]


def test_config_test_refuses_relay_to_own_listener(workdir):
    sections = loop_sections()
    path = os.path.join(workdir, "loop.ini")
    with open(path, "w") as f:
        for name, kv in sections:
            f.write("[%s]\n" % name + "".join("%s = %s\n" % i for i in kv.items()))
    r = stplib.run([stplib.BINARY, "-t", "-c", path], timeout=30)
    assert r.returncode == 1, r
    # Each section header's line: one line per key before it.
    la = 1
    lb = la + 1 + len(sections[0][1])
    ls = lb + 1 + len(sections[1][1])
    assert r.stderr == (
        "%s:%d: relay 127.0.0.1:%s of [outbound:a] is the proxy's own listener "
        "[outbound:b] (line %d): mail would loop\n"
        "%s:%d: relay 127.0.0.1:%s of [outbound:b] is the proxy's own listener "
        "[outbound:a] (line %d): mail would loop\n"
        "%s:%d: relay 127.0.0.1:%s of [outbound:self] is the proxy's own listener "
        "[outbound:self] (line %d): mail would loop\n" % (
            path, la, sections[1][1]["listen"].rsplit(":", 1)[1], lb,
            path, lb, sections[0][1]["listen"].rsplit(":", 1)[1], la,
            path, ls, sections[2][1]["listen"].rsplit(":", 1)[1], ls)), r.stderr


@pytest.mark.parametrize("name", ["outbound:self", "outbound:a"], ids=["self", "two-listeners"])
def test_runtime_loop_ends_after_one_hop(make_outproxy, name):
    """Any connection from one of the proxy's own server legs is a loop
    (-t refuses a relay to an own listener): the session it dialled is
    refused on accept, and the legacy client gets that 421."""
    hops = 2
    # max_sessions bounds the loop, should the guard fail, to a few hops.
    px = make_outproxy(loop_sections(), global_keys={"max_sessions": "30"})
    c = stplib.Client(px.port(name))
    data = c.read_until_close(timeout=10)
    c.close()
    assert data == R_LOOP, data
    time.sleep(0.5)
    assert len(px.events("mail_loop")) == 1, px.stderr()
    # The refused hop logs mail_loop instead of session_open; every
    # session ended.
    assert len(px.events("session_open")) == hops - 1, px.stderr()
    assert len(px.events("session_close")) == hops, px.stderr()
