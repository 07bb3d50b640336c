#!/usr/bin/env bash
# Builds helm, at the version pinned in hack/tools/helm/go.mod, from the Go
# module proxy: the chart's tests (helm lint, helm template against
# kustomize) and the e2e install run the real helm, and this project's
# machines reach the Go module proxy but no release downloads.
# The binary is cached outside the checkout and reused until the version
# changes, so CI on a clean clone builds it once.
#
# Usage: hack/helm.sh
# Prints the helm binary's path on stdout as its last line; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# go.mod is the one place the version is written.
HELM_VERSION=$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$here/tools/helm/go.mod")
if [ -z "$HELM_VERSION" ]; then
  echo "[helm] no helm.sh/helm/v3 requirement in $here/tools/helm/go.mod" >&2
  exit 1
fi
cache_root=${SPANSINK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spansink}
bin_dir="$cache_root/tools/helm-${HELM_VERSION}"
helm="$bin_dir/helm"
mkdir -p "$bin_dir"

say() { printf '[helm] %s\n' "$*" >&2; }

if [ -x "$helm" ]; then
  say "helm ${HELM_VERSION}: cached in $bin_dir"
  echo "$helm"
  exit 0
fi

# Two test packages (or a test next to `make helm`) may start at once and
# would both compile into helm.tmp: the second waits, then finds it built.
exec {lock_fd}>"$bin_dir/.helm.lock"
if ! flock -n "$lock_fd"; then
  say "another run is building helm; waiting for it to finish"
  flock "$lock_fd"
fi
if [ -x "$helm" ]; then
  say "helm ${HELM_VERSION}: built by another run, cached in $bin_dir"
  echo "$helm"
  exit 0
fi

started=$(date +%s)
say "building helm ${HELM_VERSION} from the Go module proxy (~6 min cold on 2 cores; later builds reuse the Go build cache)"
# helm's own Makefile stamps the version the same way; without it
# `helm version` says only the minor version.
(cd "$here/tools/helm" && CGO_ENABLED=0 go build -trimpath \
  -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
  -o "$helm.tmp" helm.sh/helm/v3/cmd/helm) &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  # Sleep in steps so that a build that ends early is not waited on for 30 s.
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 2
  done
  kill -0 "$pid" 2>/dev/null && say "  still compiling helm ($(( $(date +%s) - started ))s so far)"
done
wait "$pid"
mv "$helm.tmp" "$helm"
say "built helm ${HELM_VERSION} in $(( $(date +%s) - started ))s"
echo "$helm"
