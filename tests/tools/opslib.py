"""Helpers for the operations end-to-end tests (tests/e2e/test_ops_*.py):
the admin endpoint over a raw socket, a Prometheus text parser, a proxy
that a test may reload (SIGHUP) or stop itself (SIGTERM), smtplib with byte
counting, and log-line lookups.

Import from a test module after putting tests/tools on sys.path:

    sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
    from opslib import ops_proxy  # noqa: F401  (a fixture)

Everything is loopback only; every wait is bounded in time; every process
started here is stopped by PID (stplib.stop_process).
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import stplib

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Under ASan everything is slower: waits for "soon" stay generous.
SOON = 10.0


# --------------------------------------------------------------------------
# The admin endpoint

class HttpResponse:
    def __init__(self, raw, elapsed):
        self.raw = raw
        self.elapsed = elapsed
        head, sep, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.1 (\d{3}) ", lines[0] + b" ") if sep else None
        self.status = int(m.group(1)) if m else None
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            self.headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "HttpResponse(%r)" % (self.raw[:400],)


def http_raw(port, request, timeout=SOON):
    """Sends request (bytes) to 127.0.0.1:port and reads until the server
    closes; returns an HttpResponse (status None when no HTTP head came)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return HttpResponse(data, time.monotonic() - t0)


def http_get(port, path, method="GET", timeout=SOON):
    return http_raw(port, ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (method, path))
                    .encode(), timeout=timeout)


# --------------------------------------------------------------------------
# Prometheus text exposition

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


class Metrics:
    """Parsed samples: a list of (name, {label: value}, float)."""

    def __init__(self, text):
        self.text = text
        self.samples = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = _SAMPLE.match(line)
            assert m, "unparsable metrics line %r" % line
            labels = {}
            rest = m.group(2) or ""
            pos = 0
            while pos < len(rest):
                lm = _LABEL.match(rest, pos)
                assert lm and lm.end() > pos, "bad labels in %r" % line
                labels[lm.group(1)] = re.sub(r'\\(.)', r'\1', lm.group(2))
                pos = lm.end()
            self.samples.append((m.group(1), labels, float(m.group(3))))

    def series(self, name, **labels):
        """Samples of name whose labels include the given ones."""
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == w for k, w in labels.items())]

    def get(self, name, **labels):
        """Sum over the matching series (0 when there is none)."""
        return sum(v for _, v in self.series(name, **labels))

    def has(self, name, **labels):
        return bool(self.series(name, **labels))


def scrape(port):
    r = http_get(port, "/metrics")
    assert r.status == 200, r
    return Metrics(r.text)


def wait_metric(port, name, want, timeout=SOON, **labels):
    """Scrapes until the sum of name{labels} equals want; returns the last
    Metrics, or fails the test with what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        m = scrape(port)
        got = m.get(name, **labels)
        if got == want:
            return m
        if time.monotonic() > deadline:
            pytest.fail("%s%r is %s, expected %s within %ss" % (name, labels, got, want, timeout),
                        pytrace=False)
        time.sleep(0.05)


def promtool_check(text):
    """Runs promtool check metrics on text; skips the test without promtool."""
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("promtool not installed (Debian package 'prometheus'; "
                    "scripts/setup.sh should install it)")
    r = stplib.run([PROMTOOL, "check", "metrics"], input=text, timeout=60)
    return r.returncode, r.stdout + r.stderr


# --------------------------------------------------------------------------
# Configuration files

def ini_text(certs, listeners, global_keys, certpairs=None):
    """The ini for listeners (stplib.Listener) and global keys (dict, in
    order). certpairs: (cert, key) names relative to certs or absolute."""
    if certpairs is None:
        certpairs = [("server.pem", "server.key"), ("server-ec.pem", "server-ec.key")]
    out = ["[global]"]
    out += ["%s = %s" % (k, v) for k, v in global_keys.items()]
    for l in listeners:
        out += ["", "[%s]" % l.name, "listen = 127.0.0.1:%d" % l.port,
                "backend = %s" % l.backend, "tls = %s" % l.tls]
        if l.tls != "off":
            for cert, key in certpairs:
                out.append("cert = %s" % os.path.join(certs, cert))
                out.append("key = %s" % os.path.join(certs, key))
        out += ["%s = %s" % (k, v) for k, v in l.keys.items()]
    return "\n".join(out) + "\n"


def replace_file(path, data):
    """Writes data next to path, then renames it over path (atomic)."""
    tmp = path + ".tmp-%d" % os.getpid()
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.rename(tmp, path)


# --------------------------------------------------------------------------
# A proxy with an admin endpoint, which the test may reload or stop

BASE_GLOBALS = {"log_level": "debug", "idle_timeout": "60s", "handshake_timeout": "10s",
                "connect_timeout": "5s"}


class OpsProxy(stplib.Proxy):
    """stplib.Proxy plus admin = 127.0.0.1:(free port). A test that stops
    the proxy itself (signal()) may let it exit; teardown then checks only
    for sanitizer reports, not for "died"."""

    EVENT_TIMEOUT = SOON  # logs: events come within this

    def __init__(self, workdir, certs, listeners, global_keys=None, certpairs=None,
                 name="proxy", extra=""):
        self.certs = certs
        self.admin_port = stplib.free_port()
        self.globals = dict(BASE_GLOBALS)
        self.globals["admin"] = "127.0.0.1:%d" % self.admin_port
        self.globals.update(global_keys or {})
        self.stopped_by_test = False
        super().__init__(workdir, certs, listeners, global_keys=self.globals,
                         certpairs=certpairs, name=name, extra=extra)
        deadline = time.monotonic() + stplib.START_TIMEOUT
        while not stplib.listening(self.admin_port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("admin endpoint not listening:\n%s" % self.stderr())
            time.sleep(0.02)

    # -- reload ----------------------------------------------------------
    def rewrite(self, listeners, global_keys=None, certpairs=None, extra=None):
        """Replaces the config file (atomically) with listeners; the admin
        address and the base globals stay unless global_keys overrides
        them. extra: text appended verbatim. Returns the new text."""
        g = dict(self.globals)
        g.update(global_keys or {})
        text = ini_text(self.certs, listeners, g, certpairs) + (extra or "")
        replace_file(self.config, text)
        return text

    def write_text(self, text):
        replace_file(self.config, text)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    # -- stopping --------------------------------------------------------
    def signal(self, sig=signal.SIGTERM):
        self.stopped_by_test = True
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """The exit code, or None when the proxy still runs after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if not self.stopped_by_test:
            return super().stop()
        problems = []
        stplib.stop_process(self.proc)
        self.err.close()
        text = self.stderr()
        for mark in stplib.SANITIZER_MARKS:
            if mark in text:
                problems.append("sanitizer report in proxy stderr: %r" % mark)
        return problems



def _track(request, obj):
    if not hasattr(request.node, "stp_objects"):
        request.node.stp_objects = []
    request.node.stp_objects.append(obj)


@pytest.fixture
def ops_proxy(request, workdir, certs):
    """factory(listeners, global_keys=None, certpairs=None, extra="") ->
    OpsProxy (extra: more sections, as written). A sanitizer report (or,
    unless the test stopped it, a dead proxy) fails the test at teardown."""
    proxies = []

    def factory(listeners, global_keys=None, certpairs=None, extra=""):
        p = OpsProxy(workdir, certs, listeners, global_keys=global_keys,
                     certpairs=certpairs, name="proxy%d" % len(proxies), extra=extra)
        proxies.append(p)
        _track(request, p)
        return p

    yield factory
    stplib.stop_proxies(proxies)


# --------------------------------------------------------------------------
# smtplib that counts the plaintext bytes each way

class _CountingReader:
    def __init__(self, f, owner):
        self.f = f
        self.owner = owner

    def readline(self, limit=-1):
        line = self.f.readline(limit)
        self.owner.received += len(line)
        return line

    def close(self):
        self.f.close()


class CountingSMTP(smtplib.SMTP):
    """smtplib.SMTP that adds up the SMTP bytes it sends and receives
    (plaintext, before and inside TLS): the proxy's client leg counts
    exactly these."""

    def __init__(self, *a, **kw):
        self.sent = 0
        self.received = 0
        super().__init__(*a, **kw)

    def send(self, s):
        if isinstance(s, str):
            s = s.encode(self.command_encoding)
        self.sent += len(s)
        super().send(s)

    def getreply(self):
        # smtplib makes self.file anew after connect and after STARTTLS.
        if self.file is None and self.sock is not None:
            self.file = _CountingReader(self.sock.makefile("rb"), self)
        return super().getreply()


def message(n, tag="ops"):
    """A small distinct message (bytes, CRLF lines)."""
    return (("From: <a@sender.example>\r\nTo: <b@test.example>\r\n"
             "Subject: %s message %d\r\nMessage-ID: <%s-%d@sender.example>\r\n\r\n"
             "body of %s message %d\r\n" % (tag, n, tag, n, tag, n)).encode())


def smtplib_send(port, ctx, msg, starttls=True):
    """One session: EHLO, STARTTLS, EHLO, one message, QUIT. Returns the
    CountingSMTP (closed)."""
    s = CountingSMTP("127.0.0.1", port, local_hostname="client.example",
                     timeout=stplib.IO_TIMEOUT)
    try:
        s.ehlo()
        if starttls:
            code, _ = s.starttls(context=ctx)
            assert code == 220
            s.ehlo()
        refused = s.sendmail("a@sender.example", ["b@test.example"], msg)
        assert refused == {}
        s.quit()
    finally:
        s.close()
    return s


def session_ids(proxy, event="session_open"):
    return [e.get("session", "") for e in proxy.events(event)]


def send_message(client, msg, mail="<a@sender.example>", rcpt="<b@test.example>"):
    """MAIL, RCPT, DATA and msg on a stplib.Client that has greeted; returns
    the reply to the end-of-data."""
    r = client.cmd("MAIL FROM:%s" % mail)
    assert r.code == 250, r
    r = client.cmd("RCPT TO:%s" % rcpt)
    assert r.code == 250, r
    r = client.cmd("DATA")
    assert r.code == 354, r
    client.send(msg + b".\r\n")
    return client.reply()


def refuses(port, timeout=1.0):
    """True when a TCP connect to 127.0.0.1:port is refused."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


def wait_until(pred, timeout=SOON, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def tls_peer_der(client):
    """DER of the certificate the server presented on a stplib.Client."""
    assert isinstance(client.sock, ssl.SSLSocket)
    return client.sock.getpeercert(binary_form=True)
