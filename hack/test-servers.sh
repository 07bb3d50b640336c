#!/usr/bin/env bash
# Builds the third-party servers that the tests run for real, from the Go
# module proxy, at pinned versions: SeaweedFS (`weed`, an S3 server, behind
# test/s3server) and Jaeger v2 (`jaeger`, behind test/jaegerproc).
#
# Like hack/control-plane.sh: this project's machines reach the Go module
# proxy but no release downloads, so we compile the programs from source.
# The result is cached outside the checkout and reused until a version changes.
#
# Usage: hack/test-servers.sh [component ...]
#   components: seaweedfs jaeger (default: both)
# Prints the binary directory on stdout as its last line; progress goes to stderr.
set -euo pipefail

SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6  # also pinned in hack/tools/seaweedfs/go.mod
JAEGER_VERSION=v1.76.0                                # also pinned in hack/tools/jaeger/go.mod

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${SPANSINK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spansink}
# The pseudo-version's commit hash names the SeaweedFS build.
bin_dir="$cache_root/test-servers/seaweedfs-${SEAWEEDFS_VERSION##*-}-jaeger-${JAEGER_VERSION}/bin"
mkdir -p "$bin_dir"

say() { printf '[test-servers] %s\n' "$*" >&2; }

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(seaweedfs jaeger)

# build BINARY MODULE_DIR PACKAGE ESTIMATE: one command from a pinned module
# under hack/tools, with a line on stderr every 30 s so that a cold build
# (minutes) does not look like a hang.
build() {
  local name=$1 dir=$2 pkg=$3 estimate=$4 started
  started=$(date +%s)
  say "building $name from the Go module proxy ($estimate cold on 2 cores; later builds reuse the Go build cache)"
  (cd "$here/tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
    -o "$bin_dir/$name.tmp" "$pkg") &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # Sleep in steps so that a build that ends early is not waited on for 30 s.
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 2
    done
    kill -0 "$pid" 2>/dev/null && say "  still compiling $name ($(( $(date +%s) - started ))s so far)"
  done
  wait "$pid"
  mv "$bin_dir/$name.tmp" "$bin_dir/$name"
  say "built $name in $(( $(date +%s) - started ))s"
}

for c in "${components[@]}"; do
  case "$c" in
    seaweedfs|jaeger) ;;
    *) say "unknown component '$c' (want seaweedfs or jaeger)"; exit 2 ;;
  esac
done

for c in "${components[@]}"; do
  case "$c" in
    seaweedfs) bin=weed ;;
    jaeger) bin=jaeger ;;
  esac
  if [ -x "$bin_dir/$bin" ]; then
    say "$c: cached in $bin_dir"
    continue
  fi
  # Two test packages (or a test next to `make test-servers`) may start at
  # once and would both compile into the same $bin.tmp. One lock per
  # component: the second run waits, then finds the binary built.
  exec {lock_fd}>"$bin_dir/.$c.lock"
  if ! flock -n "$lock_fd"; then
    say "$c: another run is building it; waiting for it to finish"
    flock "$lock_fd"
  fi
  if [ -x "$bin_dir/$bin" ]; then
    say "$c: built by another run, cached in $bin_dir"
  else
    case "$c" in
      # SeaweedFS's go.mod replaces go-bip39, so `go install pkg@version`
      # refuses it; hack/tools/seaweedfs repeats the replace and pins it as a tool.
      seaweedfs) build weed seaweedfs github.com/seaweedfs/seaweedfs/weed "~12 min" ;;
      jaeger) build jaeger jaeger github.com/jaegertracing/jaeger/cmd/jaeger "~10 min" ;;
    esac
  fi
  exec {lock_fd}>&-
done

echo "$bin_dir"
