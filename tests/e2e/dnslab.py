"""DNS and DANE helpers for the end-to-end tests of authenticated delivery
(DANE, MTA-STS): a scripted resolver, a real DNSSEC chain, the DANE PKI.

    fake_dns(tmpdir, zone_text, secure=[...], servfail=[...], silent=[...],
             truncate=[...], delay={...})
        context manager -> FakeDNS; unpacks as (host, port, control, queries):
        control is the FakeDNS itself (set_zone, set_lists), queries its
        queries() method. tests/tools/fakedns.py documents the behaviour.
    dnssec_lab(tmpdir, tlsa={"mx1": ["3 1 1 HEX"]}, mx_addrs={"mx1": ADDR},
               sts_id=..., sts_addr=..., extra={zone: lines})
        context manager -> ResolverLab; unpacks as (host, port) of the
        validating unbound (tests/tools/dnssec_lab.py).
    dane_certs(tmpdir) -> DaneCerts: the files of tests/tools/danecerts.py
        and tlsa(name, usage, selector, mtype) for their TLSA data.
    query(host, port, name, qtype, tcp=False, cd=False, do=True, timeout=2)
        one query with dnslib: the parsed reply, or None on timeout.

Pytest fixtures (import them into a test module to use them):
    dane_pki       session-wide DaneCerts
    make_fake_dns  factory(zone_text, **lists) -> FakeDNS, stopped at teardown

Loopback only; every process is a child started here and stopped by PID
(stplib.stop_process), also when the with-block raises; each also gets
SIGTERM if the test process dies (PR_SET_PDEATHSIG: start them from the
thread that outlives them, normally the main one).
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest

import stplib

TOOLS = os.path.join(stplib.SOURCE_DIR, "tests", "tools")
FAKEDNS = os.path.join(TOOLS, "fakedns.py")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import danecerts  # noqa: E402  (tests/tools)
import dnssec_lab as _dnssec_lab  # noqa: E402

LISTS = ("secure", "servfail", "silent", "truncate")


def query(host, port, name, qtype, tcp=False, cd=False, do=True, timeout=2.0):
    """One query from dnslib (RD set; EDNS0 with DO unless do=False); the
    parsed reply, or None if nothing came within timeout."""
    from dnslib import DNSRecord, EDNS0
    q = DNSRecord.question(name, qtype)
    if do:
        q.add_ar(EDNS0(flags="do", udp_len=4096))
    q.header.cd = 1 if cd else 0
    try:
        return DNSRecord.parse(q.send(host, port, tcp=tcp, timeout=timeout))
    except (socket.timeout, ConnectionError):
        return None


def drill(host, port, name, qtype, *opts):
    """drill's output (ldnsutils) for one query: an independent client."""
    r = subprocess.run(["drill", "-p", str(port)] + list(opts) + ["@" + host, name, qtype],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
                       universal_newlines=True)
    return r.stdout


def _atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class FakeDNS:
    """A running tests/tools/fakedns.py. host, port; zone_path,
    control_path, log_path in dir."""

    def __init__(self, workdir, zone_text, name="fakedns", host="127.0.0.1", netns=None,
                 **lists):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.zone_path = os.path.join(self.dir, "zone")
        self.control_path = os.path.join(self.dir, "control.json")
        self.log_path = os.path.join(self.dir, "queries.log")
        self.ready_path = os.path.join(self.dir, "ready")
        self.errpath = os.path.join(self.dir, "stderr")
        _atomic_write(self.zone_path, zone_text)
        self.lists = {k: list(lists.get(k) or []) for k in LISTS}
        self.delay = dict(lists.get("delay") or {})
        self._write_control()
        # netns: run inside a network namespace ("ip netns exec" execs the
        # program, so the PID is fakedns's own); its 127.0.0.1 is then the
        # namespace's loopback.
        argv = (["ip", "netns", "exec", netns] if netns else []) + [
                stplib.PYTHON, FAKEDNS, "--listen", host + ":0", "--zone", self.zone_path,
                "--control", self.control_path, "--log", self.log_path,
                "--ready-file", self.ready_path, "--max-seconds", "600"]
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err,
                                     preexec_fn=_dnssec_lab._die_with_parent)
        deadline = time.monotonic() + stplib.START_TIMEOUT
        while not os.path.exists(self.ready_path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("fakedns did not start: %s" % self.stderr())
            time.sleep(0.02)
        with open(self.ready_path) as f:
            addr = f.read().split()[1]
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)

    def __iter__(self):
        return iter((self.host, self.port, self, self.queries))

    # -- control -------------------------------------------------------
    def _write_control(self):
        ctl = dict(self.lists)
        ctl["delay"] = self.delay
        _atomic_write(self.control_path, json.dumps(ctl))

    def set_zone(self, zone_text):
        """New zone contents, used from the next query on."""
        _atomic_write(self.zone_path, zone_text)

    def set_lists(self, **kw):
        """Replaces the given lists (secure, servfail, silent, truncate:
        names, "NAME" or "NAME/TYPE"; delay: {name: seconds}); the others
        stay. Used from the next query on."""
        for k, v in kw.items():
            if k == "delay":
                self.delay = dict(v)
            elif k in LISTS:
                self.lists[k] = list(v)
            else:
                raise TypeError("unknown list %r" % k)
        self._write_control()

    # -- what was asked ------------------------------------------------
    def queries(self):
        """[(proto, name, type), ...] in the order received; name lower-case
        with the final dot, type as text ("TLSA")."""
        try:
            with open(self.log_path) as f:
                return [tuple(line.split()) for line in f if line.strip()]
        except OSError:
            return []

    def query(self, name, qtype, **kw):
        return query(self.host, self.port, name, qtype, **kw)

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        stplib.stop_process(self.proc)
        self.err.close()


@contextlib.contextmanager
def fake_dns(tmpdir, zone_text, secure=(), servfail=(), silent=(), truncate=(), delay=None,
             name="fakedns", netns=None):
    d = FakeDNS(str(tmpdir), zone_text, name=name, secure=secure, servfail=servfail,
                silent=silent, truncate=truncate, delay=delay, netns=netns)
    try:
        yield d
    finally:
        d.stop()


class ResolverLab:
    """A running dnssec_lab.Lab: host, port (unbound), lab (the Lab: its
    dir, nsd_port, zone_text(zone))."""

    def __init__(self, lab):
        self.lab = lab
        self.host = lab.host
        self.port = lab.port
        self.dir = lab.dir

    def __iter__(self):
        return iter((self.host, self.port))

    def query(self, name, qtype, **kw):
        return query(self.host, self.port, name, qtype, **kw)


@contextlib.contextmanager
def dnssec_lab(tmpdir, tlsa=None, mx_addrs=None, sts_id="20261201T000000",
               sts_addr="127.0.0.1", extra=None, name="dnssec-lab", tlsa_port=25):
    """lab.test (signed), bad.test (signed, TLSA forged), plain.test
    (unsigned), each with MX -> the hosts of mx_addrs ({label: IPv4},
    default {"mx1": "127.0.0.1"}) and TLSA records tlsa ({label: [rdata]},
    at _25._tcp.LABEL.ZONE)."""
    d = os.path.join(str(tmpdir), name)
    lab = _dnssec_lab.Lab(d, hosts=mx_addrs, tlsa=tlsa, sts_id=sts_id, sts_addr=sts_addr,
                          extra=extra, tlsa_port=tlsa_port)
    lab.start()
    try:
        yield ResolverLab(lab)
    finally:
        lab.stop()


class DaneCerts:
    """The files of tests/tools/danecerts.py in dir: path("mx1.pem"),
    attributes ca, int, mx1, other, expired, wrongname, sts (certificate
    paths; X_key, X_chain too where they exist)."""

    def __init__(self, d):
        self.dir = danecerts.make(d)
        self.files = danecerts.files(self.dir)
        for fname, p in self.files.items():
            setattr(self, fname.replace(".pem", "").replace("-chain", "_chain")
                    .replace(".key", "_key"), p)

    def path(self, fname):
        return self.files[fname]

    def tlsa(self, name, usage, selector, mtype):
        """'U S M HEX' for certificate name ("mx1", "ca", ...)."""
        return danecerts.tlsa_rdata(self.files[name + ".pem"], usage, selector, mtype)

    def tlsa_data(self, name, selector, mtype):
        return danecerts.tlsa_data(self.files[name + ".pem"], selector, mtype)


def dane_certs(tmpdir):
    return DaneCerts(os.path.join(str(tmpdir), "dane-certs"))


@pytest.fixture(scope="session")
def dane_pki(tmp_path_factory):
    return DaneCerts(str(tmp_path_factory.mktemp("dane-certs")))


@pytest.fixture
def make_fake_dns(tmp_path):
    started = []

    def factory(zone_text, **lists):
        lists.setdefault("name", "fakedns%d" % len(started))
        d = FakeDNS(str(tmp_path), zone_text, **lists)
        started.append(d)
        return d

    yield factory
    for d in started:
        d.stop()
