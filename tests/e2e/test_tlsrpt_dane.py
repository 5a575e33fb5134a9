"""TLS-RPT (RFC 8460) results of DANE decisions, through the running proxy:
the namespaces, resolver, MX and legacy client of test_dane.py (World,
zone), and a datagram recorder standing in for tlsrpt-collectd on
[global] tlsrpt_socket.

What a user checks: exactly one datagram per session and policy domain, in
the libtlsrpt format a collector reads (dpv 1, the domain's TLSRPT record
as "pr"), with the policy type and RFC 8460 result code of each failure
class the DANE tests produce, the MX name and addresses; the metrics; and
that reporting never holds up delivery.
"""

import os
import subprocess
import time

import pytest

import stplib

from dnslab import dane_pki  # noqa: F401
from outlib import netns_up, policy  # noqa: F401
from test_dane import (MESSAGE, MX_ADDR, codes, metric, rcpt_seen, world,  # noqa: F401
                       world_base, zone)
from tlsrptlib import LAB_RECORD, PLAIN_RECORD, RECORDS, Recorder, results

TLSA, NONE = 1, 9


@pytest.fixture
def rec(world):
    r = Recorder(os.path.join(world.workdir, "tlsrpt-%d.sock" % (world.seq + 1)))
    yield r
    r.close()


def rproxy(world, rec, sections=(), **g):
    keys = {"tlsrpt_socket": rec.path}
    keys.update(g)
    return world.proxy(sections=sections, global_keys=keys)


def settled_metrics(world, done, timeout=10):
    """The metrics once done(metrics) holds, or as they are after timeout:
    a result whose TLSRPT record answers after its session closed is sent
    (or dropped) then."""
    deadline = time.monotonic() + timeout
    while True:
        m = world.metrics()
        if done(m) or time.monotonic() > deadline:
            return m
        time.sleep(0.1)


def session_results(world, px, rec, count=1):
    px.wait_event("session_close", count=count)
    return results(rec.drain())


def test_dane_match_is_one_tlsa_success(world, rec):
    pki = world.pki
    tlsa = pki.tlsa("mx1", 3, 1, 1)
    world.dns.set_zone(zone(tlsa_lab=[tlsa], extra=RECORDS))
    mx = world.mx(pki)
    px = rproxy(world, rec)
    # Two recipients of one domain, one session: one result.
    out = world.send(["b@lab.test", "c@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5", "250 2.1.5"], out
    assert mx.wait_closed()
    res = session_results(world, px, rec)
    assert set(res) == {"lab.test"}, res
    ptype, code, d = res["lab.test"]
    assert (ptype, code) == (TLSA, 0), d
    assert d["pr"] == LAB_RECORD, d
    p = d["policies"][0]
    assert p["policy-string"] == [tlsa.lower()], p
    assert "failure-details" not in p, p
    m = world.metrics()
    assert metric(m, "stp_tlsrpt_results_total", policy_type="tlsa", result="success") == 1
    assert metric(m, "stp_tlsrpt_datagrams_sent_total") == 1
    assert metric(m, "stp_tlsrpt_datagrams_dropped_total") == 0


def test_dane_mismatch_and_insecure_domain(world, rec):
    """One session, two domains: a validation failure for the DANE domain
    (with the MX name and both addresses), no-policy-found success for the
    unsigned one, each in a datagram of its own."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)], extra=RECORDS))
    mx = world.mx(pki)
    px = rproxy(world, rec)
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.5", "250 2.1.5"], out
    assert mx.wait_closed()
    res = session_results(world, px, rec)
    assert set(res) == {"lab.test", "plain.test"}, res
    assert res["lab.test"][:2] == (TLSA, 205), res
    fd = res["lab.test"][2]["policies"][0]["failure-details"][0]
    assert fd["n"] == "mx1.lab.test" and fd["r"] == MX_ADDR, fd
    assert fd["s"] not in ("", "-"), fd
    assert res["plain.test"][:2] == (NONE, 0), res
    assert res["plain.test"][2]["pr"] == PLAIN_RECORD
    m = world.metrics()
    assert metric(m, "stp_tlsrpt_results_total", policy_type="tlsa",
                  result="validation-failure") == 1
    assert metric(m, "stp_tlsrpt_results_total", policy_type="no-policy-found",
                  result="success") == 1


def test_dane_ta_wrong_name_is_host_mismatch(world, rec):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("int", 2, 0, 1)], extra=RECORDS))
    mx = world.mx(pki, cert="wrongname")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    assert session_results(world, px, rec)["lab.test"][:2] == (TLSA, 202)


def test_bogus_tlsa_is_dnssec_invalid(world, rec):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    world.dns.set_lists(servfail=["_25._tcp.mx1.lab.test./TLSA"])
    mx = world.mx(pki)
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    assert session_results(world, px, rec)["lab.test"][:2] == (TLSA, 305)


def late_record_session(world, rec, delay):
    """One delivered DANE session whose TLSRPT record answers delay s late
    (within dns_timeout): returns the proxy once the session closed with
    its result waiting for the record."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    world.dns.set_lists(delay={"_smtp._tls.lab.test.": delay})
    mx = world.mx(pki)
    px = rproxy(world, rec, dns_timeout="%ds" % (delay + 3))
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed()
    px.wait_event("tlsrpt", domain="lab.test", record="pending")
    px.wait_event("session_close")
    return px


def test_slow_tlsrpt_record_is_sent_after_the_session(world, rec):
    """The TLSRPT record answers 1.5 s late: the session does not wait for
    it (closed, nothing sent yet), and the result goes to the collector
    when the answer comes."""
    px = late_record_session(world, rec, 1.5)
    res = results(rec.drain(settle=3))
    assert set(res) == {"lab.test"}, res
    assert res["lab.test"][:2] == (TLSA, 0)
    assert res["lab.test"][2]["pr"] == LAB_RECORD
    m = world.metrics()
    assert metric(m, "stp_tlsrpt_datagrams_sent_total") == 1
    assert metric(m, "stp_tlsrpt_datagrams_dropped_total") == 0


def test_stop_drops_a_result_still_waiting_for_its_record(world, rec):
    """A stop while a closed session's result waits for its TLSRPT record:
    the proxy exits cleanly (no leak under the sanitizers), the result is
    logged as dropped and nothing reaches the collector."""
    px = late_record_session(world, rec, 6)
    world.proxies.remove(px)
    assert px.stop() == []
    assert px.events("tlsrpt_dropped", domain="lab.test"), px.stderr()[-4000:]
    assert rec.drain(settle=0.3) == []


def test_no_starttls_is_starttls_not_supported(world, rec):
    """Both domains: under the DANE policy and under no policy."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    mx = world.mx(pki, mode="no-starttls")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.4", "250 2.1.5"], out
    assert mx.wait_closed()
    res = session_results(world, px, rec)
    assert res["lab.test"][:2] == (TLSA, 201), res
    assert res["plain.test"][:2] == (NONE, 201), res


def test_not_a_secure_mx_is_validation_failure(world, rec):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], mx_lab="198.51.100.26",
                            extra=RECORDS))
    mx = world.mx(pki)
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    assert session_results(world, px, rec)["lab.test"][:2] == (TLSA, 205)


def test_unusable_tlsa_is_tlsa_invalid_and_delivers(world, rec):
    """PKIX-EE (usage 1) is not usable for SMTP (RFC 7672 3.1.3): TLS was
    the whole demand, the mail goes, and the domain hears of its record."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 1, 1, 1)], extra=RECORDS))
    mx = world.mx(pki)
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert session_results(world, px, rec)["lab.test"][:2] == (TLSA, 304)


def test_dane_required_and_operator_exemption(world, rec):
    """[policy:plain.test] tls = dane on an unsigned zone: dane-required.
    [policy:lab.test] tls = may decides alone: nothing published was
    evaluated, so no result for lab.test."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)], extra=RECORDS))
    mx = world.mx(pki)
    px = rproxy(world, rec, sections=[policy("lab.test", "may"), policy("plain.test", "dane")])
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5", "450 4.7.5"], out
    assert mx.wait_closed()
    res = session_results(world, px, rec)
    assert set(res) == {"plain.test"}, res
    assert res["plain.test"][:2] == (TLSA, 306), res


def test_lookup_timeout_reports_nothing(world, rec):
    """A policy that could not be looked up is no result: the retry
    reports."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    world.dns.set_lists(silent=["_25._tcp.mx1.lab.test."])
    mx = world.mx(pki)
    px = rproxy(world, rec, dns_timeout="1s")
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "451 4.4.3", "250 2.1.5"], out
    assert mx.wait_closed()
    assert set(session_results(world, px, rec)) == {"plain.test"}


def test_one_result_per_session(world, rec):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    mx = world.mx(pki)
    px = rproxy(world, rec)
    world.send(["b@lab.test"])
    world.send(["c@lab.test"])
    assert mx.wait_closed(min_conns=2)
    px.wait_event("session_close", count=2)
    dg = rec.drain()
    assert [d["d"] for d in dg] == ["lab.test", "lab.test"], dg
    assert metric(world.metrics(), "stp_tlsrpt_results_total", policy_type="tlsa",
                  result="success") == 2


def test_no_tlsrpt_record_counts_but_sends_nothing(world, rec):
    """A domain without _smtp._tls asked for no reports: the metric counts
    the result, nothing goes to the collector."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki)
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert session_results(world, px, rec) == {}
    m = world.metrics()
    assert metric(m, "stp_tlsrpt_results_total", policy_type="tlsa", result="success") == 1
    assert metric(m, "stp_tlsrpt_datagrams_sent_total") == 0
    assert metric(m, "stp_tlsrpt_datagrams_dropped_total") == 0


def test_missing_collector_costs_nothing(world):
    """tlsrpt_socket names no socket: delivery goes on, the datagram is
    dropped and counted."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    mx = world.mx(pki)
    px = world.proxy(global_keys={"tlsrpt_socket": os.path.join(world.workdir, "absent.sock")})
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5", "250 2.1.5"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    px.wait_event("session_close")
    m = settled_metrics(world, lambda m: metric(m, "stp_tlsrpt_datagrams_dropped_total") >= 2)
    assert metric(m, "stp_tlsrpt_datagrams_dropped_total") == 2
    assert metric(m, "stp_tlsrpt_datagrams_sent_total") == 0
    assert metric(m, "stp_tlsrpt_results_total", policy_type="tlsa", result="success") == 1


# A collector that reads nothing, bound inside the pod.
STUCK = r"""
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
time.sleep(120)
"""


def test_full_collector_costs_nothing(world):
    """A collector that does not keep up: its queue fills (the pod's
    net.unix.max_dgram_qlen at 1, inherited by the socket made there),
    the rest is dropped and counted, and every message is delivered."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], extra=RECORDS))
    old = stplib.run(["ip", "netns", "exec", world.pod, "sysctl", "-n",
                      "net.unix.max_dgram_qlen"], timeout=30).stdout.strip()
    path = os.path.join(world.workdir, "stuck-%d.sock" % world.seq)
    stplib.run(["ip", "netns", "exec", world.pod, "sysctl", "-w",
                "net.unix.max_dgram_qlen=1"], timeout=30)
    stuck = subprocess.Popen(["ip", "netns", "exec", world.pod, stplib.PYTHON, "-c", STUCK,
                              path], stdout=subprocess.PIPE, text=True)
    try:
        assert stuck.stdout.readline().strip() == "ready"
        mx = world.mx(pki)
        px = world.proxy(global_keys={"tlsrpt_socket": path})
        for _ in range(2):
            out = world.send(["b@lab.test", "c@plain.test"])
            assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5", "250 2.1.5"], out
            assert out["eod"][-1].startswith("250"), out
        assert mx.wait_closed(min_conns=2)
        assert mx.messages() == [MESSAGE, MESSAGE]
        px.wait_event("session_close", count=2)
        m = settled_metrics(world, lambda m: metric(m, "stp_tlsrpt_datagrams_sent_total") +
                            metric(m, "stp_tlsrpt_datagrams_dropped_total") >= 4)
        sent = metric(m, "stp_tlsrpt_datagrams_sent_total")
        dropped = metric(m, "stp_tlsrpt_datagrams_dropped_total")
        assert sent + dropped == 4 and sent >= 1 and dropped >= 1, (sent, dropped)
    finally:
        stplib.stop_process(stuck)
        stuck.stdout.close()
        stplib.run(["ip", "netns", "exec", world.pod, "sysctl", "-w",
                    "net.unix.max_dgram_qlen=%s" % (old or "10")], timeout=30)


def test_metrics_without_a_collector(world):
    """No tlsrpt_socket at all: results are counted, no TLSRPT record is
    even looked up."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)], extra=RECORDS))
    mx = world.mx(pki)
    px = world.proxy()
    before = len(world.dns.queries())
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    px.wait_event("session_close")
    assert not any(q[1].startswith("_smtp._tls") for q in world.dns.queries()[before:])
    m = world.metrics()
    assert metric(m, "stp_tlsrpt_results_total", policy_type="tlsa",
                  result="validation-failure") == 1
    assert metric(m, "stp_tlsrpt_datagrams_dropped_total") == 0
