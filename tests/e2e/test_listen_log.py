"""The listening lines name the port as well as the address: with a
wildcard or several listeners on one address, the address alone does not
say which socket is up."""

import os
import sys

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
from opslib import ops_proxy  # noqa: E402,F401


def test_listening_lines_name_the_port(make_sink, ops_proxy):
    sink = make_sink()
    proxy = ops_proxy([stplib.Listener("inbound", "starttls", sink.addr),
                       stplib.Listener("inbound:b", "off", sink.addr)])
    proxy.wait_event("listening", count=2)
    got = {(e["listener"], e["address"], e.get("port")) for e in proxy.events("listening")}
    assert got == {("inbound", "127.0.0.1", str(proxy.port("inbound"))),
                   ("inbound:b", "127.0.0.1", str(proxy.port("inbound:b")))}, got
    proxy.wait_event("admin_listening")
    a = proxy.events("admin_listening")[0]
    assert (a["address"], a.get("port")) == ("127.0.0.1", str(proxy.admin_port)), a
