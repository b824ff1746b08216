#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy (no release binary can be downloaded here):
# the k8s.io/kubernetes module at a release tag, its ./staging replaces pointed at the published
# k8s.io/* modules of the same release (v1.X.Y -> v0.X.Y). Output: .devstack/bin/kube-apiserver.
#   deploy/kube/build-kube-apiserver.sh [v1.35.4]
# CPU-heavy (a few thousand packages): it runs at the lowest priority.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="${1:-v1.35.4}"
STAGING="v0${VERSION#v1}"
OUT="$PWD/.devstack/bin"
GO="$(command -v go || echo /usr/local/go/bin/go)"
say() { printf '[kube] %s\n' "$*"; }
[ -x "$OUT/kube-apiserver" ] && "$OUT/kube-apiserver" --version | grep -q "$VERSION" && exit 0

WORK="${COWORK_KUBE_BUILD_DIR:-$PWD/.devstack/kube-build}"
mkdir -p "$WORK" "$OUT"
cd "$WORK"
say "k8s.io/kubernetes $VERSION: reading its go.mod from the module proxy"
GOMOD="$("$GO" mod download -json "k8s.io/kubernetes@$VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
{
  echo "module cowork.local/kube-apiserver"
  echo
  sed -n 's/^go \(.*\)/go \1/p' "$GOMOD"
  echo
  echo "require k8s.io/kubernetes $VERSION"
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s.io/[A-Za-z0-9._-]*\) => ./staging/.*#\t\1 => \1 '"$STAGING"'#p' "$GOMOD"
  echo ")"
} > go.mod
say "resolving the module graph"
"$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$VERSION" >/dev/null 2>&1 || "$GO" mod tidy
say "compiling kube-apiserver (long: nice 19)"
started=$SECONDS
CGO_ENABLED=0 nice -n 19 "$GO" build -trimpath -ldflags "-s -w \
  -X k8s.io/component-base/version.gitVersion=$VERSION \
  -X k8s.io/client-go/pkg/version.gitVersion=$VERSION" \
  -o "$OUT/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
say "built $OUT/kube-apiserver in $((SECONDS - started)) s"
