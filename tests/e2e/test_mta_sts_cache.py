"""The MTA-STS policy cache of the running proxy (proxy/stscache.c, main.c):
loaded from state_dir at start (damaged lines skipped and counted), shown
as stp_mta_sts_cache_entries, written back at shutdown through a temporary
file and a rename, and without state_dir the mta_sts_cache_volatile
warning, once.
"""

import os
import subprocess
import time
import urllib.request

import pytest

import stplib

HEADER = "starttls-proxy mta-sts cache 1\n"


def start(workdir, state_dir=None, mta_sts=True, sts_ca=None):
    admin = stplib.free_port()
    port = stplib.free_port()
    g = ["[global]", "log_level = debug", "workers = 2",
         "admin = 127.0.0.1:%d" % admin]
    if state_dir is not None:
        g.append("state_dir = %s" % state_dir)
    if sts_ca is not None:
        g.append("mta_sts_ca_file = %s" % sts_ca)
    lines = g + ["", "[outbound]", "listen = 127.0.0.1:%d" % port, "mode = transparent",
                 "tls = may", "mta_sts = %s" % ("yes" if mta_sts else "no")]
    config = os.path.join(workdir, "proxy.ini")
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    errpath = os.path.join(workdir, "proxy.stderr")
    err = open(errpath, "wb")
    proc = subprocess.Popen(stplib.WRAPPER + [stplib.BINARY, "-c", config],
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=workdir)
    err.close()
    deadline = time.monotonic() + stplib.START_TIMEOUT
    while not (stplib.listening(port) and stplib.listening(admin)):
        assert proc.poll() is None, open(errpath).read()
        assert time.monotonic() < deadline, open(errpath).read()
        time.sleep(0.02)
    return proc, admin, errpath


def log_events(errpath, name):
    with open(errpath, errors="replace") as f:
        return [stplib.parse_log_line(l) for l in f if "event=%s " % name in l + " "]


def metric(admin, name):
    body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=10).read()
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return line.split()[1]
    return None


@pytest.fixture
def proxies():
    started = []
    yield started
    for p in started:
        stplib.stop_process(p)


def test_cache_loaded_counted_and_saved(tmp_path, proxies):
    state = tmp_path / "state"
    state.mkdir()
    now = int(time.time())
    good = ["lab.test ID1 %d %d %d enforce 86400 mx1.lab.test,*.backup.lab.test"
            % (now - 10, now - 10 + 86400, now - 5),
            "gone.test N1 %d %d %d none 3600 -" % (now - 100, now - 100 + 3600, now - 100)]
    bad = ["lab2.test ID1 %d %d %d enforce 86400 -" % (now, now + 86400, now),  # no mx
           "lab3.test ID1 %d %d %d enforce 86401 mx.test" % (now, now + 86400, now),  # times
           "not a cache line"]
    expired = ["old.test O1 %d %d %d testing 60 mx.old.test" % (now - 1000, now - 940, now - 1000)]
    path = state / "mta-sts.cache"
    path.write_text(HEADER + "\n".join(good + bad + expired) + "\n")

    proc, admin, errpath = start(str(tmp_path), state_dir=str(state))
    proxies.append(proc)
    loaded = log_events(errpath, "mta_sts_cache_loaded")
    assert len(loaded) == 1
    assert loaded[0]["entries"] == "2"
    assert loaded[0]["skipped"] == "3"
    assert loaded[0]["level"] == "warn"
    assert metric(admin, "stp_mta_sts_cache_entries") == "2"
    assert metric(admin, 'stp_mta_sts_fetches_total{result="ok"}') == "0"
    assert log_events(errpath, "mta_sts_cache_volatile") == []

    # The file is rewritten at shutdown: what is valid, nothing else, and
    # through a rename (a second link to the old file keeps its text).
    os.link(path, tmp_path / "old-link")
    before = (tmp_path / "old-link").read_text()
    stplib.stop_process(proc)
    assert proc.returncode == 0
    after = path.read_text()
    assert (tmp_path / "old-link").read_text() == before
    assert after.startswith(HEADER)
    lines = after[len(HEADER):].splitlines()
    assert sorted(lines) == sorted(good)
    assert sorted(os.listdir(state)) == ["mta-sts.cache"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"

    # And read again by the next start.
    proc, admin, errpath2 = start(str(tmp_path), state_dir=str(state))
    proxies.append(proc)
    assert metric(admin, "stp_mta_sts_cache_entries") == "2"
    assert log_events(errpath2, "mta_sts_cache_loaded")[0]["skipped"] == "0"


def test_volatile_warning_without_state_dir(tmp_path, proxies):
    proc, admin, errpath = start(str(tmp_path))
    proxies.append(proc)
    ev = log_events(errpath, "mta_sts_cache_volatile")
    assert len(ev) == 1
    assert ev[0]["level"] == "warn"
    assert metric(admin, "stp_mta_sts_cache_entries") == "0"


def test_no_volatile_warning_when_mta_sts_unused(tmp_path, proxies):
    proc, admin, errpath = start(str(tmp_path), mta_sts=False)
    proxies.append(proc)
    assert log_events(errpath, "mta_sts_cache_volatile") == []


def test_bad_mta_sts_ca_file_refused(tmp_path):
    # The fetch context is built with the configuration: a CA file that
    # holds no certificate stops the start instead of failing every fetch.
    ca = tmp_path / "empty.pem"
    ca.write_text("not a certificate\n")
    admin = stplib.free_port()
    config = tmp_path / "p.ini"
    config.write_text("[global]\nadmin = 127.0.0.1:%d\nmta_sts_ca_file = %s\n\n"
                      "[outbound]\nlisten = 127.0.0.1:%d\nmode = transparent\n"
                      "mta_sts = yes\n" % (admin, ca, stplib.free_port()))
    p = subprocess.run([stplib.BINARY, "-c", str(config)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode != 0
    assert "mta_sts" in p.stderr
