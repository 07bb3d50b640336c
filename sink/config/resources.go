package config

// The memory a collector may hold follows from its config, so the operator
// derives the pod's memory request and limit, and the Go soft memory limit
// inside it, from the config alone, here, in one place:
//
//   - Queued spans: every span waiting for a flush is held in memory,
//     batch.maxQueuedSpans of them at most. QueuedSpanBytes (1 KiB) is a
//     generous size for one: a dbgpt line of a chat span with a prompt is
//     a few hundred bytes, and attribute values over
//     limits.maxAttributeValueBytes are cut.
//   - In-flight requests: limits.maxInflightBytes bounds the bodies held
//     at once over both OTLP ports. Each body is held next to its decoded
//     form, which the decoders make about twice as large as the wire bytes
//     (strings copied out, a struct per span and attribute), so in-flight
//     bodies cost inflightFactor (3) times their size.
//   - The /debug/spans ring, debug.recentSpansBytes, when debug is on.
//   - Go runtime memory the collector holds whatever its load: goroutine
//     stacks, connection buffers, the metrics registry (goRuntimeBytes).
//   - Memory outside the Go runtime that the pod's cgroup is charged for:
//     the binary's mapped text, page cache of the span files being
//     written, socket buffers (nonGoBytes).
//
// The Go soft memory limit (GOMEMLIMIT) covers everything but the last
// item, so the garbage collector works hardest just before the pod limit
// and never while the collector holds only what the config lets it.

const (
	// QueuedSpanBytes is the memory one queued span is taken to hold.
	QueuedSpanBytes = 1 << 10
	// inflightFactor is a request body and its decoded form, per body byte.
	inflightFactor = 3
	// goRuntimeBytes is the Go memory a collector holds at any load.
	goRuntimeBytes = 32 << 20
	// nonGoBytes is the pod memory outside the Go runtime's count.
	nonGoBytes = 32 << 20
	// mebibyte rounds the bounds up, so they read as whole "Mi" quantities.
	mebibyte = 1 << 20
)

// MemoryBounds returns the pod memory request and limit in bytes for a
// collector running c. The limit is all the collector may hold (a full
// queue, every in-flight body decoded, the debug ring) plus the runtime and
// the memory outside it; the request is what a collector under steady load
// holds: one batch waiting and the largest request being decoded. Both are
// rounded up to whole mebibytes.
func (c Config) MemoryBounds() (request, limit int64) {
	base := int64(goRuntimeBytes + nonGoBytes)
	limit = base + int64(c.Batch.MaxQueuedSpans)*QueuedSpanBytes + inflightFactor*c.Limits.MaxInflightBytes
	if c.Debug.Enabled {
		limit += c.Debug.RecentSpansBytes
	}
	request = base + int64(c.Batch.Size)*QueuedSpanBytes + inflightFactor*c.Limits.MaxRequestBytes
	return roundUpMiB(request), roundUpMiB(limit)
}

// SoftMemoryLimit is the Go soft memory limit for a pod memory limit: the
// pod limit less the memory outside the Go runtime, so that the garbage
// collector steps up before the kernel kills the pod. A pod limit too small
// for that margin gets half of it as the soft limit.
func SoftMemoryLimit(podLimit int64) int64 {
	return max(podLimit-nonGoBytes, podLimit/2)
}

func roundUpMiB(n int64) int64 {
	return (n + mebibyte - 1) / mebibyte * mebibyte
}
