"""Shared session-ticket keys (ticket_key = FILE, nginx's 80- and 48-byte
formats): two proxy processes resume each other's TLS sessions, over TLS
1.2 and 1.3, with Python's ssl and with openssl s_client -sess_out/-sess_in;
after a rotation old tickets still resume and are renewed under the new
key; a changed key file is reloaded. A proxy without the keys is the
control: it resumes nothing of the others'.
"""

import os
import re
import ssl

import pytest

import stplib

VERSIONS = {"tls12": ssl.TLSVersion.TLSv1_2, "tls13": ssl.TLSVersion.TLSv1_3}


def expect(reply, code):
    assert reply.code == code, reply


@pytest.fixture
def keys(workdir):
    """Key files: k1, k2 (80 bytes), legacy (48 bytes)."""
    out = {}
    for name, n in (("k1", 80), ("k2", 80), ("legacy", 48)):
        p = os.path.join(workdir, name + ".key")
        with open(p, "wb") as f:
            f.write(os.urandom(n))
        out[name] = p
    return out


@pytest.fixture
def make_tls_proxy(make_sink, make_proxy):
    sink = make_sink()

    def factory(ticket_keys, admin=None, **kw):
        keys = {}
        if ticket_keys:
            keys["ticket_key"] = list(ticket_keys)
        keys.update(kw)
        g = {"admin": "127.0.0.1:%d" % admin} if admin else None
        return make_proxy([stplib.Listener("inbound", "starttls", sink.addr, **keys)],
                          global_keys=g)
    return factory


_contexts = {}


def connect(proxy, certs, version, session=None):
    """One STARTTLS session offering session; returns (reused, the session
    to offer next time). The EHLO after the handshake makes the client read
    what the server sent after it (TLS 1.3 tickets come then)."""
    # Python resumes a session only in the context that made it.
    ctx = _contexts.get((certs, version))
    if ctx is None:
        ctx = stplib.client_context(certs)
        ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
        _contexts[(certs, version)] = ctx
    c = stplib.Client(proxy.port())
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    expect(c.cmd("STARTTLS"), 220)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost", session=session)
    c.tls = True
    expect(c.ehlo(), 250)
    expect(c.cmd("NOOP"), 250)
    reused, sess = c.sock.session_reused, c.sock.session
    expect(c.cmd("QUIT"), 221)
    c.close()
    assert sess is not None and sess.has_ticket, "no ticket from the proxy"
    return reused, sess


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_two_processes_resume_each_other(make_tls_proxy, certs, keys, version):
    admin = stplib.free_port()
    a = make_tls_proxy([keys["k1"]])
    b = make_tls_proxy([keys["k1"]], admin=admin)
    control = make_tls_proxy([])
    reused, sa = connect(a, certs, version)
    assert not reused
    reused, sb = connect(b, certs, version, sa)
    assert reused, "a ticket from process A did not resume on process B"
    reused, _ = connect(a, certs, version, sb)
    assert reused, "a ticket from process B did not resume on process A"
    reused, _ = connect(control, certs, version, sa)
    assert not reused, "a proxy without the key resumed a ticket it cannot open"
    m = stplib.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % admin]).stdout
    assert 'stp_tls_resumed_total{listener="inbound",direction="inbound"} 1' in m, m


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_rotation_old_tickets_resume_and_renew(make_tls_proxy, certs, keys, version):
    old = make_tls_proxy([keys["k1"]])
    rotated = make_tls_proxy([keys["k2"], keys["k1"]])
    new_only = make_tls_proxy([keys["k2"]])
    _, s_old = connect(old, certs, version)
    reused, s_renewed = connect(rotated, certs, version, s_old)
    assert reused, "a ticket sealed with the older key did not resume"
    # The ticket the rotated proxy gave back is sealed with the first key:
    # a proxy that only has that key opens it, but not the old one.
    reused, _ = connect(new_only, certs, version, s_renewed)
    assert reused, "the renewed ticket is not sealed with the first key"
    reused, _ = connect(new_only, certs, version, s_old)
    assert not reused


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_legacy_48_byte_keys(make_tls_proxy, certs, keys, version):
    a = make_tls_proxy([keys["legacy"]])
    b = make_tls_proxy([keys["legacy"]])
    _, s = connect(a, certs, version)
    reused, _ = connect(b, certs, version, s)
    assert reused


def test_key_file_change_is_reloaded(make_tls_proxy, certs, keys, workdir):
    path = os.path.join(workdir, "current.key")
    with open(path, "wb") as f, open(keys["k1"], "rb") as k:
        f.write(k.read())
    p = make_tls_proxy([path])
    _, s1 = connect(p, certs, "tls13")
    reused, _ = connect(p, certs, "tls13", s1)
    assert reused
    with open(path + ".new", "wb") as f, open(keys["k2"], "rb") as k:
        f.write(k.read())
    os.replace(path + ".new", path)
    p.wait_event("reloaded")
    reused, s2 = connect(p, certs, "tls13", s1)
    assert not reused, "a ticket of the replaced key still resumed"
    reused, _ = connect(p, certs, "tls13", s2)
    assert reused
    # Key bytes never reach the log.
    for name in ("k1", "k2"):
        with open(keys[name], "rb") as k:
            assert k.read().hex()[:16] not in p.stderr()


def test_bad_key_file_refused(make_sink, make_proxy, keys, workdir):
    short = os.path.join(workdir, "short.key")
    with open(short, "wb") as f:
        f.write(os.urandom(32))
    sink = make_sink()
    with pytest.raises(RuntimeError) as e:
        make_proxy([stplib.Listener("inbound", "starttls", sink.addr,
                                    ticket_key=[keys["k1"], short])])
    assert "ticket_key '%s': another number of bytes; a key is 80 or 48 bytes" % short \
        in str(e.value)


def s_client(port, certs, sess_out=None, sess_in=None):
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-starttls", "smtp",
            "-CAfile", os.path.join(certs, "ca.pem"), "-servername", "localhost",
            "-verify_return_error", "-ign_eof"]
    if sess_out:
        argv += ["-sess_out", sess_out]
    if sess_in:
        argv += ["-sess_in", sess_in]
    r = stplib.run(argv, input="EHLO client.example\r\nQUIT\r\n", timeout=30)
    m = re.search(r"^(New|Reused), (TLSv1\.[23])", r.stdout, re.M)
    assert m, r.stdout + r.stderr
    return m.group(1), r


def test_openssl_s_client_resumes_across_processes(make_tls_proxy, certs, keys, workdir):
    a = make_tls_proxy([keys["k1"]])
    b = make_tls_proxy([keys["k1"]])
    control = make_tls_proxy([keys["k2"]])
    sess = os.path.join(workdir, "s_client.sess")
    how, r = s_client(a.port(), certs, sess_out=sess)
    assert how == "New", r.stdout
    assert os.path.getsize(sess) > 0
    how, r = s_client(b.port(), certs, sess_in=sess)
    assert how == "Reused", r.stdout
    how, r = s_client(control.port(), certs, sess_in=sess)
    assert how == "New", r.stdout
