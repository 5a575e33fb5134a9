"""Helpers for the end-to-end tests: the recording sink, the proxy process,
and a scripted SMTP client that sees every byte.

Everything listens on 127.0.0.1 only and every process started here is
stopped by PID (terminate, wait, kill) in stop().
"""

import collections
import glob
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.abspath(os.environ.get("STP_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE)))
BINARY = os.path.abspath(os.environ.get("STP_BINARY")
                         or os.path.join(SOURCE_DIR, "build", "starttls-proxy"))
SINK = os.path.join(SOURCE_DIR, "tests", "tools", "sink.py")
MKCERTS = os.path.join(SOURCE_DIR, "tests", "tools", "mkcerts.sh")
PYTHON = "/usr/bin/python3"

# Under ASan+UBSan everything is a few times slower; these bounds stay generous
# without letting a hung peer stall ctest.
START_TIMEOUT = 20.0
IO_TIMEOUT = 15.0

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")

# STP_WRAPPER runs the proxy under a tool, e.g. the documented valgrind run:
#   STP_WRAPPER="valgrind --error-exitcode=99 --leak-check=full" ctest -L e2e
# A valgrind report of errors or definite leaks fails the test at teardown.
WRAPPER = os.environ.get("STP_WRAPPER", "").split()
VALGRIND_MARKS = re.compile(r"ERROR SUMMARY: [1-9]|definitely lost: [1-9]")


_recent_ports = collections.deque(maxlen=64)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not
    one of the last 64 handed out in this process (the kernel may offer a
    just-closed port again: two listeners of one proxy once got the same)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _recent_ports:
            _recent_ports.append(port)
            return port
    raise RuntimeError("no fresh port")


_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """One text log line -> dict of its fields (quotes and escapes removed)."""
    out = {}
    for k, v in _KV.findall(line):
        if v.startswith('"'):
            v = re.sub(r'\\(.)', r'\1', v[1:-1])
        out[k] = v
    return out


def listening(port, host="127.0.0.1", pid=None):
    """True when a socket listens on host:port (read from /proc, without
    connecting: a probe connection would reach the backend and show up in the
    sink's records); with pid, in that process's network namespace. host
    may be "*", an IPv6 address, or one in brackets."""
    host = host.strip("[]")
    host = "0.0.0.0" if host == "*" else host
    v6 = ":" in host
    raw = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, host)
    # /proc prints each 32-bit word of the address in host (little-endian) order.
    want = "%s:%04X" % ("".join("%08X" % int.from_bytes(raw[i:i + 4], "little")
                                for i in range(0, len(raw), 4)), port)
    name = "tcp6" if v6 else "tcp"
    path = "/proc/net/" + name if pid is None else "/proc/%d/net/%s" % (pid, name)
    try:
        with open(path) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1] == want and fields[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def stop_process(proc, grace=10.0):
    """Stops one process we started, by its PID: SIGTERM, wait, SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


# --------------------------------------------------------------------------
# The recording sink (tests/tools/sink.py)

class Sink:
    """A running sink.py. dir holds conn-N.raw/.log and msg-N.eml."""

    KIND = "sink"  # in failure output; peers built on this class rename it

    def __init__(self, workdir, name="sink", ehlo=None, fault=None, dribble=0, banner=None,
                 lenient_eod=False, slow_read=0, proxy_protocol=False, xclient=None,
                 delay_354=0, refuse_second_ehlo=False, parse=None):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        argv = [PYTHON, SINK, "--listen", "127.0.0.1:0", "--dir", self.dir,
                "--max-seconds", "600"]
        if ehlo is not None:
            argv += ["--ehlo", ehlo]
        if fault:
            argv += ["--fault", fault]
        if dribble:
            argv += ["--dribble", str(dribble)]
        if banner is not None:
            argv += ["--banner", banner]
        if lenient_eod:
            argv += ["--lenient-eod"]
        if slow_read:
            argv += ["--slow-read", str(slow_read)]
        if proxy_protocol:
            argv += ["--proxy-protocol"]
        if xclient:
            argv += ["--xclient", xclient]
        if delay_354:
            argv += ["--delay-354", str(delay_354)]
        if refuse_second_ehlo:
            argv += ["--refuse-second-ehlo"]
        if parse:
            argv += ["--parse", parse]
        self.start(argv, workdir, name)
        self.addr = "127.0.0.1:%d" % self.port

    def start(self, argv, workdir, name):
        """Starts the peer; it prints "ready HOST:PORT" once it listens
        (port 0: its choice). Sets proc, host, port."""
        self.errpath = os.path.join(workdir, name + ".stderr")
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        line = b""
        deadline = time.monotonic() + START_TIMEOUT
        os.set_blocking(self.proc.stdout.fileno(), False)
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("%s did not start: %r %s" % (self.KIND, line, self.stderr()))
            try:
                chunk = self.proc.stdout.read(256)
            except BlockingIOError:
                chunk = None
            if chunk:
                line += chunk
            else:
                time.sleep(0.02)
        m = re.match(rb"ready (\S+):(\d+)", line)
        assert m, line
        self.host = m.group(1).decode()
        self.port = int(m.group(2))

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.err.close()

    # -- what the sink recorded --------------------------------------
    def conns(self):
        """Connection numbers seen so far, in order."""
        ns = []
        for p in glob.glob(os.path.join(self.dir, "conn-*.raw")):
            ns.append(int(re.search(r"conn-(\d+)\.raw$", p).group(1)))
        return sorted(ns)

    def raw(self, n):
        with open(os.path.join(self.dir, "conn-%d.raw" % n), "rb") as f:
            return f.read()

    def all_raw(self):
        return b"".join(self.raw(n) for n in self.conns())

    def log(self, n):
        with open(os.path.join(self.dir, "conn-%d.log" % n)) as f:
            return f.read()

    def messages(self):
        """Stored messages (bytes), in order of acceptance."""
        out = []
        paths = glob.glob(os.path.join(self.dir, "msg-*.eml"))
        for p in sorted(paths, key=lambda p: int(re.search(r"msg-(\d+)\.eml$", p).group(1))):
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def commands(self, n):
        """Command lines (without CRLF) the sink parsed on connection n."""
        return [l[3:] for l in self.log(n).splitlines() if l.startswith("C: ")]

    def executed(self, n=None):
        """With --parse: the "VERB ARGS" lines the sink executed, on
        connection n or on all of them."""
        ns = self.conns() if n is None else [n]
        return [l[3:] for m in ns for l in self.log(m).splitlines() if l.startswith("X: ")]

    def executed_verbs(self, n=None):
        return [x.split(" ")[0] for x in self.executed(n)]

    def wait_closed(self, timeout=IO_TIMEOUT, min_conns=1):
        """Waits until at least min_conns connections came and every one of
        them has been closed; returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ns = self.conns()
            if len(ns) >= min_conns and all("event close" in self.log(n) for n in ns):
                return True
            time.sleep(0.05)
        return False

    def dump(self):
        """Human-readable summary for failure output."""
        out = ["--- %s %s" % (self.KIND, self.dir)]
        for n in self.conns():
            out.append("conn-%d.log:" % n)
            out.append(self.log(n))
        err = self.stderr()
        if err:
            out.append("%s stderr:\n%s" % (self.KIND, err))
        return "\n".join(out)


# --------------------------------------------------------------------------
# The proxy

class Listener:
    """One [inbound] or [inbound:NAME] section."""

    def __init__(self, name="inbound", tls="starttls", backend=None, port=None, **keys):
        self.name = name
        self.tls = tls
        self.backend = backend
        self.auto_port = not port  # free_port()'s choice: may be redrawn
        self.port = port or free_port()
        self.keys = keys  # extra "key = value" lines, e.g. require_tls="yes"


class Proxy:
    """The starttls-proxy binary running on a config written here."""

    def __init__(self, workdir, certs, listeners, global_keys=None, certpairs=None, name="proxy",
                 argv_prefix=None, extra=""):
        self.workdir = workdir
        self.listeners = listeners
        # A port free_port() found free may be taken by a parallel test
        # before the proxy binds it: then the ports are drawn again (only
        # ports the test did not choose itself).
        for attempt in range(3):
            try:
                self._start(workdir, certs, listeners, global_keys, certpairs, name,
                            argv_prefix, extra)
                return
            except RuntimeError as e:
                if (attempt == 2 or "Address already in use" not in str(e) or
                        not all(l.auto_port for l in listeners)):
                    raise
                self.err.close()
                for l in listeners:
                    l.port = free_port()

    def _start(self, workdir, certs, listeners, global_keys, certpairs, name, argv_prefix,
               extra):
        if certpairs is None:
            certpairs = [("server.pem", "server.key"), ("server-ec.pem", "server-ec.key")]
        g = {"log_level": "debug", "idle_timeout": "60s", "handshake_timeout": "10s",
             "connect_timeout": "5s"}
        g.update(global_keys or {})
        lines = ["[global]"] + ["%s = %s" % kv for kv in g.items()]
        for l in listeners:
            lines += ["", "[%s]" % l.name,
                      "listen = 127.0.0.1:%d" % l.port,
                      "backend = %s" % l.backend,
                      "tls = %s" % l.tls]
            if l.tls != "off":
                for c, k in certpairs:
                    lines += ["cert = %s" % os.path.join(certs, c),
                              "key = %s" % os.path.join(certs, k)]
            for k, v in l.keys.items():
                # A list value is a repeatable key (ticket_key, cert).
                for one in (v if isinstance(v, (list, tuple)) else [v]):
                    lines.append("%s = %s" % (k, one))
        self.config = os.path.join(workdir, name + ".ini")
        with open(self.config, "w") as f:
            # extra: more sections ([policy:D], [party:N]) as written.
            f.write("\n".join(lines) + "\n" + extra)
        self.errpath = os.path.join(workdir, name + ".stderr")
        self.err = open(self.errpath, "wb")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        # argv_prefix: a wrapper that execs the proxy (e.g. prlimit), so
        # that proc.pid stays the proxy's own PID.
        self.proc = subprocess.Popen(list(argv_prefix or []) + WRAPPER +
                                     [BINARY, "-c", self.config],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err, cwd=workdir, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not all(listening(l.port) for l in listeners):
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited with %s before listening:\n%s\n%s" % (
                    self.proc.returncode, self.config_text(), self.stderr()))
            if time.monotonic() > deadline:
                raise RuntimeError("proxy not listening after %ss:\n%s" % (
                    START_TIMEOUT, self.stderr()))
            time.sleep(0.02)

    def port(self, name="inbound"):
        for l in self.listeners:
            if l.name == name:
                return l.port
        raise KeyError(name)

    def config_text(self):
        with open(self.config) as f:
            return f.read()

    def stderr(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    EVENT_TIMEOUT = IO_TIMEOUT

    def events(self, event=None, **match):
        """Parsed log lines, optionally only those of one event whose fields
        equal match."""
        out = []
        for line in self.stderr().splitlines():
            if not line.startswith("ts="):
                continue
            f = parse_log_line(line)
            if event is not None and f.get("event") != event:
                continue
            if all(f.get(k) == v for k, v in match.items()):
                out.append(f)
        return out

    def wait_event(self, event, timeout=None, count=1, **match):
        """Waits until count lines of event (with fields equal to match) were
        logged (within EVENT_TIMEOUT unless timeout); returns them, or fails
        the test."""
        timeout = self.EVENT_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events(event, **match)
            if len(evs) >= count:
                return evs
            if time.monotonic() > deadline:
                pytest.fail("no %d x event=%s %r in the proxy log within %ss" % (
                    count, event, match, timeout), pytrace=False)
            time.sleep(0.05)

    def stop(self):
        """Stops the proxy; returns a list of problems (crash, sanitizer
        report) for the caller to fail on."""
        problems = []
        if self.proc.poll() is not None:
            problems.append("proxy died during the test (exit %s)" % self.proc.returncode)
        stop_process(self.proc)
        self.err.close()
        text = self.stderr()
        for mark in SANITIZER_MARKS:
            if mark in text:
                problems.append("sanitizer report in proxy stderr: %r" % mark)
        m = VALGRIND_MARKS.search(text)
        if m:
            problems.append("valgrind report in proxy stderr: %r" % m.group(0))
        return problems


# --------------------------------------------------------------------------
# A scripted SMTP client that shows every byte

class Reply:
    def __init__(self, lines, raw):
        self.lines = lines            # text lines without CRLF, e.g. "250-PIPELINING"
        self.raw = raw                # the exact bytes received
        self.code = int(lines[-1][:3])

    @property
    def text(self):
        return [l[4:] for l in self.lines]

    def keywords(self):
        """EHLO keywords (upper case), skipping the greeting line."""
        return [t.split(" ")[0].upper() for t in self.text[1:]]

    def __repr__(self):
        return "Reply(%r)" % (self.raw,)


class Closed(Exception):
    """The peer closed before a complete reply arrived."""

    def __init__(self, partial):
        super().__init__("connection closed; partial data %r" % (partial,))
        self.partial = partial


class Client:
    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT, source=None):
        """source: local address to connect from (e.g. "127.0.0.2")."""
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.tls = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except ssl.SSLError as e:
            # A TLS close without close_notify: count as closed.
            raise Closed(self.buf) from e
        except ConnectionResetError as e:
            raise Closed(self.buf) from e
        if not chunk:
            raise Closed(self.buf)
        self.buf += chunk

    def line(self):
        while b"\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        return line

    def reply(self):
        """One complete (possibly multi-line) reply."""
        lines, raw = [], b""
        while True:
            l = self.line()
            raw += l
            assert l.endswith(b"\r\n"), "reply line without CRLF: %r" % l
            text = l[:-2].decode("utf-8", "replace")
            assert re.match(r"^[2-5]\d\d[ -]", text) or re.match(r"^[2-5]\d\d$", text), \
                "malformed reply line %r" % l
            lines.append(text)
            if len(text) == 3 or text[3] == " ":
                return Reply(lines, raw)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name="client.example"):
        return self.cmd("EHLO " + name)

    def starttls(self, ctx, server_hostname="localhost"):
        """Sends STARTTLS, expects 220 and does the handshake."""
        r = self.cmd("STARTTLS")
        assert r.code == 220, r
        self.handshake(ctx, server_hostname)
        return r

    def handshake(self, ctx, server_hostname="localhost"):
        assert self.buf == b"", "bytes after the 220 before the handshake: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.tls = True

    def read_until_close(self, timeout=IO_TIMEOUT):
        """Everything until the peer closes; raises socket.timeout otherwise."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self._fill()
        except Closed:
            pass
        data, self.buf = self.buf, b""
        return data

    def nothing_within(self, seconds):
        """True when no byte arrives within seconds (and the peer stays open)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(1)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(old)
        self.buf += chunk
        return False


def events(text):
    """Sink-style "event ..." lines of a conn log, without the prefix."""
    return [l[6:] for l in text.splitlines() if l.startswith("event ")]


def proc_rss_kib(pid):
    """Resident set size of process pid in KiB (VmRSS of /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def proc_cpu_seconds(pid):
    """User plus system CPU time of process pid (/proc/PID/stat), seconds."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    # The command name (field 2) may hold spaces: split after its ")".
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_context(certs, **kw):
    """An SSLContext trusting the test CA, verifying the name."""
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def cert_der(certs, name):
    with open(os.path.join(certs, name)) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def run(argv, timeout=60, input=None, cwd=None):
    """Runs a tool to completion, bounded in time; returns CompletedProcess
    with text stdout/stderr."""
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                          cwd=cwd, text=True, errors="replace")


def stop_proxies(proxies):
    """Stops every proxy a fixture started and fails the test on a crash or
    a sanitizer/valgrind report in any of them."""
    import pytest
    problems = []
    for p in proxies:
        for problem in p.stop():
            problems.append("%s\n--- proxy stderr (tail)\n%s" % (problem, p.stderr()[-8000:]))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


class PostfixInstance:
    """A throw-away Postfix started by one of the tests/tools/pfx-*.sh
    scripts ("SCRIPT up DIR ARGS..." prints the master PID last; "SCRIPT
    down DIR" stops it). Mail for the test domain lands in a Maildir under
    DIR/mail/sink/new."""

    def __init__(self, script, directory, args, timeout=90):
        self.script = script
        self.dir = directory
        r = run(["bash", script, "up", directory] + [str(a) for a in args], timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("postfix did not start:\n%s\n%s" % (r.stdout, r.stderr))
        self.pid = int(r.stdout.split()[-1])

    def stop(self):
        run(["bash", self.script, "down", self.dir], timeout=30)
        # The script waits for the master; make sure, by PID.
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return
        os.kill(self.pid, 9)

    def maillog(self):
        try:
            with open(os.path.join(self.dir, "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def delivered(self, tag, timeout=30):
        """The Maildir file holding the message with this tag, as bytes."""
        import pytest
        deadline = time.monotonic() + timeout
        needle = b"<" + tag.encode() + b"@sender.example>"
        while time.monotonic() < deadline:
            for p in glob.glob(os.path.join(self.dir, "mail", "sink", "new", "*")):
                with open(p, "rb") as f:
                    data = f.read()
                if needle in data:
                    return data
            time.sleep(0.1)
        pytest.fail("message %s not delivered within %ss; maillog:\n%s" % (
            tag, timeout, self.maillog()[-4000:]), pytrace=False)
