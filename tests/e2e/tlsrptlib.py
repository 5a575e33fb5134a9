"""A TLS-RPT collector stand-in: a Unix datagram socket that records what
the proxy sends (one libtlsrpt datagram per result), for the TLS-RPT tests.

Unix sockets are named in the file system, which the test namespaces
share: the recorder runs in the test process, the proxy in the pod.
"""

import json
import os
import socket
import time

LAB_RECORD = "v=TLSRPTv1; rua=mailto:tlsrpt@lab.test"
PLAIN_RECORD = "v=TLSRPTv1;rua=https://reports.plain.test/v1"

# The TLSRPT records (RFC 8460 3) of both test zones.
RECORDS = ('_smtp._tls.lab.test. 300 IN TXT "%s"\n'
           '_smtp._tls.plain.test. 300 IN TXT "%s"\n' % (LAB_RECORD, PLAIN_RECORD))


class Recorder:
    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)

    def drain(self, settle=0.7):
        """Every datagram that arrives until none came for `settle` s, each
        parsed as JSON (a datagram that is not JSON fails the test)."""
        out = []
        deadline = time.monotonic() + settle
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 17)
            except socket.timeout:
                return out
            out.append(json.loads(data.decode("utf-8")))
            deadline = time.monotonic() + settle

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def results(datagrams):
    """{domain: (policy-type, result code, datagram)}; fails on a domain
    reported twice or a datagram that is not one result."""
    out = {}
    for d in datagrams:
        assert d["dpv"] == "1", d
        assert len(d["policies"]) == 1, d
        p = d["policies"][0]
        assert d["d"] not in out, ("reported twice", datagrams)
        assert p["policy-domain"] == d["d"], d
        fails = p.get("failure-details", [])
        assert p["t"] == len(fails) and p["f"] == (1 if fails else 0), d
        out[d["d"]] = (p["policy-type"], fails[0]["c"] if fails else 0, d)
    return out
