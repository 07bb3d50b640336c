// Package spanfile is the naming contract of span files: how the active
// file, its dated and size-rolled siblings and their compressed forms are
// named, and how such a name is taken apart again. The writer
// (sink/storage/rollingfile) makes the names; the reader (sink/reader and
// its s3read and cli packages) and the object store's uploader and key
// layout (sink/objectstore) take them apart. All of them use this one
// package, so a name one of them makes is a name the others read, and the
// reader needs nothing of the writer. It imports nothing of the project.
//
// # The names are a contract
//
// Files already on volumes and objects already in buckets carry these
// names, and people's tools rely on them (shell globs, the OpenTelemetry
// Collector's otlpjsonfile receiver, query engines partitioned by day).
// After an upgrade every existing name must still be read as it was, so
// the format does not change without a compatibility plan: a new form may
// only be added if every old name still parses to the same base, day,
// index and compression. The tests here pin the current forms.
//
//   - The active file is <base><ext>, e.g. spans.jsonl. A configured path
//     without an extension gets ".log", as DB-GPT does: "spans" is written
//     as spans.log, and ".jsonl" (all base) as .jsonl.log (see SplitPath).
//   - A dated file is <base>_<YYYY-MM-DD><ext>: the active file renamed at
//     a daily or size rotation, where the date is the day the file's lines
//     were written (see DayLayout and RotatedName).
//   - Later size-rolled files of the same day are
//     <base>_<YYYY-MM-DD>.<N><ext> with N = 1, 2, ... in decimal without
//     leading zeros. Index 0 is the un-numbered dated file. The order of a
//     day's files is the un-numbered one, then N ascending; a plain lexical
//     sort does not give this order (.10 sorts before .2), so order with
//     Rotated.Before or Rotated.Compare.
//   - A compressed rotated file is <rotated name>.gz (gzip) or
//     <rotated name>.zst (zstd); see Compression.Suffix. While it is being
//     written it is <final name>.tmp (see TmpSuffix and Temporary), so a
//     file under a final name is always whole, and readers skip the
//     temporary one, whose lines are still in the plain file.
//   - The writer's other files beside the active one are hidden: the
//     volume probe .<base><ext>.probe and the uploader's manifest
//     .<base><ext>.uploaded (sink/objectstore). They do not start with
//     <base>_, so they never parse as rotated files, and a reader given a
//     directory skips names that start with ".".
//   - When a base itself ends in _<YYYY-MM-DD>, a name taken apart without
//     knowing its active file (ParseName) reads the rightmost date as the
//     rotation's.
package spanfile
