#!/usr/bin/python3
"""compare_outbound.py -- the outbound direction side by side: starttls-proxy
in relay mode beside what an operator would otherwise put in the sidecar.

On loopback, afresh for every run:

  TLS MX        starttls-proxy as an inbound STARTTLS server in front of
                Postfix's smtp-sink (its CPU is not measured: it is the
                remote MX)
  the relay     one of
    stp         starttls-proxy, [outbound] mode = relay, tls = encrypt, with
                its outbound TLS session reuse (the default)
    stp-full    the same with session_cache_timeout = 1ms: a full handshake
                every session, as the other two do
    stunnel     stunnel4 in client mode with protocol = smtp (it answers the
                sender's EHLO only after its own STARTTLS to the MX)
    postfix     a Postfix instance with relayhost = the MX and
                smtp_tls_security_level = encrypt; it writes a queue file for
                every message, which is the point of comparing with it
  the sender    the C load generator (stp-loadgen --plain): the legacy
                server, plaintext, one message per session, C concurrent
                sessions; "plain" sends one command at a time, "pipelined"
                sends MAIL, RCPT and DATA in one write (RFC 2920), as
                Postfix's SMTP client does when the server offers PIPELINING

For each run: CPU seconds of the relay (utime + stime of its processes, and
for Postfix of the children its master reaped), messages per second, and the
sender's p50/p99 session time. Postfix answers end-of-data once the message
is queued, so its latency does not include the delivery to the MX; its CPU
is read after its queue has drained.

Each workload runs against each relay in turn (A B C A B C ...); the table
shows medians with the spread (min-max) over the repetitions, the ratio to
starttls-proxy, and under it starttls-proxy's CPU per message over
stunnel's (the goal: at most 0.25 with session reuse). Not part of the test
suite; every process is started here and stopped by its PID.

  tests/bench/compare_outbound.py [--quick] [--proxy PATH] [--peers LIST]

See docs/benchmark.md ("Outbound").
"""

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import compare as C

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PEERS = ("stp", "stp-full", "stunnel", "postfix")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mx_config(path, a):
    with open(path, "w") as f:
        f.write("[global]\nlog_level = warn\nworkers = 1\nmax_sessions = 20000\n"
                f"[inbound]\nlisten = 127.0.0.1:{a.mx_port}\n"
                f"backend = 127.0.0.1:{a.sink_port}\ntls = starttls\n"
                f"cert = {a.cert}\nkey = {a.key}\n")


def stp_relay_config(path, a, port, resume=True):
    with open(path, "w") as f:
        f.write("[global]\nlog_level = warn\nworkers = 1\nmax_sessions = 20000\n"
                "dnssec_probe = no\n"
                f"[outbound]\nlisten = 127.0.0.1:{port}\nmode = relay\n"
                f"relay = 127.0.0.1:{a.mx_port}\ntls = encrypt\n"
                + ("" if resume else "session_cache_timeout = 1ms\n"))


def stunnel_config(path, a, port):
    with open(path, "w") as f:
        f.write("foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
                f"output = {a.work}/stunnel.log\n"
                "[smtp-out]\nclient = yes\nprotocol = smtp\n"
                f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{a.mx_port}\n"
                "verifyChain = no\n")


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
myhostname = relay.bench.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:{mx}
smtp_tls_security_level = encrypt
smtp_tls_loglevel = 0
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file_prefixes = /var, /tmp, {d}
maillog_file = {d}/maillog
smtp_dns_support_level = disabled
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
smtp_destination_concurrency_limit = 64
default_destination_concurrency_limit = 64
smtp_connection_cache_on_demand = no
"""


def postfix_up(a, port):
    d = os.path.join(a.work, "postfix")
    for sub in ("etc", "queue", "data"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "etc", "main.cf"), "w") as f:
        f.write(POSTFIX_MAIN.format(d=d, mx=a.mx_port))
    shutil.copy("/etc/postfix/master.cf", os.path.join(d, "etc", "master.cf"))
    etc = os.path.join(d, "etc")
    # As tests/tools/pfx-instance.sh: no chroot (the queue is not under
    # /var/spool/postfix), the port-25 listener replaced by the bench port.
    for argv in (["-F", "*/*/chroot = n"], ["-MX", "smtp/inet"],
                 ["-M", f"127.0.0.1:{port}/inet = 127.0.0.1:{port} inet n - n - - smtpd"]):
        subprocess.run(["postconf", "-c", etc] + argv, check=True, capture_output=True)
    for sub in (d, etc, os.path.join(d, "queue")):
        os.chmod(sub, 0o755)
    os.chmod(a.work, 0o755)
    subprocess.run(["chown", "-R", "postfix", os.path.join(d, "data")], check=True)
    r = subprocess.run(["postfix", "-c", os.path.join(d, "etc"), "start"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("postfix start: " + r.stderr)
    if not C.smtp_probe(port, time.monotonic() + 20):
        raise RuntimeError("postfix did not come up")
    with open(os.path.join(d, "queue", "pid", "master.pid")) as f:
        return int(f.read().strip()), d


def postfix_down(d):
    subprocess.run(["postfix", "-c", os.path.join(d, "etc"), "stop"], capture_output=True)
    time.sleep(0.5)


def postfix_queue_empty(d):
    for sub in ("incoming", "active", "deferred", "maildrop"):
        if any(os.scandir(os.path.join(d, "queue", sub))) if os.path.isdir(
                os.path.join(d, "queue", sub)) else False:
            for _root, _dirs, files in os.walk(os.path.join(d, "queue", sub)):
                if files:
                    return False
    return True


def proc_cpu_with_reaped(pid):
    """utime+stime of pid and its live children, plus cutime+cstime (the
    children it reaped), in seconds."""
    total = 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total += sum(int(x) for x in fields[11:15]) / C.CLK_TCK
    for kid in C.proc_children(pid):
        try:
            total += C.proc_cpu_ticks_s([kid])
        except OSError:
            pass
    return total


def one_run(a, procs, conc, n, peer, sender="plain"):
    port = C.free_port()
    pf_dir = None
    if peer in ("stp", "stp-full"):
        cfg = os.path.join(a.work, "relay.ini")
        stp_relay_config(cfg, a, port, resume=peer == "stp")
        p = procs.start([a.proxy, "-c", cfg], os.path.join(a.work, "relay.log"),
                        cpus=a.cpus_proxy)
        pids = [p.pid]
        if not C.smtp_probe(port, time.monotonic() + 10):
            raise RuntimeError("starttls-proxy relay did not come up")
    elif peer == "stunnel":
        cfg = os.path.join(a.work, "stunnel.conf")
        stunnel_config(cfg, a, port)
        p = procs.start([a.stunnel, cfg], os.path.join(a.work, "stunnel.out"),
                        cpus=a.cpus_proxy)
        pids = [p.pid]
        # stunnel's smtp protocol speaks to the MX before it answers: the
        # probe goes through it to the MX.
        if not C.smtp_probe(port, time.monotonic() + 10):
            raise RuntimeError("stunnel did not come up")
    else:
        master, pf_dir = postfix_up(a, port)
        p = None
        pids = [master]
    # stunnel runs a thread per connection: the scheduler's per-thread
    # figures (proc_cpu_ns_s) miss the threads that ended, /proc/PID/stat
    # keeps them. Postfix: its master reaps the processes that ended.
    reaped = peer in ("postfix", "stunnel")
    c0 = (sum(proc_cpu_with_reaped(x) for x in pids) if reaped
          else C.proc_cpu_s(pids))
    t0 = time.monotonic()
    wl = {"args": ["--plain"] + (["--pipeline"] if sender == "pipelined" else []) +
          ["-c", str(conc), "-n", str(n), "-s", str(a.size), "rate"],
          "timeout": 300}
    res = C.run_loadgen(a, procs, port, wl)
    elapsed = time.monotonic() - t0
    if peer == "postfix":
        deadline = time.monotonic() + 120
        while not postfix_queue_empty(pf_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        drained = time.monotonic() - t0
        cpu = sum(proc_cpu_with_reaped(x) for x in pids) - c0
        postfix_down(pf_dir)
    elif reaped:
        drained = elapsed
        cpu = sum(proc_cpu_with_reaped(x) for x in pids) - c0
        procs.stop(p)
    else:
        drained = elapsed
        cpu = C.cpu_delta(c0, C.proc_cpu_s(pids))
        procs.stop(p)
    ok = res["sessions_ok"]
    return {"peer": peer, "conc": conc, "sender": sender, "ok": ok,
            "failed": res["sessions_failed"], "errors": res.get("errors", {}),
            "cpu_ms_per_msg": 1000.0 * cpu / max(ok, 1),
            "msgs_per_s": ok / max(drained, 1e-9),
            "p50_ms": res.get("sess_p50_ms", 0.0), "p99_ms": res.get("sess_p99_ms", 0.0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--proxy", default=os.path.join(REPO, "build", "starttls-proxy"))
    ap.add_argument("--loadgen")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--conc", default="16,64")
    ap.add_argument("-n", type=int, default=2000, help="messages per run")
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--senders", default="plain,pipelined",
                    help="plain (one command at a time), pipelined (MAIL RCPT DATA in one write)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--quick", action="store_true", help="n = 400, one repetition")
    ap.add_argument("--cpus-proxy", default="0", help="taskset for the relay")
    ap.add_argument("--cpus-load", default="1", help="taskset for sender, sink and MX")
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args()
    if a.quick:
        a.n, a.reps = 400, 1
    a.stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    peers = [p for p in a.peers.split(",") if p]
    if "stunnel" in peers and not a.stunnel:
        log("stunnel4 not installed (apt-get install stunnel4): skipped")
        peers.remove("stunnel")
    if "postfix" in peers and os.geteuid() != 0:
        log("the Postfix relay needs root: skipped")
        peers.remove("postfix")
    a.work = tempfile.mkdtemp(prefix="stp-bench-out-")
    a.proxy = os.path.abspath(a.proxy)
    a.loadgen_bin = C.find_loadgen(a)
    a.cert, a.key = C.make_cert(a.work)
    a.sink_port, a.mx_port = C.free_port(), C.free_port()
    procs = C.Procs()
    rows = []
    try:
        C.start_sink(a, procs, 256)
        mx_cfg = os.path.join(a.work, "mx.ini")
        mx_config(mx_cfg, a)
        procs.start([a.proxy, "-c", mx_cfg], os.path.join(a.work, "mx.log"),
                    cpus=a.cpus_load)
        if not C.smtp_probe(a.mx_port, time.monotonic() + 10):
            raise RuntimeError("the TLS MX did not come up")
        for sender in [x for x in a.senders.split(",") if x]:
            for conc in [int(x) for x in a.conc.split(",")]:
                for rep in range(a.reps):
                    for peer in peers:
                        r = one_run(a, procs, conc, a.n, peer, sender)
                        log("%s c=%d rep=%d %-8s %s" % (sender, conc, rep, peer, r))
                        rows.append(r)
    finally:
        for p in list(procs.live):
            procs.stop(p)
        for d in glob.glob(os.path.join(a.work, "postfix")):
            postfix_down(d)
    if a.json:
        import json
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    print("| sender | relay | c | msgs/s | CPU ms/msg (min-max) | vs stp | p50 ms | p99 ms | failed |")
    print("|---|---|---|---|---|---|---|---|---|")
    goals = []
    for sender in [x for x in a.senders.split(",") if x]:
        for conc in sorted({r["conc"] for r in rows}):
            med = {}
            for peer in peers:
                rs = [r for r in rows if r["peer"] == peer and r["conc"] == conc and
                      r["sender"] == sender]
                if not rs:
                    continue
                cpus = [r["cpu_ms_per_msg"] for r in rs]
                med[peer] = cpu = statistics.median(cpus)
                base = med.get("stp")
                print("| %s | %s | %d | %.0f | %.3f (%.3f-%.3f) | %s | %.1f | %.1f | %d |" % (
                    sender, peer, conc, statistics.median(r["msgs_per_s"] for r in rs), cpu,
                    min(cpus), max(cpus), "%.2fx" % (cpu / base) if base else "-",
                    statistics.median(r["p50_ms"] for r in rs),
                    statistics.median(r["p99_ms"] for r in rs),
                    sum(r["failed"] for r in rs)))
            if med.get("stunnel"):
                for peer in ("stp", "stp-full"):
                    if peer in med:
                        goals.append("%s, c=%d: %s / stunnel %.2fx%s" % (
                            sender, conc, peer, med[peer] / med["stunnel"],
                            " (goal <= 0.25x)" if peer == "stp" else ""))
    print()
    for g in goals:
        print("- " + g)
    # Where failed sessions failed (the sender's step), so that a failure in
    # a run of thousands says what it was.
    for r in rows:
        if r["failed"]:
            print("- failed: %s, %s, c=%d: %d sessions; at %s" % (
                r["sender"], r["peer"], r["conc"], r["failed"],
                ", ".join("%s %s" % kv for kv in sorted(r["errors"].items())) or "?"))
    if a.keep:
        log("work directory: " + a.work)
    else:
        shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
