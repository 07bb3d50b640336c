package abuse

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// exportPath is the OTLP/gRPC method the raw streams call.
const exportPath = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// h2Conn is a raw HTTP/2 client connection: it sends what a gRPC client
// would not (a message prefix and then nothing, megabytes of metadata) and
// records how the server ends each stream.
type h2Conn struct {
	conn net.Conn
	wmu  sync.Mutex // the framer's writes
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer

	mu    sync.Mutex
	ended map[uint32]string // stream → "grpc-status N: message" or "RST_STREAM code"
	gone  chan struct{}     // closed when the server closed the connection
}

func dialH2(t *testing.T, addr string) *h2Conn {
	t.Helper()
	c, err := openH2(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

// openH2 is dialH2 for attackers that run outside the test's goroutine:
// it returns its error, and the caller closes the connection.
func openH2(addr string) (*h2Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &h2Conn{conn: conn, ended: map[uint32]string{}, gone: make(chan struct{})}
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.fr.WriteSettings(); err != nil {
		conn.Close()
		return nil, err
	}
	go c.read()
	return c, nil
}

// read answers the server's SETTINGS and PINGs and records stream ends
// until the connection closes.
func (c *h2Conn) read() {
	defer close(c.gone)
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.write(func() error { return c.fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.write(func() error { return c.fr.WritePing(true, f.Data) })
			}
		case *http2.MetaHeadersFrame:
			if st := f.PseudoValue("status"); st == "" || f.StreamEnded() {
				if code := headerValue(f, "grpc-status"); code != "" {
					c.end(f.StreamID, fmt.Sprintf("grpc-status %s: %s", code, headerValue(f, "grpc-message")))
				}
			}
		case *http2.RSTStreamFrame:
			c.end(f.StreamID, "RST_STREAM "+f.ErrCode.String())
		}
	}
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

func (c *h2Conn) end(id uint32, how string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.ended[id]; !ok {
		c.ended[id] = how
	}
}

// outcome says how the server ended stream id, "" while it is open.
func (c *h2Conn) outcome(id uint32) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended[id]
}

func (c *h2Conn) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// A server that stops reading must not hang the test.
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return f()
}

// openStream sends the HEADERS of an Export call, plus extra metadata,
// split into CONTINUATION frames as HTTP/2 requires for a large block.
func (c *h2Conn) openStream(id uint32, extra map[string]string) error {
	return c.write(func() error {
		c.hbuf.Reset()
		for _, hf := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", exportPath}, {":authority", "collector"},
			{"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			c.enc.WriteField(hpack.HeaderField{Name: hf[0], Value: hf[1]})
		}
		for k, v := range extra {
			c.enc.WriteField(hpack.HeaderField{Name: k, Value: v})
		}
		block := c.hbuf.Bytes()
		const frag = 16 << 10
		first := block[:min(frag, len(block))]
		rest := block[len(first):]
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(rest) == 0}); err != nil {
			return err
		}
		for len(rest) > 0 {
			chunk := rest[:min(frag, len(rest))]
			rest = rest[len(chunk):]
			if err := c.fr.WriteContinuation(id, len(rest) == 0, chunk); err != nil {
				return err
			}
		}
		return nil
	})
}

// sendData sends data on stream id in 16 KiB DATA frames, leaving the
// stream open.
func (c *h2Conn) sendData(id uint32, data []byte) error {
	for len(data) > 0 {
		chunk := data[:min(16<<10, len(data))]
		data = data[len(chunk):]
		if err := c.write(func() error { return c.fr.WriteData(id, false, chunk) }); err != nil {
			return err
		}
	}
	return nil
}
