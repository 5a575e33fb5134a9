"""Issue #16: the encrypted part of an inbound STARTTLS session runs on a
fresh backend connection.

The proxy answers STARTTLS itself, so a backend that stayed on one
connection would see the client's post-TLS EHLO as a second EHLO, which
RFC 5321 4.1.4 lets it refuse (OpenSMTPD: "503 5.5.1 Invalid command:
Already identified"). After the handshake the proxy opens a new backend
connection, checks and swallows its banner, sends the PROXY header or
XCLIENT again, and relays the client's EHLO as that connection's first
greeting; the plaintext connection is closed with QUIT.

The sink runs with --refuse-second-ehlo (it answers a second EHLO/HELO as
OpenSMTPD does), and OpenSMTPD itself runs as the backend when its Debian
package can be unpacked (tests/tools/opensmtpd-backend.sh).
"""

import os
import re
import shutil
import smtplib
import socket
import sys
import threading
import time

import pytest

import stplib
from stplib import run
from test_inbound_real import MESSAGE, STORED, s_client_transaction

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import wait_metric  # noqa: E402

CLIENT_IP = "127.0.0.66"
XCLIENT_EHLO = "PIPELINING,SIZE 10240000,8BITMIME,XCLIENT ADDR PORT PROTO"
OPENSMTPD = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "opensmtpd-backend.sh")


def expect(reply, code, enhanced=""):
    assert reply.code == code, reply
    if enhanced:
        assert reply.lines[-1].startswith("%d %s " % (code, enhanced)), reply


def two_backend_connections(sink):
    """The plaintext part on connection 1 (EHLO, then the proxy's QUIT), the
    encrypted part on connection 2, which starts with the client's EHLO."""
    assert sink.wait_closed(min_conns=2), sink.dump()
    assert sink.conns() == [1, 2], sink.dump()
    first, second = sink.commands(1), sink.commands(2)
    # (smtplib writes its verbs in lower case.)
    assert first[0].upper().startswith("EHLO ") and first[-1] == "QUIT", sink.dump()
    assert second[0].upper().startswith("EHLO "), sink.dump()
    for n in (1, 2):
        assert "second-ehlo-refused" not in stplib.events(sink.log(n)), sink.dump()
        assert "STARTTLS" not in [c.upper() for c in sink.commands(n)], sink.dump()
    # Nothing of a transaction before TLS: the new connection gets no RSET.
    assert "RSET" not in [c.upper() for c in second], second
    return first, second


@pytest.fixture
def refusing(make_env):
    """A sink that refuses a second EHLO, behind the two inbound listeners."""
    return make_env(refuse_second_ehlo=True)


# --------------------------------------------------------------------------
# Real clients through a backend that refuses a second EHLO

def test_swaks_starttls(refusing, workdir):
    env = refusing
    data = os.path.join(workdir, "message.eml")
    with open(data, "wb") as f:
        f.write(MESSAGE + b".\r\n")
    r = run(["swaks", "--server", "127.0.0.1:%d" % env.port, "--tls",
             "--tls-verify", "--tls-ca-path", os.path.join(env.certs, "ca.pem"),
             "--from", "a@example.org", "--to", "b@example.net",
             "--data", "@" + data, "--no-data-fixup"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"TLS started with cipher TLSv1\.[23]", r.stdout), r.stdout
    assert re.search(r"<~  250 2\.0\.0 Ok: queued as \d+", r.stdout), r.stdout
    assert env.sink.messages() == [STORED]
    _, second = two_backend_connections(env.sink)
    assert second[1] == "MAIL FROM:<a@example.org>", second


def test_smtplib_starttls_bytes_exact(refusing):
    env = refusing
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="smtplib.example",
                      timeout=stplib.IO_TIMEOUT) as s:
        s.ehlo()
        s.starttls(context=env.ctx())
        code, _ = s.ehlo()
        assert code == 250
        # smtplib dot-stuffs by itself: what it is given is what must arrive.
        s.sendmail("a@example.org", ["b@example.net"], STORED)
    assert env.sink.messages() == [STORED]
    first, second = two_backend_connections(env.sink)
    # smtplib says "ehlo": the backend gets the canonical upper-case verb.
    assert first == ["EHLO smtplib.example", "QUIT"], first
    assert second[0] == "EHLO smtplib.example", second


def test_openssl_s_client_starttls(refusing, workdir):
    env = refusing
    s_client_transaction(env, env.port, True, workdir)
    assert env.sink.messages() == [STORED]
    two_backend_connections(env.sink)


def test_implicit_tls_one_backend_connection(refusing):
    """SMTPS needs no second connection: TLS comes before the banner."""
    env = refusing
    with smtplib.SMTP_SSL("127.0.0.1", env.smtps_port, context=env.ctx(),
                          timeout=stplib.IO_TIMEOUT) as s:
        s.sendmail("a@example.org", ["b@example.net"], STORED)
    assert env.sink.messages() == [STORED]
    assert env.sink.wait_closed(), env.sink.dump()
    assert env.sink.conns() == [1], env.sink.dump()


# --------------------------------------------------------------------------
# Nothing from before TLS on the connection that carries the encrypted part

def test_mail_before_starttls_unknown_to_tls_connection(env):
    """A transaction opened in plaintext (the CVE-2011-0411 class) lives
    and dies on the plaintext connection."""
    c = env.client()
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    expect(c.cmd("MAIL FROM:<plain@before.example>"), 250)
    expect(c.cmd("RCPT TO:<plain-rcpt@before.example>"), 250)
    c.starttls(env.ctx())
    # The transaction did not survive: RCPT needs a MAIL first.
    expect(c.ehlo("client.example"), 250)
    expect(c.cmd("MAIL FROM:<tls@after.example>"), 250)
    expect(c.cmd("RCPT TO:<b@example.net>"), 250)
    expect(c.cmd("DATA"), 354)
    c.send(MESSAGE + b".\r\n")
    expect(c.reply(), 250)
    expect(c.cmd("QUIT"), 221)
    c.close()
    assert env.sink.messages() == [STORED]
    first, second = two_backend_connections(env.sink)
    assert first[1:] == ["MAIL FROM:<plain@before.example>",
                         "RCPT TO:<plain-rcpt@before.example>", "QUIT"], first
    assert second == ["EHLO client.example", "MAIL FROM:<tls@after.example>",
                      "RCPT TO:<b@example.net>", "DATA", "QUIT"], second
    assert b"before.example" not in env.sink.raw(2), env.sink.raw(2)


def test_old_connection_late_bytes_never_reach_client(make_env):
    """What the plaintext connection says after the switch (its 221 to the
    proxy's QUIT, here dribbled byte by byte) is not a reply on the new leg."""
    env = make_env(refuse_second_ehlo=True, dribble=5)
    c = env.client()
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    c.starttls(env.ctx())
    r = c.ehlo()
    expect(r, 250)
    assert r.lines[0] == "250-sink.test", r
    expect(c.cmd("NOOP"), 250, "2.0.0")
    expect(c.cmd("QUIT"), 221, "2.0.0")
    assert c.read_until_close() == b""
    c.close()
    two_backend_connections(env.sink)


def test_pipelined_ehlo_waits_for_new_connection(make_env):
    """The client's EHLO and more, sent at once after the handshake while the
    new backend is slow to greet, reach it only after its banner."""
    env = make_env(refuse_second_ehlo=True, dribble=5)
    c = env.client()
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    c.starttls(env.ctx())
    c.send(b"EHLO client.example\r\nNOOP\r\n")
    expect(c.reply(), 250)
    expect(c.reply(), 250, "2.0.0")
    expect(c.cmd("QUIT"), 221)
    c.close()
    _, second = two_backend_connections(env.sink)
    assert second == ["EHLO client.example", "NOOP", "QUIT"], second


def test_failed_handshake_opens_no_second_connection(env):
    """The new connection is dialled only once TLS is up: a client that
    fails its handshake costs the backend nothing more, and the plaintext
    connection still ends with QUIT."""
    c = env.client()
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    expect(c.cmd("STARTTLS"), 220)
    c.send(b"\x16\x03\x01\x00\x05hello, not a ClientHello")
    data = c.read_until_close()
    assert data == b"" or data.startswith(b"\x15\x03"), data  # at most a TLS alert
    c.close()
    env.proxy.wait_event("session_close")
    assert env.sink.wait_closed(), env.sink.dump()
    assert env.sink.conns() == [1], env.sink.dump()
    assert env.sink.commands(1) == ["EHLO client.example", "QUIT"], env.sink.dump()


# --------------------------------------------------------------------------
# The client's identity reaches the new connection

@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_header_on_tls_connection(make_env, version):
    env = make_env(inbound={"proxy_protocol": version}, proxy_protocol=True,
                   refuse_second_ehlo=True)
    c = stplib.Client(env.port, source=CLIENT_IP)
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    c.starttls(env.ctx())
    expect(c.ehlo(), 250)
    tls_version, cipher = c.sock.version(), c.sock.cipher()[0]
    expect(c.cmd("QUIT"), 221)
    c.close()
    two_backend_connections(env.sink)
    for n in (1, 2):
        ev = [e for e in stplib.events(env.sink.log(n)) if e.startswith("proxy-")]
        assert len(ev) == 1, env.sink.dump()
        if version == "v1":
            assert ev[0] == "proxy-v1 PROXY TCP4 %s 127.0.0.1 %d %d" % (
                CLIENT_IP, cport, env.port), ev
            continue
        assert ev[0].startswith("proxy-v2 cmd=proxy fam=0x11 src=%s:%d dst=127.0.0.1:%d " % (
            CLIENT_IP, cport, env.port)), ev
        if n == 1:
            # Before TLS the header cannot say TLS.
            assert "ssl-" not in ev[0], ev
        else:
            assert " ssl-client=0x01 " in ev[0], ev
            assert " ssl-version=%s " % tls_version in ev[0], ev
            assert " ssl-cipher=%s " % cipher in ev[0], ev


def test_xclient_on_tls_connection(make_env):
    env = make_env(inbound={"xclient": "yes"}, ehlo=XCLIENT_EHLO, refuse_second_ehlo=True)
    c = stplib.Client(env.port, source=CLIENT_IP)
    cport = c.sock.getsockname()[1]
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    c.starttls(env.ctx())
    r = c.ehlo()
    expect(r, 250)
    assert "XCLIENT" not in r.keywords(), r
    expect(c.cmd("MAIL FROM:<a@example.org>"), 250)
    expect(c.cmd("QUIT"), 221)
    c.close()
    assert env.sink.wait_closed(min_conns=2), env.sink.dump()
    xc = "XCLIENT NAME=[UNAVAILABLE] ADDR=%s PORT=%d PROTO=ESMTP" % (CLIENT_IP, cport)
    for n in (1, 2):
        cmds = env.sink.commands(n)
        assert cmds[0].startswith("EHLO ") and cmds[0] != "EHLO client.example", cmds
        assert cmds[1] == xc, cmds
        assert cmds[2] == "EHLO client.example", cmds
    assert env.sink.commands(1)[3:] == ["QUIT"]
    assert env.sink.commands(2)[3:] == ["MAIL FROM:<a@example.org>", "QUIT"]


# --------------------------------------------------------------------------
# The new connection fails: the client, now inside TLS, gets a 421

class ScriptedBackend:
    """A plaintext backend on 127.0.0.1 whose first connection behaves
    (banner, EHLO, QUIT) and whose second one does what `second` says:
    "refuse" (the listening socket is closed after the first accept),
    "close", "banner-421", "banner-554", "silent" (never greets), or
    "xclient-refuse" (both offer XCLIENT; the second refuses it). Each
    connection's received bytes are kept in .got[n]. Bounded: every socket
    operation has a timeout and the thread ends after max_seconds."""

    def __init__(self, second, max_seconds=60):
        self.second = second
        self.got = {}
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.lsock.settimeout(1.0)
        self.port = self.lsock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.deadline = time.monotonic() + max_seconds
        self.done = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        n = 0
        try:
            while n < 2 and time.monotonic() < self.deadline and not self.done.is_set():
                try:
                    s, _ = self.lsock.accept()
                except socket.timeout:
                    continue
                n += 1
                self.conns.append(s)
                s.settimeout(1.0)
                if n == 1 and self.second == "refuse":
                    self.lsock.close()
                threading.Thread(target=self.talk, args=(s, n), daemon=True).start()
        except OSError:
            pass

    def talk(self, s, n):
        xclient = self.second == "xclient-refuse"
        self.got[n] = b""
        mode = "ok" if n == 1 else self.second
        try:
            if mode == "close":
                s.close()
                return
            if mode == "silent":
                self.done.wait(max(0, self.deadline - time.monotonic()))
                return
            banner = {"banner-421": b"421 4.3.2 busy\r\n",
                      "banner-554": b"554 5.3.2 no service\r\n"}.get(mode, b"220 scripted ESMTP\r\n")
            s.sendall(banner)
            buf = b""
            while time.monotonic() < self.deadline and not self.done.is_set():
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                self.got[n] += chunk
                buf += chunk
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    verb = line.split(b" ")[0].upper()
                    if verb == b"EHLO":
                        s.sendall(b"250-scripted\r\n" + (b"250-XCLIENT ADDR PORT PROTO\r\n"
                                  if xclient else b"") + b"250 PIPELINING\r\n")
                    elif verb == b"XCLIENT":
                        s.sendall(b"220 scripted ESMTP\r\n" if n == 1 else
                                  b"550 5.7.0 insufficient authorization\r\n")
                    elif verb == b"QUIT":
                        s.sendall(b"221 2.0.0 Bye\r\n")
                        return
                    else:
                        s.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            s.close()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass
        try:
            self.lsock.close()
        except OSError:
            pass


@pytest.fixture
def make_scripted(request):
    backends = []

    def factory(second):
        b = ScriptedBackend(second)
        backends.append(b)
        return b

    yield factory
    for b in backends:
        b.stop()


FAILURES = {
    "refuse": b"421 4.3.0 ",
    "close": b"421 4.4.2 ",
    "banner-421": b"421 4.3.0 ",
    "banner-554": b"421 4.3.0 ",
    "silent": b"421 4.4.2 ",
    "xclient-refuse": b"421 4.3.0 ",
}


@pytest.mark.parametrize("second", sorted(FAILURES))
def test_new_connection_failure_is_421_inside_tls(make_scripted, make_proxy, certs, second):
    be = make_scripted(second)
    keys = {"xclient": "yes"} if second == "xclient-refuse" else {}
    g = {"idle_timeout": "2s"} if second == "silent" else None
    px = make_proxy([stplib.Listener("inbound", "starttls", be.addr, **keys)], global_keys=g)
    c = stplib.Client(px.port("inbound"))
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    c.starttls(stplib.client_context(certs))
    c.send(b"EHLO client.example\r\n")
    data = c.read_until_close(timeout=20)
    assert data.startswith(FAILURES[second]) and data.endswith(b"\r\n"), data
    assert data.count(b"\r\n") == 1, data
    # The client's EHLO never reached a connection that was not ready.
    assert b"client.example" not in be.got.get(2, b""), be.got
    c.close()


# --------------------------------------------------------------------------
# Metrics: an operator sees the second connection

def test_backend_connections_counted(make_sink, make_proxy, certs):
    sink = make_sink()
    admin = stplib.free_port()
    px = make_proxy([stplib.Listener("inbound", "starttls", sink.addr),
                     stplib.Listener("inbound:smtps", "implicit", sink.addr)],
                    global_keys={"admin": "127.0.0.1:%d" % admin})
    deadline = time.monotonic() + stplib.START_TIMEOUT
    while not stplib.listening(admin) and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx = stplib.client_context(certs)
    with smtplib.SMTP("127.0.0.1", px.port("inbound"), timeout=stplib.IO_TIMEOUT) as s:
        s.starttls(context=ctx)
        s.sendmail("a@example.org", ["b@example.net"], STORED)
    with smtplib.SMTP_SSL("127.0.0.1", px.port("inbound:smtps"), context=ctx,
                          timeout=stplib.IO_TIMEOUT) as s:
        s.sendmail("a@example.org", ["b@example.net"], STORED)
    st = {"listener": "inbound", "direction": "inbound"}
    m = wait_metric(admin, "stp_sessions_ended_total", 1, **st)
    assert m.get("stp_server_connections_total", **st) == 2, m.text
    im = {"listener": "inbound:smtps", "direction": "inbound"}
    m = wait_metric(admin, "stp_sessions_ended_total", 1, **im)
    assert m.get("stp_server_connections_total", **im) == 1, m.text
    assert sink.wait_closed(min_conns=3), sink.dump()


# --------------------------------------------------------------------------
# OpenSMTPD itself as the backend

@pytest.fixture
def opensmtpd(workdir):
    if os.geteuid() != 0:
        pytest.skip("OpenSMTPD backend: needs root (users, spool, helper path)")
    for tool in ("apt-get", "dpkg", "ss"):
        if shutil.which(tool) is None:
            pytest.skip("OpenSMTPD backend: %s not found" % tool)
    d = os.path.join(workdir, "opensmtpd")
    port = stplib.free_port()
    r = run(["bash", OPENSMTPD, "up", "127.0.0.1", str(port), d], timeout=180)
    if r.returncode == 3:
        pytest.skip("OpenSMTPD backend unavailable: " + (r.stderr.strip() or r.stdout.strip()))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield d, port
    finally:
        run(["bash", OPENSMTPD, "down", d], timeout=60)


def opensmtpd_delivered(d, tag, timeout=30):
    deadline = time.monotonic() + timeout
    needle = b"<" + tag.encode() + b"@sender.example>"
    new = os.path.join(d, "root", "varlib", "stp-maildir", "new")
    while time.monotonic() < deadline:
        for name in (os.listdir(new) if os.path.isdir(new) else []):
            with open(os.path.join(new, name), "rb") as f:
                data = f.read()
            if needle in data:
                return data
        time.sleep(0.1)
    with open(os.path.join(d, "smtpd.log"), errors="replace") as f:
        log = f.read()
    pytest.fail("message %s not delivered by OpenSMTPD within %ss; log:\n%s" % (
        tag, timeout, log[-4000:]), pytrace=False)


def test_opensmtpd_starttls(opensmtpd, make_proxy, certs):
    d, port = opensmtpd
    px = make_proxy([stplib.Listener("inbound", "starttls", "127.0.0.1:%d" % port)])
    tag = "osmtpd-%d" % os.getpid()
    # Date and Message-ID present: OpenSMTPD adds neither, only its trace
    # headers in front.
    body = (b"From: <a@sender.example>\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n"
            b"Subject: through OpenSMTPD\r\nMessage-ID: <" + tag.encode() +
            b"@sender.example>\r\n\r\nfirst line\r\n.leading dot\r\n\xc3\xa9t\xc3\xa9\r\n"
            b"last line\r\n")
    with smtplib.SMTP("127.0.0.1", px.port("inbound"), local_hostname="client.example",
                      timeout=stplib.IO_TIMEOUT) as s:
        s.ehlo()
        s.starttls(context=stplib.client_context(certs))
        code, msg = s.ehlo()
        assert code == 250, msg
        s.sendmail("a@sender.example", ["someone@legacy.test"], body)
    data = opensmtpd_delivered(d, tag)
    # OpenSMTPD adds its own headers in front; the message follows unchanged.
    assert data.replace(b"\r\n", b"\n").endswith(body.replace(b"\r\n", b"\n")), data


def test_opensmtpd_swaks(opensmtpd, make_proxy, certs, workdir):
    d, port = opensmtpd
    px = make_proxy([stplib.Listener("inbound", "starttls", "127.0.0.1:%d" % port)])
    tag = "osmtpd-swaks-%d" % os.getpid()
    r = run(["swaks", "--server", "127.0.0.1:%d" % px.port("inbound"), "--tls",
             "--tls-verify", "--tls-ca-path", os.path.join(certs, "ca.pem"),
             "--from", "a@sender.example", "--to", "x@legacy.test",
             "--header", "Message-ID: <%s@sender.example>" % tag], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Already identified" not in r.stdout, r.stdout
    opensmtpd_delivered(d, tag)
