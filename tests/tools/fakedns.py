#!/usr/bin/python3
"""fakedns.py -- a scripted recursive resolver for the tests: it answers
from a zone file as a validating resolver would, with every outcome on
demand (AD, SERVFAIL, no answer, TC). python3-dnslib and the stdlib only.

Usage:
  fakedns.py --listen HOST:PORT --zone FILE [--control FILE] [--log FILE]
             [--secure SUFFIX]... [--servfail NAME]... [--silent NAME]...
             [--truncate NAME]... [--ready-file FILE] [--max-seconds N]

It listens on HOST:PORT over UDP and TCP (PORT 0: a free port, the same for
both) and prints "ready HOST:PORT" on stdout once both sockets are bound
(and writes the same line to --ready-file if given). It exits on
SIGTERM/SIGINT or after --max-seconds (default 900; 0 means never), so that
a forgotten resolver cannot outlive a test run.

Answers (the header always has qr rd ra, never aa; cd is echoed):
  - the RRs of the zone file (dnslib RR.fromZone: $ORIGIN, $TTL, every type
    dnslib knows, TLSA and several TXT records included) whose owner is the
    name asked and whose type is the type asked (ANY: all of them);
  - a CNAME chain is followed inside the answer as a recursive resolver
    does: the CNAME RRs in order, then the target's RRs (at most 16 links;
    a loop or a longer chain gives SERVFAIL);
  - NXDOMAIN when no RR has the name as owner or below it, NODATA
    (NOERROR, empty answer) when the name exists with other types; both
    carry the SOA of the closest enclosing zone in the authority section
    (its TTL is the negative TTL) when the zone file has one;
  - a query with EDNS gets an OPT RR back (DO echoed); over UDP an answer
    larger than the client's buffer (512 without EDNS) is sent truncated
    (TC, empty sections), as a real server would.

Behaviour per name. Every NAME / SUFFIX below matches the name itself and
every name under it (label boundary: "lab.test" matches "mx1.lab.test",
not "xlab.test"); "NAME/TYPE" (e.g. "_25._tcp.mx1.lab.test/TLSA") limits
the entry to one query type. Names are case-insensitive, the final dot is
optional.
  --secure SUFFIX   set AD on answers for names under it, negative answers
                    (NXDOMAIN, NODATA) included; a CNAME chain gets AD only
                    if every name in it is secure
  --servfail NAME   answer SERVFAIL (also when a CNAME chain reaches NAME)
  --silent NAME     never answer (the client times out)
  --truncate NAME   over UDP answer with TC set and nothing else; over TCP
                    the full answer
  --control FILE    JSON object with any of the keys "secure", "servfail",
                    "silent", "truncate" (lists of names as above) and
                    "delay" (object name -> seconds: answer that late). A key
                    present in the file replaces the command line's list.
The zone file and the control file are read again whenever they change
(mtime, size or inode: write a new file and rename it over the old one), so
a test can change answers while the resolver runs. A file that does not
parse is reported on stderr and the previous contents stay in use.

--log FILE gets one line per query received, before it is answered:
  "PROTO NAME TYPE" (PROTO udp or tcp, NAME lower-case with the final dot,
  TYPE as dnslib names it, e.g. "udp _mta-sts.lab.test. TXT").
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

from dnslib import DNSRecord, EDNS0, QTYPE, RCODE, RR

MAX_CHAIN = 16
KEYS = ("secure", "servfail", "silent", "truncate")


def norm(name):
    name = str(name).lower()
    return name if name.endswith(".") else name + "."


def under(name, suffix):
    """name (normalised) is suffix or below it."""
    return name == suffix or name.endswith("." + suffix) or suffix == "."


class Entry:
    """One "NAME" or "NAME/TYPE" of a behaviour list."""

    def __init__(self, text):
        name, _, qtype = text.partition("/")
        self.name = norm(name)
        self.qtype = getattr(QTYPE, qtype.upper()) if qtype else None

    def matches(self, name, qtype):
        return under(name, self.name) and (self.qtype is None or self.qtype == qtype)


class State:
    """The zone and the behaviour lists, reloaded when their files change."""

    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.Lock()
        self.zone_sig = None
        self.control_sig = None
        self.rrs = []
        self.cli = {k: list(getattr(opts, k)) for k in KEYS}
        self.lists = {k: [Entry(e) for e in self.cli[k]] for k in KEYS}
        self.delay = {}
        self.refresh()

    @staticmethod
    def _sig(path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self):
        with self.lock:
            sig = self._sig(self.opts.zone)
            if sig != self.zone_sig:
                try:
                    with open(self.opts.zone) as f:
                        self.rrs = list(RR.fromZone(f.read()))
                    self.zone_sig = sig
                except Exception as e:  # keep the old zone
                    print("fakedns: zone %s: %s" % (self.opts.zone, e), file=sys.stderr, flush=True)
            if self.opts.control:
                sig = self._sig(self.opts.control)
                if sig != self.control_sig:
                    try:
                        ctl = {}
                        if sig is not None:
                            with open(self.opts.control) as f:
                                ctl = json.load(f)
                        lists = {k: [Entry(e) for e in ctl.get(k, self.cli[k])] for k in KEYS}
                        delay = {norm(k): float(v) for k, v in ctl.get("delay", {}).items()}
                        self.lists, self.delay = lists, delay
                        self.control_sig = sig
                    except Exception as e:
                        print("fakedns: control %s: %s" % (self.opts.control, e),
                              file=sys.stderr, flush=True)
            return self.rrs, self.lists, self.delay


def hit(lists, key, name, qtype):
    return any(e.matches(name, qtype) for e in lists[key])


def secure(lists, name):
    return any(under(name, e.name) for e in lists["secure"])


def soa_for(rrs, name):
    """The SOA of the closest enclosing zone, or None."""
    best = None
    for rr in rrs:
        if rr.rtype == QTYPE.SOA:
            owner = norm(rr.rname)
            if under(name, owner) and (best is None or len(owner) > len(norm(best.rname))):
                best = rr
    return best


def answer(request, proto, rrs, lists, udp_limit):
    """The reply to request, or None for silence."""
    q = request.q
    qtype = q.qtype
    reply = request.reply()
    reply.header.aa = 0
    reply.header.ra = 1
    reply.header.rd = request.header.rd
    reply.header.cd = request.header.cd
    name = norm(q.qname)
    chain = [name]
    ad = secure(lists, name)
    rcode = RCODE.NOERROR
    while True:
        if hit(lists, "silent", name, qtype):
            return None
        if hit(lists, "servfail", name, qtype):
            rcode = RCODE.SERVFAIL
            reply.rr = []
            ad = False
            break
        own = [rr for rr in rrs if norm(rr.rname) == name]
        match = [rr for rr in own if qtype == QTYPE.ANY or rr.rtype == qtype]
        if match:
            for rr in match:
                reply.add_answer(rr)
            break
        cname = [rr for rr in own if rr.rtype == QTYPE.CNAME]
        if cname and qtype != QTYPE.CNAME:
            reply.add_answer(cname[0])
            name = norm(cname[0].rdata.label)
            if name in chain or len(chain) > MAX_CHAIN:
                rcode = RCODE.SERVFAIL
                reply.rr = []
                ad = False
                break
            chain.append(name)
            ad = ad and secure(lists, name)
            continue
        # Negative: NODATA if the name owns RRs or has names below it.
        exists = own or any(norm(rr.rname).endswith("." + name) for rr in rrs)
        if not exists:
            rcode = RCODE.NXDOMAIN
        soa = soa_for(rrs, name)
        if soa is not None:
            reply.add_auth(soa)
        break
    reply.header.rcode = rcode
    reply.header.ad = 1 if ad else 0
    opt = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
    if opt:
        do = "do" if opt[0].ttl & 0x8000 else ""
        reply.add_ar(EDNS0(udp_len=4096, flags=do))
        udp_limit = max(512, opt[0].rclass)
    if proto == "udp":
        data = reply.pack()
        trunc = hit(lists, "truncate", norm(q.qname), qtype)
        if trunc or len(data) > udp_limit:
            reply.rr, reply.auth = [], []
            reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
            reply.header.tc = 1
    return reply


class Server:
    def __init__(self, opts):
        self.opts = opts
        self.state = State(opts)
        self.logf = open(opts.log, "a") if opts.log else None
        self.loglock = threading.Lock()

    def log(self, proto, request):
        if self.logf is None:
            return
        line = "%s %s %s\n" % (proto, norm(request.q.qname), QTYPE.get(request.q.qtype))
        with self.loglock:
            self.logf.write(line)
            self.logf.flush()

    def respond(self, data, proto):
        """Bytes to send back, or None."""
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        if not request.questions:
            return None
        self.log(proto, request)
        rrs, lists, delay = self.state.refresh()
        name = norm(request.q.qname)
        for d_name, secs in delay.items():
            if under(name, d_name):
                time.sleep(secs)
                break
        reply = answer(request, proto, rrs, lists, 512)
        return None if reply is None else reply.pack()

    def udp_one(self, sock, data, peer):
        out = self.respond(data, "udp")
        if out is not None:
            try:
                sock.sendto(out, peer)
            except OSError:
                pass

    def udp_loop(self, sock):
        while True:
            data, peer = sock.recvfrom(65535)
            threading.Thread(target=self.udp_one, args=(sock, data, peer), daemon=True).start()

    def tcp_conn(self, conn):
        conn.settimeout(60)
        try:
            while True:
                head = self.recv_exact(conn, 2)
                if head is None:
                    return
                data = self.recv_exact(conn, struct.unpack("!H", head)[0])
                if data is None:
                    return
                out = self.respond(data, "tcp")
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def tcp_loop(self, sock):
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=self.tcp_conn, args=(conn,), daemon=True).start()


def bind(host, port):
    """UDP and TCP sockets on the same port (port 0: one free for both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((host, port))
        p = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            t.bind((host, p))
        except OSError:
            u.close()
            t.close()
            if port:
                raise
            continue
        t.listen(64)
        return u, t, p
    raise RuntimeError("no port free for both UDP and TCP")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True, help="HOST:PORT (PORT 0: any)")
    ap.add_argument("--zone", required=True)
    ap.add_argument("--control")
    ap.add_argument("--log")
    ap.add_argument("--ready-file")
    ap.add_argument("--max-seconds", type=float, default=900)
    for k in KEYS:
        ap.add_argument("--" + k, action="append", default=[], metavar="NAME")
    opts = ap.parse_args()
    host, _, port = opts.listen.rpartition(":")
    srv = Server(opts)
    u, t, port = bind(host, int(port))
    for target, sock in ((srv.udp_loop, u), (srv.tcp_loop, t)):
        threading.Thread(target=target, args=(sock,), daemon=True).start()

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    line = "ready %s:%d\n" % (host, port)
    if opts.ready_file:
        tmp = opts.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line)
        os.rename(tmp, opts.ready_file)
    sys.stdout.write(line)
    sys.stdout.flush()
    done.wait(opts.max_seconds if opts.max_seconds > 0 else None)
    os._exit(0)


if __name__ == "__main__":
    main()
