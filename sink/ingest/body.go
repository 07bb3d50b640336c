package ingest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// errBodyTooLarge is answered with 413.
type errBodyTooLarge struct {
	limit        int64
	decompressed bool
}

func (e errBodyTooLarge) Error() string {
	if e.decompressed {
		return fmt.Sprintf("request body exceeds the limit of %d bytes after decompression", e.limit)
	}
	return fmt.Sprintf("request body exceeds the limit of %d bytes", e.limit)
}

// errUnsupportedEncoding is answered with 415.
type errUnsupportedEncoding struct{ encoding string }

func (e errUnsupportedEncoding) Error() string {
	return fmt.Sprintf("unsupported Content-Encoding %q, supported: gzip, identity", e.encoding)
}

// maxPooledBody keeps one huge request from pinning its buffer in the pool
// for the rest of the process's life.
const maxPooledBody = 1 << 20

var (
	bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	gzipPool sync.Pool
)

func getBody() *bytes.Buffer { return bodyPool.Get().(*bytes.Buffer) }

// putBody returns buf to the pool. Decoded data may alias the buffer, so
// call it only when the request's records are encoded.
func putBody(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledBody {
		return
	}
	buf.Reset()
	bodyPool.Put(buf)
}

// readBody reads r's body into buf, decompressing gzip, and refuses bodies
// over limit both as sent and as decompressed, so a small gzip bomb cannot
// make the collector allocate gigabytes.
func readBody(r *http.Request, limit int64, buf *bytes.Buffer) error {
	if r.ContentLength > limit {
		return errBodyTooLarge{limit: limit}
	}
	raw := &countingReader{r: io.LimitReader(r.Body, limit+1)}
	var src io.Reader = raw
	decompressed := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
	case "gzip", "x-gzip":
		zr, err := getGzipReader(raw)
		if err != nil {
			if raw.n > limit {
				return errBodyTooLarge{limit: limit}
			}
			return fmt.Errorf("gzip body: %w", err)
		}
		defer gzipPool.Put(zr)
		src = zr
		decompressed = true
	default:
		return errUnsupportedEncoding{encoding: enc}
	}
	_, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	if raw.n > limit {
		return errBodyTooLarge{limit: limit}
	}
	if int64(buf.Len()) > limit {
		return errBodyTooLarge{limit: limit, decompressed: decompressed}
	}
	if err != nil {
		if decompressed {
			return fmt.Errorf("gzip body: %w", err)
		}
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

func getGzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipPool.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipPool.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// countingReader counts the bytes read from the wire, to tell a body that
// is too large as sent from one that is too large decompressed.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
