"""The resolver's start-up report and the DNSSEC probe (proxy/dns.c,
worker.c): dns_config in the log, stp_dnssec_ok on /metrics,
dnssec_unavailable / dnssec_ok events, and relay names that "-t" never
resolves.

The resolver here is a small stdlib UDP responder on 127.0.0.1 (a thread
of this process) answering the probe (NS of ".") with the AD bit set or
not, or not at all.
"""

import os
import socket
import struct
import sys
import threading
import time

import pytest

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import ops_proxy, scrape, wait_metric  # noqa: E402,F401

PROBE_WAIT = 10.0


class Responder:
    """Answers every query with one NS record (mode "ad": AD set, "plain":
    AD clear) or not at all (mode "silent"); counts the queries."""

    def __init__(self, mode="ad"):
        self.mode = mode
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                q, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 17:
                continue
            # The question: labels up to the root's zero octet.
            end = 12
            while end < len(q) and q[end] != 0:
                end += 1 + q[end]
            qtype = struct.unpack("!H", q[end + 1:end + 3])[0]
            self.queries.append((q[12:end + 1], qtype, q[3] & 0x20))
            if self.mode == "silent":
                continue
            flags = 0x8180 | (0x0020 if self.mode == "ad" else 0)
            question = q[12:end + 5]
            rdata = b"\x01a\x0croot-servers\x03net\x00"
            answer = (b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 3600, len(rdata)) + rdata)
            msg = q[:2] + struct.pack("!HHHHH", flags, 1, 1, 0, 0) + question + answer
            self.sock.sendto(msg, peer)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def responder():
    made = []

    def factory(mode):
        r = Responder(mode)
        made.append(r)
        return r

    yield factory
    for r in made:
        r.close()


def listeners():
    # No traffic is needed: a plaintext listener whose backend is unused.
    return [stplib.Listener("inbound", "off", "127.0.0.1:%d" % stplib.free_port())]


def dane_listener():
    """An outbound listener that applies DANE: only with one does the
    AD bit matter, so only then does the probe run."""
    return ("\n[outbound]\nlisten = 127.0.0.1:%d\nmode = transparent\n"
            "tls = may\ndane = yes\n" % stplib.free_port())


def start(ops_proxy, resolver_port, extra=None, **keys):
    g = {"dns": "127.0.0.1:%d" % resolver_port, "workers": "2"}
    g.update(keys)
    return ops_proxy(listeners(), global_keys=g,
                     extra=dane_listener() if extra is None else extra)


def test_probe_with_ad_sets_gauge_to_1(ops_proxy, responder):
    dns = responder("ad")
    proxy = start(ops_proxy, dns.port)
    ev = proxy.wait_event("dns_config")[0]
    assert ev["resolver"] == "127.0.0.1:%d" % dns.port, ev
    assert ev["trust_ad"] == "yes" and ev["reason"] == "loopback", ev
    assert ev["level"] == "info", ev
    m = wait_metric(proxy.admin_port, "stp_dnssec_ok", 1, timeout=PROBE_WAIT)
    assert m.get("stp_dns_queries_total", type="ns", result="ok") >= 1
    proxy.wait_event("dnssec_ok")
    assert proxy.events("dnssec_unavailable") == []
    # The probe asked what it says: NS of the root, with AD in the query.
    assert (b"\x00", 2, 0x20) in dns.queries, dns.queries


def test_probe_without_ad_warns_then_recovers_on_reload(ops_proxy, responder):
    dns = responder("plain")
    proxy = start(ops_proxy, dns.port)
    wait_metric(proxy.admin_port, "stp_dnssec_ok", 0, timeout=PROBE_WAIT)
    ev = proxy.wait_event("dnssec_unavailable")[0]
    assert ev["level"] == "warn", ev
    assert ev["status"] == "ok" and ev["reason"] == "no AD bit", ev
    assert ev["probe_type"] == "ns" and ev["probe_name"] == ".", ev
    assert proxy.events("dnssec_ok") == []
    # The resolver starts validating; a reload probes again.
    dns.mode = "ad"
    proxy.rewrite(listeners(), global_keys={"dns": "127.0.0.1:%d" % dns.port,
                                            "workers": "2", "dns_timeout": "3s"},
                  extra=dane_listener())
    proxy.hup()
    proxy.wait_event("reloaded")
    wait_metric(proxy.admin_port, "stp_dnssec_ok", 1, timeout=PROBE_WAIT)
    proxy.wait_event("dnssec_ok")
    assert len(proxy.events("dnssec_unavailable")) == 1


def test_probe_timeout_is_unavailable(ops_proxy, responder):
    dns = responder("silent")
    proxy = start(ops_proxy, dns.port, dns_timeout="600ms")
    wait_metric(proxy.admin_port, "stp_dnssec_ok", 0, timeout=PROBE_WAIT)
    ev = proxy.wait_event("dnssec_unavailable")[0]
    assert ev["status"] == "timeout", ev
    m = scrape(proxy.admin_port)
    assert m.get("stp_dns_queries_total", type="ns", result="timeout") == 1
    # c-ares tried twice within the timeout.
    assert len(dns.queries) == 2, dns.queries


def test_no_probe_and_no_warning_without_dane(ops_proxy, responder):
    # Inbound only: nothing needs the AD bit, so no query leaves, no
    # gauge appears, and an untrusted resolver is only reported.
    dns = responder("plain")
    proxy = start(ops_proxy, dns.port, extra="")
    remote = ops_proxy(listeners(), global_keys={"dns": "192.0.2.53:53"})
    ev = remote.wait_event("dns_config")[0]
    assert ev["trust_ad"] == "no" and ev["reason"] == "not-loopback", ev
    assert ev["level"] == "info" and "result" not in ev, ev
    proxy.wait_event("dns_config")
    time.sleep(1.0)
    assert dns.queries == [], dns.queries
    assert not scrape(proxy.admin_port).has("stp_dnssec_ok")
    assert proxy.events("dnssec_unavailable") == []
    assert remote.events("dnssec_unavailable") == []


def test_ad_from_a_remote_resolver_is_ignored_unless_trusted(ops_proxy):
    # Nothing is sent (probe off): only the start-up report is checked.
    proxy = ops_proxy(listeners(), global_keys={"dns": "192.0.2.53:53",
                                                "dnssec_probe": "no"},
                      extra=dane_listener())
    ev = proxy.wait_event("dns_config")[0]
    assert ev["resolver"] == "192.0.2.53:53", ev
    assert ev["trust_ad"] == "no" and ev["reason"] == "not-loopback", ev
    assert ev["level"] == "warn", ev
    # Probe off: no gauge at all.
    assert not scrape(proxy.admin_port).has("stp_dnssec_ok")
    proxy2 = ops_proxy(listeners(), global_keys={"dns": "192.0.2.53:53",
                                                 "dnssec_probe": "no",
                                                 "dns_trust_ad": "yes"},
                       extra=dane_listener())
    ev = proxy2.wait_event("dns_config")[0]
    assert ev["trust_ad"] == "yes" and ev["reason"] == "dns_trust_ad", ev
    assert ev["level"] == "info", ev


def test_check_passes_with_unresolvable_relay_name(workdir):
    path = os.path.join(workdir, "relay.ini")
    with open(path, "w") as f:
        f.write("\n".join([
            "[global]",
            "dns = 127.0.0.1:9",
            "",
            "[outbound]",
            "listen = 127.0.0.1:%d" % stplib.free_port(),
            "mode = relay",
            "relay = no-such-relay.invalid:25",
            "tls = may",
        ]) + "\n")
    r = stplib.run([stplib.BINARY, "-t", "-c", path], timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration ok" in r.stdout
