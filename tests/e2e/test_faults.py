"""Faults: the backend killed mid-DATA, a backend that never answers the
end-of-data, a client that vanishes mid-DATA, and (outbound) an upstream
that closes during the TLS handshake. In each, no 250 reaches the sender
for a message the other side did not accept, and a message the sender did
not finish never gets an end-of-data.
"""

import re
import socket
import ssl
import struct
import time

import pytest

import stplib
from outlib import LegacyClient, make_mx, make_outproxy, outbound  # noqa: F401 (fixtures)


def sink_log(env):
    """The sink's logs over all connections: a STARTTLS session has two
    (issue #16), the encrypted part on the second."""
    return "".join(env.sink.log(n) for n in env.sink.conns())


def expect(reply, code, enhanced=""):
    assert reply.code == code, reply
    if enhanced:
        assert reply.lines[-1].startswith("%d %s " % (code, enhanced)), reply


def start_data(env, tls):
    c = env.client()
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    if tls:
        c.starttls(env.ctx())
        expect(c.ehlo(), 250)
    expect(c.cmd("MAIL FROM:<a@x>"), 250)
    expect(c.cmd("RCPT TO:<b@y>"), 250)
    expect(c.cmd("DATA"), 354)
    return c


def wait_for(pred, timeout=stplib.IO_TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def no_250(data):
    return not re.search(rb"(^|\n)250[ -]", data)


def rest_of_session(c, timeout=10):
    """Everything the proxy still sends until it closes (b"" if it reset)."""
    try:
        return c.read_until_close(timeout=timeout)
    except OSError:
        return c.buf


BODY_HEAD = b"Subject: fault\r\n\r\n" + b"first part of the body\r\n" * 200


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_backend_killed_mid_data(make_env, tls):
    env = make_env()
    c = start_data(env, tls)
    c.send(BODY_HEAD)
    wait_for(lambda: b"first part of the body\r\n" * 200 in env.sink.all_raw(),
             what="body at the sink")
    env.sink.proc.kill()  # SIGKILL, by PID
    env.sink.proc.wait(timeout=10)
    try:
        c.send(b"second part\r\n" * 100 + b".\r\n")
    except OSError:
        pass
    data = rest_of_session(c)
    assert no_250(data), data
    assert data == b"" or data.startswith(b"421 4.4.2 "), data
    assert env.sink.messages() == []


def test_backend_closes_in_data(make_env):
    env = make_env(fault="close-in-data")
    c = start_data(env, tls=True)
    try:
        c.send(BODY_HEAD + b".\r\n")
    except OSError:
        pass
    data = rest_of_session(c)
    assert no_250(data), data
    assert data.startswith(b"421 4.4.2 "), data
    assert env.sink.messages() == []


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_backend_never_answers_end_of_data(make_env, tls):
    env = make_env(fault="no-eod-reply", global_keys={"idle_timeout": "2s"})
    c = start_data(env, tls)
    t0 = time.monotonic()
    c.send(BODY_HEAD + b".\r\n")
    data = rest_of_session(c, timeout=15)
    elapsed = time.monotonic() - t0
    assert data == b"421 4.4.2 Timeout, closing connection\r\n", data
    assert 1.5 <= elapsed <= 8, elapsed
    assert env.sink.wait_closed(), env.sink.dump()
    # The end-of-data did reach the backend; it just never answered.
    assert "event end-of-data" in sink_log(env), env.sink.dump()
    assert env.sink.messages() == []


# How the client leaves: FIN, RST, or (TLS) the TCP connection dropped
# without close_notify; each after a body whose last bytes would complete
# an end-of-data if the proxy "finished" it.
VANISH = {
    "fin": (False, "fin", b"tail\r\n"),
    "rst": (False, "rst", b"tail\r\n."),
    "fin-after-dot-cr": (False, "fin", b"tail\r\n.\r"),
    "tls-no-close-notify": (True, "fin", b"tail\r\n."),
    "tls-rst": (True, "rst", b"tail\r\n.\r"),
}


@pytest.mark.parametrize("case", sorted(VANISH))
def test_client_vanishes_mid_data(make_env, case):
    tls, how, tail = VANISH[case]
    env = make_env()
    c = start_data(env, tls)
    c.send(BODY_HEAD + tail)
    wait_for(lambda: b"first part of the body\r\n" * 200 in env.sink.all_raw(),
             what="body at the sink")
    time.sleep(0.2)
    raw_sock = c.sock
    if tls:
        # The TCP socket under the TLS layer: no close_notify is sent.
        raw_sock = socket.socket(fileno=c.sock.detach())
    if how == "rst":
        raw_sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw_sock.close()
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    body = raw.split(b"DATA\r\n", 1)[1]
    assert not body.endswith(b"\r\n.\r\n"), body[-40:]
    assert b"\r\n.\r\n" not in body
    assert "end-of-data" not in sink_log(env), env.sink.dump()
    assert env.sink.messages() == []
    # What the proxy relayed is a prefix of what was sent (tail held back
    # or not, never completed).
    assert (BODY_HEAD + tail).startswith(body) or body.startswith(BODY_HEAD), body[-40:]


def _read_reply(sock_recv, buf):
    """Reads one SMTP reply with sock_recv(); returns (code, rest of buf)."""
    for _ in range(1000):
        m = re.search(rb"(^|\r\n)(\d{3}) [^\r\n]*\r\n", buf)
        if m:
            return int(m.group(2)), buf[m.end():]
        chunk = sock_recv()
        assert chunk, buf
        buf += chunk
    raise AssertionError("no reply")


def test_tls_close_notify_behind_body_closes_at_once(make_env):
    """A TLS client sends 40 KB of body and its close_notify in one write and
    keeps its TCP connection open. The proxy meets the close_notify while it
    decrypts the body past its first read buffer; it must close the session
    then (client closed in DATA, no end-of-data to the backend), not sit
    until the idle timeout (60 s here) waiting for a TCP close."""
    env = make_env(global_keys={"idle_timeout": "60s"})
    s = socket.create_connection(("127.0.0.1", env.port), timeout=stplib.IO_TIMEOUT)
    buf = b""
    code, buf = _read_reply(lambda: s.recv(4096), buf)
    assert code == 220
    s.sendall(b"EHLO client.example\r\n")
    code, buf = _read_reply(lambda: s.recv(4096), buf)
    assert code == 250
    s.sendall(b"STARTTLS\r\n")
    code, buf = _read_reply(lambda: s.recv(4096), buf)
    assert code == 220 and buf == b""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = env.ctx().wrap_bio(inc, out, server_hostname="localhost")

    def more():
        chunk = s.recv(65536)
        if chunk:
            inc.write(chunk)
        return chunk

    for _ in range(100):
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            s.sendall(out.read())
            assert more(), "closed in handshake"
    s.sendall(out.read())

    def tls_recv():
        for _ in range(100):
            try:
                return obj.read(65536)
            except ssl.SSLWantReadError:
                if not more():
                    return b""
        return b""

    plain = b""
    for cmd in (b"EHLO client.example", b"MAIL FROM:<a@x>", b"RCPT TO:<b@y>", b"DATA"):
        obj.write(cmd + b"\r\n")
        s.sendall(out.read())
        code, plain = _read_reply(tls_recv, plain)
        assert code == (354 if cmd == b"DATA" else 250), cmd
    body = b"Subject: close_notify\r\n\r\n" + b"x" * 78 + b"\r\n"
    body = body * (40000 // len(body))  # > 16 KiB, one loopback segment
    obj.write(body)
    try:
        obj.unwrap()
    except ssl.SSLWantReadError:
        pass  # close_notify written; the proxy's own is not awaited
    s.sendall(out.read())  # body records and close_notify in one write
    assert env.sink.wait_closed(timeout=10), env.sink.dump()
    assert "end-of-data" not in sink_log(env), env.sink.dump()
    assert env.sink.messages() == []
    s.settimeout(10)
    rest = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert no_250(rest)


# --------------------------------------------------------------------------
# Outbound: the upstream closes during the handshake

@pytest.mark.parametrize("mode", ["abort-handshake", "garbage-handshake"])
@pytest.mark.parametrize("tls", ["encrypt", "verify"])
def test_outbound_upstream_closes_in_handshake(make_mx, make_outproxy, certs, mode, tls):
    mx = make_mx(cert="server", mode=mode)
    px = make_outproxy([outbound(relay="localhost:%d" % mx.port, tls=tls,
                                 ca_file="%s/ca.pem" % certs)])
    c = LegacyClient(px.port())
    expect(c.reply(), 220)
    # A legacy server that pipelines its whole envelope after EHLO.
    c.send(b"EHLO legacy.example\r\nMAIL FROM:<a@legacy.example>\r\n"
           b"RCPT TO:<b@test.example>\r\nDATA\r\n")
    data = rest_of_session(c)
    seen = c.seen
    assert no_250(data) and no_250(seen.split(b"\r\n", 1)[1]), seen
    first = data.split(b"\r\n")[0]
    assert re.match(rb"^4\d\d 4\.\d+\.\d+ ", first), data
    assert not re.search(rb"(^|\n)[235]\d\d", data), data
    c.close()
    assert mx.wait_closed(), mx.dump()
    assert mx.messages() == []
    for n in mx.conns():
        assert "MAIL" not in mx.verbs(n), mx.dump()


def test_outbound_upstream_closes_in_handshake_may_retries_plain(make_mx, make_outproxy,
                                                                  certs):
    """tls = may: the proxy retries in plaintext; the 250 the legacy server
    then gets is the upstream's own (the message is stored there)."""
    mx = make_mx(cert="server", mode="abort-handshake")
    px = make_outproxy([outbound(relay="localhost:%d" % mx.port, tls="may",
                                 ca_file="%s/ca.pem" % certs)])
    c = LegacyClient(px.port())
    expect(c.reply(), 220)
    expect(c.ehlo("legacy.example"), 250)
    expect(c.cmd("MAIL FROM:<a@legacy.example>"), 250)
    expect(c.cmd("RCPT TO:<b@test.example>"), 250)
    expect(c.cmd("DATA"), 354)
    c.send(b"Subject: retried\r\n\r\nplain\r\n.\r\n")
    r = c.reply()
    expect(r, 250)
    expect(c.cmd("QUIT"), 221)
    c.close()
    assert mx.wait_closed(), mx.dump()
    assert mx.messages() == [b"Subject: retried\r\n\r\nplain\r\n"]
    # The 250 relayed is the one the MX sent for that message.
    assert r.lines[-1] == "250 2.0.0 Ok: queued as 1", r
