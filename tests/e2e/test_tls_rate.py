"""tls_rate_limit: new TLS handshakes per client address per minute.

Past the limit an address is not offered STARTTLS, its STARTTLS gets
454 4.7.0 (and never reaches the backend), and its implicit-TLS connections
are closed before any handshake (and before any backend connection). Other
addresses keep their own count. Counts are shared by the listeners.
"""

import socket
import ssl
import time

import stplib

R_RATE = b"454 4.7.0 TLS not available due to local problem\r\n"


def starttls_session(env, source=None):
    c = stplib.Client(env.port, source=source)
    assert c.reply().code == 220
    r = c.ehlo()
    assert r.code == 250, r
    return c, r


def test_tls_rate_limit(make_env):
    env = make_env(inbound={"tls_rate_limit": "3"})
    # Three handshakes from 127.0.0.1: two STARTTLS, one implicit.
    for _ in range(2):
        c, r = starttls_session(env)
        assert "STARTTLS" in r.keywords(), r
        c.starttls(env.ctx())
        assert c.ehlo().code == 250
        c.close()
    with socket.create_connection(("127.0.0.1", env.smtps_port), timeout=10) as raw:
        with env.ctx().wrap_socket(raw, server_hostname="localhost") as t:
            assert t.recv(4096).startswith(b"220 "), "no banner"
    sink_conns = len(env.sink.conns())

    # The fourth: STARTTLS no longer offered and refused with 454.
    c, r = starttls_session(env)
    assert "STARTTLS" not in r.keywords(), r
    c.send("STARTTLS\r\n")
    assert c.line() == R_RATE
    # The session goes on in plaintext.
    assert c.cmd("NOOP").code == 250
    c.close()

    # Implicit TLS: closed with no byte of handshake from the proxy.
    with socket.create_connection(("127.0.0.1", env.smtps_port), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01\x00\x05hello")  # the start of a ClientHello
        raw.settimeout(10)
        data = b""
        try:
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert data == b"", data

    # Another address still has its handshakes, on both listeners.
    c, r = starttls_session(env, source="127.0.0.2")
    assert "STARTTLS" in r.keywords(), r
    c.starttls(env.ctx())
    assert c.ehlo().code == 250
    c.close()
    raw = socket.create_connection(("127.0.0.1", env.smtps_port), timeout=10,
                                   source_address=("127.0.0.2", 0))
    with env.ctx().wrap_socket(raw, server_hostname="localhost") as t:
        assert t.recv(4096).startswith(b"220 "), "no banner"

    env.proxy.wait_event("tls_rate_limited", count=2)
    time.sleep(0.3)
    # The refused STARTTLS never reached the backend, and the refused
    # implicit-TLS connection never opened one: one more backend
    # connection (the plaintext session) before the 127.0.0.2 ones (two
    # for its STARTTLS session, one for implicit TLS).
    assert "STARTTLS" not in env.sink.all_raw().decode("latin-1")
    assert len(env.sink.conns()) == sink_conns + 4, env.sink.dump()
    closes = env.proxy.events("session_close", reason="tls_rate_limit")
    assert len(closes) == 1, closes


def test_tls_rate_limit_off_by_default(make_env):
    env = make_env()
    for _ in range(5):
        c, r = starttls_session(env)
        assert "STARTTLS" in r.keywords(), r
        c.starttls(env.ctx())
        c.close()
    assert env.proxy.events("tls_rate_limited") == []
