"""ALPN on inbound TLS (the ALPACA defence, as nginx since 2021).

A client that offers application protocols without "smtp" is refused with
the no_application_protocol alert, on STARTTLS and on implicit TLS, and the
backend never sees a byte of its session after the handshake; a client that
offers "smtp" (alone or among others) gets "smtp" selected, and one without
ALPN is served as ever.
"""

import socket
import ssl

import pytest

import stplib


def implicit(env, protocols):
    raw = socket.create_connection(("127.0.0.1", env.smtps_port), timeout=10)
    ctx = env.ctx()
    if protocols is not None:
        ctx.set_alpn_protocols(protocols)
    t = ctx.wrap_socket(raw, server_hostname="localhost")
    return t


def starttls(env, protocols):
    c = stplib.Client(env.port)
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    ctx = env.ctx()
    if protocols is not None:
        ctx.set_alpn_protocols(protocols)
    c.starttls(ctx)
    return c


def expect_no_app_protocol(excinfo):
    text = str(excinfo.value).upper()
    assert "NO_APPLICATION_PROTOCOL" in text or "NO APPLICATION PROTOCOL" in text, text


@pytest.mark.parametrize("protocols", [["http/1.1"], ["h2", "http/1.1"], ["smtps"]],
                         ids=["http1", "h2-http1", "smtps"])
def test_refused_without_smtp(make_env, protocols):
    env = make_env()
    with pytest.raises(ssl.SSLError) as e:
        implicit(env, protocols)
    expect_no_app_protocol(e)
    with pytest.raises(ssl.SSLError) as e:
        starttls(env, protocols)
    expect_no_app_protocol(e)
    # No TLS session was established, so nothing went on to the backend
    # beyond the plaintext EHLO of the STARTTLS session.
    raw = env.sink.all_raw().decode("latin-1")
    assert "STARTTLS" not in raw
    assert raw.count("EHLO") <= 1, raw


@pytest.mark.parametrize("protocols", [None, ["smtp"], ["http/1.1", "smtp"], ["smtp", "h2"]],
                         ids=["none", "smtp", "http1-smtp", "smtp-h2"])
def test_accepted_with_smtp_or_none(make_env, protocols):
    env = make_env()
    t = implicit(env, protocols)
    assert t.selected_alpn_protocol() == (None if protocols is None else "smtp")
    banner = t.recv(4096)
    assert banner.startswith(b"220 "), banner
    t.sendall(b"EHLO client.example\r\n")
    assert t.recv(4096).startswith(b"250"), "no EHLO reply"
    t.close()
    c = starttls(env, protocols)
    assert c.sock.selected_alpn_protocol() == (None if protocols is None else "smtp")
    assert c.ehlo().code == 250
    assert c.cmd("NOOP").code == 250
    c.close()
