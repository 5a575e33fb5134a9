"""Helpers for the outbound end-to-end tests: the scripted MX (tests/tools/
mx.py), an outbound proxy launcher, a test PKI for the name "localhost", a
client that keeps every byte it saw, and pytest fixtures built on them.

stplib.Proxy writes inbound sections only, so OutProxy writes its own ini.
OutProxy and MX subclass stplib.Proxy and stplib.Sink for one reason: the
failure report hook in conftest.py attaches the config, stderr and peer
logs of every object of those classes to a failed test's report.

Everything started here is stopped by PID; processes may run inside a
network namespace (netns=NAME), started through "ip netns exec", which
execs the program so that the PID is the program's own.
"""

import contextlib
import glob
import shutil
import json
import os
import re
import subprocess
import time

import pytest

import stplib

MX_SCRIPT = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "mx.py")
NETNS = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "netns.sh")
PFX = os.path.join(stplib.SOURCE_DIR, "tests", "tools", "pfx-instance.sh")


def ns_prefix(netns):
    return ["ip", "netns", "exec", netns] if netns else []


# --------------------------------------------------------------------------
# Proxy log lines: "ts=... level=info event=NAME key=value key="quoted \"v\"""

# --------------------------------------------------------------------------
# Test PKI for the name "localhost" beside the session PKI of mkcerts.sh

def make_localhost_pki(certs, d):
    """Leaves in d, for name localhost: lh-expired.pem/.key (signed by the
    test CA of certs/, valid 2000-2001 only) and lh-selfsigned.pem/.key
    (self-signed, not from the CA). Returns d."""
    os.makedirs(d, exist_ok=True)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, timeout=60, cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    if not os.path.exists(os.path.join(d, "lh-expired.pem")):
        ossl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
             "-out", "lh-expired.key")
        ossl("req", "-new", "-key", "lh-expired.key", "-subj", "/CN=localhost",
             "-out", "lh-expired.csr")
        os.makedirs(os.path.join(d, "ca.db"), exist_ok=True)
        open(os.path.join(d, "ca.db", "index.txt"), "w").close()
        with open(os.path.join(d, "ca.db", "serial"), "w") as f:
            f.write("%024x\n" % int.from_bytes(os.urandom(12), "big"))
        with open(os.path.join(d, "ca.db", "ca.cnf"), "w") as f:
            f.write("[ ca ]\ndefault_ca = test_ca\n[ test_ca ]\n"
                    "database = ca.db/index.txt\nnew_certs_dir = ca.db\n"
                    "serial = ca.db/serial\ncertificate = %s\nprivate_key = %s\n"
                    "default_md = sha256\npolicy = any\nunique_subject = no\n"
                    "[ any ]\ncommonName = supplied\n"
                    % (os.path.join(certs, "ca.pem"), os.path.join(certs, "ca.key")))
        with open(os.path.join(d, "lh.ext"), "w") as f:
            f.write("basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature, keyEncipherment\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = DNS:localhost\n")
        ossl("ca", "-batch", "-config", "ca.db/ca.cnf", "-notext",
             "-startdate", "20000101000000Z", "-enddate", "20010101000000Z",
             "-extfile", "lh.ext", "-in", "lh-expired.csr", "-out", "lh-expired.pem")
    if not os.path.exists(os.path.join(d, "lh-selfsigned.pem")):
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
             "-addext", "basicConstraints=critical,CA:FALSE",
             "-keyout", "lh-selfsigned.key", "-out", "lh-selfsigned.pem")
    return d


# --------------------------------------------------------------------------
# The scripted MX

class MX(stplib.Sink):
    """A running mx.py. dir holds conn-N.log/.plain.raw/.tls.raw and
    msg-M.eml/.json/.tls."""

    KIND = "mx"

    def __init__(self, workdir, cert, key, name="mx", mode="normal", dribble=0,
                 listen="127.0.0.1:0", netns=None, extra=()):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        argv = ns_prefix(netns) + [
            stplib.PYTHON, MX_SCRIPT, "--listen", listen, "--dir", self.dir,
            "--cert", cert, "--key", key, "--mode", mode, "--max-seconds", "600"]
        if dribble:
            argv += ["--dribble", str(dribble)]
        argv += list(extra)
        self.start(argv, workdir, name)
        self.addr = "%s:%d" % (self.host, self.port)

    # -- what the MX recorded -----------------------------------------
    def conns(self):
        ns = []
        for p in glob.glob(os.path.join(self.dir, "conn-*.log")):
            ns.append(int(re.search(r"conn-(\d+)\.log$", p).group(1)))
        return sorted(ns)

    def raw(self, n, phase="plain"):
        try:
            with open(os.path.join(self.dir, "conn-%d.%s.raw" % (n, phase)), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def all_raw(self):
        return b"".join(self.raw(n, ph) for n in self.conns() for ph in ("plain", "tls"))

    def commands(self, n, phase=None):
        """Commands received on connection n: list of (phase, line)."""
        out = []
        for l in self.log(n).splitlines():
            m = re.match(r"^(plain|tls) C: (.*)$", l)
            if m and (phase is None or m.group(1) == phase):
                out.append((m.group(1), m.group(2)))
        return out

    def verbs(self, n, phase=None):
        return [line.split(" ")[0].upper() for _, line in self.commands(n, phase)]

    def all_commands(self, phase=None):
        return [c for n in self.conns() for c in self.commands(n, phase)]

    def meta(self, m):
        with open(os.path.join(self.dir, "msg-%d.json" % m)) as f:
            return json.load(f)



# --------------------------------------------------------------------------
# The outbound proxy

def outbound(name="outbound", mode="relay", relay=None, tls="may", listen=None, **keys):
    """One [outbound] or [outbound:NAME] section as (name, {key: value}).
    listen defaults to a free port on 127.0.0.1."""
    kv = {"listen": listen or "127.0.0.1:%d" % stplib.free_port(), "mode": mode}
    if relay is not None:
        kv["relay"] = relay
    kv["tls"] = tls
    # mx.py marks which leg answered EHLO with these keywords; the EHLO
    # allowlist removes unknown ones unless the listener lets them through.
    kv["allow_commands"] = "X-PLAIN-ONLY X-TLS-ONLY"
    kv.update(keys)
    return ("outbound" if name == "outbound" else name, kv)


def policy(domain, tls, match=None):
    kv = {"tls": tls}
    if match is not None:
        kv["match"] = match
    return ("policy:" + domain, kv)


class OutProxy(stplib.Proxy):
    """The starttls-proxy binary on an ini written from sections, a list of
    (section name, {key: value}) as made by outbound() and policy()."""

    def __init__(self, workdir, sections, global_keys=None, name="proxy", netns=None):
        self.workdir = workdir
        self.sections = sections
        g = {"log_level": "debug", "idle_timeout": "60s", "handshake_timeout": "10s",
             "connect_timeout": "5s"}
        g.update(global_keys or {})
        lines = ["[global]"] + ["%s = %s" % kv for kv in g.items()]
        for sname, kv in sections:
            lines += ["", "[%s]" % sname] + ["%s = %s" % item for item in kv.items()]
        self.config = os.path.join(workdir, name + ".ini")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.errpath = os.path.join(workdir, name + ".stderr")
        self.err = open(self.errpath, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        # STP_WRAPPER (valgrind) as for stplib.Proxy: "ip netns exec" execs
        # the wrapper, which runs the proxy.
        self.proc = subprocess.Popen(ns_prefix(netns) + stplib.WRAPPER +
                                     [stplib.BINARY, "-c", self.config],
                                     stdin=subprocess.DEVNULL, stdout=self.err,
                                     stderr=self.err, cwd=workdir, env=env)
        listens = [kv["listen"].rsplit(":", 1) for s, kv in sections
                   if s.startswith("outbound") or s.startswith("inbound")]
        deadline = time.monotonic() + stplib.START_TIMEOUT
        while not all(stplib.listening(int(p), h, pid=self.proc.pid) for h, p in listens):
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited with %s before listening:\n%s\n%s" % (
                    self.proc.returncode, self.config_text(), self.stderr()))
            if time.monotonic() > deadline:
                raise RuntimeError("proxy not listening after %ss:\n%s" % (
                    stplib.START_TIMEOUT, self.stderr()))
            time.sleep(0.02)

    def port(self, name="outbound"):
        for sname, kv in self.sections:
            if sname == name:
                return int(kv["listen"].rsplit(":", 1)[1])
        raise KeyError(name)



# --------------------------------------------------------------------------
# The legacy client: a stplib.Client that keeps every byte it received

class LegacyClient(stplib.Client):
    def __init__(self, port, host="127.0.0.1", timeout=stplib.IO_TIMEOUT):
        super().__init__(port, host, timeout)
        self.seen = b""

    def _fill(self):
        n = len(self.buf)
        try:
            super()._fill()
        finally:
            self.seen += self.buf[n:]

    def data(self, message):
        """DATA, the dot-stuffed message and the end-of-data; returns the
        reply to DATA and the reply to the end (None if DATA was refused)."""
        r = self.cmd("DATA")
        if r.code != 354:
            return r, None
        self.send(dot_stuff(message) + b".\r\n")
        return r, self.reply()


def dot_stuff(message):
    """message (CRLF lines, ending in CRLF) -> its DATA form without the
    terminating ".\\r\\n"."""
    assert message.endswith(b"\r\n")
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n"
                    for l in message[:-2].split(b"\r\n"))


# --------------------------------------------------------------------------
# Fixtures (import them into a test module to use them)

def _track(request, obj):
    if not hasattr(request.node, "stp_objects"):
        request.node.stp_objects = []
    request.node.stp_objects.append(obj)


@pytest.fixture(scope="session")
def lhcerts(certs, tmp_path_factory):
    """Directory with lh-expired and lh-selfsigned for name localhost."""
    return make_localhost_pki(certs, str(tmp_path_factory.mktemp("lhcerts")))


@pytest.fixture
def make_mx(request, workdir, certs):
    """factory(cert="server", mode="normal", dribble=0, certdir=certs,
    listen=..., netns=None) -> MX; cert is a base name (NAME.pem/NAME.key)."""
    mxs = []

    def factory(cert="server", mode="normal", dribble=0, certdir=None, **kw):
        d = certdir or certs
        m = MX(workdir, os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"),
               name="mx%d" % len(mxs), mode=mode, dribble=dribble, **kw)
        mxs.append(m)
        _track(request, m)
        return m

    yield factory
    for m in mxs:
        m.stop()


@pytest.fixture
def make_outproxy(request, workdir):
    """factory(sections, global_keys=None, netns=None) -> OutProxy. A proxy
    that died or printed a sanitizer report fails the test at teardown."""
    proxies = []

    def factory(sections, global_keys=None, netns=None):
        p = OutProxy(workdir, sections, global_keys=global_keys,
                     name="proxy%d" % len(proxies), netns=netns)
        proxies.append(p)
        _track(request, p)
        return p

    yield factory
    stplib.stop_proxies(proxies)


# --------------------------------------------------------------------------
# Network namespaces for transparent mode (tests/tools/netns.sh)

_netns_seq = [0]


@contextlib.contextmanager
def netns_up():
    """(pod, inet): two namespaces made by netns.sh for this block, deleted
    after it (stop the processes in them first). Skips without root or
    without namespace support."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed: cannot build the namespaces" % tool)
    _netns_seq[0] += 1
    tag = "stp%d%s" % (os.getpid(), "" if _netns_seq[0] == 1 else "n%d" % _netns_seq[0])
    pod, inet = tag + "p", tag + "i"
    probe = stplib.run(["ip", "netns", "add", tag + "x"], timeout=30)
    if probe.returncode != 0:
        pytest.skip("cannot create network namespaces here: %s" % probe.stderr.strip())
    stplib.run(["ip", "netns", "del", tag + "x"], timeout=30)
    r = stplib.run(["bash", NETNS, "up", pod, inet], timeout=60)
    try:
        assert r.returncode == 0, "netns.sh up failed:\n%s%s" % (r.stdout, r.stderr)
        yield pod, inet
    finally:
        stplib.run(["bash", NETNS, "down", pod, inet], timeout=60)
        left = stplib.run(["ip", "netns", "list"], timeout=30).stdout
        assert pod + " " not in left + " " and inet + " " not in left + " ", left


@pytest.fixture
def netns_pair():
    """(pod, inet) namespace names, created for this test and deleted at
    teardown (after the processes in them: request this fixture first)."""
    with netns_up() as pair:
        yield pair
