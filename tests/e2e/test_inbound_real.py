"""Inbound STARTTLS and implicit TLS with real client software: swaks,
openssl s_client, Python smtplib. The legacy server is the recording sink,
so every test also checks what it received: the message byte-exact and no
STARTTLS ever.
"""

import os
import re
import select
import smtplib
import ssl
import subprocess
import time
import warnings
from email.message import EmailMessage

import pytest

import stplib
from stplib import run

MESSAGE = (b"From: a@example.org\r\n"
           b"To: b@example.net\r\n"
           b"Subject: through the proxy\r\n"
           b"\r\n"
           b"first line\r\n"
           b"..a line that starts with a dot\r\n"
           b"QUIT\r\n"
           b"\xc3\xa9t\xc3\xa9 8bit\ttab  \r\n"
           b"last line\r\n")
# What the sink must store: dot-stuffing removed, otherwise the same bytes.
STORED = MESSAGE.replace(b"\r\n..a line", b"\r\n.a line")


def no_starttls_reached_backend(env):
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    # (A body line STARTTLS is tested in test_inbound_rules; none is sent here.)
    assert b"starttls" not in raw.lower(), raw
    for n in env.sink.conns():
        assert "C: STARTTLS" not in env.sink.log(n).upper(), env.sink.log(n)


class Interactive:
    """A child process driven line by line over pipes, bounded in time."""

    def __init__(self, argv, workdir):
        self.errpath = os.path.join(workdir, "interactive.stderr")
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.buf = b""

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def reply(self, timeout=stplib.IO_TIMEOUT):
        """One SMTP reply as a list of lines."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no reply; have %r, stderr %s" % (self.buf, self.stderr()))
                r, _, _ = select.select([self.proc.stdout], [], [], left)
                if r:
                    chunk = os.read(self.proc.stdout.fileno(), 65536)
                    if not chunk:
                        raise EOFError("closed; have %r, stderr %s" % (self.buf, self.stderr()))
                    self.buf += chunk
            i = self.buf.index(b"\n")
            line, self.buf = self.buf[:i].rstrip(b"\r").decode(), self.buf[i + 1:]
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def cmd(self, line):
        self.send(line)
        return self.reply()

    def stderr(self):
        with open(self.errpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def finish(self, timeout=stplib.IO_TIMEOUT):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        finally:
            stplib.stop_process(self.proc)
            self.proc.stdout.close()
            self.err.close()
        return self.proc.returncode


def s_client_argv(env, port, starttls=True, extra=()):
    # -nocommands: else s_client treats lines starting with R, Q, k, K as its own
    # commands (renegotiate, quit, key update) instead of sending RCPT/QUIT.
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-crlf", "-brief",
            "-nocommands",
            "-CAfile", os.path.join(env.certs, "ca.pem"), "-verify_return_error",
            "-verify_hostname", "localhost", "-servername", "mail.test"]
    if starttls:
        argv += ["-starttls", "smtp"]
    return argv + list(extra)


def s_client_transaction(env, port, starttls, workdir):
    """A whole transaction through openssl s_client; returns its stderr."""
    p = Interactive(s_client_argv(env, port, starttls), workdir)
    try:
        if not starttls:
            assert p.reply() == ["220 sink.test ESMTP"]
        ehlo = p.cmd("EHLO sclient.example")
        assert ehlo[0] == "250-sink.test", ehlo
        assert not any("STARTTLS" in l.upper() for l in ehlo), ehlo
        assert p.cmd("MAIL FROM:<a@example.org>") == ["250 2.1.0 Ok"]
        assert p.cmd("RCPT TO:<b@example.net>") == ["250 2.1.5 Ok"]
        assert p.cmd("DATA") == ["354 End data with <CR><LF>.<CR><LF>"]
        # -crlf turns each \n into \r\n.
        for line in MESSAGE.decode().split("\r\n")[:-1]:
            p.send(line)
        r = p.cmd(".")
        assert re.match(r"^250 2\.0\.0 Ok: queued as \d+$", r[0]), r
        assert p.cmd("QUIT") == ["221 2.0.0 Bye"]
        rc = p.finish()
        err = p.stderr()
    except BaseException:
        p.finish(timeout=2)
        raise
    assert rc == 0, err
    assert "Verification: OK" in err, err
    assert re.search(r"Protocol version: TLSv1\.[23]", err), err
    return err


# --------------------------------------------------------------------------

def test_swaks_starttls(env, workdir):
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
    no_starttls_reached_backend(env)


def test_swaks_default_message(env):
    r = run(["swaks", "--server", "127.0.0.1:%d" % env.port, "--tls",
             "--from", "a@example.org", "--to", "b@example.net",
             "--body", "hello from swaks"], timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    msgs = env.sink.messages()
    assert len(msgs) == 1, msgs
    assert b"\r\n\r\nhello from swaks\r\n" in msgs[0], msgs
    no_starttls_reached_backend(env)


def test_openssl_s_client_starttls(env, workdir):
    s_client_transaction(env, env.port, True, workdir)
    assert env.sink.messages() == [STORED]
    no_starttls_reached_backend(env)


def test_openssl_s_client_implicit(env, workdir):
    s_client_transaction(env, env.smtps_port, False, workdir)
    assert env.sink.messages() == [STORED]
    no_starttls_reached_backend(env)


def test_openssl_s_client_rejects_unknown_ca(env, workdir):
    # The verification in the tests above can fail: with another CA it does.
    argv = s_client_argv(env, env.port, True)
    argv[argv.index("-CAfile") + 1] = os.path.join(env.certs, "selfsigned.pem")
    r = run(argv, input="", timeout=30)
    assert r.returncode != 0, r.stdout + r.stderr
    assert env.sink.messages() == []


def test_smtplib_starttls_send_message(env):
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.net"
    msg["Subject"] = "smtplib"
    msg.set_content("via smtplib\n.dot\n")
    with smtplib.SMTP("127.0.0.1", env.port, local_hostname="smtplib.example",
                      timeout=stplib.IO_TIMEOUT) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        assert not s.has_extn("auth")
        code, _ = s.starttls(context=env.ctx())
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls")
        assert s.has_extn("auth")
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        refused = s.send_message(msg)
        assert refused == {}
    msgs = env.sink.messages()
    assert len(msgs) == 1, msgs
    assert msgs[0].endswith(b"\r\n\r\nvia smtplib\r\n.dot\r\n"), msgs
    assert b"Subject: smtplib\r\n" in msgs[0]
    no_starttls_reached_backend(env)


def test_smtplib_starttls_bytes_exact(env):
    with smtplib.SMTP("127.0.0.1", env.port, timeout=stplib.IO_TIMEOUT) as s:
        s.starttls(context=env.ctx())
        # smtplib dot-stuffs by itself: what it is given is what must arrive.
        s.sendmail("a@example.org", ["b@example.net", "c@example.net"], MESSAGE)
    assert env.sink.messages() == [MESSAGE]
    no_starttls_reached_backend(env)


def test_smtplib_smtps_implicit(env):
    # The name checked is 127.0.0.1 (an IP SAN of the test certificate).
    with smtplib.SMTP_SSL("127.0.0.1", env.smtps_port, context=env.ctx(),
                          timeout=stplib.IO_TIMEOUT) as s:
        code, _ = s.ehlo()
        assert code == 250
        assert not s.has_extn("starttls")
        assert s.has_extn("auth")
        s.sendmail("a@example.org", ["b@example.net"], MESSAGE)
    assert env.sink.messages() == [MESSAGE]
    no_starttls_reached_backend(env)


# --------------------------------------------------------------------------
# Certificate choice and protocol versions

def tls12_context(env, ciphers):
    ctx = env.ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
    return ctx


def handshake_peer(env, ctx):
    c = env.client()
    assert c.reply().code == 220
    c.ehlo("client.example")
    c.starttls(ctx)
    der = c.sock.getpeercert(binary_form=True)
    version = c.sock.version()
    assert c.cmd("QUIT").code == 221
    c.close()
    return der, version


def test_ecdsa_client_gets_ecdsa_cert(env):
    der, version = handshake_peer(env, tls12_context(env, "ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert version == "TLSv1.2"
    assert der == stplib.cert_der(env.certs, "server-ec.pem")


def test_rsa_client_gets_rsa_cert(env):
    der, version = handshake_peer(env, tls12_context(env, "ECDHE-RSA-AES128-GCM-SHA256"))
    assert version == "TLSv1.2"
    assert der == stplib.cert_der(env.certs, "server.pem")


def s_client_cert_tls13(env, sigalgs, workdir):
    argv = s_client_argv(env, env.port, True, ["-tls1_3", "-sigalgs", sigalgs, "-showcerts"])
    argv.remove("-brief")
    r = run(argv, input="", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLSv1.3" in r.stdout, r.stdout
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    assert m, r.stdout
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def test_tls13_sigalgs_pick_certificate(env, workdir):
    assert s_client_cert_tls13(env, "ecdsa_secp256r1_sha256", workdir) == \
        stplib.cert_der(env.certs, "server-ec.pem")
    assert s_client_cert_tls13(env, "rsa_pss_rsae_sha256", workdir) == \
        stplib.cert_der(env.certs, "server.pem")


def test_rsa_only_listener_serves_ecdhe_rsa(make_env):
    env = make_env(certpairs=[("server.pem", "server.key")])
    der, _ = handshake_peer(env, env.ctx())
    assert der == stplib.cert_der(env.certs, "server.pem")


def test_min_tls_13_refuses_tls12_client(make_env):
    env = make_env(inbound={"min_tls": "1.3"})
    c = env.client()
    assert c.reply().code == 220
    c.ehlo("client.example")
    r = c.cmd("STARTTLS")
    assert r.code == 220, r
    ctx = env.ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)) as e:
        c.handshake(ctx)
        c.cmd("NOOP")
    c.close()
    # Refused by the server, not by this client's own settings.
    assert getattr(e.value, "reason", "") not in ("NO_PROTOCOLS_AVAILABLE",
                                                  "NO_CIPHERS_AVAILABLE"), e.value
    # A TLS 1.3 client is served.
    der, version = handshake_peer(env, env.ctx())
    assert version == "TLSv1.3"
    # Implicit listener too.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        c = stplib.Client(env.smtps_port)
        try:
            c.handshake(ctx)
            c.reply()
        finally:
            c.close()


def test_default_min_tls_refuses_tls11(env):
    c = env.client()
    assert c.reply().code == 220
    c.ehlo("client.example")
    assert c.cmd("STARTTLS").code == 220
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.fail("this Python cannot make a TLS 1.1 client")
    with pytest.raises((ssl.SSLError, ConnectionError)) as e:
        c.handshake(ctx)
        c.cmd("NOOP")
    c.close()
    # Refused by the server, not by this client's own settings.
    assert getattr(e.value, "reason", "") not in ("NO_PROTOCOLS_AVAILABLE",
                                                  "NO_CIPHERS_AVAILABLE"), e.value
