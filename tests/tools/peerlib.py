"""peerlib.py -- what the scripted SMTP peers (sink.py, mx.py) share: the
accept loop with its signals, pidfile, "ready HOST:PORT" line and time
bound; connection and message numbering; printable logging of bytes.

Imported from the scripts' own directory (Python puts it on sys.path)."""

import os
import re
import signal
import socket
import threading
import time


class Counters:
    """Connection and message numbers shared by all connection threads.
    With a directory, numbering continues after the conn-N.raw / msg-N.eml
    files an earlier run left there: records are never overwritten."""

    def __init__(self, directory=None):
        self.lock = threading.Lock()
        self.conn = self.highest(directory, r"conn-(\d+)\.(?:raw|log)$")
        self.msg = self.highest(directory, r"msg-(\d+)\.eml$")

    @staticmethod
    def highest(directory, pattern):
        n = 0
        for name in os.listdir(directory) if directory else ():
            m = re.match(pattern, name)
            if m:
                n = max(n, int(m.group(1)))
        return n

    def next_conn(self):
        with self.lock:
            self.conn += 1
            return self.conn

    def next_msg(self):
        with self.lock:
            self.msg += 1
            return self.msg


class PeerSession:
    """What a connection thread of sink.py and mx.py shares: its number,
    the conn-N.log record, sending (dribbled with --dribble) and an
    idempotent close."""

    def __init__(self, sock, peer, opts, counters):
        self.sock = sock
        self.peer = peer
        self.opts = opts
        self.counters = counters
        self.n = counters.next_conn()
        self.base = os.path.join(opts.dir, "conn-%d" % self.n)
        self.log = open(self.base + ".log", "a", buffering=1)
        self.buf = b""
        self.closed = False

    def note(self, text):
        self.log.write(text + "\n")

    def send_raw(self, wire):
        if self.opts.dribble > 0:
            for i in range(len(wire)):
                self.sock.sendall(wire[i:i + 1])
                time.sleep(self.opts.dribble / 1000.0)
        else:
            self.sock.sendall(wire)

    def close(self, why):
        if self.closed:
            return
        self.closed = True
        self.note("event close " + why)
        try:
            self.sock.close()
        except OSError:
            pass


def escape(b):
    """Bytes -> printable one-line text for the logs."""
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x0A:
            out.append("\\n")
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def serve(listen, handle, pidfile=None, max_seconds=0.0, sock_timeout=None):
    """Listens on "HOST:PORT" (or "[v6]:PORT"; port 0: any), prints
    "ready HOST:PORT", and calls handle(sock, peer) on a new thread for each
    connection until SIGTERM/SIGINT or max_seconds (0: no bound)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(128)
    ls.settimeout(0.1)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if pidfile:
        with open(pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    addr = ls.getsockname()
    print("ready %s:%d" % (addr[0], addr[1]), flush=True)

    deadline = time.monotonic() + max_seconds if max_seconds > 0 else None
    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            try:
                sock, peer = ls.accept()
            except (socket.timeout, InterruptedError):
                continue
            sock.settimeout(sock_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handle, args=(sock, peer[:2]), daemon=True).start()
    finally:
        ls.close()
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
    return 0
