#!/usr/bin/python3
"""stshost.py: a scripted MTA-STS policy host (HTTPS) for the tests.

    stshost.py --cert CERT --key KEY [--listen 127.0.0.1:0] [--mode MODE]
               [--policy FILE] [--log FILE]

Serves GET /.well-known/mta-sts.txt over TLS, one request per connection,
and writes its responses by hand (stdlib socket + ssl only) so that every
byte of framing is the test's choice. Prints "port=N" on stdout once it
listens. Each request head it receives is appended to --log (then a line
"--"). Modes (what the response is):

  ok          200, text/plain; charset=utf-8, Content-Length
  chunked     200, text/plain, Transfer-Encoding: chunked (small chunks)
  close       200, text/plain, body ends at close (with close_notify)
  cut         200, text/plain, body ends at a TCP close, no close_notify
  redirect    301 to another host, with a valid policy as body
  notfound    404
  html        200, text/html
  big         200, text/plain, a valid policy padded to 70000 octets
  bigchunked  the same in chunks, no length announced
  slow        200, head at once, then one body octet per second
  stall       accepts the connection and never answers the handshake
  badpolicy   200, text/plain, a body that is no valid policy
  garbage     not HTTP at all

Which certificate is shown is the --cert/--key given (the tests make a
wrong-name, an expired and an untrusted one with mkstscerts.sh).
"""

import argparse
import os
import signal
import socket
import ssl
import sys
import threading
import time

POLICY = (b"version: STSv1\r\nmode: enforce\r\nmx: mx1.lab.test\r\n"
          b"mx: *.backup.lab.test\r\nmax_age: 86400\r\n")


def head(status, ctype, extra=()):
    lines = ["HTTP/1.1 %s" % status, "Server: stshost"]
    if ctype:
        lines.append("Content-Type: " + ctype)
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def padded(n):
    # Unknown fields are ignored by the parser: a valid policy of n octets.
    body = POLICY
    line = b"x-pad: " + b"a" * 60 + b"\r\n"
    while len(body) + len(line) <= n:
        body += line
    return body + b"x: " + b"b" * max(0, n - len(body) - 5) + b"\r\n"


def respond(conn, mode, policy):
    if mode == "ok":
        conn.sendall(head("200 OK", "text/plain; charset=utf-8",
                          ["Content-Length: %d" % len(policy),
                           "Connection: close"]) + policy)
    elif mode == "chunked":
        conn.sendall(head("200 OK", "text/plain",
                          ["Transfer-Encoding: chunked"]) + chunked(policy, 7))
    elif mode in ("close", "cut"):
        conn.sendall(head("200 OK", "text/plain", ["Connection: close"]) + policy)
        if mode == "close":
            conn = conn.unwrap()
        return conn
    elif mode == "redirect":
        conn.sendall(head("301 Moved Permanently", "text/plain",
                          ["Location: https://mta-sts.elsewhere.test/.well-known/mta-sts.txt",
                           "Content-Length: %d" % len(policy)]) + policy)
    elif mode == "notfound":
        conn.sendall(head("404 Not Found", "text/plain", ["Content-Length: 10"]) +
                     b"not found\n")
    elif mode == "html":
        conn.sendall(head("200 OK", "text/html; charset=utf-8",
                          ["Content-Length: %d" % len(policy)]) + policy)
    elif mode == "big":
        body = padded(70000)
        conn.sendall(head("200 OK", "text/plain",
                          ["Content-Length: %d" % len(body)]) + body)
    elif mode == "bigchunked":
        body = padded(70000)
        conn.sendall(head("200 OK", "text/plain",
                          ["Transfer-Encoding: chunked"]) + chunked(body, 4000))
    elif mode == "slow":
        conn.sendall(head("200 OK", "text/plain",
                          ["Content-Length: %d" % len(policy)]))
        for i in range(len(policy)):
            conn.sendall(policy[i:i + 1])
            time.sleep(1)
    elif mode == "badpolicy":
        body = b"version: STSv1\r\nmode: enforcing\r\nmx: mx1.lab.test\r\nmax_age: 86400\r\n"
        conn.sendall(head("200 OK", "text/plain",
                          ["Content-Length: %d" % len(body)]) + body)
    elif mode == "garbage":
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    return conn


def read_head(conn):
    data = b""
    conn.settimeout(20)
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def serve(raw, ctx, args, lock):
    try:
        if args.mode == "stall":
            time.sleep(60)
            return
        raw.settimeout(20)
        conn = ctx.wrap_socket(raw, server_side=True)
        req = read_head(conn)
        if args.log:
            with lock, open(args.log, "ab") as f:
                f.write(req + b"--\n")
        policy = POLICY
        if args.policy:
            with open(args.policy, "rb") as f:
                policy = f.read()
        conn = respond(conn, args.mode, policy)
        conn.close()
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            raw.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--policy")
    ap.add_argument("--log")
    args = ap.parse_args()

    host, port = args.listen.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host.strip("[]"), int(port)))
    srv.listen(16)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    print("port=%d" % srv.getsockname()[1], flush=True)
    lock = threading.Lock()
    while True:
        raw, _ = srv.accept()
        threading.Thread(target=serve, args=(raw, ctx, args, lock),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
