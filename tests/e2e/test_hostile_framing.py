"""Hostile framing: command lines with bare CR/LF/NUL, over-long lines,
synchronisation errors, BDAT without CHUNKING, commands injected across the
TLS boundary, and SMTP smuggling (2023 class) toward a lenient legacy
server.

The smuggling tests run the sink with --lenient-eod: it ends DATA on any of
CR/LF/CRLF "." CR/LF/CRLF after dropping NULs, as vulnerable legacy servers
did. A body that slips a fake end-of-data past the proxy therefore shows up
at the sink as a second message and as a "C: MAIL FROM:<evil@x>" line.
test_lenient_sink_is_vulnerable proves that, by sending each payload to the
sink directly.
"""

import time

import pytest

import stplib

SMUGGLED = (b"MAIL FROM:<evil@x>\r\n"
            b"RCPT TO:<victim@y>\r\n"
            b"DATA\r\n"
            b"Subject: smuggled\r\n"
            b"\r\n"
            b"evil\r\n")

# Fake end-of-data sequences, each placed between "hello" and SMUGGLED.
VARIANTS = {
    "lf-dot-lf": b"\n.\n",
    "cr-dot-cr": b"\r.\r",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "crlf-nul-dot-crlf": b"\r\n\x00.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-nul-crlf": b"\r\n.\x00\r\n",
    "cr-nul-lf-dot-crlf": b"\r\x00\n.\r\n",
    "lf-nul-dot-lf": b"\n\x00.\n",
}


def expect(reply, code, enhanced):
    """reply has code and, unless enhanced is "", that enhanced status."""
    assert reply.code == code, reply
    if enhanced:
        assert reply.lines[-1].startswith("%d %s " % (code, enhanced)), reply


def expect_close(c, code, enhanced):
    """The next bytes are one reply line with code/enhanced, then close."""
    data = c.read_until_close()
    assert data.startswith(b"%d %s " % (code, enhanced.encode())), data
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1, data


def start(env, tls=True, name="client.example"):
    """Banner, EHLO (and STARTTLS + EHLO). Returns the client."""
    c = env.client()
    b = c.reply()
    assert b.code == 220, b
    r = c.ehlo(name)
    assert r.code == 250, r
    if tls:
        c.starttls(env.ctx())
        r = c.ehlo(name)
        assert r.code == 250, r
    return c


def sink_cmds(env):
    """Commands over all the sink's connections, in order: a STARTTLS
    session has two (issue #16), the encrypted part on the second."""
    return [c for n in env.sink.conns() for c in env.sink.commands(n)]


def pre_cmds(tls, name="client.example"):
    """What the sink sees from start(): EHLO, and after TLS (on a new
    connection, the first one ended with the proxy's QUIT) the client's
    second EHLO. No RSET: nothing before TLS reaches the new connection."""
    if tls:
        return ["EHLO " + name, "QUIT", "EHLO " + name]
    return ["EHLO " + name]


# --------------------------------------------------------------------------
# Command lines

BAD_LINES = {
    "bare-lf": b"NOOP\n",
    "bare-cr-inside": b"NOOP\rRSET\r\n",
    "nul": b"NO\x00OP\r\n",
    "bare-lf-mail": b"MAIL FROM:<evil@x>\n",
    "cr-cr-lf": b"VRFY a\r\r\n",
}


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("line", sorted(BAD_LINES))
def test_bad_command_line_refused_never_forwarded(make_env, line, tls):
    env = make_env()
    c = start(env, tls)
    c.send(BAD_LINES[line])
    expect(c.reply(), 500, "5.5.2")
    # The session goes on; the marker is the only thing forwarded.
    expect(c.cmd("VRFY marker"), 252, "2.0.0")
    expect(c.cmd("QUIT"), 221, "2.0.0")
    c.close()
    assert env.sink.wait_closed(), env.sink.dump()
    assert sink_cmds(env) == pre_cmds(tls) + ["VRFY marker", "QUIT"], env.sink.dump()
    raw = env.sink.all_raw()
    assert b"NOOP" not in raw and b"evil" not in raw and b"VRFY a" not in raw, raw


def test_line_length_limit_exact(env):
    c = start(env, tls=False)
    ok = b"NOOP " + b"x" * (12288 - 7) + b"\r\n"       # 12288 octets with CRLF
    assert len(ok) == 12288
    c.send(ok)
    expect(c.reply(), 250, "2.0.0")
    long = b"VRFY " + b"y" * (12289 - 7) + b"\r\n"     # one octet more
    c.send(long)
    r = c.reply()
    assert r.raw == b"500 5.5.2 Line too long\r\n", r
    # Far over the limit, with a command pipelined behind it in the same
    # send: skipped to the LF, then the next command runs.
    c.send(b"VRFY " + b"z" * 100000 + b"\r\nVRFY after\r\n")
    assert c.reply().raw == b"500 5.5.2 Line too long\r\n"
    expect(c.reply(), 252, "2.0.0")
    expect(c.cmd("QUIT"), 221, "2.0.0")
    assert env.sink.wait_closed(), env.sink.dump()
    cmds = sink_cmds(env)
    assert cmds[0] == "EHLO client.example"
    assert cmds[1] == ok[:-2].decode()
    assert cmds[2:] == ["VRFY after", "QUIT"], cmds[2:][:3]
    raw = env.sink.all_raw()
    assert b"yyy" not in raw and b"zzz" not in raw


def test_bytes_before_banner_are_sync_error(make_env):
    env = make_env(fault="no-banner")
    c = env.client()
    c.send(b"EHLO early.example\r\nMAIL FROM:<evil@x>\r\n")
    expect_close(c, 554, "5.5.0")
    time.sleep(0.2)
    assert env.sink.all_raw() == b"", env.sink.all_raw()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("split", [False, True], ids=["one-send", "two-sends"])
def test_bytes_after_data_before_354_are_sync_error(make_env, tls, split):
    env = make_env(delay_354=1.0)
    c = start(env, tls)
    expect(c.cmd("MAIL FROM:<a@x>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<b@y>"), 250, "2.1.5")
    early = b"Subject: early\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@x>\r\n"
    if split:
        c.send(b"DATA\r\n")
        time.sleep(0.2)
        c.send(early)
    else:
        c.send(b"DATA\r\n" + early)
    expect_close(c, 554, "5.5.0")
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    assert raw.endswith(b"DATA\r\n"), raw
    assert b"early" not in raw and b"evil" not in raw
    assert env.sink.messages() == []


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_bdat_closes_and_never_forwarded(make_env, tls):
    env = make_env()  # the sink offers CHUNKING
    c = env.client()
    assert c.reply().code == 220
    r = c.ehlo()
    assert "CHUNKING" not in r.keywords(), r
    if tls:
        c.starttls(env.ctx())
        r = c.ehlo()
        assert "CHUNKING" not in r.keywords(), r
    expect(c.cmd("MAIL FROM:<a@x>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<b@y>"), 250, "2.1.5")
    c.send(b"BDAT 20 LAST\r\nMAIL FROM:<evil@x>\r\n")
    expect_close(c, 521, "5.5.1")
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    assert b"BDAT" not in raw and b"evil" not in raw, raw
    assert env.sink.messages() == []


@pytest.mark.parametrize("pipeline", [
    b"STARTTLS\r\nMAIL FROM:<evil@x>\r\n",
    b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\n",
    b"NOOP\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n",
], ids=["mail", "rset-mail-rcpt", "noop-first"])
def test_commands_injected_before_tls_never_executed(env, pipeline):
    c = env.client()
    assert c.reply().code == 220
    expect(c.ehlo(), 250, "")
    c.send(pipeline)
    if pipeline.startswith(b"NOOP"):
        expect(c.reply(), 250, "2.0.0")
    r = c.reply()
    assert r.raw == b"220 2.0.0 Ready to start TLS\r\n", r
    # Whatever was pipelined after STARTTLS must not be answered in clear.
    assert c.buf == b"" and c.nothing_within(0.3), c.buf
    c.handshake(env.ctx())
    expect(c.ehlo(), 250, "")
    expect(c.cmd("MAIL FROM:<good@x>"), 250, "2.1.0")
    expect(c.cmd("QUIT"), 221, "2.0.0")
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    assert b"evil" not in raw and b"victim" not in raw and b"STARTTLS" not in raw, raw
    cmds = sink_cmds(env)
    # The injected commands were discarded, not forwarded: no transaction
    # was opened before TLS, so no RSET is needed either.
    want = ["EHLO client.example"] + (["NOOP"] if pipeline.startswith(b"NOOP") else []) + \
        ["QUIT", "EHLO client.example", "MAIL FROM:<good@x>", "QUIT"]
    assert cmds == want, env.sink.dump()


# --------------------------------------------------------------------------
# SMTP smuggling

def smuggling_body(variant):
    return b"Subject: s\r\n\r\nhello" + VARIANTS[variant] + SMUGGLED


def test_lenient_sink_is_vulnerable(make_sink):
    """The sink really is the vulnerable server the smuggling tests need:
    sent straight to it, every payload yields two messages."""
    sink = make_sink(lenient_eod=True)
    for i, v in enumerate(sorted(VARIANTS)):
        c = stplib.Client(sink.port)
        assert c.reply().code == 220
        c.cmd("EHLO direct.example")
        c.cmd("MAIL FROM:<a@x>")
        c.cmd("RCPT TO:<b@y>")
        assert c.cmd("DATA").code == 354
        c.send(smuggling_body(v) + b".\r\n")
        codes = []
        for _ in range(5):  # 250 msg, MAIL, RCPT, 354, 250 msg
            codes.append(c.reply().code)
        assert codes == [250, 250, 250, 354, 250], (v, codes)
        c.close()
        assert sink.wait_closed(min_conns=i + 1)
        assert "MAIL FROM:<evil@x>" in sink.commands(i + 1), v
    assert len(sink.messages()) == 2 * len(VARIANTS)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_smuggling_one_message_only(make_env, variant, tls):
    env = make_env(lenient_eod=True)
    c = start(env, tls)
    expect(c.cmd("MAIL FROM:<a@x>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<b@y>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354, "")
    c.send(smuggling_body(variant) + b".\r\n")
    expect(c.reply(), 250, "2.0.0")
    # Exactly one reply for one end-of-data: nothing more arrives.
    assert c.nothing_within(0.3), c.buf
    expect(c.cmd("QUIT"), 221, "2.0.0")
    c.close()
    assert env.sink.wait_closed(), env.sink.dump()
    cmds = sink_cmds(env)
    assert "MAIL FROM:<evil@x>" not in cmds, env.sink.dump()
    assert cmds == pre_cmds(tls) + ["MAIL FROM:<a@x>", "RCPT TO:<b@y>", "DATA", "QUIT"], \
        env.sink.dump()
    # Every variant becomes a CRLF line ".", stuffed to "..": content.
    # CR NUL LF is a bare CR and a bare LF (NULs never join a CRLF).
    breaks = b"\r\n\r\n" if variant == "cr-nul-lf-dot-crlf" else b"\r\n"
    wire = b"Subject: s\r\n\r\nhello" + breaks + b"..\r\n" + SMUGGLED + b".\r\n"
    raw = env.sink.all_raw()
    assert raw.endswith(b"DATA\r\n" + wire + b"QUIT\r\n"), raw[-300:]
    assert env.sink.messages() == [b"Subject: s\r\n\r\nhello" + breaks + b".\r\n" + SMUGGLED]


# --------------------------------------------------------------------------
# End-of-data split across reads

# name: (what the client sends after 354, the message the sink stores,
#        what the sink must receive after DATA)
SPLIT_CASES = {
    # well-formed: relayed byte-exact
    "clean": (b"Subject: split\r\n\r\n..lead\r\n...two\r\nx\r\n.\r\n",
              b"Subject: split\r\n\r\n.lead\r\n..two\r\nx\r\n",
              b"Subject: split\r\n\r\n..lead\r\n...two\r\nx\r\n.\r\n"),
    # bare LF, bare CR before a dot, NUL before a dot, a stuffed CRLF line
    "mixed": (b"a\nb\r.c\r\n\x00.d\r\n..\r\n.\r\n",
              b"a\r\nb\r\n.c\r\n.d\r\n.\r\n",
              b"a\r\nb\r\n..c\r\n..d\r\n..\r\n.\r\n"),
}


def one_transaction(c, parts, pause):
    expect(c.cmd("MAIL FROM:<a@x>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<b@y>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354, "")
    for i, p in enumerate(parts):
        if i:
            time.sleep(pause)
        c.send(p)
    expect(c.reply(), 250, "2.0.0")


@pytest.mark.parametrize("case", sorted(SPLIT_CASES))
def test_end_of_data_split_at_every_offset(make_env, case):
    sent, stored, wire = SPLIT_CASES[case]
    env = make_env(lenient_eod=True)
    c = start(env, tls=False)
    n = 0
    for k in range(1, len(sent)):
        one_transaction(c, [sent[:k], sent[k:]], 0.004)
        n += 1
    # And every octet in its own send.
    one_transaction(c, [sent[i:i + 1] for i in range(len(sent))], 0.002)
    n += 1
    expect(c.cmd("QUIT"), 221, "2.0.0")
    assert env.sink.wait_closed(), env.sink.dump()
    msgs = env.sink.messages()
    assert len(msgs) == n
    for i, m in enumerate(msgs):
        assert m == stored, (i, m)
    raw = env.sink.all_raw()
    assert raw.count(b"DATA\r\n" + wire) == n, raw[:2000]
    assert "MAIL FROM:<a@x>" in sink_cmds(env)
    assert sink_cmds(env).count("DATA") == n


# One line of each kind the filter changes, starting and ending at a line
# start: bare LF, bare CR before a dot, NUL before a dot, a stuffed line.
FRAG_SENT = b"a\nb\r.c\r\n\x00.d\r\n..\r\n"
FRAG_WIRE = b"a\r\nb\r\n..c\r\n..d\r\n..\r\n"


def clean_lines(n, seed):
    """About n octets of well-formed lines of varying length."""
    out, i = [], 0
    while sum(map(len, out)) < n:
        w = 1 + (seed * 7 + i * 13) % 97
        out.append(bytes(65 + (seed + i + j) % 26 for j in range(w)) + b"\r\n")
        i += 1
    return b"".join(out)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_large_body_fragments_past_the_first_buffer(make_env, tls):
    """A 200 KB body sent in one write, with lines the filter must change
    far past the first 16 KiB read buffer (where, over TLS, the proxy
    decrypts straight into the backend's output and keeps only unchanged
    runs there). The backend sees exactly the normalised body."""
    env = make_env(lenient_eod=True)
    c = start(env, tls=tls)
    parts = [clean_lines(16000 + 977 * i, i) for i in range(6)]
    body = b"Subject: big\r\n\r\n" + FRAG_SENT.join(parts) + b".\r\n"
    wire = b"Subject: big\r\n\r\n" + FRAG_WIRE.join(parts) + b".\r\n"
    expect(c.cmd("MAIL FROM:<a@x>"), 250, "2.1.0")
    expect(c.cmd("RCPT TO:<b@y>"), 250, "2.1.5")
    expect(c.cmd("DATA"), 354, "")
    c.send(body)
    expect(c.reply(), 250, "2.0.0")
    expect(c.cmd("QUIT"), 221, "2.0.0")
    assert env.sink.wait_closed(), env.sink.dump()
    raw = env.sink.all_raw()
    assert raw.count(b"DATA\r\n" + wire) == 1, len(raw)
    assert len(env.sink.messages()) == 1


def test_end_of_data_split_over_tls(make_env):
    """The same over TLS: every TLS record carries one octet of the end."""
    sent, stored, wire = SPLIT_CASES["mixed"]
    env = make_env(lenient_eod=True)
    c = start(env, tls=True)
    for k in range(len(sent) - 6, len(sent)):
        one_transaction(c, [sent[:k]] + [sent[i:i + 1] for i in range(k, len(sent))], 0.003)
    expect(c.cmd("QUIT"), 221, "2.0.0")
    assert env.sink.wait_closed(), env.sink.dump()
    assert env.sink.messages() == [stored] * 6
    assert env.sink.all_raw().count(b"DATA\r\n" + wire) == 6
