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
cache_root=${SPANSINK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spansink}
bin_dir="$cache_root/control-plane/k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}/bin"
mkdir -p "$bin_dir"

say() { printf '[control-plane] %s\n' "$*" >&2; }

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver)

# build_kube NAME: one kube-* command from the pinned module in hack/controlplane,
# whose go.mod replaces every k8s.io staging module with its released version.
build_kube() {
  local name=$1 started
  started=$(date +%s)
  say "building $name ${KUBERNETES_VERSION} from the Go module proxy (kube-apiserver takes ~9 min cold on 2 cores; later builds reuse the Go build cache)"
  (cd "$here/controlplane" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
    -o "$bin_dir/$name.tmp" "k8s.io/kubernetes/cmd/$name") &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && say "  still compiling $name ($(( $(date +%s) - started ))s so far)"
  done
  wait "$pid"
  mv "$bin_dir/$name.tmp" "$bin_dir/$name"
  say "built $name in $(( $(date +%s) - started ))s"
}

# build_etcd: etcd's server module carries replace directives, so `go install
# pkg@version` refuses it; hack/controlplane/etcd pins it as a tool instead.
build_etcd() {
  local started
  started=$(date +%s)
  say "building etcd ${ETCD_VERSION} from the Go module proxy (~1 min)"
  (cd "$here/controlplane/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
    -o "$bin_dir/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin_dir/etcd.tmp" "$bin_dir/etcd"
  say "built etcd in $(( $(date +%s) - started ))s"
}

for c in "${components[@]}"; do
  case "$c" in
    etcd|kube-apiserver|kube-controller-manager|kube-scheduler) ;;
    *) say "unknown component '$c' (want etcd, kube-apiserver, kube-controller-manager or kube-scheduler)"; exit 2 ;;
  esac
done

for c in "${components[@]}"; do
  if [ -x "$bin_dir/$c" ]; then
    say "$c: cached in $bin_dir"
    continue
  fi
  # Two runs at once (make test in two shells, e2e next to envtest) would
  # both compile into the same $c.tmp and trip over each other's mv. One
  # lock per component: the second run waits, then finds the binary built.
  exec {lock_fd}>"$bin_dir/.$c.lock"
  if ! flock -n "$lock_fd"; then
    say "$c: another run is building it; waiting for it to finish"
    flock "$lock_fd"
  fi
  if [ -x "$bin_dir/$c" ]; then
    say "$c: built by another run, cached in $bin_dir"
  else
    case "$c" in
      etcd) build_etcd ;;
      *) build_kube "$c" ;;
    esac
  fi
  exec {lock_fd}>&-
done

echo "$bin_dir"
