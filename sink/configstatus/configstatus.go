// Package configstatus is what a collector says on its admin port about
// the config it applies and how its uploads go, and what the operator reads
// there: the collector writes these types and the operator decodes them, so
// that the operator needs this contract and not the collector's code.
package configstatus

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Path is the admin endpoint that tells which config the collector applies
// and how its uploads go. It is open like /metrics: it shows hashes, the
// bucket, counts and the last upload error, never span contents or
// credentials.
const Path = "/config"

// Status is the answer of GET Path on the admin port. The operator reads
// it to fill status.appliedConfigHash and the ConfigApplied condition: it
// compares AppliedHash with the Hash of the ConfigMap's collector.yaml
// (Applied when they match, Refused when RefusedHash matches it, Pending
// otherwise).
type Status struct {
	// AppliedHash is the Hash of the bytes of the config file in force;
	// without --config, of the rendered effective config.
	AppliedHash string `json:"appliedHash"`
	// Generation is 1 at start and grows by one with every applied change.
	Generation int64 `json:"generation"`
	// AppliedAt is when the config in force was applied (RFC 3339).
	AppliedAt time.Time `json:"appliedAt"`
	// RefusedHash is the hash of the latest content that was refused, if
	// the file holds it still; empty otherwise.
	RefusedHash string `json:"refusedHash,omitempty"`
	// RefusedError says why RefusedHash was refused.
	RefusedError string `json:"refusedError,omitempty"`
	// Upload is how shipping to the object store goes, absent without
	// one; the operator turns it into the Uploaded condition.
	Upload *Upload `json:"upload,omitempty"`
}

// Upload is what the object-store uploader reports in Status and in its
// metrics.
type Upload struct {
	// Bucket is where files go.
	Bucket string `json:"bucket"`
	// PendingFiles and PendingBytes are the sealed files not yet confirmed.
	PendingFiles int   `json:"pendingFiles"`
	PendingBytes int64 `json:"pendingBytes"`
	// OldestPending is when the oldest of them was sealed.
	OldestPending time.Time `json:"oldestPending,omitzero"`
	// LastUpload is when the store last confirmed a file.
	LastUpload time.Time `json:"lastUpload,omitzero"`
	// LastError is why the latest attempt failed, empty once one passes.
	LastError string `json:"lastError,omitempty"`
	// FailingSince is when attempts started failing, zero while they pass.
	FailingSince time.Time `json:"failingSince,omitzero"`
}

// Hash is how AppliedHash and RefusedHash are computed from a config
// file's bytes: lowercase hex SHA-256.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
