#!/usr/bin/python3
"""scan_verdict.py -- judges a testssl.sh JSON file (--jsonfile, the flat
list of {"id", "severity", "finding", ...}) against the proxy's TLS
defaults.

Usage: scan_verdict.py OUT.json [--allow-cert]
Prints one line per problem and exits 1 if there is any, else prints "ok"
and exits 0. As a module: problems(findings, allow_cert=True) -> [str].

Rules:
- SSLv2, SSLv3, TLS1 and TLS1_1 must be present and "not offered";
  TLS1_2 and TLS1_3 must be offered.
- The cipher classes NULL, aNULL, EXPORT, LOW, 3DES_IDEA and AVERAGE (the
  last holds the non-forward-secret and CBC suites) must be "not offered".
- No finding may have severity MEDIUM, HIGH or CRITICAL, except, with
  allow_cert, those about the certificate and its chain (a test CA is not
  publicly trusted): ids starting with "cert" or "chain_of_trust", and the
  scanner's own "scanProblem" about them.
- A scan with no findings at all, or a "scanProblem" of severity FATAL, is a
  problem: the scan did not run.
"""

import json
import sys

NOT_OFFERED = ("SSLv2", "SSLv3", "TLS1", "TLS1_1")
OFFERED = ("TLS1_2", "TLS1_3")
CLASSES_NOT_OFFERED = ("cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                       "cipherlist_LOW", "cipherlist_3DES_IDEA", "cipherlist_AVERAGE")
BAD_SEVERITIES = ("MEDIUM", "HIGH", "CRITICAL")
CERT_PREFIXES = ("cert", "chain_of_trust")


def problems(findings, allow_cert=True):
    out = []
    if not findings:
        return ["no findings: the scan did not run"]
    by_id = {}
    for f in findings:
        by_id.setdefault(f.get("id", ""), []).append(f)
    for f in findings:
        if f.get("id") == "scanProblem" and f.get("severity") == "FATAL":
            out.append("scan problem: %s" % f.get("finding"))
    for pid in NOT_OFFERED:
        fs = by_id.get(pid)
        if not fs:
            out.append("%s: no finding (protocol not tested)" % pid)
        elif any(x.get("finding", "").strip() != "not offered" for x in fs):
            out.append("%s: %s" % (pid, fs[0].get("finding")))
    for pid in OFFERED:
        fs = by_id.get(pid)
        if not fs or not all(x.get("finding", "").startswith("offered") for x in fs):
            out.append("%s: expected offered, got %s" % (pid, fs and fs[0].get("finding")))
    for cid in CLASSES_NOT_OFFERED:
        fs = by_id.get(cid)
        if not fs:
            out.append("%s: no finding (cipher class not tested)" % cid)
        elif any(x.get("finding", "").strip() != "not offered" for x in fs):
            out.append("%s: %s" % (cid, fs[0].get("finding")))
    for f in findings:
        sev = f.get("severity", "")
        fid = f.get("id", "")
        if sev not in BAD_SEVERITIES:
            continue
        if allow_cert and fid.startswith(CERT_PREFIXES):
            continue
        out.append("%s %s: %s" % (sev, fid, f.get("finding")))
    return out


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        findings = json.load(f)
    if isinstance(findings, dict):  # --jsonfile-pretty layout
        findings = [x for s in findings.get("scanResult", []) for v in s.values()
                    if isinstance(v, list) for x in v]
    ps = problems(findings, allow_cert="--allow-cert" in argv[2:])
    for p in ps:
        print(p)
    if not ps:
        print("ok")
    return 1 if ps else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
