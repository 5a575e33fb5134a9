"""TLS-RPT (RFC 8460) results of MTA-STS decisions, through the running
proxy: the namespaces, resolver, policy host and MX of
test_mta_sts_delivery.py (sts_world, PolicyHost, sts_zone), and the
datagram recorder of tlsrptlib.py on [global] tlsrpt_socket.

Each failure class the MTA-STS tests produce gives exactly one datagram
for the session and domain, with the policy (its lines as policy-string,
its mx patterns as mx-host) and the RFC 8460 result code.
"""

import os

import pytest

from dnslab import dane_pki  # noqa: F401
from outlib import MX, netns_up  # noqa: F401
from test_dane import MESSAGE, MX_ADDR, codes, metric
from test_mta_sts_delivery import sts_world, sts_zone, world  # noqa: F401
from tlsrptlib import LAB_RECORD, RECORDS, Recorder, results

STS, NONE = 2, 9


@pytest.fixture
def rec(world):
    r = Recorder(os.path.join(world.workdir, "tlsrpt.sock"))
    yield r
    r.close()


def rproxy(world, rec, ca=None):
    g = {"mta_sts_ca_file": ca or world.pki.ca, "mta_sts_fetch_timeout": "5s",
         "tlsrpt_socket": rec.path}
    return world.proxy(global_keys=g, dane="no", mta_sts="yes", ca_file=world.pki.ca)



def lab_result(px, rec):
    px.wait_event("session_close")
    res = results(rec.drain())
    assert set(res) == {"lab.test"}, res
    return res["lab.test"]


@pytest.fixture(autouse=True)
def records(world):
    world.dns.set_zone(sts_zone() + RECORDS)


def test_enforce_match_is_sts_success(world, rec):
    world.policy_host()
    mx = world.mx(world.pki, cert="mx1")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed()
    ptype, code, d = lab_result(px, rec)
    assert (ptype, code) == (STS, 0), d
    p = d["policies"][0]
    assert d["pr"] == LAB_RECORD
    assert p["policy-string"] == ["version: STSv1", "mode: enforce", "mx: mx1.lab.test",
                                  "max_age: 86400"], p
    assert p["mx-host"] == ["mx1.lab.test"], p
    assert metric(world.metrics(), "stp_tlsrpt_results_total", policy_type="sts",
                  result="success") == 1


def test_enforce_wrong_name_is_host_mismatch(world, rec):
    world.policy_host()
    mx = world.mx(world.pki, cert="wrongname")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    ptype, code, d = lab_result(px, rec)
    assert (ptype, code) == (STS, 202), d
    assert d["policies"][0]["failure-details"][0]["r"] == MX_ADDR


def test_testing_mode_reports_its_failure(world, rec):
    world.policy_host(b"testing")
    mx = world.mx(world.pki, cert="wrongname")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    ptype, code, d = lab_result(px, rec)
    assert (ptype, code) == (STS, 202), d
    assert "mode: testing" in d["policies"][0]["policy-string"]


def test_enforce_without_starttls(world, rec):
    world.policy_host()
    mx = world.mx(world.pki, cert="mx1", mode="no-starttls")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.4", out
    assert mx.wait_closed()
    assert lab_result(px, rec)[:2] == (STS, 201)


def test_untrusted_and_expired_certificates(world, rec):
    """The expired leaf without its intermediate cannot be chained
    (certificate-not-trusted); with it, it is expired."""
    world.policy_host()
    mx = world.mx(world.pki, cert="expired")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    assert lab_result(px, rec)[:2] == (STS, 203)
    mx.stop()
    world.mxs.remove(mx)
    world.seq += 1
    mx = MX(world.workdir, world.pki.path("expired-chain.pem"), world.pki.path("mx1.key"),
            name="mx%d" % world.seq, listen="%s:25" % MX_ADDR, netns=world.inet)
    world.mxs.append(mx)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    px.wait_event("session_close", count=2)
    res = results(rec.drain())
    assert res["lab.test"][:2] == (STS, 204), res


@pytest.mark.parametrize("server, code", [("redirect", 301), ("badpolicy", 302)])
def test_policy_fetch_failures(world, rec, server, code):
    """A record but no policy to be had: delivered (tls = may), and the
    domain hears why."""
    world.policy_host(server=server)
    mx = world.mx(world.pki, cert="wrongname")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert lab_result(px, rec)[:2] == (STS, code)


def test_policy_host_not_trusted_is_webpki_invalid(world, rec):
    world.policy_host()
    mx = world.mx(world.pki, cert="mx1")
    px = rproxy(world, rec, ca="/etc/ssl/certs/ca-certificates.crt")
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert lab_result(px, rec)[:2] == (STS, 303)


def test_no_mta_sts_record_is_no_policy_found(world, rec):
    world.dns.set_zone(sts_zone().replace("_mta-sts.lab.test.", "_nothing.lab.test.") + RECORDS)
    mx = world.mx(world.pki, cert="mx1")
    px = rproxy(world, rec)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    ptype, code, d = lab_result(px, rec)
    assert (ptype, code) == (NONE, 0), d
    assert "policy-string" not in d["policies"][0]
