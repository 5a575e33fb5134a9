"""Wire rules of outbound STARTTLS origination, driven by a plaintext legacy
client that sees every byte, against the scripted MX (tests/tools/mx.py)
that records what it received before and inside TLS.

The relay is "localhost:PORT", so "localhost" is the SNI and the name to
verify; server.pem (mkcerts.sh) carries it, signed by the test CA. The
lh-* certificates (outlib.make_localhost_pki) carry it too, but expired or
self-signed, so that each verification failure comes alone.
"""

import os
import re
import time

import pytest

import stplib
from outlib import (LegacyClient, dot_stuff, lhcerts, make_mx, make_outproxy,  # noqa: F401
                    outbound, policy)

MESSAGE = (b"From: <a@sender.example>\r\n"
           b"To: <b@test.example>\r\n"
           b"Subject: outbound through the proxy\r\n"
           b"Message-ID: <outbound-1@sender.example>\r\n"
           b"Date: Mon, 30 Nov 2026 04:00:00 +0000\r\n"
           b"\r\n"
           b"first line\r\n"
           b".a line that starts with a dot\r\n"
           b".\r\n"
           b"..\r\n"
           b"QUIT\r\n"
           b"\xc3\xa9t\xc3\xa9 8bit\ttab  \r\n"
           + b"x" * 990 + b"\r\n"
           b"last line\r\n")

LEGACY = "legacy.example"
SESSION_VERBS = ("MAIL", "RCPT", "DATA", "BDAT", "AUTH")
INJECTED_LEN = len(b"250-injected\r\n250 PIPELINING\r\n")


class Out:
    """A scripted MX behind an outbound proxy in relay mode."""

    def __init__(self, mx, px, certs):
        self.mx = mx
        self.px = px
        self.certs = certs

    def client(self):
        return LegacyClient(self.px.port())


@pytest.fixture
def out(make_mx, make_outproxy, certs, lhcerts):
    """factory(cert="server", mode="normal", tls="verify", policies=(),
    certdir=None, global_keys=None, dribble=0, **listener keys) -> Out.
    certdir "lh" means the localhost PKI of outlib."""

    def factory(cert="server", mode="normal", tls="verify", policies=(), certdir=None,
                global_keys=None, dribble=0, **keys):
        mx = make_mx(cert=cert, mode=mode, dribble=dribble,
                     certdir=lhcerts if certdir == "lh" else certdir)
        keys.setdefault("ca_file", os.path.join(certs, "ca.pem"))
        sections = [outbound(relay="localhost:%d" % mx.port, tls=tls, **keys)]
        sections += list(policies)
        px = make_outproxy(sections, global_keys=global_keys)
        return Out(mx, px, certs)

    return factory


# --------------------------------------------------------------------------
# helpers

def open_legacy(env, verb="EHLO"):
    """Connect, read the banner, greet. Returns (client, banner, reply)."""
    c = env.client()
    banner = c.reply()
    r = c.cmd("%s %s" % (verb, LEGACY))
    return c, banner, r


def transaction(c, rcpts, message=MESSAGE, sender="<a@sender.example>"):
    """MAIL, each RCPT, DATA if a recipient was accepted. Returns
    (mail reply, [rcpt replies], data reply or None, end reply or None)."""
    mail = c.cmd("MAIL FROM:%s" % sender)
    rr = [c.cmd("RCPT TO:%s" % r) for r in rcpts]
    if mail.code != 250 or not any(r.code == 250 for r in rr):
        return mail, rr, None, None
    d, end = c.data(message)
    return mail, rr, d, end


def quit_and_close(env, c):
    r = c.cmd("QUIT")
    assert r.code == 221, r
    c.read_until_close()
    c.close()
    assert env.mx.wait_closed(), env.mx.dump()


def no_starttls_seen(c):
    """The legacy client never saw STARTTLS in any reply."""
    assert b"STARTTLS" not in c.seen.upper(), c.seen


def session_only_in_tls(env, n=1):
    """On MX connection n, before TLS only EHLO and STARTTLS; MAIL, RCPT,
    DATA only inside TLS."""
    assert env.mx.verbs(n, "plain") == ["EHLO", "STARTTLS"], env.mx.dump()
    tls = env.mx.verbs(n, "tls")
    assert tls[0] == "EHLO", env.mx.dump()
    assert "STARTTLS" not in tls, env.mx.dump()


def nothing_sent(env):
    """No part of a transaction reached the MX, on any connection."""
    for n in env.mx.conns():
        for v in env.mx.verbs(n):
            assert v not in SESSION_VERBS, env.mx.dump()
    assert env.mx.messages() == []
    assert b"outbound through the proxy" not in env.mx.all_raw()


def expect_421(c, reply, enhanced):
    """reply is a 421 with the enhanced code; then the proxy closes."""
    assert reply.code == 421, reply
    assert reply.lines[-1].startswith("421 %s " % enhanced), reply
    assert len(reply.lines) == 1, reply
    rest = c.read_until_close()
    assert rest == b"", rest


def closing(env, **match):
    """The session_close line of the (only) session."""
    return env.px.wait_event("session_close", **match)[-1]


def ehlo_keywords(reply):
    """EHLO keywords (upper case) after the greeting line."""
    return reply.keywords()


# --------------------------------------------------------------------------
# The upgrade

def test_verify_delivers_over_tls_byte_exact(out):
    env = out()
    c, banner, ehlo = open_legacy(env)
    # The upstream banner reaches the legacy server verbatim.
    assert banner.lines == ["220 mx.test.example ESMTP scripted"], banner
    assert ehlo.code == 250, ehlo
    kws = ehlo_keywords(ehlo)
    # The capabilities from inside TLS, without STARTTLS and CHUNKING; the
    # ones from before TLS are forgotten; AUTH stays (the leg is encrypted).
    assert "X-TLS-ONLY" in kws and "X-PLAIN-ONLY" not in kws, ehlo
    assert "STARTTLS" not in kws and "CHUNKING" not in kws, ehlo
    assert "AUTH" in kws and "PIPELINING" in kws, ehlo
    assert ehlo.lines[0] == "250-mx.test.example greets %s" % LEGACY, ehlo
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert (mail.code, [r.code for r in rr], d.code, end.code) == (250, [250], 354, 250)
    assert end.lines == ["250 2.0.0 Ok: queued as 1"], end
    quit_and_close(env, c)
    no_starttls_seen(c)
    assert env.mx.messages() == [MESSAGE]
    meta = env.mx.meta(1)
    assert meta["tls"] in ("TLSv1.2", "TLSv1.3"), meta
    assert meta["sni"] == "localhost", meta
    assert meta["rcpt"] == ["TO:<b@test.example>"], meta
    assert env.mx.conns() == [1]
    session_only_in_tls(env)
    # EHLO upstream with the legacy server's name, before and inside TLS.
    assert [l for _, l in env.mx.commands(1) if l.startswith("EHLO")] == \
        ["EHLO " + LEGACY] * 2
    cl = closing(env)
    assert cl["verify"] == "Verified", cl
    assert cl["tls"] == meta["tls"] and cl["cipher"] == meta["cipher"], cl
    assert cl["relay"] == "localhost" and cl["dest"] == "localhost:%d" % env.mx.port, cl
    assert cl["reason"] == "quit" and cl["messages"] == "1", cl


def test_helo_gets_single_line_and_upstream_gets_ehlo(out):
    env = out()
    c, banner, r = open_legacy(env, "HELO")
    assert r.lines == ["250 mx.test.example greets %s" % LEGACY], r
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end is not None and end.code == 250, (mail, rr, d, end)
    quit_and_close(env, c)
    no_starttls_seen(c)
    # The proxy said EHLO upstream (it needs the capabilities), also inside TLS.
    assert env.mx.verbs(1, "plain") == ["EHLO", "STARTTLS"], env.mx.dump()
    assert env.mx.verbs(1, "tls")[0] == "EHLO", env.mx.dump()
    assert "HELO" not in env.mx.verbs(1)
    assert env.mx.messages() == [MESSAGE]
    assert env.mx.meta(1)["tls"], env.mx.meta(1)


def test_helo_name_replaces_legacy_name(out):
    env = out(helo_name="proxy.example")
    c, banner, r = open_legacy(env)
    assert r.code == 250, r
    quit_and_close(env, c)
    assert [l for _, l in env.mx.commands(1) if l.startswith("EHLO")] == \
        ["EHLO proxy.example"] * 2, env.mx.dump()


def test_starttls_offered_inside_tls_is_removed(out):
    env = out(mode="starttls-in-tls")
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250 and "X-TLS-ONLY" in ehlo_keywords(ehlo), ehlo
    assert ehlo.lines[-1].startswith("250 "), ehlo
    quit_and_close(env, c)
    no_starttls_seen(c)
    # The MX did offer it inside TLS: the proxy removed it.
    assert "tls S: 250 STARTTLS" in env.mx.log(1), env.mx.dump()


def test_starttls_from_legacy_refused_locally(out):
    env = out()
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250, ehlo
    r = c.cmd("STARTTLS")
    assert r.lines[0].startswith("454 4.7.0"), r
    # The session goes on in plaintext toward the proxy, TLS upstream.
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end.code == 250, end
    quit_and_close(env, c)
    session_only_in_tls(env)
    assert env.mx.verbs(1).count("STARTTLS") == 1, env.mx.dump()
    assert env.mx.messages() == [MESSAGE]


def test_auth_offered_and_relayed_inside_tls(out):
    env = out()
    c, banner, ehlo = open_legacy(env)
    assert "AUTH" in ehlo_keywords(ehlo), ehlo
    r = c.cmd("AUTH PLAIN AHVzZXIAc2VjcmV0")
    assert r.code == 235, r
    quit_and_close(env, c)
    assert ("tls", "AUTH PLAIN AHVzZXIAc2VjcmV0") in env.mx.commands(1), env.mx.dump()


@pytest.mark.parametrize("tls,mode", [("none", "normal"), ("may", "no-starttls")])
def test_auth_hidden_and_refused_without_tls(out, tls, mode):
    env = out(tls=tls, mode=mode)
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250, ehlo
    assert "AUTH" not in ehlo_keywords(ehlo), ehlo
    assert "X-PLAIN-ONLY" in ehlo_keywords(ehlo), ehlo
    r = c.cmd("AUTH PLAIN AHVzZXIAc2VjcmV0")
    assert r.code == 454 and r.lines[0].startswith("454 4.7.0 "), r
    quit_and_close(env, c)
    no_starttls_seen(c)
    assert "AUTH" not in env.mx.verbs(1), env.mx.dump()
    assert b"AHVzZXIAc2VjcmV0" not in env.mx.all_raw()


# --------------------------------------------------------------------------
# tls = none and tls = may

def test_tls_none_never_sends_starttls(out):
    env = out(tls="none")
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250 and "X-PLAIN-ONLY" in ehlo_keywords(ehlo), ehlo
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end.code == 250, end
    quit_and_close(env, c)
    no_starttls_seen(c)
    assert "STARTTLS" not in env.mx.verbs(1), env.mx.dump()
    assert b"STARTTLS" not in env.mx.raw(1).upper()
    assert env.mx.raw(1, "tls") == b""
    assert env.mx.messages() == [MESSAGE]
    assert env.mx.meta(1)["tls"] is None
    cl = closing(env)
    assert (cl["tls"], cl["verify"]) == ("none", "none"), cl


def test_may_without_starttls_goes_plaintext(out):
    env = out(tls="may", mode="no-starttls")
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250 and "X-PLAIN-ONLY" in ehlo_keywords(ehlo), ehlo
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end.code == 250, end
    quit_and_close(env, c)
    no_starttls_seen(c)
    assert "STARTTLS" not in env.mx.verbs(1), env.mx.dump()
    assert env.mx.messages() == [MESSAGE]
    assert env.mx.meta(1)["tls"] is None
    assert closing(env)["tls"] == "none"


def test_may_accepts_untrusted_certificate(out):
    env = out(tls="may", cert="lh-selfsigned", certdir="lh")
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end.code == 250, end
    quit_and_close(env, c)
    session_only_in_tls(env)
    assert env.mx.messages() == [MESSAGE]
    assert closing(env)["verify"] == "Untrusted"


@pytest.mark.parametrize("mode,gkeys", [
    ("abort-handshake", {}),
    ("garbage-handshake", {}),
    ("stall-handshake", {"handshake_timeout": "1s", "connect_timeout": "2s"}),
])
def test_may_falls_back_to_plaintext_after_handshake_failure(out, mode, gkeys):
    env = out(tls="may", mode=mode, global_keys=gkeys,
              policies=[policy("secure.example", "encrypt")])
    c, banner, ehlo = open_legacy(env)
    assert banner.code == 220, banner
    assert ehlo.code == 250, ehlo
    # The reply of the new plaintext connection; its banner was swallowed.
    assert "X-PLAIN-ONLY" in ehlo_keywords(ehlo) and "AUTH" not in ehlo_keywords(ehlo), ehlo
    # A recipient whose domain demands TLS is refused on the fallback leg.
    mail, rr, d, end = transaction(c, ["<x@secure.example>", "<b@test.example>"])
    assert [r.code for r in rr] == [450, 250], rr
    assert rr[0].lines[0].startswith("450 4.7.4 "), rr
    assert end.code == 250, end
    quit_and_close(env, c)
    no_starttls_seen(c)
    assert c.seen.count(b"220 ") == 1, c.seen
    assert env.mx.conns() == [1, 2], env.mx.dump()
    assert env.mx.verbs(1) == ["EHLO", "STARTTLS"], env.mx.dump()
    assert env.mx.verbs(2)[:2] == ["EHLO", "MAIL"], env.mx.dump()
    assert "STARTTLS" not in env.mx.verbs(2)
    assert env.mx.messages() == [MESSAGE]
    meta = env.mx.meta(1)
    assert meta["conn"] == 2 and meta["tls"] is None, meta
    assert meta["rcpt"] == ["TO:<b@test.example>"], meta
    assert env.px.events("tls_fallback"), env.px.stderr()
    cl = closing(env)
    assert cl["tls"] == "none" and cl["verify"] == "none", cl


# --------------------------------------------------------------------------
# Demands that cannot be met: 421, nothing sent

@pytest.mark.parametrize("tls", ["encrypt", "verify"])
@pytest.mark.parametrize("mode,enhanced", [
    ("no-starttls", "4.7.4"),
    ("refuse-starttls", "4.7.4"),
    ("abort-handshake", "4.7.5"),
    ("garbage-handshake", "4.7.5"),
])
def test_demanded_tls_not_available(out, tls, mode, enhanced):
    env = out(tls=tls, mode=mode)
    c, banner, r = open_legacy(env)
    assert banner.code == 220, banner
    expect_421(c, r, enhanced)
    c.close()
    no_starttls_seen(c)
    assert env.mx.wait_closed(), env.mx.dump()
    nothing_sent(env)
    # One connection only: no plaintext retry when TLS is demanded.
    assert env.mx.conns() == [1], env.mx.dump()
    if mode in ("no-starttls", "refuse-starttls"):
        # The leg is alive: it is closed politely.
        assert env.mx.verbs(1)[-1] == "QUIT", env.mx.dump()
    assert env.px.events("tls_required_failed"), env.px.stderr()
    assert closing(env)["tls"] == "none"


def test_demanded_tls_handshake_timeout(out):
    env = out(tls="encrypt", mode="stall-handshake",
              global_keys={"handshake_timeout": "1s", "connect_timeout": "2s"})
    c, banner, r = open_legacy(env)
    expect_421(c, r, "4.7.5")
    c.close()
    nothing_sent(env)
    assert env.mx.conns() == [1]


def test_handshake_timeout_is_honoured(out):
    """handshake_timeout bounds the handshake itself, whatever the other
    timeouts are."""
    env = out(tls="encrypt", mode="stall-handshake",
              global_keys={"handshake_timeout": "1s", "connect_timeout": "6s"})
    c = env.client()
    assert c.reply().code == 220
    t0 = time.monotonic()
    r = c.cmd("EHLO " + LEGACY)
    elapsed = time.monotonic() - t0
    assert r.code == 421, r
    c.close()
    assert elapsed < 3.5, "handshake_timeout = 1s, but the 421 came after %.1f s" % elapsed


@pytest.mark.parametrize("tls", ["encrypt", "verify"])
def test_mail_before_ehlo_never_goes_plaintext(out, tls):
    """A legacy server that skips EHLO (servers commonly accept MAIL without
    it) must not get its transaction past a TLS demand: either the proxy
    refuses, or it upgrades first; never MAIL/RCPT/DATA in plaintext."""
    env = out(tls=tls)
    c = env.client()
    assert c.reply().code == 220
    replies = []
    try:
        r = c.cmd("MAIL FROM:<a@sender.example>")
        replies.append(r)
        if r.code == 250:
            r = c.cmd("RCPT TO:<b@test.example>")
            replies.append(r)
            if r.code == 250:
                d, end = c.data(MESSAGE)
                replies += [d, end] if end else [d]
        c.cmd("QUIT")
    except stplib.Closed:
        pass
    c.close()
    assert env.mx.wait_closed(), env.mx.dump()
    plain = [line for _, line in env.mx.all_commands("plain")]
    assert not [l for l in plain if l.split(" ")[0].upper() in SESSION_VERBS], \
        "sent upstream in plaintext despite tls = %s: %r (legacy got %r)" % (tls, plain, replies)
    for m in range(1, len(env.mx.messages()) + 1):
        assert env.mx.meta(m)["tls"], env.mx.meta(m)


def test_min_tls_13_against_tls12_server(out):
    env = out(tls="encrypt", mode="tls12", min_tls="1.3")
    c, banner, r = open_legacy(env)
    expect_421(c, r, "4.7.5")
    c.close()
    assert env.mx.wait_closed(), env.mx.dump()
    nothing_sent(env)


def test_helo_gets_421_too(out):
    env = out(tls="encrypt", mode="no-starttls")
    c, banner, r = open_legacy(env, "HELO")
    expect_421(c, r, "4.7.4")
    c.close()
    assert env.mx.wait_closed(), env.mx.dump()
    nothing_sent(env)


@pytest.mark.parametrize("cert,certdir,verify", [
    ("lh-expired", "lh", "Untrusted"),      # right name, trusted CA, expired
    ("lh-selfsigned", "lh", "Untrusted"),   # right name, not from the CA
    ("wrongname", None, "Trusted"),         # from the CA, other.example
    ("good", None, "Trusted"),              # from the CA, mx.test.example
])
def test_verify_refuses_bad_certificate(out, cert, certdir, verify):
    env = out(tls="verify", cert=cert, certdir=certdir)
    c, banner, r = open_legacy(env)
    expect_421(c, r, "4.7.5")
    c.close()
    no_starttls_seen(c)
    assert env.mx.wait_closed(), env.mx.dump()
    nothing_sent(env)
    # The handshake completed: QUIT went inside TLS, nothing else did.
    assert env.mx.verbs(1, "plain") == ["EHLO", "STARTTLS"], env.mx.dump()
    assert env.mx.verbs(1, "tls") == ["QUIT"], env.mx.dump()
    cl = closing(env)
    assert cl["verify"] == verify, cl


@pytest.mark.parametrize("cert,certdir", [("lh-expired", "lh"), ("lh-selfsigned", "lh"),
                                          ("wrongname", None)])
def test_encrypt_does_not_check_certificate(out, cert, certdir):
    env = out(tls="encrypt", cert=cert, certdir=certdir)
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250, ehlo
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end.code == 250, end
    quit_and_close(env, c)
    session_only_in_tls(env)
    assert env.mx.messages() == [MESSAGE]
    assert closing(env)["verify"] in ("Untrusted", "Trusted")


# --------------------------------------------------------------------------
# Adversarial upstreams

def test_bytes_injected_after_220_are_discarded(out):
    env = out(tls="verify", mode="inject")
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250, ehlo
    assert b"injected" not in c.seen, c.seen
    assert "X-TLS-ONLY" in ehlo_keywords(ehlo), ehlo
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert (mail.code, rr[0].code, end.code) == (250, 250, 250), (mail, rr, end)
    quit_and_close(env, c)
    assert b"injected" not in c.seen, c.seen
    no_starttls_seen(c)
    session_only_in_tls(env)
    assert env.mx.messages() == [MESSAGE]
    ev = env.px.wait_event("starttls_discard")
    assert ev[0]["bytes"] == str(INJECTED_LEN), ev


def test_bytes_injected_late_never_read_as_replies(out):
    """Injected lines arriving after the 220 in a segment of their own
    reach the handshake, which fails: 421 with tls = verify; they are never
    relayed and nothing of the transaction is sent."""
    env = out(tls="verify", mode="inject-late")
    c, banner, r = open_legacy(env)
    expect_421(c, r, "4.7.5")
    c.close()
    assert b"injected" not in c.seen, c.seen
    assert env.mx.wait_closed(), env.mx.dump()
    nothing_sent(env)


def test_bytes_injected_late_with_may_fall_back(out):
    env = out(tls="may", mode="inject-late")
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250 and "X-PLAIN-ONLY" in ehlo_keywords(ehlo), ehlo
    mail, rr, d, end = transaction(c, ["<b@test.example>"])
    assert end.code == 250, end
    quit_and_close(env, c)
    assert b"injected" not in c.seen, c.seen
    no_starttls_seen(c)
    assert env.mx.messages() == [MESSAGE]
    assert env.mx.meta(1)["conn"] == 2
    assert env.px.events("tls_fallback"), env.px.stderr()


@pytest.mark.parametrize("verb", ["EHLO", "HELO"])
def test_replies_split_byte_by_byte(out, verb):
    env = out(tls="verify", mode="split")
    c, banner, r = open_legacy(env, verb)
    assert banner.lines == ["220 mx.test.example ESMTP scripted"], banner
    if verb == "EHLO":
        assert r.code == 250 and "X-TLS-ONLY" in ehlo_keywords(r), r
        for l in r.lines[:-1]:
            assert l.startswith("250-"), r
    else:
        assert r.lines == ["250 mx.test.example greets %s" % LEGACY], r
    mail, rr, d, end = transaction(c, ["<b@test.example>", "<c@test.example>"])
    assert [x.code for x in rr] == [250, 250] and end.code == 250, (rr, end)
    assert end.lines == ["250 2.0.0 Ok: queued as 1"], end
    quit_and_close(env, c)
    no_starttls_seen(c)
    session_only_in_tls(env)
    assert env.mx.messages() == [MESSAGE]


def test_upstream_dies_in_data(out):
    env = out(tls="verify", mode="die-in-data")
    c, banner, ehlo = open_legacy(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    assert c.cmd("RCPT TO:<b@test.example>").code == 250
    d, end = c.data(MESSAGE)
    assert d.code == 354, d
    assert end.code == 421 and end.lines[0].startswith("421 4.4.2 "), end
    rest = c.read_until_close()
    assert not re.search(rb"(^|\n)250", rest), rest
    c.close()
    assert env.mx.messages() == []
    assert not re.search(rb"(^|\n)250[ -]", c.seen.split(b"354 ", 1)[1]), c.seen


def test_upstream_dies_at_rcpt(out):
    env = out(tls="verify", mode="die-at-rcpt")
    c, banner, ehlo = open_legacy(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    r = c.cmd("RCPT TO:<b@test.example>")
    assert r.code == 421 and r.lines[0].startswith("421 4.4.2 "), r
    assert c.read_until_close() == b""
    c.close()


def test_upstream_never_answers_end_of_data(out):
    env = out(tls="verify", mode="no-eod-reply",
              global_keys={"idle_timeout": "2s", "connect_timeout": "2s"})
    c, banner, ehlo = open_legacy(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    assert c.cmd("RCPT TO:<b@test.example>").code == 250
    t0 = time.monotonic()
    d, end = c.data(MESSAGE)
    assert d.code == 354, d
    assert end.code == 421 and end.lines[0].startswith("421 4."), end
    assert time.monotonic() - t0 < 10
    c.close()
    assert env.mx.messages() == []


# --------------------------------------------------------------------------
# Per-recipient policy (listener tls = may; the MX has good.pem, a CA-signed
# certificate for mx.test.example, while the relay name is localhost)

GOOD_POLICIES = [
    policy("secure.example", "verify", "mx.test.example"),
    policy("other.example", "verify"),                  # match defaults to other.example
    policy("enc.example", "encrypt"),
]


def test_policy_two_recipients_one_met_one_unmet(out):
    env = out(tls="may", cert="good", policies=GOOD_POLICIES)
    c, banner, ehlo = open_legacy(env)
    assert ehlo.code == 250, ehlo
    mail, rr, d, end = transaction(c, ["<a@Secure.Example.>", "<b@OTHER.example>",
                                       "<c@enc.example>"])
    assert [r.code for r in rr] == [250, 450, 250], rr
    assert rr[1].lines[0].startswith("450 4.7.5 "), rr
    assert end.code == 250, end
    quit_and_close(env, c)
    no_starttls_seen(c)
    session_only_in_tls(env)
    assert env.mx.meta(1)["rcpt"] == ["TO:<a@Secure.Example.>", "TO:<c@enc.example>"]
    assert "other.example" not in env.mx.all_raw().decode("latin-1").lower()
    assert env.mx.messages() == [MESSAGE]
    pol = {e["domain"]: e for e in env.px.wait_event("policy", count=3)}
    assert pol["secure.example"]["outcome"] == "ok", pol
    assert pol["secure.example"]["demand"] == "verify", pol
    assert pol["other.example"]["outcome"] == "not-verified", pol
    assert pol["other.example"]["verify"] == "Trusted", pol
    assert pol["enc.example"]["outcome"] == "ok", pol
    assert pol["enc.example"]["demand"] == "encrypt", pol
    # The relay name (localhost) is not on the certificate: Trusted.
    assert closing(env)["verify"] == "Trusted"


@pytest.mark.parametrize("rcpt", ["<x@secure.example>", "<x@Secure.Example.>",
                                  "<x@SECURE.EXAMPLE>", "<x@secure.example.>",
                                  '<"a@b"@secure.example>', "<@relay.example:x@secure.example>"])
def test_policy_unmet_variants_refused(out, rcpt):
    env = out(tls="may", cert="good",
              policies=[policy("secure.example", "verify", "nomatch.example")])
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, [rcpt, "<b@test.example>"])
    assert rr[0].code == 450 and rr[0].lines[0].startswith("450 4.7.5 "), rr
    assert rr[1].code == 250, rr
    assert end.code == 250, end
    quit_and_close(env, c)
    assert env.mx.meta(1)["rcpt"] == ["TO:<b@test.example>"], env.mx.meta(1)
    assert b"secure.example" not in env.mx.all_raw().lower()
    ev = env.px.wait_event("policy")
    assert ev[0]["domain"] == "secure.example" and ev[0]["outcome"] == "not-verified", ev


@pytest.mark.parametrize("rcpt", ["<x@secure.example>", "<x@Secure.Example.>",
                                  "<x@SECURE.EXAMPLE>"])
def test_policy_met_variants_accepted(out, rcpt):
    env = out(tls="may", cert="good",
              policies=[policy("secure.example", "verify", "mx.test.example")])
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, [rcpt])
    assert rr[0].code == 250 and end.code == 250, (rr, end)
    quit_and_close(env, c)
    assert env.mx.meta(1)["rcpt"] == ["TO:" + rcpt]
    assert env.px.wait_event("policy")[0]["outcome"] == "ok"


def test_policy_rcpt_with_space_after_colon_not_sent_unchecked(out):
    """"RCPT TO: <x@dom>" is accepted by many servers: the proxy must either
    apply the domain's policy or refuse the line; it must never hand the
    recipient to the upstream unchecked."""
    env = out(tls="may", cert="good",
              policies=[policy("secure.example", "verify", "nomatch.example")])
    c, banner, ehlo = open_legacy(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    r = c.cmd("RCPT TO: <x@secure.example>")
    assert r.code >= 400, r
    quit_and_close(env, c)
    assert b"secure.example" not in env.mx.all_raw().lower(), env.mx.dump()


def test_policy_encrypt_unmet_without_tls(out):
    env = out(tls="may", mode="no-starttls", policies=[policy("secure.example", "encrypt")])
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, ["<x@secure.example>", "<b@plain.example>"])
    assert [r.code for r in rr] == [450, 250], rr
    assert rr[0].lines[0].startswith("450 4.7.4 "), rr
    assert end.code == 250, end
    quit_and_close(env, c)
    assert env.mx.meta(1)["rcpt"] == ["TO:<b@plain.example>"]
    assert env.mx.meta(1)["tls"] is None
    ev = env.px.wait_event("policy")[0]
    assert (ev["outcome"], ev["verify"], ev["demand"]) == ("no-tls", "none", "encrypt"), ev


def test_policy_subdomain_semantics(out):
    """[policy:DOMAIN] covers exactly DOMAIN; [policy:.DOMAIN] covers the
    subdomains of DOMAIN, not DOMAIN itself. Both demand TLS here and the
    MX offers none, so a covered recipient gets 450 4.7.4."""
    env = out(tls="may", mode="no-starttls",
              policies=[policy("exact.example", "encrypt"),
                        policy(".sub.example", "encrypt")])
    cases = [("<x@exact.example>", 450), ("<x@mail.exact.example>", 250),
             ("<x@a.sub.example>", 450), ("<x@B.A.Sub.Example.>", 450),
             ("<x@sub.example>", 250), ("<x@notsub.example>", 250)]
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, [r for r, _ in cases])
    assert [r.code for r in rr] == [code for _, code in cases], rr
    assert end.code == 250, end
    quit_and_close(env, c)
    assert env.mx.meta(1)["rcpt"] == ["TO:" + r for r, code in cases if code == 250]


def test_policy_exact_section_wins_over_parent(out):
    env = out(tls="may", cert="good",
              policies=[policy(".corp.example", "verify", "nomatch.example"),
                        policy("ok.corp.example", "verify", "mx.test.example")])
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, ["<x@ok.corp.example>", "<x@bad.corp.example>"])
    assert [r.code for r in rr] == [250, 450], rr
    assert end.code == 250, end
    quit_and_close(env, c)
    assert env.mx.meta(1)["rcpt"] == ["TO:<x@ok.corp.example>"]


@pytest.mark.parametrize("cert,match,code,verify", [
    ("good", "mx.test.example", 250, "Trusted"),
    ("good", ".test.example", 250, "Trusted"),
    ("good", "test.example", 450, "Trusted"),       # a name is not its parent
    ("wrongname", "mx.test.example", 450, "Trusted"),
    ("expired", "mx.test.example", 450, "Untrusted"),
    ("selfsigned", "mx.test.example", 450, "Untrusted"),
])
def test_policy_verify_certificates(out, cert, match, code, verify):
    env = out(tls="may", cert=cert, policies=[policy("secure.example", "verify", match)])
    c, banner, ehlo = open_legacy(env)
    mail, rr, d, end = transaction(c, ["<x@secure.example>", "<b@test.example>"])
    assert rr[0].code == code, rr
    if code == 450:
        assert rr[0].lines[0].startswith("450 4.7.5 "), rr
    quit_and_close(env, c)
    ev = env.px.wait_event("policy")[0]
    assert ev["verify"] == verify, ev
    assert ev["outcome"] == ("ok" if code == 250 else "not-verified"), ev
    want = (["TO:<x@secure.example>"] if code == 250 else []) + ["TO:<b@test.example>"]
    assert env.mx.meta(1)["rcpt"] == want


def test_policy_pipelined_replies_in_order(out):
    env = out(tls="may", cert="good",
              policies=[policy("secure.example", "verify", "nomatch.example")])
    c, banner, ehlo = open_legacy(env)
    assert "PIPELINING" in ehlo_keywords(ehlo), ehlo
    c.send("MAIL FROM:<a@sender.example>\r\nRCPT TO:<b@test.example>\r\n"
           "RCPT TO:<x@secure.example>\r\nRCPT TO:<c@test.example>\r\nDATA\r\n")
    replies = [c.reply() for _ in range(5)]
    assert [r.code for r in replies] == [250, 250, 450, 250, 354], replies
    c.send(dot_stuff(MESSAGE) + b".\r\n")
    assert c.reply().code == 250
    quit_and_close(env, c)
    assert env.mx.meta(1)["rcpt"] == ["TO:<b@test.example>", "TO:<c@test.example>"]
    assert env.mx.messages() == [MESSAGE]


def test_two_messages_one_session(out):
    env = out(tls="verify")
    c, banner, ehlo = open_legacy(env)
    for i in range(2):
        mail, rr, d, end = transaction(c, ["<b@test.example>"])
        assert end.code == 250, end
    quit_and_close(env, c)
    assert env.mx.messages() == [MESSAGE, MESSAGE]
    session_only_in_tls(env)
    assert closing(env)["messages"] == "2"


def test_transparent_listener_refuses_verify(workdir):
    """Transparent mode knows no name to verify: -t refuses tls = verify
    there and points at [policy:DOMAIN]; with tls = may and a policy it is
    accepted."""
    bad = os.path.join(workdir, "bad.ini")
    with open(bad, "w") as f:
        f.write("[outbound]\nlisten = 127.0.0.1:%d\nmode = transparent\ntls = verify\n"
                % stplib.free_port())
    r = stplib.run([stplib.BINARY, "-t", "-c", bad], timeout=30)
    assert r.returncode == 1, r
    assert re.search(r"bad\.ini:4: .*verify.*policy", r.stdout + r.stderr), r
    good = os.path.join(workdir, "good.ini")
    with open(good, "w") as f:
        f.write("[outbound]\nlisten = 127.0.0.1:%d\nmode = transparent\ntls = may\n\n"
                "[policy:partner.example]\ntls = verify\nmatch = mx.partner.example\n"
                % stplib.free_port())
    r = stplib.run([stplib.BINARY, "-t", "-c", good], timeout=30)
    assert r.returncode == 0, r


def test_unresolvable_transparent_without_redirect_gets_421(make_outproxy):
    """A transparent listener reached without a REDIRECT rule has no
    original destination: 421, never a loop into itself."""
    px = make_outproxy([outbound(mode="transparent", tls="may")])
    c = LegacyClient(px.port())
    r = c.reply()
    assert r.code == 421, r
    c.close()
