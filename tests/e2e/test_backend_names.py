"""Names the proxy connects to are resolved at connect time by its own
resolver (issue 11: never getaddrinfo on an event loop, and -t never needs
a name to resolve): an inbound backend given by name, found through the
scripted resolver (tests/tools/fakedns.py) or the hosts file ("localhost");
a name that does not resolve is a temporary failure for the client.
"""

import socket
import subprocess

import stplib
from dnslab import fake_dns

ZONE = """$TTL 300
lab.test. 300 IN SOA ns.lab.test. host.lab.test. 1 3600 600 86400 60
legacy.lab.test. 300 IN A 127.0.0.1
"""

MESSAGE = b"Subject: by name\r\n\r\nbody\r\n"

# legacy2: nothing listens on 127.0.0.2, the sink on 127.0.0.1. legacy3:
# 127.0.0.3 answers no SYN (a listener whose queue is full), then the sink.
# dead: neither address listens.
MULTI = ZONE + """legacy2.lab.test. 300 IN A 127.0.0.2
legacy2.lab.test. 300 IN A 127.0.0.1
legacy3.lab.test. 300 IN A 127.0.0.3
legacy3.lab.test. 300 IN A 127.0.0.1
dead.lab.test. 300 IN A 127.0.0.2
dead.lab.test. 300 IN A 127.0.0.4
"""


class Blackhole:
    """127.0.0.3:port takes no connection: a listener with a backlog of 0
    whose queue is full, so the kernel drops further SYNs (the connect
    neither succeeds nor fails until the caller gives up)."""

    def __init__(self, port):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.3", port))
        self.ls.listen(0)
        self.fill = []
        for _ in range(2):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.3", port))
            self.fill.append(c)

    def close(self):
        for c in self.fill:
            c.close()
        self.ls.close()


def named_proxy(workdir, certs, dns, backend, **g):
    """A proxy whose backend is a name, resolved by the fake resolver."""
    keys = {"dns": "127.0.0.1:%d" % dns.port, "dnssec_probe": "no"}
    keys.update(g)
    return stplib.Proxy(workdir, certs, [stplib.Listener(backend=backend)],
                        global_keys=keys)


def deliver(port):
    c = stplib.Client(port)
    banner = c.reply()
    if banner.code != 220:
        c.close()
        return banner, None
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.net>")
    assert c.cmd("DATA").code == 354
    c.send(MESSAGE + b".\r\n")
    eod = c.reply()
    c.cmd("QUIT")
    c.close()
    return banner, eod


def test_backend_by_name_through_the_resolver(workdir, certs):
    sink = stplib.Sink(workdir)
    with fake_dns(workdir, ZONE) as dns:
        px = named_proxy(workdir, certs, dns, "legacy.lab.test:%d" % sink.port)
        try:
            banner, eod = deliver(px.port())
            assert banner.code == 220 and eod.code == 250, (banner, eod)
            assert sink.wait_closed()
            assert sink.messages() == [MESSAGE]
            asked = dns.queries()
            assert ("udp", "legacy.lab.test.", "A") in asked, asked
            # Resolved at each connection (from the cache after the first).
            banner, eod = deliver(px.port())
            assert eod.code == 250
        finally:
            stplib.stop_proxies([px])
            sink.stop()


def test_backend_name_not_found_is_421(workdir, certs):
    with fake_dns(workdir, ZONE) as dns:
        px = named_proxy(workdir, certs, dns, "gone.lab.test:25")
        try:
            banner, _ = deliver(px.port())
            assert banner.code == 421 and banner.lines[-1].startswith("421 4.3.0"), banner
            ev = px.wait_event("backend_dns")[-1]
            assert ev["result"] == "nxdomain", ev
        finally:
            stplib.stop_proxies([px])


def test_check_mode_needs_no_backend_resolution(workdir):
    path = workdir + "/t.ini"
    with open(path, "w") as f:
        f.write("[global]\ndns = 127.0.0.1:9\n[inbound]\nlisten = 127.0.0.1:%d\n"
                "backend = no-such-backend.invalid:25\ntls = off\n" % stplib.free_port())
    r = subprocess.run([stplib.BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_backend_second_address_when_first_refuses(workdir, certs):
    """A backend name with two addresses, the first refusing: the session
    goes on at the second (plaintext, then again after STARTTLS), logged;
    both messages arrive."""
    sink = stplib.Sink(workdir)
    with fake_dns(workdir, MULTI) as dns:
        px = named_proxy(workdir, certs, dns, "legacy2.lab.test:%d" % sink.port)
        try:
            banner, eod = deliver(px.port())
            assert banner.code == 220 and eod.code == 250, (banner, eod)
            ev = px.wait_event("connect_failed")[-1]
            assert ev["addr"] == "127.0.0.2:%d" % sink.port, ev
            assert ev["next"] == "127.0.0.1:%d" % sink.port, ev
            assert ev["server"] == "legacy2.lab.test:%d" % sink.port, ev
            c = stplib.Client(px.port())
            assert c.reply().code == 220
            c.ehlo()
            c.starttls(stplib.client_context(certs))
            assert c.ehlo().code == 250
            c.cmd("MAIL FROM:<a@example.org>")
            c.cmd("RCPT TO:<b@example.net>")
            assert c.cmd("DATA").code == 354
            c.send(MESSAGE + b".\r\n")
            assert c.reply().code == 250
            c.cmd("QUIT")
            c.close()
            assert sink.wait_closed(min_conns=3)
            assert sink.messages() == [MESSAGE, MESSAGE]
            # Two sessions, three dials of the name: each tried .2 first.
            assert len(px.events("connect_failed")) == 3
        finally:
            stplib.stop_proxies([px])
            sink.stop()


def test_backend_unanswering_address_times_out_to_the_next(workdir, certs):
    """The first address never answers the SYN: after connect_timeout the
    next one is dialled, and the message arrives."""
    sink = stplib.Sink(workdir)
    hole = Blackhole(sink.port)
    with fake_dns(workdir, MULTI) as dns:
        px = named_proxy(workdir, certs, dns, "legacy3.lab.test:%d" % sink.port,
                         connect_timeout="1s")
        try:
            banner, eod = deliver(px.port())
            assert banner.code == 220 and eod.code == 250, (banner, eod)
            ev = px.wait_event("connect_failed")[-1]
            assert ev["addr"] == "127.0.0.3:%d" % sink.port, ev
            assert ev["error"] == "connect timeout", ev
            assert sink.messages() == [MESSAGE]
        finally:
            stplib.stop_proxies([px])
            hole.close()
            sink.stop()


def test_backend_no_address_answers_is_421(workdir, certs):
    port = stplib.free_port()
    with fake_dns(workdir, MULTI) as dns:
        px = named_proxy(workdir, certs, dns, "dead.lab.test:%d" % port)
        try:
            banner, _ = deliver(px.port())
            assert banner.code == 421, banner
            evs = px.wait_event("connect_failed", count=2)
            assert [e.get("addr") for e in evs] == ["127.0.0.2:%d" % port, None], evs
            assert evs[0]["next"] == "127.0.0.4:%d" % port, evs
        finally:
            stplib.stop_proxies([px])
