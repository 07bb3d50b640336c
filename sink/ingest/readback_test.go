package ingest

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/reader"
)

// The nesting limit is there so that every line ingest stores can be read
// back: the deepest request each path and format accepts must give lines
// the span reader (spansink spans, fastjson with its depth limit of 300)
// reads without skipping them as corrupt. Key-value lists are the deepest
// form in both formats, and an event attribute the deepest place.
func TestDeepestAcceptedLinesReadBack(t *testing.T) {
	limit := config.MaxNestingDepth
	for _, tc := range []struct {
		name, path, contentType string
		format                  config.Format
		pdataOnly               bool
		body                    func(t *testing.T) []byte
	}{
		{"protobuf wire path to dbgpt", TracesPath, contentTypeProto, config.FormatDBGPT, false, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit, true)) }},
		{"protobuf pdata path to dbgpt", TracesPath, contentTypeProto, config.FormatDBGPT, true, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit, true)) }},
		{"protobuf to otlp-json", TracesPath, contentTypeProto, config.FormatOTLPJSON, false, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit, true)) }},
		{"protobuf arrays to otlp-json", TracesPath, contentTypeProto, config.FormatOTLPJSON, false, func(t *testing.T) []byte { return protoBody(t, nestedTraces(limit, false)) }},
		{"json to dbgpt", TracesPath, contentTypeJSON, config.FormatDBGPT, false, func(t *testing.T) []byte { return jsonBody(t, nestedTraces(limit, true)) }},
		{"json to otlp-json", TracesPath, contentTypeJSON, config.FormatOTLPJSON, false, func(t *testing.T) []byte { return jsonBody(t, nestedTraces(limit, true)) }},
		{"dbgpt to dbgpt", DBGPTPath, "application/x-ndjson", config.FormatDBGPT, false, func(*testing.T) []byte { return []byte(dbgptMetadata(limit)) }},
		{"dbgpt to otlp-json", DBGPTPath, "application/x-ndjson", config.FormatOTLPJSON, false, func(*testing.T) []byte { return []byte(dbgptMetadata(limit)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newLimitEnv(t, tc.format, func(o *Options) {
				if tc.pdataOnly {
					o.Encoder = pdataOnly{o.Encoder}
				}
			})
			resp := post(t, env.baseURL+tc.path, tc.contentType, "", tc.body(t))
			if out := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, out)
			}
			if env.sub.count() != 1 {
				t.Fatalf("%d records stored, want 1", env.sub.count())
			}
			line := env.sub.records[0].Line
			if depth := jsonDepth(line); depth < limit {
				t.Fatalf("stored line nests only %d deep: not the deepest case", depth)
			}
			path := filepath.Join(t.TempDir(), "spans.jsonl")
			if err := os.WriteFile(path, append(bytes.Clone(line), '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			scanner := &reader.Scanner{NeedMetadata: true, Warn: func(w reader.Warning) { warnings = append(warnings, w.String()) }}
			spans := 0
			summary, err := scanner.Scan(context.Background(), []string{path}, func(s *reader.Span) error {
				spans++
				if !strings.Contains(string(s.Metadata), "bottom") && tc.path == TracesPath {
					t.Errorf("metadata read back without the deepest value: %.200s", s.Metadata)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if summary.Corrupt != 0 || len(warnings) > 0 || spans != 1 {
				t.Fatalf("reader read %d spans, %d corrupt lines %v, want the one span (line nests %d deep)", spans, summary.Corrupt, warnings, jsonDepth(line))
			}
		})
	}
}

// jsonDepth is how deeply a JSON text nests objects and arrays.
func jsonDepth(b []byte) int {
	_, depth := scanValue(bytes.TrimSpace(b))
	return depth
}
