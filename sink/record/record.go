// Package record is the contract between ingest and storage: ingest decodes
// requests and encodes them into Records in the configured on-disk format,
// then hands them to a Submitter; the batcher behind it writes them out.
//
// Encoding happens on the request's goroutine, so the work spreads over all
// cores and the single writer only copies bytes.
package record

import (
	"context"
	"errors"
)

// Record is one line of a span file: a complete JSON object without the
// trailing newline, holding Spans spans (one for the dbgpt format, one or
// more for otlp-json, none for the start record that the dbgpt format's
// startEnd option writes before a finished span's end record, so that the
// span is counted once).
type Record struct {
	Line  []byte
	Spans int
}

// Submitter accepts records for storage. Submit returns once the records are
// acknowledged as the delivery mode defines it: queued (Batched) or written
// and fsynced (Durable). It returns one of the errors below, possibly
// wrapped, when it did not take the records; records it did not take are not
// stored, so the client may safely retry them.
//
// A Submit that returns because ctx ended (the client went away or its
// deadline passed; the error wraps ctx.Err()) is different: its outcome is
// unknown. In Durable mode the records may already be queued and will then be
// written like any others, so they may be stored although Submit failed.
// Callers must not promise the client that nothing was stored, nor suggest a
// retry that could store the records twice.
type Submitter interface {
	Submit(ctx context.Context, records []Record) error
}

var (
	// ErrQueueFull means the bounded queue has no room; the client should back off and retry.
	ErrQueueFull = errors.New("span queue is full")
	// ErrStopping means the collector is shutting down and takes no new data.
	ErrStopping = errors.New("collector is stopping")
	// ErrStorageUnavailable means storage is failing (full disk, I/O error); the client should retry later.
	ErrStorageUnavailable = errors.New("storage is unavailable")
	// ErrTooLarge means the records hold more spans than the queue can ever
	// hold; a retry cannot help, the client must split the request.
	ErrTooLarge = errors.New("request holds more spans than the span queue can hold")
)
