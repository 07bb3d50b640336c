#!/usr/bin/env bash
# Load run for docs/benchmarks.md: telemetrygen (OpenTelemetry's load
# generator, pinned in hack/tools/telemetrygen) sends spans to a fresh
# `spansink collector` over OTLP/gRPC and then over OTLP/HTTP. For each
# protocol it reports spans per second, the collector's CPU-seconds per
# million spans (utime+stime from /proc/PID/stat), its peak RSS (VmHWM) and
# the bytes per span on disk -- after checking that the files hold exactly
# the spans telemetrygen sent. Any loss fails the run.
#
# Knobs (environment): WORKERS, TRACES (per worker), CHILD_SPANS, RATE (spans
# per second per worker, 0 = unthrottled), FORMAT, DELIVERY, PROTOCOLS,
# BENCH_DIR (kept afterwards), COLLECTOR_FLAGS (extra collector flags).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORKERS=${WORKERS:-64}
TRACES=${TRACES:-8000}
CHILD_SPANS=${CHILD_SPANS:-1}
RATE=${RATE:-5000}
FORMAT=${FORMAT:-dbgpt}
DELIVERY=${DELIVERY:-Batched}
PROTOCOLS=${PROTOCOLS:-grpc http}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d -t spansink-bench.XXXXXX)}
COLLECTOR_FLAGS=${COLLECTOR_FLAGS:-}
TICKS=$(getconf CLK_TCK)
EXPECTED=$((WORKERS * TRACES * (1 + CHILD_SPANS)))

mkdir -p "$BENCH_DIR/bin"
echo "building spansink, spansink-collector and telemetrygen into $BENCH_DIR/bin" >&2
# Built as `make build` builds the image's binary.
CGO_ENABLED=0 go build -C "$ROOT" -trimpath -ldflags '-s -w' -o "$BENCH_DIR/bin/spansink" .
# As in the image: `spansink collector` runs the collector's own binary.
CGO_ENABLED=0 go build -C "$ROOT" -trimpath -ldflags '-s -w' -o "$BENCH_DIR/bin/spansink-collector" ./cmd/spansink-collector
go build -C "$ROOT/hack/tools/telemetrygen" -o "$BENCH_DIR/bin/telemetrygen" \
	github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# cpu_ticks PID: user and system CPU time in clock ticks.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# written ADMIN: spans the collector has written to its file.
written() {
	curl -fsS "http://$1/metrics" | awk '/^spansink_spans_written_total\{storage="file"\}/ {printf "%d", $2}'
}

run_protocol() {
	local proto=$1 dir="$BENCH_DIR/$1"
	rm -rf "$dir" && mkdir -p "$dir"
	# shellcheck disable=SC2086 # COLLECTOR_FLAGS is a list of flags
	"$BENCH_DIR/bin/spansink" collector --path "$dir/data/spans.jsonl" \
		--grpc-address 127.0.0.1:0 --http-address 127.0.0.1:0 --admin-address 127.0.0.1:0 \
		--format "$FORMAT" --delivery "$DELIVERY" $COLLECTOR_FLAGS 2>"$dir/collector.log" &
	local pid=$!
	local serving=""
	for _ in $(seq 200); do
		serving=$(grep -m1 '"collector serving"' "$dir/collector.log" || true)
		[ -n "$serving" ] && break
		kill -0 "$pid" 2>/dev/null || fail "collector exited at start: $(cat "$dir/collector.log")"
		sleep 0.05
	done
	[ -n "$serving" ] || fail "collector did not start"
	local grpc http admin endpoint
	grpc=$(jq -r .otlpGrpc <<<"$serving")
	http=$(jq -r .otlpHttp <<<"$serving")
	admin=$(jq -r .admin <<<"$serving")
	local tgflags=(--otlp-insecure)
	if [ "$proto" = http ]; then
		endpoint=$http
		tgflags+=(--otlp-http)
	else
		endpoint=$grpc
	fi

	local user0 sys0 start
	read -r user0 sys0 < <(cpu_ticks "$pid")
	start=$(date +%s.%N)
	# telemetrygen's SDK queue drops spans silently when it fills: make it
	# big enough to hold a worker's burst.
	OTEL_BSP_MAX_QUEUE_SIZE=1000000 "$BENCH_DIR/bin/telemetrygen" traces "${tgflags[@]}" \
		--otlp-endpoint "$endpoint" --workers "$WORKERS" --traces "$TRACES" \
		--child-spans "$CHILD_SPANS" --rate "$RATE" >"$dir/telemetrygen.log" 2>&1 ||
		fail "telemetrygen failed: $(tail -5 "$dir/telemetrygen.log")"
	# Wait until the collector has written everything it was sent (its next
	# interval flush at the latest), then take the figures.
	local got=0
	for _ in $(seq 600); do
		got=$(written "$admin")
		[ "$got" -ge "$EXPECTED" ] && break
		sleep 0.1
	done
	local end user1 sys1 hwm
	end=$(date +%s.%N)
	read -r user1 sys1 < <(cpu_ticks "$pid")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	kill -TERM "$pid"
	wait "$pid" || fail "collector exited with $? after SIGTERM: $(tail -5 "$dir/collector.log")"

	local lines bytes
	lines=$(cat "$dir"/data/spans* | wc -l)
	bytes=$(cat "$dir"/data/spans* | wc -c)
	[ "$lines" -eq "$EXPECTED" ] || fail "$proto: the files hold $lines spans, telemetrygen sent $EXPECTED"
	grep -q '"error"' "$dir/telemetrygen.log" && fail "$proto: telemetrygen reported errors: $(grep -m3 '"error"' "$dir/telemetrygen.log")"
	awk -v proto="$proto" -v spans="$EXPECTED" -v start="$start" -v end="$end" \
		-v user="$((user1 - user0))" -v sys="$((sys1 - sys0))" -v ticks="$TICKS" -v hwm="$hwm" -v bytes="$bytes" 'BEGIN {
		secs = end - start
		m = spans / 1e6
		printf "%-5s spans=%d  %.0f spans/s  %.2f CPU-s per million spans (user %.2f, system %.2f)  peak RSS %.1f MiB  %.0f bytes/span\n",
			proto, spans, spans / secs, (user + sys) / ticks / m, user / ticks / m, sys / ticks / m, hwm / 1024, bytes / spans
	}'
}

echo "load: $WORKERS workers x $TRACES traces x $((1 + CHILD_SPANS)) spans = $EXPECTED spans per protocol, rate $RATE/worker, format $FORMAT, delivery $DELIVERY" >&2
for proto in $PROTOCOLS; do
	run_protocol "$proto"
done
echo "files and logs kept in $BENCH_DIR" >&2
