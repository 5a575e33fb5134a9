"""pytest fixtures for the end-to-end tests.

certs          session-wide test PKI (tests/tools/mkcerts.sh)
make_sink      factory: start a recording sink (tests/tools/sink.py)
make_proxy     factory: write an ini and start the proxy binary (STP_BINARY)
env            a sink plus a proxy with a STARTTLS listener "inbound" and an
               implicit-TLS listener "inbound:smtps" in front of it

Every process is stopped by PID on teardown. When a test fails, the proxy's
stderr and the sink's per-connection logs are attached to the report; a proxy
that died or printed a sanitizer report fails the test at teardown.
"""

import os
import subprocess

import pytest

import stplib


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for obj in getattr(item, "stp_objects", []):
            if isinstance(obj, stplib.Proxy):
                rep.sections.append(("proxy config " + obj.config, obj.config_text()))
                rep.sections.append(("proxy stderr", obj.stderr()[-20000:]))
            elif isinstance(obj, stplib.Sink):
                rep.sections.append(("sink " + obj.dir, obj.dump()[-20000:]))


def _track(request, obj):
    if not hasattr(request.node, "stp_objects"):
        request.node.stp_objects = []
    request.node.stp_objects.append(obj)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("certs"))
    subprocess.run(["bash", stplib.MKCERTS, d], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    return d


@pytest.fixture(scope="session", autouse=True)
def _binary_present():
    if not os.access(stplib.BINARY, os.X_OK):
        pytest.fail("proxy binary %s missing (set STP_BINARY or build first)" % stplib.BINARY,
                    pytrace=False)


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


@pytest.fixture
def make_sink(request, workdir):
    sinks = []

    def factory(**kw):
        kw.setdefault("name", "sink%d" % len(sinks))
        s = stplib.Sink(workdir, **kw)
        sinks.append(s)
        _track(request, s)
        return s

    yield factory
    for s in sinks:
        s.stop()


@pytest.fixture
def make_proxy(request, workdir, certs):
    proxies = []

    def factory(listeners, global_keys=None, certpairs=None, argv_prefix=None, extra=""):
        p = stplib.Proxy(workdir, certs, listeners,
                         global_keys=global_keys, certpairs=certpairs,
                         name="proxy%d" % len(proxies), argv_prefix=argv_prefix,
                         extra=extra)
        proxies.append(p)
        _track(request, p)
        return p

    yield factory
    stplib.stop_proxies(proxies)


class Env:
    """A sink behind a proxy: .sink, .proxy, .port (STARTTLS), .smtps_port
    (implicit TLS), .certs, and .ctx() for a client SSLContext."""

    def __init__(self, sink, proxy, certs):
        self.sink = sink
        self.proxy = proxy
        self.certs = certs
        self.port = proxy.port("inbound")
        self.smtps_port = proxy.port("inbound:smtps")

    def ctx(self, **kw):
        return stplib.client_context(self.certs, **kw)

    def client(self, port=None):
        return stplib.Client(port or self.port)


@pytest.fixture
def make_env(make_sink, make_proxy, certs):
    """factory(sink options..., inbound={extra keys}, global_keys={...})"""

    def factory(inbound=None, global_keys=None, certpairs=None, **sink_kw):
        sink = make_sink(**sink_kw)
        inbound = inbound or {}
        proxy = make_proxy([
            stplib.Listener("inbound", "starttls", sink.addr, **inbound),
            stplib.Listener("inbound:smtps", "implicit", sink.addr, **inbound),
        ], global_keys=global_keys, certpairs=certpairs)
        return Env(sink, proxy, certs)

    return factory


@pytest.fixture
def env(make_env):
    return make_env()
