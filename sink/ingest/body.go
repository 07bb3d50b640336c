package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

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

// errRequestTimeout is answered with 408: the body did not arrive within
// limits.requestTimeout (the HTTP server's read timeout).
type errRequestTimeout struct{ timeout time.Duration }

func (e errRequestTimeout) Error() string {
	return fmt.Sprintf("request body not received within limits.requestTimeout (%s)", e.timeout)
}

// maxPooledBody keeps one huge request from pinning its buffer in the pool
// for the rest of the process's life.
const maxPooledBody = 1 << 20

// firstBodyChunk is the room made for a body before its first byte is read:
// a typical OTLP request fits, and a client that declares a large
// Content-Length and then sends nothing holds no more than this.
const firstBodyChunk = 32 << 10

// inflightWait is how long an HTTP request waits for room in the inflight
// budget before it is refused with 503: long enough to ride out a burst,
// short enough that the client's retry (Retry-After) is the better wait.
const inflightWait = 500 * time.Millisecond

// requestBody is the buffer a request body is read into and the bytes of
// the inflight budget charged for it, which are its capacity: what the
// request holds in memory.
type requestBody struct {
	bytes.Buffer
	budget  *InflightBudget
	charged int64
}

var (
	bodyPool = sync.Pool{New: func() any { return new(requestBody) }}
	gzipPool sync.Pool
)

func getBody() *requestBody { return bodyPool.Get().(*requestBody) }

// releaser returns the function that gives body back, with putBody, the
// first time it is called and does nothing after: the handler calls it
// when its request ends, and the ingester as soon as the spans are encoded
// (see ingester.submit). A second putBody would pool the buffer twice, and
// two requests would then share it.
func (body *requestBody) releaser() func() {
	released := false
	return func() {
		if !released {
			released = true
			putBody(body)
		}
	}
}

// putBody releases body's charge and returns it to the pool. Decoded data
// may alias the buffer, so call it only when the request's records are
// encoded.
func putBody(body *requestBody) {
	if body.budget != nil {
		body.budget.release(body.charged)
	}
	body.budget, body.charged = nil, 0
	if body.Cap() > maxPooledBody {
		return
	}
	body.Reset()
	bodyPool.Put(body)
}

// readBody reads r's body into body, decompressing gzip, and refuses bodies
// over limit both as sent and as decompressed, so a small gzip bomb cannot
// make the collector allocate gigabytes. The buffer grows as bytes arrive,
// never ahead of them from the declared Content-Length, and each growth is
// charged to budget first.
func readBody(r *http.Request, limit int64, budget *InflightBudget, body *requestBody) error {
	if r.ContentLength > limit {
		return errBodyTooLarge{limit: limit}
	}
	body.budget = budget
	raw := &countingReader{r: io.LimitReader(r.Body, limit+1)}
	var src io.Reader = raw
	decompressed := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
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
	err := body.fill(r.Context(), io.LimitReader(src, limit+1), limit+1)
	var full errInflightFull
	if errors.As(err, &full) {
		return err
	}
	if raw.n > limit {
		return errBodyTooLarge{limit: limit}
	}
	if int64(body.Len()) > limit {
		return errBodyTooLarge{limit: limit, decompressed: decompressed}
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read timeout, limits.requestTimeout.
			return errRequestTimeout{}
		}
		if decompressed {
			return fmt.Errorf("gzip body: %w", err)
		}
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// fill reads src to its end into the buffer, which holds at most most
// bytes: src gives no more, and one byte over limit is enough to refuse.
// Before each growth it takes the new room from the budget; it returns
// errInflightFull when the budget has none within inflightWait.
func (b *requestBody) fill(ctx context.Context, src io.Reader, most int64) error {
	for int64(b.Len()) < most {
		if b.Available() == 0 {
			if err := b.grow(ctx, most); err != nil {
				return err
			}
		}
		room := b.AvailableBuffer()[:b.Available()]
		n, err := src.Read(room)
		b.Write(room[:n]) // room is the buffer's own free space: no copy, no growth
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// grow doubles the buffer's capacity (first to firstBodyChunk), never past
// most, charging the budget for the new capacity before it is allocated.
// It allocates itself rather than through bytes.Buffer.Grow, which would
// double past most.
func (b *requestBody) grow(ctx context.Context, most int64) error {
	c := int64(b.Cap())
	if c > b.charged {
		// A pooled buffer comes with capacity from an earlier request.
		if !b.budget.acquire(ctx, c-b.charged, inflightWait) {
			return errInflightFull{limit: b.budget.Limit()}
		}
		b.charged = c
		if c > int64(b.Len()) {
			return nil
		}
	}
	target := min(max(2*c, firstBodyChunk), most)
	if !b.budget.acquire(ctx, target-b.charged, inflightWait) {
		return errInflightFull{limit: b.budget.Limit()}
	}
	b.charged = target
	next := make([]byte, b.Len(), target)
	copy(next, b.Bytes())
	b.Buffer = *bytes.NewBuffer(next)
	if extra := int64(cap(next)) - b.charged; extra > 0 {
		// The allocator rounds up to its size class: charge what it gave.
		b.budget.charge(extra)
		b.charged += extra
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
