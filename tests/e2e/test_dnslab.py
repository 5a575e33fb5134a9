"""The DNS lab the DANE and MTA-STS tests stand on (tests/e2e/dnslab.py):
a real DNSSEC chain (nsd + validating unbound, tests/tools/dnssec_lab.py),
the scripted resolver (tests/tools/fakedns.py) and the DANE PKI
(tests/tools/danecerts.py). Loopback only, no Internet.
"""

import hashlib
import subprocess
import time

import pytest
from dnslib import QTYPE, RCODE

import dnslab
from dnslab import dane_pki  # noqa: F401  (fixture)
from dnslab import make_fake_dns  # noqa: F401  (fixture)


def rtypes(reply, section="rr"):
    return [QTYPE.get(rr.rtype) for rr in getattr(reply, section)]


def rdatas(reply, qtype):
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == getattr(QTYPE, qtype)]


# --------------------------------------------------------------------------
# Real DNSSEC chain: signed zones in nsd, validated by unbound

@pytest.fixture(scope="module")
def lab(tmp_path_factory, dane_pki):  # noqa: F811
    tlsa = {"mx1": [dane_pki.tlsa("mx1", 3, 1, 1)], "mx2": [dane_pki.tlsa("ca", 2, 0, 1)]}
    with dnslab.dnssec_lab(tmp_path_factory.mktemp("lab"), tlsa=tlsa,
                           mx_addrs={"mx1": "127.0.0.25", "mx2": "127.0.0.26"}) as r:
        yield r


def test_lab_signed_mx_and_tlsa_are_authenticated(lab, dane_pki):  # noqa: F811
    host, port = lab
    r = dnslab.query(host, port, "lab.test", "MX")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1
    assert sorted(rdatas(r, "MX")) == ["10 mx1.lab.test.", "20 mx2.lab.test."]
    r = dnslab.query(host, port, "mx1.lab.test", "A")
    assert r.header.ad == 1 and rdatas(r, "A") == ["127.0.0.25"]
    r = dnslab.query(host, port, "_25._tcp.mx1.lab.test", "TLSA")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1
    want = dane_pki.tlsa_data("mx1", 1, 1)
    assert [rr.rdata.cert_data.hex() for rr in r.rr if rr.rtype == QTYPE.TLSA] == [want]
    r = dnslab.query(host, port, "_25._tcp.mx2.lab.test", "TLSA")
    assert r.header.ad == 1
    tlsa = [rr.rdata for rr in r.rr if rr.rtype == QTYPE.TLSA][0]
    assert (tlsa.cert_usage, tlsa.selector, tlsa.matching_type) == (2, 0, 1)
    assert tlsa.cert_data.hex() == dane_pki.tlsa_data("ca", 0, 1)
    r = dnslab.query(host, port, "_mta-sts.lab.test", "TXT")
    assert r.header.ad == 1
    assert [str(rr.rdata) for rr in r.rr if rr.rtype == QTYPE.TXT] == \
        ['"v=STSv1; id=20261201T000000;"']
    # The same seen by another client (ldnsutils' drill).
    out = dnslab.drill(host, port, "_25._tcp.mx1.lab.test", "TLSA", "-D")
    assert "flags: qr rd ra ad" in out, out
    assert want in out


def test_lab_secure_denial_is_authenticated(lab):
    """No TLSA under a signed zone: NXDOMAIN / NODATA with AD (NSEC3), what
    DANE reads as "secure, no TLSA" (RFC 7672 2.2)."""
    host, port = lab
    r = dnslab.query(host, port, "_25._tcp.nohost.lab.test", "TLSA")
    assert r.header.rcode == RCODE.NXDOMAIN and r.header.ad == 1
    r = dnslab.query(host, port, "mx1.lab.test", "TLSA")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1 and not rdatas(r, "TLSA")


def test_lab_unsigned_zone_is_insecure(lab, dane_pki):  # noqa: F811
    host, port = lab
    r = dnslab.query(host, port, "plain.test", "MX")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 0
    assert sorted(rdatas(r, "MX")) == ["10 mx1.plain.test.", "20 mx2.plain.test."]
    r = dnslab.query(host, port, "_25._tcp.mx1.plain.test", "TLSA")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 0
    assert rdatas(r, "TLSA")
    out = dnslab.drill(host, port, "plain.test", "MX", "-D")
    assert "flags: qr rd ra ;" in out, out


def test_lab_forged_tlsa_is_bogus(lab, dane_pki):  # noqa: F811
    host, port = lab
    r = dnslab.query(host, port, "_25._tcp.mx1.bad.test", "TLSA")
    assert r.header.rcode == RCODE.SERVFAIL and not r.rr
    # The rest of bad.test still validates: only the forged RRset is bogus.
    r = dnslab.query(host, port, "bad.test", "MX")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1
    # With CD the validator hands over the forged data, without AD.
    r = dnslab.query(host, port, "_25._tcp.mx1.bad.test", "TLSA", cd=True)
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 0
    got = [rr.rdata.cert_data.hex() for rr in r.rr if rr.rtype == QTYPE.TLSA]
    want = dane_pki.tlsa_data("mx1", 1, 1)
    assert len(got) == 1 and got[0] != want and got[0][1:] == want[1:]


# --------------------------------------------------------------------------
# Scripted resolver

ZONE = """\
$ORIGIN lab.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 86400 60
@ IN MX 10 mx1
mx1 IN A 127.0.0.25
_25._tcp.mx1 IN TLSA 3 1 1 {tlsa}
alias IN CNAME alias2
alias2 IN CNAME mx1
toplain IN CNAME mx1.plain.test.
dangling IN CNAME nothere
loop1 IN CNAME loop2
loop2 IN CNAME loop1
_mta-sts IN TXT "v=STSv1; id=one;"
_mta-sts IN TXT "some other record"
big IN TXT "{big}"
big IN TXT "{big}"
big IN TXT "{big}"
$ORIGIN plain.test.
@ IN SOA ns1 hostmaster 1 3600 600 86400 30
@ IN MX 10 mx1
mx1 IN A 127.0.0.26
"""

TLSA_HEX = "ab" * 32


def zone(tlsa=TLSA_HEX, sts_id="one"):
    return ZONE.format(tlsa=tlsa, big="x" * 200).replace("id=one;", "id=%s;" % sts_id)


def test_fakedns_ad_per_suffix_and_negative_answers(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone(), secure=["lab.test"])
    r = dns.query("_25._tcp.mx1.lab.test", "TLSA")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1 and r.header.ra == 1
    assert r.header.aa == 0
    assert [rr.rdata.cert_data.hex() for rr in r.rr] == [TLSA_HEX]
    r = dns.query("mx1.plain.test", "A")
    assert r.header.ad == 0 and rdatas(r, "A") == ["127.0.0.26"]
    # NXDOMAIN and NODATA, AD under the secure suffix, SOA in authority.
    r = dns.query("_25._tcp.mx9.lab.test", "TLSA")
    assert r.header.rcode == RCODE.NXDOMAIN and r.header.ad == 1 and not r.rr
    assert rtypes(r, "auth") == ["SOA"] and str(r.auth[0].rname) == "lab.test."
    r = dns.query("mx1.lab.test", "TLSA")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1 and not r.rr
    assert rtypes(r, "auth") == ["SOA"]
    # An empty non-terminal (_tcp.mx1.lab.test) exists: NODATA.
    r = dns.query("_tcp.mx1.lab.test", "TXT")
    assert r.header.rcode == RCODE.NOERROR
    r = dns.query("nothing.plain.test", "A")
    assert r.header.rcode == RCODE.NXDOMAIN and r.header.ad == 0
    assert str(r.auth[0].rname) == "plain.test." and r.auth[0].rdata.times[-1] == 30
    # Suffixes match at label boundaries.
    dns2 = make_fake_dns(zone(), secure=["test"], name="other")
    assert dns2.query("mx1.plain.test", "A").header.ad == 1
    dns.set_lists(secure=["ab.test"])
    assert dns.query("mx1.lab.test", "A").header.ad == 0


def test_fakedns_servfail_and_per_type_entries(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone(), secure=["lab.test"],
                        servfail=["mx1.plain.test", "_25._tcp.mx1.lab.test/TLSA"])
    r = dns.query("mx1.plain.test", "A")
    assert r.header.rcode == RCODE.SERVFAIL and not r.rr and r.header.ad == 0
    r = dns.query("_25._tcp.mx1.lab.test", "TLSA")
    assert r.header.rcode == RCODE.SERVFAIL
    r = dns.query("_25._tcp.mx1.lab.test", "TXT")
    assert r.header.rcode == RCODE.NOERROR
    # A CNAME chain that reaches a failing name fails.
    r = dns.query("toplain.lab.test", "A")
    assert r.header.rcode == RCODE.SERVFAIL


def test_fakedns_silence_times_out(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone(), silent=["_25._tcp.mx1.lab.test"])
    t0 = time.monotonic()
    assert dns.query("_25._tcp.mx1.lab.test", "TLSA", timeout=0.5) is None
    assert time.monotonic() - t0 >= 0.45
    assert dns.query("_25._tcp.mx1.lab.test", "TLSA", tcp=True, timeout=0.5) is None
    assert dns.query("mx1.lab.test", "A").header.rcode == RCODE.NOERROR
    assert ("udp", "_25._tcp.mx1.lab.test.", "TLSA") in dns.queries()
    assert ("tcp", "_25._tcp.mx1.lab.test.", "TLSA") in dns.queries()


def test_fakedns_delay(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone(), delay={"mx1.lab.test": 0.6})
    t0 = time.monotonic()
    assert dns.query("mx1.lab.test", "A", timeout=0.2) is None
    r = dns.query("mx1.lab.test", "A", timeout=3)
    assert r is not None and rdatas(r, "A") == ["127.0.0.25"]
    assert time.monotonic() - t0 >= 0.6 + 0.6 - 0.4   # both slept in parallel threads
    # Others are not held up by a delayed answer.
    t0 = time.monotonic()
    assert dns.query("mx1.plain.test", "A").header.rcode == RCODE.NOERROR
    assert time.monotonic() - t0 < 0.5


def test_fakedns_truncation_then_tcp(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone(), secure=["lab.test"], truncate=["_mta-sts.lab.test"])
    r = dns.query("_mta-sts.lab.test", "TXT")
    assert r.header.tc == 1 and not r.rr
    r = dns.query("_mta-sts.lab.test", "TXT", tcp=True)
    assert r.header.tc == 0 and r.header.ad == 1 and len(rdatas(r, "TXT")) == 2
    assert [q for q in dns.queries() if q[1] == "_mta-sts.lab.test."] == \
        [("udp", "_mta-sts.lab.test.", "TXT"), ("tcp", "_mta-sts.lab.test.", "TXT")]
    # An answer over 512 octets to a query without EDNS is truncated too,
    # and sent whole with EDNS (4096) or over TCP.
    assert dns.query("big.lab.test", "TXT", do=False).header.tc == 1
    assert len(dns.query("big.lab.test", "TXT").rr) == 3
    assert len(dns.query("big.lab.test", "TXT", do=False, tcp=True).rr) == 3


def test_fakedns_cname_chain_shape(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone(), secure=["lab.test"])
    r = dns.query("alias.lab.test", "A")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1
    assert [(str(rr.rname), QTYPE.get(rr.rtype), str(rr.rdata)) for rr in r.rr] == [
        ("alias.lab.test.", "CNAME", "alias2.lab.test."),
        ("alias2.lab.test.", "CNAME", "mx1.lab.test."),
        ("mx1.lab.test.", "A", "127.0.0.25"),
    ]
    # Asking for the CNAME itself gives it alone.
    assert rtypes(dns.query("alias.lab.test", "CNAME")) == ["CNAME"]
    # A chain into an insecure zone loses AD.
    r = dns.query("toplain.lab.test", "A")
    assert rtypes(r) == ["CNAME", "A"] and r.header.ad == 0
    # A chain to a missing name: the CNAME, then NXDOMAIN (RFC 6604).
    r = dns.query("dangling.lab.test", "A")
    assert r.header.rcode == RCODE.NXDOMAIN and rtypes(r) == ["CNAME"]
    # A loop: SERVFAIL.
    assert dns.query("loop1.lab.test", "A").header.rcode == RCODE.SERVFAIL
    # The resolver follows the chain itself: one query only.
    assert dns.queries().count(("udp", "alias.lab.test.", "A")) == 1
    assert "mx1.lab.test." not in [q[1] for q in dns.queries()]


def test_fakedns_multiple_txt_and_changes_on_the_fly(make_fake_dns):  # noqa: F811
    dns = make_fake_dns(zone())
    r = dns.query("_mta-sts.lab.test", "TXT")
    assert sorted(rdatas(r, "TXT")) == ['"some other record"', '"v=STSv1; id=one;"']
    dns.set_zone(zone(sts_id="two"))
    r = dns.query("_mta-sts.lab.test", "TXT")
    assert '"v=STSv1; id=two;"' in rdatas(r, "TXT")
    dns.set_lists(servfail=["_mta-sts.lab.test"])
    assert dns.query("_mta-sts.lab.test", "TXT").header.rcode == RCODE.SERVFAIL
    dns.set_lists(servfail=[], secure=["lab.test"])
    r = dns.query("_mta-sts.lab.test", "TXT")
    assert r.header.rcode == RCODE.NOERROR and r.header.ad == 1
    # A zone that does not parse leaves the previous one in use.
    dns.set_zone("this is not a zone\n")
    assert '"v=STSv1; id=two;"' in rdatas(dns.query("_mta-sts.lab.test", "TXT"), "TXT")
    assert "zone" in dns.stderr()


def test_fakedns_query_log_and_unpacking(tmp_path):
    with dnslab.fake_dns(tmp_path, zone(), secure=["lab.test"]) as (host, port, ctl, queries):
        dnslab.query(host, port, "lab.test", "MX")
        dnslab.query(host, port, "_25._tcp.MX1.lab.test", "TLSA", tcp=True)
        assert queries() == [("udp", "lab.test.", "MX"), ("tcp", "_25._tcp.mx1.lab.test.", "TLSA")]
        proc = ctl.proc
    assert proc.poll() is not None


# --------------------------------------------------------------------------
# DANE PKI and TLSA data

def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, stdout=subprocess.PIPE,
                          timeout=30).stdout


def test_tlsa_data_matches_openssl_cli(dane_pki):  # noqa: F811
    mx1 = dane_pki.mx1
    spki = sh("openssl x509 -pubkey -noout -in %s | openssl pkey -pubin -outform DER" % mx1)
    want = sh("openssl x509 -pubkey -noout -in %s | openssl pkey -pubin -outform DER "
              "| sha256sum" % mx1).split()[0].decode()
    assert dane_pki.tlsa("mx1", 3, 1, 1) == "3 1 1 " + want
    assert dane_pki.tlsa_data("mx1", 1, 2) == hashlib.sha512(spki).hexdigest()
    assert dane_pki.tlsa_data("mx1", 1, 0) == spki.hex()
    der = sh("openssl x509 -in %s -outform DER" % mx1)
    assert dane_pki.tlsa("mx1", 3, 0, 1) == "3 0 1 " + hashlib.sha256(der).hexdigest()
    ca = sh("openssl x509 -in %s -outform DER | sha256sum" % dane_pki.ca).split()[0].decode()
    assert dane_pki.tlsa("ca", 2, 0, 1) == "2 0 1 " + ca


def test_dane_certs_have_the_promised_properties(dane_pki):  # noqa: F811
    d = dane_pki
    # The expired leaf has key A; the other leaf does not.
    assert d.tlsa_data("expired", 1, 1) == d.tlsa_data("mx1", 1, 1)
    assert d.tlsa_data("other", 1, 1) != d.tlsa_data("mx1", 1, 1)
    assert subprocess.run(["openssl", "x509", "-in", d.expired, "-noout", "-checkend", "0"],
                          stdout=subprocess.DEVNULL).returncode == 1
    # Every leaf chains to the root through the intermediate.
    for leaf in ("mx1", "other", "wrongname", "sts"):
        out = sh("openssl verify -CAfile %s -untrusted %s %s" % (d.ca, d.int, d.path(leaf + ".pem")))
        assert out.strip().endswith(b": OK")
    r = subprocess.run(["openssl", "verify", "-CAfile", d.ca, "-untrusted", d.int, d.expired],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode != 0 and "expired" in r.stdout
    for leaf, name in (("mx1", "mx1.lab.test"), ("other", "mx1.lab.test"),
                       ("expired", "mx1.lab.test"), ("wrongname", "wrongname.example"),
                       ("sts", "mta-sts.lab.test")):
        out = sh("openssl x509 -in %s -noout -ext subjectAltName" % d.path(leaf + ".pem"))
        assert ("DNS:" + name).encode() in out
    # X-chain.pem is the leaf then the intermediate.
    with open(d.mx1_chain) as f:
        chain = f.read()
    with open(d.mx1) as f1, open(d.int) as f2:
        assert chain == f1.read() + f2.read()
