package livereload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// spansPerRequest is small, so that the flush sizes are the collector's
// doing and not the requests'.
const spansPerRequest = 10

// load posts OTLP/HTTP protobuf requests of fresh span ids from several
// workers and records every acknowledged id and every answer. An id is
// never sent twice, so an id twice in the files is the collector's doing.
type load struct {
	http   *http.Client
	nextID atomic.Uint64

	mu      sync.Mutex
	acked   []uint64
	answers map[int]int // HTTP status (0: no answer) -> requests
}

func newLoad() *load {
	l := &load{http: &http.Client{Timeout: 30 * time.Second}, answers: map[int]int{}}
	l.nextID.Store(uint64(time.Now().UnixNano()) >> 8)
	return l
}

func (l *load) body() ([]byte, []uint64) {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	first := l.nextID.Add(spansPerRequest) - spansPerRequest + 1
	var traceID pcommon.TraceID
	binary.BigEndian.PutUint64(traceID[:8], first)
	traceID[15] = 1
	ids := make([]uint64, spansPerRequest)
	for i := range ids {
		ids[i] = first + uint64(i)
		var spanID pcommon.SpanID
		binary.BigEndian.PutUint64(spanID[:], ids[i])
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(traceID)
		s.SetSpanID(spanID)
		s.SetName("operation")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(fmt.Sprintf("marshal a request built in the test: %v", err))
	}
	return body, ids
}

func (l *load) send(ctx context.Context, url string) {
	body, ids := l.body()
	status := 0
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if resp, err := l.http.Do(req); err == nil {
		respBody, readErr := io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		answer := ptraceotlp.NewExportResponse()
		if readErr != nil || (status == http.StatusOK && (answer.UnmarshalProto(respBody) != nil || answer.PartialSuccess().RejectedSpans() > 0)) {
			status = -1 // not every span was taken
		}
	}
	if ctx.Err() != nil && status == 0 {
		return // the test ended the load, not the collector
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers[status]++
	if status == http.StatusOK {
		l.acked = append(l.acked, ids...)
	}
}

// run keeps workers sending, each pausing between requests, until stop is
// called, which returns once every request sent has its answer: cancelling
// one would leave spans stored that the test never saw acknowledged.
func (l *load) run(ctx context.Context, url string, workers int, pause time.Duration) (stop func()) {
	var wg sync.WaitGroup
	var stopping atomic.Bool
	for range workers {
		wg.Go(func() {
			for !stopping.Load() && ctx.Err() == nil {
				l.send(ctx, url)
				time.Sleep(pause)
			}
		})
	}
	return func() {
		stopping.Store(true)
		wg.Wait()
	}
}

func (l *load) result() (acked []uint64, answers map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.answers
}

// spanFile is one span file's name, size and span ids.
type spanFile struct {
	name string
	size int64
	ids  []uint64
}

// readSpanFiles reads the active file and every rotated one in dir.
func readSpanFiles(dir string) ([]spanFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []spanFile
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "spans") || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		f, err := readSpanFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func readSpanFile(path string) (spanFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return spanFile{}, err
	}
	defer f.Close()
	sf := spanFile{name: filepath.Base(path)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		sf.size += int64(len(sc.Bytes())) + 1
		var span struct {
			SpanID string `json:"span_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &span); err != nil {
			return spanFile{}, fmt.Errorf("%s: line is not a span: %w", sf.name, err)
		}
		id, err := strconv.ParseUint(span.SpanID, 16, 64)
		if err != nil {
			return spanFile{}, fmt.Errorf("%s: span_id %q is not one the test sent", sf.name, span.SpanID)
		}
		sf.ids = append(sf.ids, id)
	}
	return sf, sc.Err()
}
