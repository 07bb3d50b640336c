package reader

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Magic numbers of the compression formats the collector writes. The
// content, not the name, decides, so a renamed or half-renamed file still
// reads.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// readBufferSize is large because span files are read front to back and
// big reads keep the system-call count low.
const readBufferSize = 1 << 20

// OpenFunc opens a span input by name for reading its stored bytes
// (compressed or not): a file, or an object of an object store. The Scanner
// decompresses what it returns.
type OpenFunc func(ctx context.Context, name string) (io.ReadCloser, error)

// OpenFile is the OpenFunc of span files on disk.
func OpenFile(_ context.Context, path string) (io.ReadCloser, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open span file: %w", err)
	}
	return file, nil
}

// Open opens a span file for reading, decompressing gzip and zstd files.
func Open(path string) (io.ReadCloser, error) {
	file, err := OpenFile(context.Background(), path)
	if err != nil {
		return nil, err
	}
	return Decompress(path, file)
}

// Decompress reads stored span bytes, gzip or zstd compressed or plain as
// their first bytes say, and closes raw with the result. name is only for
// messages. On error raw is closed.
func Decompress(name string, raw io.ReadCloser) (io.ReadCloser, error) {
	buffered := bufio.NewReaderSize(raw, readBufferSize)
	head, err := buffered.Peek(len(zstdMagic))
	if err != nil && err != io.EOF {
		raw.Close()
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		gz, err := gzip.NewReader(buffered)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("open gzip %s: %w", name, err)
		}
		return &decompressed{Reader: gz, close: func() error { gz.Close(); return raw.Close() }}, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(buffered, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("open zstd %s: %w", name, err)
		}
		return &decompressed{Reader: zr, close: func() error { zr.Close(); return raw.Close() }}, nil
	}
	return &decompressed{Reader: buffered, close: raw.Close}, nil
}

// decompressed closes the decoder and the input under it together.
type decompressed struct {
	io.Reader
	close func() error
}

func (d *decompressed) Close() error { return d.close() }
