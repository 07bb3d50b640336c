// Package batch queues the records ingest submits and hands them to the
// storages in batches, like DB-GPT's SpanStorageContainer: a flush happens
// when batch.size spans wait or flushInterval has passed since the last
// flush, whichever comes first.
//
// Unlike DB-GPT, the queue is bounded (Submit returns record.ErrQueueFull
// rather than dropping or blocking), a failing storage is retried rather
// than skipped, and each storage has its own writer goroutine so a slow or
// failing one never holds up the others. In Durable mode Submit returns only
// after the records are written and fsynced, with group commit: whatever
// arrives while one write and fsync is under way goes into the next.
//
// Data flows one way: Batcher → one writer per storage → storage.
//
//   - batcher.go: the Batcher, the only type ingest sees. It admits records
//     into the bounded queue, decides when a batch is flushed (size,
//     interval, Close, or at once in Durable mode), hands every batch to
//     every writer, and owns the lifecycle (Reconfigure, Close).
//   - options.go: Options and Tuning, what may change on a running Batcher.
//   - item.go: one batch on its way to every storage, counting the storages
//     not yet done with it.
//   - inbox.go: a writer's own queue of batches, and the grouping of what
//     waits into one write (group commit).
//   - writer.go: a writer knows its storage, its inbox, two signals from
//     Close (stop probing, give up retrying) and one callback by which it
//     reports that it is done with a batch. It writes, retries with backoff,
//     probes a failing storage and answers Durable requests; it never calls
//     into the Batcher otherwise. The Batcher asks it whether its storage
//     fails (admission, readiness).
//   - clock.go: the clock the flusher and the backoff wait on, injected so
//     that tests move time on instead of sleeping.
//   - metrics.go: the Prometheus series of the queue and of each storage.
package batch
