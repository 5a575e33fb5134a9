"""Graceful shutdown: SIGTERM stops accepting and turns /readyz 503;
sessions in flight go on until they end or shutdown_grace passes; then a
session at a command boundary gets 421 4.3.2 and one inside a DATA body is
closed without end-of-data, so a message is delivered whole or not at all.
The process exits 0 every time.
"""

import base64
import os
import signal
import socket
import sys
import time

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import http_get, ops_proxy, refuses, wait_until  # noqa: E402,F401

# Bounds for the process to be gone once nothing holds it.
EXIT_WAIT = 15.0


def big_body(mbytes):
    """About mbytes MB of CRLF lines (base64 text: no line starts with a
    dot), deterministic."""
    raw = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(57 * 1024))
    line_block = b"".join(base64.b64encode(raw[i:i + 57]) + b"\r\n"
                          for i in range(0, len(raw), 57))
    reps = (mbytes * 1000 * 1000) // len(line_block) + 1
    return b"Subject: big\r\n\r\n" + line_block * reps


def open_in_data(port):
    """A plaintext session that has had 354: (client, banner)."""
    c = stplib.Client(port)
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    assert c.cmd("RCPT TO:<b@test.example>").code == 250
    assert c.cmd("DATA").code == 354
    return c


def check_draining(proxy, port):
    """Right after SIGTERM, while a session is open: /readyz 503 and the
    listener refuses connections."""
    def not_ready():
        r = http_get(proxy.admin_port, "/readyz")
        return r.status == 503 and r.body == b"draining\n"
    assert wait_until(not_ready, 3.0), http_get(proxy.admin_port, "/readyz")
    assert wait_until(lambda: refuses(port), 3.0), "listener still accepts after SIGTERM"
    assert proxy.proc.poll() is None, "proxy exited with a session open"
    # The process is alive (/healthz) and says it is not ready in /metrics.
    assert http_get(proxy.admin_port, "/healthz").status == 200


def test_sigterm_during_large_data_with_grace_completes(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "off", sink.addr)],
                      global_keys={"shutdown_grace": "60s"})
    port = proxy.port()
    body = big_body(20)
    c = open_in_data(port)
    chunk = 256 * 1024
    sent_at_term = None
    t0 = time.monotonic()
    for off in range(0, len(body), chunk):
        c.send(body[off:off + chunk])
        time.sleep(0.04)  # ~80 chunks: about 3-4 s in flight
        if sent_at_term is None and off >= len(body) // 5:
            proxy.signal(signal.SIGTERM)
            sent_at_term = off
            check_draining(proxy, port)
        assert time.monotonic() - t0 < 60
    assert sent_at_term is not None and sent_at_term < len(body) - 10 * chunk
    c.send(b".\r\n")
    r = c.reply()
    assert r.code == 250, r
    assert c.cmd("QUIT").code == 221
    c.close()
    assert proxy.wait_exit(EXIT_WAIT) == 0, "proxy did not exit 0"
    msgs = sink.messages()
    assert len(msgs) == 1
    assert len(msgs[0]) == len(body) and msgs[0] == body, "message not byte-exact"
    assert proxy.events("shutdown")
    assert not proxy.events("shutdown_grace_over")


def test_sigterm_short_grace_closes_body_without_end_of_data(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "off", sink.addr)],
                      global_keys={"shutdown_grace": "1s"})
    port = proxy.port()
    c = open_in_data(port)
    line = b"y" * 78 + b"\r\n"
    block = line * 100  # 8 KB
    got = b""
    closed_at = None
    t0 = time.monotonic()
    c.sock.settimeout(0.05)
    while time.monotonic() - t0 < 15:
        if proxy.stopped_by_test is False and time.monotonic() - t0 > 0.5:
            proxy.signal(signal.SIGTERM)
            t_term = time.monotonic()
            check_draining(proxy, port)
        try:
            c.sock.sendall(block)
        except OSError:
            closed_at = time.monotonic()
            break
        try:
            chunk = c.sock.recv(4096)
            if not chunk:
                closed_at = time.monotonic()
                break
            got += chunk
        except socket.timeout:
            pass
        except OSError:
            closed_at = time.monotonic()
            break
        time.sleep(0.05)
    c.close()
    assert closed_at is not None, "session still open 15 s into a slow body"
    assert proxy.stopped_by_test
    # Closed once the grace was over, not before.
    assert 0.8 <= closed_at - t_term <= 8.0, closed_at - t_term
    assert b"250" not in got, got
    assert proxy.wait_exit(EXIT_WAIT) == 0, "proxy did not exit 0"
    assert sink.wait_closed()
    assert sink.messages() == [], "a message was delivered from a cut body"
    assert "event end-of-data" not in sink.log(1)
    assert "mode=data" in sink.log(1), sink.log(1)
    assert proxy.events("shutdown_grace_over")


def test_idle_session_gets_421_after_grace(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "off", sink.addr)],
                      global_keys={"shutdown_grace": "1s"})
    port = proxy.port()
    c = stplib.Client(port)
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    proxy.signal(signal.SIGTERM)
    t_term = time.monotonic()
    # Within the grace the session still works.
    assert c.cmd("NOOP").code == 250
    check_draining(proxy, port)
    c.sock.settimeout(10)
    r = c.reply()
    waited = time.monotonic() - t_term
    assert r.code == 421 and r.lines[-1].startswith("421 4.3.2 "), r
    assert 0.8 <= waited <= 6.0, waited
    assert c.read_until_close(timeout=10) == b""
    c.close()
    assert proxy.wait_exit(EXIT_WAIT) == 0, "proxy did not exit 0"
    assert sink.messages() == []


def test_session_ending_in_grace_lets_process_exit_early(make_sink, ops_proxy):
    """With a long grace, the process exits as soon as the last session
    ends, and that session was served normally to its QUIT."""
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "off", sink.addr)],
                      global_keys={"shutdown_grace": "60s"})
    c = stplib.Client(proxy.port())
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    proxy.signal(signal.SIGTERM)
    check_draining(proxy, proxy.port())
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    assert c.cmd("RCPT TO:<b@test.example>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: late\r\n\r\nsent while draining\r\n.\r\n")
    assert c.reply().code == 250
    assert c.cmd("QUIT").code == 221
    t_quit = time.monotonic()
    c.close()
    assert proxy.wait_exit(EXIT_WAIT) == 0
    assert time.monotonic() - t_quit < 5.0
    assert sink.messages() == [b"Subject: late\r\n\r\nsent while draining\r\n"]


def test_second_sigterm_forces_exit(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "off", sink.addr)],
                      global_keys={"shutdown_grace": "60s"})
    c = stplib.Client(proxy.port())
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    proxy.signal(signal.SIGTERM)
    check_draining(proxy, proxy.port())
    assert proxy.wait_exit(1.0) is None, "exited with a session open inside the grace"
    proxy.signal(signal.SIGTERM)
    assert proxy.wait_exit(EXIT_WAIT) == 0
    c.read_until_close(timeout=5)
    c.close()


def test_sigint_with_no_sessions_exits_at_once(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "off", sink.addr)])
    t0 = time.monotonic()
    proxy.signal(signal.SIGINT)
    assert proxy.wait_exit(EXIT_WAIT) == 0
    assert time.monotonic() - t0 < 5.0
    assert proxy.events("stopped")
