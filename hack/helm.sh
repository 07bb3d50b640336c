#!/usr/bin/env bash
# Builds helm, at the version pinned in hack/tools/helm/go.mod, from the Go
# module proxy: the chart's tests (helm lint, helm template against
# kustomize) and the e2e install run the real helm. The binary is cached
# outside the checkout and reused until the version changes.
#
# Usage: hack/helm.sh
# Prints the helm binary's path on stdout as its last line; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_tag=helm
. "$here/lib/cached-build.sh"

# go.mod is the one place the version is written.
HELM_VERSION=$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$here/tools/helm/go.mod")
if [ -z "$HELM_VERSION" ]; then
  say "no helm.sh/helm/v3 requirement in $here/tools/helm/go.mod"
  exit 1
fi
helm="$spansink_cache_root/tools/helm-${HELM_VERSION}/helm"
# helm's own Makefile stamps the version the same way; without it
# `helm version` says only the minor version.
cached_go_build helm "$helm" "~6 min" "$here/tools/helm" helm.sh/helm/v3/cmd/helm \
  "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
echo "$helm"
