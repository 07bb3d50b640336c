#!/usr/bin/env bash
# Builds the OpenTelemetry Collector that `make bench-peer` runs beside
# spansink: hack/tools/otelcol, the OTLP receiver, batch processor and
# contrib file exporter at the release pinned in its go.mod. This project's
# machines reach the Go module proxy but no release downloads, so it is
# compiled from source, once, and cached outside the checkout.
#
# Usage: hack/otelcol.sh
# Prints the binary's path on stdout as its last line; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/tools/otelcol"
# go.mod is the one place the release is written; the hash of the module's
# files names the build, so a change to the component list rebuilds it too.
version=$(awk '$1 == "go.opentelemetry.io/collector/otelcol" { print $2 }' "$src/go.mod")
if [ -z "$version" ]; then
  echo "[otelcol] no go.opentelemetry.io/collector/otelcol requirement in $src/go.mod" >&2
  exit 1
fi
digest=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)
cache_root=${SPANSINK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spansink}
bin_dir="$cache_root/tools/otelcol-${version}-${digest}"
bin="$bin_dir/otelcol"
mkdir -p "$bin_dir"

say() { printf '[otelcol] %s\n' "$*" >&2; }

if [ -x "$bin" ]; then
  say "otelcol ${version}: cached in $bin_dir"
  echo "$bin"
  exit 0
fi

# A second `make bench-peer` started during a cold build waits for the first
# instead of compiling into the same temporary file.
exec {lock_fd}>"$bin_dir/.otelcol.lock"
if ! flock -n "$lock_fd"; then
  say "another run is building otelcol; waiting for it to finish"
  flock "$lock_fd"
fi
if [ -x "$bin" ]; then
  say "otelcol ${version}: built by another run, cached in $bin_dir"
  echo "$bin"
  exit 0
fi

started=$(date +%s)
say "building otelcol ${version} from the Go module proxy (~5 min cold on 2 cores; later builds reuse the Go build cache)"
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .) &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  # Poll in short steps so that the build's end is noticed within 2 s.
  for _ in $(seq 15); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 2
  done
  kill -0 "$pid" 2>/dev/null && say "  still compiling otelcol ($(( $(date +%s) - started ))s so far)"
done
wait "$pid"
mv "$bin.tmp" "$bin"
say "built otelcol ${version} in $(( $(date +%s) - started ))s"
echo "$bin"
