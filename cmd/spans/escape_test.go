package spans

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spansink/spansink/sink/reader/render"
)

// hostileName is a span name and service that would retitle the terminal,
// erase its line, move the cursor back and reorder text.
const (
	hostileName    = "\x1b]0;owned\x07\x1b[2K\rfake\u009b\u202eevil"
	hostileEscaped = `\x1b]0;owned\x07\x1b[2K\rfake\u009b\u202eevil`
	hostileService = "svc\x1b[31m"
)

// raw reports the first character of s a terminal would act on.
func raw(s string) (rune, bool) {
	for _, r := range s {
		if r == '\n' {
			continue
		}
		// Printable changes exactly the characters a terminal acts on.
		if render.Printable(string(r)) != string(r) || r == utf8.RuneError {
			return r, true
		}
	}
	return 0, false
}

// Every human-readable output shows the hostile name escaped, and the JSON
// outputs stay JSON that reads back to the name as stored.
func TestOutputsEscapeControls(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.jsonl")
	nameJSON, _ := json.Marshal(hostileName)
	serviceJSON, _ := json.Marshal(hostileService)
	line := `{"span_type":"base","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":null,"operation_name":` + string(nameJSON) +
		`,"start_time":"2024-05-02 11:00:00.000","end_time":"2024-05-02 11:00:01.000","metadata":{"service.name":` + string(serviceJSON) + `}}` + "\n"
	writeFile(t, path, []byte(line))
	for _, tc := range []struct {
		name string
		args []string
		json bool
	}{
		{"list", []string{"list", path}, false},
		{"list csv", []string{"list", "--output", "csv", path}, false},
		{"list json", []string{"list", "--output", "json", path}, true},
		{"tree", []string{"tree", "--trace-id", "4bf92f3577b34da6a3ce929d0e0e4736", path}, false},
		{"tree json", []string{"tree", "--output", "json", "--trace-id", "4bf92f3577b34da6a3ce929d0e0e4736", path}, true},
		{"show", []string{"show", "00f067aa0ba902b7", path}, true},
		{"tail", []string{"tail", path}, false},
		{"stats", []string{"stats", "--since", "48h", path}, false},
		{"stats json", []string{"stats", "--since", "48h", "--output", "json", path}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := run(t, "", tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if r, found := raw(stdout + stderr); found {
				t.Fatalf("output holds %U raw:\n%q", r, stdout)
			}
			if !tc.json {
				if !strings.Contains(stdout, `svc\x1b[31m`) || (tc.name != "stats" && !strings.Contains(stdout, hostileEscaped)) {
					t.Fatalf("output does not show the name and service escaped:\n%s", stdout)
				}
				return
			}
			// The JSON still holds the name as stored.
			var found bool
			dec := json.NewDecoder(strings.NewReader(stdout))
			for dec.More() {
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, stdout)
				}
				found = found || strings.Contains(flatten(v), hostileService)
			}
			if !found {
				t.Fatalf("JSON output lost the service %q:\n%s", hostileService, stdout)
			}
		})
	}
}

// flatten joins every string in a decoded JSON value.
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var b strings.Builder
		for _, e := range v {
			b.WriteString(flatten(e) + "\x00")
		}
		return b.String()
	case map[string]any:
		var b strings.Builder
		for k, e := range v {
			b.WriteString(k + "\x00" + flatten(e) + "\x00")
		}
		return b.String()
	}
	return ""
}
