#!/usr/bin/python3
"""mx.py -- a scripted remote MX with STARTTLS, standing in for the Internet
side of the outbound proxy. Python stdlib only (ssl, threads).

Usage:
  mx.py --listen HOST:PORT --dir DIR --cert PEM --key PEM
        [--mode MODE[,MODE...]] [--dribble [MS]] [--name NAME]
        [--pidfile FILE] [--max-seconds N]

For connection N (counted from 1) it writes
  DIR/conn-N.log        one line per event, flushed as it happens:
                          "plain C: <command>"   a command received before TLS
                          "tls C: <command>"     a command received inside TLS
                          "plain S: <reply>" / "tls S: <reply>"
                          "event <what>"         connect, sni, tls, close, ...
  DIR/conn-N.plain.raw  every byte received before TLS
  DIR/conn-N.tls.raw    every byte received inside TLS (decrypted)
and for message M (counted from 1 over all connections), written when the
end-of-data arrives
  DIR/msg-M.eml         the message as received, dot-stuffing removed
  DIR/msg-M.json        {"conn", "tls" (version or null), "cipher", "sni",
                         "helo", "mail", "rcpt": [...]}
  DIR/msg-M.tls         the TLS version, only when the message came over TLS

PORT may be 0; once the socket listens, "ready HOST:PORT" is printed on
stdout. The process exits on SIGTERM/SIGINT or after --max-seconds (default
900; 0 means never), so that a forgotten MX cannot outlive a test run.

Modes (--mode, several may be given separated by commas):
  normal            EHLO offers STARTTLS; 220 to STARTTLS; TLS 1.2 or 1.3
  no-starttls       STARTTLS is not offered (and gets 502 if sent anyway)
  refuse-starttls   STARTTLS is offered but answered "454 4.7.0 ..."
  refuse-starttls-5xx  STARTTLS is offered but answered "554 5.7.3 ..."
  long-5xx-mail     MAIL gets one "550 5.7.1 ..." line of 3000 octets (over
                    the proxy's SMTP_REPLY_LINE_MAX of 2048)
  long-5xx-rcpt     RCPT gets a 550 reply of 120 lines of 100 octets (over
                    the proxy's SMTP_EHLO_REPLY_MAX of 8192 as a whole)
  abort-handshake   "220 go", then the connection is closed
  garbage-handshake "220 go", then plaintext garbage instead of a ServerHello
  stall-handshake   "220 go", then silence until the peer gives up
  inject            "220 go\\r\\n250-injected\\r\\n250 PIPELINING\\r\\n" in one
                    write, then the TLS handshake as usual
  inject-late       "220 go", a pause, then the same injected lines in a
                    write of their own, then the TLS handshake
  starttls-in-tls   the EHLO reply inside TLS offers STARTTLS again (broken,
                    but seen in the wild)
  split             every reply is sent one byte at a time (as --dribble 1)
  die-in-data       the connection is closed once body bytes arrive after 354
  die-at-rcpt       the connection is closed when RCPT arrives, no reply
  no-eod-reply      the message is collected but end-of-data gets no reply
  tls12             TLS 1.2 at most
  requiretls        REQUIRETLS (RFC 8689) in every EHLO reply, before and
                    inside TLS (a proxy may pass on only the one inside TLS)
The EHLO reply carries X-PLAIN-ONLY before TLS and X-TLS-ONLY inside TLS, so
a test can tell which one the proxy relayed; both offer AUTH and CHUNKING.

Smarthost options (a relay such as Microsoft 365 or Gmail on 587/465):
  --implicit            TLS from the first byte (RFC 8314, port 465): the
                        banner and everything after it inside TLS
  --auth-user U --auth-pass P
                        AUTH PLAIN and LOGIN check these; a wrong pair gets
                        535 5.7.8; MAIL before a successful AUTH gets 530
  --auth-token-file F   AUTH XOAUTH2 checks "user=U ^A auth=Bearer TOKEN"
                        against F's content, read at each AUTH (so a test
                        can rotate it); a wrong one gets the 334 JSON error
                        challenge, then 535 5.7.8
  --auth-mechs LIST     what EHLO inside TLS offers (default
                        "PLAIN LOGIN XOAUTH2"; "" offers no AUTH)
  --client-ca CA        ask for a client certificate and verify it against
                        CA; a client without one fails the handshake
Logged (never a secret): "event auth MECH ok|bad", "event tls VERSION CIPHER
sni=NAME resumed=yes|no client=CN|-".
"""

import argparse
import base64
import binascii
import json
import os
import socket
import ssl
import sys
import threading
import time

from peerlib import Counters, PeerSession, escape, serve

MODES = ("normal", "no-starttls", "refuse-starttls", "refuse-starttls-5xx",
         "long-5xx-mail", "long-5xx-rcpt", "abort-handshake",
         "garbage-handshake", "stall-handshake", "inject", "inject-late", "starttls-in-tls", "split",
         "die-in-data", "die-at-rcpt", "no-eod-reply", "tls12", "requiretls")
MAX_LINE = 64 * 1024      # far above RFC 5321's 1000: a longer line is an error
IO_TIMEOUT = 60.0         # no single read waits longer than this
STALL_SECONDS = 30.0      # stall-handshake waits at most this long
INJECTED = b"250-injected\r\n250 PIPELINING\r\n"


class Closed(Exception):
    pass


class Session(PeerSession):
    """One connection, handled by its own thread."""

    def __init__(self, sock, peer, opts, counters, ctx, sni_seen):
        super().__init__(sock, peer, opts, counters)
        self.modes = opts.modes
        self.ctx = ctx
        self.sni_seen = sni_seen
        self.raw = {"plain": open(self.base + ".plain.raw", "ab", buffering=0)}
        self.phase = "plain"
        self.tls_version = None
        self.cipher = None
        self.sni = None
        self.reset_txn()
        self.helo = None
        self.authed = False

    def reset_txn(self):
        self.mail = None
        self.rcpts = []

    # -- output --------------------------------------------------------
    def reply(self, text):
        """text: one or more lines separated by \\n, without CRLF."""
        lines = text.split("\n")
        for line in lines:
            self.note("%s S: %s" % (self.phase, line))
        self.send_raw("".join(line + "\r\n" for line in lines).encode())

    # -- input ---------------------------------------------------------
    def fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ssl.SSLError, OSError) as e:
            raise Closed("recv error %s" % e)
        if not chunk:
            raise Closed("peer closed")
        self.raw[self.phase].write(chunk)
        self.buf += chunk

    def read_line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise Closed("line too long")
            self.fill()
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        return line

    # -- main loop -----------------------------------------------------
    def run(self):
        try:
            self.note("event connect %s:%d" % self.peer)
            if self.opts.implicit:
                self.start_tls()
            self.reply("220 mx.test.example ESMTP scripted")
            while not self.closed:
                line = self.read_line()
                self.command(line.rstrip(b"\r\n"))
        except Closed as e:
            self.close(str(e))
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError,
                OSError) as e:
            self.close("error %s" % e)
        finally:
            self.close("end")
            for f in self.raw.values():
                f.close()
            self.log.close()

    def command(self, line):
        self.note("%s C: %s" % (self.phase, escape(line)))
        verb, _, arg = line.partition(b" ")
        verb = verb.upper().decode("latin-1")
        handler = getattr(self, "cmd_" + verb, None)
        if handler is None:
            self.reply("502 5.5.2 command not recognized")
            return
        handler(arg)

    def cmd_EHLO(self, arg):
        self.helo = arg.decode("latin-1")
        auth = "AUTH PLAIN LOGIN"
        if self.phase == "tls" and self.opts.auth_user is not None:
            auth = "AUTH PLAIN LOGIN XOAUTH2"
        if self.phase == "tls" and self.opts.auth_mechs is not None:
            auth = ("AUTH " + self.opts.auth_mechs) if self.opts.auth_mechs else None
        lines = ["mx.test.example greets %s" % self.helo, "PIPELINING", "SIZE 10240000",
                 "8BITMIME", "ENHANCEDSTATUSCODES"] + ([auth] if auth else []) + ["CHUNKING"]
        if self.phase == "plain":
            lines.append("X-PLAIN-ONLY")
            if "no-starttls" not in self.modes:
                lines.append("STARTTLS")
        else:
            lines.append("X-TLS-ONLY")
            if "starttls-in-tls" in self.modes:
                lines.append("STARTTLS")
        if "requiretls" in self.modes:
            lines.append("REQUIRETLS")
        self.reply("\n".join(("250-" if i < len(lines) - 1 else "250 ") + l
                             for i, l in enumerate(lines)))

    def cmd_HELO(self, arg):
        self.helo = arg.decode("latin-1")
        self.reply("250 mx.test.example")

    def cmd_STARTTLS(self, arg):
        if self.phase != "plain":
            self.reply("503 5.5.1 TLS already active")
            return
        if "no-starttls" in self.modes:
            self.reply("502 5.5.1 STARTTLS not offered")
            return
        if "refuse-starttls" in self.modes:
            self.reply("454 4.7.0 TLS not available due to temporary reason")
            return
        if "refuse-starttls-5xx" in self.modes:
            self.reply("554 5.7.3 TLS not available")
            return
        self.note("plain S: 220 go")
        if "inject" in self.modes:
            self.note("event injected %s" % escape(INJECTED))
            self.sock.sendall(b"220 go\r\n" + INJECTED)
        elif "inject-late" in self.modes:
            self.note("event injected-late %s" % escape(INJECTED))
            self.sock.sendall(b"220 go\r\n")
            time.sleep(0.1)
            self.sock.sendall(INJECTED)
        else:
            self.send_raw(b"220 go\r\n")
        if self.buf:
            # A client must wait for the 220 (RFC 3207 4.2); what it sent
            # early is dropped here and shows up in the log.
            self.note("event plaintext-after-starttls %s" % escape(self.buf))
            self.buf = b""
        if "abort-handshake" in self.modes:
            raise Closed("mode abort-handshake")
        if "garbage-handshake" in self.modes:
            self.sock.sendall(b"this is not a TLS ServerHello\r\n" * 4)
            time.sleep(0.2)
            raise Closed("mode garbage-handshake")
        if "stall-handshake" in self.modes:
            deadline = time.monotonic() + STALL_SECONDS
            self.sock.settimeout(0.2)
            while time.monotonic() < deadline:
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                self.raw["plain"].write(chunk)
            raise Closed("mode stall-handshake")
        self.start_tls()
        # What the client knew before TLS is forgotten (RFC 3207 4.2).
        self.helo = None
        self.reset_txn()

    def start_tls(self):
        self.sni_seen.name = None
        try:
            tsock = self.ctx.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.note("event handshake-failed %s" % e)
            raise Closed("handshake failed")
        self.sock = tsock
        self.phase = "tls"
        self.raw["tls"] = open(self.base + ".tls.raw", "ab", buffering=0)
        self.tls_version = tsock.version()
        self.cipher = tsock.cipher()[0]
        self.sni = self.sni_seen.name
        client = "-"
        peer = tsock.getpeercert()
        if peer:
            for rdn in peer.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        client = v
        self.note("event tls %s %s sni=%s resumed=%s client=%s" % (
            self.tls_version, self.cipher, self.sni or "-",
            "yes" if tsock.session_reused else "no", client))

    def cmd_AUTH(self, arg):
        # Credentials are not logged beyond the mechanism.
        mech = arg.split(b" ")[0].upper()
        self.note("event auth %s" % escape(mech))
        if self.phase != "tls":
            self.reply("538 5.7.11 Encryption required for requested authentication mechanism")
            return
        if self.opts.auth_user is None:
            self.reply("235 2.7.0 Authentication successful")
            return
        if self.authed:
            self.reply("503 5.5.1 Already authenticated")
            return
        ok = self.sasl(mech, arg.split(b" ")[1:])
        if ok is None:
            return
        self.note("event auth %s %s" % (escape(mech), "ok" if ok else "bad"))
        if ok:
            self.authed = True
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Authentication credentials invalid")

    def sasl_response(self):
        """The next SASL response line, decoded; None when cancelled."""
        line = self.read_line().rstrip(b"\r\n")
        self.note("%s C: <sasl response %d octets>" % (self.phase, len(line)))
        if line == b"*":
            return None
        try:
            return base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            return b"\xff"

    def sasl(self, mech, ir):
        """True or False, or None when the exchange was cancelled (the
        reply is sent)."""
        offered = (self.opts.auth_mechs if self.opts.auth_mechs is not None
                   else "PLAIN LOGIN XOAUTH2").upper().split()
        if mech.decode("latin-1") not in offered:
            self.reply("504 5.5.4 Unrecognized authentication type")
            return None
        user = self.opts.auth_user.encode()
        if mech == b"PLAIN":
            if ir:
                try:
                    data = base64.b64decode(ir[0], validate=True)
                except (binascii.Error, ValueError):
                    data = b""
            else:
                self.reply("334 ")
                data = self.sasl_response()
                if data is None:
                    self.reply("501 5.7.0 cancelled")
                    return None
            return data == b"\0" + user + b"\0" + (self.opts.auth_pass or "").encode()
        if mech == b"LOGIN":
            self.reply("334 VXNlcm5hbWU6")
            u = self.sasl_response()
            if u is None:
                self.reply("501 5.7.0 cancelled")
                return None
            self.reply("334 UGFzc3dvcmQ6")
            p = self.sasl_response()
            if p is None:
                self.reply("501 5.7.0 cancelled")
                return None
            return u == user and self.opts.auth_pass is not None and \
                p == self.opts.auth_pass.encode()
        if mech == b"XOAUTH2":
            token = b""
            if self.opts.auth_token_file:
                with open(self.opts.auth_token_file, "rb") as f:
                    token = f.read().strip()
            try:
                data = base64.b64decode(ir[0], validate=True) if ir else b""
            except (binascii.Error, ValueError):
                data = b""
            if token and data == b"user=" + user + b"\x01auth=Bearer " + token + b"\x01\x01":
                return True
            self.reply("334 " + base64.b64encode(
                b'{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}').decode())
            self.sasl_response()
            return False
        self.reply("504 5.5.4 Unrecognized authentication type")
        return None

    def cmd_MAIL(self, arg):
        if self.opts.auth_user is not None and not self.authed:
            self.reply("530 5.7.0 Authentication required")
            return
        if "long-5xx-mail" in self.modes:
            self.reply("550 5.7.1 " + "m" * 2990)
            return
        self.reset_txn()
        self.mail = arg.decode("latin-1")
        self.reply("250 2.1.0 Ok")

    def cmd_RCPT(self, arg):
        if "die-at-rcpt" in self.modes:
            raise Closed("mode die-at-rcpt")
        if self.mail is None:
            self.reply("503 5.5.1 need MAIL")
            return
        if "long-5xx-rcpt" in self.modes:
            self.reply("\n".join("550%s5.1.1 %03d %s" % ("-" if i < 119 else " ", i, "r" * 86)
                                  for i in range(120)))
            return
        self.rcpts.append(arg.decode("latin-1"))
        self.reply("250 2.1.5 Ok")

    def cmd_RSET(self, arg):
        self.reset_txn()
        self.reply("250 2.0.0 Ok")

    def cmd_NOOP(self, arg):
        self.reply("250 2.0.0 Ok")

    def cmd_QUIT(self, arg):
        self.reply("221 2.0.0 Bye")
        self.close("quit")

    def cmd_DATA(self, arg):
        if self.mail is None or not self.rcpts:
            self.reply("503 5.5.1 need MAIL and RCPT")
            return
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        body = []
        total = 0
        while True:
            if "die-in-data" in self.modes:
                while not self.buf:
                    self.fill()
                self.note("event die-in-data after %d body bytes" % len(self.buf))
                raise Closed("mode die-in-data")
            line = self.read_line()
            total += len(line)
            if line == b".\r\n":
                break
            if line.startswith(b"."):
                line = line[1:]
            body.append(line)
        data = b"".join(body)
        self.note("%s event end-of-data %d bytes" % (self.phase, len(data)))
        if "no-eod-reply" in self.modes:
            self.note("event no-eod-reply")
            return
        m = self.counters.next_msg()
        base = os.path.join(self.opts.dir, "msg-%d" % m)
        meta = {"conn": self.n, "tls": self.tls_version, "cipher": self.cipher,
                "sni": self.sni, "helo": self.helo, "mail": self.mail, "rcpt": self.rcpts}
        with open(base + ".json", "w") as f:
            json.dump(meta, f)
        if self.tls_version:
            with open(base + ".tls", "w") as f:
                f.write(self.tls_version + "\n")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")  # readers never see half a message
        self.note("event stored msg-%d.eml" % m)
        self.reset_txn()
        self.reply("250 2.0.0 Ok: queued as %d" % m)


def main():
    ap = argparse.ArgumentParser(description="scripted STARTTLS MX")
    ap.add_argument("--listen", required=True, help="HOST:PORT (PORT may be 0)")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--mode", default="normal",
                    help="comma-separated: " + ", ".join(MODES))
    ap.add_argument("--dribble", type=float, nargs="?", const=1.0, default=0.0,
                    help="send replies one byte at a time, MS apart (default 1)")
    ap.add_argument("--implicit", action="store_true",
                    help="TLS from the first byte (port 465 style)")
    ap.add_argument("--auth-user")
    ap.add_argument("--auth-pass")
    ap.add_argument("--auth-token-file")
    ap.add_argument("--auth-mechs")
    ap.add_argument("--client-ca")
    ap.add_argument("--pidfile")
    ap.add_argument("--max-seconds", type=float, default=900.0,
                    help="exit after this long (0: never; default %(default)s)")
    opts = ap.parse_args()
    opts.modes = set(m.strip() for m in opts.mode.split(",") if m.strip())
    bad = opts.modes - set(MODES)
    if bad:
        ap.error("unknown mode(s): %s" % ", ".join(sorted(bad)))
    if "split" in opts.modes and opts.dribble <= 0:
        opts.dribble = 1.0

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if "tls12" in opts.modes:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(opts.cert, opts.key)
    if opts.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(opts.client_ca)
    sni_seen = threading.local()

    def on_sni(sslobj, name, context):
        sni_seen.name = name
        return None

    ctx.sni_callback = on_sni

    os.makedirs(opts.dir, exist_ok=True)
    counters = Counters()
    return serve(opts.listen,
                 lambda sock, peer: Session(sock, peer, opts, counters, ctx, sni_seen).run(),
                 opts.pidfile, opts.max_seconds, IO_TIMEOUT)


if __name__ == "__main__":
    sys.exit(main())
