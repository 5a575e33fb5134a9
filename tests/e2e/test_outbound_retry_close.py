"""The outbound plaintext retry frees its session on every path.

The retry (tls = may, after a failed handshake) replaces the server leg;
the old leg's close must count like any other handle's. libuv runs close
callbacks last-closed-first, so when the session is torn down without
linger in the retry's own loop turn, the old leg's callback is the last
one: it must free the session. Before, it only decremented the count, and
such a session stayed for ever (max_sessions = 1 then refused everyone).

No peer can make that turn happen on demand (it needs the legacy client to
fail in the very loop turn of the retry), so the proxy runs under gdb,
which closes the session there: a breakpoint on session_pump (run right
after the retry) calls session_close(s, CR_CLIENT_ERROR, ..., 0) once.
"""

import os
import shutil
import signal
import time

import pytest

import stplib
from outlib import make_mx, make_outproxy, outbound  # noqa: F401

GDB_SCRIPT = """set pagination off
set confirm off
set $stp_done = 0
break session_pump if s->retried && s->state == SS_CONNECT && $stp_done == 0
commands
silent
set $stp_done = 1
call (void)session_close(s, CR_CLIENT_ERROR, "client error in the retry's turn", 0)
continue
end
run
"""


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


@pytest.fixture
def under_gdb(monkeypatch, workdir):
    if not shutil.which("gdb"):
        pytest.skip("gdb is not installed")
    cmds = os.path.join(workdir, "gdb.cmd")
    with open(cmds, "w") as f:
        f.write(GDB_SCRIPT)
    monkeypatch.setattr(stplib, "WRAPPER", ["gdb", "-q", "-batch", "-x", cmds, "--args"])
    started = []
    yield started
    # gdb's inferior first, by its PID: killing gdb alone could leave it.
    for px in started:
        for pid in children(px.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_session_freed_when_torn_down_in_the_retry_turn(under_gdb, make_mx, make_outproxy):
    mx = make_mx(mode="abort-handshake")
    px = make_outproxy([outbound(relay="127.0.0.1:%d" % mx.port, tls="may")],
                       global_keys={"max_sessions": "1", "workers": "1",
                                    "shutdown_grace": "1s"})
    under_gdb.append(px)
    if "ptrace" in px.stderr().lower() and "not permitted" in px.stderr().lower():
        pytest.skip("gdb cannot trace here")
    c = stplib.Client(px.port())
    assert c.reply().code == 220
    c.send("EHLO legacy.example\r\n")
    c.read_until_close(timeout=20)
    c.close()
    px.wait_event("session_close", reason="client error in the retry's turn", timeout=20)
    assert px.events("tls_fallback"), px.stderr()
    # The session is gone: max_sessions = 1 lets the next one in.
    deadline = time.monotonic() + 10
    while True:
        d = stplib.Client(px.port())
        r = d.reply()
        d.close()
        if r.code == 220 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.code == 220, (r, px.stderr()[-3000:])
