"""TLS defaults of the inbound listener: a testssl.sh scan (-p -s) judged by
tests/tools/scan_verdict.py, and direct checks with openssl s_client and
Python ssl: old protocols and non-AEAD or non-forward-secret suites
refused, server cipher preference, no renegotiation, no compression, and
certificate selection by SNI among several configured pairs.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import stplib

sys.path.insert(0, os.path.join(stplib.SOURCE_DIR, "tests", "tools"))
import scan_verdict  # noqa: E402


def s_client(port, *args, stdin="QUIT\n", timeout=20):
    """openssl s_client -starttls smtp to the proxy; returns (rc, output)."""
    r = stplib.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                    "127.0.0.1:%d" % port] + list(args), input=stdin, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def negotiated(out):
    """(protocol, cipher) from s_client output, or None if no handshake."""
    m = re.search(r"New, (\S+), Cipher is (\S+)", out)
    if not m or m.group(2) == "(NONE)":
        return None
    return m.group(1), m.group(2)


# --------------------------------------------------------------------------
# The scanner

def test_verdict_parser_rejects_bad_scans():
    """The verdict can fail: a scan that shows TLS 1.1 or a MEDIUM finding,
    or that did not run, is refused; certificate findings are allowed."""
    good = [{"id": p, "severity": "OK", "finding": "not offered"}
            for p in scan_verdict.NOT_OFFERED]
    good += [{"id": "TLS1_2", "severity": "OK", "finding": "offered"},
             {"id": "TLS1_3", "severity": "OK", "finding": "offered with final"}]
    good += [{"id": c, "severity": "OK", "finding": "not offered"}
             for c in scan_verdict.CLASSES_NOT_OFFERED]
    assert scan_verdict.problems(good) == []
    cert = good + [{"id": "cert_chain_of_trust", "severity": "CRITICAL",
                    "finding": "failed (chain incomplete)."}]
    assert scan_verdict.problems(cert) == []
    assert scan_verdict.problems(cert, allow_cert=False) != []
    tls11 = [dict(f, finding="offered") if f["id"] == "TLS1_1" else f for f in good]
    assert scan_verdict.problems(tls11) != []
    medium = good + [{"id": "BREACH", "severity": "MEDIUM", "finding": "potentially"}]
    assert scan_verdict.problems(medium) != []
    avg = [dict(f, finding="offered") if f["id"] == "cipherlist_AVERAGE" else f for f in good]
    assert scan_verdict.problems(avg) != []
    assert scan_verdict.problems([]) != []
    assert scan_verdict.problems([f for f in good if f["id"] != "SSLv3"]) != []


def test_testssl_starttls_scan(env, workdir):
    exe = shutil.which("testssl") or shutil.which("testssl.sh")
    if exe is None:
        pytest.skip("testssl.sh is not installed (Debian package testssl.sh; "
                    "scripts/setup.sh should install it)")
    out = os.path.join(workdir, "testssl.json")
    r = stplib.run([exe, "-p", "-s", "--starttls", "smtp", "--jsonfile", out,
                    "--warnings", "batch", "--color", "0", "--nodns", "none", "--quiet",
                    "127.0.0.1:%d" % env.port], timeout=240, cwd=workdir)
    assert os.path.exists(out), r.stdout[-3000:] + r.stderr[-3000:]
    with open(out) as f:
        findings = json.load(f)
    problems = scan_verdict.problems(findings, allow_cert=True)
    assert problems == [], "\n".join(problems) + "\n" + r.stdout[-3000:]


# --------------------------------------------------------------------------
# Direct checks

@pytest.mark.parametrize("proto", ["-tls1", "-tls1_1"])
def test_old_protocols_refused(env, proto):
    rc, out = s_client(env.port, proto, "-cipher", "DEFAULT@SECLEVEL=0")
    assert negotiated(out) is None, out[-2000:]
    assert rc != 0
    # Control: the same client without the version cap gets TLS.
    rc, out = s_client(env.port, "-tls1_2")
    assert negotiated(out) is not None, out[-2000:]


@pytest.mark.parametrize("cipher", [
    "AES128-SHA",                  # RSA key exchange, CBC
    "AES128-GCM-SHA256",           # AEAD but no forward secrecy
    "ECDHE-RSA-AES128-SHA",        # forward secret but CBC
    "ECDHE-RSA-AES256-SHA384",     # forward secret but CBC
    "DHE-RSA-AES128-GCM-SHA256",   # finite-field DHE
])
def test_weak_tls12_suites_refused(env, cipher):
    rc, out = s_client(env.port, "-tls1_2", "-cipher", cipher + "@SECLEVEL=0")
    assert negotiated(out) is None, out[-2000:]


def test_strong_tls12_suite_and_no_compression(env):
    rc, out = s_client(env.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert negotiated(out) == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"), out[-2000:]
    assert "Compression: NONE" in out, out[-2000:]
    rc, out = s_client(env.port, "-tls1_3")
    assert negotiated(out) is not None and negotiated(out)[0] == "TLSv1.3", out[-2000:]
    assert "Compression: NONE" in out


def test_server_cipher_preference(env):
    """The same suite is chosen whichever order the client offers."""
    a, b = "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"
    _, out1 = s_client(env.port, "-tls1_2", "-cipher", "%s:%s" % (a, b))
    _, out2 = s_client(env.port, "-tls1_2", "-cipher", "%s:%s" % (b, a))
    n1, n2 = negotiated(out1), negotiated(out2)
    assert n1 is not None and n2 is not None, (out1[-1500:], out2[-1500:])
    assert n1 == n2, (n1, n2)


def test_renegotiation_refused(env):
    """s_client's "R" asks for a renegotiation (TLS 1.2); the proxy must not
    perform it: the session ends and the NOOP after it is not answered."""
    script = "sleep 0.6; printf 'R\\n'; sleep 0.6; printf 'NOOP\\r\\n'; sleep 0.6"
    r = subprocess.run(
        "(%s) | openssl s_client -starttls smtp -connect 127.0.0.1:%d -tls1_2"
        % (script, env.port), shell=True, capture_output=True, text=True,
        errors="replace", timeout=30)
    out = r.stdout + r.stderr
    assert "RENEGOTIATING" in out, out[-2000:]
    after = out[out.index("RENEGOTIATING"):]
    assert "250 2.0.0" not in after, after
    # Control: without "R" the NOOP is answered.
    script = "sleep 0.6; printf 'NOOP\\r\\n'; sleep 0.6"
    r = subprocess.run(
        "(%s) | openssl s_client -starttls smtp -connect 127.0.0.1:%d -tls1_2"
        % (script, env.port), shell=True, capture_output=True, text=True,
        errors="replace", timeout=30)
    assert "250 2.0.0" in r.stdout, r.stdout[-2000:]


# --------------------------------------------------------------------------
# SNI

def make_named_pair(certs, d, name):
    """NAME.pem/NAME.key in d for DNS:name, RSA, signed by the test CA."""
    os.makedirs(d, exist_ok=True)
    key, csr, pem = (os.path.join(d, name + x) for x in (".key", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\n"
                "keyUsage = critical, digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = serverAuth\n"
                "subjectAltName = DNS:%s\n" % name)
    for argv in (
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-subj", "/CN=" + name, "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(certs, "ca.pem"),
         "-CAkey", os.path.join(certs, "ca.key"), "-set_serial",
         "0x" + os.urandom(12).hex(), "-sha256", "-days", "30", "-extfile", ext,
         "-out", pem]):
        subprocess.run(argv, check=True, timeout=60, capture_output=True)
    return pem, key


def peer_cert(port, certs, sni):
    c = stplib.Client(port)
    assert c.reply().code == 220
    assert c.ehlo().code == 250
    ctx = stplib.client_context(certs, check_hostname=False)
    c.starttls(ctx, server_hostname=sni)
    der = c.sock.getpeercert(binary_form=True)
    assert c.ehlo().code == 250
    c.close()
    return der


@pytest.mark.parametrize("order", ["server-first", "other-first"])
def test_sni_selects_certificate(make_sink, make_proxy, certs, workdir, order):
    pem, key = make_named_pair(certs, os.path.join(workdir, "pki"), "other.test")
    server = (os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
    other = (pem, key)
    pairs = [server, other] if order == "server-first" else [other, server]
    sink = make_sink()
    px = make_proxy([stplib.Listener("inbound", "starttls", sink.addr)], certpairs=pairs)
    with open(pem) as f:
        other_der = stplib.ssl.PEM_cert_to_DER_cert(f.read())
    server_der = stplib.cert_der(certs, "server.pem")
    first_der = server_der if order == "server-first" else other_der
    assert peer_cert(px.port(), certs, "other.test") == other_der
    assert peer_cert(px.port(), certs, "mail.test") == server_der
    assert peer_cert(px.port(), certs, "localhost") == server_der
    assert peer_cert(px.port(), certs, "unknown.example") == first_der
    # And the matching names verify against the test CA.
    c = stplib.Client(px.port())
    assert c.reply().code == 220
    c.ehlo()
    c.starttls(stplib.client_context(certs), server_hostname="other.test")
    assert c.ehlo().code == 250
    c.close()
