# Sourced by the hack/*.sh scripts that compile a pinned third-party program
# from the Go module proxy (this project's machines reach the proxy but no
# release downloads) and keep the binary outside the checkout, so that CI on
# a clean clone builds each program once. The caller sets build_tag, the
# prefix of its progress lines.

# spansink_cache_root is where every such build is kept.
spansink_cache_root=${SPANSINK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spansink}

say() { printf '[%s] %s\n' "$build_tag" "$*" >&2; }

# cached_go_build NAME BIN ESTIMATE MODULE_DIR PACKAGE [LDFLAGS]
# leaves an executable at BIN: the one already there, or PACKAGE built in
# MODULE_DIR (whose go.mod pins it) with LDFLAGS (default '-s -w').
# Two runs at once (two test packages, e2e next to envtest) would compile
# into the same BIN.tmp and trip over each other's mv: one lock per NAME
# makes the second wait, then find the binary built. A cold build takes
# minutes, so a line every 30 s says it is still going; the poll runs in
# 2 s steps so that the build's end is not waited on for long.
cached_go_build() {
  local name=$1 bin=$2 estimate=$3 dir=$4 pkg=$5 ldflags=${6:--s -w}
  local bin_dir lock_fd started pid
  bin_dir=$(dirname "$bin")
  mkdir -p "$bin_dir"
  if [ -x "$bin" ]; then
    say "$name: cached in $bin_dir"
    return
  fi
  exec {lock_fd}>"$bin_dir/.$name.lock"
  if ! flock -n "$lock_fd"; then
    say "$name: another run is building it; waiting for it to finish"
    flock "$lock_fd"
  fi
  if [ -x "$bin" ]; then
    say "$name: built by another run, cached in $bin_dir"
    exec {lock_fd}>&-
    return
  fi
  started=$(date +%s)
  say "building $name from the Go module proxy ($estimate cold on 2 cores; later builds reuse the Go build cache)"
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$bin.tmp" "$pkg") &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 15); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 2
    done
    kill -0 "$pid" 2>/dev/null && say "  still compiling $name ($(( $(date +%s) - started ))s so far)"
  done
  wait "$pid"
  mv "$bin.tmp" "$bin"
  say "built $name in $(( $(date +%s) - started ))s"
  exec {lock_fd}>&-
}
