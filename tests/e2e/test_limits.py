"""Limits: timeouts, session counts, message size, error count, and memory
and CPU under hostile load (pipelining without reading, a huge body toward a
slow backend, an upstream that never reads, file descriptor exhaustion).

Timeouts are configured short (2-3 s) so the file runs quickly; each bound
below leaves room for an ASan build. Memory is read from /proc/PID/status
(VmRSS) while the load runs; the bound is stated in RSS_BOUND_KIB.
"""

import os
import re
import select
import socket
import subprocess
import threading
import time

import pytest

import stplib
from outlib import make_outproxy, outbound  # noqa: F401

# The proxy's resident set must stay under this while a client or a peer
# tries to make it buffer (64 MiB; an idle proxy uses a few MiB, under ASan
# some tens).
RSS_BOUND_KIB = 64 * 1024
STALL_MX = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "stall_mx.py")

R_TIMEOUT = b"421 4.4.2 Timeout, closing connection\r\n"


def expect(reply, code, enhanced=""):
    assert reply.code == code, reply
    if enhanced:
        assert reply.lines[-1].startswith("%d %s " % (code, enhanced)), reply


def start(env, tls=False, source=None):
    c = stplib.Client(env.port, source=source)
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    if tls:
        c.starttls(env.ctx())
        expect(c.ehlo(), 250)
    return c


def to_data(c):
    expect(c.cmd("MAIL FROM:<a@x>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<b@y>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354)


def no_end_of_data(sink):
    """The sink stored nothing and never saw an end-of-data."""
    assert sink.messages() == [], sink.dump()
    for n in sink.conns():
        assert "end-of-data" not in sink.log(n), sink.dump()


class RssSampler:
    """Samples the VmRSS of a process every period seconds in a thread."""

    def __init__(self, pid, period=0.05):
        self.pid = pid
        self.period = period
        self.samples = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.samples.append(stplib.proc_rss_kib(self.pid))
            except (OSError, RuntimeError):
                return
            self.stop_ev.wait(self.period)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(timeout=5)
        return max(self.samples) if self.samples else 0


def report(what, **figures):
    """Prints figures for the log (pytest -s, or the captured output of a
    failure)."""
    print("figures %s: %s" % (what, " ".join("%s=%s" % kv for kv in figures.items())))


# --------------------------------------------------------------------------
# Timeouts

def test_idle_timeout(make_env):
    env = make_env(global_keys={"idle_timeout": "2s"})
    c = start(env)
    t0 = time.monotonic()
    data = c.read_until_close(timeout=10)
    elapsed = time.monotonic() - t0
    assert data == R_TIMEOUT, data
    assert 1.5 <= elapsed <= 6.0, elapsed
    assert env.sink.wait_closed(), env.sink.dump()


def test_partial_line_does_not_extend_idle_timeout(make_env):
    """Slowloris: one octet of a command line every 0.25 s never completes a
    line; the idle timeout still fires about 2 s after the last command."""
    env = make_env(global_keys={"idle_timeout": "2s"})
    c = start(env)
    t0 = time.monotonic()
    got = b""
    for i in range(40):  # at most 10 s
        try:
            c.send(b"NOOPxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"[i:i + 1])
        except OSError:
            break
        r, _, _ = select.select([c.sock], [], [], 0.25)
        if r:
            try:
                chunk = c.sock.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
            if got.endswith(b"\r\n"):
                break
    elapsed = time.monotonic() - t0
    assert got == R_TIMEOUT, got
    assert 1.5 <= elapsed <= 4.5, elapsed
    assert env.sink.wait_closed(), env.sink.dump()
    assert b"NOOP" not in env.sink.all_raw()


@pytest.mark.parametrize("idle,data,lo,hi", [
    ("2s", "3s", 2.5, 6.0),
    # data_timeout shorter than idle_timeout keeps its own clock: the
    # dribble is progress for the idle timer, never for the data deadline.
    ("60s", "2s", 1.5, 6.0),
], ids=["idle-shorter", "data-shorter"])
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_data_timeout_with_dribbling_body(make_env, tls, idle, data, lo, hi):
    """A body that keeps trickling in (never idle for 2 s) is cut at the
    absolute data_timeout; the backend never gets an end-of-data."""
    env = make_env(global_keys={"idle_timeout": idle, "data_timeout": data})
    c = start(env, tls)
    to_data(c)
    t0 = time.monotonic()
    got = b""
    for i in range(24):  # 0.4 s apart: at most ~10 s
        try:
            c.send(b"Line %d of a slow body\r\n" % i)
        except OSError:
            break
        try:
            c.sock.settimeout(0.4)
            chunk = c.sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        got += chunk
        if got.endswith(b"\r\n"):
            break
    elapsed = time.monotonic() - t0
    assert got == R_TIMEOUT, got
    assert lo <= elapsed <= hi, elapsed
    assert env.sink.wait_closed(), env.sink.dump()
    no_end_of_data(env.sink)
    assert b"Line 1 of a slow body" in env.sink.all_raw()


def test_handshake_timeout_after_starttls(make_env):
    env = make_env(global_keys={"handshake_timeout": "2s"})
    c = start(env)
    assert c.cmd("STARTTLS").code == 220
    t0 = time.monotonic()
    data = c.read_until_close(timeout=10)
    elapsed = time.monotonic() - t0
    assert data == b"", data  # a plain close: no plaintext inside TLS
    assert 1.5 <= elapsed <= 6.0, elapsed
    assert env.sink.wait_closed(), env.sink.dump()


@pytest.mark.parametrize("dribble", [False, True], ids=["silent", "dribbled-hello"])
def test_handshake_timeout_implicit_tls(make_env, dribble):
    """Implicit TLS: silence, or a ClientHello dribbled one octet every
    0.25 s; the handshake deadline is absolute, no backend is connected."""
    env = make_env(global_keys={"handshake_timeout": "2s"})
    s = socket.create_connection(("127.0.0.1", env.smtps_port), timeout=10)
    t0 = time.monotonic()
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 40
    got = None
    for i in range(40):
        if dribble:
            try:
                s.send(hello[i:i + 1])
            except OSError:
                got = b""
                break
        r, _, _ = select.select([s], [], [], 0.25)
        if r:
            try:
                got = s.recv(4096)
            except OSError:
                got = b""
            break
    elapsed = time.monotonic() - t0
    s.close()
    assert got == b"", got
    assert 1.5 <= elapsed <= 6.0, elapsed
    assert env.sink.conns() == []


# --------------------------------------------------------------------------
# Session counts

def banner_or_close(port, source=None, timeout=5):
    """Connects; returns ("banner", client) or ("closed", bytes received)."""
    c = stplib.Client(port, source=source, timeout=timeout)
    try:
        r = c.reply()
    except stplib.Closed as e:
        c.close()
        return "closed", e.partial
    if r.code == 220:
        return "banner", c
    rest = c.read_until_close()
    c.close()
    return "closed", r.raw + rest


def test_max_sessions(make_env):
    env = make_env(global_keys={"max_sessions": "2"})
    held = []
    for _ in range(2):
        kind, c = banner_or_close(env.port)
        assert kind == "banner", c
        held.append(c)
    kind, data = banner_or_close(env.port)
    assert kind == "closed"
    assert data == b"421 4.3.2 Too many connections, try again later\r\n", data
    # The implicit-TLS listener counts against the same global limit.
    s = socket.create_connection(("127.0.0.1", env.smtps_port), timeout=5)
    s.settimeout(5)
    assert s.recv(100) == b""
    s.close()
    time.sleep(0.3)
    assert len(env.sink.conns()) == 2, env.sink.dump()
    # A place freed is a place given again.
    expect(held[0].cmd("QUIT"), 221)
    held[0].read_until_close()
    deadline = time.monotonic() + 5
    while True:
        kind, c = banner_or_close(env.port)
        if kind == "banner":
            break
        assert time.monotonic() < deadline, c
        time.sleep(0.1)
    c.close()
    held[1].close()
    assert len(env.sink.conns()) == 3


def test_max_sessions_per_ip(make_env):
    env = make_env(inbound={"max_sessions_per_ip": "2"})
    held = []
    for _ in range(2):
        kind, c = banner_or_close(env.port)
        assert kind == "banner", c
        held.append(c)
    kind, data = banner_or_close(env.port)
    assert kind == "closed"
    assert data == b"421 4.7.0 Too many connections from your address, try again later\r\n", data
    # Another address is not affected.
    kind, other = banner_or_close(env.port, source="127.0.0.2")
    assert kind == "banner", other
    expect(other.ehlo(), 250)
    other.close()
    time.sleep(0.3)
    assert len(env.sink.conns()) == 3, env.sink.dump()
    assert "127.0.0.2" not in env.sink.all_raw().decode("latin-1")
    for c in held:
        c.close()


# --------------------------------------------------------------------------
# Size and errors

@pytest.mark.parametrize("size,code", [
    ("10240", 250),
    ("10241", 552),
    ("18446744073709551615", 552),          # 2^64 - 1
    ("18446744073709551616", 552),          # 2^64: overflow
    ("99999999999999999999999999999999", 552),
], ids=["max", "max+1", "2^64-1", "2^64", "huge"])
def test_mail_size_declared(make_env, size, code):
    env = make_env(inbound={"max_message_size": "10240"})
    c = start(env)
    r = c.cmd("MAIL FROM:<a@x> SIZE=%s" % size)
    if code == 552:
        assert r.raw == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n", r
    else:
        expect(r, 250, "2.1.0")
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(), env.sink.dump()
    mails = [m for m in env.sink.commands(1) if m.startswith("MAIL")]
    assert mails == (["MAIL FROM:<a@x> SIZE=%s" % size] if code == 250 else []), mails


def body_of(n):
    """A well-formed body of exactly n >= 100 octets (CRLF lines)."""
    k = (n - 100) // 100
    body = (b"x" * 98 + b"\r\n") * k
    body += b"y" * (n - len(body) - 2) + b"\r\n"
    assert len(body) == n
    return body


@pytest.mark.parametrize("n,ok", [(10240, True), (10241, False), (300000, False)],
                         ids=["max", "max+1", "30x"])
def test_body_size_limit(make_env, n, ok):
    env = make_env(inbound={"max_message_size": "10240"})
    c = start(env, tls=True)
    to_data(c)
    body = body_of(n)
    c.send(body + b".\r\n")
    if ok:
        expect(c.reply(), 250, "2.0.0")
        expect(c.cmd("QUIT"), 221)
        assert env.sink.wait_closed(), env.sink.dump()
        assert env.sink.messages() == [body]
        return
    data = c.read_until_close()
    assert data == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n", data
    assert env.sink.wait_closed(), env.sink.dump()
    no_end_of_data(env.sink)


def test_too_many_errors(env):
    c = start(env)
    for i in range(19):
        c.send(b"NOOP\n")
        expect(c.reply(), 500, "5.5.2")
    # The error that reaches max_errors is answered, then 421 and close.
    c.send(b"NOOP\n")
    data = c.read_until_close()
    assert data == (b"500 5.5.2 Syntax error in command line\r\n"
                    b"421 4.7.0 Too many errors, closing connection\r\n"), data
    assert env.sink.wait_closed(), env.sink.dump()
    assert env.sink.commands(1) == ["EHLO client.example"]


def test_too_many_errors_pipelined(make_env):
    """25 bad lines and a MAIL in one send: 500 x max_errors, then 421
    and close; what follows is never forwarded."""
    env = make_env(global_keys={"max_errors": "5"})
    c = start(env)
    c.send(b"VRFY bad\rline\r\n" * 25 + b"MAIL FROM:<evil@x>\r\n")
    data = c.read_until_close()
    assert data == (b"500 5.5.2 Syntax error in command line\r\n" * 5 +
                    b"421 4.7.0 Too many errors, closing connection\r\n"), data
    assert env.sink.wait_closed(), env.sink.dump()
    assert b"evil" not in env.sink.all_raw()
    assert env.sink.commands(1) == ["EHLO client.example"]


# --------------------------------------------------------------------------
# Memory under load

def test_memory_pipelined_commands_unread(env):
    """10,000 NOOPs with 500-octet arguments (5 MB) pipelined without reading
    a reply: the proxy reads 64 commands at a time; all replies come, in
    order, once the client reads."""
    c = start(env)
    sampler = RssSampler(env.proxy.proc.pid)
    base = stplib.proc_rss_kib(env.proxy.proc.pid)
    cmd = b"NOOP " + b"n" * 494 + b"\r\n"
    assert len(cmd) == 501
    c.sock.settimeout(60)
    c.send(cmd * 10000)
    time.sleep(0.5)
    replies = 0
    c.sock.settimeout(30)
    while replies < 10000:
        r = c.reply()
        assert r.raw == b"250 2.0.0 Ok\r\n", (replies, r)
        replies += 1
    peak = sampler.stop()
    report("pipelined-10000-noop", base_kib=base, peak_kib=peak)
    assert c.nothing_within(0.2)
    expect(c.cmd("QUIT"), 221)
    assert env.sink.wait_closed(timeout=30), env.sink.dump()
    assert env.sink.commands(1).count("NOOP " + "n" * 494) == 10000
    assert peak < RSS_BOUND_KIB, (base, peak)


def stream_body(sock, seconds, sampler_pid, chunk_size=65536):
    """Sends body lines as fast as sock takes them for `seconds`; returns
    (total sent, [(t, sent)] progress, peak RSS KiB of sampler_pid)."""
    line = b"b" * 1022 + b"\r\n"
    chunk = line * (chunk_size // len(line))
    sock.setblocking(False)
    sent = 0
    progress = []
    peak = 0
    t0 = time.monotonic()
    next_sample = t0
    view = memoryview(chunk)
    off = 0
    limit = 1 << 30  # 1 GiB at most
    while sent < limit:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if now >= next_sample:
            progress.append((now - t0, sent))
            peak = max(peak, stplib.proc_rss_kib(sampler_pid))
            next_sample = now + 0.1
        _, w, _ = select.select([], [sock], [], 0.05)
        if not w:
            continue
        try:
            n = sock.send(view[off:])
        except BlockingIOError:
            continue
        sent += n
        off = (off + n) % len(chunk)
    progress.append((time.monotonic() - t0, sent))
    peak = max(peak, stplib.proc_rss_kib(sampler_pid))
    sock.setblocking(True)
    return sent, progress, peak


def sent_during(progress, t_from):
    """Bytes sent from time t_from to the end of progress."""
    before = [s for t, s in progress if t <= t_from]
    return progress[-1][1] - (before[-1] if before else 0)


def test_memory_huge_body_toward_slow_backend(make_env):
    """Up to 1 GiB of body toward a backend reading 256 KiB/s: the sender
    stalls (back-pressure through the kernel buffers and the proxy's 256 KiB
    write queue) and the proxy's RSS stays bounded."""
    rate = 256 * 1024
    env = make_env(slow_read=rate, global_keys={"shutdown_grace": "1s"})
    c = start(env)
    to_data(c)
    base = stplib.proc_rss_kib(env.proxy.proc.pid)
    sent, progress, peak = stream_body(c.sock, 7.0, env.proxy.proc.pid)
    received = len(env.sink.raw(1))
    late = sent_during(progress, 4.0)
    report("slow-backend-body", base_kib=base, peak_kib=peak, sent=sent,
           sink_received=received, sent_last_3s=late)
    c.close()  # vanish mid-body: nothing is delivered
    assert sent < 1 << 30
    # Stalled: over the last 3 s the sender moved at about the backend's
    # rate (256 KiB/s), not at loopback speed.
    assert late < 3 * rate + 8 * 1024 * 1024, (late, progress)
    assert sent - received < 64 * 1024 * 1024, (sent, received)
    assert peak < RSS_BOUND_KIB, (base, peak)
    # The sink still has megabytes to drain behind the proxy; its
    # end-of-data check after a vanished client is in test_faults.
    assert env.sink.messages() == []


class StallMX:
    """tests/tools/stall_mx.py, stopped by PID."""

    def __init__(self, workdir):
        self.err = open(os.path.join(workdir, "stall_mx.stderr"), "wb")
        self.proc = subprocess.Popen([stplib.PYTHON, STALL_MX, "--listen", "127.0.0.1:0",
                                      "--max-seconds", "120"],
                                     stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline()
        m = re.match(rb"ready (\S+):(\d+)", line)
        assert m, line
        self.port = int(m.group(2))

    def stop(self):
        stplib.stop_process(self.proc)
        self.proc.stdout.close()
        self.err.close()


def test_memory_outbound_upstream_never_reads(make_outproxy, workdir):
    mx = StallMX(workdir)
    try:
        px = make_outproxy([outbound(relay="127.0.0.1:%d" % mx.port, tls="none")])
        c = stplib.Client(px.port())
        expect(c.reply(), 220)
        expect(c.ehlo("legacy.example"), 250)
        to_data(c)
        base = stplib.proc_rss_kib(px.proc.pid)
        sent, progress, peak = stream_body(c.sock, 6.0, px.proc.pid)
        late = sent_during(progress, 3.0)
        report("outbound-upstream-never-reads", base_kib=base, peak_kib=peak, sent=sent,
               sent_last_3s=late)
        c.close()
        # The upstream reads nothing: after the buffers fill, nothing moves.
        assert late < 1024 * 1024, (late, progress)
        assert sent < 64 * 1024 * 1024, sent
        assert peak < RSS_BOUND_KIB, (base, peak)
    finally:
        mx.stop()


# --------------------------------------------------------------------------
# File descriptors

def test_fd_exhaustion_no_spin_existing_session_survives(make_env, make_proxy, make_sink):
    """Under a 40-descriptor limit the proxy fills up; new connections are
    closed or wait; the accept loop does not spin (CPU over 2 s well below
    a busy loop), an established session still delivers a message, and
    once sessions end new ones are served again."""
    sink = make_sink()
    lst = stplib.Listener("inbound", "starttls", sink.addr)
    px = make_proxy([lst], argv_prefix=["prlimit", "--nofile=40:40"])
    port = px.port()
    held = []
    refused = []
    extra = []
    try:
        for i in range(40):
            try:
                c = stplib.Client(port, timeout=1.0)
            except OSError as e:
                refused.append(repr(e))
                break
            try:
                r = c.reply()
            except (socket.timeout, stplib.Closed) as e:
                extra.append(c)   # waiting in the backlog, or closed
                refused.append(repr(e))
                if len(refused) >= 3:
                    break
                continue
            if r.code != 220:
                refused.append(r.raw)
                c.close()
                if len(refused) >= 3:
                    break
                continue
            held.append(c)
        assert refused, "40 sessions under a 40-descriptor limit?"
        assert len(held) >= 3, (len(held), refused)
        # Saturated: more connections queue up while we measure.
        for _ in range(5):
            try:
                extra.append(stplib.Client(port, timeout=1.0))
            except OSError:
                break
        pid = px.proc.pid
        cpu0, t0 = stplib.proc_cpu_seconds(pid), time.monotonic()
        time.sleep(2.0)
        cpu1, t1 = stplib.proc_cpu_seconds(pid), time.monotonic()
        ratio = (cpu1 - cpu0) / (t1 - t0)
        report("emfile", sessions=len(held), cpu_ratio="%.3f" % ratio,
               refused=len(refused))
        assert ratio < 0.5, ratio
        assert px.proc.poll() is None
        # An established session still works end to end.
        c = held[0]
        c.sock.settimeout(10)
        expect(c.ehlo(), 250)
        to_data(c)
        c.send(b"Subject: under EMFILE\r\n\r\nstill delivered\r\n.\r\n")
        expect(c.reply(), 250, "2.0.0")
        expect(c.cmd("QUIT"), 221)
        held.pop(0).close()
        assert b"Subject: under EMFILE\r\n\r\nstill delivered\r\n" in sink.messages()
        # Free everything; the proxy serves again.
        for c in held + extra:
            c.close()
        held, extra = [], []
        deadline = time.monotonic() + 10
        while True:
            kind, c = banner_or_close(port, timeout=2)
            if kind == "banner":
                break
            assert time.monotonic() < deadline, c
            time.sleep(0.2)
        expect(c.cmd("QUIT"), 221)
        c.close()
    finally:
        for c in held + extra:
            c.close()
