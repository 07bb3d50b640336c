// Package storage is the contract between the batcher and the places spans
// end up: the rolling file on the volume and the in-memory ring behind
// /debug/spans. The batcher gives every storage its own writer goroutine, so
// a storage may block or fail without holding up the others.
package storage

import "github.com/spansink/spansink/sink/record"

// Storage takes batches of records. Implementations are called from one
// goroutine at a time, but must tolerate Close being called after a failed
// Write or Sync.
type Storage interface {
	// Name identifies the storage in logs and metric labels ("file", "memory").
	Name() string
	// Write stores the records in order, whole or not at all: when it
	// returns an error none of the batch is kept, so the batcher can retry
	// the same batch without writing any line twice. It takes no ownership
	// of the records: it must copy what it keeps beyond the call.
	Write(batch []record.Record) error
	// Sync makes everything written so far durable (flush and fsync).
	Sync() error
	// Close syncs and releases the storage; Write after Close fails.
	Close() error
}
