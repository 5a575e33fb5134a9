"""Reload and certificate rotation: SIGHUP with a good and a bad config,
and certificate files replaced under a running proxy (rename over the
files, and the Kubernetes "..data" symlink swap) while STARTTLS sessions
keep running.
"""

import os
import shutil
import socket
import sys
import threading
import time

import pytest

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import (message, ops_proxy, refuses, replace_file, scrape,  # noqa: E402,F401
                    send_message, tls_peer_der, wait_metric, wait_until)

# A reload is visible to new connections well within this (SIGHUP: at once;
# file polling: 2 s + 0.5 s), with room for sanitizer builds.
RELOAD_WAIT = 10.0


def greet(port):
    c = stplib.Client(port)
    r = c.reply()
    assert r.code == 220, r
    r = c.ehlo()
    assert r.code == 250, r
    return c


class Prober:
    """Connects to a port again and again in a thread (bounded in count and
    time) and records every connection that was refused or did not get a
    220 greeting."""

    MAX_TRIES = 3000
    MAX_SECONDS = 40.0

    def __init__(self, port):
        self.port = port
        self.tries = 0
        self.failures = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        t0 = time.monotonic()
        while (not self.stop_flag.is_set() and self.tries < self.MAX_TRIES
               and time.monotonic() - t0 < self.MAX_SECONDS):
            self.tries += 1
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    first = s.recv(512)
                    if not first.startswith(b"220 "):
                        self.failures.append("greeting %r" % first)
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
            except OSError as e:
                self.failures.append("%s: %s" % (type(e).__name__, e))
            time.sleep(0.01)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def test_sighup_good_config(make_sink, ops_proxy):
    old, new = make_sink(name="old"), make_sink(name="new")
    main = stplib.Listener("inbound", "off", old.addr)
    gone = stplib.Listener("inbound:gone", "off", old.addr)
    proxy = ops_proxy([main, gone])
    added = stplib.Listener("inbound:added", "off", new.addr)

    # A session in flight across the reload, its envelope already sent.
    inflight = greet(main.port)
    assert inflight.cmd("MAIL FROM:<early@sender.example>").code == 250
    assert inflight.cmd("RCPT TO:<b@test.example>").code == 250

    prober = Prober(main.port)
    try:
        time.sleep(0.3)
        proxy.rewrite([stplib.Listener("inbound", "off", new.addr, port=main.port), added])
        proxy.hup()
        proxy.wait_event("reloaded", reason="SIGHUP")
        assert wait_until(lambda: stplib.listening(added.port), RELOAD_WAIT), \
            "added listener not listening"
        assert wait_until(lambda: refuses(gone.port), RELOAD_WAIT), \
            "removed listener still accepts connections"
        time.sleep(0.3)
    finally:
        prober.stop()
    assert prober.tries >= 5, prober.tries
    assert prober.failures == [], prober.failures[:10]

    # The session opened before the HUP finishes on the old backend.
    assert inflight.cmd("DATA").code == 354
    inflight.send(message(1, "inflight") + b".\r\n")
    assert inflight.reply().code == 250
    assert inflight.cmd("QUIT").code == 221
    inflight.close()

    # New sessions use the new backend, on the kept and the added listener.
    for n, port in enumerate((main.port, added.port)):
        with greet(port) as c:
            assert send_message(c, message(n, "after")).code == 250
            assert c.cmd("QUIT").code == 221

    assert message(1, "inflight") in old.messages()
    assert message(1, "inflight") not in new.messages()
    assert message(0, "after") in new.messages()
    assert message(1, "after") in new.messages()
    assert message(0, "after") not in old.messages()
    assert refuses(gone.port)
    m = scrape(proxy.admin_port)
    assert m.get("stp_config_reloads_total", result="ok") == 1
    assert m.get("stp_config_reloads_total", result="failed") == 0
    assert m.get("stp_ready") == 1


def test_sighup_bad_config_keeps_old(make_sink, ops_proxy):
    old, new = make_sink(name="old"), make_sink(name="new")
    main = stplib.Listener("inbound", "off", old.addr)
    proxy = ops_proxy([main])

    # The new config would move the backend, but has an unknown key.
    text = proxy.rewrite([stplib.Listener("inbound", "off", new.addr, port=main.port)])
    lines = text.splitlines()
    at = lines.index("[inbound]") + 1
    lines.insert(at, "no_such_key = 1")
    bad_line = at + 1  # 1-based
    proxy.write_text("\n".join(lines) + "\n")
    proxy.hup()
    proxy.wait_event("reload_failed")
    errs = proxy.events("config_error")
    want = "%s:%d:" % (proxy.config, bad_line)
    assert any(e["error"].startswith(want) and "no_such_key" in e["error"] for e in errs), \
        (want, errs)
    assert proxy.events("reloaded") == []

    # The old configuration still serves.
    with greet(main.port) as c:
        assert send_message(c, message(1, "kept")).code == 250
        assert c.cmd("QUIT").code == 221
    assert old.messages() == [message(1, "kept")]
    assert new.messages() == []
    m = scrape(proxy.admin_port)
    assert m.get("stp_config_reloads_total", result="failed") == 1
    assert m.get("stp_config_reloads_total", result="ok") == 0
    assert m.get("stp_ready") == 1

    # Fixed, the next HUP takes it.
    proxy.rewrite([stplib.Listener("inbound", "off", new.addr, port=main.port)])
    proxy.hup()
    proxy.wait_event("reloaded")
    with greet(main.port) as c:
        assert send_message(c, message(2, "fixed")).code == 250
        assert c.cmd("QUIT").code == 221
    assert new.messages() == [message(2, "fixed")]
    wait_metric(proxy.admin_port, "stp_config_reloads_total", 1, result="ok")


def test_sighup_unusable_certificate_keeps_old(make_sink, ops_proxy, workdir, certs):
    """A config that parses but whose certificate is not a certificate."""
    sink = make_sink()
    main = stplib.Listener("inbound", "starttls", sink.addr)
    proxy = ops_proxy([main])
    junk = os.path.join(workdir, "junk.pem")
    with open(junk, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                "-----END CERTIFICATE-----\n")
    proxy.rewrite([main], certpairs=[(junk, "server.key")])
    proxy.hup()
    proxy.wait_event("reload_failed")
    assert proxy.events("config_error"), "no config_error logged"
    with greet(main.port) as c:
        c.starttls(stplib.client_context(certs))
        assert tls_peer_der(c) in (stplib.cert_der(certs, "server.pem"),
                                   stplib.cert_der(certs, "server-ec.pem"))
        assert c.ehlo().code == 250
        assert send_message(c, message(1)).code == 250
        assert c.cmd("QUIT").code == 221
    assert sink.messages() == [message(1)]
    assert scrape(proxy.admin_port).get("stp_config_reloads_total", result="failed") == 1


# --------------------------------------------------------------------------
# Certificate rotation under load

class Loader:
    """STARTTLS sessions one after another in a thread, each delivering one
    message; records (DER of the served certificate, error or None)."""

    MAX_SESSIONS = 1000
    MAX_SECONDS = 45.0
    PAUSE = 0.05

    def __init__(self, port, certs, tag):
        self.port = port
        self.ctx = stplib.client_context(certs)
        self.tag = tag
        self.results = []
        self.delivered = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def one(self, n):
        msg = message(n, self.tag)
        with greet(self.port) as c:
            c.starttls(self.ctx)
            der = tls_peer_der(c)
            assert c.ehlo().code == 250
            r = send_message(c, msg)
            assert r.code == 250, r
            assert c.cmd("QUIT").code == 221
        self.delivered.append(msg)
        return der

    def run(self):
        t0 = time.monotonic()
        n = 0
        while (not self.stop_flag.is_set() and n < self.MAX_SESSIONS
               and time.monotonic() - t0 < self.MAX_SECONDS):
            n += 1
            try:
                self.results.append((self.one(n), None))
            except Exception as e:  # every failure is recorded, none ends the loop
                self.results.append((None, "%s: %s" % (type(e).__name__, e)))
            time.sleep(self.PAUSE)

    def served(self, der):
        return sum(1 for d, _ in self.results if d == der)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def copy(src, dst):
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o600)


def install_plain(certs, d, name):
    """d/tls.crt and d/tls.key: regular files, replaced by rename."""
    for src, dst in ((name + ".pem", "tls.crt"), (name + ".key", "tls.key")):
        with open(os.path.join(certs, src), "rb") as f:
            replace_file(os.path.join(d, dst), f.read())


def install_k8s(certs, d, name, stamp):
    """The layout kubelet gives a mounted Secret: d/tls.crt -> ..data/tls.crt,
    ..data -> ..STAMP/; a new version is a new ..STAMP directory and an
    atomic replacement of the ..data symlink, then the old one goes."""
    ts = os.path.join(d, "..%s" % stamp)
    os.mkdir(ts)
    copy(os.path.join(certs, name + ".pem"), os.path.join(ts, "tls.crt"))
    copy(os.path.join(certs, name + ".key"), os.path.join(ts, "tls.key"))
    data = os.path.join(d, "..data")
    old = os.readlink(data) if os.path.islink(data) else None
    tmp = os.path.join(d, "..data_tmp")
    os.symlink("..%s" % stamp, tmp)
    os.rename(tmp, data)  # rename(2) replaces the symlink itself: mv -T
    for f in ("tls.crt", "tls.key"):
        if not os.path.islink(os.path.join(d, f)):
            os.symlink(os.path.join("..data", f), os.path.join(d, f))
    if old is not None:
        shutil.rmtree(os.path.join(d, old))


@pytest.mark.parametrize("layout", ["rename", "k8s-symlink"])
def test_certificate_swap_under_load(make_sink, ops_proxy, workdir, certs, layout):
    live = os.path.join(workdir, "live")
    os.mkdir(live)
    if layout == "rename":
        install_plain(certs, live, "server")
    else:
        install_k8s(certs, live, "server", "2026_01_01_00_00_00.1")
    sink = make_sink()
    main = stplib.Listener("inbound", "starttls", sink.addr)
    proxy = ops_proxy([main], certpairs=[(os.path.join(live, "tls.crt"),
                                          os.path.join(live, "tls.key"))])
    cert_a = stplib.cert_der(certs, "server.pem")
    cert_b = stplib.cert_der(certs, "server-ec.pem")

    loader = Loader(main.port, certs, layout)
    try:
        assert wait_until(lambda: loader.served(cert_a) >= 3, 20), loader.results[:5]
        if layout == "rename":
            install_plain(certs, live, "server-ec")
        else:
            install_k8s(certs, live, "server-ec", "2026_02_01_00_00_00.2")
        t_swap = time.monotonic()
        assert wait_until(lambda: loader.served(cert_b) >= 1, RELOAD_WAIT), \
            "certificate B not served within %ss" % RELOAD_WAIT
        seen_after = time.monotonic() - t_swap
        assert wait_until(lambda: loader.served(cert_b) >= 4, 20)
    finally:
        loader.stop()

    failures = [e for _, e in loader.results if e is not None]
    assert failures == [], failures[:10]
    ders = [d for d, _ in loader.results]
    assert set(ders) <= {cert_a, cert_b}
    # Once B was served, A is not served again.
    first_b = ders.index(cert_b)
    assert cert_a not in ders[first_b + 1:], "certificate A served after B"
    assert seen_after < RELOAD_WAIT
    proxy.wait_event("reloaded", reason="files changed")
    sink.wait_closed(min_conns=len(loader.results))
    assert sorted(sink.messages()) == sorted(loader.delivered)
    assert len(loader.delivered) == len(loader.results)
    # The expiry gauge follows the new certificate.
    m = scrape(proxy.admin_port)
    assert len(m.series("stp_certificate_not_after_seconds", listener="inbound")) == 1
    assert m.get("stp_config_reloads_total", result="ok") >= 1
