"""The admin endpoint: /metrics (checked by promtool and against counted
traffic), /healthz, /readyz, and its behaviour towards bad and slow
clients.

Each proxy here has admin = 127.0.0.1:(free port) (tests/tools/opslib.py).
"""

import calendar
import os
import socket
import sys
import time

import pytest

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import (Metrics, http_get, http_raw, ops_proxy, promtool_check,  # noqa: E402,F401
                    scrape, smtplib_send, message, wait_metric, wait_until)
from outlib import LegacyClient, make_mx, make_outproxy, outbound, policy  # noqa: E402,F401

IN = {"listener": "inbound", "direction": "inbound"}


@pytest.fixture
def ops(make_sink, ops_proxy):
    """A sink behind a STARTTLS listener "inbound", and a listener
    "inbound:dead" whose backend port has nothing listening."""
    sink = make_sink()
    dead = stplib.free_port()
    proxy = ops_proxy([stplib.Listener("inbound", "starttls", sink.addr),
                       stplib.Listener("inbound:dead", "starttls", "127.0.0.1:%d" % dead)])
    return sink, proxy


def test_metrics_pass_promtool(ops, certs):
    sink, proxy = ops
    # Some traffic first, so that the label-per-value families have series.
    smtplib_send(proxy.port(), stplib.client_context(certs), message(1))
    with stplib.Client(proxy.port("inbound:dead")) as c:
        assert c.reply().code == 421
    wait_metric(proxy.admin_port, "stp_sessions_ended_total", 2)
    r = http_get(proxy.admin_port, "/metrics")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    assert int(r.headers["content-length"]) == len(r.body)
    rc, out = promtool_check(r.text)
    assert rc == 0, "promtool check metrics failed (%d):\n%s\n--- metrics\n%s" % (
        rc, out, r.text)
    m = Metrics(r.text)
    for family in ("stp_sessions_started_total", "stp_sessions_ended_total",
                   "stp_sessions_active", "stp_starttls_total", "stp_starttls_failures_total",
                   "stp_tls_sessions_total", "stp_messages_total", "stp_bytes_total",
                   "stp_connect_failures_total", "stp_local_replies_total",
                   "stp_tls_handshake_seconds_bucket", "stp_tls_handshake_seconds_count",
                   "stp_tls_handshake_seconds_sum", "stp_certificate_not_after_seconds",
                   "stp_config_reloads_total", "stp_workers", "stp_ready"):
        assert m.has(family), "no %s in /metrics" % family
    assert m.get("stp_ready") == 1
    # HEAD: the same head, no body.
    h = http_get(proxy.admin_port, "/metrics", method="HEAD")
    assert h.status == 200 and h.body == b"", h
    assert int(h.headers["content-length"]) > 0


def test_counters_move_with_sessions(ops, certs):
    sink, proxy = ops
    port = proxy.admin_port
    before = scrape(port)
    sent = received = 0
    for n in range(3):
        s = smtplib_send(proxy.port(), stplib.client_context(certs), message(n))
        sent += s.sent
        received += s.received
    # Counted when a session closes: wait for the three closes.
    after = wait_metric(port, "stp_sessions_ended_total", 3, **IN)

    def delta(name, **labels):
        lab = dict(IN, **labels)
        return after.get(name, **lab) - before.get(name, **lab)

    assert delta("stp_sessions_started_total") == 3
    assert delta("stp_sessions_ended_total", reason="quit") == 3
    assert after.get("stp_sessions_active", **IN) == 0
    assert delta("stp_messages_total") == 3
    assert delta("stp_starttls_total", event="offered") == 3
    assert delta("stp_starttls_total", event="attempted") == 3
    assert delta("stp_starttls_total", event="succeeded") == 3
    assert delta("stp_starttls_total", event="failed") == 0
    assert delta("stp_tls_sessions_total") == 3
    tls = after.series("stp_tls_sessions_total", **IN)
    assert {l["version"] for l, v in tls} <= {"TLSv1.2", "TLSv1.3"}, tls
    assert all(l["cipher"] != "other" for l, v in tls), tls
    assert delta("stp_tls_handshake_seconds_count") == 3
    assert delta("stp_tls_handshake_seconds_bucket", le="+Inf") == 3
    assert delta("stp_bytes_total", flow="client_to_server") == sent
    assert delta("stp_bytes_total", flow="server_to_client") == received
    assert delta("stp_connect_failures_total") == 0
    assert len(sink.messages()) == 3
    # Nothing was counted on the other listener.
    dead = {"listener": "inbound:dead"}
    assert after.get("stp_sessions_started_total", **dead) == 0


def test_refused_backend_counts_connect_failure_and_421(ops):
    sink, proxy = ops
    port = proxy.admin_port
    dead = {"listener": "inbound:dead", "direction": "inbound"}
    before = scrape(port)
    with stplib.Client(proxy.port("inbound:dead")) as c:
        r = c.reply()
        assert r.code == 421, r
        rest = c.read_until_close()
    after = wait_metric(port, "stp_sessions_ended_total", 1, **dead)
    assert after.get("stp_connect_failures_total", **dead) - \
        before.get("stp_connect_failures_total", **dead) == 1
    assert after.get("stp_local_replies_total", code="421", **dead) - \
        before.get("stp_local_replies_total", code="421", **dead) == 1
    assert after.get("stp_sessions_ended_total", reason="connect_failed", **dead) == 1
    assert after.get("stp_connect_failures_total", **IN) == 0
    # The client got the 421 line and nothing else: that is the flow.
    assert after.get("stp_bytes_total", flow="server_to_client", **dead) == \
        len(r.raw) + len(rest)
    assert after.get("stp_bytes_total", flow="client_to_server", **dead) == 0


def test_certificate_not_after_gauge(ops, certs):
    sink, proxy = ops
    m = scrape(proxy.admin_port)
    for index, name in ((0, "server.pem"), (1, "server-ec.pem")):
        r = stplib.run(["openssl", "x509", "-noout", "-enddate", "-in",
                        os.path.join(certs, name)])
        assert r.returncode == 0, r.stderr
        # notAfter=Nov 28 05:12:05 2036 GMT
        text = r.stdout.strip().split("=", 1)[1]
        want = calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y %Z"))
        got = m.series("stp_certificate_not_after_seconds", listener="inbound",
                       index=str(index))
        assert len(got) == 1, got
        assert got[0][1] == want, (name, got, want)
        assert got[0][0]["subject"], got


def test_outbound_policy_outcomes(make_mx, make_outproxy, certs):
    """Per-domain policy outcomes, labelled only with configured domains."""
    mx = make_mx(cert="good")
    admin = stplib.free_port()
    px = make_outproxy([
        outbound(relay="localhost:%d" % mx.port, tls="may",
                 ca_file=os.path.join(certs, "ca.pem")),
        policy("secure.example", "verify", "mx.test.example"),
        policy("other.example", "verify"),
        policy("enc.example", "encrypt"),
    ], global_keys={"admin": "127.0.0.1:%d" % admin})
    assert wait_until(lambda: stplib.listening(admin)), px.stderr()
    c = LegacyClient(px.port())
    assert c.reply().code == 220
    assert c.cmd("EHLO legacy.example").code == 250
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    codes = [c.cmd("RCPT TO:<%s>" % r).code for r in
             ("x@secure.example", "y@other.example", "z@plain.example", "w@secure.example")]
    assert codes == [250, 450, 250, 250], codes
    assert c.cmd("DATA").code == 354
    c.send(message(1) + b".\r\n")
    assert c.reply().code == 250
    assert c.cmd("QUIT").code == 221
    c.close()
    ob = {"listener": "outbound", "direction": "outbound"}
    m = wait_metric(admin, "stp_sessions_ended_total", 1, **ob)
    pol = {(l["domain"], l["outcome"]): v for l, v in m.series("stp_policy_outcomes_total")}
    assert pol == {
        ("secure.example", "ok"): 2, ("secure.example", "no_tls"): 0,
        ("secure.example", "not_verified"): 0,
        ("other.example", "ok"): 0, ("other.example", "no_tls"): 0,
        ("other.example", "not_verified"): 1,
        ("enc.example", "ok"): 0, ("enc.example", "no_tls"): 0,
        ("enc.example", "not_verified"): 0,
    }, pol
    # The relay name (localhost) is not on good.pem: Trusted, not Verified.
    assert m.get("stp_tls_verify_total", result="Trusted", **ob) == 1
    assert m.get("stp_tls_verify_total", **ob) == 1
    assert m.get("stp_starttls_total", event="succeeded", **ob) == 1
    assert m.get("stp_messages_total", **ob) == 1
    rc, out = promtool_check(m.text)
    assert rc == 0, "promtool check metrics failed (%d):\n%s" % (rc, out)


def test_health_and_readiness(ops):
    sink, proxy = ops
    p = proxy.admin_port
    r = http_get(p, "/healthz")
    assert (r.status, r.body) == (200, b"ok\n"), r
    r = http_get(p, "/readyz")
    assert (r.status, r.body) == (200, b"ready\n"), r
    assert scrape(p).get("stp_ready") == 1


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),
    (b"HELLO THERE\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n", 400),
])
def test_bad_requests(ops, request_bytes, status):
    sink, proxy = ops
    r = http_raw(proxy.admin_port, request_bytes)
    assert r.status == status, r
    if status == 405:
        assert r.headers.get("allow") == "GET, HEAD", r.headers
    # The endpoint still answers afterwards.
    assert http_get(proxy.admin_port, "/healthz").status == 200


def test_slow_client_cut_off_others_served(ops):
    sink, proxy = ops
    p = proxy.admin_port
    slow = socket.create_connection(("127.0.0.1", p), timeout=15)
    t0 = time.monotonic()
    slow.sendall(b"GET /metr")
    # Meanwhile another client is served at once.
    time.sleep(0.5)
    r = http_get(p, "/healthz")
    assert r.status == 200, r
    assert r.elapsed < 2.0, r.elapsed
    # Trickled bytes do not extend the deadline.
    for _ in range(4):
        time.sleep(0.5)
        try:
            slow.sendall(b"i")
        except OSError:
            break
    data = b""
    try:
        while time.monotonic() - t0 < 12:
            chunk = slow.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    cut = time.monotonic() - t0
    slow.close()
    assert 4.0 <= cut <= 7.5, "slow client cut off after %.2fs (%r)" % (cut, data)
    assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
    assert http_get(p, "/healthz").status == 200


def test_many_admin_connections_do_not_block_sessions(ops, certs):
    """Admin connections held open (up to the cap and beyond) do not
    disturb the mail listeners."""
    sink, proxy = ops
    held = []
    try:
        for _ in range(70):
            held.append(socket.create_connection(("127.0.0.1", proxy.admin_port), timeout=5))
        s = smtplib_send(proxy.port(), stplib.client_context(certs), message(9))
        assert s.received > 0
    finally:
        for h in held:
            h.close()
    assert sink.messages() == [message(9)]
    # With the held connections gone, the endpoint answers again.
    ok = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ok:
        ok = http_get(proxy.admin_port, "/healthz", timeout=3).status == 200
        if not ok:
            time.sleep(0.2)
    assert ok
