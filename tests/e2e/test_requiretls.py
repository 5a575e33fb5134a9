"""REQUIRETLS (RFC 8689) and TLS-Required: No.

Inbound: the proxy never offers REQUIRETLS, even when the backend does
(the legacy backend cannot keep the promise).

Outbound: REQUIRETLS is offered to the legacy server only when the upstream
offered it inside TLS and the session can be authenticated; in a
REQUIRETLS transaction every RCPT needs an upstream authenticated for its
domain, else 550 5.7.30 and nothing of it is sent. Relay mode: the relay
itself (a DANE match, or tls = verify for its name). Transparent mode: per
recipient domain (a DANE match, an MTA-STS match), with test_dane.py's
namespaces (World).

What a user checks: the EHLO keywords the legacy server sees, the reply
codes, what reached the MX (the MAIL line with REQUIRETLS unchanged, no
RCPT of a refused recipient, the message byte for byte).
"""

import pytest

import stplib
from dnslab import dane_pki, fake_dns  # noqa: F401
from outlib import MX, dot_stuff, make_outproxy, netns_up, outbound  # noqa: F401
from test_dane import (MESSAGE, codes, rcpt_seen, relay_zone, world,  # noqa: F401
                       world_base, zone)

MAIL_RT = "MAIL FROM:<a@sender.example> REQUIRETLS"


# --------------------------------------------------------------------------
# Inbound

@pytest.mark.parametrize("caps", ["PIPELINING,REQUIRETLS,SIZE 10240000",
                                  "REQUIRETLS"])
def test_inbound_never_offers_requiretls(make_env, caps):
    """Before and after STARTTLS, whatever the backend lists; the backend
    does list it (the sink's own EHLO reply, asked directly)."""
    env = make_env(ehlo=caps)
    direct = stplib.Client(int(env.sink.addr.rsplit(":", 1)[1]))
    direct.reply()
    assert "REQUIRETLS" in direct.ehlo().keywords()
    direct.close()
    c = env.client()
    assert c.reply().code == 220
    r = c.ehlo()
    assert r.code == 250 and "STARTTLS" in r.keywords(), r.lines
    assert "REQUIRETLS" not in r.keywords(), r.lines
    c.starttls(env.ctx())
    r = c.ehlo()
    assert r.code == 250, r.lines
    assert "REQUIRETLS" not in r.keywords(), r.lines
    c.close()


def test_inbound_allow_commands_cannot_add_requiretls(make_env):
    env = make_env(ehlo="PIPELINING,REQUIRETLS", inbound={"allow_commands": "REQUIRETLS"})
    c = env.client()
    c.reply()
    r = c.ehlo()
    assert r.code == 250 and "REQUIRETLS" not in r.keywords(), r.lines
    c.close()


# --------------------------------------------------------------------------
# Outbound, relay mode

@pytest.fixture
def relay(workdir, dane_pki, make_outproxy):
    started = []

    def factory(cert="mx1", mode="normal,requiretls", tls="may", tlsa_of=None,
                relay_dane="no"):
        mx = MX(workdir, dane_pki.path(cert + "-chain.pem"), dane_pki.path(cert + ".key"),
                name="rmx%d" % len(started), mode=mode)
        started.append(mx)
        tlsa = [dane_pki.tlsa(*tlsa_of)] if tlsa_of else []
        dns = fake_dns(workdir, relay_zone(mx.port, tlsa), secure=["lab.test."],
                       name="rdns%d" % len(started))
        d = dns.__enter__()
        started.append(dns)
        px = make_outproxy([outbound(relay="mx1.lab.test:%d" % mx.port, tls=tls,
                                     relay_dane=relay_dane, ca_file=dane_pki.ca)],
                           global_keys={"dns": "127.0.0.1:%d" % d.port, "dns_timeout": "2s",
                                        "dnssec_probe": "no"})
        return mx, px

    yield factory
    for x in started:
        if isinstance(x, MX):
            x.stop()
        else:
            x.__exit__(None, None, None)


def relay_session(px, mail=MAIL_RT, rcpts=("b@lab.test",), message=MESSAGE):
    c = stplib.Client(px.port())
    out = {"banner": c.reply().code}
    ehlo = c.ehlo("legacy.example")
    out["ehlo"], out["keywords"] = ehlo.code, ehlo.keywords()
    r = c.cmd(mail)
    out["mail"] = r.code
    out["mail_text"] = r.lines[-1]
    out["rcpt"] = [c.cmd("RCPT TO:<%s>" % a).lines[-1][:9] for a in rcpts]
    out["data"] = c.cmd("DATA").code
    if out["data"] == 354:
        c.send(dot_stuff(message) + b".\r\n")
        out["eod"] = c.reply().code
    c.cmd("QUIT")
    c.close()
    return out


@pytest.mark.parametrize("how", ["verify", "dane"])
def test_authenticated_relay_passes_requiretls(relay, how):
    """tls = verify for the relay's name, or a DANE match: REQUIRETLS is
    offered, and MAIL ... REQUIRETLS goes upstream unchanged."""
    if how == "verify":
        mx, px = relay(tls="verify")
    else:
        mx, px = relay(tlsa_of=("mx1", 3, 1, 1), relay_dane="yes")
    out = relay_session(px)
    assert "REQUIRETLS" in out["keywords"], out
    assert out["mail"] == 250 and out["rcpt"] == ["250 2.1.5"], out
    assert out.get("eod") == 250, out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert mx.meta(1)["mail"] == "FROM:<a@sender.example> REQUIRETLS", mx.meta(1)


@pytest.mark.parametrize("cert, mode", [("wrongname", "normal,requiretls"),
                                        ("mx1", "no-starttls,requiretls")])
def test_unauthenticated_relay_gets_550_5_7_30(relay, cert, mode):
    """Encrypted to a certificate of another name (tls = may), or no TLS at
    all while the relay lists REQUIRETLS in plaintext: not offered, and
    MAIL ... REQUIRETLS is a permanent 550 5.7.30 (not a syntax error);
    nothing of the transaction reaches the relay."""
    mx, px = relay(cert=cert, mode=mode)
    out = relay_session(px)
    assert "REQUIRETLS" not in out["keywords"], out
    assert out["mail"] == 550 and out["mail_text"].startswith("550 5.7.30 "), out
    # What the legacy server sends on in that transaction stays here.
    assert out["rcpt"] == ["503 5.5.1"] and out["data"] == 503, out
    assert mx.wait_closed()
    cmds = [l.upper() for _, l in mx.all_commands()]
    assert not any(l.startswith(("MAIL", "RCPT", "DATA")) for l in cmds), cmds
    assert mx.messages() == []


def test_plain_mail_over_an_unauthenticated_relay_is_untouched(relay):
    mx, px = relay(cert="wrongname")
    out = relay_session(px, mail="MAIL FROM:<a@sender.example>")
    assert out["mail"] == 250 and out["rcpt"] == ["250 2.1.5"] and out.get("eod") == 250, out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]


# --------------------------------------------------------------------------
# Outbound, transparent mode: per recipient domain

def send(world, rcpts, mail=MAIL_RT, message=MESSAGE):
    return world.send(rcpts, message=message, mail=mail)


def codes10(replies):
    """Reply codes with the enhanced status code, 5.7.30 whole."""
    return [r[-1][:10].rstrip() for r in replies]


def keywords(ehlo):
    return [l[4:].split(" ")[0].upper() for l in ehlo[1:]]


def test_dane_recipient_passes_encrypted_only_recipient_refused(world):
    """lab.test has a DANE match: its recipient goes. plain.test has no
    policy: the session is merely encrypted for it, 550 5.7.30, and its
    address never reaches the MX."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki, mode="normal,requiretls")
    px = world.proxy()
    out = send(world, ["b@lab.test", "c@plain.test"])
    assert "REQUIRETLS" in keywords(out["ehlo"]), out
    assert codes10(out["replies"]) == ["250 2.1.0", "250 2.1.5", "550 5.7.30"], out
    assert out["eod"][-1].startswith("250"), out
    assert mx.wait_closed()
    assert mx.messages() == [MESSAGE]
    assert rcpt_seen(mx, "b@lab.test") and not rcpt_seen(mx, "c@plain.test")
    assert mx.meta(1)["mail"].endswith("REQUIRETLS"), mx.meta(1)
    px.wait_event("requiretls", domain="plain.test", outcome="refused")


def test_encrypted_only_transaction_sends_nothing(world):
    """Every recipient merely encrypted: no RCPT reaches the MX, and no
    message."""
    pki = world.pki
    world.dns.set_zone(zone())
    mx = world.mx(pki, mode="normal,requiretls")
    world.proxy()
    out = send(world, ["b@lab.test", "c@plain.test"])
    assert codes10(out["replies"]) == ["250 2.1.0", "550 5.7.30", "550 5.7.30"], out
    # DATA goes up and is refused there: the upstream has no recipient.
    assert not out["data"][0].startswith("354"), out
    assert mx.wait_closed()
    cmds = [l.upper() for _, l in mx.all_commands()]
    assert not any(l.startswith("RCPT") for l in cmds), cmds
    assert mx.messages() == []


def test_not_offered_without_authentication_means(world):
    """dane and mta_sts off, no [policy:]: nothing could authenticate a
    recipient, so REQUIRETLS is not offered and MAIL ... REQUIRETLS gets
    550 5.7.30."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki, mode="normal,requiretls")
    world.proxy(dane="no")
    out = send(world, ["b@lab.test"])
    assert "REQUIRETLS" not in keywords(out["ehlo"]), out
    assert out["replies"][0][-1].startswith("550 5.7.30"), out
    assert mx.wait_closed()
    assert mx.messages() == []


def test_not_offered_when_the_mx_does_not_offer_it(world):
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("mx1", 3, 1, 1)]))
    mx = world.mx(pki)
    world.proxy()
    out = send(world, ["b@lab.test"])
    assert "REQUIRETLS" not in keywords(out["ehlo"]), out
    assert out["replies"][0][-1].startswith("550 5.7.30"), out
    assert mx.wait_closed()
    assert mx.messages() == []


def test_tls_required_no_passes_through_and_changes_nothing(world):
    """TLS-Required: No is inside the body, after the RCPT decisions: the
    DANE mismatch still refuses lab.test, and the header reaches the MX
    unchanged for plain.test."""
    pki = world.pki
    world.dns.set_zone(zone(tlsa_lab=[pki.tlsa("other", 3, 1, 1)]))
    mx = world.mx(pki)
    world.proxy()
    msg = b"TLS-Required: No\r\n" + MESSAGE
    out = send(world, ["b@lab.test", "c@plain.test"], mail="MAIL FROM:<a@sender.example>",
               message=msg)
    assert codes(out["replies"]) == ["250 2.1.0", "450 4.7.5", "250 2.1.5"], out
    assert mx.wait_closed()
    assert mx.messages() == [msg]
