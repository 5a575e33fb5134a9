#!/usr/bin/python3
"""dnssec_lab.py -- a real DNSSEC chain on loopback, without Internet: zones
signed with ldns-keygen / ldns-signzone, served by nsd, and a validating
unbound whose only trust anchors are the DS records of the lab's signed
zones.

Zones (each with SOA, NS, MX to the given hosts, their A records, the given
TLSA records, and A for mta-sts):
  lab.test    signed (NSEC3); also _mta-sts TXT "v=STSv1; id=STS_ID;"
  bad.test    signed, then a TLSA record's data changed in the signed file:
              bogus, unbound answers SERVFAIL (with CD: the forged data)
  plain.test  unsigned; unbound has it as domain-insecure: no AD
unbound: trust-anchor-file with the DS of lab.test and bad.test, a
stub-zone per zone pointing at nsd, 'local-zone: "test." nodefault'
(unbound serves test. itself otherwise, RFC 6761), no root hints used, no
network. nsd and unbound run in the foreground as children of the caller
(no fork, no chroot, no user change; pidfile, zonesdir, logs in DIR), each
on its own free port of 127.0.0.1 (UDP and TCP), so that several labs can
run at once. Stop them by PID (Lab.stop()).

Library use (tests/e2e/dnslab.py wraps it):
    lab = Lab(dir, hosts={"mx1": "127.0.0.1"}, tlsa={"mx1": ["3 1 1 ab..."]})
    lab.start()           # returns when unbound answers for lab.test
    lab.host, lab.port    # the validating resolver
    lab.stop()

Command line (manual trials):
    dnssec_lab.py DIR [--host mx1=127.0.0.1]... [--tlsa 'mx1 3 1 1 HEX']...
prints "ready 127.0.0.1:PORT" (unbound) and runs until SIGTERM/SIGINT.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time

ZONES_SIGNED = ("lab.test", "bad.test")
ZONES = ("lab.test", "bad.test", "plain.test")
START_TIMEOUT = 20.0


def free_port(host="127.0.0.1"):
    """A port free for both UDP and TCP on host right now."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((host, 0))
            port = t.getsockname()[1]
            u.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


def query(host, port, name, qtype, cd=False, timeout=1.0):
    """One UDP query (dnslib) with DO set; the parsed reply or None."""
    from dnslib import DNSRecord, EDNS0
    q = DNSRecord.question(name, qtype)
    q.add_ar(EDNS0(flags="do", udp_len=4096))
    q.header.cd = 1 if cd else 0
    try:
        return DNSRecord.parse(q.send(host, port, timeout=timeout))
    except (socket.timeout, OSError):
        return None


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the process that started it
    dies (PR_SET_PDEATHSIG), so a killed test run leaves no server behind."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_pid(proc, grace=10.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


class Lab:
    def __init__(self, workdir, hosts=None, tlsa=None, tlsa_port=25, sts_id="20261201T000000",
                 sts_addr="127.0.0.1", extra=None, host="127.0.0.1"):
        """hosts: {label: IPv4} for the MX hosts of every zone (MX
        preference 10, 20, ... in the order given); tlsa: {label: [RDATA,
        ...]} published at _PORT._tcp.LABEL.ZONE in every zone; extra:
        {zone: "zone-file lines"} appended (relative to the zone)."""
        self.dir = os.path.abspath(workdir)
        self.hosts = dict(hosts or {"mx1": "127.0.0.1"})
        self.tlsa = {k: list(v) for k, v in (tlsa or {}).items()}
        self.tlsa_port = tlsa_port
        self.sts_id = sts_id
        self.sts_addr = sts_addr
        self.extra = extra or {}
        self.host = host
        self.nsd_host = host
        self.nsd = None
        self.unbound = None
        self.port = None
        self.nsd_port = None

    # -- zones ---------------------------------------------------------
    def zone_text(self, zone):
        lines = [
            "$ORIGIN %s." % zone,
            "$TTL 300",
            "@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 300" % (zone, zone),
            "@ IN NS ns1.%s." % zone,
            "ns1 IN A %s" % self.nsd_host,
        ]
        for i, (label, addr) in enumerate(self.hosts.items()):
            lines.append("@ IN MX %d %s.%s." % (10 * (i + 1), label, zone))
            lines.append("%s IN A %s" % (label, addr))
        tlsa = dict(self.tlsa)
        if zone == "bad.test" and not any(tlsa.values()):
            # bad.test needs a TLSA record to forge.
            tlsa = {next(iter(self.hosts)): ["3 1 1 " + "00" * 32]}
        for label, rdatas in tlsa.items():
            for rdata in rdatas:
                lines.append("_%d._tcp.%s IN TLSA %s" % (self.tlsa_port, label, rdata))
        lines.append("mta-sts IN A %s" % self.sts_addr)
        if zone == "lab.test":
            lines.append('_mta-sts IN TXT "v=STSv1; id=%s;"' % self.sts_id)
        if self.extra.get(zone):
            lines.append(self.extra[zone])
        return "\n".join(lines) + "\n"

    def _run(self, argv):
        r = subprocess.run(argv, cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60, universal_newlines=True)
        if r.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(argv), r.stderr))
        return r.stdout

    def sign(self):
        """Writes the zone files, signs lab.test and bad.test, forges
        bad.test's TLSA and writes anchors.ds."""
        anchors = []
        for zone in ZONES:
            with open(os.path.join(self.dir, zone + ".zone"), "w") as f:
                f.write(self.zone_text(zone))
        for zone in ZONES_SIGNED:
            ksk = self._run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone]).strip()
            zsk = self._run(["ldns-keygen", "-a", "ECDSAP256SHA256", zone]).strip()
            self._run(["ldns-signzone", "-n", "-o", zone, zone + ".zone", zsk, ksk])
            with open(os.path.join(self.dir, ksk + ".ds")) as f:
                anchors.append(f.read().strip())
        with open(os.path.join(self.dir, "anchors.ds"), "w") as f:
            f.write("\n".join(anchors) + "\n")
        # bad.test: change the data of its first TLSA record after signing.
        path = os.path.join(self.dir, "bad.test.zone.signed")
        with open(path) as f:
            text = f.read()
        m = re.search(r"^(\S+\s+\d+\s+IN\s+TLSA\s+\d+ \d+ \d+ )([0-9a-fA-F])", text, re.M)
        if not m:
            raise RuntimeError("no TLSA record in bad.test to forge")
        forged = "0" if m.group(2) != "0" else "f"
        text = text[:m.start(2)] + forged + text[m.end(2):]
        with open(path, "w") as f:
            f.write(text)

    # -- servers -------------------------------------------------------
    def nsd_conf(self):
        d = self.dir
        zones = "".join('zone:\n  name: "%s"\n  zonefile: "%s"\n'
                        % (z, z + (".zone.signed" if z in ZONES_SIGNED else ".zone"))
                        for z in ZONES)
        return """server:
  ip-address: %s
  port: %d
  ip4-only: yes
  server-count: 1
  reuseport: no
  username: ""
  chroot: ""
  zonesdir: "%s"
  database: ""
  pidfile: "%s/nsd.pid"
  xfrdfile: "%s/xfrd.state"
  xfrdir: "%s"
  zonelistfile: "%s/zone.list"
  logfile: "%s/nsd.log"
  verbosity: 1
remote-control:
  control-enable: no
%s""" % (self.nsd_host, self.nsd_port, d, d, d, d, d, d, zones)

    def unbound_conf(self):
        d = self.dir
        stubs = "".join('stub-zone:\n  name: "%s"\n  stub-addr: %s@%d\n'
                        % (z, self.nsd_host, self.nsd_port) for z in ZONES)
        return """server:
  interface: %s
  port: %d
  do-ip6: no
  num-threads: 1
  so-reuseport: no
  username: ""
  chroot: ""
  directory: "%s"
  pidfile: "%s/unbound.pid"
  logfile: "%s/unbound.log"
  use-syslog: no
  verbosity: 1
  val-log-level: 2
  log-servfail: yes
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  qname-minimisation: no
  target-fetch-policy: "0 0 0 0 0"
  # unbound serves test. itself by default (RFC 6761): turn that off
  local-zone: "test." nodefault
  trust-anchor-file: "%s/anchors.ds"
  domain-insecure: "plain.test"
%sremote-control:
  control-enable: no
""" % (self.host, self.port, d, d, d, d, stubs)

    def _wait(self, proc, what, host, port, name):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (what, self._logs()))
            r = query(host, port, name, "SOA", timeout=0.3)
            if r is not None and r.rr:
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not answer: %s" % (what, self._logs()))

    def _logs(self):
        out = []
        for f in ("nsd.log", "nsd.stderr", "unbound.log", "unbound.stderr"):
            try:
                with open(os.path.join(self.dir, f)) as fh:
                    out.append("--- %s\n%s" % (f, fh.read()[-4000:]))
            except OSError:
                pass
        return "\n".join(out)

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        try:
            self.nsd_port = free_port(self.nsd_host)
            self.port = free_port(self.host)
            self.sign()
            for name, text in (("nsd.conf", self.nsd_conf()), ("unbound.conf", self.unbound_conf())):
                with open(os.path.join(self.dir, name), "w") as f:
                    f.write(text)
            self._run(["nsd-checkconf", "nsd.conf"])
            self._run(["unbound-checkconf", "unbound.conf"])
            self.nsd = subprocess.Popen(
                ["nsd", "-d", "-c", os.path.join(self.dir, "nsd.conf")], cwd=self.dir,
                stdin=subprocess.DEVNULL, stdout=open(os.path.join(self.dir, "nsd.stderr"), "wb"),
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            self._wait(self.nsd, "nsd", self.nsd_host, self.nsd_port, "lab.test")
            self.unbound = subprocess.Popen(
                ["unbound", "-d", "-c", os.path.join(self.dir, "unbound.conf")], cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=open(os.path.join(self.dir, "unbound.stderr"), "wb"),
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            self._wait(self.unbound, "unbound", self.host, self.port, "lab.test")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        stop_pid(self.unbound)
        stop_pid(self.nsd)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(description="signed zones + nsd + validating unbound")
    ap.add_argument("dir")
    ap.add_argument("--host", action="append", default=[], metavar="LABEL=ADDR")
    ap.add_argument("--tlsa", action="append", default=[], metavar="'LABEL U S M HEX'")
    opts = ap.parse_args()
    hosts = dict(h.split("=", 1) for h in opts.host) or None
    tlsa = {}
    for t in opts.tlsa:
        label, rdata = t.split(None, 1)
        tlsa.setdefault(label, []).append(rdata)
    lab = Lab(opts.dir, hosts=hosts, tlsa=tlsa)
    done = []
    signal.signal(signal.SIGTERM, lambda *_: done.append(1))
    signal.signal(signal.SIGINT, lambda *_: done.append(1))
    with lab:
        print("ready %s:%d" % (lab.host, lab.port), flush=True)
        while not done:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
