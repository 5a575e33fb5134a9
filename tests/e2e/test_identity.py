"""Client identity toward the legacy server: PROXY headers (v1, v2) and
XCLIENT, toward the recording sink and a real Postfix; PROXY headers from a
load balancer in front (accept_proxy_protocol) from allowed and other
networks.

Clients connect from 127.0.0.9 (or 127.0.0.77-80 for Postfix), never from the
proxy's own 127.0.0.1, so that an address seen by the backend can only be
the real client's.
"""

import ipaddress
import os
import re
import shutil
import ssl
import struct
import tempfile
import time

import pytest

import stplib

PFX_LEGACY = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "pfx-legacy.sh")
CLIENT_IP = "127.0.0.9"
XCLIENT_EHLO = "PIPELINING,8BITMIME,XCLIENT NAME ADDR PORT PROTO HELO"


def expect(reply, code, enhanced=""):
    assert reply.code == code, reply
    if enhanced:
        assert reply.lines[-1].startswith("%d %s " % (code, enhanced)), reply


def sink_events(sink, n=1):
    return stplib.events(sink.log(n))


def send_message(c, tag):
    expect(c.cmd("MAIL FROM:<a@sender.example>"), 250)
    expect(c.cmd("RCPT TO:<sink@legacy.test>"), 250)
    expect(c.cmd("DATA"), 354)
    c.send(b"Subject: identity " + tag.encode() + b"\r\nMessage-ID: <" + tag.encode() +
           b"@sender.example>\r\n\r\nbody\r\n.\r\n")
    expect(c.reply(), 250)


def implicit_client(env, source=CLIENT_IP):
    """A Client on the implicit-TLS listener, handshake done."""
    c = stplib.Client(env.smtps_port, source=source)
    c.sock = env.ctx().wrap_socket(c.sock, server_hostname="localhost")
    c.tls = True
    return c


# --------------------------------------------------------------------------
# PROXY header toward the backend

@pytest.mark.parametrize("listener", ["starttls", "implicit"])
def test_proxy_protocol_v1_to_backend(make_env, listener):
    env = make_env(inbound={"proxy_protocol": "v1"}, proxy_protocol=True)
    if listener == "implicit":
        c, port = implicit_client(env), env.smtps_port
    else:
        c, port = stplib.Client(env.port, source=CLIENT_IP), env.port
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    if listener == "starttls":
        c.starttls(env.ctx())
        expect(c.ehlo(), 250)
    send_message(c, "pp1")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    want = "PROXY TCP4 %s 127.0.0.1 %d %d" % (CLIENT_IP, cport, port)
    assert "proxy-v1 " + want in sink_events(env.sink), env.sink.dump()
    with open(os.path.join(env.sink.dir, "conn-1.proxy"), "rb") as f:
        assert f.read() == want.encode() + b"\r\n"
    # The header is consumed before SMTP: never a command.
    assert not any("PROXY" in c for c in env.sink.commands(1))
    assert len(env.sink.messages()) == 1


@pytest.mark.parametrize("listener", ["starttls", "implicit"])
def test_proxy_protocol_v2_to_backend(make_env, listener):
    env = make_env(inbound={"proxy_protocol": "v2"}, proxy_protocol=True)
    if listener == "implicit":
        c, port = implicit_client(env), env.smtps_port
    else:
        c, port = stplib.Client(env.port, source=CLIENT_IP), env.port
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    send_message(c, "pp2")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    ev = [e for e in sink_events(env.sink) if e.startswith("proxy-v2 ")]
    assert len(ev) == 1, env.sink.dump()
    assert ev[0].startswith("proxy-v2 cmd=proxy fam=0x11 src=%s:%d dst=127.0.0.1:%d " % (
        CLIENT_IP, cport, port)), ev
    if listener == "implicit":
        assert " ssl-client=0x01 " in ev[0], ev
        assert " ssl-version=%s " % c.sock.version() in ev[0], ev
        assert " ssl-cipher=%s " % c.sock.cipher()[0] in ev[0], ev
    assert not any("PROXY" in c for c in env.sink.commands(1))
    assert len(env.sink.messages()) == 1


# --------------------------------------------------------------------------
# XCLIENT toward the sink

@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_xclient_carries_client_address(make_env, tls):
    env = make_env(inbound={"xclient": "yes"}, ehlo=XCLIENT_EHLO)
    c = stplib.Client(env.port, source=CLIENT_IP)
    cport = c.sock.getsockname()[1]
    banner = c.reply()
    expect(banner, 220)
    # One greeting only: the 220 that answers XCLIENT is not relayed.
    assert c.nothing_within(0.3), c.buf
    r = c.ehlo()
    expect(r, 250)
    assert "XCLIENT" not in r.keywords(), r
    if tls:
        c.starttls(env.ctx())
        r = c.ehlo()
        assert "XCLIENT" not in r.keywords(), r
    send_message(c, "xc")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    cmds = env.sink.commands(1)
    assert cmds[0].startswith("EHLO ") and cmds[0] != "EHLO client.example", cmds
    assert cmds[1] == "XCLIENT NAME=[UNAVAILABLE] ADDR=%s PORT=%d PROTO=ESMTP" % (CLIENT_IP, cport), cmds
    assert cmds[2] == "EHLO client.example", cmds
    assert cmds.count("XCLIENT NAME=[UNAVAILABLE] ADDR=%s PORT=%d PROTO=ESMTP" % (CLIENT_IP, cport)) == 1
    assert len(env.sink.messages()) == 1


@pytest.mark.parametrize("xclient", ["yes", "no"])
def test_client_xclient_never_forwarded(make_env, xclient):
    """Only the proxy speaks for the client's identity."""
    env = make_env(inbound={"xclient": xclient}, ehlo=XCLIENT_EHLO)
    c = stplib.Client(env.port, source=CLIENT_IP)
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    r = c.cmd("XCLIENT ADDR=10.1.2.3 PORT=1 PROTO=ESMTP")
    expect(r, 502, "5.5.1")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    assert b"10.1.2.3" not in env.sink.all_raw()


@pytest.mark.parametrize("mode", ["not-offered", "refused"])
def test_xclient_unavailable_closes_421(make_env, mode):
    if mode == "not-offered":
        env = make_env(inbound={"xclient": "yes"}, ehlo="PIPELINING,8BITMIME")
    else:
        env = make_env(inbound={"xclient": "yes"}, ehlo=XCLIENT_EHLO, xclient="refuse")
    c = stplib.Client(env.port, source=CLIENT_IP)
    expect(c.reply(), 220)
    # A client that talks at once: nothing of it may reach the backend
    # under the proxy's own identity.
    c.send(b"EHLO client.example\r\nMAIL FROM:<evil@x>\r\n")
    data = c.read_until_close()
    assert data == b"421 4.3.0 Service not available, closing connection\r\n", data
    assert env.sink.wait_closed(), env.sink.dump()
    cmds = env.sink.commands(1)
    want = 1 if mode == "not-offered" else 2
    assert len(cmds) == want and cmds[0].startswith("EHLO "), cmds
    assert "EHLO client.example" not in cmds
    assert b"evil" not in env.sink.all_raw()


# --------------------------------------------------------------------------
# PROXY header from a load balancer (accept_proxy_protocol)

def v1_header(src, dst, sport, dport):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2_header(src, dst, sport, dport, cmd=1, tlvs=b""):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    if cmd == 0:
        return sig + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x21 if a.version == 6 else 0x11
    body = a.packed + b.packed + struct.pack("!HH", sport, dport) + tlvs
    return sig + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


HEADERS = {
    "v1-tcp4": (v1_header, "192.0.2.7", "198.51.100.1"),
    "v1-tcp6": (v1_header, "2001:db8::7", "2001:db8::1"),
    "v2-tcp4": (v2_header, "192.0.2.7", "198.51.100.1"),
    "v2-tcp6": (v2_header, "2001:db8::7", "2001:db8::1"),
}


def accept_env(make_env, outward, allowed="127.0.0.0/8", **kw):
    """A sink behind a proxy that reads PROXY headers from `allowed` and
    passes the client on by `outward`: "xclient", "v1" or "v2"."""
    inbound = {"accept_proxy_protocol": "yes", "accept_proxy_from": allowed}
    if outward == "xclient":
        inbound["xclient"] = "yes"
        return make_env(inbound=inbound, ehlo=XCLIENT_EHLO, **kw)
    inbound["proxy_protocol"] = outward
    return make_env(inbound=inbound, proxy_protocol=True, **kw)


def identity_seen(env, outward, n=1):
    """What the backend was told about the client on connection n."""
    if outward == "xclient":
        xs = [c for c in env.sink.commands(n) if c.startswith("XCLIENT ")]
        assert len(xs) == 1, env.sink.dump()
        return xs[0]
    evs = [e for e in sink_events(env.sink, n) if e.startswith("proxy-v")]
    assert len(evs) == 1, env.sink.dump()
    return evs[0]


def want_identity(outward, src, dst, sport, dport):
    if outward == "xclient":
        addr = ("IPV6:" + src) if ":" in src else src
        return "XCLIENT NAME=[UNAVAILABLE] ADDR=%s PORT=%d PROTO=ESMTP" % (addr, sport)
    if outward == "v1":
        return "proxy-v1 " + v1_header(src, dst, sport, dport)[:-2].decode()
    # sink.py writes IPv6 endpoints as ADDR:PORT too
    fam = "0x21" if ":" in src else "0x11"
    return "proxy-v2 cmd=proxy fam=%s src=%s:%d dst=%s:%d tlv=" % (fam, src, sport, dst, dport)


@pytest.mark.parametrize("outward", ["xclient", "v1", "v2"])
@pytest.mark.parametrize("header", sorted(HEADERS))
def test_accept_proxy_from_allowed_network(make_env, header, outward):
    enc, src, dst = HEADERS[header]
    env = accept_env(make_env, outward)
    c = stplib.Client(env.port, source=CLIENT_IP)
    c.send(enc(src, dst, 40000, 25))
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    c.starttls(env.ctx())
    expect(c.ehlo(), 250)
    send_message(c, "lb-" + header)
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    seen = identity_seen(env, outward)
    assert seen == want_identity(outward, src, dst, 40000, 25) or (
        outward == "v2" and seen.startswith(want_identity(outward, src, dst, 40000, 25))), seen
    assert CLIENT_IP not in env.sink.all_raw().decode("latin-1")
    assert len(env.sink.messages()) == 1


def test_accept_proxy_limits_use_header_address(make_env):
    """max_sessions_per_ip counts the address from the header."""
    env2 = make_env(inbound={"accept_proxy_protocol": "yes", "accept_proxy_from": "127.0.0.0/8",
                             "xclient": "yes", "max_sessions_per_ip": "1"},
                    ehlo=XCLIENT_EHLO)
    held = []
    for src in ("192.0.2.7", "192.0.2.8"):
        c = stplib.Client(env2.port, source=CLIENT_IP)
        c.send(v1_header(src, "198.51.100.1", 40000, 25))
        expect(c.reply(), 220)
        held.append(c)
    c = stplib.Client(env2.port, source=CLIENT_IP)
    c.send(v1_header("192.0.2.7", "198.51.100.1", 40001, 25))
    data = c.read_until_close()
    assert data == b"421 4.7.0 Too many connections from your address, try again later\r\n", data
    for c in held:
        c.close()


def test_proxy_line_from_other_network_is_a_bad_command(make_env):
    """accept_proxy_from = 10.0.0.0/8 while we connect from 127.0.0.9: the
    PROXY line is a command like any other, refused, and the identity given
    to the backend stays the real one."""
    env = accept_env(make_env, "xclient", allowed="10.0.0.0/8")
    c = stplib.Client(env.port, source=CLIENT_IP)
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    r = c.cmd(v1_header("192.0.2.7", "198.51.100.1", 40000, 25)[:-2].decode())
    assert 500 <= r.code <= 502, r
    expect(c.ehlo(), 250)
    send_message(c, "other-net")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    assert identity_seen(env, "xclient") == "XCLIENT NAME=[UNAVAILABLE] ADDR=%s PORT=%d PROTO=ESMTP" % (
        CLIENT_IP, cport)
    assert b"ADDR=192.0.2.7" not in env.sink.all_raw()


def test_proxy_v2_from_other_network_changes_nothing(make_env):
    env = accept_env(make_env, "v1", allowed="10.0.0.0/8")
    c = stplib.Client(env.port, source=CLIENT_IP)
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    c.send(v2_header("192.0.2.7", "198.51.100.1", 40000, 25) + b"\r\n")
    time.sleep(0.5)
    # Whatever the binary header became, every reply to it is an error and
    # the session goes on.
    codes = []
    while not c.nothing_within(0.3):
        codes.append(c.reply().code)
    while c.buf:
        codes.append(c.reply().code)
    assert codes and all(500 <= x <= 502 for x in codes), codes
    expect(c.cmd("NOOP"), 250)
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    assert identity_seen(env, "v1") == "proxy-v1 PROXY TCP4 %s 127.0.0.1 %d %d" % (
        CLIENT_IP, cport, env.port)
    assert "QUIT" == env.sink.commands(1)[-1]
    assert env.sink.commands(1).count("QUIT") == 1


def test_proxy_line_before_banner_from_other_network(make_env):
    env = accept_env(make_env, "xclient", allowed="10.0.0.0/8", fault="no-banner")
    c = stplib.Client(env.port, source=CLIENT_IP)
    c.send(v1_header("192.0.2.7", "198.51.100.1", 40000, 25))
    data = c.read_until_close()
    assert data.startswith(b"554 5.5.0 "), data
    time.sleep(0.2)
    assert env.sink.all_raw() == b""


@pytest.mark.parametrize("bad", [
    b"PROXY TCP4 999.0.2.7 198.51.100.1 40000 25\r\n",
    b"PROXY TCP4 192.0.2.7 198.51.100.1 40000\r\n",
    b"PROXY TCP6 192.0.2.7 198.51.100.1 40000 25\r\n",
    b"PROXY TCP4 192.0.2.7 198.51.100.1 70000 25\r\n",
    b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\n",
    b"PROXY " + b"A" * 120 + b"\r\n",
    b"EHLO client.example\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"\r\n\r\n\x00\r\nQUIT\n\x30\x11\x00\x0c" + b"\x00" * 12,        # version 3
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04" + b"\x00" * 4,         # short block
], ids=["bad-ip", "missing-port", "family-mismatch", "port-range", "bare-lf", "too-long",
        "smtp", "http", "v2-version", "v2-short"])
def test_invalid_header_from_allowed_network_closes(make_env, bad):
    env = accept_env(make_env, "xclient")
    c = stplib.Client(env.port, source=CLIENT_IP)
    c.send(bad)
    data = c.read_until_close(timeout=10)
    assert data == b"", data
    time.sleep(0.2)
    assert env.sink.conns() == [], env.sink.dump()


class MemTLSSock:
    """A TLS client over memory BIOs on a plain socket, so that the first
    flight can be sent in one send() together with a prefix (a PROXY
    header). Offers the sendall/recv/settimeout/gettimeout/close that
    stplib.Client uses."""

    def __init__(self, sock, ctx, hostname, prefix):
        self.sock = sock
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=hostname)
        self.prefix = prefix
        self.first_send = None

    def _flush(self):
        data = self.out.read()
        if self.prefix is not None:
            data, self.prefix = self.prefix + data, None
            self.first_send = data
        if data:
            self.sock.sendall(data)

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.inc.write_eof()
        else:
            self.inc.write(chunk)
        return chunk

    def handshake(self):
        for _ in range(100):
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if not self._more():
                    raise stplib.Closed(b"")
        raise RuntimeError("handshake did not finish")

    def sendall(self, data):
        self.obj.write(data)
        self._flush()

    def recv(self, n):
        for _ in range(1000):
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                if not self._more():
                    return b""
            except ssl.SSLEOFError:
                return b""
        raise RuntimeError("no data")

    def version(self):
        return self.obj.version()

    def cipher(self):
        return self.obj.cipher()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def gettimeout(self):
        return self.sock.gettimeout()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("header", ["v1-tcp4", "v2-tcp6"])
def test_accept_proxy_implicit_tls_same_send(make_env, header):
    """Implicit TLS behind a balancer: the PROXY header and the ClientHello
    arrive in one send; the session works and the backend (PROXY v2
    outward) learns the header's address and the TLS parameters."""
    enc, src, dst = HEADERS[header]
    env = accept_env(make_env, "v2", global_keys={"handshake_timeout": "3s"})
    c = stplib.Client(env.smtps_port, source=CLIENT_IP)
    hdr = enc(src, dst, 40000, 465)
    t = MemTLSSock(c.sock, env.ctx(), "localhost", hdr)
    t.handshake()
    assert t.first_send.startswith(hdr) and len(t.first_send) > len(hdr) + 50
    c.sock = t
    c.tls = True
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    send_message(c, "lb-implicit")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    seen = identity_seen(env, "v2")
    assert seen.startswith(want_identity("v2", src, dst, 40000, 465)[:-len(" tlv=")]), seen
    assert " ssl-version=%s " % t.version() in seen, seen
    assert " ssl-cipher=%s " % t.cipher()[0] in seen, seen
    assert len(env.sink.messages()) == 1


# --------------------------------------------------------------------------
# A real Postfix as the legacy server

class LegacyPostfix(stplib.PostfixInstance):
    def __init__(self, base):
        self.xport = stplib.free_port()
        self.pport = stplib.free_port()
        super().__init__(PFX_LEGACY, os.path.join(base, "legacy"),
                         ["127.0.0.1", self.xport, self.pport, "legacy.test", "127.0.0.1/32"])


@pytest.fixture(scope="module")
def postfix():
    if os.geteuid() != 0:
        pytest.skip("a throw-away Postfix instance needs root here")
    if not shutil.which("postfix") or not shutil.which("postconf"):
        pytest.skip("postfix is not installed (scripts/setup.sh installs it)")
    base = tempfile.mkdtemp(prefix="stp-pfxid-", dir="/tmp")
    os.chmod(base, 0o755)
    pfx = None
    try:
        pfx = LegacyPostfix(base)
        yield pfx
    finally:
        if pfx is not None:
            pfx.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("mode", ["xclient", "v1", "v2", "v2-implicit"])
def test_postfix_sees_real_client(postfix, make_proxy, certs, mode):
    src = "127.0.0.%d" % (77 + ["xclient", "v1", "v2", "v2-implicit"].index(mode))
    if mode == "xclient":
        keys, backend = {"xclient": "yes"}, postfix.xport
    else:
        keys, backend = {"proxy_protocol": mode[:2]}, postfix.pport
    lst = [stplib.Listener("inbound", "starttls", "127.0.0.1:%d" % backend, **keys),
           stplib.Listener("inbound:smtps", "implicit", "127.0.0.1:%d" % backend, **keys)]
    px = make_proxy(lst)
    env = type("E", (), {"smtps_port": px.port("inbound:smtps"),
                         "ctx": lambda self: stplib.client_context(certs)})()
    if mode == "v2-implicit":
        c = implicit_client(env, source=src)
    else:
        c = stplib.Client(px.port("inbound"), source=src)
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    r = c.ehlo()
    expect(r, 250)
    assert "XCLIENT" not in r.keywords(), r
    if mode != "v2-implicit":
        c.starttls(stplib.client_context(certs))
        expect(c.ehlo(), 250)
    tag = "pfx-%s-%d" % (mode, cport)
    send_message(c, tag)
    expect(c.cmd("QUIT"), 221)
    c.close()
    data = postfix.delivered(tag)
    received = r"Received: from client\.example \(unknown \[%s\]\)" % re.escape(src)
    assert re.search(received.encode(), data), data[:600]
    assert b"[127.0.0.1]" not in data.split(b"\n\n")[0].split(b"\r\n\r\n")[0], data[:600]
    log = postfix.maillog()
    assert "client=unknown[%s]" % src in log, log[-3000:]
    # STARTTLS: the plaintext part and the encrypted part each on a backend
    # connection of its own (issue #16), and Postfix sees the real client on
    # both (a source address per mode: the instance serves them all);
    # implicit TLS: one connection. Postfix logs asynchronously: wait.
    want = 1 if mode == "v2-implicit" else 2
    line = "disconnect from unknown[%s] " % src
    deadline = time.monotonic() + 10
    while postfix.maillog().count(line) < want and time.monotonic() < deadline:
        time.sleep(0.1)
    log = postfix.maillog()
    assert log.count(line) == want, log[-3000:]
