#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries that envtest and the embedded
# control plane run on, from the Go module proxy, at pinned versions.
#
# setup-envtest downloads prebuilt binaries from a bucket that this project's
# machines cannot reach, so we compile the same programs from source instead.
# The result is cached outside the checkout and reused until a version changes.
#
# Usage: hack/control-plane.sh [component ...]
#   components: etcd kube-apiserver kube-controller-manager kube-scheduler
#   (default: etcd kube-apiserver, what envtest needs)
# Prints the binary directory on stdout as its last line; progress goes to stderr.
set -euo pipefail

KUBERNETES_VERSION=v1.37.2   # also pinned in hack/controlplane/go.mod
ETCD_VERSION=v3.6.16         # also pinned in hack/controlplane/etcd/go.mod

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_tag=control-plane
. "$here/lib/cached-build.sh"

bin_dir="$spansink_cache_root/control-plane/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}/bin"

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver)
for c in "${components[@]}"; do
  case "$c" in
    etcd|kube-apiserver|kube-controller-manager|kube-scheduler) ;;
    *) say "unknown component '$c' (want etcd, kube-apiserver, kube-controller-manager or kube-scheduler)"; exit 2 ;;
  esac
done

for c in "${components[@]}"; do
  case "$c" in
    # etcd's server module carries replace directives, so `go install
    # pkg@version` refuses it; hack/controlplane/etcd pins it as a tool.
    etcd) cached_go_build etcd "$bin_dir/etcd" "~1 min" "$here/controlplane/etcd" go.etcd.io/etcd/server/v3 ;;
    # hack/controlplane's go.mod replaces every k8s.io staging module with
    # its released version.
    kube-apiserver) cached_go_build "$c" "$bin_dir/$c" "~9 min" "$here/controlplane" "k8s.io/kubernetes/cmd/$c" ;;
    *) cached_go_build "$c" "$bin_dir/$c" "~5 min" "$here/controlplane" "k8s.io/kubernetes/cmd/$c" ;;
  esac
done

echo "$bin_dir"
