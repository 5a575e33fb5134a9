"""Wire rules of inbound STARTTLS termination, driven by scripted clients
that see every byte, against the recording sink.

Reply codes are asserted exactly; what the legacy server received is read
from the sink's raw per-connection record.
"""

import re
import socket

import pytest

import stplib

BANNER = "220 sink.test ESMTP"


def open_session(env, name="client.example", port=None):
    """Connect, read the banner, EHLO. Returns (client, ehlo reply)."""
    c = env.client(port)
    banner = c.reply()
    assert banner.code == 220, banner
    return c, c.ehlo(name)


def tls_session(env, name="client.example"):
    """Connect, EHLO, STARTTLS, handshake, EHLO again. Returns
    (client, ehlo before, ehlo after)."""
    c, before = open_session(env, name)
    c.starttls(env.ctx())
    after = c.ehlo(name)
    assert after.code == 250, after
    return c, before, after


def quit_and_wait(env, c):
    r = c.cmd("QUIT")
    assert r.code == 221, r
    c.read_until_close()
    c.close()
    assert env.sink.wait_closed(), env.sink.dump()


def count_kw(reply, kw):
    return sum(1 for k in reply.keywords() if k == kw)


def auth_lines(reply):
    """EHLO lines advertising AUTH, also the old "AUTH=" form."""
    return [t for t in reply.text[1:] if re.match(r"(?i)auth([ =]|$)", t)]


def assert_wellformed_ehlo(reply):
    assert reply.code == 250, reply
    for l in reply.lines[:-1]:
        assert l.startswith("250-"), reply
    assert reply.lines[-1].startswith("250 "), reply


def no_starttls_reached_backend(env):
    raw = env.sink.all_raw()
    assert b"starttls" not in raw.lower(), raw


# --------------------------------------------------------------------------
# EHLO rewriting

def test_ehlo_before_tls_adds_starttls_hides_auth(env):
    c, ehlo = open_session(env)
    assert_wellformed_ehlo(ehlo)
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    assert auth_lines(ehlo) == [], ehlo
    # Everything else the sink advertised survives, in order, verbatim.
    assert ehlo.lines[0] == "250-sink.test", ehlo
    others = [t for t in ehlo.text[1:] if t.upper() != "STARTTLS"]
    assert others == ["PIPELINING", "SIZE 10240000", "8BITMIME"], ehlo
    quit_and_wait(env, c)
    no_starttls_reached_backend(env)


def test_ehlo_after_tls_has_auth_no_starttls(env):
    c, before, after = tls_session(env)
    assert_wellformed_ehlo(after)
    assert count_kw(after, "STARTTLS") == 0, after
    assert auth_lines(after) == ["AUTH PLAIN LOGIN"], after
    assert "CHUNKING" not in after.keywords(), after
    assert after.text[1:] == ["PIPELINING", "SIZE 10240000", "8BITMIME", "AUTH PLAIN LOGIN"], after
    quit_and_wait(env, c)
    no_starttls_reached_backend(env)


def test_hide_auth_before_tls_no(make_env):
    env = make_env(inbound={"hide_auth_before_tls": "no"})
    c, ehlo = open_session(env)
    assert auth_lines(ehlo) == ["AUTH PLAIN LOGIN"], ehlo
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    quit_and_wait(env, c)


def test_old_style_auth_equals_hidden_too(make_env):
    env = make_env(ehlo="PIPELINING,AUTH=PLAIN LOGIN,AUTH PLAIN LOGIN,8BITMIME")
    c, ehlo = open_session(env)
    assert auth_lines(ehlo) == [], ehlo
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    assert [t for t in ehlo.text[1:] if t != "STARTTLS"] == ["PIPELINING", "8BITMIME"], ehlo
    quit_and_wait(env, c)


def test_starttls_added_when_backend_lacks_it(make_env):
    env = make_env(ehlo="PIPELINING,8BITMIME")
    c, ehlo = open_session(env)
    assert_wellformed_ehlo(ehlo)
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    assert "PIPELINING" in ehlo.keywords() and "8BITMIME" in ehlo.keywords(), ehlo
    c.starttls(env.ctx())
    after = c.ehlo("client.example")
    assert count_kw(after, "STARTTLS") == 0, after
    quit_and_wait(env, c)


def test_backend_ehlo_with_single_line(make_env):
    # A backend whose EHLO reply is one line ("250 name") still gets STARTTLS.
    env = make_env(ehlo="")
    c, ehlo = open_session(env)
    assert_wellformed_ehlo(ehlo)
    assert ehlo.lines[0] == "250-sink.test", ehlo
    assert ehlo.keywords() == ["STARTTLS"], ehlo
    quit_and_wait(env, c)


def test_starttls_inside_other_word_not_carried(make_env):
    """A keyword the proxy does not know is not shown (allowlist), and a
    word that merely contains STARTTLS is not taken for it."""
    env = make_env(ehlo="PIPELINING,XSTARTTLSX,8BITMIME")
    c, ehlo = open_session(env)
    assert ehlo.keywords() == ["PIPELINING", "8BITMIME", "STARTTLS"], ehlo
    c.starttls(env.ctx())
    after = c.ehlo("client.example")
    assert after.keywords() == ["PIPELINING", "8BITMIME"], after
    quit_and_wait(env, c)


def test_lowercase_keywords(make_env):
    env = make_env(ehlo="pipelining,starttls,auth plain login,size 1000,chunking")
    c, ehlo = open_session(env)
    assert_wellformed_ehlo(ehlo)
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    assert auth_lines(ehlo) == [], ehlo
    assert "CHUNKING" not in ehlo.keywords(), ehlo
    # Carried keywords leave in the canonical (upper) case.
    assert "PIPELINING" in ehlo.text[1:] and "SIZE 1000" in ehlo.text[1:], ehlo
    c.starttls(env.ctx())
    after = c.ehlo("client.example")
    assert count_kw(after, "STARTTLS") == 0, after
    assert auth_lines(after) == ["AUTH PLAIN LOGIN"], after
    quit_and_wait(env, c)
    no_starttls_reached_backend(env)


def test_chunking_removed(env):
    c, before = open_session(env)
    assert "CHUNKING" not in before.keywords(), before
    c.starttls(env.ctx())
    after = c.ehlo("client.example")
    assert "CHUNKING" not in after.keywords(), after
    quit_and_wait(env, c)


def test_multiline_ehlo_dribbled_byte_by_byte(make_env):
    env = make_env(dribble=2)
    c, ehlo = open_session(env)
    assert_wellformed_ehlo(ehlo)
    assert ehlo.lines[0] == "250-sink.test", ehlo
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    assert auth_lines(ehlo) == [], ehlo
    assert "CHUNKING" not in ehlo.keywords(), ehlo
    assert [t for t in ehlo.text[1:] if t != "STARTTLS"] == \
        ["PIPELINING", "SIZE 10240000", "8BITMIME"], ehlo
    c.starttls(env.ctx())
    after = c.ehlo("client.example")
    assert_wellformed_ehlo(after)
    assert after.text[1:] == ["PIPELINING", "SIZE 10240000", "8BITMIME", "AUTH PLAIN LOGIN"], after
    quit_and_wait(env, c)


# --------------------------------------------------------------------------
# STARTTLS command handling

def test_starttls_with_argument_501(env):
    c, _ = open_session(env)
    r = c.cmd("STARTTLS now")
    assert r.lines == [r.lines[0]] and r.lines[0].startswith("501 5.5.4"), r
    # Still plaintext and usable.
    r = c.cmd("NOOP")
    assert r.code == 250, r
    quit_and_wait(env, c)
    no_starttls_reached_backend(env)


def test_starttls_twice_503(env):
    c, _, _ = tls_session(env)
    r = c.cmd("STARTTLS")
    assert r.lines[0].startswith("503 5.5.1") and len(r.lines) == 1, r
    r = c.cmd("NOOP")
    assert r.code == 250, r
    quit_and_wait(env, c)
    no_starttls_reached_backend(env)


def test_starttls_on_implicit_listener_503(env):
    c = stplib.Client(env.smtps_port)
    c.handshake(env.ctx())
    assert c.reply().lines == [BANNER]
    ehlo = c.ehlo("client.example")
    assert count_kw(ehlo, "STARTTLS") == 0, ehlo
    assert auth_lines(ehlo) == ["AUTH PLAIN LOGIN"], ehlo
    r = c.cmd("STARTTLS")
    assert r.lines[0].startswith("503 5.5.1") and len(r.lines) == 1, r
    quit_and_wait(env, c)
    no_starttls_reached_backend(env)


def test_starttls_pipelined_command_discarded(env):
    c, _ = open_session(env)
    c.send(b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n")
    r = c.reply()
    assert r.code == 220 and r.lines[0].startswith("220 2.0.0"), r
    # Nothing may follow the 220 in plaintext (handshake() asserts that).
    c.handshake(env.ctx())
    ehlo = c.ehlo("client.example")
    # The first reply inside TLS answers EHLO, not the injected MAIL.
    assert_wellformed_ehlo(ehlo)
    assert len(ehlo.lines) > 1 and "PIPELINING" in ehlo.keywords(), ehlo
    r = c.cmd("MAIL FROM:<good@x>")
    assert r.lines == ["250 2.1.0 Ok"], r
    quit_and_wait(env, c)
    raw = env.sink.all_raw()
    assert b"evil@x" not in raw, raw
    assert b"MAIL FROM:<good@x>\r\n" in raw, raw
    no_starttls_reached_backend(env)


def test_no_state_survives_tls(env):
    c, _ = open_session(env, "before.example")
    r = c.cmd("MAIL FROM:<pre@x>")
    assert r.code == 250, r
    c.starttls(env.ctx())
    ehlo = c.ehlo("after.example")
    assert_wellformed_ehlo(ehlo)
    r = c.cmd("MAIL FROM:<post@x>")
    assert r.lines == ["250 2.1.0 Ok"], r
    quit_and_wait(env, c)
    sink = env.sink
    pre_conn = [n for n in sink.conns() if "MAIL FROM:<pre@x>" in sink.commands(n)]
    assert len(pre_conn) == 1, sink.dump()
    cmds = sink.commands(pre_conn[0])
    after_pre = cmds[cmds.index("MAIL FROM:<pre@x>") + 1:]
    # The old transaction is reset before anything else, or its connection ends.
    if after_pre:
        assert after_pre[0].upper() in ("RSET", "QUIT"), cmds
    # The client's new EHLO reaches the backend, and the new MAIL comes after it.
    post = [n for n in sink.conns() if "MAIL FROM:<post@x>" in sink.commands(n)]
    assert len(post) == 1, sink.dump()
    cmds = sink.commands(post[0])
    assert "EHLO after.example" in cmds, cmds
    assert cmds.index("EHLO after.example") < cmds.index("MAIL FROM:<post@x>"), cmds
    if post[0] == pre_conn[0]:
        assert cmds.index("MAIL FROM:<pre@x>") < cmds.index("RSET") < \
            cmds.index("EHLO after.example"), cmds
    no_starttls_reached_backend(env)


@pytest.mark.parametrize("before", [
    [],
    ["NOOP", "VRFY postmaster", "HELP"],
    ["MAIL FROM:<pre@x>", "RSET"],
    ["ETRN example.org"],
], ids=["ehlo-only", "stateless", "mail-then-rset", "other-command"])
def test_state_before_starttls_stays_on_plaintext_connection(env, before):
    """Whatever came before STARTTLS stays on the plaintext part's backend
    connection, which ends with QUIT; the encrypted part's connection starts
    with the client's new EHLO and needs no RSET (issue #16: it used to be one
    connection, reset with RSET when a command could have left state)."""
    c, _ = open_session(env, "before.example")
    for cmd in before:
        c.cmd(cmd)
    c.starttls(env.ctx())
    assert c.ehlo("after.example").code == 250
    assert c.cmd("MAIL FROM:<post@x>").lines == ["250 2.1.0 Ok"]
    quit_and_wait(env, c)
    assert env.sink.wait_closed(min_conns=2), env.sink.dump()
    assert env.sink.commands(1) == ["EHLO before.example"] + before + ["QUIT"], \
        env.sink.dump()
    assert env.sink.commands(2) == ["EHLO after.example", "MAIL FROM:<post@x>", "QUIT"], \
        env.sink.dump()


# --------------------------------------------------------------------------
# require_tls

def test_require_tls(make_env):
    env = make_env(inbound={"require_tls": "yes"})
    c, ehlo = open_session(env)
    assert count_kw(ehlo, "STARTTLS") == 1, ehlo
    must = "530 5.7.0 Must issue a STARTTLS command first"
    for cmd in ("MAIL FROM:<a@x>", "RCPT TO:<b@x>", "DATA", "BDAT 10 LAST", "AUTH PLAIN AGFAYg=="):
        r = c.cmd(cmd)
        assert r.lines == [must], (cmd, r)
    assert c.cmd("HELO client.example").code == 250
    assert c.cmd("EHLO client.example").code == 250
    assert c.cmd("NOOP").code == 250
    assert c.cmd("RSET").code == 250
    # After TLS the same commands go through.
    c.starttls(env.ctx())
    assert c.ehlo("client.example").code == 250
    assert c.cmd("MAIL FROM:<a@x>").lines == ["250 2.1.0 Ok"]
    assert c.cmd("RCPT TO:<b@x>").lines == ["250 2.1.5 Ok"]
    quit_and_wait(env, c)
    raw = env.sink.all_raw()
    for bad in (b"AGFAYg==", b"BDAT", b"DATA\r\n"):
        assert bad not in raw, raw
    # MAIL/RCPT only once each: the ones after TLS.
    assert raw.count(b"MAIL FROM:<a@x>") == 1, raw
    assert raw.count(b"RCPT TO:<b@x>") == 1, raw


def test_require_tls_quit_works(make_env):
    env = make_env(inbound={"require_tls": "yes"})
    c = env.client()
    assert c.reply().code == 220
    r = c.cmd("QUIT")
    assert r.code == 221, r
    assert c.read_until_close() == b""


# --------------------------------------------------------------------------
# PIPELINING and bodies

def test_pipelining_after_tls(env):
    c, _, after = tls_session(env)
    assert "PIPELINING" in after.keywords()
    c.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n")
    replies = [c.reply() for _ in range(4)]
    assert [r.lines for r in replies] == [["250 2.1.0 Ok"], ["250 2.1.5 Ok"],
                                         ["250 2.1.5 Ok"],
                                         ["354 End data with <CR><LF>.<CR><LF>"]], replies
    body = b"Subject: pipelined\r\n\r\nhello\r\n"
    c.send(body + b".\r\n")
    r = c.reply()
    assert re.match(r"^250 2\.0\.0 Ok: queued as \d+$", r.lines[0]), r
    quit_and_wait(env, c)
    assert env.sink.messages() == [body]


def test_body_lines_starttls_and_quit_are_body(env):
    c, _, _ = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x>").code == 250
    assert c.cmd("RCPT TO:<b@x>").code == 250
    assert c.cmd("DATA").code == 354
    wire = (b"Subject: commands in the body\r\n\r\n"
            b"STARTTLS\r\nQUIT\r\nstarttls now\r\nEHLO x\r\nRSET\r\n"
            b"..leading dot\r\n\xc3\xa9 8bit \t tab\r\n")
    c.send(wire + b".\r\n")
    r = c.reply()
    assert r.code == 250 and r.lines[0].startswith("250 2.0.0 Ok: queued as"), r
    # The session continues as commands after the body.
    assert c.cmd("NOOP").code == 250
    quit_and_wait(env, c)
    expected = wire.replace(b"\r\n..leading", b"\r\n.leading")
    assert env.sink.messages() == [expected]
    # Byte-exact on the wire too, dot-stuffing included.
    assert b"DATA\r\n" + wire + b".\r\n" in env.sink.all_raw()
    logs = "".join(env.sink.log(n) for n in env.sink.conns())
    assert "C: STARTTLS" not in logs and "C: QUIT\n" in logs


def test_two_messages_one_session(env):
    c, _, _ = tls_session(env)
    bodies = [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n"]
    for body in bodies:
        assert c.cmd("MAIL FROM:<a@x>").code == 250
        assert c.cmd("RCPT TO:<b@x>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(body + b".\r\n")
        assert c.reply().code == 250
    quit_and_wait(env, c)
    assert env.sink.messages() == bodies


# --------------------------------------------------------------------------
# Failures of either peer

def test_backend_down_421(make_proxy, certs):
    dead = "127.0.0.1:%d" % stplib.free_port()
    proxy = make_proxy([stplib.Listener("inbound", "starttls", dead)])
    c = stplib.Client(proxy.port())
    r = c.reply()
    assert r.code == 421 and r.lines[-1].startswith("421 4.3.0"), r
    assert c.read_until_close() == b""


def test_backend_closes_mid_data_no_250(make_env):
    env = make_env(fault="close-in-data")
    c, _, _ = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x>").code == 250
    assert c.cmd("RCPT TO:<b@x>").code == 250
    assert c.cmd("DATA").code == 354
    got = b""
    try:
        c.send(b"Subject: doomed\r\n\r\nbody\r\n")
        # Give the sink time to close before end-of-data is sent.
        assert env.sink.wait_closed(), env.sink.dump()
        c.send(b"more body\r\n.\r\n")
    except OSError:
        pass
    replies = []
    try:
        while True:
            r = c.reply()
            replies.append(r)
            if r.code >= 400:
                break
    except stplib.Closed as e:
        got = e.partial
    except socket.timeout:
        pytest.fail("proxy neither closed nor sent 421 (got %r)" % replies)
    for r in replies:
        assert not (200 <= r.code < 300), replies
        assert 400 <= r.code < 500, replies
    assert not got.startswith(b"2"), got
    assert env.sink.messages() == []


def test_client_closes_mid_data_no_end_of_data(env):
    c, _, _ = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x>").code == 250
    assert c.cmd("RCPT TO:<b@x>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: cut\r\n\r\nfirst line\r\npartial")
    c.close()
    assert env.sink.wait_closed(), env.sink.dump()
    assert env.sink.messages() == []
    for n in env.sink.conns():
        raw = env.sink.raw(n)
        if b"DATA\r\n" in raw:
            body = raw[raw.index(b"DATA\r\n") + 6:]
            assert b"\r\n.\r\n" not in body and not body.startswith(b".\r\n"), raw
        assert "event end-of-data" not in env.sink.log(n)


def test_client_closes_after_ehlo_backend_closed(env):
    c, _ = open_session(env)
    c.close()
    assert env.sink.wait_closed(), env.sink.dump()


# --------------------------------------------------------------------------
# Banner

def test_banner_relayed_verbatim(make_env):
    text = "legacy.example ESMTP Sendmail 8.6.12/8.6.9; ready  (two spaces) \"quoted\" ~"
    env = make_env(banner=text)
    c = env.client()
    r = c.reply()
    assert r.raw == ("220 " + text + "\r\n").encode(), r
    quit_and_wait(env, c)


def test_banner_554_relayed(make_env):
    env = make_env(fault="banner-554")
    c = env.client()
    r = c.reply()
    assert r.raw == b"554 5.3.2 sink.test ESMTP\r\n", r
    c.close()


def test_implicit_tls_banner_after_handshake(env):
    c = stplib.Client(env.smtps_port)
    # Nothing in plaintext: the proxy waits for the ClientHello.
    assert c.nothing_within(1.0), c.buf
    c.handshake(env.ctx())
    r = c.reply()
    assert r.raw == (BANNER + "\r\n").encode(), r
    quit_and_wait(env, c)


# --------------------------------------------------------------------------
# Logging

def test_one_closing_log_line_per_session(env):
    c, _ = open_session(env)
    local = "127.0.0.1:%d" % c.sock.getsockname()[1]
    assert c.cmd("STARTTLS").code == 220
    c.handshake(env.ctx(), server_hostname="mail.test")
    cipher = c.sock.cipher()[0]
    version = c.sock.version()
    assert c.ehlo("client.example").code == 250
    assert c.cmd("MAIL FROM:<a@x>").code == 250
    assert c.cmd("RCPT TO:<b@x>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: logged\r\n\r\nbody\r\n.\r\n")
    assert c.reply().code == 250
    quit_and_wait(env, c)
    # The closing line names the client, TLS version, cipher, SNI, the message
    # count and a reason; exactly one line per session carries the reason.
    deadline = stplib.time.monotonic() + stplib.IO_TIMEOUT
    while True:
        lines = [l for l in env.proxy.stderr().splitlines()
                 if local in l and re.search(r"\breason\b", l)]
        if lines or stplib.time.monotonic() > deadline:
            break
        stplib.time.sleep(0.05)
    assert len(lines) == 1, env.proxy.stderr()
    line = lines[0]
    for want in (version, cipher, "mail.test"):
        assert want in line, (want, line)
    assert re.search(r"\bmessages?\b\W{1,3}1\b", line), line


# --------------------------------------------------------------------------
# AUTH: the SASL exchange (RFC 4954 4) is not a series of commands

@pytest.mark.parametrize("mech,responses", [
    ("AUTH LOGIN", ["dXNlcg==", "cGFzcw=="]),
    ("AUTH PLAIN", ["AHVzZXIAcGFzcw=="]),
], ids=["login", "plain"])
def test_auth_exchange_after_tls(env, mech, responses):
    """After 334 the client's next line is a SASL response: it reaches the
    backend as sent (it is base64, not a verb), and the exchange ends with
    the backend's 235."""
    c, _, after = tls_session(env)
    r = c.cmd(mech)
    for resp in responses:
        assert r.code == 334, r
        r = c.cmd(resp)
    assert r.lines == ["235 2.7.0 ok"], r
    assert c.cmd("MAIL FROM:<a@x>").code == 250
    quit_and_wait(env, c)
    cmds = env.sink.commands(2)  # the TLS part's backend connection
    i = cmds.index(mech)
    assert cmds[i + 1:i + 1 + len(responses)] == responses, cmds


def test_auth_response_not_base64_cancels(env):
    """A SASL response that is not base64 (here a command a lenient backend
    might execute) is never forwarded: the proxy cancels the exchange with
    "*" and relays the backend's answer."""
    c, _, _ = tls_session(env)
    assert c.cmd("AUTH PLAIN").code == 334
    r = c.cmd("MAIL FROM:<evil@x>")
    assert r.code == 235, r  # the sink answers any response with 235
    quit_and_wait(env, c)
    raw = env.sink.all_raw()
    assert b"evil" not in raw, raw
    assert b"AUTH PLAIN\r\n*\r\n" in raw, raw
