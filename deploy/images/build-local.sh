#!/usr/bin/env bash
# Builds Cowork's images where no container registry answers (this project's machines): a
# Docker engine started without networks, a Debian base made with debootstrap from the apt
# mirror, then the Dockerfiles of deploy/images on top. Needs root.
#   deploy/images/build-local.sh [TAG]   the services' image only (default cowork:dev; make image)
#   deploy/images/build-local.sh --all   every image (make images):
#       cowork:dev            the services (deploy/images/Dockerfile)
#       cowork-kafka:dev      Apache Kafka, KRaft (one node, or one of a cluster), from the
#                             local stack's Maven jars
#       cowork-postgres:dev   Debian's PostgreSQL 15 with btree_gist
#       cowork-smtp-sink:dev  aiosmtpd keeping messages in a Maildir
# Afterwards: DOCKER_HOST=unix://$PWD/.devstack/docker/docker.sock docker run --network host ...
set -euo pipefail
cd "$(dirname "$0")/../.."

ALL=false
if [ "${1:-}" = "--all" ]; then ALL=true; shift; fi
TAG="${1:-cowork:dev}"
STATE="$PWD/.devstack/docker"
export DOCKER_HOST="unix://$STATE/docker.sock"
say() { printf '[image] %s\n' "$*"; }
VERSION="$(sed -n 's/^appVersion: *"\(.*\)"/\1/p' deploy/helm/cowork/Chart.yaml)"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LABELS=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED")

command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || {
  say "installing docker.io and debootstrap from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
}
mkdir -p "$STATE"
if ! docker info >/dev/null 2>&1; then
  say "starting a Docker engine without networks (containers use the host's)"
  # setsid: the engine outlives this script and the make that ran it, in its own session.
  setsid dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
    -H "$DOCKER_HOST" --data-root "$STATE/data" --exec-root "$STATE/exec" \
    --pidfile "$STATE/dockerd.pid" >"$STATE/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
fi

if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
  MIRROR="$(grep -rhE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?$' | head -1 || true)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  ROOTFS="$(mktemp -d)"
  say "debootstrap bookworm from $MIRROR"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >/dev/null
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  # Security fixes and point updates, as the official images have them.
  cat > "$ROOTFS/etc/apt/sources.list" <<SOURCES
deb ${MIRROR%/} bookworm main
deb ${MIRROR%/} bookworm-updates main
deb ${MIRROR%/}-security bookworm-security main
SOURCES
  tar -C "$ROOTFS" -c . | docker import -c 'CMD ["bash"]' -c 'ENV LANG=C.UTF-8' - local/debian:bookworm >/dev/null
  rm -rf "$ROOTFS"
fi
if ! docker image inspect local/python:3.11-bookworm >/dev/null 2>&1; then
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

build() {  # build NAME TAG DOCKERFILE CONTEXT [extra args...]
  local name="$1" tag="$2" dockerfile="$3" context="$4"; shift 4
  local started=$SECONDS
  say "building $tag"
  docker build --network host "${LABELS[@]}" "$@" -f "$dockerfile" -t "$tag" "$context" \
    > "$STATE/build-$name.log" 2>&1 || { tail -30 "$STATE/build-$name.log"; exit 1; }
  say "built $tag in $((SECONDS - started)) s"
}

build services "$TAG" deploy/images/Dockerfile . --build-arg BASE=local/python:3.11-bookworm
$ALL || exit 0

# Kafka: the jars the local stack resolved from Maven Central, the same broker settings.
KAFKA_CONTEXT="$(mktemp -d)"
trap 'rm -rf "$KAFKA_CONTEXT"' EXIT
LIBS="$(uv run --quiet cowork-devstack jars | sed -n 's/^kafka jars in //p')"
cp -r "$LIBS" "$KAFKA_CONTEXT/libs"
cp deploy/images/kafka/entrypoint.sh deploy/local/kafka/log4j2.xml "$KAFKA_CONTEXT/"
uv run --quiet python -c 'from cowork.devstack.stack import kafka_server_properties as p
print(p("@PORT@", "@CONTROLLER_PORT@", "@DATA@"), end="")' > "$KAFKA_CONTEXT/server.properties.template"
# One node of a static quorum of three or more: replication 3, min.insync.replicas 2.
uv run --quiet python -c 'from cowork.devstack.stack import kafka_server_properties as p
print(p("@PORT@", "@CONTROLLER_PORT@", "@DATA@", node_id="@NODE_ID@", voters="@VOTERS@",
        replicas=3), end="")' > "$KAFKA_CONTEXT/cluster.properties.template"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/local/kafka/pom.xml)"
build kafka cowork-kafka:dev deploy/images/kafka/Dockerfile "$KAFKA_CONTEXT" \
  --build-arg "KAFKA_VERSION=$KAFKA_VERSION"
build postgres cowork-postgres:dev deploy/images/postgres/Dockerfile deploy/images/postgres
build smtp-sink cowork-smtp-sink:dev deploy/images/smtp-sink/Dockerfile deploy/images/smtp-sink
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^cowork'
