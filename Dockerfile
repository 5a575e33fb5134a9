# starttls-proxy container image.
#
#   docker build -t registry.example/starttls-proxy:VERSION .
#   docker build --target iptables-init -t registry.example/starttls-proxy-init:VERSION .
#   docker build --target resolver -t registry.example/starttls-proxy-resolver:VERSION .
#
# Stages:
#   build          Debian 12 with the toolchain; a Release build installed
#                  (stripped) into /out
#   iptables-init  Debian 12 slim with iptables: the init container of the
#                  Kubernetes example (deploy/kubernetes), which installs the
#                  REDIRECT rule of outbound transparent mode
#   resolver       Debian 12 slim with unbound and the root trust anchor
#                  (dns-root-data): the validating resolver sidecar that DANE
#                  needs (README "Authenticated delivery")
#   runtime        (default) Debian 12 slim with only the runtime libraries
#                  listed in deploy/runtime-packages.txt
#
# The runtime image runs as uid/gid 10025 ("starttls-proxy"), reads
# /etc/starttls-proxy/starttls-proxy.ini (mount a ConfigMap or a file there)
# and certificates from /etc/starttls-proxy/tls/ (mount a Secret there), and
# logs to stderr.
#
# No Docker engine on the development machines: scripts/image-test.sh
# rebuilds the runtime stage's file system with debootstrap from the same
# package list and runs the binary in it under chroot (see
# docs/operations-packaging.md).

# ---------------------------------------------------------------------------
FROM debian:12 AS build

RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake ninja-build pkg-config \
        libuv1-dev android-libboringssl-dev libinih-dev libc-ares-dev; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# Only the proxy itself (the unit tests need no building here). The installed
# copy carries the clean RUNPATH (/usr/lib/x86_64-linux-gnu/android only).
RUN set -eux; \
    cmake -S . -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release; \
    cmake --build /tmp/build --target starttls-proxy; \
    DESTDIR=/out cmake --install /tmp/build --prefix /usr/local --strip; \
    /out/usr/local/sbin/starttls-proxy -V

# ---------------------------------------------------------------------------
FROM debian:12-slim AS iptables-init

# Runs as root with NET_ADMIN (and NET_RAW for the legacy backend) in the
# pod's network namespace, installs the rule, exits. The command comes from
# the pod spec.
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables; \
    rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------
FROM debian:12-slim AS resolver

# A validating unbound for the proxy's DANE lookups, on the pod's loopback.
# Its configuration comes from the ConfigMap (unbound.conf); the root trust
# anchor starts from dns-root-data's root.key and is kept current by
# unbound's RFC 5011 tracking in a writable emptyDir.
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        unbound dns-root-data; \
    rm -rf /var/lib/apt/lists/*
USER unbound
ENTRYPOINT ["/usr/sbin/unbound", "-d", "-p", "-c", "/etc/starttls-proxy-resolver/unbound.conf"]

# ---------------------------------------------------------------------------
FROM debian:12-slim AS runtime

# The one package list (also read by scripts/image-test.sh).
COPY deploy/runtime-packages.txt /usr/share/starttls-proxy/runtime-packages.txt
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $(sed -e 's/#.*//' /usr/share/starttls-proxy/runtime-packages.txt); \
    rm -rf /var/lib/apt/lists/*

RUN set -eux; \
    groupadd --system --gid 10025 starttls-proxy; \
    useradd --uid 10025 --gid 10025 --home-dir /nonexistent \
        --no-create-home --shell /usr/sbin/nologin starttls-proxy; \
    mkdir -p /etc/starttls-proxy/tls

COPY --from=build /out/usr/local/sbin/starttls-proxy /usr/local/sbin/starttls-proxy
COPY config/starttls-proxy.ini /usr/share/starttls-proxy/starttls-proxy.ini.example

# File capabilities, so that uid 10025 can bind ports 25 and 465:
#   starttls-proxy           cap_net_bind_service
#   starttls-proxy-netadmin  cap_net_bind_service + cap_net_admin, for
#                            [outbound] mark = (SO_MARK needs CAP_NET_ADMIN)
# They are two copies because a file capability with the effective bit makes
# execve fail (EPERM) when the container's bounding set lacks it: the plain
# binary runs under any runtime's default set, the -netadmin one only where
# the pod spec adds NET_ADMIN. Kubernetes gives a non-root container no
# added capability except through files like these (no ambient
# capabilities), and ignores them under allowPrivilegeEscalation: false
# (no_new_privs). setcap comes from libcap2-bin, removed again in the same
# layer.
RUN set -eux; \
    cp -p /usr/local/sbin/starttls-proxy /usr/local/sbin/starttls-proxy-netadmin; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libcap2-bin; \
    setcap cap_net_bind_service=+ep /usr/local/sbin/starttls-proxy; \
    setcap cap_net_bind_service,cap_net_admin=+ep /usr/local/sbin/starttls-proxy-netadmin; \
    getcap /usr/local/sbin/starttls-proxy /usr/local/sbin/starttls-proxy-netadmin; \
    apt-get purge -y --auto-remove libcap2-bin; \
    rm -rf /var/lib/apt/lists/*; \
    /usr/local/sbin/starttls-proxy -V

USER 10025:10025
# 25 STARTTLS, 465 implicit TLS, 9925 the admin endpoint ([global] admin:
# /metrics, /healthz, /readyz) as in the Kubernetes example.
EXPOSE 25 465 9925
# SIGTERM drains: no new sessions, sessions in flight get shutdown_grace
# (default 30 s) to finish. Give "docker stop" more: docker stop -t 45.
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the admin endpoint is optional and its address is in the
# mounted ini, and the slim image has no HTTP client. Kubernetes ignores
# HEALTHCHECK and probes /healthz and /readyz itself; for plain Docker see
# docs/operations-packaging.md (a bash /dev/tcp one-liner).
ENTRYPOINT ["/usr/local/sbin/starttls-proxy"]
CMD ["-c", "/etc/starttls-proxy/starttls-proxy.ini"]
