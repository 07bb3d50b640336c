package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fastjson"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fileCount is what a collector's span files hold.
type fileCount struct {
	spans int
	// spanIDs counts the distinct span ids: a span written twice or a
	// truncated id shows as fewer ids than spans.
	spanIDs int
	bytes   int64
}

// countFiles reads every span file in dir ("spans*": the active file and
// the rotated ones). A dbgpt file has one span a line; an otlp-json file
// (spansink's, and the file exporter's JSON) has one whole request a line,
// decoded with pdata's own JSON unmarshaler.
func countFiles(dir, format string) (fileCount, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "spans*"))
	if err != nil {
		return fileCount{}, err
	}
	if len(paths) == 0 {
		return fileCount{}, fmt.Errorf("no span files in %s", dir)
	}
	var c fileCount
	ids := map[string]struct{}{}
	for _, path := range paths {
		if strings.HasSuffix(path, ".gz") || strings.HasSuffix(path, ".zst") {
			return fileCount{}, fmt.Errorf("%s: compressed files are not counted; run without compression", path)
		}
		n, err := countFile(path, format, &c, ids)
		if err != nil {
			return fileCount{}, fmt.Errorf("%s: %w", path, err)
		}
		c.bytes += n
	}
	c.spanIDs = len(ids)
	return c, nil
}

func countFile(path, format string, c *fileCount, ids map[string]struct{}) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var parser fastjson.Parser
	var unmarshaler ptrace.JSONUnmarshaler
	var size int64
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		size += int64(len(line))
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return size, fmt.Errorf("line %d: torn (no newline)", lineNo)
			}
			return size, nil
		}
		if err != nil {
			return size, err
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		switch format {
		case "dbgpt":
			v, err := parser.ParseBytes(line)
			if err != nil {
				return size, fmt.Errorf("line %d: %w", lineNo, err)
			}
			c.spans++
			ids[string(v.GetStringBytes("span_id"))] = struct{}{}
		default:
			td, err := unmarshaler.UnmarshalTraces(line)
			if err != nil {
				return size, fmt.Errorf("line %d: %w", lineNo, err)
			}
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						c.spans++
						id := s.SpanID()
						ids[string(id[:])] = struct{}{}
					}
				}
			}
		}
	}
}
