"""Outbound origination with real software on both sides.

(a) Relay mode: swaks (no TLS) and Python smtplib, as the legacy server,
    send through the proxy to a real Postfix MX offering STARTTLS with a
    certificate for "localhost" from the test CA (tests/tools/pfx-instance.sh).
    Postfix's Received header (smtpd_tls_received_header) proves TLS; the
    Maildir copy proves the message arrived byte-exact.
(b) Transparent mode for real: network namespaces made by the test
    (tests/tools/netns.sh): a "pod" holding the legacy client, the proxy
    (mark = 0x2a) and an iptables REDIRECT of outgoing tcp/25; an "internet"
    namespace holding the scripted MX on 198.51.100.25:25. The legacy client
    dials the MX's address; the proxy takes the connection and upgrades it.
"""

import json
import os
import re
import shutil
import smtplib
import tempfile
import time

import pytest

import stplib
from outlib import (NETNS, PFX, LegacyClient, dot_stuff, lhcerts, make_mx,  # noqa: F401
                    make_outproxy, netns_pair, outbound, policy)
from stplib import run

LEGACY = "legacy.example"


def message(tag):
    """A message with a unique Subject (the Postfix instance is shared by
    the module's tests), a dot line, 8-bit text and a long line."""
    return (b"From: <a@sender.example>\r\n"
            b"To: <b@test.example>\r\n"
            b"Subject: outbound real " + tag.encode() + b"\r\n"
            b"Message-ID: <" + tag.encode() + b"@sender.example>\r\n"
            b"Date: Mon, 30 Nov 2026 04:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n"
            b"first line\r\n"
            b".a line that starts with a dot\r\n"
            b"..\r\n"
            b"\xc3\xa9t\xc3\xa9 8bit\ttab  \r\n"
            + b"y" * 900 + b"\r\n"
            b"last line\r\n")


# --------------------------------------------------------------------------
# (a) a real Postfix MX

class Postfix(stplib.PostfixInstance):
    def __init__(self, base, port, certs):
        self.port = port
        super().__init__(PFX, os.path.join(base, "mx"),
                         ["127.0.0.1", port, "test.example",
                          os.path.join(certs, "server.pem"), os.path.join(certs, "server.key")],
                         timeout=60)


@pytest.fixture(scope="module")
def postfix(certs):
    if os.geteuid() != 0:
        pytest.skip("a throw-away Postfix instance needs root here")
    if not shutil.which("postfix") or not shutil.which("postconf"):
        pytest.skip("postfix is not installed")
    # Postfix daemons (user postfix, nobody) must reach the instance
    # directory, which pytest's private tmp tree does not allow.
    base = tempfile.mkdtemp(prefix="stp-pfx-", dir="/tmp")
    os.chmod(base, 0o755)
    pfx = None
    try:
        pfx = Postfix(base, stplib.free_port(), certs)
        yield pfx
    finally:
        if pfx is not None:
            pfx.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def via_proxy(postfix, make_outproxy, certs):
    """A relay-mode proxy (tls = verify) in front of the Postfix MX."""
    return make_outproxy([outbound(relay="localhost:%d" % postfix.port, tls="verify",
                                   ca_file=os.path.join(certs, "ca.pem"))])


def split_delivered(data):
    """Maildir file -> (added header lines, rest). Postfix prepends
    Return-Path, Delivered-To and Received (with folded lines)."""
    lines = data.split(b"\n")
    added = []
    i = 0
    while i < len(lines):
        l = lines[i]
        if l.startswith((b"Return-Path:", b"Delivered-To:", b"X-Original-To:", b"Received:")):
            added.append(l)
        elif l.startswith((b"\t", b" ")) and added:
            added[-1] += b"\n" + l
        else:
            break
        i += 1
    return added, b"\n".join(lines[i:])


def check_delivered_over_tls(postfix, px, tag, msg):
    data = postfix.delivered(tag)
    added, rest = split_delivered(data)
    # Byte-exact, modulo Postfix's LF line ends and its added headers.
    assert rest == msg.replace(b"\r\n", b"\n"), (added, rest)
    received = [h for h in added if h.startswith(b"Received:")]
    assert len(received) == 1, added
    rcv = received[0].decode("utf-8", "replace")
    m = re.search(r"\(using (TLSv1\.[23]) with cipher (\S+)", rcv)
    assert m, rcv
    assert re.search(r"with ESMTPS\b", rcv), rcv
    # From the proxy (it said EHLO with the legacy server's name).
    assert re.search(r"from %s \(localhost \[127\.0\.0\.1\]\)" % re.escape(LEGACY), rcv), rcv
    cl = [e for e in px.wait_event("session_close") if e["messages"] == "1"][-1]
    assert cl["verify"] == "Verified", cl
    assert cl["tls"] == m.group(1), (cl, rcv)
    if m.group(1) == "TLSv1.3":
        assert cl["cipher"] == m.group(2), (cl, rcv)


def test_swaks_to_postfix_over_verified_tls(postfix, via_proxy, workdir):
    if not shutil.which("swaks"):
        pytest.skip("swaks is not installed")
    tag = "swaks-%d" % os.getpid()
    msg = message(tag)
    path = os.path.join(workdir, "message.eml")
    with open(path, "wb") as f:
        f.write(dot_stuff(msg) + b".\r\n")
    r = run(["swaks", "--server", "127.0.0.1:%d" % via_proxy.port(), "--ehlo", LEGACY,
             "--from", "a@sender.example", "--to", "b@test.example",
             "--data", "@" + path, "--no-data-fixup", "--timeout", "20"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"<-  250 2\.0\.0 Ok: queued as \S+", r.stdout), r.stdout
    # Everything the legacy side received ("<-" / "<**" lines).
    received = [l for l in r.stdout.splitlines() if l.startswith(("<-", "<*"))]
    assert received and not any("STARTTLS" in l.upper() for l in received), r.stdout
    assert not any("CHUNKING" in l.upper() for l in received), r.stdout
    check_delivered_over_tls(postfix, via_proxy, tag, msg)


def test_smtplib_to_postfix_over_verified_tls(postfix, via_proxy):
    tag = "smtplib-%d" % os.getpid()
    msg = message(tag)
    with smtplib.SMTP("127.0.0.1", via_proxy.port(), local_hostname=LEGACY,
                      timeout=stplib.IO_TIMEOUT) as s:
        code, text = s.ehlo()
        assert code == 250, text
        assert not s.has_extn("starttls"), s.esmtp_features
        assert not s.has_extn("chunking"), s.esmtp_features
        assert b"STARTTLS" not in text.upper(), text
        refused = s.sendmail("a@sender.example", ["b@test.example"], msg)
        assert refused == {}
    check_delivered_over_tls(postfix, via_proxy, tag, msg)


def test_postfix_untrusted_for_other_ca(postfix, make_outproxy, lhcerts):
    """The same Postfix, but the proxy trusts another anchor: 421 4.7.5 and
    nothing of the transaction reaches Postfix."""
    px = make_outproxy([outbound(relay="localhost:%d" % postfix.port, tls="verify",
                                 ca_file=os.path.join(lhcerts, "lh-selfsigned.pem"))])
    before = postfix.maillog().count("\n")
    c = LegacyClient(px.port())
    assert c.reply().code == 220
    r = c.cmd("EHLO " + LEGACY)
    assert r.code == 421 and r.lines[0].startswith("421 4.7.5 "), r
    assert c.read_until_close() == b""
    c.close()
    cl = px.wait_event("session_close")[-1]
    assert cl["verify"] == "Untrusted", cl
    # Postfix saw a TLS session end without a MAIL command.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = "\n".join(postfix.maillog().splitlines()[before:])
        if "disconnect from" in new:
            break
        time.sleep(0.1)
    assert "disconnect from" in new, new
    assert "mail=0" in new or "mail=" not in new, new
    assert not re.search(r"smtpd\[\d+\]: [0-9A-F]+: client=", new), new


# --------------------------------------------------------------------------
# (b) transparent mode in network namespaces

POD_PORT = 10025
MX_ADDR = "198.51.100.25"


@pytest.fixture
def transparent(netns_pair, make_mx, make_outproxy, certs):
    """MX (good.pem, mx.test.example) at 198.51.100.25:25 in the internet
    namespace; in the pod a transparent proxy (tls = may, mark 0x2a, a verify
    policy for test.example by name, an unmeetable one for strict.example)
    and the REDIRECT rule."""
    pod, inet = netns_pair
    mx = make_mx(cert="good", listen="%s:25" % MX_ADDR, netns=inet)
    px = make_outproxy([
        outbound(mode="transparent", tls="may", listen="127.0.0.1:%d" % POD_PORT,
                 ca_file=os.path.join(certs, "ca.pem"), mark="0x2a"),
        policy("test.example", "verify", "mx.test.example"),
        policy("strict.example", "verify", "nomatch.example"),
    ], netns=pod)
    r = run(["bash", NETNS, "redirect", pod, str(POD_PORT), "0x2a"], timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return pod, mx, px


def in_pod(pod, argv, **kw):
    return run(["ip", "netns", "exec", pod] + argv, **kw)


def check_tls_at_mx(mx, n=1):
    # The proxy upgraded it: STARTTLS from the pod's address, then the
    # transaction inside TLS only; no SNI, as no name is known.
    log = mx.log(n)
    assert re.search(r"^event connect 192\.0\.2\.1:\d+$", log, re.M), log
    assert mx.verbs(n, "plain") == ["EHLO", "STARTTLS"], log
    assert mx.verbs(n, "tls")[:2] == ["EHLO", "MAIL"], log


def test_transparent_swaks_in_pod(transparent, workdir):
    if not shutil.which("swaks"):
        pytest.skip("swaks is not installed")
    pod, mx, px = transparent
    msg = message("transparent-swaks")
    path = os.path.join(workdir, "message.eml")
    with open(path, "wb") as f:
        f.write(dot_stuff(msg) + b".\r\n")
    r = in_pod(pod, ["swaks", "--server", "%s:25" % MX_ADDR, "--ehlo", LEGACY,
                     "--from", "a@sender.example", "--to", "b@test.example",
                     "--data", "@" + path, "--no-data-fixup", "--timeout", "20"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    received = [l for l in r.stdout.splitlines() if l.startswith(("<-", "<*"))]
    assert received and not any("STARTTLS" in l.upper() for l in received), r.stdout
    assert mx.wait_closed(), mx.dump()
    assert mx.messages() == [msg]
    meta = mx.meta(1)
    assert meta["tls"] in ("TLSv1.2", "TLSv1.3") and meta["sni"] is None, meta
    assert meta["rcpt"] == ["TO:<b@test.example>"], meta
    check_tls_at_mx(mx)
    # The REDIRECT rule brought the legacy client's connection to the proxy.
    assert px.wait_event("session_open")[-1]["listener"] == "outbound"
    cl = px.wait_event("session_close")[-1]
    assert cl["dest"] == "%s:25" % MX_ADDR and cl["relay"] == "-", cl
    assert cl["tls"] == meta["tls"], cl
    pol = px.wait_event("policy")[-1]
    assert (pol["domain"], pol["outcome"]) == ("test.example", "ok"), pol


CLIENT = r"""
import json, smtplib, sys
with open(sys.argv[2], "rb") as f:
    msg = f.read()
out = {}
with smtplib.SMTP(sys.argv[1], 25, local_hostname="legacy.example", timeout=15) as s:
    out["ehlo"] = list(s.ehlo())
    out["ehlo"][1] = out["ehlo"][1].decode("latin-1")
    out["mail"] = s.mail("a@sender.example")[0]
    out["rcpt"] = [list(s.rcpt(r)) for r in sys.argv[3:]]
    for r in out["rcpt"]:
        r[1] = r[1].decode("latin-1")
    out["data"] = list(s.data(msg))
    out["data"][1] = out["data"][1].decode("latin-1")
print(json.dumps(out))
"""


def test_transparent_smtplib_in_pod_with_policy(transparent, workdir):
    pod, mx, px = transparent
    msg = message("transparent-smtplib")
    path = os.path.join(workdir, "message.eml")
    with open(path, "wb") as f:
        f.write(msg)
    r = in_pod(pod, [stplib.PYTHON, "-c", CLIENT, MX_ADDR, path, "b@Test.Example.",
                     "x@strict.example"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ehlo"][0] == 250 and "STARTTLS" not in out["ehlo"][1].upper(), out
    assert out["mail"] == 250, out
    assert out["rcpt"][0][0] == 250, out
    assert out["rcpt"][1][0] == 450 and out["rcpt"][1][1].startswith("4.7.5 "), out
    assert out["data"][0] == 250, out
    assert mx.wait_closed(), mx.dump()
    assert mx.messages() == [msg]
    meta = mx.meta(1)
    assert meta["tls"] and meta["rcpt"] == ["TO:<b@Test.Example.>"], meta
    assert b"strict.example" not in mx.all_raw()
    check_tls_at_mx(mx)
    pol = {e["domain"]: e for e in px.wait_event("policy", count=2)}
    assert pol["test.example"]["outcome"] == "ok", pol
    assert pol["strict.example"]["outcome"] == "not-verified", pol
