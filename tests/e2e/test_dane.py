"""DANE for SMTP (RFC 7672) in the outbound direction, per recipient in
transparent mode and for the relay host in relay mode.

Transparent mode runs in two network namespaces (tests/tools/netns.sh): the
"pod" holds the legacy client, the proxy (dane = yes, REDIRECT of port 25)
and the scripted resolver (tests/tools/fakedns.py on the pod's loopback, so
its AD bit is believed); the "internet" holds the scripted MX (mx.py) at
198.51.100.25 (and .26). Every outcome is made on demand by the resolver's
zone and lists: AD per zone, SERVFAIL (what a validating resolver answers
for a bogus signature), silence.

Relay mode needs no namespaces: relay = mx1.lab.test:PORT, resolved by the
proxy's own resolver at connect time. There the real DNSSEC chain runs too
(ldns-signzone, nsd, a validating unbound with the lab's trust anchor), so
the AD path is proven against a real validator: a secure match, a TLSA
changed after signing (bogus), an unsigned zone (insecure).

What a user checks: the reply code each recipient got, that the message
reached the MX byte-exact for the accepted recipients only, that a refused
recipient's address never reached the MX, the log's decisions.
"""

import json
import os
import re
import subprocess

import pytest

import stplib
from dnslab import dane_pki, dnssec_lab, fake_dns  # noqa: F401
from outlib import (MX, NETNS, dot_stuff, make_mx, make_outproxy, netns_up,  # noqa: F401
                    outbound, policy)
from stplib import run

POD_PORT = 10025
MX_ADDR = "198.51.100.25"
MX2_ADDR = "198.51.100.26"

MESSAGE = (b"From: a@sender.example\r\nTo: b@lab.test\r\nSubject: dane\r\n"
           b"Message-ID: <dane@sender.example>\r\n\r\nDANE test body.\r\n")


def zone(tlsa_lab=None, tlsa_plain=None, mx_lab=MX_ADDR, extra=""):
    """lab.test (made secure by the resolver's list) and plain.test
    (insecure), both with MX mx1.ZONE at mx_lab / MX_ADDR."""
    lines = [
        "$TTL 300",
        "lab.test. 300 IN SOA ns.lab.test. host.lab.test. 1 3600 600 86400 60",
        "lab.test. 300 IN MX 10 mx1.lab.test.",
        "mx1.lab.test. 300 IN A %s" % mx_lab,
        "plain.test. 300 IN SOA ns.plain.test. host.plain.test. 1 3600 600 86400 60",
        "plain.test. 300 IN MX 10 mx1.plain.test.",
        "mx1.plain.test. 300 IN A %s" % MX_ADDR,
    ]
    for rdata in tlsa_lab or []:
        lines.append("_25._tcp.mx1.lab.test. 300 IN TLSA %s" % rdata)
    for rdata in tlsa_plain or []:
        lines.append("_25._tcp.mx1.plain.test. 300 IN TLSA %s" % rdata)
    return "\n".join(lines) + "\n" + extra


# The legacy client inside the pod: one transaction, every reply as JSON.
CLIENT = r"""
import json, socket, sys
args = json.loads(sys.argv[1])
s = socket.create_connection((args["host"], 25), timeout=20)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        if not l:
            raise SystemExit("closed: " + repr(lines))
        lines.append(l.decode("latin-1").rstrip("\r\n"))
        if l[3:4] != b"-":
            return lines
out = {"banner": reply()}
s.sendall(b"EHLO legacy.example\r\n")
out["ehlo"] = reply()
cmds = [args.get("mail", "MAIL FROM:<a@sender.example>")] + ["RCPT TO:<%s>" % r for r in args["rcpts"]]
if args.get("pipeline"):
    s.sendall("".join(c + "\r\n" for c in cmds + ["DATA"]).encode())
    out["replies"] = [reply() for _ in cmds]
    out["data"] = reply()
else:
    out["replies"] = []
    for c in cmds:
        s.sendall((c + "\r\n").encode())
        out["replies"].append(reply())
    s.sendall(b"DATA\r\n")
    out["data"] = reply()
if out["data"][0].startswith("354"):
    s.sendall(args["message"].encode("latin-1") + b".\r\n")
    out["eod"] = reply()
s.sendall(b"QUIT\r\n")
out["quit"] = reply()
print(json.dumps(out))
"""


def codes(replies):
    return [r[-1][:9] for r in replies]


class World:
    """The namespaces, the resolver in the pod, and per test an MX and a
    proxy."""

    def __init__(self, pod, inet, dns, workdir):
        self.pod, self.inet, self.dns, self.workdir = pod, inet, dns, workdir
        self.mxs = []
        self.proxies = []
        self.seq = 0  # names of per-test directories, never reused

    def mx(self, pki, cert="mx1", addr=MX_ADDR, mode="normal"):
        chain = pki.path(cert + "-chain.pem") if cert != "expired" else pki.path("expired.pem")
        key = pki.path(("mx1" if cert == "expired" else cert) + ".key")
        self.seq += 1
        m = MX(self.workdir, chain, key, name="mx%d" % self.seq, mode=mode,
               listen="%s:25" % addr, netns=self.inet)
        self.mxs.append(m)
        return m

    def proxy(self, sections=(), global_keys=None, **listener):
        from outlib import OutProxy
        kv = dict(mode="transparent", tls="may", listen="127.0.0.1:%d" % POD_PORT,
                  mark="0x2a", dane="yes")
        kv.update(listener)
        self.seq += 1
        self.admin = stplib.free_port()
        g = {"dns": "127.0.0.1:%d" % self.dns.port, "dns_timeout": "2s",
             "dnssec_probe": "no", "admin": "127.0.0.1:%d" % self.admin}
        g.update(global_keys or {})
        px = OutProxy(self.workdir, [outbound(**kv)] + list(sections), global_keys=g,
                      name="proxy%d" % self.seq, netns=self.pod)
        self.proxies.append(px)
        return px

    def send(self, rcpts, message=MESSAGE, pipeline=False, host=MX_ADDR, mail=None):
        """One transaction from the legacy client in the pod; mail: the
        MAIL line instead of the default one."""
        args = {"host": host, "rcpts": rcpts, "message": dot_stuff(message).decode("latin-1"),
                "pipeline": pipeline}
        if mail is not None:
            args["mail"] = mail
        r = run(["ip", "netns", "exec", self.pod, stplib.PYTHON, "-c", CLIENT,
                 json.dumps(args)], timeout=90)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout)

    def metrics(self):
        r = run(["ip", "netns", "exec", self.pod, "curl", "-s",
                 "http://127.0.0.1:%d/metrics" % self.admin], timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def cleanup(self):
        stplib.stop_proxies(self.proxies)
        for m in self.mxs:
            m.stop()
        self.proxies, self.mxs = [], []


@pytest.fixture(scope="module")
def world_base(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("dane"))
    with netns_up() as (pod, inet):
        r = run(["ip", "netns", "exec", inet, "ip", "addr", "add", MX2_ADDR + "/32",
                 "dev", "lo"], timeout=30)
        assert r.returncode == 0, r.stderr
        r = run(["bash", NETNS, "redirect", pod, str(POD_PORT), "0x2a"], timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        with fake_dns(workdir, zone(), secure=["lab.test."], netns=pod) as dns:
            yield World(pod, inet, dns, workdir)


@pytest.fixture
def world(world_base, dane_pki):
    world_base.pki = dane_pki
    yield world_base
    world_base.cleanup()
    world_base.dns.set_lists(secure=["lab.test."], servfail=[], silent=[], truncate=[],
                             delay={})


def metric(text, name, **labels):
    sel = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    pat = r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(sel)) if labels else \
        r"^%s (\d+)$" % re.escape(name)
    m = re.search(pat, text, re.M)
    return int(m.group(1)) if m else None


def rcpt_seen(mx, addr):
    return any(addr.lower() in line.lower() for _, line in mx.all_commands())


# --------------------------------------------------------------------------
# Transparent mode

def test_dane_ee_match_delivers_and_logs_verified(world):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    d = px.wait_event("dane", result="match")[-1]
    assert d["domain"] == "lab.test" and d["mx"] == "mx1.lab.test" and d["dane"] == "ee", d
    pol = px.wait_event("policy", domain="lab.test")[-1]
    assert pol["source"] == "dane" and pol["outcome"] == "ok", pol
    assert "Verified dane=ee" in pol["reason"], pol
    assert metric(world.metrics(), "stp_dane_total", result="match") == 1


def test_dane_mismatch_refuses_that_recipient_only(world):
    """A TLSA record of another key: 450 4.7.5 for lab.test, and the
    recipient of the insecure zone (whose own TLSA also mismatches, but is
    not DNSSEC-signed) goes ahead in the same message."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)],
                            tlsa_plain=[pki.tlsa("other", 3, 1, 1)]))
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.5", "250 2.1.5"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert not rcpt_seen(mx, "b@lab.test"), mx.all_commands()
    assert rcpt_seen(mx, "c@plain.test")
    px.wait_event("dane", result="nomatch", domain="lab.test")
    px.wait_event("dane", result="none", domain="plain.test")


def test_dane_ee_passes_with_an_expired_leaf(world):
    """DANE-EE checks the key, neither names nor dates (RFC 7672 3.1.1)."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki, cert="expired")
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    px.wait_event("dane", result="match")
    # The same session is Untrusted for the WebPKI: only DANE let it pass.
    assert px.wait_event("session_close")[-1]["verify"] == "Untrusted"


@pytest.mark.parametrize("cert, want", [("mx1", "250 2.1.5"), ("wrongname", "450 4.7.5")])
def test_dane_ta_checks_chain_and_name(world, cert, want):
    """2 0 1 of the intermediate the MX sends: the chain must verify to it
    and the leaf carry the MX host's (or the domain's) name."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("int", 2, 0, 1)]))
    mx = world.mx(pki, cert=cert)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == want, out
    assert mx.wait_closed()
    if want.startswith("250"):
        assert mx.messages() == [MESSAGE]
        assert px.wait_event("dane", result="match")[-1]["dane"] == "ta"
    else:
        assert mx.messages() == [] and not rcpt_seen(mx, "b@lab.test")
        px.wait_event("dane", result="nomatch")


def test_digest_agility_uses_the_strongest_digest(world):
    """SHA-512 and SHA-256 records for the same key usage: only SHA-512
    counts, so a SHA-256 record alone matching is not enough."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1), pki.tlsa("other", 3, 1, 2)]))
    mx = world.mx(pki)
    world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")


def test_bogus_tlsa_defers(world):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    world.dns.set_lists(servfail=["_25._tcp.mx1.lab.test./TLSA"])
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.5", "250 2.1.5"], out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    px.wait_event("dane", result="bogus")


def test_tlsa_timeout_gives_451(world):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    world.dns.set_lists(silent=["_25._tcp.mx1.lab.test."])
    mx = world.mx(pki)
    px = world.proxy(global_keys={"dns_timeout": "1s"})
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "451 4.4.3", out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    px.wait_event("dane", result="timeout")


def test_policy_lookup_timeout_bounds_the_wait(world):
    """A resolver that answers after 4 s, policy_lookup_timeout 1 s: 451
    4.4.3 at about 1 s, and the session goes on."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    world.dns.set_lists(delay={"lab.test.": 4})
    mx = world.mx(pki)
    world.proxy(global_keys={"policy_lookup_timeout": "1s", "dns_timeout": "10s"})
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "451 4.4.3", "250 2.1.5"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")


def test_insecure_zone_is_no_dane(world):
    """The same mismatching TLSA without AD: no DANE, delivered (tls = may)."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)]))
    world.dns.set_lists(secure=[])
    mx = world.mx(pki)
    world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "250 2.1.5", out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]


def test_no_starttls_at_a_dane_mx(world):
    """Secure TLSA and an MX without STARTTLS: 450 4.7.4 for that domain,
    never plaintext to it; the insecure domain still goes (plaintext)."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki, mode="no-starttls")
    px = world.proxy()
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.4", "250 2.1.5"], out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    px.wait_event("dane", result="no_tls")


def test_destination_not_a_secure_mx_address(world):
    """The legacy server was steered to an address (its own unvalidated
    lookup) that is not the secure MX address: 450 4.7.5, even though the
    certificate there would match."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)], mx_lab=MX2_ADDR))
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"])[1] == "450 4.7.5", out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    px.wait_event("dane", result="not_mx")


def test_pipelined_commands_wait_for_the_decision(world):
    """MAIL, RCPT (lookups take 1.5 s), RCPT, DATA in one write: the
    replies come in order, and the MX sees the second RCPT and DATA only
    after the first RCPT's decision (it sees the first RCPT first)."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    world.dns.set_lists(delay={"_25._tcp.mx1.lab.test.": 1.5})
    mx = world.mx(pki)
    world.proxy()
    out = world.send(["b@lab.test", "c@plain.test"], pipeline=True)
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5", "250 2.1.5"], out
    assert out["data"][0].startswith("354"), out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    verbs = [line.split(":")[0].split(" ")[0].upper() + (" " + line.split("<")[1].split(">")[0]
             if line.upper().startswith("RCPT") else "")
             for _, line in mx.commands(mx.conns()[-1], "tls")]
    assert verbs[:5] == ["EHLO", "MAIL", "RCPT b@lab.test", "RCPT c@plain.test", "DATA"], verbs
    assert mx.messages() == [MESSAGE]


def test_policy_may_exempts_and_dane_demands(world):
    """[policy:lab.test] tls = may: the mismatching TLSA is not looked at.
    [policy:plain.test] tls = dane: an unsigned zone cannot meet it."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)]))
    mx = world.mx(pki)
    world.proxy(sections=[policy("lab.test", "may"), policy("plain.test", "dane")])
    before = len(world.dns.queries())
    out = world.send(["b@lab.test", "c@plain.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5", "450 4.7.5"], out
    assert mx.wait_closed()
    assert rcpt_seen(mx, "b@lab.test") and not rcpt_seen(mx, "c@plain.test")
    asked = world.dns.queries()[before:]
    assert not any(q[1].endswith("lab.test.") for q in asked), asked
    assert ("udp", "plain.test.", "MX") in asked, asked


def test_sni_learned_for_the_next_session(world):
    """The first session knows only an address (no SNI); the MX name found
    at RCPT is sent as SNI on the next connection to that address. The map
    is per worker: one worker here, so both sessions meet it."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki)
    px = world.proxy(global_keys={"workers": "1"})
    world.send(["b@lab.test"])
    world.send(["b@lab.test"])
    assert mx.wait_closed(min_conns=2)
    assert mx.meta(1)["sni"] is None
    assert mx.meta(2)["sni"] == "mx1.lab.test"
    assert metric(world.metrics(), "stp_sni_learned_total") == 1
    # Verified against the learned name too: Trusted would need the CA.
    assert px.wait_event("session_close", count=2)[-1]["relay"] == "mx1.lab.test"


def cname_zone(tlsa_mx1=(), tlsa_host=(), extra=""):
    """lab.test's MX mx1.lab.test is an alias of host.lab.test (one signed
    zone, so the chain is secure): RFC 7672 2.2.2's TLSA base domain is
    host.lab.test, then mx1.lab.test."""
    lines = [
        "$TTL 300",
        "lab.test. 300 IN SOA ns.lab.test. host.lab.test. 1 3600 600 86400 60",
        "lab.test. 300 IN MX 10 mx1.lab.test.",
        "mx1.lab.test. 300 IN CNAME host.lab.test.",
        "host.lab.test. 300 IN A %s" % MX_ADDR,
    ]
    lines += ["_25._tcp.mx1.lab.test. 300 IN TLSA %s" % r for r in tlsa_mx1]
    lines += ["_25._tcp.host.lab.test. 300 IN TLSA %s" % r for r in tlsa_host]
    return "\n".join(lines) + "\n" + extra


def test_cname_mx_tlsa_at_the_expanded_name(world):
    """TLSA only at the CNAME target: it authenticates, the dane event names
    that base domain, and the next session sends it as SNI."""
    pki = world.pki
    world.dns.set_zone(cname_zone(tlsa_host=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki)
    px = world.proxy(global_keys={"workers": "1"})
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    d = px.wait_event("dane", result="match")[-1]
    assert d["mx"] == "host.lab.test", d
    assert ("udp", "_25._tcp.host.lab.test.", "TLSA") in world.dns.queries()
    world.send(["b@lab.test"])
    assert mx.wait_closed(min_conns=2)
    assert mx.messages() == [MESSAGE, MESSAGE]
    assert mx.meta(2)["sni"] == "host.lab.test"


def test_cname_expanded_name_comes_first(world):
    """The target's TLSA (another key) decide, not the alias's (the right
    one): 450 4.7.5."""
    pki = world.pki
    world.dns.set_zone(cname_zone(tlsa_mx1=[pki.tlsa("mx1", 3, 1, 1)],
                                  tlsa_host=[pki.tlsa("other", 3, 1, 1)]))
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.5"], out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    d = px.wait_event("dane", result="nomatch")[-1]
    assert d["mx"] == "host.lab.test", d


def test_cname_no_tlsa_at_the_target_uses_the_mx_name(world):
    pki = world.pki
    world.dns.set_zone(cname_zone(tlsa_mx1=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert px.wait_event("dane", result="match")[-1]["mx"] == "mx1.lab.test"


def test_cname_ta_accepts_the_original_mx_name(world):
    """DANE-TA at the target; the certificate names mx1.lab.test (the MX
    name, not the target): a reference identifier too (RFC 7672 3.2.3)."""
    pki = world.pki
    world.dns.set_zone(cname_zone(tlsa_host=[pki.tlsa("int", 2, 0, 1)]))
    mx = world.mx(pki, cert="mx1")
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed()
    d = px.wait_event("dane", result="match")[-1]
    assert (d["mx"], d["dane"]) == ("host.lab.test", "ta"), d


def test_cname_bogus_tlsa_at_the_target_defers(world):
    """A SERVFAIL for the target's TLSA is not skipped for the alias's."""
    pki = world.pki
    world.dns.set_zone(cname_zone(tlsa_mx1=[pki.tlsa("mx1", 3, 1, 1)],
                                  tlsa_host=[pki.tlsa("mx1", 3, 1, 1)]))
    world.dns.set_lists(servfail=["_25._tcp.host.lab.test./TLSA"])
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.5"], out
    assert mx.wait_closed()
    assert not rcpt_seen(mx, "b@lab.test")
    assert px.wait_event("dane", result="bogus")[-1]["mx"] == "host.lab.test"


LONG_MX = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 50]) + ".lab.test"


def test_mx_name_too_long_for_its_tlsa_query(world):
    """The first MX's name fits an address query but not "_25._tcp." in
    front of it: that host counts as failed, the other MX decides."""
    pki = world.pki
    assert len(LONG_MX) <= 253 < len("_25._tcp." + LONG_MX)
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]).replace(
        "lab.test. 300 IN MX 10 mx1.lab.test.",
        "lab.test. 300 IN MX 5 %s.\nlab.test. 300 IN MX 10 mx1.lab.test.\n"
        "%s. 300 IN A 192.0.2.1" % (LONG_MX, LONG_MX)))
    mx = world.mx(pki)
    px = world.proxy()
    out = world.send(["b@lab.test"])
    assert codes(out["replies"]) == ["250 2.1.0", "250 2.1.5"], out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert px.wait_event("dane", result="match")[-1]["mx"] == "mx1.lab.test"


# --------------------------------------------------------------------------
# Relay mode

def relay_zone(port, tlsa=(), addrs=("127.0.0.1",)):
    lines = ["$TTL 300",
             "lab.test. 300 IN SOA ns.lab.test. host.lab.test. 1 3600 600 86400 60"]
    lines += ["mx1.lab.test. 300 IN A %s" % a for a in addrs]
    for rdata in tlsa:
        lines.append("_%d._tcp.mx1.lab.test. 300 IN TLSA %s" % (port, rdata))
    return "\n".join(lines) + "\n"


def relay_session(px):
    """One message through the relay listener; (replies, client)."""
    c = stplib.Client(px.port())
    out = {"banner": c.reply().code}
    if out["banner"] != 220:
        c.close()
        return out
    out["ehlo"] = c.cmd("EHLO legacy.example").code
    if out["ehlo"] != 250:
        c.close()
        return out
    out["mail"] = c.cmd("MAIL FROM:<a@sender.example>").code
    out["rcpt"] = c.cmd("RCPT TO:<b@lab.test>").code
    out["data"] = c.cmd("DATA").code
    if out["data"] == 354:
        c.send(dot_stuff(MESSAGE) + b".\r\n")
        out["eod"] = c.reply().code
    c.cmd("QUIT")
    c.close()
    return out


@pytest.fixture
def relay_env(workdir, dane_pki, make_outproxy):
    started = []

    def factory(tlsa_of=None, cert="mx1", mode="normal", secure=True, servfail=(),
                relay_dane="yes", tls="may", addrs=("127.0.0.1",)):
        mx = MX(workdir, dane_pki.path(cert + "-chain.pem"), dane_pki.path(cert + ".key"),
                name="rmx%d" % len(started), mode=mode)
        started.append(mx)
        tlsa = [dane_pki.tlsa(*tlsa_of)] if tlsa_of else []
        dns = fake_dns(workdir, relay_zone(mx.port, tlsa, addrs), secure=["lab.test."] if secure else [],
                       servfail=servfail, name="rdns%d" % len(started))
        d = dns.__enter__()
        started.append(dns)
        px = make_outproxy([outbound(relay="mx1.lab.test:%d" % mx.port, tls=tls,
                                     relay_dane=relay_dane)],
                           global_keys={"dns": "127.0.0.1:%d" % d.port, "dns_timeout": "2s",
                                        "dnssec_probe": "no"})
        return mx, d, px

    yield factory
    for x in started:
        if isinstance(x, MX):
            x.stop()
        else:
            x.__exit__(None, None, None)


def test_relay_name_resolved_by_the_proxys_resolver(relay_env):
    mx, dns, px = relay_env(relay_dane="no")
    out = relay_session(px)
    assert out.get("eod") == 250, out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert ("udp", "mx1.lab.test.", "A") in dns.queries(), dns.queries()


def test_relay_second_address_when_first_refuses(relay_env):
    """The relay's name has two addresses and nothing listens on the first:
    the second is dialled, DANE still authenticates the relay, and the
    message arrives."""
    mx, dns, px = relay_env(tlsa_of=("mx1", 3, 1, 1), addrs=("127.0.0.2", "127.0.0.1"))
    out = relay_session(px)
    assert out.get("eod") == 250, out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    ev = px.wait_event("connect_failed")[-1]
    assert (ev["addr"], ev["next"]) == ("127.0.0.2:%d" % mx.port, "127.0.0.1:%d" % mx.port), ev
    assert px.wait_event("dane", result="match")[-1]["relay"] == "mx1.lab.test"
    assert px.wait_event("session_close")[-1]["verify"] == "Verified"


def test_relay_dane_match(relay_env):
    mx, dns, px = relay_env(tlsa_of=("mx1", 3, 1, 1))
    out = relay_session(px)
    assert out.get("eod") == 250, out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    ev = px.wait_event("dane", result="match")[-1]
    assert ev["relay"] == "mx1.lab.test", ev
    assert px.wait_event("session_close")[-1]["verify"] == "Verified"


def test_relay_dane_mismatch_gives_421_and_quit_inside_tls(relay_env):
    mx, dns, px = relay_env(tlsa_of=("other", 3, 1, 1))
    out = relay_session(px)
    assert out["ehlo"] == 421, out
    assert mx.wait_closed()
    cmds = mx.all_commands()
    assert ("tls", "QUIT") in cmds, cmds
    assert not any(ph == "tls" and l.upper().startswith(("MAIL", "EHLO")) for ph, l in cmds), cmds
    assert mx.messages() == []


def test_relay_dane_bogus_gives_421_without_connecting(relay_env):
    mx, dns, px = relay_env(tlsa_of=("mx1", 3, 1, 1), servfail=["_%s._tcp.mx1.lab.test./TLSA"])
    # The port is only known now: set the SERVFAIL name again.
    dns.set_lists(servfail=["_%d._tcp.mx1.lab.test./TLSA" % mx.port])
    c = stplib.Client(px.port())
    r = c.reply()
    assert r.code == 421 and "4.7.5" in r.lines[-1], r
    c.close()
    assert mx.conns() == []


def test_relay_dane_demands_tls(relay_env):
    """tls = may, but the relay publishes secure TLSA: no plaintext."""
    mx, dns, px = relay_env(tlsa_of=("mx1", 3, 1, 1), mode="no-starttls")
    out = relay_session(px)
    assert out["ehlo"] == 421, out
    assert mx.wait_closed()
    assert not any(l.upper().startswith("MAIL") for _, l in mx.all_commands())


def test_relay_insecure_tlsa_is_ignored(relay_env):
    mx, dns, px = relay_env(tlsa_of=("other", 3, 1, 1), secure=False)
    out = relay_session(px)
    assert out.get("eod") == 250, out
    assert mx.messages() == [MESSAGE]


def test_relay_name_not_found_gives_421(relay_env, workdir, make_outproxy):
    mx, dns, px0 = relay_env(relay_dane="no")
    px = make_outproxy([outbound(relay="nowhere.lab.test:%d" % mx.port, tls="may")],
                       global_keys={"dns": "127.0.0.1:%d" % dns.port, "dns_timeout": "2s",
                                    "dnssec_probe": "no"})
    c = stplib.Client(px.port())
    r = c.reply()
    assert r.code == 421 and "4.4.3" in r.lines[-1], r
    c.close()


def test_check_mode_needs_no_relay_resolution(workdir):
    path = os.path.join(workdir, "t.ini")
    with open(path, "w") as f:
        f.write("[global]\ndns = 127.0.0.1:9\n[outbound]\nlisten = 127.0.0.1:%d\n"
                "mode = relay\nrelay = no-such-relay.invalid:25\nrelay_dane = yes\n"
                % stplib.free_port())
    r = subprocess.run([stplib.BINARY, "-t", "-c", path], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------
# The real DNSSEC chain (nsd + validating unbound), relay mode

@pytest.mark.parametrize("zone_name, want", [
    ("lab", "match"),     # signed, TLSA matches
    ("bad", "bogus"),     # TLSA changed after signing: SERVFAIL
    ("plain", "none"),    # unsigned: no DANE, delivered
])
def test_real_validator(workdir, dane_pki, make_outproxy, zone_name, want):
    mx = MX(workdir, dane_pki.path("mx1-chain.pem"), dane_pki.path("mx1.key"), name="labmx")
    try:
        port = mx.port
        rdata = dane_pki.tlsa("mx1", 3, 1, 1)
        with dnssec_lab(workdir, mx_addrs={"mx1": "127.0.0.1"}, tlsa={"mx1": [rdata]},
                        tlsa_port=port) as lab:
            px = make_outproxy([outbound(relay="mx1.%s.test:%d" % (zone_name, port), tls="may",
                                         relay_dane="yes")],
                               global_keys={"dns": "%s:%d" % (lab.host, lab.port),
                                            "dns_timeout": "3s", "dnssec_probe": "no"})
            out = relay_session(px)
            if want == "bogus":
                assert out["banner"] == 421, out
                assert mx.conns() == []
            else:
                assert out.get("eod") == 250, out
                assert mx.wait_closed()
                assert mx.messages() == [MESSAGE]
            if want != "none":
                ev = px.wait_event("dane", result=want)[-1]
                assert ev["relay"] == "mx1.%s.test" % zone_name, ev
    finally:
        mx.stop()


def test_cname_tlsa_base(world):
    """_25._tcp.mx1.lab.test is a CNAME to a TLSA record elsewhere in the
    secure zone (RFC 7672 2.2.3): the records at the end of the chain
    apply, so a matching one lets the recipient go and a mismatching one
    does not."""
    pki = world.pki
    for cert, want in (("mx1", "250 2.1.5"), ("other", "450 4.7.5")):
        world.dns.set_zone(zone(extra="_25._tcp.mx1.lab.test. 300 IN CNAME tlsa.lab.test.\n"
                                "tlsa.lab.test. 300 IN TLSA %s\n" % pki.tlsa(cert, 3, 1, 1)))
        mx = world.mx(pki)
        px = world.proxy()
        out = world.send(["b@lab.test"])
        assert codes(out["replies"])[1] == want, (cert, out)
        world.cleanup()
