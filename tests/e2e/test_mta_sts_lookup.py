"""MTA-STS lookups (proxy/mtasts.c, RFC 8461 3 and 5.1): TXT record, cache,
fetch, what is kept when something fails, refresh ahead of expiry, one
fetch per domain.

Driven by tests/tools/mtasts_cli (a scripted resolver, stubdns.c, stands in
for dns.c; the fetch is real, against tests/tools/stshost.py). The cache
is seeded and read through state files in stscache's format. Loopback
only; every policy host is stopped by PID.
"""

import os
import subprocess
import time

import pytest

import stplib
from stslib import MKSTSCERTS, MTASTS_CLI as CLI, Host
HEADER = "starttls-proxy mta-sts cache 1\n"
ID = "20261201T000000"
MX = "mx1.lab.test,*.backup.lab.test"


@pytest.fixture(scope="module")
def stscerts(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("stscerts"))
    subprocess.run(["bash", MKSTSCERTS, d], check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    return d


@pytest.fixture(scope="module", autouse=True)
def _cli_present():
    if not os.access(CLI, os.X_OK):
        pytest.fail("%s missing (build the tests first)" % CLI, pytrace=False)


@pytest.fixture
def host(stscerts, tmp_path):
    started = []

    def make(mode="ok"):
        h = Host(stscerts, str(tmp_path), mode)
        started.append(h)
        return h

    yield make
    for h in started:
        h.stop()


def zone(tmp_path, txt=("v=STSv1; id=%s" % ID,), a="127.0.0.1", domain="lab.test"):
    path = tmp_path / "zone"
    lines = ["_mta-sts.%s TXT %s" % (domain, t) for t in txt]
    if a:
        lines.append("mta-sts.%s A %s" % (domain, a))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def state(tmp_path, line):
    path = tmp_path / "state.in"
    path.write_text(HEADER + line + "\n")
    return str(path)


def cached_line(domain="lab.test", id="OLD1", age=100, max_age=86400, mode="enforce",
                mx="mx.old.lab.test"):
    fetched = int(time.time()) - age
    return "%s %s %d %d %d %s %d %s" % (domain, id, fetched, fetched + max_age, fetched,
                                        mode, max_age, mx)


def run(stscerts, zonefile, port, domains=("lab.test",), rounds=1, state_in=None,
        state_out=None, timeout_ms=3000, resolver=True):
    argv = [CLI, "-z", zonefile, "-p", str(port), "-c", os.path.join(stscerts, "ca.pem"),
            "-t", str(timeout_ms), "-r", str(rounds)]
    if not resolver:
        argv.append("-N")
    if state_in:
        argv += ["-l", state_in]
    if state_out:
        argv += ["-o", state_out]
    p = subprocess.run(argv + list(domains), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    answers, cache, fetches = [], {}, {}
    for line in p.stdout.splitlines():
        f = stplib.parse_log_line(line)
        if line.startswith("round="):
            answers.append(f)
        elif line.startswith("cache "):
            cache[f["domain"]] = f
        elif line.startswith("fetches "):
            fetches[f["result"]] = int(f["count"])
    return answers, cache, fetches, p.stderr


def test_fetch_then_cache(stscerts, tmp_path, host):
    h = host("ok")
    answers, cache, fetches, log = run(stscerts, zone(tmp_path), h.port, rounds=2)
    first, second = answers
    assert first["round"] == "1"
    assert (first["have"], first["source"], first["fetched"], first["fetch_result"]) == \
        ("1", "fetch", "1", "ok")
    assert first["mode"] == "enforce"
    assert first["id"] == ID
    assert first["mx"] == MX
    # The second lookup: the record's id is the cached one, no fetch.
    assert (second["have"], second["source"], second["fetched"]) == ("1", "cache", "0")
    assert second["mx"] == MX
    assert fetches == {"ok": 1}
    assert h.requests().count(b"GET ") == 1
    assert cache["lab.test"]["id"] == ID
    ev = [stplib.parse_log_line(l) for l in log.splitlines()]
    pol = [e for e in ev if e.get("event") == "mta_sts_policy"]
    assert len(pol) == 1
    assert (pol[0]["domain"], pol[0]["mode"], pol[0]["id"], pol[0]["max_age"]) == \
        ("lab.test", "enforce", ID, "86400")
    fe = [e for e in ev if e.get("event") == "mta_sts_fetch"]
    assert len(fe) == 1 and fe[0]["result"] == "ok" and fe[0]["id"] == ID


def test_one_fetch_for_concurrent_lookups(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, fetches, _ = run(stscerts, zone(tmp_path), h.port,
                                 domains=["lab.test", "LAB.test", "lab.test"])
    assert len(answers) == 3
    assert all(a["have"] == "1" and a["source"] == "fetch" for a in answers)
    assert fetches == {"ok": 1}
    assert h.requests().count(b"GET ") == 1


def test_changed_id_refetches(stscerts, tmp_path, host):
    h = host("ok")
    answers, cache, _, _ = run(stscerts, zone(tmp_path), h.port,
                               state_in=state(tmp_path, cached_line(id="OLD1")))
    assert (answers[0]["source"], answers[0]["id"], answers[0]["mx"]) == ("fetch", ID, MX)
    assert cache["lab.test"]["id"] == ID
    assert h.requests().count(b"GET ") == 1


def test_unchanged_id_uses_cache(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, fetches, _ = run(stscerts, zone(tmp_path), h.port,
                                 state_in=state(tmp_path, cached_line(id=ID)))
    assert (answers[0]["source"], answers[0]["mx"]) == ("cache", "mx.old.lab.test")
    assert fetches == {}
    assert h.requests() == b""


def test_missing_record_keeps_cached_policy(stscerts, tmp_path, host):
    # RFC 8461 5.1/10.2: a cached, unexpired policy outlives its record.
    h = host("ok")
    answers, _, _, _ = run(stscerts, zone(tmp_path, txt=()), h.port,
                           state_in=state(tmp_path, cached_line(id="OLD1")))
    a = answers[0]
    assert (a["have"], a["source"], a["id"], a["mx"]) == ("1", "cache", "OLD1",
                                                          "mx.old.lab.test")
    assert h.requests() == b""


def test_missing_record_no_cache_no_policy(stscerts, tmp_path, host):
    h = host("ok")
    answers, cache, _, _ = run(stscerts, zone(tmp_path, txt=()), h.port)
    assert (answers[0]["have"], answers[0]["source"], answers[0]["temporary"]) == \
        ("0", "none", "0")
    assert "id" not in cache["lab.test"]


def test_expired_cache_not_used(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, _, _ = run(stscerts, zone(tmp_path, txt=()), h.port,
                           state_in=state(tmp_path, cached_line(age=7200, max_age=3600)))
    assert answers[0]["have"] == "0"


def test_several_records_no_policy(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, _, _ = run(stscerts, zone(tmp_path, txt=("v=STSv1; id=1", "v=STSv1; id=2")),
                           h.port)
    assert answers[0]["have"] == "0"
    assert h.requests() == b""


def test_txt_servfail_is_temporary(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, _, _ = run(stscerts, zone(tmp_path, txt=("!servfail",)), h.port)
    assert (answers[0]["have"], answers[0]["temporary"]) == ("0", "1")
    # With a cached policy, that policy.
    answers, _, _, _ = run(stscerts, zone(tmp_path, txt=("!timeout",)), h.port,
                           state_in=state(tmp_path, cached_line()))
    assert (answers[0]["have"], answers[0]["source"], answers[0]["temporary"]) == \
        ("1", "cache", "0")


def test_no_resolver(stscerts, tmp_path, host):
    # The worker's resolver could not be built: like a failed TXT lookup.
    h = host("ok")
    answers, _, _, _ = run(stscerts, zone(tmp_path), h.port, resolver=False)
    assert (answers[0]["have"], answers[0]["temporary"]) == ("0", "1")
    answers, _, _, _ = run(stscerts, zone(tmp_path), h.port, resolver=False,
                           state_in=state(tmp_path, cached_line()))
    assert (answers[0]["have"], answers[0]["source"]) == ("1", "cache")
    assert h.requests() == b""


def test_failed_fetch_keeps_cached_policy(stscerts, tmp_path, host):
    h = host("html")
    answers, cache, fetches, _ = run(stscerts, zone(tmp_path), h.port,
                                     state_in=state(tmp_path, cached_line(id="OLD1")))
    a = answers[0]
    assert (a["have"], a["source"], a["id"], a["fetched"], a["fetch_result"]) == \
        ("1", "cache", "OLD1", "1", "content_type")
    assert cache["lab.test"]["id"] == "OLD1"
    assert fetches == {"content_type": 1}


def test_failed_fetch_not_retried(stscerts, tmp_path, host):
    # Negative marker: the same (domain, id) is not fetched again soon.
    h = host("html")
    answers, _, fetches, _ = run(stscerts, zone(tmp_path), h.port, rounds=2)
    first, second = answers
    assert (first["have"], first["fetched"], first["fetch_result"]) == \
        ("0", "1", "content_type")
    assert (second["have"], second["fetched"]) == ("0", "0")
    assert "recently" in second["why"]
    assert fetches == {"content_type": 1}
    assert h.requests().count(b"GET ") == 1


def test_no_address_is_dns(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, fetches, _ = run(stscerts, zone(tmp_path, a=None), h.port)
    assert (answers[0]["have"], answers[0]["fetch_result"]) == ("0", "dns")
    assert fetches == {"dns": 1}


def test_refresh_ahead_of_expiry(stscerts, tmp_path, host):
    # 80 % of max_age gone, same id: answered from the cache at once, and a
    # background fetch renews the policy.
    h = host("ok")
    out = str(tmp_path / "state.out")
    answers, cache, fetches, _ = run(stscerts, zone(tmp_path), h.port, state_out=out,
                                     state_in=state(tmp_path, cached_line(
                                         id=ID, age=8000, max_age=10000)))
    a = answers[0]
    assert (a["have"], a["source"], a["fetched"], a["mx"]) == ("1", "cache", "0",
                                                              "mx.old.lab.test")
    assert fetches == {"ok": 1}
    assert h.requests().count(b"GET ") == 1
    # The renewed policy: fetched now, the host's max_age and patterns.
    c = cache["lab.test"]
    assert int(c["expires_at"]) - int(c["fetched_at"]) == 86400
    assert int(c["fetched_at"]) >= int(time.time()) - 60
    with open(out) as f:
        assert f.read().split("\n")[1].endswith(" enforce 86400 " + MX)


def test_no_refresh_with_time_left(stscerts, tmp_path, host):
    h = host("ok")
    answers, _, fetches, _ = run(stscerts, zone(tmp_path), h.port,
                                 state_in=state(tmp_path, cached_line(
                                     id=ID, age=5000, max_age=10000)))
    assert answers[0]["source"] == "cache"
    assert fetches == {}
    assert h.requests() == b""


def test_mode_none_is_a_policy(stscerts, tmp_path, host):
    none = tmp_path / "none.txt"
    none.write_bytes(b"version: STSv1\nmode: none\nmax_age: 3600\n")
    h = Host(stscerts, str(tmp_path), "ok", policy=none.read_bytes())
    try:
        answers, cache, _, _ = run(stscerts, zone(tmp_path), h.port,
                                   state_in=state(tmp_path, cached_line(id="OLD1")))
    finally:
        h.stop()
    a = answers[0]
    assert (a["have"], a["mode"], a["source"], a["mx"]) == ("1", "none", "fetch", "")
    assert cache["lab.test"]["mode"] == "none"
