package reader

import (
	"bufio"
	"bytes"
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

// Open opens a span file for reading, decompressing gzip and zstd files.
func Open(path string) (io.ReadCloser, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open span file: %w", err)
	}
	buffered := bufio.NewReaderSize(file, readBufferSize)
	head, err := buffered.Peek(len(zstdMagic))
	if err != nil && err != io.EOF {
		file.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		gz, err := gzip.NewReader(buffered)
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("open gzip %s: %w", path, err)
		}
		return &decompressed{Reader: gz, close: func() error { gz.Close(); return file.Close() }}, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(buffered, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("open zstd %s: %w", path, err)
		}
		return &decompressed{Reader: zr, close: func() error { zr.Close(); return file.Close() }}, nil
	}
	return &decompressed{Reader: buffered, close: file.Close}, nil
}

// decompressed closes the decoder and the file under it together.
type decompressed struct {
	io.Reader
	close func() error
}

func (d *decompressed) Close() error { return d.close() }
