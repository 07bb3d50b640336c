#!/usr/bin/env bash
# Builds the third-party servers that the tests run for real, from the Go
# module proxy, at pinned versions: SeaweedFS (`weed`, an S3 server, behind
# test/s3server) and Jaeger v2 (`jaeger`, behind test/jaegerproc). The
# result is cached outside the checkout and reused until a version changes.
#
# Usage: hack/test-servers.sh [component ...]
#   components: seaweedfs jaeger (default: both)
# Prints the binary directory on stdout as its last line; progress goes to stderr.
set -euo pipefail

SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6  # also pinned in hack/tools/seaweedfs/go.mod
JAEGER_VERSION=v1.76.0                                # also pinned in hack/tools/jaeger/go.mod

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_tag=test-servers
. "$here/lib/cached-build.sh"

# The pseudo-version's commit hash names the SeaweedFS build.
bin_dir="$spansink_cache_root/test-servers/seaweedfs-${SEAWEEDFS_VERSION##*-}-jaeger-${JAEGER_VERSION}/bin"

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(seaweedfs jaeger)
for c in "${components[@]}"; do
  case "$c" in
    seaweedfs|jaeger) ;;
    *) say "unknown component '$c' (want seaweedfs or jaeger)"; exit 2 ;;
  esac
done

for c in "${components[@]}"; do
  case "$c" in
    # SeaweedFS's go.mod replaces go-bip39, so `go install pkg@version`
    # refuses it; hack/tools/seaweedfs repeats the replace and pins it as a tool.
    seaweedfs) cached_go_build seaweedfs "$bin_dir/weed" "~12 min" "$here/tools/seaweedfs" github.com/seaweedfs/seaweedfs/weed ;;
    jaeger) cached_go_build jaeger "$bin_dir/jaeger" "~10 min" "$here/tools/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger ;;
  esac
done

echo "$bin_dir"
