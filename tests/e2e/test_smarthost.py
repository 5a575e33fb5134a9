"""Smarthost delivery (issue 13): implicit TLS toward the relay, the proxy's
own SMTP AUTH (PLAIN, LOGIN, XOAUTH2) from auth_file, a client certificate,
and TLS session reuse toward the relay.

The relay is the scripted MX (tests/tools/mx.py) with its smarthost options:
--implicit (port 465 style), --auth-user/--auth-pass/--auth-token-file (it
checks the credentials and refuses MAIL before AUTH), --auth-mechs (what
its EHLO inside TLS offers), --client-ca (a client certificate required and
verified). It logs "event tls ... resumed=yes|no client=CN" and
"event auth MECH ok|bad", never a secret.

The legacy server is a plaintext client that never authenticates, or swaks.
"""

import os
import re
import ssl
import subprocess
import time
import urllib.request

import pytest

import stplib
from outlib import LegacyClient, lhcerts, make_mx, make_outproxy, outbound, policy  # noqa: F401

USER = "relay-user@example.com"
PASSWORD = "Pa55-Secret-7f3c9d"
TOKEN1 = "ya29.TokenOne-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TOKEN2 = "ya29.TokenTwo-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
SECRETS = (PASSWORD, TOKEN1, TOKEN2)

MESSAGE = (b"From: <printer@legacy.example>\r\n"
           b"To: <b@test.example>\r\n"
           b"Subject: scan\r\n"
           b"\r\n"
           b"scanned page\r\n")


def metric(text, name, **labels):
    """The value of the series name{labels} (labels in any order), or None."""
    for m in re.finditer(r"^%s\{([^}]*)\} (\d+)$" % re.escape(name), text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if have == labels:
            return int(m.group(2))
    return None


class Env:
    def __init__(self, mx, px, admin, workdir):
        self.mx = mx
        self.px = px
        self.admin = admin
        self.workdir = workdir

    def client(self):
        return LegacyClient(self.px.port())

    def ehlo_refused(self):
        """A session whose EHLO gets the proxy's 421 4.7.0 (the relay
        refused its authentication); returns when the relay's connection
        has closed."""
        c = self.client()
        assert c.reply().code == 220
        r = c.cmd("EHLO legacy.example")
        assert r.code == 421 and r.lines[0].startswith("421 4.7.0"), r.text
        c.read_until_close()
        c.close()
        self.mx.wait_closed()

    def metrics(self):
        return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin,
                                      timeout=10).read().decode()

    def send(self, rcpt="b@test.example", verb="EHLO"):
        """One legacy session that delivers MESSAGE; returns the EHLO reply."""
        c = self.client()
        try:
            assert c.reply().code == 220
            e = c.cmd("%s legacy.example" % verb)
            assert e.code == 250, e.text
            assert c.cmd("MAIL FROM:<printer@legacy.example>").code == 250
            assert c.cmd("RCPT TO:<%s>" % rcpt).code == 250
            d, end = c.data(MESSAGE)
            assert d.code == 354 and end.code == 250, (d.text, end and end.text)
            assert c.cmd("QUIT").code == 221
            return e
        finally:
            c.close()

    def mx_events(self, n):
        return stplib.events(self.mx.log(n))

    def all_mx_events(self):
        return [e for n in self.mx.conns() for e in self.mx_events(n)]

    def no_secret_anywhere(self):
        text = self.px.stderr() + self.metrics()
        for s in SECRETS:
            assert s not in text
        import base64
        for s in SECRETS:
            assert base64.b64encode(s.encode()).decode()[:16] not in text


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


@pytest.fixture
def env(make_mx, make_outproxy, certs, workdir):
    """factory(implicit=False, auth="password"|"token"|None, relay_mechs=None,
    relay_pass=PASSWORD, client_ca=False, tls="verify", **listener keys)."""

    def factory(implicit=False, auth="password", relay_mechs=None, relay_pass=PASSWORD,
                client_ca=False, tls="verify", mx_cert="server", policies=(), certdir=None,
                **keys):
        extra = []
        if implicit:
            extra.append("--implicit")
        tokfile = os.path.join(workdir, "relay-token")
        if auth is not None:
            write(tokfile, TOKEN1 + "\n")
            extra += ["--auth-user", USER, "--auth-pass", relay_pass,
                      "--auth-token-file", tokfile]
        if relay_mechs is not None:
            extra += ["--auth-mechs", relay_mechs]
        if client_ca:
            extra += ["--client-ca", os.path.join(certs, "ca.pem")]
        mx = make_mx(cert=mx_cert, extra=extra, certdir=certdir)
        keys.setdefault("ca_file", os.path.join(certs, "ca.pem"))
        if implicit:
            keys["relay_tls"] = "implicit"
        if auth == "password":
            af = os.path.join(workdir, "relay-auth")
            write(af, "# smarthost credentials\nusername = %s\npassword = %s\n"
                  % (USER, PASSWORD))
            keys["auth_file"] = af
        elif auth == "token":
            write(os.path.join(workdir, "proxy-token"), TOKEN1 + "\n")
            af = os.path.join(workdir, "relay-auth")
            write(af, "username = %s\ntoken_file = %s\n"
                  % (USER, os.path.join(workdir, "proxy-token")))
            keys["auth_file"] = af
        admin = stplib.free_port()
        # One worker: the session cache is per worker, and the resumption
        # tests need their sessions on the same one.
        px = make_outproxy([outbound(relay="localhost:%d" % mx.port, tls=tls, **keys)]
                           + list(policies),
                           global_keys={"admin": "127.0.0.1:%d" % admin, "workers": "1"})
        return Env(mx, px, admin, workdir)

    return factory


def check_config(workdir, body):
    path = os.path.join(workdir, "check.ini")
    with open(path, "w") as f:
        f.write("[global]\nlog_level = info\n\n[outbound]\nlisten = 127.0.0.1:%d\n"
                "mode = relay\nrelay = 127.0.0.1:587\n%s" % (stplib.free_port(), body))
    return subprocess.run([stplib.BINARY, "-t", "-c", path], capture_output=True,
                          text=True, timeout=20)


# --------------------------------------------------------------------------
# relay_tls = implicit

def test_implicit_tls_banner_and_ehlo_inside_tls(env):
    e = env(implicit=True, auth=None)
    ehlo = e.send()
    kw = ehlo.keywords()
    assert "X-TLS-ONLY" in kw and "STARTTLS" not in kw
    # No plaintext byte reached the relay: TLS came first.
    assert e.mx.raw(1, "plain") == b""
    assert e.mx.verbs(1, "plain") == []
    assert e.mx.verbs(1, "tls")[:3] == ["EHLO", "MAIL", "RCPT"]
    assert e.mx.meta(1)["tls"] in ("TLSv1.2", "TLSv1.3")
    assert e.mx.meta(1)["sni"] == "localhost"


def test_implicit_tls_toward_a_plaintext_relay_fails_soft(env, make_mx, make_outproxy, certs):
    # A STARTTLS relay (banner in plaintext) behind relay_tls = implicit:
    # the handshake fails and the legacy server gets a 4xx, never the banner.
    mx = make_mx()
    px = make_outproxy([outbound(relay="localhost:%d" % mx.port, tls="verify",
                                 relay_tls="implicit", ca_file=os.path.join(certs, "ca.pem"))])
    c = LegacyClient(px.port())
    r = c.reply()
    assert r.code == 421 and r.lines[0].startswith("421 4.7.5"), r.text
    assert b"scripted" not in c.seen
    c.close()


@pytest.mark.parametrize("tls", ["may", "none"])
def test_implicit_needs_encrypt_or_verify(workdir, tls):
    r = check_config(workdir, "tls = %s\nrelay_tls = implicit\n" % tls)
    assert r.returncode != 0
    assert "relay_tls = implicit needs tls = encrypt or tls = verify" in r.stderr


# --------------------------------------------------------------------------
# auth_file

@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
def test_auth_plain_delivers_and_hides_auth(env, implicit):
    e = env(implicit=implicit)
    ehlo = e.send()
    assert "AUTH" not in ehlo.keywords()
    evs = e.mx_events(1)
    assert "auth PLAIN ok" in evs
    # AUTH came before the legacy server's MAIL, inside TLS.
    verbs = e.mx.verbs(1, "tls")
    assert verbs.index("AUTH") < verbs.index("MAIL")
    assert "AUTH" not in e.mx.verbs(1, "plain")
    assert e.mx.meta(1)["rcpt"] == ["TO:<b@test.example>"]
    m = e.metrics()
    assert metric(m, "stp_relay_auth_total", mechanism="plain", result="ok") == 1
    assert metric(m, "stp_relay_auth_total", mechanism="plain", result="failed") == 0
    e.px.wait_event("relay_auth", result="ok", mechanism="plain")
    e.px.wait_event("session_close", auth="plain")
    e.no_secret_anywhere()


def test_legacy_auth_after_proxy_auth_gets_503(env):
    e = env()
    c = e.client()
    assert c.reply().code == 220
    assert c.cmd("EHLO legacy.example").code == 250
    r = c.cmd("AUTH PLAIN AGxlZ2FjeQBsZWdhY3k=")
    assert r.lines[0].startswith("503 5.5.1"), r.text
    assert c.cmd("QUIT").code == 221
    c.close()
    e.mx.wait_closed()
    # Only the proxy's own AUTH reached the relay.
    assert [v for v in e.mx.verbs(1) if v == "AUTH"] == ["AUTH"]


def test_auth_login_when_only_login_is_offered(env):
    e = env(implicit=True, relay_mechs="LOGIN")
    e.send(verb="HELO")
    assert "auth LOGIN ok" in e.mx_events(1)
    assert metric(e.metrics(), "stp_relay_auth_total", mechanism="login", result="ok") == 1
    e.no_secret_anywhere()


def test_auth_mechanisms_order_is_followed(env):
    # The relay offers PLAIN first; auth_mechanisms says login first.
    e = env(auth_mechanisms="login plain")
    e.send()
    assert "auth LOGIN ok" in e.mx_events(1)


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
def test_wrong_password_is_a_soft_failure_and_sends_nothing(env, implicit):
    e = env(implicit=implicit, relay_pass="another-password")
    e.ehlo_refused()
    verbs = e.mx.verbs(1)
    assert "MAIL" not in verbs and "RCPT" not in verbs and "DATA" not in verbs
    assert "auth PLAIN bad" in e.mx_events(1)
    ev = e.px.wait_event("relay_auth", result="failed")[0]
    assert ev["mechanism"] == "plain" and ev["reply"].startswith("535 5.7.8")
    assert metric(e.metrics(), "stp_relay_auth_total", mechanism="plain",
                  result="failed") == 1
    e.no_secret_anywhere()


def test_no_common_mechanism_is_a_soft_failure(env):
    # A password, and a relay that only takes XOAUTH2.
    e = env(relay_mechs="XOAUTH2")
    e.ehlo_refused()
    assert "AUTH" not in e.mx.verbs(1) and "MAIL" not in e.mx.verbs(1)
    e.px.wait_event("relay_auth", result="failed", reason="no common mechanism")
    assert metric(e.metrics(), "stp_relay_auth_total", mechanism="none", result="failed") == 1


def test_mail_before_ehlo_never_reaches_the_relay_unauthenticated(env):
    e = env(implicit=True)
    c = e.client()
    assert c.reply().code == 220
    r = c.cmd("MAIL FROM:<printer@legacy.example>")
    assert r.lines[0].startswith("503 5.5.1"), r.text
    c.close()
    time.sleep(0.3)
    assert all("MAIL" != v for n in e.mx.conns() for v in e.mx.verbs(n))


def test_xoauth2_token_rewritten_mid_run_is_used_by_the_next_session(env, workdir):
    e = env(auth="token", implicit=True)
    e.send()
    assert "auth XOAUTH2 ok" in e.mx_events(1)
    # The helper refreshes the token; the relay now takes only the new one.
    write(os.path.join(workdir, "relay-token"), TOKEN2 + "\n")
    write(os.path.join(workdir, "proxy-token"), TOKEN2 + "\n")
    e.px.wait_event("reloaded", timeout=15)
    e.send()
    n = e.mx.conns()[-1]
    assert "auth XOAUTH2 ok" in e.mx_events(n)
    assert metric(e.metrics(), "stp_relay_auth_total", mechanism="xoauth2", result="ok") == 2
    e.no_secret_anywhere()


def test_xoauth2_stale_token_fails_soft(env, workdir):
    e = env(auth="token")
    write(os.path.join(workdir, "relay-token"), TOKEN2 + "\n")
    e.ehlo_refused()
    assert "MAIL" not in e.mx.verbs(1)
    ev = e.px.wait_event("relay_auth", result="failed")[0]
    assert ev["mechanism"] == "xoauth2" and ev["reply"].startswith("535")
    e.no_secret_anywhere()


@pytest.mark.parametrize("tls", ["may", "none"])
def test_auth_file_needs_encrypt_or_verify(workdir, tls):
    af = os.path.join(workdir, "a")
    write(af, "username = u\npassword = %s\n" % PASSWORD)
    r = check_config(workdir, "tls = %s\nauth_file = %s\n" % (tls, af))
    assert r.returncode != 0
    assert "auth_file needs tls = encrypt or tls = verify" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr


def test_check_reads_auth_file_without_printing_it(workdir):
    af = os.path.join(workdir, "a")
    write(af, "username = u\npassword = %s\n" % PASSWORD)
    r = check_config(workdir, "tls = verify\nauth_file = %s\n" % af)
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    # A broken file: the error names the line, not the value.
    write(af, "username = u\n%s\n" % PASSWORD)
    r = check_config(workdir, "tls = verify\nauth_file = %s\n" % af)
    assert r.returncode != 0
    assert "line 2" in r.stderr and PASSWORD not in r.stdout + r.stderr
    write(af, "username = u\npassword = %s\npasswd = %s\n" % (PASSWORD, PASSWORD))
    r = check_config(workdir, "tls = verify\nauth_file = %s\n" % af)
    assert r.returncode != 0 and "line 3" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    # A password cannot serve xoauth2.
    write(af, "username = u\npassword = %s\n" % PASSWORD)
    r = check_config(workdir, "tls = verify\nauth_file = %s\nauth_mechanisms = xoauth2\n" % af)
    assert r.returncode != 0 and "auth_mechanisms" in r.stderr
    os.unlink(af)
    r = check_config(workdir, "tls = verify\nauth_file = %s\n" % af)
    assert r.returncode != 0 and "cannot read auth_file" in r.stderr


# --------------------------------------------------------------------------
# client_cert / client_key

def test_client_certificate_is_presented_and_checked(env, certs):
    e = env(auth=None, client_ca=True, client_cert=os.path.join(certs, "server.pem"),
            client_key=os.path.join(certs, "server.key"))
    e.send()
    tls = [ev for ev in e.mx_events(1) if ev.startswith("tls ")]
    assert tls and "client=" in tls[0] and "client=-" not in tls[0], tls


def test_without_client_certificate_the_relay_refuses(env):
    e = env(auth=None, client_ca=True)
    c = e.client()
    assert c.reply().code == 220
    r = c.cmd("EHLO legacy.example")
    # TLS 1.3: the client's side of the handshake ends before the relay
    # checks the certificate, so the refusal comes as a lost connection
    # (4.4.2) rather than a failed handshake (4.7.5); soft either way.
    assert r.code == 421, r.text
    c.close()
    e.mx.wait_closed()
    assert "MAIL" not in e.mx.verbs(1)


def test_client_cert_and_key_go_together(workdir, certs):
    r = check_config(workdir, "tls = verify\nclient_cert = %s\n" % os.path.join(certs, "server.pem"))
    assert r.returncode != 0 and "client_cert and client_key go together" in r.stderr
    r = check_config(workdir, "tls = verify\nclient_cert = %s\nclient_key = %s\n" % (
        os.path.join(certs, "server.pem"), os.path.join(certs, "good.key")))
    assert r.returncode != 0 and "client_cert/client_key" in r.stderr


# --------------------------------------------------------------------------
# TLS session reuse

def tls_events(e, n):
    return [ev for ev in e.mx_events(n) if ev.startswith("tls ")]


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit"])
def test_second_session_resumes(env, implicit):
    e = env(implicit=implicit)
    e.send()
    e.mx.wait_closed()
    e.send()
    e.mx.wait_closed(min_conns=2)
    conns = e.mx.conns()
    assert "resumed=no" in tls_events(e, conns[0])[0]
    assert "resumed=yes" in tls_events(e, conns[1])[0]
    assert metric(e.metrics(), "stp_tls_resumed_total", listener="outbound", direction="outbound") == 1
    closes = e.px.wait_event("session_close", count=2)
    assert [c["resumed"] for c in closes] == ["no", "yes"]
    # The resumed session still authenticated itself.
    assert "auth PLAIN ok" in e.mx_events(conns[1])


def test_session_cache_timeout_expires_sessions(env):
    e = env(session_cache_timeout="1s")
    e.send()
    time.sleep(2.2)
    e.send()
    e.mx.wait_closed(min_conns=2)
    assert "resumed=no" in tls_events(e, e.mx.conns()[1])[0]
    assert metric(e.metrics(), "stp_tls_resumed_total", listener="outbound", direction="outbound") == 0


def test_resumed_session_keeps_the_verified_chain(env):
    # tls = verify needs the peer chain and the verification result: a
    # resumed session that lost them would be refused.
    e = env(auth=None, tls="verify")
    e.send()
    e.send()
    assert metric(e.metrics(), "stp_tls_resumed_total", listener="outbound", direction="outbound") == 1
    closes = e.px.wait_event("session_close", count=2)
    assert [c["verify"] for c in closes] == ["Verified", "Verified"]


def test_policy_is_enforced_on_a_resumed_session(env, lhcerts):
    # An untrusted relay certificate under tls = encrypt, and a domain that
    # demands verification: its recipients are refused on both sessions.
    e = env(auth=None, tls="encrypt", mx_cert="lh-selfsigned", certdir=lhcerts,
            policies=[policy("test.example", "verify")])
    for _ in range(2):
        c = e.client()
        assert c.reply().code == 220
        assert c.cmd("EHLO legacy.example").code == 250
        assert c.cmd("MAIL FROM:<printer@legacy.example>").code == 250
        r = c.cmd("RCPT TO:<b@test.example>")
        assert r.lines[0].startswith("450 4.7.5"), r.text
        assert c.cmd("RCPT TO:<c@other.example>").code == 250
        assert c.cmd("QUIT").code == 221
        c.close()
        e.mx.wait_closed(min_conns=len(e.mx.conns()))
    assert metric(e.metrics(), "stp_tls_resumed_total", listener="outbound", direction="outbound") == 1
    assert "resumed=yes" in tls_events(e, e.mx.conns()[1])[0]
    assert not any("b@test.example" in line for _, line in e.mx.all_commands())


# --------------------------------------------------------------------------
# swaks as the legacy sender, for each mode

@pytest.mark.parametrize("mode", ["starttls-plain", "implicit-login", "xoauth2",
                                  "client-cert", "implicit-noauth"])
def test_swaks_end_to_end(env, certs, mode):
    kw = {}
    if mode == "starttls-plain":
        kw = dict(auth="password")
    elif mode == "implicit-login":
        kw = dict(auth="password", implicit=True, relay_mechs="LOGIN")
    elif mode == "xoauth2":
        kw = dict(auth="token", implicit=True)
    elif mode == "client-cert":
        kw = dict(auth=None, client_ca=True, client_cert=os.path.join(certs, "server.pem"),
                  client_key=os.path.join(certs, "server.key"))
    else:
        kw = dict(auth=None, implicit=True)
    e = env(**kw)
    r = stplib.run(["swaks", "--server", "127.0.0.1:%d" % e.px.port(), "--from",
                    "printer@legacy.example", "--to", "b@test.example", "--helo",
                    "legacy.example", "--header", "Subject: swaks %s" % mode,
                    "--timeout", "20"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued" in r.stdout
    assert e.mx.meta(1)["rcpt"] == ["TO:<b@test.example>"]
    with open(os.path.join(e.mx.dir, "msg-1.eml"), "rb") as f:
        assert b"Subject: swaks " + mode.encode() in f.read()
    e.no_secret_anywhere()


# --------------------------------------------------------------------------
# listen_tls: old devices that insist on TLS toward their relay

# Python warns about TLS 1.0 contexts: that is the old device's part here.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")


def old_device_context(certs, version=ssl.TLSVersion.TLSv1):
    """A client as an old printer: TLS 1.0 only (OpenSSL needs security
    level 0 for it), trusting the test CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


def listen_keys(certs, mode, min_tls="1.0"):
    kw = dict(listen_tls=mode, cert=os.path.join(certs, "server.pem"),
              key=os.path.join(certs, "server.key"))
    if min_tls:
        kw["listen_min_tls"] = min_tls
    return kw


def deliver(c, name="legacy.example"):
    assert c.cmd("MAIL FROM:<printer@legacy.example>").code == 250
    assert c.cmd("RCPT TO:<b@test.example>").code == 250
    d, end = c.data(MESSAGE)
    assert d.code == 354 and end.code == 250, (d.text, end and end.text)
    assert c.cmd("QUIT").code == 221


def test_listen_tls_implicit_tls10_device_reaches_the_relay(env, certs):
    e = env(implicit=True, **listen_keys(certs, "implicit"))
    c = e.client()
    c.handshake(old_device_context(certs))
    assert c.sock.version() == "TLSv1"
    assert c.reply().code == 220
    r = c.cmd("EHLO legacy.example")
    assert r.code == 250 and "STARTTLS" not in r.keywords() and "AUTH" not in r.keywords()
    deliver(c)
    c.close()
    # The relay leg: TLS 1.2 or later, authenticated.
    assert e.mx.meta(1)["tls"] in ("TLSv1.2", "TLSv1.3")
    assert "auth PLAIN ok" in e.mx_events(1)
    ev = e.px.wait_event("session_close")[0]
    assert ev["client_tls"] == "TLSv1" and ev["tls"] in ("TLSv1.2", "TLSv1.3")


def test_listen_tls_starttls_tls10_device(env, certs):
    e = env(**listen_keys(certs, "starttls"))
    c = e.client()
    assert c.reply().code == 220
    r = c.cmd("EHLO legacy.example")
    assert "STARTTLS" in r.keywords() and "AUTH" not in r.keywords()
    c.starttls(old_device_context(certs))
    assert c.sock.version() == "TLSv1"
    # RFC 3207 4.2: EHLO again first.
    r = c.cmd("MAIL FROM:<printer@legacy.example>")
    assert r.lines[0].startswith("503 5.5.1"), r.text
    r = c.cmd("EHLO legacy.example")
    assert r.code == 250 and "STARTTLS" not in r.keywords()
    assert c.cmd("STARTTLS").lines[0].startswith("454")
    deliver(c)
    c.close()
    assert e.mx.meta(1)["tls"] in ("TLSv1.2", "TLSv1.3")
    assert "MAIL" not in e.mx.verbs(1, "plain")
    ev = e.px.wait_event("session_close")[0]
    assert ev["client_tls"] == "TLSv1"


def test_listen_tls_plaintext_device_still_served(env, certs):
    # STARTTLS is offered, not demanded: a plaintext device still delivers.
    e = env(**listen_keys(certs, "starttls", min_tls=None))
    e.send()
    assert e.px.wait_event("session_close")[0]["client_tls"] == "none"


def test_listen_min_tls_default_refuses_tls10(env, certs):
    e = env(auth=None, implicit=True, **listen_keys(certs, "implicit", min_tls=None))
    c = e.client()
    with pytest.raises((ssl.SSLError, OSError)):
        c.handshake(old_device_context(certs))
        c.reply()
    c.close()
    time.sleep(0.2)
    assert e.mx.conns() == []
    # TLS 1.2 is fine.
    c = e.client()
    c.handshake(old_device_context(certs, ssl.TLSVersion.TLSv1_2))
    assert c.reply().code == 220
    c.close()


def test_listen_tls_config_checks(workdir, certs):
    pem, key = os.path.join(certs, "server.pem"), os.path.join(certs, "server.key")
    r = check_config(workdir, "tls = verify\nlisten_tls = implicit\n")
    assert r.returncode != 0 and "missing required key 'cert'" in r.stderr
    r = check_config(workdir, "tls = verify\ncert = %s\nkey = %s\n" % (pem, key))
    assert r.returncode != 0 and "listen_tls" in r.stderr
    r = check_config(workdir, "tls = verify\nlisten_min_tls = 1.0\n")
    assert r.returncode != 0 and "listen_min_tls without listen_tls" in r.stderr
    r = check_config(workdir, "tls = verify\nlisten_tls = starttls\ncert = %s\nkey = %s\n"
                     "listen_min_tls = 1.0\n" % (pem, key))
    assert r.returncode == 0, r.stderr
    # min_tls of the relay leg stays 1.2 at least.
    r = check_config(workdir, "tls = verify\nmin_tls = 1.0\n")
    assert r.returncode != 0
