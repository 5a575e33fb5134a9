"""workers = 2: two event loops with their own SO_REUSEPORT listeners serve
concurrent sessions; session ids in the logs start with the worker number
("00", "01"); /metrics sums both workers' counters.
"""

import os
import sys
import threading
import time

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import (http_get, message, ops_proxy, scrape, send_message,  # noqa: E402,F401
                    wait_metric)

SESSIONS = 40


def test_two_workers_serve_concurrent_sessions(make_sink, ops_proxy, certs):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "starttls", sink.addr)],
                      global_keys={"workers": "2"})
    port = proxy.port()
    assert scrape(proxy.admin_port).get("stp_workers") == 2
    ctx = stplib.client_context(certs)
    # Every client greets, then waits until all are connected, so that the
    # sessions are open at the same time.
    barrier = threading.Barrier(SESSIONS, timeout=30)
    errors = []
    lock = threading.Lock()

    def one(n):
        try:
            with stplib.Client(port, timeout=30) as c:
                assert c.reply().code == 220
                assert c.ehlo().code == 250
                barrier.wait()
                c.starttls(ctx)
                assert c.ehlo().code == 250
                r = send_message(c, message(n, "workers"))
                assert r.code == 250, r
                assert c.cmd("QUIT").code == 221
        except Exception as e:  # reported below, with the others
            with lock:
                errors.append("session %d: %s: %s" % (n, type(e).__name__, e))
            barrier.abort()

    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(SESSIONS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, 90 - (time.monotonic() - t0)))
    assert not any(t.is_alive() for t in threads), "sessions still running after 90 s"
    assert errors == [], errors[:10]

    assert sink.wait_closed(min_conns=SESSIONS)
    assert sorted(sink.messages()) == sorted(message(n, "workers") for n in range(SESSIONS))

    opened = [e["session"] for e in proxy.wait_event("session_open", count=SESSIONS)]
    assert len(opened) == SESSIONS, opened
    by_worker = {}
    for sid in opened:
        by_worker[sid[:2]] = by_worker.get(sid[:2], 0) + 1
    assert set(by_worker) == {"00", "01"}, by_worker
    # A session never moves: its close line carries the same id.
    closed = {e["session"] for e in proxy.wait_event("session_close", count=SESSIONS)}
    assert closed == set(opened)

    m = wait_metric(proxy.admin_port, "stp_sessions_ended_total", SESSIONS,
                    listener="inbound")
    assert m.get("stp_sessions_started_total", listener="inbound") == SESSIONS
    assert m.get("stp_messages_total", listener="inbound") == SESSIONS
    assert m.get("stp_starttls_total", listener="inbound", event="succeeded") == SESSIONS
    assert m.get("stp_sessions_active", listener="inbound") == 0
    assert m.get("stp_workers") == 2
    assert http_get(proxy.admin_port, "/healthz").status == 200
