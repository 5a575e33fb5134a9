#!/usr/bin/python3
"""danecerts.py -- the certificates of the DANE / MTA-STS tests, made with
the openssl CLI, and the TLSA association data computed from them.

Usage: danecerts.py DIR      makes the files (if absent), prints JSON:
                             {"files": {...}, "tlsa": {...}}

Leaves in DIR (keys EC P-256, unencrypted, mode 0600; certificates 0644):
  ca.pem ca.key           lab root CA (self-signed), "lab test root CA"
  int.pem int.key         intermediate CA, issued by the root
  mx1.pem mx1.key         mx1.lab.test ("key A"), issued by the intermediate
  other.pem other.key     mx1.lab.test with another key (3 1 1 mismatch)
  expired.pem             mx1.lab.test with key A (mx1.key), valid
                          2000-01-01..2001-01-01 only (DANE-EE must still
                          pass; PKIX fails)
  wrongname.pem .key      wrongname.example, issued by the intermediate
                          (chains to the CA: DANE-TA name mismatch)
  sts.pem sts.key         mta-sts.lab.test, issued by the intermediate
  X-chain.pem             for each leaf X: X.pem then int.pem (what a server
                          sends); ca.pem is the trust anchor for clients
Idempotent: if every file is there, nothing is made again.

OpenSSL 3.0's "x509 -days" takes no past dates; "openssl ca -startdate
-enddate" does, so every leaf is issued with "openssl ca" (one tiny CA
database per run, removed afterwards).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

LEAVES = {
    # name: (common name / SAN, key file or None for its own key)
    "mx1": ("mx1.lab.test", None),
    "other": ("mx1.lab.test", None),
    "wrongname": ("wrongname.example", None),
    "sts": ("mta-sts.lab.test", None),
    "expired": ("mx1.lab.test", "mx1.key"),
}

CA_CNF = """\
[ ca ]
default_ca = lab_ca
[ lab_ca ]
database = {db}/index.txt
new_certs_dir = {db}
serial = {db}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
"""

LEAF_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:{name}
"""

INT_EXT = """\
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _run(argv, **kw):
    return subprocess.run(argv, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, **kw).stdout


def _newkey(path):
    _run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-pkeyopt", "ec_param_enc:named_curve", "-out", path])
    os.chmod(path, 0o600)


def make(d):
    """Makes the files in d (all of them again unless every one is there);
    returns d."""
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    if all(os.path.exists(p) for p in files(d).values()):
        return d
    db = os.path.join(d, "ca.db")
    shutil.rmtree(db, ignore_errors=True)
    os.makedirs(db)
    open(os.path.join(db, "index.txt"), "w").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write(os.urandom(8).hex() + "\n")
    with open(os.path.join(db, "ca.cnf"), "w") as f:
        f.write(CA_CNF.format(db=db))
    now = ["-days", "3650"]
    _newkey(os.path.join(d, "ca.key"))
    _run(["openssl", "req", "-x509", "-new", "-key", os.path.join(d, "ca.key"), "-sha256",
          "-days", "3650", "-subj", "/O=starttls-proxy tests/CN=lab test root CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-addext", "subjectKeyIdentifier=hash",
          "-out", os.path.join(d, "ca.pem")])
    _newkey(os.path.join(d, "int.key"))
    _issue(d, db, "int", "lab test intermediate CA", "int.key", "ca", INT_EXT, now)
    for name, (cn, key) in LEAVES.items():
        if key is None:
            key = name + ".key"
            _newkey(os.path.join(d, key))
        dates = ["-startdate", "20000101000000Z", "-enddate", "20010101000000Z"] \
            if name == "expired" else now
        _issue(d, db, name, cn, key, "int", LEAF_EXT.format(name=cn), dates)
        with open(os.path.join(d, name + "-chain.pem"), "w") as out:
            for part in (name + ".pem", "int.pem"):
                with open(os.path.join(d, part)) as f:
                    out.write(f.read())
    for f in os.listdir(d):
        if f.endswith(".pem"):
            os.chmod(os.path.join(d, f), 0o644)
    shutil.rmtree(db)
    return d


def _issue(d, db, name, cn, key, ca, ext, dates):
    """Issues d/name.pem for d/key under d/ca.pem (ca: "ca" or "int")."""
    base = d
    csr = os.path.join(db, name + ".csr")
    extf = os.path.join(db, name + ".ext")
    with open(extf, "w") as f:
        f.write(ext)
    _run(["openssl", "req", "-new", "-key", os.path.join(d, key), "-subj", "/CN=" + cn,
          "-out", csr])
    _run(["openssl", "ca", "-batch", "-config", os.path.join(db, "ca.cnf"), "-notext",
          "-cert", os.path.join(base, ca + ".pem"), "-keyfile", os.path.join(base, ca + ".key"),
          "-extfile", extf, "-in", csr, "-out", os.path.join(d, name + ".pem")] + dates)


def files(d):
    """Name -> path of every file make() leaves."""
    out = {}
    for n in ["ca", "int"] + list(LEAVES):
        out[n + ".pem"] = os.path.join(d, n + ".pem")
        if n != "expired":
            out[n + ".key"] = os.path.join(d, n + ".key")
        if n in LEAVES:
            out[n + "-chain.pem"] = os.path.join(d, n + "-chain.pem")
    return out


# TLSA association data (RFC 6698 2.1) ------------------------------------

def cert_der(pem):
    """The DER of the (first) certificate in the PEM file."""
    return _run(["openssl", "x509", "-in", pem, "-outform", "DER"])


def spki_der(pem):
    """The DER SubjectPublicKeyInfo of the certificate in the PEM file, as
    "openssl x509 -pubkey | openssl pkey -pubin -outform DER" gives it."""
    pub = _run(["openssl", "x509", "-in", pem, "-pubkey", "-noout"])
    return _run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub)


def tlsa_data(pem, selector, mtype):
    """Certificate association data, lower-case hex: selector 0 (full
    certificate) or 1 (SPKI); matching type 0 (exact), 1 (SHA-256) or 2
    (SHA-512)."""
    der = cert_der(pem) if selector == 0 else spki_der(pem)
    if mtype == 0:
        return der.hex()
    if mtype == 1:
        return hashlib.sha256(der).hexdigest()
    if mtype == 2:
        return hashlib.sha512(der).hexdigest()
    raise ValueError("matching type %r" % mtype)


def tlsa_rdata(pem, usage, selector, mtype):
    """"U S M HEX", the RDATA of a TLSA record in zone-file form."""
    return "%d %d %d %s" % (usage, selector, mtype, tlsa_data(pem, selector, mtype))


def summary(d):
    f = files(d)
    return {
        "files": f,
        "tlsa": {
            "mx1 3 1 1": tlsa_rdata(f["mx1.pem"], 3, 1, 1),
            "mx1 3 0 1": tlsa_rdata(f["mx1.pem"], 3, 0, 1),
            "mx1 3 1 2": tlsa_rdata(f["mx1.pem"], 3, 1, 2),
            "mx1 3 1 0": tlsa_rdata(f["mx1.pem"], 3, 1, 0),
            "ca 2 0 1": tlsa_rdata(f["ca.pem"], 2, 0, 1),
            "ca 2 1 1": tlsa_rdata(f["ca.pem"], 2, 1, 1),
            "int 2 0 1": tlsa_rdata(f["int.pem"], 2, 0, 1),
        },
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: %s DIR" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary(make(sys.argv[1])), indent=1))
