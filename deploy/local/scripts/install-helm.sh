#!/usr/bin/env bash
# Helm, for the chart's tests (tests/test_helm_chart.py): no release binary can be downloaded
# here, so it is built once from the Go module proxy into .devstack/bin (~2 min, then cached).
set -euo pipefail
cd "$(dirname "$0")/../../.."

HELM_VERSION="v3.22.0"
say() { printf '[setup] %s\n' "$*"; }

if command -v helm >/dev/null 2>&1 || [ -x .devstack/bin/helm ]; then
  exit 0
fi
GO="$(command -v go || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }
if [ -z "$GO" ]; then
  say "no helm and no Go toolchain: install helm ($HELM_VERSION) to run the chart's tests"
  exit 1
fi
say "building helm $HELM_VERSION from the Go module proxy (once)"
mkdir -p .devstack/bin
GOBIN="$PWD/.devstack/bin" "$GO" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
