#!/usr/bin/python3
"""stall_mx.py -- a plaintext SMTP server that stops reading after DATA.

Usage:
  stall_mx.py --listen HOST:PORT [--max-seconds N]

It greets, answers EHLO (PIPELINING, 8BITMIME, no STARTTLS), MAIL, RCPT,
RSET and NOOP with 250 and DATA with 354, and from then on never reads from
that connection again: the peer's writes pile up in the kernel until they
block. Its receive buffer is kept small (SO_RCVBUF before listen) so that
happens early. Used to check that the outbound proxy applies back-pressure
to the legacy server instead of buffering the body.

PORT may be 0; "ready HOST:PORT" is printed once it listens. Each stalled
connection is held until the peer closes it or the process exits (SIGTERM,
SIGINT, or --max-seconds, default 300).
"""

import argparse
import signal
import socket
import sys
import threading
import time

RCVBUF = 4096


def session(sock, stop):
    buf = b""
    sock.sendall(b"220 stall.test ESMTP\r\n")
    try:
        while not stop.is_set():
            chunk = sock.recv(4096)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                verb = line.strip().split(b" ")[0].upper()
                if verb == b"EHLO":
                    sock.sendall(b"250-stall.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"QUIT":
                    sock.sendall(b"221 2.0.0 Bye\r\n")
                    return
                elif verb == b"DATA":
                    sock.sendall(b"354 go ahead\r\n")
                    # Never read again: wait for the end of the process.
                    while not stop.wait(0.5):
                        pass
                    return
                elif verb == b"MAIL":
                    sock.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    sock.sendall(b"250 2.1.5 Ok\r\n")
                else:
                    sock.sendall(b"250 2.0.0 Ok\r\n")
    except OSError:
        pass
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser(description="SMTP server that stalls after DATA")
    ap.add_argument("--listen", required=True)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    opts = ap.parse_args()
    host, _, port = opts.listen.rpartition(":")
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    ls.bind((host, int(port)))
    ls.listen(16)
    ls.settimeout(0.2)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    addr = ls.getsockname()
    print("ready %s:%d" % (addr[0], addr[1]), flush=True)
    deadline = time.monotonic() + opts.max_seconds
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            sock, _ = ls.accept()
        except (socket.timeout, InterruptedError):
            continue
        threading.Thread(target=session, args=(sock, stop), daemon=True).start()
    stop.set()
    ls.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
