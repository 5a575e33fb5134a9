"""received_header = yes: the one trace field the proxy adds to a message,
checked byte for byte at the backend (the recording sink) for plaintext,
STARTTLS and implicit TLS, with and without client certificates; counted
toward max_message_size to the octet; and the SMTP smuggling payloads of
test_hostile_framing with the field on (still one message, the body after
the field exactly as without it).
"""

import email.utils
import os
import re
import socket
import time

import pytest

import stplib
from test_hostile_framing import SMUGGLED, VARIANTS, smuggling_body
from test_party import other_ca  # noqa: F401 (fixture)

CLIENT_IP = "127.0.0.9"
DATE_RE = re.compile(rb"\t([A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000)\r\n")


def expect(reply, code):
    assert reply.code == code, reply


@pytest.fixture
def make_rh_env(make_sink, make_proxy, certs):
    def factory(client_ca=True, inbound=None, **sink_kw):
        sink = make_sink(**sink_kw)
        keys = {"received_header": "yes"}
        if client_ca:
            keys["client_ca"] = os.path.join(certs, "ca.pem")
        keys.update(inbound or {})
        proxy = make_proxy([
            stplib.Listener("inbound", "starttls", sink.addr, **keys),
            stplib.Listener("inbound:smtps", "implicit", sink.addr, **keys),
        ])
        return sink, proxy
    return factory


def ctx(certs, cert=None, d=None):
    c = stplib.client_context(certs)
    if cert:
        d = d or certs
        c.load_cert_chain(os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"))
    return c


def session(proxy, certs, mode, cert=None, d=None, helo="mx.partner.example"):
    """A client past EHLO; returns (client, tls facts or None)."""
    if mode == "implicit":
        c = stplib.Client(proxy.port("inbound:smtps"), source=CLIENT_IP)
        c.sock = ctx(certs, cert, d).wrap_socket(c.sock, server_hostname="localhost")
        c.tls = True
    else:
        c = stplib.Client(proxy.port("inbound"), source=CLIENT_IP)
    expect(c.reply(), 220)
    expect(c.ehlo(helo), 250)
    if mode == "starttls":
        c.starttls(ctx(certs, cert, d))
        expect(c.ehlo(helo), 250)
    facts = None
    if c.tls:
        name, _, bits = c.sock.cipher()
        facts = (c.sock.version(), name, bits)
    return c, facts


def expected_header(helo, facts, cert_line, date, esmtp="ESMTP"):
    h = "Received: from %s (unknown [%s])\r\n" % (helo, CLIENT_IP)
    if facts:
        h += "\t(using %s with cipher %s (%d/%d bits))\r\n" % (
            facts[0], facts[1], facts[2], facts[2])
        h += "\t%s\r\n" % cert_line
        esmtp += "S"
    h += "\tby %s (starttls-proxy) with %s;\r\n" % (socket.gethostname(), esmtp)
    h += "\t%s\r\n" % date
    return h.encode()


def the_date(msg):
    m = DATE_RE.search(msg)
    assert m, msg[:600]
    when = email.utils.parsedate_to_datetime(m.group(1).decode()).timestamp()
    assert abs(when - time.time()) < 120, m.group(1)
    return m.group(1).decode()


BODY = b"Subject: trace\r\nMessage-ID: <t@partner.example>\r\n\r\nbody line\r\n..dot\r\n"


def send(c, body=BODY):
    expect(c.cmd("MAIL FROM:<a@partner.example>"), 250)
    expect(c.cmd("RCPT TO:<b@legacy.test>"), 250)
    expect(c.cmd("DATA"), 354)
    c.send(body + b".\r\n")
    return c.reply()


@pytest.mark.parametrize("case", ["plain", "starttls-none-requested", "starttls-no-cert",
                                  "starttls-verified", "implicit-not-verified", "helo"])
def test_header_byte_exact(make_rh_env, certs, other_ca, case):  # noqa: F811
    mode = case.split("-")[0]
    sink, proxy = make_rh_env(client_ca=case != "starttls-none-requested")
    cert, d = None, None
    cert_line = {"starttls-none-requested": "(No client certificate requested)",
                 "starttls-no-cert": "(Client did not present a certificate)",
                 "starttls-verified": '(Client CN "mx.test.example", Issuer '
                                      '"starttls-proxy test CA" (verified OK))',
                 "implicit-not-verified": '(Client CN "mx.test.example", Issuer '
                                          '"other test CA" (not verified))'}.get(case)
    if case == "starttls-verified":
        cert = "good"
    if case == "implicit-not-verified":
        cert, d = "leaf", other_ca
    helo = "mx.partner.example"
    if case == "helo":
        mode, helo = "plain", "[192.0.2.1]"
    c, facts = session(proxy, certs, mode, cert, d, helo=helo)
    expect(send(c), 250)
    expect(c.cmd("QUIT"), 221)
    c.close()
    assert sink.wait_closed(), sink.dump()
    (msg,) = sink.messages()
    date = the_date(msg)
    header = expected_header(helo, facts, cert_line, date)
    # sink.py stores the message unstuffed: "..dot" arrives as ".dot".
    assert msg == header + BODY.replace(b"\r\n..dot", b"\r\n.dot"), msg
    # On the wire: the field, then the client's body octets unchanged.
    assert sink.all_raw().endswith(b"DATA\r\n" + header + BODY + b".\r\nQUIT\r\n")


def test_odd_helo_replaced_by_address_literal(make_rh_env, certs):
    sink, proxy = make_rh_env(client_ca=False)
    c, _ = session(proxy, certs, "plain", helo="evil(comment)\xe9")
    expect(send(c), 250)
    c.close()
    assert sink.wait_closed()
    (msg,) = sink.messages()
    assert msg.startswith(("Received: from [%s] (unknown [%s])\r\n\tby " % (
        CLIENT_IP, CLIENT_IP)).encode()), msg[:200]


def test_header_once_per_message_and_off_by_default(make_rh_env, make_env, certs):
    sink, proxy = make_rh_env()
    c, _ = session(proxy, certs, "starttls")
    expect(send(c), 250)
    expect(send(c, b"Subject: second\r\n\r\nx\r\n"), 250)
    c.close()
    assert sink.wait_closed(min_conns=2)
    msgs = sink.messages()
    assert len(msgs) == 2 and all(m.count(b"Received: ") == 1 for m in msgs)
    assert msgs[1].endswith(b"\r\n\tby %s (starttls-proxy) with ESMTPS;\r\n\t%s\r\n"
                            b"Subject: second\r\n\r\nx\r\n" % (
                                socket.gethostname().encode(),
                                the_date(msgs[1]).encode()))
    # Without the key nothing is added.
    env = make_env()
    c = env.client()
    expect(c.reply(), 220)
    expect(c.ehlo(), 250)
    expect(send(c), 250)
    c.close()
    assert env.sink.wait_closed()
    assert env.sink.messages() == [BODY.replace(b"\r\n..dot", b"\r\n.dot")]


@pytest.mark.parametrize("over", [0, 1], ids=["exactly-at-limit", "one-octet-over"])
def test_header_counts_toward_max_message_size(make_rh_env, certs, over):
    """The limit is the field plus the body (without the end-of-data line):
    at the limit the message passes, one octet more and it is 552."""
    # The field's length does not depend on the date (fixed width).
    helo = "mx.partner.example"
    probe_sink, probe = make_rh_env(client_ca=False)
    c, facts = session(probe, certs, "starttls", helo=helo)
    c.close()
    header = expected_header(helo, facts, "(No client certificate requested)",
                             "Wed, 02 Dec 2026 21:53:24 +0000")
    limit = len(header) + len(BODY) - over
    sink, proxy = make_rh_env(client_ca=False, inbound={"max_message_size": str(limit)})
    c, facts2 = session(proxy, certs, "starttls", helo=helo)
    assert facts2 == facts
    r = send(c)
    if over:
        assert r.code == 552 and r.lines[-1].startswith("552 5.3.4 "), r
        c.close()
        assert sink.wait_closed(min_conns=2)
        assert sink.messages() == []
    else:
        expect(r, 250)
        c.close()
        assert sink.wait_closed(min_conns=2)
        assert len(sink.messages()) == 1
        assert len(sink.messages()[0]) == len(header) + len(BODY) - 1  # "..dot" unstuffed


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_smuggling_with_header(make_rh_env, certs, variant, tls):
    """test_hostile_framing's payloads with the field on: one message, and
    after the field exactly the bytes the proxy sends without it."""
    sink, proxy = make_rh_env(client_ca=False, lenient_eod=True)
    c, facts = session(proxy, certs, "starttls" if tls else "plain")
    expect(c.cmd("MAIL FROM:<a@x>"), 250)
    expect(c.cmd("RCPT TO:<b@y>"), 250)
    expect(c.cmd("DATA"), 354)
    c.send(smuggling_body(variant) + b".\r\n")
    expect(c.reply(), 250)
    assert c.nothing_within(0.3), c.buf
    expect(c.cmd("QUIT"), 221)
    c.close()
    assert sink.wait_closed(), sink.dump()
    breaks = b"\r\n\r\n" if variant == "cr-nul-lf-dot-crlf" else b"\r\n"
    (msg,) = sink.messages()
    header = expected_header("mx.partner.example", facts,
                             "(No client certificate requested)", the_date(msg))
    assert msg == header + b"Subject: s\r\n\r\nhello" + breaks + b".\r\n" + SMUGGLED
    wire = header + b"Subject: s\r\n\r\nhello" + breaks + b"..\r\n" + SMUGGLED + b".\r\n"
    assert sink.all_raw().endswith(b"DATA\r\n" + wire + b"QUIT\r\n")
    assert not any("evil" in x for n in sink.conns() for x in sink.commands(n))


def test_metric_counts_fields(make_rh_env, make_proxy, make_sink, certs):
    sink = make_sink()
    admin = stplib.free_port()
    proxy = make_proxy([stplib.Listener("inbound", "starttls", sink.addr,
                                        received_header="yes")],
                       global_keys={"admin": "127.0.0.1:%d" % admin})
    c, _ = session(proxy, certs, "plain")
    expect(send(c), 250)
    c.close()
    assert sink.wait_closed()
    r = stplib.run(["curl", "-s", "http://127.0.0.1:%d/metrics" % admin])
    assert ('stp_received_headers_total{listener="inbound",direction="inbound"} 1'
            in r.stdout), r.stdout
