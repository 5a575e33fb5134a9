"""The built binary: linked against BoringSSL only, -V, and -t config checks."""

import os
import re
import shutil

import stplib
from stplib import run


def needed(path):
    out = run(["readelf", "-d", path]).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def test_links_boringssl_not_openssl():
    libs = needed(stplib.BINARY)
    assert "libssl.so.0" in libs, libs
    assert "libcrypto.so.0" in libs, libs
    for lib in libs:
        assert not re.match(r"lib(ssl|crypto)\.so\.[13]", lib), "OpenSSL in NEEDED: %s" % libs
    # ldd resolves the whole tree: nothing may pull OpenSSL 3 in indirectly.
    ldd = run(["ldd", stplib.BINARY])
    assert ldd.returncode == 0, ldd.stderr
    assert "not found" not in ldd.stdout, ldd.stdout
    assert not re.search(r"lib(ssl|crypto)\.so\.3", ldd.stdout), ldd.stdout
    m = re.search(r"libssl\.so\.0 => (\S+)", ldd.stdout)
    assert m and "/android/" in m.group(1), ldd.stdout


def test_runpath_has_no_relative_entry():
    """An empty or relative RUNPATH entry makes the loader search the
    current directory: a library planted there would be loaded."""
    out = run(["readelf", "-d", stplib.BINARY]).stdout
    paths = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", out)
    for p in paths:
        for entry in p.split(":"):
            assert entry.startswith("/"), "RUNPATH entry %r in %r" % (entry, p)


def project_version():
    with open(os.path.join(stplib.SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*starttls-proxy\s+VERSION\s+([0-9.]+)", f.read())
    assert m
    return m.group(1)


def test_version():
    r = run([stplib.BINARY, "-V"], timeout=10)
    assert r.returncode == 0, r
    out = r.stdout + r.stderr
    assert project_version() in out, out
    assert "starttls-proxy" in out, out


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def good_config(workdir, certs):
    return write(os.path.join(workdir, "good.ini"), [
        "[global]",
        "log_level = info",
        "log_format = json",
        "max_sessions = 100",
        "idle_timeout = 5m",
        "handshake_timeout = 30s",
        "connect_timeout = 30",
        "",
        "[inbound]",
        "listen = 127.0.0.1:%d" % stplib.free_port(),
        "backend = 127.0.0.1:2525",
        "tls = starttls",
        "cert = %s/server.pem" % certs,
        "key = %s/server.key" % certs,
        "cert = %s/server-ec.pem" % certs,
        "key = %s/server-ec.key" % certs,
        "min_tls = 1.2",
        "require_tls = no",
        "hide_auth_before_tls = yes",
        "",
        "[inbound:smtps]",
        "listen = [::1]:%d" % stplib.free_port(),
        "backend = 127.0.0.1:2525",
        "tls = implicit",
        "cert = %s/server.pem" % certs,
        "key = %s/server.key" % certs,
        "min_tls = 1.3",
        "require_tls = yes",
        "hide_auth_before_tls = no",
        "",
        "[inbound:plain]",
        "listen = 127.0.0.1:%d" % stplib.free_port(),
        "backend = 127.0.0.1:2525",
        "tls = off",
    ])


def test_check_good_config(workdir, certs):
    path = good_config(workdir, certs)
    r = run([stplib.BINARY, "-t", "-c", path], timeout=20)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not re.search(re.escape(path) + r":\d+:", r.stdout + r.stderr)


def test_check_reports_each_problem_with_line(workdir, certs):
    path = write(os.path.join(workdir, "bad.ini"), [
        "[global]",                                      # 1
        "log_level = info",                              # 2
        "no_such_key = 1",                               # 3 unknown key
        "max_sessions = 10",                             # 4
        "idle_timeout = 5 parsecs",                      # 5 bad duration
        "",                                              # 6
        "[inbound]",                                     # 7
        "listen = 127.0.0.1:%d" % stplib.free_port(),    # 8
        "backend = 127.0.0.1:2525",                      # 9
        "cert = %s/server.pem" % certs,                  # 10
        "key = %s/server-ec.key" % certs,                # 11 key of another cert
    ])
    r = run([stplib.BINARY, "-t", "-c", path], timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "%s:3:" % path in out, out
    assert "%s:5:" % path in out, out
    assert ("%s:10:" % path in out) or ("%s:11:" % path in out), out
    # Nothing is blamed on the good lines.
    for line in (1, 2, 4, 6, 7, 8, 9):
        assert "%s:%d:" % (path, line) not in out, out


def test_check_unknown_section_bad_value_unreadable_cert(workdir, certs):
    path = write(os.path.join(workdir, "bad2.ini"), [
        "[global]",                                      # 1
        "log_level = loud",                              # 2 bad value
        "[nosuchsection]",                               # 3 unknown section
        "[inbound]",                                     # 4
        "listen = 127.0.0.1:%d" % stplib.free_port(),    # 5
        "backend = 127.0.0.1:2525",                      # 6
        "tls = sometimes",                               # 7 bad value
        "cert = %s/does-not-exist.pem" % workdir,        # 8 unreadable
        "key = %s/server.key" % certs,                   # 9
    ])
    r = run([stplib.BINARY, "-t", "-c", path], timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    for line in (2, 3, 7):
        assert "%s:%d:" % (path, line) in out, (line, out)
    assert ("%s:8:" % path in out) or ("%s:9:" % path in out), out


def test_run_refuses_bad_config(workdir, certs):
    path = write(os.path.join(workdir, "bad3.ini"), [
        "[global]",
        "idle_timeout = never",
    ])
    r = run([stplib.BINARY, "-c", path], timeout=20)
    assert r.returncode != 0
    assert "%s:2:" % path in r.stdout + r.stderr


def test_tools_present():
    # The other e2e files drive these; a missing one must not look like a pass.
    for tool in ("swaks", "openssl", "readelf", "ldd"):
        assert shutil.which(tool), tool
