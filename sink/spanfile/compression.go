package spanfile

// Compression is what a rotated file is compressed with. It is part of the
// naming contract because it decides the suffix appended to the rotated
// file's name; the values are those of the collector's
// storage.rotation.compress setting (sink/config uses this type) and of
// the SpanSink's spec.storage.rotation.compress (api/v1alpha1 too), so the
// CRD's validation is declared here.
// +kubebuilder:validation:Enum=none;gzip;zstd
type Compression string

const (
	// None keeps rotated files as written, so they can be read (and
	// tailed) with plain text tools. A rotated file that is not compressed
	// has the zero Compression, which means the same.
	None Compression = "none"
	// Gzip compresses rotated files with gzip and appends ".gz": readable
	// everywhere, at some CPU cost.
	Gzip Compression = "gzip"
	// Zstd compresses rotated files with zstd and appends ".zst": faster
	// and smaller than gzip, for readers that have zstd.
	Zstd Compression = "zstd"
)

// Compressed file suffixes, appended to a rotated file's name.
const (
	gzipSuffix = ".gz"
	zstdSuffix = ".zst"
)

// Compresses reports whether c asks for compression: anything but None
// and the zero value. An unknown value does too, so that the writer
// reports it as a failure to compress instead of quietly keeping files
// plain (config validation refuses such values before they get there).
func (c Compression) Compresses() bool { return c != "" && c != None }

// Suffix is what c appends to a rotated file's name: ".gz" for Gzip,
// ".zst" for Zstd, and "" for None, the zero value and an unknown value.
func (c Compression) Suffix() string {
	switch c {
	case Gzip:
		return gzipSuffix
	case Zstd:
		return zstdSuffix
	}
	return ""
}
