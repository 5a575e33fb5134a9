"""Issue #10 against a real Postfix: no spelling of XCLIENT or XFORWARD from
a client reaches the backend.

Postfix (tests/tools/pfx-legacy.sh) trusts the proxy's address for XCLIENT
(smtpd_authorized_xclient_hosts) and, here, for XFORWARD too
(smtpd_authorized_xforward_hosts), and the proxy runs with xclient = yes:
anything the proxy let through would be executed with the proxy's
authority and change the client Postfix logs and writes into Received.
Clients connect from 127.0.0.77, never from the proxy's own 127.0.0.1.
"""

import os
import re
import shutil
import tempfile
import time

import pytest

import stplib

PFX_LEGACY = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "pfx-legacy.sh")
SRC = "127.0.0.77"
EVIL_ADDR = b"203.0.113.9"
EVIL_NAME = b"evil.example"

SPELLINGS = [
    (b"XCLIENT ADDR=203.0.113.9", "502 5.5.1 "),
    (b"xclient addr=203.0.113.9 name=evil.example", "502 5.5.1 "),
    (b"XClient ADDR=203.0.113.9 NAME=evil.example", "502 5.5.1 "),
    (b" XCLIENT ADDR=203.0.113.9", "500 5.5.2 "),
    (b"\tXCLIENT ADDR=203.0.113.9", "500 5.5.2 "),
    (b"XCLIENT\tADDR=203.0.113.9", "500 5.5.2 "),
    (b" xclient ADDR=203.0.113.9 NAME=evil.example", "500 5.5.2 "),
    (b"XCLIENT ADDR=203.0.113.9\t", "500 5.5.2 "),
    (b"XFORWARD NAME=evil.example ADDR=203.0.113.9", "502 5.5.1 "),
    (b"xforward name=evil.example addr=203.0.113.9", "502 5.5.1 "),
    (b" XFORWARD NAME=evil.example ADDR=203.0.113.9", "500 5.5.2 "),
    (b"\tXFORWARD NAME=evil.example ADDR=203.0.113.9", "500 5.5.2 "),
    (b"XFORWARD\tNAME=evil.example ADDR=203.0.113.9", "500 5.5.2 "),
    (b"XForward\x0bNAME=evil.example ADDR=203.0.113.9", "500 5.5.2 "),
    (b"XFORWARD\x0cADDR=203.0.113.9", "500 5.5.2 "),
]


class Postfix(stplib.PostfixInstance):
    def __init__(self, base):
        self.xport = stplib.free_port()
        self.pport = stplib.free_port()
        super().__init__(PFX_LEGACY, os.path.join(base, "legacy"),
                         ["127.0.0.1", self.xport, self.pport, "legacy.test", "127.0.0.1/32"])
        etc = os.path.join(self.dir, "etc")
        for cmd in (["postconf", "-c", etc, "-e",
                     "smtpd_authorized_xforward_hosts = 127.0.0.1/32"],
                    ["postfix", "-c", etc, "reload"]):
            r = stplib.run(cmd, timeout=30)
            if r.returncode != 0:
                raise RuntimeError("%s: %s %s" % (cmd, r.stdout, r.stderr))


@pytest.fixture(scope="module")
def postfix():
    if os.geteuid() != 0:
        pytest.skip("a throw-away Postfix instance needs root here")
    if not shutil.which("postfix") or not shutil.which("postconf"):
        pytest.skip("postfix is not installed (scripts/setup.sh installs it)")
    base = tempfile.mkdtemp(prefix="stp-pfxcanon-", dir="/tmp")
    os.chmod(base, 0o755)
    pfx = None
    try:
        pfx = Postfix(base)
        # "postfix reload" is asynchronous: give the master a moment to
        # re-read main.cf before the first smtpd is spawned.
        time.sleep(1.0)
        yield pfx
    finally:
        if pfx is not None:
            pfx.stop()
        shutil.rmtree(base, ignore_errors=True)


def expect(reply, prefix):
    assert len(reply.lines) == 1 and reply.lines[0].startswith(prefix), (prefix, reply)


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "starttls"])
def test_postfix_never_sees_client_xclient_or_xforward(postfix, make_proxy, certs, tls):
    px = make_proxy([stplib.Listener("inbound", "starttls", "127.0.0.1:%d" % postfix.xport,
                                     xclient="yes")])
    c = stplib.Client(px.port("inbound"), source=SRC)
    cport = c.sock.getsockname()[1]
    assert c.reply().code == 220
    r = c.ehlo()
    assert r.code == 250, r
    assert "XCLIENT" not in r.keywords() and "XFORWARD" not in r.keywords(), r
    if tls:
        c.starttls(stplib.client_context(certs))
        r = c.ehlo()
        assert "XCLIENT" not in r.keywords() and "XFORWARD" not in r.keywords(), r
    for line, prefix in SPELLINGS:
        c.send(line + b"\r\n")
        expect(c.reply(), prefix)
        # Still in step and still talking to the same smtpd session.
        assert c.cmd("NOOP").code == 250
    tag = "canon-%s-%d" % ("tls" if tls else "plain", cport)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    r = c.cmd("RCPT TO:<sink@legacy.test>")
    assert r.code == 250, r
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: canonical " + tag.encode() + b"\r\nMessage-ID: <" + tag.encode() +
           b"@sender.example>\r\n\r\nbody\r\n.\r\n")
    assert c.reply().code == 250
    assert c.cmd("QUIT").code == 221
    c.close()
    data = postfix.delivered(tag)
    head = re.split(rb"\r?\n\r?\n", data, 1)[0]
    assert re.search(rb"Received: from client\.example \(unknown \[127\.0\.0\.77\]\)", head), \
        head
    assert EVIL_ADDR not in data and EVIL_NAME not in data, head
    assert b"[127.0.0.1]" not in head, head
    log = postfix.maillog()
    assert "client=unknown[127.0.0.77]" in log, log[-3000:]
    assert EVIL_ADDR.decode() not in log, log[-3000:]
    assert EVIL_NAME.decode() not in log, log[-3000:]
