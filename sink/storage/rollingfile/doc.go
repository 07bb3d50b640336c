// Package rollingfile writes span records to a JSON-lines file that rolls
// over by day and by size, keeps a bounded number of rotated files and can
// compress them in the background.
//
// # On-disk contract
//
// The file names are a contract with readers (sink/reader, people with
// shell tools, the OpenTelemetry Collector's otlpjsonfile receiver) and
// live in their own package, sink/spanfile, which this package makes its
// names with and readers take them apart with: the active file
// <base><ext>, dated files <base>_<YYYY-MM-DD><ext>, size-rolled ones
// <base>_<YYYY-MM-DD>.<N><ext>, and <rotated name>.gz or .zst once
// compressed. What this package promises about the files' content and
// when names change never changes without a migration either:
//
//   - Every line is one complete JSON object followed by '\n'. Lines are
//     appended whole; an existing file is appended to, never truncated,
//     except that a damaged end is cut off when the file is opened: a torn
//     last line (no trailing '\n', left by a crash in the middle of a
//     write), and, within the last 8 MiB, everything from the first line
//     that is not valid JSON (a power loss can leave zeros where unsynced
//     data was). After a failed write or fsync the file is cut back to its
//     last whole (respectively fsynced) line before the next append.
//   - Daily rollover: at the first write of a new day (UTC unless configured
//     otherwise) the active file is renamed to its dated name, where the
//     date is the day the file's lines were written. The day of an
//     existing file is judged from its modification time when it is opened,
//     so a collector that restarts after midnight still rolls yesterday's
//     file away before writing today's first line.
//   - Size rotation happens before a write that would take the active file
//     past the size limit. The first rotated file of a day has no number;
//     later ones of the same day get N = 1, 2, ... increasing: one past the
//     highest of the day still in the directory, and at least
//     FirstFreeIndex, which the uploader sets so that the number of a file
//     shipped and removed from the volume is not used again.
//   - Rotated files may be compressed in the background. The compressed
//     file is written under <final name>.tmp and renamed when complete, so
//     a file under a final name is always whole. If a crash leaves both a
//     rotated file and its compressed twin, both hold the same lines; the
//     uncompressed one is removed on the next start.
//   - Retention (MaxFiles, MaxAge) applies to rotated files only; the active
//     file is never removed.
//   - Files that start with <base>_ but do not follow these names are
//     reported in the log and a metric, and left alone.
package rollingfile
