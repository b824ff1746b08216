#!/usr/bin/env bash
# Builds the Cowork image where no container registry answers (this project's machines): a
# Docker engine started without networks, a Debian base made with debootstrap from the apt
# mirror, Python from Debian's packages, then deploy/images/Dockerfile on top. Needs root.
#   deploy/images/build-local.sh [TAG]     (default cowork:dev)
# Afterwards: DOCKER_HOST=unix://$PWD/.devstack/docker/docker.sock docker run --network host ...
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG="${1:-cowork:dev}"
STATE="$PWD/.devstack/docker"
export DOCKER_HOST="unix://$STATE/docker.sock"
say() { printf '[image] %s\n' "$*"; }

command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || {
  say "installing docker.io and debootstrap from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
}
mkdir -p "$STATE"
if ! docker info >/dev/null 2>&1; then
  say "starting a Docker engine without networks (containers use the host's)"
  dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    -H "$DOCKER_HOST" --data-root "$STATE/data" --exec-root "$STATE/exec" \
    --pidfile "$STATE/dockerd.pid" >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 50); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
fi

if ! docker image inspect local/python:3.11-bookworm >/dev/null 2>&1; then
  MIRROR="$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?$' | head -1 || true)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  ROOTFS="$(mktemp -d)"
  say "debootstrap bookworm from $MIRROR"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  tar -C "$ROOTFS" -c . | docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - local/debian:bookworm >/dev/null
  rm -rf "$ROOTFS"
  say "local/python:3.11-bookworm: Debian's python3 and pip, trusting this machine's CAs"
  CONTEXT="$(mktemp -d)"
  # Extra CAs this machine trusts (e.g. a TLS-inspecting proxy in front of PyPI) go in too.
  cp /usr/local/share/ca-certificates/*.crt "$CONTEXT"/ 2>/dev/null || true
  cat >"$CONTEXT/Dockerfile" <<'DOCKERFILE'
FROM local/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip \
    python3-venv ca-certificates && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
COPY *.crt /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt
DOCKERFILE
  [ -n "$(ls "$CONTEXT"/*.crt 2>/dev/null)" ] || touch "$CONTEXT/none.crt"
  docker build --network host -t local/python:3.11-bookworm "$CONTEXT" >/dev/null
  rm -rf "$CONTEXT"
fi

say "building $TAG"
docker build --network host --build-arg BASE=local/python:3.11-bookworm \
  -f deploy/images/Dockerfile -t "$TAG" .
say "built $TAG"
