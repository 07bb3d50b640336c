package spans

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/format"
)

// writeDBGPTAsOTLP lays out an active file as the collector writes DB-GPT
// records in the otlp-json format: day1's records (start/end pairs and an
// orphan) one request per line, as DB-GPT sends them, and day2's (an error
// and a start whose end never came) together in one request.
func writeDBGPTAsOTLP(t *testing.T) string {
	t.Helper()
	enc, err := format.NewEncoder(config.FormatOTLPJSON)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	write := func(records []string) {
		spans := make([]format.DBGPTSpan, len(records))
		for i, r := range records {
			if err := json.Unmarshal([]byte(r), &spans[i]); err != nil {
				t.Fatalf("fixture record %d: %v", i, err)
			}
		}
		lines, rejections, err := enc.EncodeDBGPT(spans)
		if err != nil || len(rejections) > 0 {
			t.Fatalf("encode fixture: %v %v", err, rejections)
		}
		for _, line := range lines {
			file.Write(line.Line)
			file.WriteByte('\n')
		}
	}
	for _, r := range day1 {
		write([]string{r})
	}
	write(day2)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "spans.jsonl"), file.Bytes())
	return dir
}

// TestGoldenDBGPTInOTLPJSON checks that DB-GPT records the collector stored
// in the otlp-json format read back as they do from the dbgpt format: a
// converted start record pairs with its end record (listed once, one node in
// the tree), and an "error" in the metadata is a failed span.
func TestGoldenDBGPTInOTLPJSON(t *testing.T) {
	dir := writeDBGPTAsOTLP(t)
	active := filepath.Join(dir, "spans.jsonl")
	cases := []struct {
		name string
		args []string
	}{
		{name: "otlp_dbgpt_list", args: []string{"list", "--limit", "0"}},
		{name: "otlp_dbgpt_list_errors", args: []string{"list", "--errors"}},
		{name: "otlp_dbgpt_list_json", args: []string{"list", "--limit", "0", "-o", "json"}},
		{name: "otlp_dbgpt_tree_pairs_orphan", args: []string{"tree", "--trace-id", traceA}},
		{name: "otlp_dbgpt_tree_unended", args: []string{"tree", "--trace-id", traceB}},
		{name: "otlp_dbgpt_stats", args: []string{"stats"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := run(t, "", append(tc.args, "--path", active)...)
			if err != nil {
				t.Fatalf("%v\nstderr:\n%s", err, stderr)
			}
			checkGolden(t, tc.name, transcript(dir, stdout, stderr, err))
		})
	}

	// Independently of the golden files: each span once, the failed one
	// failed.
	stdout, _, err := run(t, "", "list", "--limit", "0", "--path", active)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1111111111111111", "2222222222222222", "3333333333333333", "4444444444444444"} {
		if n := strings.Count(stdout, traceA+"  "+id); n != 1 {
			t.Errorf("span %s of trace A listed %d times, want once:\n%s", id, n, stdout)
		}
	}
	errors, _, err := run(t, "", "list", "--errors", "--path", active)
	if err != nil || strings.Count(errors, "\n") != 2 || !strings.Contains(errors, traceB+"  1111111111111111") {
		t.Errorf("list --errors printed:\n%s (err %v)", errors, err)
	}
}
