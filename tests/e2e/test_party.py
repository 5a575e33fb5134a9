"""Named parties ([party:NAME]) and client certificates on the inbound side:
TLS demanded per MAIL and per RCPT from a client network, a sender domain
or a recipient domain; tls = verify with client_ca, client_fingerprints and
client_names; the result toward the backend as PROXY v2 SSL TLVs; the log
lines and metrics.

Real clients: the scripted stplib.Client, Python smtplib, swaks and
openssl s_client -starttls smtp with and without -cert. Clients connect
from 127.0.0.9 or 127.0.0.10 so that the clients = list has something to
tell apart. The backend is the recording sink.

Reply codes under test:
  530 5.7.0 Must issue a STARTTLS command first   (no TLS)
  530 5.7.0 Client certificate required          (verify, none presented)
  550 5.7.1 Client certificate not accepted      (verify, another CA, or
                                                  not a listed fingerprint
                                                  or name)
"""

import hashlib
import os
import re
import smtplib
import ssl
import subprocess
import urllib.request

import pytest

import stplib

PARTNER_IP = "127.0.0.9"
OTHER_IP = "127.0.0.10"

R_NO_TLS = "530 5.7.0 Must issue a STARTTLS command first"
R_NO_CERT = "530 5.7.0 Client certificate required"
R_BAD_CERT = "550 5.7.1 Client certificate not accepted"


def expect(reply, code, text=None):
    assert reply.code == code, reply
    if text is not None:
        assert reply.lines[-1] == text, reply


def fingerprint(certs, name):
    return hashlib.sha256(stplib.cert_der(certs, name)).hexdigest()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A second CA and a leaf from it with the same name as good.pem
    (mx.test.example): a certificate from another CA, not a wrong name."""
    d = str(tmp_path_factory.mktemp("otherca"))

    def run(*argv):
        subprocess.run(argv, check=True, cwd=d, timeout=60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "3650", "-subj", "/CN=other test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key",
        "-out", "leaf.csr", "-subj", "/CN=mx.test.example")
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "subjectAltName=DNS:mx.test.example\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "7", "-days", "3650", "-extfile", "leaf.ext", "-out", "leaf.pem")
    return d


class PartyEnv:
    """A sink behind a proxy with a STARTTLS listener (client_ca = the
    test CA) and an implicit-TLS one, plus [party:...] sections."""

    def __init__(self, sink, proxy, certs, admin):
        self.sink = sink
        self.proxy = proxy
        self.certs = certs
        self.port = proxy.port("inbound")
        self.smtps_port = proxy.port("inbound:smtps")
        self.admin = admin

    def ctx(self, cert=None, certs_dir=None):
        ctx = stplib.client_context(self.certs)
        if cert is not None:
            d = certs_dir or self.certs
            ctx.load_cert_chain(os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"))
        return ctx

    def client(self, source=PARTNER_IP, tls=False, cert=None, certs_dir=None):
        """A Client past the banner and EHLO (and STARTTLS with its EHLO)."""
        c = stplib.Client(self.port, source=source)
        expect(c.reply(), 220)
        expect(c.ehlo("mx.partner.example"), 250)
        if tls:
            c.starttls(self.ctx(cert, certs_dir))
            expect(c.ehlo("mx.partner.example"), 250)
        return c

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin,
                                    timeout=10) as r:
            return r.read().decode()


@pytest.fixture
def make_party_env(make_sink, make_proxy, certs):
    def factory(parties, inbound=None, client_ca=True, **sink_kw):
        sink = make_sink(**sink_kw)
        keys = dict(inbound or {})
        if client_ca:
            keys.setdefault("client_ca", os.path.join(certs, "ca.pem"))
        admin = stplib.free_port()
        extra = ""
        for name, pkeys in parties.items():
            extra += "\n[party:%s]\n" % name
            extra += "".join("%s = %s\n" % kv for kv in pkeys.items())
        proxy = make_proxy([
            stplib.Listener("inbound", "starttls", sink.addr, **keys),
            stplib.Listener("inbound:smtps", "implicit", sink.addr, **keys),
        ], global_keys={"admin": "127.0.0.1:%d" % admin}, extra=extra)
        return PartyEnv(sink, proxy, certs, admin)
    return factory


def sink_rcpts(sink):
    """RCPT lines the backend received, over all connections."""
    out = []
    for n in sink.conns():
        out += [c for c in sink.commands(n) if c.upper().startswith("RCPT")]
    return out


def sink_mails(sink):
    out = []
    for n in sink.conns():
        out += [c for c in sink.commands(n) if c.upper().startswith("MAIL")]
    return out


def send_body(c, tag):
    expect(c.cmd("DATA"), 354)
    c.send(("Subject: %s\r\n\r\nbody %s\r\n.\r\n" % (tag, tag)).encode())
    expect(c.reply(), 250)


# --------------------------------------------------------------------------
# tls = encrypt: by client network, sender domain, recipient domain

def test_clients_plaintext_refused_other_network_passes(make_party_env):
    env = make_party_env({"net": {"tls": "encrypt", "clients": PARTNER_IP + "/32"}},
                         client_ca=False)
    with env.client(PARTNER_IP) as c:
        expect(c.cmd("MAIL FROM:<a@anything.example>"), 530, R_NO_TLS)
        # Refused by the proxy: never at the backend; the session goes on.
        expect(c.cmd("NOOP"), 250)
        expect(c.cmd("QUIT"), 221)
    with env.client(OTHER_IP) as c:
        expect(c.cmd("MAIL FROM:<a@anything.example>"), 250)
        expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
        send_body(c, "other-net")
        expect(c.cmd("QUIT"), 221)
    # Over TLS the partner's network passes.
    with env.client(PARTNER_IP, tls=True) as c:
        expect(c.cmd("MAIL FROM:<a@anything.example>"), 250)
        expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
        send_body(c, "partner-tls")
        expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(min_conns=4), env.sink.dump()
    assert len(sink_mails(env.sink)) == 2, env.sink.dump()
    ev = env.proxy.wait_event("party_refused", party="net")
    assert ev[0]["match"] == "clients" and ev[0]["command"] == "MAIL"
    assert ev[0]["result"] == "no-tls" and ev[0]["client"].startswith(PARTNER_IP + ":")
    assert env.proxy.events("party_ok", party="net", match="clients")


def test_senders_per_transaction_in_one_session(make_party_env):
    """A plaintext session: the partner's sender domain is refused, another
    transaction in the same session passes; a subdomain is not the domain."""
    env = make_party_env({"partner": {"tls": "encrypt", "senders": "partner.example"}},
                         client_ca=False)
    with env.client(OTHER_IP) as c:
        expect(c.cmd("MAIL FROM:<alice@Partner.Example>"), 530, R_NO_TLS)
        expect(c.cmd("MAIL FROM:<bob@sub.partner.example>"), 250)
        expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
        send_body(c, "sub-sender")
        expect(c.cmd("MAIL FROM:<carol@other.example> SIZE=100"), 250)
        expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
        send_body(c, "other-sender")
        expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    mails = sink_mails(env.sink)
    assert mails == ["MAIL FROM:<bob@sub.partner.example>",
                     "MAIL FROM:<carol@other.example> SIZE=100"], env.sink.dump()
    assert len(env.sink.messages()) == 2
    ev = env.proxy.wait_event("party_refused", party="partner")
    assert ev[0]["match"] == "senders" and ev[0]["domain"] == "Partner.Example"


def test_senders_with_swaks(make_party_env):
    env = make_party_env({"partner": {"tls": "encrypt", "senders": ".partner.example"}},
                         client_ca=False)
    base = ["swaks", "--server", "127.0.0.1", "--port", str(env.port), "--to",
            "b@legacy.test", "--from", "a@mx.partner.example", "--helo", "mx.partner.example",
            "--timeout", "15"]
    r = stplib.run(base)
    assert r.returncode != 0
    assert "<** 530 5.7.0 Must issue a STARTTLS command first" in r.stdout, r.stdout
    r = stplib.run(base + ["--tls"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "<~  250" in r.stdout
    assert len(env.sink.messages()) == 1


def test_recipients_refusal_leaves_other_recipients(make_party_env):
    env = make_party_env({"legal": {"tls": "encrypt", "recipients": "legal.example"}},
                         client_ca=False)
    with env.client(OTHER_IP) as c:
        expect(c.cmd("MAIL FROM:<a@sender.example>"), 250)
        expect(c.cmd("RCPT TO:<one@legacy.test>"), 250)
        expect(c.cmd("RCPT TO:<counsel@LEGAL.example>"), 530, R_NO_TLS)
        expect(c.cmd("RCPT TO:<two@legacy.test>"), 250)
        send_body(c, "two-of-three")
        expect(c.cmd("QUIT"), 221)
    # smtplib: the refused recipient is reported, the others get the mail.
    s = smtplib.SMTP("127.0.0.1", env.port, timeout=15, source_address=(OTHER_IP, 0))
    refused = s.sendmail("a@sender.example", ["x@legacy.test", "y@legal.example"],
                         b"Subject: smtplib\r\n\r\nhi\r\n")
    s.quit()
    assert refused == {"y@legal.example": (530, b"5.7.0 Must issue a STARTTLS command first")}
    # Over TLS the legal recipient is accepted.
    s = smtplib.SMTP("127.0.0.1", env.port, timeout=15, source_address=(OTHER_IP, 0))
    s.starttls(context=env.ctx())
    assert s.sendmail("a@sender.example", ["y@legal.example"], b"Subject: tls\r\n\r\nhi\r\n") == {}
    s.quit()
    assert env.sink.wait_closed(min_conns=3), env.sink.dump()
    rcpts = sink_rcpts(env.sink)
    assert rcpts == ["RCPT TO:<one@legacy.test>", "RCPT TO:<two@legacy.test>",
                     "RCPT TO:<x@legacy.test>", "RCPT TO:<y@legal.example>"], env.sink.dump()
    assert len(env.sink.messages()) == 3
    ev = env.proxy.wait_event("party_refused", count=2, party="legal")
    assert {e["match"] for e in ev} == {"recipients"}
    assert {e["command"] for e in ev} == {"RCPT"}


def test_unreadable_address_refused_when_parties_look(make_party_env):
    """An address with an '@' whose domain the proxy cannot read might hide
    a partner's domain from it: refused; <> and <postmaster> have none."""
    env = make_party_env({"partner": {"tls": "encrypt", "senders": "partner.example",
                                      "recipients": "partner.example"}}, client_ca=False)
    with env.client(OTHER_IP) as c:
        expect(c.cmd("MAIL FROM:<a@partner.example"), 501, "501 5.1.7 Bad sender address syntax")
        expect(c.cmd("MAIL FROM:<>"), 250)
        expect(c.cmd("RCPT TO:<postmaster>"), 250)
        expect(c.cmd("RCPT TO:<b@[bad literal>"), 501, "501 5.1.3 Bad recipient address syntax")
        expect(c.cmd("QUIT"), 221)


# --------------------------------------------------------------------------
# tls = verify: client certificates

def verify_env(make_party_env, certs, **party):
    keys = {"tls": "verify", "senders": "test.example"}
    keys.update(party)
    return make_party_env({"bank": keys})


def test_verify_no_tls_no_cert_other_ca_wrong_fingerprint(make_party_env, certs, other_ca):
    env = verify_env(make_party_env, certs,
                     client_fingerprints=fingerprint(certs, "good.pem"))
    mail = "MAIL FROM:<a@test.example>"
    with env.client(OTHER_IP) as c:
        expect(c.cmd(mail), 530, R_NO_TLS)
    # TLS without a certificate: the handshake succeeds (requested, not
    # demanded), the party refuses, other senders pass.
    with env.client(OTHER_IP, tls=True) as c:
        expect(c.cmd(mail), 530, R_NO_CERT)
        expect(c.cmd("MAIL FROM:<a@else.example>"), 250)
        expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
        send_body(c, "no-cert-other-sender")
    with env.client(OTHER_IP, tls=True, cert="leaf", certs_dir=other_ca) as c:
        expect(c.cmd(mail), 550, R_BAD_CERT)
    with env.client(OTHER_IP, tls=True, cert="wrongname") as c:
        expect(c.cmd(mail), 550, R_BAD_CERT)
    with env.client(OTHER_IP, tls=True, cert="good") as c:
        expect(c.cmd(mail), 250)
        expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
        send_body(c, "verified")
        expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(min_conns=5), env.sink.dump()
    assert sink_mails(env.sink) == ["MAIL FROM:<a@else.example>", mail], env.sink.dump()
    results = [e["result"] for e in env.proxy.events("party_refused", party="bank")]
    assert results == ["no-tls", "no-cert", "untrusted", "not-listed"], results
    ok = env.proxy.wait_event("party_ok", party="bank")
    assert ok[0]["verify"] == "Trusted"
    # The handshake results in Postfix's words.
    verdicts = [e["verify"] for e in env.proxy.events("client_cert")]
    assert verdicts == ["Anonymous", "Untrusted", "Trusted", "Trusted"], verdicts
    good = env.proxy.events("client_cert", verify="Trusted")
    assert good[-1]["sha256"] == fingerprint(certs, "good.pem")
    assert good[-1]["cn"] == "mx.test.example"
    m = env.metrics()
    for result, n in (("no-tls", 1), ("no-cert", 1), ("untrusted", 1), ("not-listed", 1),
                      ("ok", 1)):
        line = ('stp_party_decisions_total{party="bank",command="mail",result="%s"} %d'
                % (result, n))
        assert line in m, m
    assert ('stp_tls_verify_total{listener="inbound",direction="inbound",result="Trusted"} 2'
            in m), m
    closes = env.proxy.events("session_close", listener="inbound")
    assert sorted(e["verify"] for e in closes) == sorted(
        ["none", "Anonymous", "Untrusted", "Trusted", "Trusted"]), closes


def test_verify_by_name(make_party_env, certs):
    env = verify_env(make_party_env, certs, client_names=".test.example")
    with env.client(OTHER_IP, tls=True, cert="wrongname") as c:
        expect(c.cmd("MAIL FROM:<a@test.example>"), 550, R_BAD_CERT)
    with env.client(OTHER_IP, tls=True, cert="good") as c:
        expect(c.cmd("MAIL FROM:<a@test.example>"), 250)


def test_verify_any_trusted_certificate(make_party_env, certs, other_ca):
    """Without fingerprints or names, any certificate from client_ca."""
    env = verify_env(make_party_env, certs)
    with env.client(OTHER_IP, tls=True, cert="wrongname") as c:
        expect(c.cmd("MAIL FROM:<a@test.example>"), 250)
    with env.client(OTHER_IP, tls=True, cert="leaf", certs_dir=other_ca) as c:
        expect(c.cmd("MAIL FROM:<a@test.example>"), 550, R_BAD_CERT)


def openssl_session(env, cert=None, certs_dir=None, implicit=False):
    """openssl s_client with and without -cert: one MAIL, its reply."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % (
        env.smtps_port if implicit else env.port), "-CAfile",
        os.path.join(env.certs, "ca.pem"), "-verify_return_error", "-quiet",
        "-servername", "localhost"]
    if not implicit:
        argv += ["-starttls", "smtp"]
    if cert:
        d = certs_dir or env.certs
        argv += ["-cert", os.path.join(d, cert + ".pem"), "-key", os.path.join(d, cert + ".key")]
    script = "EHLO mx.partner.example\r\nMAIL FROM:<a@test.example>\r\nQUIT\r\n"
    r = stplib.run(argv, input=script, timeout=30)
    codes = re.findall(r"^(\d{3}) ", r.stdout, re.M)
    return codes, r


def test_verify_openssl_s_client(make_party_env, certs, other_ca):
    implicit = False  # s_client would talk before the SMTPS banner
    env = verify_env(make_party_env, certs,
                     client_fingerprints=fingerprint(certs, "good.pem"))
    codes, r = openssl_session(env, implicit=implicit)
    assert "530" in codes and "250" not in codes[1:], r.stdout + r.stderr
    assert R_NO_CERT in r.stdout
    codes, r = openssl_session(env, cert="leaf", certs_dir=other_ca, implicit=implicit)
    assert R_BAD_CERT in r.stdout, r.stdout + r.stderr
    codes, r = openssl_session(env, cert="good", implicit=implicit)
    assert codes[-2:] == ["250", "221"], r.stdout + r.stderr


def test_client_ca_requests_never_demands(make_party_env, certs):
    """A listener with client_ca and no party: clients without a
    certificate deliver as before; the CA is named in the request."""
    env = make_party_env({}, client_ca=True)
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % env.port, "-starttls",
            "smtp", "-CAfile", os.path.join(certs, "ca.pem"), "-servername", "localhost"]
    r = stplib.run(argv, input="QUIT\r\n", timeout=30)
    assert "Acceptable client certificate CA names" in r.stdout, r.stdout
    assert "starttls-proxy test CA" in r.stdout.split("Acceptable client certificate CA names")[1]
    s = smtplib.SMTP("127.0.0.1", env.port, timeout=15)
    s.starttls(context=env.ctx())
    assert s.sendmail("a@x.example", ["b@legacy.test"], b"Subject: x\r\n\r\nx\r\n") == {}
    s.quit()
    assert len(env.sink.messages()) == 1


def test_verify_needs_client_ca(make_proxy, make_sink, workdir):
    """-t refuses a verify party with a TLS listener that asks for no
    certificate: it could only refuse."""
    sink = make_sink()
    with pytest.raises(RuntimeError) as e:
        make_proxy([stplib.Listener("inbound", "starttls", sink.addr)],
                   extra="\n[party:p]\ntls = verify\nsenders = p.example\n")
    assert "[party:p] tls = verify needs client_ca on [inbound]" in str(e.value)


# --------------------------------------------------------------------------
# The verification result toward the backend: PROXY v2 SSL TLVs

def proxy_v2_event(sink, n):
    for line in sink.log(n).splitlines():
        if "event proxy-v2 " in line:
            return line.split("event proxy-v2 ", 1)[1]
    raise AssertionError(sink.dump())


@pytest.mark.parametrize("listener", ["implicit", "starttls"])
@pytest.mark.parametrize("who", ["good", "other-ca", "none"])
def test_proxy_v2_ssl_tlvs(make_party_env, certs, other_ca, who, listener):
    env = make_party_env({}, inbound={"proxy_protocol": "v2"}, proxy_protocol=True)
    cert, d = {"good": ("good", None), "other-ca": ("leaf", other_ca),
               "none": (None, None)}[who]
    if listener == "implicit":
        c = stplib.Client(env.smtps_port, source=PARTNER_IP)
        c.sock = env.ctx(cert, d).wrap_socket(c.sock, server_hostname="localhost")
        expect(c.reply(), 220)
    else:
        c = stplib.Client(env.port, source=PARTNER_IP)
        expect(c.reply(), 220)
        expect(c.ehlo(), 250)
        c.starttls(env.ctx(cert, d))
    version, cipher = c.sock.version(), c.sock.cipher()[0]
    expect(c.ehlo(), 250)
    expect(c.cmd("QUIT"), 221)
    c.close()
    conns = 1 if listener == "implicit" else 2
    assert env.sink.wait_closed(min_conns=conns), env.sink.dump()
    if listener == "starttls":
        # The plaintext part's connection: no SSL TLV at all.
        assert "ssl-" not in proxy_v2_event(env.sink, 1)
    ev = proxy_v2_event(env.sink, conns)
    # sink.py's decoding of the SSL TLV (type 0x20) and its sub-TLVs.
    if who == "none":
        want = "ssl-client=0x01 ssl-verify=1 ssl-version=%s ssl-cipher=%s" % (version, cipher)
    else:
        want = "ssl-client=0x07 ssl-verify=%d ssl-version=%s ssl-cn=mx.test.example " \
               "ssl-cipher=%s" % (0 if who == "good" else 1, version, cipher)
    assert want in ev, ev
    assert "src=%s:" % PARTNER_IP in ev


# --------------------------------------------------------------------------
# clients = the real client: the address of an accepted PROXY header

def test_clients_match_the_proxy_header_address(make_party_env):
    """Behind a load balancer every connection comes from the balancer:
    clients = is judged on the address its accepted PROXY header gives,
    not on the TCP peer (here the same 127.0.0.9 for both sessions)."""
    env = make_party_env({"net": {"tls": "encrypt", "clients": "192.0.2.0/24"}},
                         inbound={"accept_proxy_protocol": "yes",
                                  "accept_proxy_from": "127.0.0.0/8"}, client_ca=False)
    for src, code in (("192.0.2.7", 530), ("198.51.100.1", 250)):
        c = stplib.Client(env.port, source=PARTNER_IP)
        c.send(("PROXY TCP4 %s 198.51.100.25 40000 25\r\n" % src).encode())
        expect(c.reply(), 220)
        expect(c.ehlo(), 250)
        r = c.cmd("MAIL FROM:<a@anything.example>")
        expect(r, code, R_NO_TLS if code == 530 else None)
        expect(c.cmd("QUIT"), 221)
        c.close()
    ev = env.proxy.wait_event("party_refused", party="net")
    assert ev[0]["client"] == "192.0.2.7:40000", ev
    assert len(env.proxy.events("party_refused")) == 1


def test_proxy_v2_resumed_session_keeps_the_certificate(make_party_env, certs):
    """A resumed TLS session brings its client certificate along: the party
    still sees it (verify passes), and the TLV says CERT_SESS without
    CERT_CONN (not presented in this handshake), as HAProxy does."""
    env = make_party_env({"bank": {"tls": "verify", "senders": "test.example",
                                   "client_fingerprints": fingerprint(certs, "good.pem")}},
                         inbound={"proxy_protocol": "v2"}, proxy_protocol=True)
    ctx = env.ctx("good")
    session = None
    for n in (1, 2):
        c = stplib.Client(env.smtps_port, source=PARTNER_IP)
        c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost", session=session)
        expect(c.reply(), 220)
        expect(c.ehlo(), 250)
        expect(c.cmd("MAIL FROM:<a@test.example>"), 250)
        expect(c.cmd("QUIT"), 221)
        assert c.sock.session_reused == (n == 2)
        session = c.sock.session
        c.close()
        assert env.sink.wait_closed(min_conns=n), env.sink.dump()
    assert "ssl-client=0x07 ssl-verify=0 " in proxy_v2_event(env.sink, 1)
    ev = proxy_v2_event(env.sink, 2)
    assert "ssl-client=0x05 ssl-verify=0 " in ev and "ssl-cn=mx.test.example" in ev, ev


@pytest.mark.parametrize("client_ca", [True, False], ids=["client_ca", "no-client_ca"])
def test_tls13_ticket_lifetime_capped_with_client_ca(make_party_env, certs, client_ca):
    """With client_ca a TLS 1.3 ticket (which carries the certificate and
    its verdict) lives two hours, not BoringSSL's two days."""
    env = make_party_env({}, client_ca=client_ca)
    ctx = env.ctx("good")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    c = stplib.Client(env.smtps_port)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    expect(c.cmd("QUIT"), 221)
    hint = c.sock.session.ticket_lifetime_hint
    c.close()
    assert hint == (7200 if client_ca else 2 * 86400), hint
