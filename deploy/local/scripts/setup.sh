#!/usr/bin/env bash
# Installs what `make run` and `make test` need, and only what is missing: uv, Java and Maven
# (for Kafka's jars), the Python workspace, and Kafka's jars themselves. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../../.."

say() { printf '[setup] %s\n' "$*"; }

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    say "missing $*; install it with your package manager (not root here)"; exit 1
  fi
  say "installing $* from Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv
  hash -r
fi
command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null 2>&1 || apt_install maven

say "syncing the Python workspace"
uv sync --all-packages --quiet

say "resolving Kafka's jars (cached after the first run)"
uv run --quiet cowork-devstack jars
say "done"
