#!/usr/bin/env bash
# Builds the OpenTelemetry Collector that `make bench-peer` runs beside
# spansink: hack/tools/otelcol, the OTLP receiver, batch processor and
# contrib file exporter at the release pinned in its go.mod, compiled from
# the Go module proxy once and cached outside the checkout.
#
# Usage: hack/otelcol.sh
# Prints the binary's path on stdout as its last line; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_tag=otelcol
. "$here/lib/cached-build.sh"

src="$here/tools/otelcol"
# go.mod is the one place the release is written; the hash of the module's
# files names the build, so a change to the component list rebuilds it too.
version=$(awk '$1 == "go.opentelemetry.io/collector/otelcol" { print $2 }' "$src/go.mod")
if [ -z "$version" ]; then
  say "no go.opentelemetry.io/collector/otelcol requirement in $src/go.mod"
  exit 1
fi
digest=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
bin="$spansink_cache_root/tools/otelcol-${version}-${digest}/otelcol"
cached_go_build otelcol "$bin" "~5 min" "$src" .
echo "$bin"
