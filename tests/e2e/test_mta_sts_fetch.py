"""MTA-STS policy fetch (proxy/stsfetch.c, RFC 8461 3.3) against a scripted
HTTPS policy host (tests/tools/stshost.py), one outcome per test.

The fetcher is driven by tests/tools/stsfetch_cli (built beside the proxy,
STP_STSFETCH_CLI overrides), which prints "result=R code=C ... mx=..." and
"detail=...". Certificates come from tests/tools/mkstscerts.sh: a lab CA,
mta-sts.lab.test, a wrong-name, an expired and an untrusted leaf.
Loopback only; every policy host is stopped by PID.
"""

import os
import re
import subprocess
import time

import pytest

import stplib
from stslib import CLI, MKSTSCERTS, Host

POLICY_MX = "mx1.lab.test,*.backup.lab.test"


@pytest.fixture(scope="module")
def stscerts(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("stscerts"))
    subprocess.run(["bash", MKSTSCERTS, d], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    return d


@pytest.fixture(scope="module", autouse=True)
def _cli_present():
    if not os.access(CLI, os.X_OK):
        pytest.fail("%s missing (build the tests first)" % CLI, pytrace=False)


@pytest.fixture
def host(stscerts, tmp_path):
    started = []

    def make(mode="ok", cert="good", policy=None, listen="127.0.0.1:0"):
        h = Host(stscerts, str(tmp_path), mode, cert, policy, listen)
        started.append(h)
        return h

    yield make
    for h in started:
        h.stop()


def fetch(certs, port, domain="lab.test", timeout_ms=3000, extra=(), addr="127.0.0.1"):
    """Runs one fetch; returns (fields, detail, exit code, seconds)."""
    t0 = time.monotonic()
    p = subprocess.run([CLI, "-t", str(timeout_ms), "-c", os.path.join(certs, "ca.pem"),
                        *extra, domain, addr, str(port)],
                       capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    lines = p.stdout.splitlines()
    assert lines, "no output; stderr: %s" % p.stderr
    fields = dict(kv.split("=", 1) for kv in lines[0].split())
    detail = lines[1][len("detail="):] if len(lines) > 1 else ""
    # Every handle closed and freed: the loop closes cleanly (rc 3 otherwise).
    assert p.returncode in (0, 1), p.stderr
    assert p.returncode == (0 if fields["result"] == "ok" else 1)
    return fields, detail, p.returncode, took


def test_ok_content_length(stscerts, host):
    h = host("ok")
    f, _, rc, _ = fetch(stscerts, h.port)
    assert f["result"] == "ok"
    assert f["code"] == "200"
    assert f["mode"] == "enforce"
    assert f["max_age"] == "86400"
    assert f["mx"] == POLICY_MX
    # The request, byte for byte what RFC 8461 3.3 and the design ask.
    req = h.requests().split(b"--\n")[0]
    lines = req.split(b"\r\n")
    assert lines[0] == b"GET /.well-known/mta-sts.txt HTTP/1.1"
    assert b"Host: mta-sts.lab.test" in lines
    assert b"Connection: close" in lines
    assert any(re.fullmatch(rb"User-Agent: starttls-proxy/\d+\.\d+\.\d+", l) for l in lines)


def test_ok_ipv6(stscerts, host):
    try:
        h = host("ok", listen="[::1]:0")
    except AssertionError:
        pytest.skip("no IPv6 loopback")
    f, _, _, _ = fetch(stscerts, h.port, addr="::1")
    assert f["result"] == "ok"
    assert f["mx"] == POLICY_MX


def test_ok_chunked(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("chunked").port)
    assert f["result"] == "ok"
    assert f["mx"] == POLICY_MX


def test_ok_close_delimited(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("close").port)
    assert f["result"] == "ok"
    assert f["mx"] == POLICY_MX


def test_close_without_close_notify_is_malformed(stscerts, host):
    # A TCP close is no end of a close-delimited body over TLS: it may be
    # an attacker cutting the policy short.
    f, detail, _, _ = fetch(stscerts, host("cut").port)
    assert f["result"] == "malformed"
    assert "close_notify" in detail


def test_redirect_not_followed(stscerts, host):
    h = host("redirect")
    f, _, _, _ = fetch(stscerts, h.port)
    assert f["result"] == "http_status"
    assert f["code"] == "301"
    # One request only: the Location was not fetched.
    assert h.requests().count(b"GET ") == 1


def test_not_found(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("notfound").port)
    assert f["result"] == "http_status"
    assert f["code"] == "404"


def test_html_refused(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("html").port)
    assert f["result"] == "content_type"


def test_body_over_64k_length(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("big").port)
    assert f["result"] == "too_big"


def test_body_over_64k_chunked(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("bigchunked").port)
    assert f["result"] == "too_big"


def _padded(n):
    body = (b"version: STSv1\r\nmode: testing\r\nmx: mx1.lab.test\r\n"
            b"max_age: 3600\r\n")
    filler = n - len(body) - len(b"x-pad: \r\n")
    return body + b"x-pad: " + b"a" * filler + b"\r\n"


@pytest.mark.parametrize("mode", ["ok", "close"])
def test_body_of_exactly_64k_accepted(stscerts, host, mode):
    # The limit is STS_BODY_MAX octets, not one less, whether announced
    # (Content-Length) or found while reading (close-delimited).
    body = _padded(65536)
    assert len(body) == 65536
    f, _, _, _ = fetch(stscerts, host(mode, policy=body).port)
    assert f["result"] == "ok"
    assert f["mode"] == "testing"
    f, _, _, _ = fetch(stscerts, host(mode, policy=_padded(65537)).port)
    assert f["result"] == "too_big"


def test_slow_drip_times_out(stscerts, host):
    # One octet a second: each arrives well within any per-read timeout,
    # but the whole fetch has one deadline.
    f, _, _, _ = fetch(stscerts, host("slow").port, timeout_ms=2500)
    assert f["result"] == "timeout"
    assert f["code"] == "200"


def test_handshake_stall_times_out(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("stall").port, timeout_ms=1500)
    assert f["result"] == "timeout"
    assert f["code"] == "0"


def test_wrong_name_certificate(stscerts, host):
    h = host("ok", cert="wrongname")
    f, detail, _, _ = fetch(stscerts, h.port)
    assert f["result"] == "cert"
    assert "mismatch" in detail.lower()
    # Nothing was asked of a host that could not prove its name.
    assert h.requests() == b""


def test_expired_certificate(stscerts, host):
    h = host("ok", cert="expired")
    f, detail, _, _ = fetch(stscerts, h.port)
    assert f["result"] == "cert"
    assert "expired" in detail
    assert h.requests() == b""


def test_untrusted_ca(stscerts, host):
    h = host("ok", cert="untrusted")
    f, _, _, _ = fetch(stscerts, h.port)
    assert f["result"] == "cert"
    assert h.requests() == b""


def test_policy_that_does_not_parse(stscerts, host):
    f, detail, _, _ = fetch(stscerts, host("badpolicy").port)
    assert f["result"] == "policy_invalid"
    assert "mode" in detail


def test_not_http(stscerts, host):
    f, _, _, _ = fetch(stscerts, host("garbage").port)
    assert f["result"] == "malformed"


def test_connection_refused(stscerts, host):
    h = host("ok")
    port = h.port
    h.stop()
    f, _, _, _ = fetch(stscerts, port)
    assert f["result"] == "connect"


def test_other_domain_name_is_checked(stscerts, host):
    # The certificate is for mta-sts.lab.test; asking for another domain
    # at the same address must not accept it.
    f, _, _, _ = fetch(stscerts, host("ok").port, domain="other.test")
    assert f["result"] == "cert"


def test_cancel_never_calls_back(stscerts, host):
    h = host("slow")
    p = subprocess.run([CLI, "-x", "-c", os.path.join(stscerts, "ca.pem"), "lab.test",
                        "127.0.0.1", str(h.port)], capture_output=True, text=True,
                       timeout=30)
    assert p.stdout.strip() == "cancelled"
    assert p.returncode == 0
