"""OCSP stapling (ocsp = FILE after a cert/key pair): openssl s_client
-status sees the staple; one past its nextUpdate is not sent (a log line,
the gauges); a response that is not successful, not about the pair's
certificate, revoked or without nextUpdate is refused at load; a changed
file is re-read.

The responses are made here with python3-cryptography, signed by the test
CA (the proxy does not check the signature; openssl s_client prints it).
"""

import datetime
import os
import re

import pytest

import stplib

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
except ImportError:  # Debian: python3-cryptography
    x509 = None


def need_crypto():
    if x509 is None:
        pytest.skip("python3-cryptography is not installed")


def load_cert(certs, name):
    with open(os.path.join(certs, name), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def make_response(certs, path, cert="server.pem", status="good", next_hours=24,
                  this_hours=-1, unsuccessful=False, no_next=False):
    need_crypto()
    if unsuccessful:
        r = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    else:
        ca = load_cert(certs, "ca.pem")
        with open(os.path.join(certs, "ca.key"), "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        now = datetime.datetime.utcnow().replace(microsecond=0)
        st = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
              "unknown": ocsp.OCSPCertStatus.UNKNOWN}[status]
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=load_cert(certs, cert), issuer=ca, algorithm=hashes.SHA1(),
            cert_status=st, this_update=now + datetime.timedelta(hours=this_hours),
            next_update=None if no_next else now + datetime.timedelta(hours=next_hours),
            revocation_time=now if status == "revoked" else None,
            revocation_reason=None).responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
        r = b.sign(key, hashes.SHA256())
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(r.public_bytes(serialization.Encoding.DER))
    os.replace(tmp, path)
    return path


def start(make_proxy, make_sink, ocsp_path, admin=None):
    sink = make_sink()
    keys = {"ocsp": ocsp_path} if ocsp_path else {}
    g = {"admin": "127.0.0.1:%d" % admin} if admin else None
    return make_proxy([stplib.Listener("inbound", "starttls", sink.addr, **keys)],
                      certpairs=[("server.pem", "server.key")], global_keys=g)


def s_client_status(port, certs):
    r = stplib.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-starttls",
                    "smtp", "-status", "-CAfile", os.path.join(certs, "ca.pem"),
                    "-servername", "localhost"], input="QUIT\r\n", timeout=30)
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    return r.stdout


def metrics(admin):
    return stplib.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % admin]).stdout


def test_staple_sent_to_clients_that_ask(make_proxy, make_sink, certs, workdir):
    path = make_response(certs, os.path.join(workdir, "ocsp.der"))
    admin = stplib.free_port()
    p = start(make_proxy, make_sink, path, admin)
    out = s_client_status(p.port(), certs)
    assert "OCSP Response Status: successful (0x0)" in out, out
    assert "Cert Status: good" in out, out
    m = metrics(admin)
    assert 'stp_ocsp_stapling{listener="inbound",index="0"} 1' in m, m
    nu = re.search(r'stp_ocsp_next_update_seconds\{listener="inbound",index="0"\} (\d+)', m)
    assert nu and abs(int(nu.group(1)) - (int(datetime.datetime.utcnow().timestamp())
                                          + 24 * 3600)) < 120, m


def test_no_staple_without_ocsp(make_proxy, make_sink, certs):
    p = start(make_proxy, make_sink, None)
    out = s_client_status(p.port(), certs)
    assert "OCSP response: no response sent" in out, out


def test_expired_not_sent_then_refreshed(make_proxy, make_sink, certs, workdir):
    path = make_response(certs, os.path.join(workdir, "ocsp.der"), next_hours=-1,
                         this_hours=-3)
    admin = stplib.free_port()
    p = start(make_proxy, make_sink, path, admin)
    out = s_client_status(p.port(), certs)
    assert "OCSP response: no response sent" in out, out
    ev = p.wait_event("ocsp_expired")
    assert ev[0]["file"] == path and ev[0]["result"] == "not stapled"
    assert 'stp_ocsp_stapling{listener="inbound",index="0"} 0' in metrics(admin)
    # The external job writes a fresh one: re-read, stapled again.
    make_response(certs, path)
    p.wait_event("reloaded")
    out = s_client_status(p.port(), certs)
    assert "Cert Status: good" in out, out
    assert 'stp_ocsp_stapling{listener="inbound",index="0"} 1' in metrics(admin)


@pytest.mark.parametrize("case,message", [
    ("unsuccessful", "responseStatus is not successful (0)"),
    ("other-cert", "no response for this certificate (serial and issuer)"),
    ("revoked", "the certificate is revoked"),
    ("unknown", "the certificate's status is unknown"),
    ("no-next", "no nextUpdate: the response could never be known to be stale"),
    ("garbage", "not a DER OCSP response"),
])
def test_bad_response_refused_at_load(make_proxy, make_sink, certs, workdir, case, message):
    path = os.path.join(workdir, "ocsp.der")
    if case == "garbage":
        with open(path, "wb") as f:
            f.write(b"\x30\x03\x0a\x01")
    else:
        make_response(certs, path, cert="good.pem" if case == "other-cert" else "server.pem",
                      status=case if case in ("revoked", "unknown") else "good",
                      unsuccessful=case == "unsuccessful", no_next=case == "no-next")
    with pytest.raises(RuntimeError) as e:
        start(make_proxy, make_sink, path)
    assert "ocsp '%s': %s" % (path, message) in str(e.value), str(e.value)


def test_ocsp_must_follow_a_pair(make_proxy, make_sink, workdir):
    sink = make_sink()
    with pytest.raises(RuntimeError) as e:
        make_proxy([stplib.Listener("inbound", "off", sink.addr, ocsp="/x/o.der")])
    assert "ocsp without a cert/key pair" in str(e.value)
