"""Packaging: the Kubernetes example (deploy/kubernetes), the systemd unit
(deploy/systemd) and the Dockerfile agree with each other and with the
binary.

- every YAML document parses and names itself (apiVersion, kind, metadata.name);
- the Deployment has the legacy server, the proxy and the NET_ADMIN init
  container; the init container's REDIRECT rules exclude exactly the mark the
  ini sets and land on the transparent listeners; the probes, the
  prometheus annotations and the PodMonitor use the ini's admin port; the
  grace periods fit shutdown_grace; the Secret is cert-manager's and is
  mounted where the ini looks for tls.crt/tls.key;
- the ini embedded in the ConfigMap passes "starttls-proxy -t" (with the test
  certificates in place of the Secret);
- the systemd unit passes "systemd-analyze verify";
- the Dockerfile's runtime stage installs exactly deploy/runtime-packages.txt,
  and that list provides every library the binary needs.

The image itself is checked by the opt-in scripts/image-test.sh (root,
debootstrap).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

import stplib

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    yaml = None

DEPLOY = os.path.join(stplib.SOURCE_DIR, "deploy")
KUBE = os.path.join(DEPLOY, "kubernetes")
UNIT = os.path.join(DEPLOY, "systemd", "starttls-proxy.service")
DOCKERFILE = os.path.join(stplib.SOURCE_DIR, "Dockerfile")
PACKAGES = os.path.join(DEPLOY, "runtime-packages.txt")
IMAGE_TEST = os.path.join(stplib.SOURCE_DIR, "scripts", "image-test.sh")
CONFIGMAP_KEY = "starttls-proxy.ini"
TLS_DIR = "/etc/starttls-proxy/tls"


def need_yaml():
    if yaml is None:
        pytest.skip("python3-yaml is not installed (add python3-yaml to scripts/setup.sh)")


# --------------------------------------------------------------------------
# Reading the files

def yaml_files():
    out = []
    for dirpath, _, files in os.walk(KUBE):
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")):
                out.append(os.path.join(dirpath, f))
    return sorted(out)


def documents():
    """[(file, doc)] for every non-empty YAML document under deploy/kubernetes."""
    need_yaml()
    docs = []
    for path in yaml_files():
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc is not None:
                    docs.append((path, doc))
    return docs


def the(kind, name=None):
    found = [d for _, d in documents() if d.get("kind") == kind
             and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, "expected one %s%s, found %d" % (
        kind, " " + name if name else "", len(found))
    return found[0]


def parse_ini(text):
    """[(section, key, value, lineno)] with the proxy's syntax: whole-line
    comments (; or #), ' ;' starts a trailing comment, keys may repeat."""
    out = []
    section = None
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s[0] in ";#":
            continue
        if s.startswith("["):
            section = s[1:s.index("]")]
            continue
        key, _, value = s.partition("=")
        value = re.split(r"\s;", value, maxsplit=1)[0].strip()
        out.append((section, key.strip(), value, n))
    return out


class Ini:
    def __init__(self, text):
        self.text = text
        self.entries = parse_ini(text)

    def sections(self):
        seen = []
        for sec, *_ in self.entries:
            if sec not in seen:
                seen.append(sec)
        return seen

    def get(self, section, key, default=None):
        vals = self.all(section, key)
        return vals[-1] if vals else default

    def all(self, section, key):
        return [v for s, k, v, _ in self.entries if s == section and k == key]


def split_addr(addr):
    """'127.0.0.1:25' / '[::1]:25' / '*:25' -> (host, port)."""
    m = re.match(r"^\[(.*)\]:(\d+)$", addr) or re.match(r"^(.*):(\d+)$", addr)
    assert m, "not host:port: %r" % addr
    return m.group(1), int(m.group(2))


def duration_seconds(v):
    m = re.match(r"^(\d+)(ms|s|m|h)?$", v)
    assert m, "not a duration: %r" % v
    n = int(m.group(1))
    return {"ms": n / 1000.0, "s": n, None: n, "m": 60 * n, "h": 3600 * n}[m.group(2)]


def configmap():
    return the("ConfigMap", "starttls-proxy-config")


def ini():
    return Ini(configmap()["data"][CONFIGMAP_KEY])


def deployment():
    return the("Deployment", "mail")


def pod():
    return deployment()["spec"]["template"]


def containers():
    return {c["name"]: c for c in pod()["spec"]["containers"]}


def proxy_container():
    return containers()["starttls-proxy"]


def admin_addr():
    a = ini().get("global", "admin")
    assert a, "the ConfigMap's ini sets no [global] admin"
    return split_addr(a)


def container_port(c, port):
    """A probe/target port (number or name) -> number."""
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError("container %s has no port named %s" % (c["name"], port))


def prestop_sleep(c):
    hook = c.get("lifecycle", {}).get("preStop")
    if not hook:
        return 0
    if "sleep" in hook:
        return int(hook["sleep"]["seconds"])
    cmd = hook["exec"]["command"]
    assert cmd[0].endswith("sleep"), cmd
    return int(cmd[1])


def transparent_listeners():
    """[(section, host, port, mark)] of the ini's transparent outbound listeners."""
    i = ini()
    out = []
    for sec in i.sections():
        if sec and sec.split(":")[0] == "outbound" and i.get(sec, "mode") == "transparent":
            host, port = split_addr(i.get(sec, "listen"))
            mark = i.get(sec, "mark")
            out.append((sec, host, port, int(mark, 0) if mark else None))
    return out


def init_rules():
    """The iptables/ip6tables commands of the NET_ADMIN init container that
    append to nat OUTPUT, as argv lists, with the script's own variables
    expanded."""
    inits = pod()["spec"].get("initContainers", [])
    assert len(inits) == 1, "expected one init container"
    script = "\n".join(inits[0].get("command", []) + inits[0].get("args", []))
    env = dict(re.findall(r'^\s*(\w+)="([^"]*)"', script, re.M))
    rules = []
    for line in script.splitlines():
        for part in re.split(r"\|\||&&|;", line):
            words = part.strip().split()
            if not words or words[0] not in ("iptables", "ip6tables"):
                continue
            argv = []
            for w in words:
                m = re.match(r"^\$\{?(\w+)\}?$", w)
                argv += env[m.group(1)].split() if m else [w]
            if "-A" in argv and "REDIRECT" in argv:
                rules.append(argv)
    return rules


def dockerfile_stages():
    """{stage name: [instruction lines, continuation lines joined]}."""
    with open(DOCKERFILE) as f:
        text = f.read()
    logical = re.sub(r"\\\n", " ", text)
    stages = {}
    current = None
    for line in logical.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.match(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", s, re.I)
        if m:
            current = m.group(2) or m.group(1)
            stages[current] = ["FROM " + m.group(1)]
            continue
        stages[current].append(s)
    return stages


def runtime_packages():
    with open(PACKAGES) as f:
        return [w for line in f for w in line.split("#")[0].split()]


# --------------------------------------------------------------------------
# Manifests

def test_every_yaml_document_parses_and_names_itself():
    docs = documents()
    assert len(yaml_files()) >= 6
    for path, d in docs:
        where = os.path.relpath(path, stplib.SOURCE_DIR)
        assert isinstance(d, dict), where
        assert d.get("apiVersion"), "%s: no apiVersion" % where
        assert d.get("kind"), "%s: no kind" % where
        if d["kind"] != "Kustomization":
            assert d.get("metadata", {}).get("name"), "%s: %s without metadata.name" % (where, d["kind"])
    kinds = {d["kind"] for _, d in docs}
    for k in ("Deployment", "ConfigMap", "Service", "Certificate", "Kustomization"):
        assert k in kinds, "no %s under deploy/kubernetes" % k


def test_kustomization_lists_the_manifests():
    k = the("Kustomization")
    resources = k["resources"]
    for r in resources:
        assert os.path.isfile(os.path.join(KUBE, r)), "kustomization.yaml lists missing %s" % r
    top = sorted(f for f in os.listdir(KUBE)
                 if f.endswith(".yaml") and f != "kustomization.yaml")
    assert sorted(resources) == top, "every top-level manifest (and nothing else) belongs in resources"
    # Every image of the pod can be set from kustomization.yaml.
    names = {i["name"] for i in k.get("images", [])}
    spec = pod()["spec"]
    for c in spec["containers"] + spec.get("initContainers", []):
        assert c["image"].rsplit(":", 1)[0] in names, c["image"]


def test_kustomize_builds():
    need_yaml()
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed")
    r = subprocess.run([kubectl, "kustomize", KUBE], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    built = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert len(built) == len(the("Kustomization")["resources"])
    for d in built:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == the("Kustomization")["namespace"], d["kind"]


def test_deployment_has_legacy_server_proxy_and_net_admin_init():
    spec = pod()["spec"]
    cs = containers()
    assert set(cs) == {"legacy-mta", "starttls-proxy", "resolver", "tlsrpt-collectd",
                       "tlsrpt-reportd"}
    inits = spec["initContainers"]
    assert len(inits) == 1
    caps = inits[0]["securityContext"]["capabilities"]
    assert "NET_ADMIN" in caps["add"]
    assert inits[0]["securityContext"].get("runAsUser") == 0
    # The legacy server is not published: no container ports of its own.
    assert not cs["legacy-mta"].get("ports")
    # Pod labels match the selector.
    sel = deployment()["spec"]["selector"]["matchLabels"]
    for k, v in sel.items():
        assert pod()["metadata"]["labels"].get(k) == v


def test_redirect_rules_exclude_the_ini_mark_and_reach_the_listeners():
    listeners = transparent_listeners()
    assert listeners, "the ConfigMap's ini has no transparent outbound listener"
    marks = {m for _, _, _, m in listeners}
    assert len(marks) == 1 and None not in marks, "every transparent listener needs the same mark: %r" % listeners
    mark = marks.pop()
    by_family = {}
    for sec, host, port, _ in listeners:
        # REDIRECT of locally generated packets lands on the loopback address.
        assert host in ("127.0.0.1", "::1"), "%s: listen on loopback, not %s" % (sec, host)
        by_family["ip6tables" if ":" in host else "iptables"] = port
    rules = init_rules()
    assert {r[0] for r in rules} == set(by_family), "one REDIRECT rule per listener family: %r" % rules
    for argv in rules:
        text = " ".join(argv)
        assert re.search(r"-t nat -A OUTPUT\b", text), text
        assert re.search(r"-p tcp --dport 25\b", text), text
        m = re.search(r"-m mark ! --mark (\S+)", text)
        assert m, "%s: does not exclude the proxy's mark" % text
        assert int(m.group(1), 0) == mark, "rule excludes %s, ini sets mark = %#x" % (m.group(1), mark)
        m = re.search(r"-j REDIRECT --to-ports (\d+)$", text)
        assert m and int(m.group(1)) == by_family[argv[0]], "%s: not to port %d" % (text, by_family[argv[0]])


def test_proxy_container_matches_image_and_ini():
    c = proxy_container()
    stages = dockerfile_stages()
    runtime = stages["runtime"]
    entry = [l for l in runtime if l.startswith("ENTRYPOINT")][-1]
    cmd = [l for l in runtime if l.startswith("CMD")][-1]
    entry = json.loads(entry.split(None, 1)[1])
    cmd = json.loads(cmd.split(None, 1)[1])
    assert c["args"] == cmd, "the pod's args differ from the image's CMD"
    marked = any(m for *_, m in transparent_listeners())
    sc = c["securityContext"]
    assert sc["runAsUser"] == 10025 and sc.get("runAsNonRoot") is True
    assert sc.get("allowPrivilegeEscalation") is not False, \
        "file capabilities are ignored under allowPrivilegeEscalation: false"
    added = set(sc["capabilities"].get("add", []))
    assert "NET_BIND_SERVICE" in added
    if marked:
        assert c["command"] == [entry[0] + "-netadmin"]
        assert "NET_ADMIN" in added, "mark = needs NET_ADMIN in the proxy container"
    # The config file lives in the ConfigMap's mount.
    config_path = cmd[cmd.index("-c") + 1]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod()["spec"]["volumes"]}
    cm_mount = [m for n, m in mounts.items() if "configMap" in vols[n]][0]
    assert os.path.dirname(config_path) == cm_mount["mountPath"]
    assert "subPath" not in cm_mount
    assert vols[cm_mount["name"]]["configMap"]["name"] == configmap()["metadata"]["name"]
    assert os.path.basename(config_path) == CONFIGMAP_KEY


def test_probes_and_scraping_use_the_admin_port():
    host, port = admin_addr()
    # Kubelet probes and Prometheus reach the pod IP, not loopback.
    assert host in ("0.0.0.0", "*", "::"), "admin = %s:%d is not reachable on the pod IP" % (host, port)
    c = proxy_container()
    live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz" and ready["path"] == "/readyz"
    assert container_port(c, live["port"]) == port
    assert container_port(c, ready["port"]) == port
    ann = pod()["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert int(ann["prometheus.io/port"]) == port
    assert ann.get("prometheus.io/path", "/metrics") == "/metrics"
    pm = the("PodMonitor")
    ep = pm["spec"]["podMetricsEndpoints"][0]
    assert container_port(c, ep["port"]) == port and ep["path"] == "/metrics"
    for k, v in pm["spec"]["selector"]["matchLabels"].items():
        assert pod()["metadata"]["labels"].get(k) == v
    # The Service does not publish it.
    svc_ports = {p["port"] for p in the("Service")["spec"]["ports"]}
    assert port not in svc_ports


def test_grace_periods_fit_shutdown_grace():
    grace = duration_seconds(ini().get("global", "shutdown_grace", "30s"))
    spec = pod()["spec"]
    total = spec["terminationGracePeriodSeconds"]
    cs = containers()
    proxy_wait = prestop_sleep(cs["starttls-proxy"])
    legacy_wait = prestop_sleep(cs["legacy-mta"])
    assert proxy_wait + grace < total, "the proxy's drain does not fit terminationGracePeriodSeconds"
    # The legacy server keeps serving until the proxy has drained.
    assert legacy_wait >= proxy_wait + grace
    assert legacy_wait < total


def test_certificate_secret_mounted_where_the_ini_looks():
    cert = the("Certificate")
    assert cert["apiVersion"].startswith("cert-manager.io/")
    secret = cert["spec"]["secretName"]
    c = proxy_container()
    vols = {v["name"]: v for v in pod()["spec"]["volumes"]}
    tls_mounts = [m for m in c["volumeMounts"]
                  if "secret" in vols[m["name"]] and vols[m["name"]]["secret"]["secretName"] == secret]
    assert len(tls_mounts) == 1, "the Secret %s is not mounted in the proxy" % secret
    m = tls_mounts[0]
    assert m["mountPath"] == TLS_DIR
    # A subPath mount never sees cert-manager's renewals.
    assert "subPath" not in m and m.get("readOnly") is True
    i = ini()
    pairs = 0
    for sec in i.sections():
        if sec and sec.split(":")[0] == "inbound" and i.get(sec, "tls", "starttls").lower() != "off":
            certs, keys = i.all(sec, "cert"), i.all(sec, "key")
            assert certs and len(certs) == len(keys), sec
            for cf, kf in zip(certs, keys):
                assert (cf, kf) == (TLS_DIR + "/tls.crt", TLS_DIR + "/tls.key"), (sec, cf, kf)
                pairs += 1
    assert pairs >= 2


def test_service_publishes_the_inbound_listeners():
    svc = the("Service")
    c = proxy_container()
    i = ini()
    inbound_ports = {split_addr(i.get(s, "listen"))[1] for s in i.sections()
                     if s and s.split(":")[0] == "inbound"}
    published = {}
    for p in svc["spec"]["ports"]:
        published[p["port"]] = container_port(c, p.get("targetPort", p["port"]))
    assert published == {25: 25, 465: 465}
    assert set(published.values()) == inbound_ports
    for k, v in svc["spec"]["selector"].items():
        assert pod()["metadata"]["labels"].get(k) == v


def test_configmap_ini_passes_check(tmp_path, certs):
    text = configmap()["data"][CONFIGMAP_KEY]
    text = text.replace(TLS_DIR + "/tls.crt", os.path.join(certs, "server.pem"))
    text = text.replace(TLS_DIR + "/tls.key", os.path.join(certs, "server.key"))
    assert TLS_DIR not in text
    # The pod's state_dir is an emptyDir; here a directory of the test's.
    state = ini().get("global", "state_dir")
    assert state, "the example keeps its MTA-STS cache (state_dir)"
    text = text.replace(state, str(tmp_path))
    path = tmp_path / "starttls-proxy.ini"
    path.write_text(text)
    r = subprocess.run([stplib.BINARY, "-t", "-c", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, "starttls-proxy -t rejects the ConfigMap's ini:\n" + r.stdout + r.stderr


def test_resolver_sidecar_validates_on_the_proxys_dns_address(tmp_path):
    """DANE believes AD only from loopback: the ini's dns is the resolver
    container's unbound, on 127.0.0.1 at the port of its unbound.conf, which
    validates (a trust anchor) and passes unbound-checkconf."""
    i = ini()
    host, port = split_addr(i.get("global", "dns"))
    assert host == "127.0.0.1", host
    conf = configmap()["data"]["unbound.conf"]
    assert re.search(r"^\s*interface:\s*127\.0\.0\.1\s*$", conf, re.M), conf
    assert re.search(r"^\s*port:\s*%d\s*$" % port, conf, re.M), conf
    assert re.search(r"^\s*auto-trust-anchor-file:", conf, re.M), conf
    for sec in i.sections():
        if sec.startswith("outbound") and i.get(sec, "mode") == "transparent":
            assert i.get(sec, "dane") == "yes", sec
    c = containers()["resolver"]
    assert c["image"].rsplit(":", 1)[0].endswith("starttls-proxy-resolver")
    assert "resolver" in dockerfile_stages()
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert "/etc/starttls-proxy-resolver" in mounts
    checkconf = shutil.which("unbound-checkconf")
    if not checkconf:
        pytest.skip("unbound-checkconf not installed")
    anchor = tmp_path / "root.key"
    with open("/usr/share/dns/root.key") as f:
        anchor.write_text(f.read())
    path = tmp_path / "unbound.conf"
    path.write_text(conf.replace("/var/lib/unbound", str(tmp_path)))
    r = subprocess.run([checkconf, str(path)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------
# systemd

def unit_settings():
    out = []
    with open(UNIT) as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith(("#", ";", "[")):
                k, _, v = s.partition("=")
                out.append((k, v))
    return out


def test_tlsrpt_collector_listens_where_the_proxy_sends():
    """The ini's tlsrpt_socket is the collector sidecar's socketname, in a
    volume both containers mount at its directory; the socket is made
    writable for the proxy's group; reportd reads the collector's
    storage."""
    m = re.search(r"^\s*tlsrpt_socket\s*=\s*(\S+)", configmap()["data"][CONFIGMAP_KEY], re.M)
    assert m, "the ConfigMap's ini sets no tlsrpt_socket"
    path = m.group(1)
    cs = containers()
    col, rep, px = cs["tlsrpt-collectd"], cs["tlsrpt-reportd"], proxy_container()
    env = {e["name"]: e["value"] for e in col["env"]}
    assert env["TLSRPT_COLLECTD_SOCKETNAME"] == path
    sockdir = os.path.dirname(path)

    def volume_at(c, d):
        vols = [v["name"] for v in c["volumeMounts"] if v["mountPath"] == d]
        assert vols, "%s mounts nothing at %s" % (c["name"], d)
        return vols[0]

    assert volume_at(col, sockdir) == volume_at(px, sockdir)
    assert "umask 0007" in " ".join(col.get("args", []))
    assert col["securityContext"]["runAsGroup"] == px["securityContext"]["runAsGroup"]
    storage = env["TLSRPT_COLLECTD_STORAGE"]
    assert storage.startswith("sqlite://")
    renv = {e["name"]: e["value"] for e in rep["env"]}
    assert storage in renv["TLSRPT_REPORTD_FETCHERS"]
    dbdir = os.path.dirname(storage[len("sqlite://"):])
    assert volume_at(col, dbdir) == volume_at(rep, dbdir)


def test_systemd_unit_settings():
    st = unit_settings()
    get = lambda k: [v for kk, v in st if kk == k]
    assert get("Type") == ["simple"]
    start = get("ExecStart")[0].split()
    pre = get("ExecStartPre")[0].split()
    assert pre == [start[0], "-t"] + start[1:]
    assert "/bin/kill -HUP $MAINPID" in get("ExecReload")
    assert get("KillSignal") == ["SIGTERM"]
    assert duration_seconds(get("TimeoutStopSec")[0]) > 30  # the default shutdown_grace
    assert get("User") == ["starttls-proxy"]
    assert "CAP_NET_BIND_SERVICE" in get("AmbientCapabilities")[0]
    assert get("NoNewPrivileges") == ["yes"]
    assert get("ProtectSystem") == ["strict"]
    assert get("Restart") == ["on-failure"]
    assert get("LimitNOFILE") == ["1048576"]


def test_systemd_unit_verifies(tmp_path):
    sa = shutil.which("systemd-analyze")
    if not sa:
        pytest.skip("systemd-analyze not installed")
    with open(UNIT) as f:
        text = f.read()
    # verify checks that the executables exist: point it at the built binary.
    text = text.replace("/usr/local/sbin/starttls-proxy", stplib.BINARY)
    path = tmp_path / "starttls-proxy.service"
    path.write_text(text)
    r = subprocess.run([sa, "verify", str(path)], capture_output=True, text=True, timeout=60)
    ours = [l for l in (r.stdout + r.stderr).splitlines() if "starttls-proxy.service" in l]
    assert r.returncode == 0 and not ours, r.stdout + r.stderr


# --------------------------------------------------------------------------
# Dockerfile and the image's package list

def test_dockerfile_runtime_stage_installs_exactly_the_package_list():
    stages = dockerfile_stages()
    assert list(stages)[-1] == "runtime", "the runtime stage must be the last (default) one"
    runtime = stages["runtime"]
    assert runtime[0] == "FROM debian:12-slim"
    assert stages["build"][0] == "FROM debian:12"
    copies = [l for l in runtime if l.startswith("COPY") and "deploy/runtime-packages.txt" in l]
    assert len(copies) == 1
    dest = copies[0].split()[-1]
    installs = 0
    for l in runtime:
        if not l.startswith("RUN"):
            continue
        for cmd in l[3:].split(";"):
            if "apt-get install" not in cmd:
                continue
            words = cmd.split("apt-get install", 1)[1].split()
            names = [w for w in words if not w.startswith("-")]
            if names == ["$(sed", "'s/#.*//'", dest + ")"]:
                installs += 1
                continue
            # Only setcap's package, removed again in the same layer.
            assert names == ["libcap2-bin"], "runtime stage installs more than the list: %s" % cmd
            assert "apt-get purge -y --auto-remove libcap2-bin" in l
    assert installs == 1, "the runtime stage does not install from deploy/runtime-packages.txt"
    assert runtime_packages(), "deploy/runtime-packages.txt is empty"


def test_package_list_provides_the_binary_libraries():
    """Each shared library the binary names (DT_NEEDED) comes from a listed
    package or from libc6; checked with the host's dpkg database."""
    if not shutil.which("dpkg") or not shutil.which("readelf"):
        pytest.skip("dpkg/readelf not available")
    elf = subprocess.run(["readelf", "-d", stplib.BINARY], capture_output=True, text=True, timeout=30)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", elf.stdout)
    assert needed
    ldd = subprocess.run(["ldd", stplib.BINARY], capture_output=True, text=True, timeout=30).stdout
    where = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    # libgcc-s1 comes with android-libboringssl (its libssl needs it); a
    # sanitizer build names it directly.
    allowed = set(runtime_packages()) | {"libc6", "libgcc-s1"}
    for lib in needed:
        path = where.get(lib)
        assert path, "%s not resolved by ldd" % lib
        r = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
        if r.returncode != 0:
            r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("%s belongs to no Debian package (own BoringSSL build?)" % path)
        pkg = r.stdout.split(":")[0]
        if re.match(r"^(libasan|libubsan|libclang-rt|libtsan|liblsan)", pkg):
            continue  # a sanitizer build's runtime
        assert pkg in allowed, "%s (%s) comes from %s, not in %s" % (lib, path, pkg, PACKAGES)


def test_dockerfile_and_image_test_agree():
    """The image's user, capabilities, paths and signal, as the pod spec and
    scripts/image-test.sh expect them."""
    runtime = dockerfile_stages()["runtime"]
    text = "\n".join(runtime)
    assert "USER 10025:10025" in runtime
    assert "STOPSIGNAL SIGTERM" in runtime
    expose = " ".join(l for l in runtime if l.startswith("EXPOSE")).split()[1:]
    assert {"25", "465"} <= set(expose)
    with open(IMAGE_TEST) as f:
        script = f.read()
    for needle in ("setcap cap_net_bind_service=+ep ",
                   "setcap cap_net_bind_service,cap_net_admin=+ep ",
                   "useradd --uid 10025 --gid 10025",
                   "groupadd --system --gid 10025 starttls-proxy"):
        assert needle in text, "Dockerfile: %s" % needle
    assert "setcap cap_net_bind_service=+ep " in script
    assert "setcap cap_net_bind_service,cap_net_admin=+ep " in script
    assert "--uid $uid --gid $uid" in script and "uid=10025" in script
    assert "deploy/runtime-packages.txt" in script
    if yaml is not None:
        assert str(admin_addr()[1]) in expose, "EXPOSE lacks the example's admin port"
