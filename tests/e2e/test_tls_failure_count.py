"""What counts as a TLS handshake failure: only the TLS leg's own errors.

A backend that goes away while the client's STARTTLS handshake is under
way is not a handshake failure (it would page whoever watches
stp_starttls_total{event="failed"} for a backend outage): the handshake
succeeds, and the session ends when the encrypted part's backend
connection cannot be made. A client that sends garbage instead of a
ClientHello still is one.
"""

import os
import sys

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import ops_proxy, scrape, wait_metric  # noqa: E402,F401

IN = {"listener": "inbound", "direction": "inbound"}


def starttls_220(port):
    c = stplib.Client(port)
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    r = c.cmd("STARTTLS")
    assert r.code == 220, r
    return c


def test_backend_closing_during_handshake_is_not_a_tls_failure(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "starttls", sink.addr)])
    port = proxy.admin_port

    # The client's fault: garbage where the ClientHello belongs.
    c = starttls_220(proxy.port())
    c.send(b"\x16\x03\x01\x00\x05garbage and more garbage\r\n")
    c.read_until_close(timeout=10)
    c.close()
    m = wait_metric(port, "stp_sessions_ended_total", 1, **IN)
    assert m.get("stp_sessions_ended_total", reason="tls_failed", **IN) == 1
    assert m.get("stp_starttls_total", event="failed", **IN) == 1
    assert m.get("stp_starttls_failures_total", reason="handshake", **IN) == 1

    # The backend's: it goes away while the client has not yet sent its
    # ClientHello. The handshake still succeeds; the encrypted part's
    # backend connection is refused (421 4.3.0 inside TLS).
    c = starttls_220(proxy.port())
    sink.stop()
    c.handshake(stplib.client_context(proxy.certs))
    assert c.line().startswith(b"421 4.3.0"), "no 421 after the handshake"
    m = wait_metric(port, "stp_sessions_ended_total", 2, **IN)
    c.close()
    assert m.get("stp_sessions_ended_total", reason="connect_failed", **IN) == 1, m
    assert m.get("stp_sessions_ended_total", reason="tls_failed", **IN) == 1, m
    assert m.get("stp_starttls_total", event="succeeded", **IN) == 1, m
    assert m.get("stp_starttls_total", event="failed", **IN) == 1, m
    assert m.get("stp_starttls_failures_total", reason="handshake", **IN) == 1, m
