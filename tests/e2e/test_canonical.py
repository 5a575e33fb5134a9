"""One reading of every command line (issue #10).

The proxy decides on its reading of a command line and must forward only
what it understood, in canonical form: "VERB[ SP arguments] CRLF", the verb
upper-cased, trailing spaces trimmed. A line it cannot read that way gets
"500 5.5.2" and never reaches the backend, so a backend that tokenises
differently (Postfix skips leading white space and splits on any white
space) can never execute something the proxy refused.

The backend here is tests/tools/sink.py with --parse postfix (Postfix's
smtpd_token reading) or --parse rfc (RFC 5321 read exactly); it executes
what its tokeniser read and logs each executed verb as "X: VERB ARGS", so
every test asserts both the client's exact reply and what the backend
executed. The hostile-server tests use the sink's fault modes (replies that
do not pair with commands); the outbound tests the scripted MX of
tests/tools/mx.py.
"""

import os
import socket

import pytest

import stplib
from outlib import LegacyClient, make_mx, make_outproxy, outbound, policy  # noqa: F401

PARSERS = ["postfix", "rfc"]
ALL_CAPS = ("PIPELINING,SIZE 10240000,8BITMIME,ENHANCEDSTATUSCODES,DSN,SMTPUTF8,HELP,ETRN,"
            "VRFY,AUTH PLAIN LOGIN,XFORWARD NAME ADDR PROTO HELO,XCLIENT NAME ADDR PORT,"
            "CHUNKING,BINARYMIME,X-FOO bar,XEXPS,STARTTLS")
SHORT_TIMEOUT = 5.0  # hostile-server tests: the old proxy never closes
# A reply the proxy owes comes at once; a shorter bound than stplib's keeps
# a run against a proxy that lets a line through (the backend then waits
# in a body, say) from taking minutes.
CLIENT_TIMEOUT = 8.0


# --------------------------------------------------------------------------
# helpers

def client(env):
    return stplib.Client(env.port, timeout=CLIENT_TIMEOUT)


def open_session(env, name="client.example"):
    c = client(env)
    banner = c.reply()
    assert banner.code == 220, banner
    ehlo = c.ehlo(name)
    assert ehlo.code == 250, ehlo
    return c, ehlo


def tls_session(env):
    c, _ = open_session(env)
    c.starttls(env.ctx())
    assert c.ehlo("client.example").code == 250
    return c


def raw_cmd(c, line):
    """Sends line (bytes, without CRLF) and returns the one reply."""
    c.send(line + b"\r\n")
    return c.reply()


def expect(reply, prefix):
    """reply is exactly one line starting with prefix ("500 5.5.2 ")."""
    assert len(reply.lines) == 1 and reply.lines[0].startswith(prefix), (prefix, reply)


def still_in_step(c):
    """The next command gets its own reply: nothing was shifted."""
    r = c.cmd("NOOP")
    assert r.lines == ["250 2.0.0 Ok"], r


def quit_and_wait(env, c):
    r = c.cmd("QUIT")
    assert r.code == 221, r
    c.read_until_close()
    c.close()
    assert env.sink.wait_closed(), env.sink.dump()


def never_executed(env, *verbs):
    ex = env.sink.executed_verbs()
    for v in verbs:
        assert v not in ex, (v, env.sink.dump())


def until_close(c, timeout=SHORT_TIMEOUT):
    """Everything the proxy sends until it closes; fails the test when it
    keeps the connection open (the old proxy relays and carries on)."""
    try:
        return c.read_until_close(timeout)
    except (socket.timeout, TimeoutError):
        pytest.fail("the proxy did not close within %ss; got %r" % (timeout, c.buf),
                    pytrace=False)


def reply_lines(data):
    return [l for l in data.split(b"\r\n") if l]


# --------------------------------------------------------------------------
# Lines that are not "VERB [SP arguments]": 500 5.5.2, never forwarded

MALFORMED = [
    ("lead-sp", b" MAIL FROM:<a@x.example>", "MAIL"),
    ("lead-tab", b"\tMAIL FROM:<a@x.example>", "MAIL"),
    ("lead-sp-lower", b" mail from:<a@x.example>", "MAIL"),
    ("tab-after-verb", b"MAIL\tFROM:<a@x.example>", "MAIL"),
    ("vt-after-verb", b"MAIL\x0bFROM:<a@x.example>", "MAIL"),
    ("ff-after-verb", b"MAIL\x0cFROM:<a@x.example>", "MAIL"),
    ("cr-after-verb", b"MAIL\rFROM:<a@x.example>", "MAIL"),
    ("tab-sp-after-verb", b"MAIL\t FROM:<a@x.example>", "MAIL"),
    ("trailing-tab", b"MAIL FROM:<a@x.example>\t", "MAIL"),
    ("tab-in-args", b"MAIL FROM:<a@x.example>\tSIZE=100", "MAIL"),
    ("nul-in-args", b"MAIL FROM:<a@x.example>\x00junk", "MAIL"),
    ("nul-in-verb", b"MA\x00IL FROM:<a@x.example>", "MAIL"),
    ("nul-after-verb", b"NOOP\x00", "NOOP"),
    ("bare-cr-inside", b"MAIL FROM:<a@x.example>\rRSET", "MAIL"),
    ("ctl-esc", b"MAIL FROM:<a@x.example>\x1b[0m", "MAIL"),
    ("del", b"MAIL FROM:<a@x.example>\x7f", "MAIL"),
    ("trailing-ctl", b"NOOP\x01", "NOOP"),
    ("utf8-overlong", b"MAIL FROM:<\xc0\xafa@x.example>", "MAIL"),
    ("utf8-lone-continuation", b"MAIL FROM:<\x80a@x.example>", "MAIL"),
    ("utf8-truncated", b"MAIL FROM:<a\xc3@x.example>", "MAIL"),
    ("utf8-truncated-at-end", b"MAIL FROM:<a@x.example> \xe2\x82", "MAIL"),
    ("utf8-surrogate", b"MAIL FROM:<\xed\xa0\x80@x.example>", "MAIL"),
    ("utf8-over-max", b"MAIL FROM:<\xf4\x90\x80\x80@x.example>", "MAIL"),
    ("latin1-octet", b"MAIL FROM:<j\xf6rg@x.example>", "MAIL"),
    ("data-tab", b"DATA\t", "DATA"),
    ("data-vt", b"DATA\x0b", "DATA"),
    ("rcpt-tab", b"RCPT\tTO:<b@x.example>", "RCPT"),
    ("vrfy-lead-tab", b"\tVRFY postmaster", "VRFY"),
    ("helo-tab", b"HELO\tevil.example", "HELO"),
    ("quit-tab", b"QUIT\t", "QUIT"),
    ("xforward-lead-sp", b" XFORWARD NAME=evil.example ADDR=203.0.113.9", "XFORWARD"),
    ("xforward-tab", b"XFORWARD\tNAME=evil.example ADDR=203.0.113.9", "XFORWARD"),
    ("xclient-lead-sp", b" XCLIENT ADDR=203.0.113.9", "XCLIENT"),
    ("xclient-lead-tab", b"\tXCLIENT ADDR=203.0.113.9", "XCLIENT"),
    ("xclient-tab", b"XCLIENT\tADDR=203.0.113.9", "XCLIENT"),
    ("starttls-lead-sp", b" STARTTLS", "STARTTLS"),
    ("starttls-tab", b"STARTTLS\t", "STARTTLS"),
    ("starttls-lead-tab", b"\tstarttls", "STARTTLS"),
]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("line,verb", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_line_refused_never_forwarded(make_env, parse, line, verb):
    env = make_env(parse=parse, ehlo=ALL_CAPS)
    c, _ = open_session(env)
    setup = {"RCPT": ["MAIL FROM:<a@x.example>"],
             "DATA": ["MAIL FROM:<a@x.example>", "RCPT TO:<b@x.example>"]}.get(verb, [])
    for cmd in setup:
        assert c.cmd(cmd).code == 250, cmd
    expect(raw_cmd(c, line), "500 5.5.2 ")
    still_in_step(c)
    quit_and_wait(env, c)
    # Exactly: the set-up, EHLO, our NOOP and QUIT; not the refused line.
    ex = env.sink.executed()
    assert ex == ["EHLO client.example"] + setup + ["NOOP", "QUIT"], env.sink.dump()
    assert env.sink.executed_verbs().count("NOOP") == 1, env.sink.dump()
    # Not even the raw bytes went to the backend.
    raw = env.sink.all_raw()
    assert line not in raw, env.sink.dump()
    assert line.lstrip(b" \t") not in raw or line.lstrip(b" \t") in (b"NOOP", b"QUIT"), \
        env.sink.dump()
    assert b"203.0.113.9" not in env.sink.all_raw()
    assert env.sink.messages() == []


@pytest.mark.parametrize("parse", PARSERS)
def test_data_tab_never_opens_a_body(make_env, parse):
    """"DATA<TAB>" read as DATA by the backend would make the rest of the
    session a message body that bypassed the proxy's filter and size limit."""
    env = make_env(parse=parse, inbound={"max_message_size": "1k"})
    c = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x.example>").code == 250
    assert c.cmd("RCPT TO:<b@x.example>").code == 250
    c.send(b"DATA\t\r\n")
    r = c.reply()
    expect(r, "500 5.5.2 ")
    # What a smuggler would send as the body is read as commands: each
    # line gets its own reply, none of them a 354 or a 250 for a message.
    c.send(b"Subject: smuggled\r\n")
    r = c.reply()
    assert r.code == 500, r
    still_in_step(c)
    quit_and_wait(env, c)
    never_executed(env, "DATA")
    assert env.sink.messages() == []
    for n in env.sink.conns():
        assert "event end-of-data" not in env.sink.log(n), env.sink.dump()
        # A reply line, not any "354" (a port number may hold one).
        assert "\nS: 354" not in "\n" + env.sink.log(n), env.sink.dump()


# --------------------------------------------------------------------------
# Canonical forwarding

@pytest.mark.parametrize("parse", PARSERS)
def test_canonical_form_forwarded(make_env, parse):
    env = make_env(parse=parse)
    c = tls_session(env)
    for sent, code in ((b"mail from:<a@b.example>", 250),
                       (b"rCpT TO:<c@d.example>   ", 250),
                       (b"Rset", 250),
                       (b"noop", 250),
                       (b"MAIL FROM:<e@f.example> SIZE=100  ", 250),
                       (b"vrfy postmaster", 252)):
        r = raw_cmd(c, sent)
        assert r.code == code, (sent, r)
    quit_and_wait(env, c)
    raw = env.sink.all_raw()
    for want in (b"\r\nMAIL from:<a@b.example>\r\n", b"\r\nRCPT TO:<c@d.example>\r\n",
                 b"\r\nRSET\r\n", b"\r\nNOOP\r\n", b"\r\nMAIL FROM:<e@f.example> SIZE=100\r\n",
                 b"\r\nVRFY postmaster\r\n"):
        assert want in raw, (want, raw)
    for unwanted in (b"mail from", b"rCpT", b"Rset", b"noop", b"  \r\n", b"vrfy"):
        assert unwanted not in raw, (unwanted, raw)
    # Both tokenisers executed exactly those commands.
    ex = env.sink.executed()
    assert "MAIL from:<a@b.example>" in ex and "RCPT TO:<c@d.example>" in ex, ex


@pytest.mark.parametrize("parse", PARSERS)
def test_canonical_ehlo_and_quit(make_env, parse):
    env = make_env(parse=parse)
    c = client(env)
    assert c.reply().code == 220
    r = raw_cmd(c, b"ehlo client.example  ")
    assert r.code == 250, r
    r = raw_cmd(c, b"quit")
    assert r.code == 221, r
    c.read_until_close()
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    assert raw.startswith(b"EHLO client.example\r\n"), raw
    assert raw.endswith(b"\r\nQUIT\r\n"), raw


# --------------------------------------------------------------------------
# The allowlist: extension verbs answered by the proxy

EXTENSION_VERBS = [
    ("xclient", b"XCLIENT ADDR=203.0.113.9", "502 5.5.1 "),
    ("xclient-lower", b"xclient addr=203.0.113.9", "502 5.5.1 "),
    ("xclient-mixed", b"XClient ADDR=203.0.113.9 NAME=evil.example", "502 5.5.1 "),
    ("xforward", b"XFORWARD NAME=evil.example ADDR=203.0.113.9", "502 5.5.1 "),
    ("xforward-lower", b"xforward name=evil.example addr=203.0.113.9", "502 5.5.1 "),
    ("xforward-mixed", b"XForward ADDR=203.0.113.9", "502 5.5.1 "),
    ("unknown", b"XFOO 203.0.113.9", "500 5.5.1 "),
    ("unknown-word", b"FROBNICATE 203.0.113.9", "500 5.5.1 "),
    ("verb-with-suffix", b"MAILX FROM:<203.0.113.9>", "500 5.5.1 "),
    ("verb-prefix", b"MAI FROM:<203.0.113.9>", "500 5.5.1 "),
]


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("line,prefix", [m[1:] for m in EXTENSION_VERBS],
                         ids=[m[0] for m in EXTENSION_VERBS])
def test_extension_verbs_answered_by_proxy(make_env, parse, line, prefix):
    env = make_env(parse=parse, ehlo=ALL_CAPS)
    c = tls_session(env)
    expect(raw_cmd(c, line), prefix)
    still_in_step(c)
    quit_and_wait(env, c)
    never_executed(env, "XCLIENT", "XFORWARD", "XFOO", "FROBNICATE", "MAILX", "MAI")
    raw = env.sink.all_raw()
    assert b"203.0.113.9" not in raw, raw
    for n in env.sink.conns():
        assert "event xclient" not in env.sink.log(n), env.sink.dump()
        assert "event xforward" not in env.sink.log(n), env.sink.dump()


@pytest.mark.parametrize("parse", PARSERS)
def test_atrn_not_forwarded_by_default(make_env, parse):
    env = make_env(parse=parse, ehlo="PIPELINING,ATRN")
    c = tls_session(env)
    r = raw_cmd(c, b"ATRN example.org")
    assert len(r.lines) == 1 and r.code in (500, 502) and r.lines[0][4:9] == "5.5.1", r
    still_in_step(c)
    quit_and_wait(env, c)
    never_executed(env, "ATRN")
    assert b"ATRN" not in env.sink.all_raw()


@pytest.mark.parametrize("parse", PARSERS)
def test_allow_commands_forwards_atrn(make_env, parse):
    env = make_env(parse=parse, ehlo="PIPELINING,ATRN,XFORWARD NAME ADDR",
                   inbound={"allow_commands": "ATRN"})
    c, ehlo = open_session(env)
    assert "ATRN" in ehlo.keywords(), ehlo
    assert "XFORWARD" not in ehlo.keywords(), ehlo
    c.starttls(env.ctx())
    assert c.ehlo("client.example").code == 250
    r = raw_cmd(c, b"atrn example.org")
    assert r.lines == ["250 2.0.0 ATRN ok"], r
    expect(raw_cmd(c, b"XFORWARD NAME=evil.example"), "502 5.5.1 ")
    quit_and_wait(env, c)
    assert b"\r\nATRN example.org\r\n" in env.sink.all_raw(), env.sink.dump()
    assert env.sink.executed().count("ATRN example.org") == 1, env.sink.dump()
    never_executed(env, "XFORWARD")


@pytest.mark.parametrize("parse", PARSERS)
def test_allow_commands_list_forms(make_env, parse):
    """Space and comma separated verbs, any case."""
    env = make_env(parse=parse, inbound={"allow_commands": "atrn, XFOO"})
    c = tls_session(env)
    # The sink does not know XFOO (502 5.5.2, its own answer): it was forwarded.
    r = raw_cmd(c, b"XFOO bar")
    assert r.lines == ["502 5.5.2 command not recognized"], r
    r = raw_cmd(c, b"ATRN")
    assert r.lines == ["250 2.0.0 ATRN ok"], r
    quit_and_wait(env, c)
    raw = env.sink.all_raw()
    assert b"\r\nXFOO bar\r\n" in raw and b"\r\nATRN\r\n" in raw, raw


# --------------------------------------------------------------------------
# STARTTLS is the proxy's own, in every spelling

@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize("spelling", ["starttls", "StartTLS", "STARTTLS  "])
def test_starttls_spellings_handled_by_proxy(make_env, parse, spelling):
    env = make_env(parse=parse)
    c, _ = open_session(env)
    c.send(spelling.encode() + b"\r\n")
    r = c.reply()
    assert r.code == 220 and r.lines[0].startswith("220 2.0.0"), r
    c.handshake(env.ctx())
    assert c.ehlo("client.example").code == 250
    quit_and_wait(env, c)
    never_executed(env, "STARTTLS")
    assert b"starttls" not in env.sink.all_raw().lower()


# --------------------------------------------------------------------------
# EHLO: only the capabilities the proxy allows

def test_ehlo_shows_only_allowed_capabilities(make_env):
    env = make_env(parse="postfix", ehlo=ALL_CAPS)
    c, before = open_session(env)
    kw = before.keywords()
    for gone in ("XFORWARD", "XCLIENT", "CHUNKING", "BINARYMIME", "X-FOO", "XEXPS", "AUTH"):
        assert gone not in kw, (gone, before)
    for kept in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8",
                 "HELP", "ETRN", "VRFY", "STARTTLS"):
        assert kw.count(kept) == 1, (kept, before)
    assert len(kw) == 10, before
    c.starttls(env.ctx())
    after = c.ehlo("client.example")
    kw = after.keywords()
    for gone in ("XFORWARD", "XCLIENT", "CHUNKING", "BINARYMIME", "X-FOO", "XEXPS", "STARTTLS"):
        assert gone not in kw, (gone, after)
    assert sorted(kw) == sorted(["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                                 "DSN", "SMTPUTF8", "HELP", "ETRN", "VRFY", "AUTH"]), after
    assert "AUTH PLAIN LOGIN" in after.text[1:], after
    quit_and_wait(env, c)


# --------------------------------------------------------------------------
# require_tls: before TLS only EHLO, HELO, STARTTLS, NOOP, RSET, QUIT

NEED_TLS = "530 5.7.0 "


@pytest.mark.parametrize("parse", PARSERS)
def test_require_tls_answers_only_the_session_verbs(make_env, parse):
    env = make_env(parse=parse, ehlo=ALL_CAPS, inbound={"require_tls": "yes"})
    c, _ = open_session(env)
    for line in (b"MAIL FROM:<a@x.example>", b"mail from:<a@x.example>", b"RCPT TO:<b@x.example>",
                 b"DATA", b"data", b"VRFY postmaster", b"vrfy postmaster", b"EXPN staff",
                 b"HELP", b"help mail", b"ETRN example.org", b"AUTH PLAIN AGFAYg==",
                 b"BDAT 10 LAST"):
        expect(raw_cmd(c, line), NEED_TLS)
    for line in (b" MAIL FROM:<a@x.example>", b"MAIL\tFROM:<a@x.example>",
                 b"\tVRFY postmaster", b"VRFY\tpostmaster", b" RCPT TO:<b@x.example>",
                 b"DATA\t"):
        expect(raw_cmd(c, line), "500 5.5.2 ")
    for line, code in ((b"NOOP", 250), (b"noop", 250), (b"RSET", 250), (b"rset", 250),
                       (b"HELO client.example", 250), (b"ehlo client.example", 250)):
        assert raw_cmd(c, line).code == code, line
    pre = list(env.sink.executed_verbs())
    assert set(pre) <= {"EHLO", "HELO", "NOOP", "RSET"}, env.sink.dump()
    c.starttls(env.ctx())
    assert c.ehlo("client.example").code == 250
    assert c.cmd("MAIL FROM:<a@x.example>").lines == ["250 2.1.0 Ok"]
    assert c.cmd("VRFY postmaster").code == 252
    quit_and_wait(env, c)
    ex = env.sink.executed()
    assert ex.count("MAIL FROM:<a@x.example>") == 1, env.sink.dump()
    assert ex.count("VRFY postmaster") == 1, env.sink.dump()
    for v in ("RCPT", "DATA", "EXPN", "HELP", "ETRN", "AUTH", "BDAT"):
        assert v not in env.sink.executed_verbs(), (v, env.sink.dump())
    raw = env.sink.all_raw()
    assert b"AGFAYg==" not in raw and b"staff" not in raw, raw


# --------------------------------------------------------------------------
# max_errors counts every 4xx/5xx answer, the backend's too

def _errors_until_close(c, line, limit):
    """Sends line up to limit times (one at a time); returns the replies
    and whether the proxy closed."""
    replies = []
    try:
        for _ in range(limit):
            c.send(line + b"\r\n")
            r = c.reply()
            replies.append(r)
            if r.code == 421:
                break
    except (stplib.Closed, BrokenPipeError, ConnectionResetError):
        return replies, True
    try:
        rest = c.read_until_close(SHORT_TIMEOUT)
    except (socket.timeout, TimeoutError):
        return replies, False
    assert rest == b"", rest
    return replies, True


@pytest.mark.parametrize("parse", PARSERS)
def test_max_errors_counts_backend_5xx(make_env, parse):
    env = make_env(parse=parse, fault="rcpt-550", global_keys={"max_errors": "3"})
    c = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x.example>").code == 250
    replies, closed = _errors_until_close(c, b"RCPT TO:<nobody@x.example>", 6)
    codes = [r.code for r in replies]
    assert closed, replies
    assert codes[-1] == 421 and replies[-1].lines[-1].startswith("421 4.7.0 "), replies
    # Three answers of 4xx/5xx reach the limit: the third 550 (or the
    # command that would have caused it) is followed by 421, not a fourth.
    assert codes[:-1] in ([550, 550], [550, 550, 550]), replies
    assert env.sink.executed_verbs().count("RCPT") <= 3, env.sink.dump()


@pytest.mark.parametrize("parse", PARSERS)
def test_max_errors_counts_proxy_and_backend_together(make_env, parse):
    env = make_env(parse=parse, fault="rcpt-550", global_keys={"max_errors": "4"})
    c = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x.example>").code == 250
    expect(raw_cmd(c, b"MAIL\tFROM:<b@x.example>"), "500 5.5.2 ")        # 1, the proxy's
    expect(raw_cmd(c, b"XFORWARD ADDR=203.0.113.9"), "502 5.5.1 ")       # 2, the proxy's
    assert c.cmd("RCPT TO:<nobody@x.example>").code == 550               # 3, the backend's
    replies, closed = _errors_until_close(c, b"RCPT TO:<nobody@x.example>", 4)
    assert closed, replies
    assert replies[-1].lines[-1].startswith("421 4.7.0 "), replies
    assert [r.code for r in replies[:-1]] in ([], [550]), replies


# --------------------------------------------------------------------------
# Hostile backends: one reply per command, never a shifted one

LOST = b"421 4.4.2 "


@pytest.mark.parametrize("parse", PARSERS)
def test_backend_answering_twice_closes_with_421(make_env, parse):
    env = make_env(parse=parse, fault="answer-twice")
    c = tls_session(env)
    c.send(b"NOOP\r\n")
    first = c.reply()
    try:
        c.send(b"NOOP\r\n")
    except OSError:
        pass
    data = first.raw + until_close(c)
    lines = reply_lines(data)
    assert b"spurious" not in data, data
    assert lines[-1].startswith(LOST), data
    # The first NOOP has its own answer (or the 421 at once), nothing more.
    assert lines in ([b"250 2.0.0 Ok", lines[-1]], [lines[-1]]), data
    assert env.sink.wait_closed(), env.sink.dump()


@pytest.mark.parametrize("parse", PARSERS)
def test_backend_mixed_codes_in_one_reply(make_env, parse):
    env = make_env(parse=parse, fault="mixed-codes")
    c = tls_session(env)
    c.send(b"NOOP\r\n")
    data = until_close(c)
    lines = reply_lines(data)
    assert b"550 5.0.0 second line" not in data, data
    assert lines[-1].startswith(LOST), data
    # No complete reply but the 421: a lone "250-" line may have gone out
    # only if the 421 follows as the reply's end would be malformed; it
    # must not.
    assert [l for l in lines if not l.startswith(LOST)] == [], data
    assert env.sink.wait_closed(), env.sink.dump()


@pytest.mark.parametrize("parse", PARSERS)
def test_backend_bare_lf_then_second_reply(make_env, parse):
    env = make_env(parse=parse, fault="bare-lf-reply")
    c = tls_session(env)
    c.send(b"NOOP\r\n")
    got = b""
    try:
        first = c.reply()
        got = first.raw
        c.send(b"NOOP\r\n")
    except (stplib.Closed, OSError):
        pass
    data = got + until_close(c)
    assert b"extra" not in data, data
    lines = reply_lines(data)
    assert lines[-1].startswith(LOST), data
    assert all(l in (b"250 2.0.0 ok",) or l.startswith(LOST) for l in lines), data
    assert env.sink.wait_closed(), env.sink.dump()


@pytest.mark.parametrize("parse", PARSERS)
def test_backend_unsolicited_reply(make_env, parse):
    env = make_env(parse=parse, fault="unsolicited")
    c, _ = open_session(env)
    # The sink sends "250 2.0.0 unsolicited hi" 0.5 s after its EHLO reply.
    deadline = stplib.time.monotonic() + SHORT_TIMEOUT
    while "event fault unsolicited" not in env.sink.log(1):
        assert stplib.time.monotonic() < deadline, env.sink.dump()
        stplib.time.sleep(0.05)
    stplib.time.sleep(0.3)
    try:
        c.send(b"NOOP\r\n")
    except OSError:
        pass
    data = until_close(c)
    assert b"unsolicited" not in data, data
    assert reply_lines(data) and reply_lines(data)[-1].startswith(LOST), data
    assert len(reply_lines(data)) == 1, data
    never_executed(env, "NOOP")


@pytest.mark.parametrize("parse", PARSERS)
def test_backend_250_before_body(make_env, parse):
    """250 right after 354, before the body was sent: the client must never
    see a 250 for a message it has not sent, and the backend never gets
    an end-of-data."""
    env = make_env(parse=parse, fault="early-250")
    c = tls_session(env)
    assert c.cmd("MAIL FROM:<a@x.example>").code == 250
    assert c.cmd("RCPT TO:<b@x.example>").code == 250
    c.send(b"DATA\r\n")
    got = b""
    try:
        r = c.reply()
        got = r.raw
        if r.code == 354:
            c.send(b"Subject: early\r\n\r\nbody\r\n.\r\n")
    except (stplib.Closed, OSError):
        pass
    data = got + until_close(c)
    assert b"queued as early" not in data, data
    lines = reply_lines(data)
    assert lines[-1].startswith(LOST), data
    assert all(l.startswith(b"354 ") or l.startswith(LOST) for l in lines), data
    assert env.sink.wait_closed(), env.sink.dump()
    assert "event end-of-data" not in env.sink.log(1), env.sink.dump()


@pytest.mark.parametrize("parse", PARSERS)
def test_backend_unsolicited_421_relayed(make_env, parse):
    """The one reply that may come unsolicited: 421, relayed, then close."""
    env = make_env(parse=parse, fault="unsolicited-421")
    c, _ = open_session(env)
    data = until_close(c)
    assert data == b"421 4.3.2 shutting down\r\n", data


# --------------------------------------------------------------------------
# Outbound: the legacy client's lines, toward a scripted MX

MESSAGE = b"Subject: canonical outbound\r\n\r\nbody\r\n"


@pytest.fixture
def out(make_mx, make_outproxy, certs):
    def factory(mode="normal", tls="may", policies=(), **keys):
        mx = make_mx(mode=mode)
        keys.setdefault("ca_file", os.path.join(certs, "ca.pem"))
        section = outbound(relay="localhost:%d" % mx.port, tls=tls, **keys)
        # mx.py's X-PLAIN-ONLY/X-TLS-ONLY markers are not needed here;
        # without allow_commands the file runs on an older proxy too.
        if "allow_commands" not in keys:
            section[1].pop("allow_commands", None)
        px = make_outproxy([section] + list(policies))
        env = type("Out", (), {})()
        env.mx, env.px, env.certs = mx, px, certs
        env.client = lambda: LegacyClient(px.port(), timeout=CLIENT_TIMEOUT)
        return env
    return factory


def legacy_session(env):
    c = env.client()
    assert c.reply().code == 220
    assert c.cmd("EHLO legacy.example").code == 250
    return c


def legacy_quit(env, c):
    r = c.cmd("QUIT")
    assert r.code == 221, r
    c.read_until_close()
    c.close()
    assert env.mx.wait_closed(), env.mx.dump()


@pytest.mark.parametrize("line", [
    b"RCPT\tTO:<x@secure.example>",
    b" RCPT TO:<x@secure.example>",
    b"\tRCPT TO:<x@secure.example>",
    b"RCPT\x0bTO:<x@secure.example>",
    b"RCPT TO:<x@secure.example>\t",
    b"RCPT TO:<x@secure.example>\x00",
], ids=["tab-after-verb", "lead-sp", "lead-tab", "vt-after-verb", "trailing-tab", "nul"])
def test_outbound_rcpt_variants_never_bypass_policy(out, line):
    env = out(tls="may", mode="no-starttls", policies=[policy("secure.example", "encrypt")])
    c = legacy_session(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    expect(raw_cmd(c, line), "500 5.5.2 ")
    # The canonical spelling meets the policy: 450 4.7.4, not sent either.
    r = raw_cmd(c, b"rcpt to:<x@secure.example>")
    expect(r, "450 4.7.4 ")
    r = c.cmd("NOOP")
    assert r.code == 250, r
    legacy_quit(env, c)
    assert b"secure.example" not in env.mx.all_raw().lower(), env.mx.dump()


def test_outbound_canonical_forms(out):
    env = out(tls="may", mode="no-starttls")
    c = legacy_session(env)
    assert raw_cmd(c, b"mail from:<a@sender.example>  ").code == 250
    assert raw_cmd(c, b"Rcpt To:<b@test.example>").code == 250
    assert raw_cmd(c, b"rset").code == 250
    expect(raw_cmd(c, b"MAIL\tFROM:<c@sender.example>"), "500 5.5.2 ")
    expect(raw_cmd(c, b"XFORWARD NAME=evil.example"), "502 5.5.1 ")
    legacy_quit(env, c)
    raw = env.mx.all_raw()
    assert b"\r\nMAIL from:<a@sender.example>\r\n" in raw, raw
    assert b"\r\nRCPT To:<b@test.example>\r\n" in raw, raw
    assert b"\r\nRSET\r\n" in raw, raw
    assert b"c@sender.example" not in raw and b"XFORWARD" not in raw.upper(), raw


@pytest.mark.parametrize("mode,code", [("refuse-starttls", "454"),
                                       ("refuse-starttls-5xx", "554")])
def test_outbound_starttls_refused_retries_on_new_connection(out, mode, code):
    """tls = may and STARTTLS refused: the connection that refused is not
    used for mail; the proxy goes on in plaintext on a new one."""
    env = out(tls="may", mode=mode)
    c = legacy_session(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    assert c.cmd("RCPT TO:<b@test.example>").code == 250
    d, end = c.data(MESSAGE)
    assert d.code == 354 and end.code == 250, (d, end)
    legacy_quit(env, c)
    assert env.mx.conns() == [1, 2], env.mx.dump()
    v1 = env.mx.verbs(1)
    assert v1[:2] == ["EHLO", "STARTTLS"], env.mx.dump()
    assert set(v1[2:]) <= {"QUIT"}, env.mx.dump()
    assert code in env.mx.log(1), env.mx.dump()
    v2 = env.mx.verbs(2)
    assert v2[:2] == ["EHLO", "MAIL"] and "STARTTLS" not in v2, env.mx.dump()
    assert env.mx.messages() == [MESSAGE]
    assert env.mx.meta(1)["conn"] == 2


def test_outbound_long_5xx_line_stays_5xx(out):
    env = out(tls="may", mode="no-starttls,long-5xx-mail")
    c = legacy_session(env)
    c.send(b"MAIL FROM:<a@sender.example>\r\n")
    try:
        r = c.reply()
    except stplib.Closed as e:
        pytest.fail("closed without a reply: %r" % e.partial, pytrace=False)
    assert r.code // 100 == 5, r
    assert all(l[:1] == "5" for l in r.lines), r
    for l in r.raw.split(b"\r\n"):
        assert len(l) + 2 <= 2048, len(l)


def test_outbound_long_5xx_reply_stays_5xx(out):
    env = out(tls="may", mode="no-starttls,long-5xx-rcpt")
    c = legacy_session(env)
    assert c.cmd("MAIL FROM:<a@sender.example>").code == 250
    c.send(b"RCPT TO:<b@test.example>\r\n")
    try:
        r = c.reply()
    except stplib.Closed as e:
        pytest.fail("closed without a reply: %r" % e.partial, pytrace=False)
    assert r.code // 100 == 5, r
    assert all(l[:1] == "5" for l in r.lines), r
