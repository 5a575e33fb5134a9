#!/usr/bin/python3
"""compare.py -- starttls-proxy side by side with nginx's mail proxy.

Starts on loopback, for every run afresh: Postfix's smtp-sink (the plaintext
backend), then one proxy in front of it:

  stp            starttls-proxy
  nginx          nginx 1.22 + libnginx-mod-mail, as shipped
  nginx+nodelay  the same nginx with TCP_NODELAY forced by nodelay_shim.so
  floor          stp-floor (floor.c): the same TLS handshake and SMTP
                 exchange with no backend and no relaying, no sink behind it:
                 the crypto floor, what no proxy can go below here

and drives it with the C load generator (stp-loadgen). For each run it reads
the proxy's CPU time (the scheduler's sum_exec_runtime, else utime+stime
from /proc/PID/stat) and RSS (VmRSS, /proc/PID/status), summed over nginx's
master and workers, before and after. Each workload runs against each proxy
in turn (A B C D A B C D ...), at least twice; the table shows medians with
the spread (min-max) and the ratios starttls-proxy / nginx and / floor.

--syscalls N counts system calls instead: each peer (stp, nginx+nodelay,
floor unless --peers says otherwise) is started, strace -c is attached to
it once it is idle, N sessions run at c=1, strace is detached, and the
table shows calls per session side by side.

Nothing here is part of the test suite. Traffic stays on 127.0.0.1; every
process is started by this script and stopped by its PID.

  tests/bench/compare.py [--quick] [--proxy PATH] [--workers N] ...

See docs/benchmark.md.
"""

import argparse
import json
import os
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")
NGINX_MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so"
PEERS = ("stp", "nginx", "nginx+nodelay", "floor")
SYSCALL_PEERS = ("stp", "nginx+nodelay", "floor")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Processes

class Procs:
    """Every process this script starts, so that each is stopped by PID."""

    def __init__(self):
        self.live = []

    def start(self, argv, log_path, env=None, cpus=None, stdout=None):
        if cpus is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", cpus] + argv
        logf = open(log_path, "ab")
        p = subprocess.Popen(argv, stdout=stdout if stdout else logf,
                             stderr=logf, env=env, preexec_fn=raise_nofile,
                             start_new_session=True)
        logf.close()
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            self.stop(p)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def smtp_probe(port, deadline):
    """True once PORT answers with a 220 banner and takes QUIT."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                f = s.makefile("rb")
                line = f.readline()
                while line[3:4] == b"-":
                    line = f.readline()
                if line.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    f.readline()
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------
# /proc readings

def proc_children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def proc_cpu_ticks_s(pids):
    """utime + stime of each process (all its threads), in seconds.

    /proc/PID/stat counts in clock ticks (10 ms): too coarse for a bulk run
    that costs the proxy a tenth of a second."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])   # fields 14 and 15
    return ticks / CLK_TCK


def proc_cpu_ns_s(pids):
    """The same CPU time (user + system) with nanosecond resolution: the
    scheduler's se.sum_exec_runtime of every thread, from
    /proc/PID/task/TID/sched. None where the kernel does not provide it."""
    total = 0.0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return None
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/sched") as f:
                    for line in f:
                        if line.startswith("se.sum_exec_runtime"):
                            total += float(line.split(":")[1]) / 1000.0  # ms
                            break
                    else:
                        return None
            except OSError:
                return None
    return total


def proc_cpu_s(pids):
    """(precise CPU seconds or None, CPU seconds from /proc/PID/stat)."""
    return proc_cpu_ns_s(pids), proc_cpu_ticks_s(pids)


def cpu_delta(c0, c1):
    """Seconds between two proc_cpu_s readings, precise if both were."""
    if c0[0] is not None and c1[0] is not None:
        return c1[0] - c0[0]
    return c1[1] - c0[1]


def proc_rss_kb(pids):
    kb = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
    return kb


# ---------------------------------------------------------------------------
# Set-up: certificate, configurations, tools

def make_cert(d, kind="ec"):
    key = os.path.join(d, "server-%s.key" % kind)
    cert = os.path.join(d, "server-%s.pem" % kind)
    newkey = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec"
              else ["-newkey", "rsa:2048"])
    subprocess.run(["openssl", "req", "-x509"] + newkey + ["-nodes",
                    "-keyout", key, "-out", cert, "-days", "30",
                    "-subj", "/CN=mail.bench.test",
                    "-addext", "subjectAltName=DNS:mail.bench.test"],
                   check=True, capture_output=True)
    return cert, key


def stp_config(path, a, workers):
    with open(path, "w") as f:
        f.write("[global]\n"
                "log_level = warn\n"
                "max_sessions = 30000\n")
        if workers is not None:
            f.write(f"workers = {workers}\n")
        f.write("[inbound]\n"
                f"listen = 127.0.0.1:{a.stp_port}\n"
                f"backend = 127.0.0.1:{a.sink_port}\n"
                "tls = starttls\n"
                f"cert = {a.cert}\n"
                f"key = {a.key}\n"
                "min_tls = 1.2\n")


def nginx_config(path, a, workers, nofile):
    ciphers = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
               "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
               "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
    d = a.work
    with open(path, "w") as f:
        f.write(f"""# Generated by tests/bench/compare.py
load_module {NGINX_MAIL_MODULE};
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections {nofile}; }}
http {{
    access_log off;
    client_body_temp_path {d}/nginx-tmp;
    proxy_temp_path {d}/nginx-tmp;
    fastcgi_temp_path {d}/nginx-tmp;
    uwsgi_temp_path {d}/nginx-tmp;
    scgi_temp_path {d}/nginx-tmp;
    # The mail module asks this for the backend of every session.
    server {{
        listen 127.0.0.1:{a.auth_port};
        location = /auth {{
            add_header Auth-Status OK;
            add_header Auth-Server 127.0.0.1;
            add_header Auth-Port {a.sink_port};
            return 200;
        }}
    }}
}}
mail {{
    server_name mail.bench.test;
    auth_http 127.0.0.1:{a.auth_port}/auth;
    proxy_pass_error_message on;
    timeout 5m;
    server {{
        listen 127.0.0.1:{a.nginx_port};
        protocol smtp;
        smtp_auth none;
        xclient off;
        starttls on;
        ssl_certificate {a.cert};
        ssl_certificate_key {a.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {ciphers};
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_session_tickets on;
    }}
}}
""")


def find_loadgen(a):
    cands = [a.loadgen, os.environ.get("STP_LOADGEN"),
             os.path.join(os.path.dirname(a.proxy), "tests/bench/stp-loadgen")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    uv = subprocess.run(["pkg-config", "--cflags", "--libs", "libuv"],
                        capture_output=True, text=True, check=True).stdout.split()
    return build_boringssl_tool(a, "loadgen.c", "stp-loadgen", "the load generator", uv)


def build_boringssl_tool(a, source, name, what, extra=()):
    """Compiles tests/bench/SOURCE against Debian's BoringSSL into the work
    directory (when the build tree has no such binary); returns its path."""
    out = os.path.join(a.work, name)
    log(f"building {what} into {out}")
    ssl_dir = "/usr/lib/x86_64-linux-gnu/android"
    subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE",
                    "-I/usr/include/android", os.path.join(HERE, source),
                    "-o", out, f"-Wl,-rpath,{ssl_dir}",
                    os.path.join(ssl_dir, "libssl.so.0"),
                    os.path.join(ssl_dir, "libcrypto.so.0")] + list(extra), check=True)
    return out


def find_shim(a):
    cands = [os.environ.get("STP_NODELAY_SHIM"),
             os.path.join(os.path.dirname(a.proxy), "tests/bench/nodelay_shim.so")]
    for c in cands:
        if c and os.path.exists(c):
            return os.path.abspath(c)
    out = os.path.join(a.work, "nodelay_shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", out,
                    os.path.join(HERE, "nodelay_shim.c"), "-ldl"], check=True)
    return out


def find_floor(a):
    cands = [os.environ.get("STP_FLOOR"),
             os.path.join(os.path.dirname(a.loadgen_bin), "stp-floor"),
             os.path.join(os.path.dirname(a.proxy), "tests/bench/stp-floor")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return build_boringssl_tool(a, "floor.c", "stp-floor", "the crypto floor")


def stp_accepts_workers(a, n):
    path = os.path.join(a.work, "stp-check.ini")
    stp_config(path, a, n)
    r = subprocess.run([a.proxy, "-t", "-c", path], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


# ---------------------------------------------------------------------------
# One run: fresh sink, fresh proxy, one loadgen invocation

def start_sink(a, procs, k):
    argv = ["smtp-sink"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]
    # -m: sessions at once (default 256); -t: read timeout, above any hold.
    argv += ["-m", str(max(1024, k + 256)), "-t", "300",
             f"127.0.0.1:{a.sink_port}", "4096"]
    p = procs.start(argv, os.path.join(a.work, "sink.log"), cpus=a.cpus_load)
    if not smtp_probe(a.sink_port, time.monotonic() + 10):
        raise RuntimeError("smtp-sink did not come up")
    return p


def start_peer(a, procs, peer):
    """Starts peer; returns (Popen, port, pids to measure)."""
    if peer == "stp":
        path = os.path.join(a.work, "stp.ini")
        stp_config(path, a, a.stp_workers)
        p = procs.start([a.proxy, "-c", path], os.path.join(a.work, "stp.log"),
                        cpus=a.cpus_proxy)
        port = a.stp_port
    elif peer == "floor":
        p = procs.start([a.floor_bin, "-p", str(a.floor_port), "-c", a.cert, "-k", a.key],
                        os.path.join(a.work, "floor.log"), cpus=a.cpus_proxy)
        port = a.floor_port
    else:
        env = dict(os.environ)
        if peer == "nginx+nodelay":
            env["LD_PRELOAD"] = a.shim
        os.makedirs(os.path.join(a.work, "nginx-tmp"), exist_ok=True)
        p = procs.start(["nginx", "-p", a.work, "-e", os.path.join(a.work, "nginx-error.log"),
                         "-c", a.nginx_conf, "-g", "daemon off;"],
                        os.path.join(a.work, "nginx.log"), env=env, cpus=a.cpus_proxy)
        port = a.nginx_port
    try:
        return p, port, peer_pids(a, p, peer, port)
    except Exception:
        procs.stop(p)
        raise


def peer_pids(a, p, peer, port):
    """Waits until the proxy answers; returns the PIDs to measure."""
    if not smtp_probe(port, time.monotonic() + 15) or p.poll() is not None:
        raise RuntimeError(f"{peer} did not come up; see the logs in {a.work}")
    pids = [p.pid]
    if peer.startswith("nginx"):
        deadline = time.monotonic() + 5
        while len(pids) < 1 + a.nginx_workers and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = [p.pid] + proc_children(p.pid)
        if peer == "nginx+nodelay":
            with open(f"/proc/{pids[-1]}/maps") as f:
                if "nodelay_shim" not in f.read():
                    raise RuntimeError("the nodelay shim is not loaded in nginx")
    return pids


def run_loadgen(a, procs, port, wl, on_parked=None):
    argv = [a.loadgen_bin, "-q", "-p", str(port)] + wl["args"]
    logpath = os.path.join(a.work, "loadgen.log")
    p = procs.start(argv, logpath, cpus=a.cpus_load, stdout=subprocess.PIPE)
    deadline = time.monotonic() + wl["timeout"]
    out = b""
    parked_done = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"loadgen exceeded {wl['timeout']} s")
            r, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
            if not r:
                continue
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
            if on_parked and not parked_done and b"PARKED" in out:
                parked_done = True
                on_parked(out.decode(errors="replace"))
                p.send_signal(signal.SIGUSR1)   # release the parked sessions
        p.wait(max(1, deadline - time.monotonic()))
    finally:
        procs.stop(p)
        p.stdout.close()
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"loadgen printed no result: {out[-500:]!r}")


def stop_peer(procs, proc, pids, sig=signal.SIGTERM):
    procs.stop(proc, sig)
    # nginx's workers leave with their master; if the master had to be
    # killed, stop any worker it left behind, by PID.
    for pid in (pids[1:] if pids else []):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "nginx":
                    os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def one_run(a, procs, wl, peer):
    # The floor has no backend: no sink for it (the sink's CPU is counted
    # for no peer anyway).
    sink = start_sink(a, procs, wl.get("k", 0)) if peer != "floor" else None
    proc, pids = None, None
    try:
        proc, port, pids = start_peer(a, procs, peer)
        time.sleep(0.3)
        cpu0, rss0 = proc_cpu_s(pids), proc_rss_kb(pids)
        parked = {}

        def at_parked(_text):
            time.sleep(a.settle)
            parked["rss"] = proc_rss_kb(pids)
            parked["cpu"] = proc_cpu_s(pids)

        res = run_loadgen(a, procs, port, wl,
                          at_parked if wl["mode"] == "idle" else None)
        time.sleep(0.3)
        cpu1, rss1 = proc_cpu_s(pids), proc_rss_kb(pids)
    finally:
        if proc is not None:
            stop_peer(procs, proc, pids)
        if sink is not None:
            procs.stop(sink)
    r = {"workload": wl["name"], "peer": peer, "loadgen": res,
         "cpu_s": cpu_delta(cpu0, cpu1), "cpu_stat_s": cpu1[1] - cpu0[1],
         "rss0_kb": rss0, "rss1_kb": rss1}
    if wl["mode"] == "rate":
        ok = res["sessions_ok"]
        r["rate"] = res["sessions_per_s"]
        r["cpu_us_per_session"] = r["cpu_s"] * 1e6 / ok if ok else None
    elif wl["mode"] == "bulk":
        r["rate"] = res["mb_per_s"]
        gb = res["body_bytes"] / 1e9
        r["cpu_s_per_gb"] = r["cpu_s"] / gb if gb else None
    else:
        n = res["parked"]
        r["parked"] = n
        if parked and n:
            r["rss_parked_kb"] = parked["rss"]
            r["kb_per_idle"] = (parked["rss"] - rss0) / n
            r["cpu_us_per_setup"] = cpu_delta(cpu0, parked["cpu"]) * 1e6 / n
    return r


# ---------------------------------------------------------------------------
# Table

def med(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else None


def medlg(rows, key):
    v = [r["loadgen"][key] for r in rows]
    return statistics.median(v) if v else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def fmt_spread(rows, key, spec, unit=""):
    """The median of key over rows, and "(min-max)" when there is more than
    one run: "600 µs (560-640)"."""
    v = [r[key] for r in rows if r.get(key) is not None]
    if not v:
        return "–"
    s = format(statistics.median(v), spec) + unit
    if len(v) > 1:
        s += f" ({format(min(v), spec)}-{format(max(v), spec)})"
    return s


def ratio(a, b):
    return None if a is None or not b else a / b


# The comparison columns: starttls-proxy's figure over each of these.
RATIO_PEERS = ("nginx", "nginx+nodelay", "floor")


def cpu_key(wl):
    return {"rate": "cpu_us_per_session", "bulk": "cpu_s_per_gb"}.get(
        wl["mode"], "cpu_us_per_setup")


def table(a, workloads, results):
    lines = []
    hdr = ("| workload | peer | sessions/s or MB/s | CPU µs/session (idle: per set-up)"
           " · CPU s/GB | RSS KB per idle session | handshake p50/p99 ms"
           " | session p50/p99 ms | errors | runs | "
           + " | ".join(f"stp / {p}" for p in RATIO_PEERS) + " |")
    lines.append(hdr)
    lines.append("|" + "|".join(["---"] * (hdr.count("|") - 1)) + "|")
    for wl in workloads:
        per = {}
        for peer in a.peers:
            rows = [r for r in results if r["workload"] == wl["name"] and r["peer"] == peer]
            if not rows:
                continue
            per[peer] = {
                "rows": rows,
                "cpu": med(rows, cpu_key(wl)),
                "kb": med(rows, "kb_per_idle"),
                "hs50": medlg(rows, "hs_p50_ms"), "hs99": medlg(rows, "hs_p99_ms"),
                "s50": medlg(rows, "sess_p50_ms"), "s99": medlg(rows, "sess_p99_ms"),
                "err": sum(r["loadgen"]["errors_total"] for r in rows),
                "n": len(rows),
            }
        for peer, m in per.items():
            rows = m["rows"]
            if wl["mode"] == "rate":
                rate = fmt_spread(rows, "rate", ".0f", " sess/s")
                cpu = fmt_spread(rows, "cpu_us_per_session", ".0f", " µs")
            elif wl["mode"] == "bulk":
                rate = fmt_spread(rows, "rate", ".1f", " MB/s")
                cpu = fmt_spread(rows, "cpu_s_per_gb", ".2f", " s/GB")
            else:
                rate = "–"
                cpu = fmt_spread(rows, "cpu_us_per_setup", ".0f", " µs")
            kb = fmt_spread(rows, "kb_per_idle", ".1f") if wl["mode"] == "idle" else "–"
            hs = f"{fmt(m['hs50'], '.2f')} / {fmt(m['hs99'], '.2f')}"
            ss = (f"{fmt(m['s50'], '.1f')} / {fmt(m['s99'], '.1f')}"
                  if wl["mode"] != "idle" else "–")
            rat = [""] * len(RATIO_PEERS)
            if peer == "stp":
                for i, other in enumerate(RATIO_PEERS):
                    o = per.get(other)
                    if o is None:
                        continue
                    if wl["mode"] == "idle":
                        rat[i] = (f"mem {fmt(ratio(m['kb'], o['kb']), '.2f')}x, "
                                  f"cpu {fmt(ratio(m['cpu'], o['cpu']), '.2f')}x")
                    else:
                        rat[i] = f"cpu {fmt(ratio(m['cpu'], o['cpu']), '.2f')}x"
            lines.append(f"| {wl['name']} | {peer} | {rate} | {cpu} | {kb} | {hs} | {ss} "
                         f"| {m['err']} | {m['n']} | " + " | ".join(rat) + " |")
    return "\n".join(lines)


def goal_notes(workloads, results):
    """The issue's goals, from this run: starttls-proxy's CPU per session at
    most 1.5x the floor's and 0.5x nginx+nodelay's; its CPU per GB at most
    0.5x nginx+nodelay's."""
    notes = []
    for wl in workloads:
        if wl["mode"] == "rate":
            key, goals = "cpu_us_per_session", (("floor", 1.5), ("nginx+nodelay", 0.5))
        elif wl["mode"] == "bulk":
            key, goals = "cpu_s_per_gb", (("nginx+nodelay", 0.5),)
        else:
            continue
        m = {p: med([r for r in results if r["workload"] == wl["name"]
                     and r["peer"] == p], key)
             for p in ("stp", "floor", "nginx+nodelay")}
        if m["stp"] is None:
            continue
        parts = []
        for other, goal in goals:
            r = ratio(m["stp"], m[other])
            if r is not None:
                parts.append(f"stp / {other} {r:.2f}x (goal <= {goal}x: "
                             f"{'met' if r <= goal else 'not met'})")
        if parts:
            notes.append(f"goal, {wl['name']}: " + "; ".join(parts))
    return notes


# ---------------------------------------------------------------------------
# System calls per session (--syscalls N)

def strace_attached(pids, tracer):
    """True once every thread of every pid is traced by tracer."""
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith("TracerPid:"):
                            if int(line.split()[1]) != tracer:
                                return False
                            break
            except OSError:
                pass   # a thread that ended
    return True


def strace_parse(path):
    """{syscall: (calls, errors)} from the summary table of strace -c:
    "% time  seconds  usecs/call  calls  [errors]  syscall" rows between
    two rules of dashes (the total row after the second is left out)."""
    counts = {}
    rules = 0
    with open(path) as f:
        for line in f:
            if line.startswith("------"):
                rules += 1
                continue
            if rules != 1:
                continue
            fields = line.split()
            if len(fields) not in (5, 6):
                continue
            counts[fields[-1]] = (int(fields[3]), int(fields[4]) if len(fields) == 6 else 0)
    if not counts:
        raise RuntimeError(f"no strace summary in {path}")
    return counts


def syscall_run(a, procs, peer, n):
    """Starts peer, lets it idle, attaches strace -c -f to all its PIDs,
    runs n sessions at c=1 (10 KB bodies, as the rate workloads), detaches
    with SIGINT and returns the counts. Only calls made during the load are
    counted: start-up is before the attach, shutdown after the detach."""
    sink = start_sink(a, procs, 0) if peer != "floor" else None
    proc, pids, st = None, None, None
    try:
        proc, port, pids = start_peer(a, procs, peer)
        time.sleep(0.3)
        out = os.path.join(a.work, f"strace-{peer}.txt")
        argv = ["strace", "-c", "-f", "-q", "-o", out]
        for pid in pids:
            argv += ["-p", str(pid)]
        st = procs.start(argv, os.path.join(a.work, "strace.log"), cpus=a.cpus_load)
        deadline = time.monotonic() + 10
        while not strace_attached(pids, st.pid):
            if st.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"strace did not attach to {peer}; see {a.work}/strace.log")
            time.sleep(0.05)
        time.sleep(0.2)
        wl = {"name": f"syscalls n={n}", "mode": "rate", "timeout": 300,
              "args": ["-c", "1", "-s", "10240", "-n", str(n), "rate"]}
        res = run_loadgen(a, procs, port, wl)
        # The client may finish on the server's close_notify, before the
        # server's close(): give the peer time to make its last calls.
        time.sleep(0.5)
        procs.stop(st, signal.SIGINT, timeout=30)
        st = None
        counts = strace_parse(out)
    finally:
        if st is not None:
            procs.stop(st, signal.SIGINT)
        if proc is not None:
            stop_peer(procs, proc, pids)
        if sink is not None:
            procs.stop(sink)
    return {"peer": peer, "sessions": res["sessions_ok"],
            "errors": res["errors_total"], "syscalls": counts}


def syscall_table(runs):
    """syscall | calls per session of each peer, most frequent first; a
    cell shows the calls that failed (EAGAIN and the like) in brackets."""
    names = set()
    for r in runs:
        names.update(r["syscalls"])

    def per(r, name):
        c, e = r["syscalls"].get(name, (0, 0))
        n = r["sessions"] or 1
        return c / n, e / n

    def cell(c, e):
        if c == 0:
            return "–"
        return f"{c:.2f}" + (f" ({e:.2f} failed)" if e else "")

    names = sorted(names, key=lambda s: (-max(per(r, s)[0] for r in runs), s))
    hdr = "| syscall | " + " | ".join(f"{r['peer']} per session" for r in runs) + " |"
    lines = [hdr, "|" + "|".join(["---"] * (len(runs) + 1)) + "|"]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cell(*per(r, name)) for r in runs) + " |")
    tot = []
    for r in runs:
        c = sum(per(r, s)[0] for s in names)
        e = sum(per(r, s)[1] for s in names)
        tot.append(cell(c, e))
    lines.append("| **total** | " + " | ".join(f"**{t}**" for t in tot) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------

def workloads_for(a):
    rate_d = 3 if a.quick else a.duration
    hold = 1 if a.quick else 2
    wls = [
        {"name": "rate C=16 S=10KB", "mode": "rate",
         "args": ["-c", "16", "-s", "10240", "-d", str(rate_d), "rate"]},
        {"name": "rate C=64 S=10KB", "mode": "rate",
         "args": ["-c", "64", "-s", "10240", "-d", str(rate_d), "rate"]},
        {"name": f"bulk {20 if a.quick else 100} x 1MB", "mode": "bulk",
         "args": ["-s", "1048576", "-m", "20" if a.quick else "100", "bulk"]},
    ]
    ks = [1000] if a.quick else [2000, 10000]
    if a.idle_ks:
        ks = [int(x) for x in a.idle_ks.split(",")]
    for k in ks:
        kk = min(k, a.kmax)
        name = f"idle K={kk}" + ("" if kk == k else f" (of {k}: fd limit)")
        wls.append({"name": name, "mode": "idle", "k": kk,
                    "args": ["-k", str(kk), "-R", "64", "-d", str(hold), "idle"]})
    for wl in wls:
        if wl["mode"] == "rate":
            wl["timeout"] = rate_d + 90
        elif wl["mode"] == "bulk":
            wl["timeout"] = 300
        else:
            wl["timeout"] = 240
    if a.only:
        wls = [w for w in wls if any(s in w["name"] for s in a.only.split(","))]
    return wls


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxy", default=os.environ.get("STP_BINARY",
                    os.path.join(REPO, "build", "starttls-proxy")),
                    help="starttls-proxy binary (env STP_BINARY; default build/starttls-proxy)")
    ap.add_argument("--loadgen", help="stp-loadgen binary (env STP_LOADGEN; default: "
                    "beside the proxy in tests/bench/, else built with cc)")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker count for both proxies (default 1)")
    ap.add_argument("--reps", type=int, help="runs of each workload per proxy (default 2, quick 1)")
    ap.add_argument("--duration", type=float, default=10, help="seconds per rate run (default 10)")
    ap.add_argument("--quick", action="store_true", help="about a minute: smaller, one run each")
    ap.add_argument("--peers", help="subset of " + ",".join(PEERS) + " (default: all; "
                    "with --syscalls " + ",".join(SYSCALL_PEERS) + ")")
    ap.add_argument("--only", help="workloads whose name contains one of these (comma list)")
    ap.add_argument("--idle-ks", help="idle sessions parked per idle workload (comma list; "
                    "default 2000,10000, quick 1000): the scale series, e.g. 1000,5000,9900")
    ap.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    ap.add_argument("--key-type", choices=("ec", "rsa"), default="ec",
                    help="certificate key: ec (P-256, default) or rsa (2048; a costly "
                    "server signature makes the proxy, not the load generator, the limit)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds between PARKED and the RSS reading (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--json", help="write every run's figures to this file")
    ap.add_argument("--syscalls", type=int, metavar="N",
                    help="instead of the workloads: strace -c each peer over N sessions "
                    "at c=1 (e.g. 200) and print system calls per session side by side")
    a = ap.parse_args()

    a.proxy = os.path.abspath(a.proxy)
    a.peers = [p for p in (a.peers or ",".join(SYSCALL_PEERS if a.syscalls else PEERS))
               .split(",") if p]
    for p in a.peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p}")
    a.reps = a.reps or (1 if a.quick else 2)
    if not os.access(a.proxy, os.X_OK):
        sys.exit(f"compare: no starttls-proxy at {a.proxy} (build it, or --proxy/STP_BINARY)")
    if a.syscalls is not None and (a.syscalls < 1 or not shutil.which("strace")):
        sys.exit("compare: --syscalls needs N >= 1 and strace (apt-get install strace)")
    if not shutil.which("smtp-sink"):
        sys.exit("compare: smtp-sink missing (apt-get install postfix)")
    if any(p.startswith("nginx") for p in a.peers) and (
            not shutil.which("nginx") or not os.path.exists(NGINX_MAIL_MODULE)):
        sys.exit("compare: nginx or its mail module missing "
                 "(apt-get install nginx-light libnginx-mod-mail)")

    # SIGTERM unwinds like ^C, so the finally below stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    a.work = tempfile.mkdtemp(prefix="stp-bench-")
    procs = Procs()
    results = []
    t_start = time.monotonic()
    try:
        a.cert, a.key = make_cert(a.work, a.key_type)
        a.sink_port, a.stp_port = free_port(), free_port()
        a.nginx_port, a.auth_port = free_port(), free_port()
        a.floor_port = free_port()
        a.loadgen_bin = find_loadgen(a)
        if "floor" in a.peers:
            a.floor_bin = find_floor(a)
        if "nginx+nodelay" in a.peers:
            a.shim = find_shim(a)

        notes = []
        ok, msg = stp_accepts_workers(a, a.workers)
        if ok:
            a.stp_workers, a.nginx_workers = a.workers, a.workers
            notes.append(f"workers: starttls-proxy `workers = {a.workers}`, "
                         f"nginx `worker_processes {a.workers}`")
        else:
            a.stp_workers, a.nginx_workers = None, 1
            notes.append(f"workers: starttls-proxy rejected `workers = {a.workers}` "
                         f"({msg.splitlines()[-1] if msg else 'no message'}); it ran "
                         "single-threaded without the key, nginx with `worker_processes 1`")
            ok2, msg2 = stp_accepts_workers(a, None)
            if not ok2:
                sys.exit(f"compare: starttls-proxy rejects its configuration:\n{msg2}")
        a.nginx_conf = os.path.join(a.work, "nginx.conf")
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # starttls-proxy holds two descriptors per session (client, backend).
        a.kmax = max(100, (hard - 200) // 2 // 100 * 100)
        nginx_config(a.nginx_conf, a, a.nginx_workers, hard)

        ncpu = os.cpu_count() or 1
        nw = a.nginx_workers
        if not a.no_pin and ncpu >= nw + 1:
            a.cpus_proxy = ",".join(str(c) for c in range(ncpu - nw, ncpu))
            a.cpus_load = ",".join(str(c) for c in range(0, ncpu - nw))
            notes.append(f"pinning: proxies on CPU {a.cpus_proxy}; load generator and "
                         f"smtp-sink on CPU {a.cpus_load} (taskset -c)")
        else:
            a.cpus_proxy = a.cpus_load = None
            notes.append("pinning: none")

        if a.syscalls:
            runs = []
            for peer in a.peers:
                t = time.monotonic()
                r = syscall_run(a, procs, peer, a.syscalls)
                runs.append(r)
                log(f"  syscalls {peer:<14}: {r['sessions']} sessions, {r['errors']} errors, "
                    f"{sum(c for c, _ in r['syscalls'].values()) / max(1, r['sessions']):.1f} "
                    f"calls per session ({time.monotonic() - t:.0f} s)")
            print(syscall_table(runs))
            print()
            notes.append(f"{a.syscalls} sessions per peer at c=1, 10 KB body, full "
                         "handshakes; strace -c -f attached to every PID of the peer "
                         "while it was idle, detached after the load")
            for n in notes:
                print(f"- {n}")
            if a.json:
                with open(a.json, "w") as f:
                    json.dump({"notes": notes, "syscalls": runs}, f, indent=1)
            return

        wls = workloads_for(a)
        log(f"compare: work directory {a.work}; {len(wls)} workloads x "
            f"{len(a.peers)} proxies x {a.reps} runs")
        for wl in wls:
            for rep in range(a.reps):
                for peer in a.peers:
                    t = time.monotonic()
                    try:
                        r = one_run(a, procs, wl, peer)
                    except RuntimeError as e:
                        log(f"  {wl['name']} {peer} run {rep + 1}: FAILED: {e}")
                        continue
                    r["rep"] = rep
                    results.append(r)
                    lg = r["loadgen"]
                    log(f"  {wl['name']:<26} {peer:<14} run {rep + 1}: "
                        f"cpu {r['cpu_s']:.3f} s (stat {r['cpu_stat_s']:.2f}), "
                        f"ok {lg['sessions_ok']}, "
                        f"err {lg['errors_total']}, "
                        + (f"{lg['sessions_per_s']:.0f} sess/s" if wl["mode"] == "rate" else
                           f"{lg['mb_per_s']:.1f} MB/s" if wl["mode"] == "bulk" else
                           f"{r.get('kb_per_idle', 0):.1f} KB/idle")
                        + f" ({time.monotonic() - t:.0f} s)")
        tls = next((r["loadgen"] for r in results if r["loadgen"].get("tls_version")), None)
        if tls:
            notes.append(f"TLS: {tls['tls_version']} {tls['cipher']} {tls['group']}, "
                         + ("ECDSA P-256" if a.key_type == "ec" else "RSA 2048")
                         + " certificate, full handshakes (no resumption)")
        notes += goal_notes(wls, results)
        notes.append(f"runs per cell: {a.reps}; figures are medians (min-max over the runs); "
                     f"elapsed {time.monotonic() - t_start:.0f} s")
        print(table(a, wls, results))
        print()
        for n in notes:
            print(f"- {n}")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"notes": notes, "results": results}, f, indent=1)
    finally:
        procs.stop_all()
        if a.keep:
            log(f"compare: kept {a.work}")
        else:
            shutil.rmtree(a.work, ignore_errors=True)


if __name__ == "__main__":
    main()
