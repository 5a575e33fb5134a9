#!/usr/bin/python3
"""sink.py -- a recording plaintext SMTP server standing in for a legacy MTA.

Usage:
  sink.py --listen 127.0.0.1:PORT --dir DIR [--ehlo "PIPELINING,SIZE 10240000,..."]
          [--banner TEXT] [--fault MODE] [--dribble MS] [--pidfile FILE]
          [--max-seconds N] [--lenient-eod] [--slow-read BYTES_PER_S]
          [--proxy-protocol] [--xclient accept|refuse] [--delay-354 S]
          [--refuse-second-ehlo]
          [--parse postfix|rfc]

For connection N (counted from 1) it writes
  DIR/conn-N.raw   every byte received, appended and flushed as it arrives
  DIR/conn-N.log   one line per event: "C: <command>", "S: <reply>", "event ..."
and for message M (counted from 1 over all connections)
  DIR/msg-M.eml    the accepted message as received, dot-stuffing removed

It never speaks TLS: STARTTLS gets "454 4.7.0 TLS not available", so a
STARTTLS forwarded by the proxy shows up in conn-N.raw.

PORT may be 0; the chosen address is printed as "ready HOST:PORT" on stdout
once the socket listens. The process exits on SIGTERM/SIGINT or after
--max-seconds (default 900; 0 means never) so that a forgotten sink cannot
outlive a test run.

Fault modes (--fault):
  close-in-data   close the connection once body bytes arrive after 354, no reply
  no-eod-reply    collect the message but never answer end-of-data (no msg file)
  banner-554      greet with "554 5.3.2 ...", then 503 to everything but QUIT
  close-on-connect  accept and close at once, no banner
  no-banner       accept and say nothing (a hanging legacy server)
  slow            same as --dribble 5
  rcpt-550        answer every RCPT with "550 5.1.1 no such user"
A hostile server (replies that do not pair with commands):
  answer-twice    every NOOP gets "250 2.0.0 Ok" and, in the same write,
                  "250 2.0.0 spurious second answer"
  early-250       DATA gets "354 ..." and, in the same write, "250 2.0.0 Ok:
                  queued as early" before any body byte arrived (the body is
                  then read and dropped without a reply)
  mixed-codes     every NOOP gets "250-2.0.0 first line" then "550 5.0.0
                  second line": a code change inside one reply
  bare-lf-reply   every NOOP gets "250 2.0.0 ok\n250 2.0.0 extra\r\n"
  unsolicited     0.5 s after answering EHLO, "250 2.0.0 unsolicited hi"
                  while no command is outstanding
  unsolicited-421 0.5 s after answering EHLO, "421 4.3.2 shutting down",
                  then close (the one reply that may come unsolicited)
--dribble MS sends every reply one byte at a time, MS milliseconds apart, so
the proxy sees multi-line replies split across many reads.

Hostile-input options:
  --lenient-eod     parse DATA like a vulnerable legacy server (the 2023 SMTP
                    smuggling class): NUL octets are dropped, and any of
                    CR/LF/CRLF "." CR/LF/CRLF ends the data ("\n.\n",
                    "\r.\r", "\n.\r\n", "\r\n.\r", ...), so a smuggled second
                    message shows up as msg-(M+1).eml and its MAIL as a "C:"
                    line. A trailing "\r" waits for the next octet, so that
                    a CRLF split across reads stays one terminator.
  --slow-read N     read at most N bytes per second (a slow backend); the
                    kernel buffers fill and the proxy must stop reading its
                    client instead of buffering.
  --proxy-protocol  every connection starts with a PROXY header (v1 or v2),
                    consumed before the banner and logged as
                    "event proxy-v1 <line>" or "event proxy-v2 cmd=.. fam=..
                    src=IP:PORT dst=IP:PORT tlv=TYPE:HEX,..." (SSL sub-TLVs
                    as "ssl-version=..", "ssl-cn=..", "ssl-cipher=.."); the raw header is
                    kept in DIR/conn-N.proxy. A connection without a valid
                    header is logged "event proxy-bad" and closed.
  --xclient MODE    XCLIENT when the EHLO list offers it: accept (default:
                    "event xclient <args>", then a fresh "220" greeting) or
                    refuse ("550 5.7.0"). Not offered: 502 as before.
  --delay-354 S     wait S seconds before answering DATA with 354.
  --refuse-second-ehlo
                    answer a second EHLO/HELO on one connection with
                    "503 5.5.1 Invalid command: Already identified", as
                    OpenSMTPD does (RFC 5321 4.1.4 allows it); RSET does not
                    clear it, an accepted XCLIENT (a fresh session) does.

Command tokenisers (--parse); without it a line is split at its first SP
and the verb upper-cased, as before:
  postfix   as Postfix's smtpd (smtpd_token): the line is a C string (it
            ends at a NUL), leading white space is skipped, tokens are split
            on any run of SP, HTAB, VT, FF, CR (isspace), the verb is the
            first token compared case-insensitively; the arguments are the
            other tokens.
  rfc       RFC 5321 read exactly: the verb is the octets up to the first SP
            (or the end of the line), compared case-insensitively; the
            arguments are what follows that SP, trailing SPs trimmed.
In both modes the sink executes what its tokeniser read, like an authorised
Postfix: MAIL, RCPT, RSET, NOOP, XFORWARD, ETRN, ATRN get 250, DATA 354,
XCLIENT a new 220 greeting (--xclient refuse: 550), VRFY/EXPN 252, HELP
214, STARTTLS 454; anything else 502. Every executed verb is logged as
"X: VERB ARGS" (VERB upper case; ARGS the tokens joined by one SP in
postfix mode, the argument text in rfc mode), so a test can assert what the
backend executed, beside the raw "C: <line>".
"""

import argparse
import os
import re
import sys
import time

from peerlib import Counters, PeerSession, escape, serve

DEFAULT_EHLO = "PIPELINING,SIZE 10240000,8BITMIME,AUTH PLAIN LOGIN,STARTTLS,CHUNKING"
MAX_LINE = 64 * 1024  # far above RFC 5321's 1000; a longer "line" is a protocol error
FAULTS = ("close-in-data", "no-eod-reply", "banner-554", "close-on-connect",
          "no-banner", "slow", "rcpt-550", "answer-twice", "early-250", "mixed-codes",
          "bare-lf-reply", "unsolicited", "unsolicited-421")
PARSE_WS = b" \t\x0b\x0c\r\n"  # isspace() in the C locale, as Postfix's ISSPACE


class Session(PeerSession):
    """One client connection, handled by its own thread."""

    def __init__(self, sock, peer, opts, counters):
        super().__init__(sock, peer, opts, counters)
        self.raw = open(self.base + ".raw", "ab", buffering=0)
        self.mode = "cmd"        # cmd | data | bdat | auth-plain | auth-login-user | auth-login-pass
        self.data = []           # body lines of the message in progress
        self.bdat_left = 0
        self.bdat_last = False
        self.bdat_chunks = []
        self.data_bytes = 0
        self.lenient = b""       # --lenient-eod: body so far, NULs removed
        self.proxy_done = not opts.proxy_protocol
        self.identified = False  # EHLO/HELO answered 250 (--refuse-second-ehlo)
        self.early = False       # --fault early-250: this body was "answered" already

    # -- output --------------------------------------------------------
    def reply(self, text):
        """text: one or more lines separated by \n, without CRLF."""
        lines = text.split("\n")
        for line in lines:
            self.note("S: " + line)
        self.send_raw("".join(line + "\r\n" for line in lines).encode())

    # -- main loop -----------------------------------------------------
    def run(self):
        try:
            self.note("event connect %s:%d" % self.peer)
            fault = self.opts.fault
            if fault == "close-on-connect":
                self.close("fault close-on-connect")
                return
            if self.proxy_done:
                self.greet()
            while not self.closed:
                try:
                    chunk = self.sock.recv(self.recv_size())
                except OSError as e:
                    self.close("recv error %s" % e)
                    return
                if not chunk:
                    self.close("peer closed mode=%s" % self.mode)
                    return
                self.raw.write(chunk)
                self.buf += chunk
                if not self.proxy_done and not self.proxy_header():
                    continue
                self.process()
                if self.opts.slow_read > 0:
                    time.sleep(len(chunk) / self.opts.slow_read)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.close("send error %s" % e)
        finally:
            self.close("end")
            self.raw.close()
            self.log.close()

    def greet(self):
        fault = self.opts.fault
        if fault != "no-banner":
            if fault == "banner-554":
                self.reply("554 5.3.2 %s" % self.opts.banner)
            else:
                self.reply("220 %s" % self.opts.banner)

    def recv_size(self):
        if self.opts.slow_read > 0:
            return max(1, min(65536, int(self.opts.slow_read / 10)))
        return 65536

    # -- PROXY header (--proxy-protocol) -----------------------------
    V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

    def proxy_header(self):
        """Consumes the PROXY header at the start of self.buf. Returns True
        once it is consumed (the banner has then been sent), False while
        more bytes are needed or after closing on a bad header."""
        b = self.buf
        if b.startswith(self.V2_SIG[:len(b)]) and len(b) < 16:
            return False
        if b.startswith(self.V2_SIG):
            n = 16 + int.from_bytes(b[14:16], "big")
            if len(b) < n:
                return False
            hdr, self.buf = b[:n], b[n:]
            text = self.proxy_v2(hdr)
            if text is None:
                return self.proxy_bad(hdr)
            self.note("event proxy-v2 " + text)
        elif b"PROXY "[:len(b)] == b[:6]:
            i = b.find(b"\r\n")
            if i < 0:
                if len(b) > 107:
                    return self.proxy_bad(b)
                return False
            hdr, self.buf = b[:i + 2], b[i + 2:]
            if len(hdr) > 107:
                return self.proxy_bad(hdr)
            self.note("event proxy-v1 " + escape(hdr[:-2]))
        else:
            return self.proxy_bad(b[:120])
        with open(os.path.join(self.opts.dir, "conn-%d.proxy" % self.n), "wb") as f:
            f.write(hdr)
        self.proxy_done = True
        self.greet()
        return True

    def proxy_bad(self, hdr):
        self.note("event proxy-bad " + escape(hdr))
        self.close("bad PROXY header")
        return False

    @staticmethod
    def proxy_v2(hdr):
        """Text for a v2 header, or None if it is malformed."""
        import ipaddress
        vc, fam = hdr[12], hdr[13]
        if vc >> 4 != 2 or (vc & 0xF) not in (0, 1):
            return None
        body = hdr[16:]
        out = ["cmd=%s" % ("proxy" if vc & 0xF else "local"), "fam=0x%02x" % fam]
        if fam == 0x11:
            if len(body) < 12:
                return None
            src = str(ipaddress.IPv4Address(body[0:4]))
            dst = str(ipaddress.IPv4Address(body[4:8]))
            sp, dp = int.from_bytes(body[8:10], "big"), int.from_bytes(body[10:12], "big")
            rest = body[12:]
        elif fam == 0x21:
            if len(body) < 36:
                return None
            src = str(ipaddress.IPv6Address(body[0:16]))
            dst = str(ipaddress.IPv6Address(body[16:32]))
            sp, dp = int.from_bytes(body[32:34], "big"), int.from_bytes(body[34:36], "big")
            rest = body[36:]
        else:
            src = dst = None
            rest = b""
        if src is not None:
            out.append("src=%s:%d dst=%s:%d" % (src, sp, dst, dp))
        tlvs = []
        while rest:
            if len(rest) < 3:
                return None
            t, ln = rest[0], int.from_bytes(rest[1:3], "big")
            v, rest = rest[3:3 + ln], rest[3 + ln:]
            if len(v) != ln:
                return None
            tlvs.append("%02x:%s" % (t, v.hex()))
            if t == 0x20 and ln >= 5:
                out.append("ssl-client=0x%02x ssl-verify=%d" % (
                    v[0], int.from_bytes(v[1:5], "big")))
                sub = v[5:]
                while len(sub) >= 3:
                    st, sl = sub[0], int.from_bytes(sub[1:3], "big")
                    sv, sub = sub[3:3 + sl], sub[3 + sl:]
                    name = {0x21: "ssl-version", 0x22: "ssl-cn",
                            0x23: "ssl-cipher"}.get(st, "ssl-%02x" % st)
                    out.append("%s=%s" % (name, escape(sv)))
                if sub:
                    return None
        out.append("tlv=" + ",".join(tlvs))
        return " ".join(out)

    def process(self):
        """Consume every complete unit in the buffer (pipelining)."""
        while not self.closed:
            if self.mode == "data":
                if not self.take_data_line():
                    return
            elif self.mode == "bdat":
                if not self.take_bdat():
                    return
            else:
                i = self.buf.find(b"\n")
                if i < 0:
                    if len(self.buf) > MAX_LINE:
                        self.reply("500 5.5.2 line too long")
                        self.close("line too long")
                    return
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                self.line(line.rstrip(b"\r\n"))

    # -- DATA ----------------------------------------------------------
    LENIENT_EOD = re.compile(rb"(\r\n|\r|\n)\.(\r\n|\r|\n)")

    def take_data_lenient(self):
        """--lenient-eod: the first CR/LF/CRLF "." CR/LF/CRLF after NUL
        removal ends the data (the body starts after a virtual CRLF)."""
        self.lenient += self.buf.replace(b"\x00", b"")
        self.buf = b""
        m = self.LENIENT_EOD.search(self.lenient)
        if m is None:
            return False
        if m.group(2) == b"\r" and m.end() == len(self.lenient):
            return False  # a CRLF may be split across reads: wait for it
        body, rest = self.lenient[2:m.start() + len(m.group(1))], self.lenient[m.end():]
        self.lenient = b""
        self.buf = rest
        lines = body.split(b"\r\n")
        body = b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)
        self.note("event lenient-eod %s" % escape(m.group(0)))
        self.end_of_data(body)
        return True

    def take_data_line(self):
        if self.opts.fault == "close-in-data" and self.buf:
            self.note("event fault close-in-data after %d bytes" % len(self.buf))
            self.close("fault close-in-data")
            return False
        if self.opts.lenient_eod:
            return self.take_data_lenient()
        i = self.buf.find(b"\n")
        if i < 0:
            return False
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        if line in (b".\r\n", b".\n"):
            self.end_of_data(b"".join(self.data))
            return True
        if line.startswith(b"."):
            line = line[1:]
        self.data.append(line)
        return True

    def end_of_data(self, body):
        self.mode = "cmd"
        self.data = []
        self.note("event end-of-data %d bytes" % len(body))
        if self.opts.fault == "no-eod-reply":
            self.note("event fault no-eod-reply")
            return
        if self.early:
            self.early = False
            self.note("event fault early-250: end-of-data not answered")
            return
        m = self.counters.next_msg()
        path = os.path.join(self.opts.dir, "msg-%d.eml" % m)
        with open(path + ".tmp", "wb") as f:
            f.write(body)
        os.rename(path + ".tmp", path)  # readers never see half a message
        self.note("event stored msg-%d.eml" % m)
        self.reply("250 2.0.0 Ok: queued as %d" % m)

    # -- BDAT (RFC 3030) -------------------------------------------------
    def take_bdat(self):
        if self.opts.fault == "close-in-data" and self.buf:
            self.close("fault close-in-data")
            return False
        if len(self.buf) < self.bdat_left:
            return False
        self.bdat_chunks.append(self.buf[:self.bdat_left])
        self.buf = self.buf[self.bdat_left:]
        self.bdat_left = 0
        self.mode = "cmd"
        if self.bdat_last:
            body = b"".join(self.bdat_chunks)
            self.bdat_chunks = []
            self.end_of_data(body)
        else:
            self.reply("250 2.0.0 chunk ok")
        return True

    # -- commands ------------------------------------------------------
    def line(self, line):
        self.note("C: " + escape(line))
        if self.mode == "auth-plain":
            self.mode = "cmd"
            self.reply("235 2.7.0 ok")
            return
        if self.mode == "auth-login-user":
            self.mode = "auth-login-pass"
            self.reply("334 UGFzc3dvcmQ6")
            return
        if self.mode == "auth-login-pass":
            self.mode = "cmd"
            self.reply("235 2.7.0 ok")
            return
        if self.opts.parse:
            verb, arg, shown = self.tokenise(line)
        else:
            verb, _, arg = line.partition(b" ")
            verb = verb.upper().decode("latin-1")
        if self.opts.fault == "banner-554" and verb != "QUIT":
            self.reply("503 5.5.1 no service")
            return
        handler = getattr(self, "cmd_" + verb, None) if verb.isalpha() else None
        if handler is None:
            self.reply("502 5.5.2 command not recognized")
            return
        if self.opts.parse:
            self.note("X: " + verb + (" " + escape(shown) if shown else ""))
        handler(arg)

    def already_identified(self):
        """--refuse-second-ehlo: True (and 503 sent) for a second greeting."""
        if self.opts.refuse_second_ehlo and self.identified:
            self.note("event second-ehlo-refused")
            self.reply("503 5.5.1 Invalid command: Already identified")
            return True
        self.identified = True
        return False

    def tokenise(self, line):
        """--parse: (VERB upper case, argument bytes, argument text to log)."""
        if self.opts.parse == "postfix":
            nul = line.find(b"\x00")
            if nul >= 0:
                line = line[:nul]
            tokens = [t for t in re.split(b"[" + re.escape(PARSE_WS) + b"]+", line) if t]
            if not tokens:
                return "", b"", b""
            arg = b" ".join(tokens[1:])
            return tokens[0].upper().decode("latin-1"), arg, arg
        verb, sp, arg = line.partition(b" ")
        arg = arg.rstrip(b" ")
        return verb.upper().decode("latin-1"), arg, arg

    def cmd_EHLO(self, arg):
        if self.already_identified():
            return
        caps = [c.strip() for c in self.opts.ehlo.split(",") if c.strip()]
        lines = ["sink.test"] + caps
        self.reply("\n".join(
            ("250-" if i < len(lines) - 1 else "250 ") + l for i, l in enumerate(lines)))
        if self.opts.fault == "unsolicited":
            time.sleep(0.5)
            self.note("event fault unsolicited")
            self.reply("250 2.0.0 unsolicited hi")
        elif self.opts.fault == "unsolicited-421":
            time.sleep(0.5)
            self.note("event fault unsolicited-421")
            self.reply("421 4.3.2 shutting down")
            self.close("fault unsolicited-421")

    def cmd_HELO(self, arg):
        if self.already_identified():
            return
        self.reply("250 sink.test")

    def cmd_MAIL(self, arg):
        self.reply("250 2.1.0 Ok")

    def cmd_RCPT(self, arg):
        if self.opts.fault == "rcpt-550":
            self.reply("550 5.1.1 no such user")
            return
        self.reply("250 2.1.5 Ok")

    def cmd_RSET(self, arg):
        self.data = []
        self.bdat_chunks = []
        self.reply("250 2.0.0 Ok")

    def cmd_NOOP(self, arg):
        fault = self.opts.fault
        if fault == "answer-twice":
            self.note("event fault answer-twice")
            self.reply("250 2.0.0 Ok\n250 2.0.0 spurious second answer")
        elif fault == "mixed-codes":
            self.note("event fault mixed-codes")
            self.reply("250-2.0.0 first line\n550 5.0.0 second line")
        elif fault == "bare-lf-reply":
            self.note("event fault bare-lf-reply")
            self.note("S: 250 2.0.0 ok\\n250 2.0.0 extra")
            self.send_raw(b"250 2.0.0 ok\n250 2.0.0 extra\r\n")
        else:
            self.reply("250 2.0.0 Ok")

    def cmd_VRFY(self, arg):
        self.reply("252 2.0.0 maybe")

    # Verbs only the --parse modes execute (as an authorised Postfix would).
    def cmd_EXPN(self, arg):
        if not self.opts.parse:
            return self.reply("502 5.5.2 command not recognized")
        self.reply("252 2.0.0 maybe")

    def cmd_HELP(self, arg):
        if not self.opts.parse:
            return self.reply("502 5.5.2 command not recognized")
        self.reply("214 2.0.0 see RFC 5321")

    def cmd_ETRN(self, arg):
        if not self.opts.parse:
            return self.reply("502 5.5.2 command not recognized")
        self.reply("250 Queuing started")

    def cmd_ATRN(self, arg):
        if not self.opts.parse:
            return self.reply("502 5.5.2 command not recognized")
        self.reply("250 2.0.0 ATRN ok")

    def cmd_XFORWARD(self, arg):
        if not self.opts.parse:
            return self.reply("502 5.5.2 command not recognized")
        self.note("event xforward " + escape(arg))
        self.reply("250 2.0.0 Ok")

    def cmd_DATA(self, arg):
        self.mode = "data"
        self.data = []
        self.lenient = b"\r\n"
        if self.opts.delay_354 > 0:
            time.sleep(self.opts.delay_354)
        if self.opts.fault == "early-250":
            self.note("event fault early-250")
            self.reply("354 End data with <CR><LF>.<CR><LF>\n250 2.0.0 Ok: queued as early")
            self.early = True
            return
        self.reply("354 End data with <CR><LF>.<CR><LF>")

    def cmd_XCLIENT(self, arg):
        caps = [c.strip().split(" ")[0].upper() for c in self.opts.ehlo.split(",")]
        if "XCLIENT" not in caps and not self.opts.parse:
            self.reply("502 5.5.2 command not recognized")
        elif self.opts.xclient == "refuse":
            self.note("event xclient-refused " + escape(arg))
            self.reply("550 5.7.0 insufficient authorization")
        else:
            self.note("event xclient " + escape(arg))
            self.identified = False
            self.reply("220 %s" % self.opts.banner)

    def cmd_BDAT(self, arg):
        parts = arg.split()
        try:
            size = int(parts[0])
        except (IndexError, ValueError):
            self.reply("501 5.5.4 bad BDAT size")
            return
        self.bdat_left = size
        self.bdat_last = len(parts) > 1 and parts[1].upper() == b"LAST"
        self.mode = "bdat"

    def cmd_QUIT(self, arg):
        self.reply("221 2.0.0 Bye")
        self.close("quit")

    def cmd_STARTTLS(self, arg):
        self.reply("454 4.7.0 TLS not available")

    def cmd_AUTH(self, arg):
        parts = arg.split()
        mech = parts[0].upper() if parts else b""
        if mech == b"PLAIN" and len(parts) == 1:
            self.mode = "auth-plain"
            self.reply("334 ")
        elif mech == b"LOGIN":
            self.mode = "auth-login-user"
            self.reply("334 VXNlcm5hbWU6")
        else:
            self.reply("235 2.7.0 ok")


def main():
    ap = argparse.ArgumentParser(description="recording SMTP sink")
    ap.add_argument("--listen", required=True, help="HOST:PORT (PORT may be 0)")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ehlo", default=DEFAULT_EHLO,
                    help="comma-separated EHLO keywords (default: %(default)s)")
    ap.add_argument("--banner", default="sink.test ESMTP",
                    help="greeting text after the 220")
    ap.add_argument("--fault", choices=FAULTS)
    ap.add_argument("--dribble", type=float, default=0.0,
                    help="send replies one byte at a time, this many ms apart")
    ap.add_argument("--lenient-eod", action="store_true",
                    help="end DATA like a vulnerable legacy server (see above)")
    ap.add_argument("--slow-read", type=float, default=0.0,
                    help="read at most this many bytes per second")
    ap.add_argument("--proxy-protocol", action="store_true",
                    help="consume and record a PROXY header on each connection")
    ap.add_argument("--xclient", choices=("accept", "refuse"), default="accept")
    ap.add_argument("--delay-354", type=float, default=0.0,
                    help="seconds to wait before answering DATA")
    ap.add_argument("--refuse-second-ehlo", action="store_true",
                    help="503 to a second EHLO/HELO on one connection (OpenSMTPD)")
    ap.add_argument("--parse", choices=("postfix", "rfc"),
                    help="tokenise and execute commands like Postfix or RFC 5321 (see above)")
    ap.add_argument("--pidfile")
    ap.add_argument("--max-seconds", type=float, default=900.0,
                    help="exit after this long (0: never; default %(default)s)")
    opts = ap.parse_args()
    if opts.fault == "slow" and opts.dribble <= 0:
        opts.dribble = 5.0

    os.makedirs(opts.dir, exist_ok=True)
    counters = Counters(opts.dir)
    return serve(opts.listen, lambda sock, peer: Session(sock, peer, opts, counters).run(),
                 opts.pidfile, opts.max_seconds)


if __name__ == "__main__":
    sys.exit(main())
