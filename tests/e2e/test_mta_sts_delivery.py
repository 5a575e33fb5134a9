"""MTA-STS through the running proxy (transparent mode, mta_sts = yes): the
resolver (fakedns.py) publishes _mta-sts.lab.test and mta-sts.lab.test, the
policy host (stshost.py) serves the policy over HTTPS in the "internet"
namespace, and the MX's certificate decides each recipient.

Namespaces and the legacy client as in test_dane.py (World).
"""

import os
import subprocess

import pytest

import stplib
from dnslab import dane_pki, fake_dns  # noqa: F401
from outlib import NETNS, netns_up  # noqa: F401
from stplib import run
from stslib import STSHOST
from test_dane import MESSAGE, MX_ADDR, POD_PORT, World, codes, metric, rcpt_seen, zone

STS_ADDR = "198.51.100.43"
POLICY = (b"version: STSv1\r\nmode: %s\r\nmx: mx1.lab.test\r\nmax_age: 86400\r\n")


def sts_zone(id="20261201"):
    return zone(extra='_mta-sts.lab.test. 300 IN TXT "v=STSv1; id=%s"\n'
                      "mta-sts.lab.test. 300 IN A %s\n" % (id, STS_ADDR))


class PolicyHost:
    def __init__(self, world, mode=b"enforce", server="ok"):
        pfile = os.path.join(world.workdir, "policy.txt")
        with open(pfile, "wb") as f:
            f.write(POLICY % mode)
        self.log = os.path.join(world.workdir, "sts-requests.log")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", world.inet, stplib.PYTHON, STSHOST,
             "--cert", world.pki.path("sts-chain.pem"), "--key", world.pki.path("sts.key"),
             "--listen", "%s:443" % STS_ADDR, "--policy", pfile, "--log", self.log,
             "--mode", server],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().startswith("port=")

    def requests(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().count(b"GET ")
        except FileNotFoundError:
            return 0

    def stop(self):
        stplib.stop_process(self.proc)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def sts_world(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("sts"))
    with netns_up() as (pod, inet):
        for addr in (STS_ADDR,):
            r = run(["ip", "netns", "exec", inet, "ip", "addr", "add", addr + "/32",
                     "dev", "lo"], timeout=30)
            assert r.returncode == 0, r.stderr
        r = run(["bash", NETNS, "redirect", pod, str(POD_PORT), "0x2a"], timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        with fake_dns(workdir, sts_zone(), secure=[], netns=pod) as dns:
            yield World(pod, inet, dns, workdir)


@pytest.fixture
def world(sts_world, dane_pki, tmp_path):
    sts_world.pki = dane_pki
    # A directory per test: World names its MXs mx0, mx1... again after
    # each cleanup, and an MX's records would otherwise pile up there.
    sts_world.workdir = str(tmp_path)
    hosts = []
    sts_world.policy_host = lambda mode=b"enforce", server="ok": hosts.append(
        PolicyHost(sts_world, mode, server)) or hosts[-1]
    yield sts_world
    sts_world.cleanup()
    for h in hosts:
        h.stop()
    sts_world.dns.set_zone(sts_zone())
    sts_world.dns.set_lists(secure=[])


def proxy(world, state_dir=None, dane="no", sections=()):
    g = {"mta_sts_ca_file": world.pki.ca, "mta_sts_fetch_timeout": "5s"}
    if state_dir:
        g["state_dir"] = state_dir
    return world.proxy(sections=sections, global_keys=g, dane=dane, mta_sts="yes",
                       ca_file=world.pki.ca)


def test_enforce_matching_mx_delivers(world):
    host = world.policy_host()
    mx = world.mx(world.pki, cert="mx1")
    px = proxy(world)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert host.requests() == 1
    ev = [stplib.parse_log_line(l) for l in px.stderr().splitlines()]
    pol = [e for e in ev if e.get("event") == "mta_sts_policy"]
    assert pol and pol[0]["mode"] == "enforce" and pol[0]["id"] == "20261201"
    m = world.metrics()
    assert metric(m, "stp_mta_sts_fetches_total", result="ok") == 1
    assert metric(m, "stp_mta_sts_cache_entries") == 1


def test_enforce_wrong_name_refused(world):
    world.policy_host()
    mx = world.mx(world.pki, cert="wrongname")
    proxy(world)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert not rcpt_seen(mx, "b@lab.test")


def test_testing_mode_never_refuses(world):
    world.policy_host(b"testing")
    mx = world.mx(world.pki, cert="wrongname")
    proxy(world)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed()


def test_cached_policy_survives_restart(world, tmp_path):
    # Trust on first use: fetched once, kept in state_dir, enforced after a
    # restart with the policy host gone.
    state = str(tmp_path / "state")
    os.mkdir(state)
    host = world.policy_host()
    world.mx(world.pki, cert="mx1")
    px = proxy(world, state_dir=state)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    stplib.stop_proxies([px])
    world.proxies.remove(px)
    host.stop()
    world.mxs[0].stop()
    mx = world.mx(world.pki, cert="wrongname")
    px = proxy(world, state_dir=state)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert not rcpt_seen(mx, "b@lab.test")
    m = world.metrics()
    assert metric(m, "stp_mta_sts_fetches_total", result="ok") == 0


def test_enforce_without_starttls_refused(world):
    world.policy_host()
    mx = world.mx(world.pki, cert="mx1", mode="no-starttls")
    px = proxy(world)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.4", out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    assert metric(world.metrics(), "stp_mta_sts_decisions_total", mode="enforce",
                  outcome="no_tls") == 1
    pol = px.wait_event("policy", domain="lab.test")[-1]
    assert pol["source"] == "mta-sts" and pol["outcome"] == "refused", pol


def test_failed_fetch_without_cache_is_no_policy(world):
    """A 301 is never followed: the fetch fails, nothing is cached, the
    domain has no policy and the wrong-name MX gets the mail (tls = may)."""
    host = world.policy_host(server="redirect")
    mx = world.mx(world.pki, cert="wrongname")
    proxy(world)
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert host.requests() == 1
    m = world.metrics()
    assert metric(m, "stp_mta_sts_fetches_total", result="http_status") == 1
    assert metric(m, "stp_mta_sts_cache_entries") == 0


def test_dane_comes_before_mta_sts(world, dane_pki):
    """lab.test publishes both; the MX's leaf is expired (so no WebPKI
    trust, which enforce needs) but its key matches the secure TLSA: DANE
    decides, and the recipient goes ahead without the policy being asked
    for."""
    host = world.policy_host()
    world.dns.set_zone(sts_zone() + "_25._tcp.mx1.lab.test. 300 IN TLSA %s\n"
                       % dane_pki.tlsa("mx1", 3, 1, 1))
    world.dns.set_lists(secure=["lab.test."])
    mx = world.mx(world.pki, cert="expired")
    px = proxy(world, dane="yes")
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert px.wait_event("policy", domain="lab.test")[-1]["source"] == "dane"
    assert host.requests() == 0


def test_operator_may_exempts_a_broken_policy(world):
    from outlib import policy
    world.policy_host()
    mx = world.mx(world.pki, cert="wrongname")
    before = len(world.dns.queries())
    proxy(world, sections=[policy("lab.test", "may")])
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    asked = world.dns.queries()[before:]
    assert not any(q[1] == "_mta-sts.lab.test." for q in asked), asked
