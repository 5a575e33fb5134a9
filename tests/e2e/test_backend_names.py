"""Names the proxy connects to are resolved at connect time by its own
resolver (issue 11: never getaddrinfo on an event loop, and -t never needs
a name to resolve): an inbound backend given by name, found through the
scripted resolver (tests/tools/fakedns.py) or the hosts file ("localhost");
a name that does not resolve is a temporary failure for the client.
"""

import subprocess

import stplib
from dnslab import fake_dns

ZONE = """$TTL 300
lab.test. 300 IN SOA ns.lab.test. host.lab.test. 1 3600 600 86400 60
legacy.lab.test. 300 IN A 127.0.0.1
"""

MESSAGE = b"Subject: by name\r\n\r\nbody\r\n"


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
        px = stplib.Proxy(workdir, certs, [stplib.Listener(
            backend="legacy.lab.test:%d" % sink.port)],
            global_keys={"dns": "127.0.0.1:%d" % dns.port, "dnssec_probe": "no"})
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
        px = stplib.Proxy(workdir, certs, [stplib.Listener(backend="gone.lab.test:25")],
                          global_keys={"dns": "127.0.0.1:%d" % dns.port,
                                       "dnssec_probe": "no"})
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
