package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
	"github.com/spansink/spansink/sink/record"
)

// recordingSubmitter stands in for the batcher, the storage boundary: it
// keeps copies of what it is given, or refuses with err.
type recordingSubmitter struct {
	mu      sync.Mutex
	err     error
	records []record.Record
}

func (s *recordingSubmitter) Submit(_ context.Context, records []record.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, r := range records {
		s.records = append(s.records, record.Record{Line: bytes.Clone(r.Line), Spans: r.Spans})
	}
	return nil
}

func (s *recordingSubmitter) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, r := range s.records {
		var m map[string]any
		if err := json.Unmarshal(r.Line, &m); err != nil {
			panic(err)
		}
		out = append(out, m)
	}
	return out
}

func (s *recordingSubmitter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

type testEnv struct {
	sub     *recordingSubmitter
	reg     *prometheus.Registry
	opts    Options
	baseURL string
}

func newTestEnv(t *testing.T, f config.Format, submitErr error) *testEnv {
	t.Helper()
	enc, err := format.NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	sub := &recordingSubmitter{err: submitErr}
	reg := prometheus.NewRegistry()
	opts := Options{Submitter: sub, Encoder: enc, MaxRequestBytes: 64 << 10, Metrics: NewMetrics(reg)}
	srv := httptest.NewServer(NewHTTPHandler(opts))
	t.Cleanup(srv.Close)
	return &testEnv{sub: sub, reg: reg, opts: opts, baseURL: srv.URL}
}

// counter reads one counter series from the registry.
func (e *testEnv) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
