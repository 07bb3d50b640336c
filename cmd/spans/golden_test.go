package spans

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// run executes `spans ARGS...` with the fixture's clock and returns what it
// printed, as one document: stdout, stderr and the error.
func run(t *testing.T, defaultConfig string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newCommand(env{now: func() time.Time { return fixtureNow }, defaultConfig: defaultConfig})
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceErrors = true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// transcript renders a run for a golden file, with the temp dir replaced so
// the file is stable.
func transcript(dir, stdout, stderr string, err error) string {
	var b strings.Builder
	b.WriteString(stdout)
	if stderr != "" {
		b.WriteString("--- stderr ---\n")
		b.WriteString(stderr)
	}
	if err != nil {
		b.WriteString("--- error ---\n")
		b.WriteString(err.Error())
		b.WriteString("\n")
	}
	return strings.ReplaceAll(b.String(), dir+string(filepath.Separator), "$DIR/")
}

// checkGolden compares got with testdata/name.golden, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, diff)
	}
}

// TestGolden runs every command and output format over a directory laid out
// as the collector leaves it: gzip and zstd daily rollovers, a size rotation
// with corrupt lines, and an active file mixing otlp-json and dbgpt lines.
func TestGolden(t *testing.T) {
	dir := writeFixture(t)
	active := filepath.Join(dir, "spans.jsonl")
	cases := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{name: "list_text", args: []string{"list", "--limit", "0"}},
		{name: "list_default_limit_order", args: []string{"list", "--limit", "3"}},
		{name: "list_json", args: []string{"list", "--limit", "0", "-o", "json"}},
		{name: "list_csv", args: []string{"list", "--limit", "0", "-o", "csv"}},
		{name: "list_desc_limit", args: []string{"list", "--desc", "--limit", "3"}},
		{name: "list_trace_id", args: []string{"list", "--trace-id", traceA}},
		{name: "list_span_id", args: []string{"list", "--span-id", "d000000000000002"}},
		{name: "list_parent_span_id", args: []string{"list", "--parent-span-id", traceA + ":1111111111111111"}},
		{name: "list_span_type", args: []string{"list", "--span-type", "chat"}},
		{name: "list_service", args: []string{"list", "--service", "checkout"}},
		{name: "list_operation", args: []string{"list", "--operation", "chat_completion"}},
		{name: "list_search_metadata_value", args: []string{"list", "--search", "b.md"}},
		{name: "list_search_otlp_attribute", args: []string{"list", "--search", "postgres"}},
		{name: "list_search_metadata_key", args: []string{"list", "--search", "tokens"}},
		{name: "list_errors", args: []string{"list", "--errors"}},
		{name: "list_min_duration", args: []string{"list", "--min-duration", "500ms"}},
		{name: "list_since_duration", args: []string{"list", "--since", "30m"}},
		{name: "list_since_until_absolute", args: []string{"list", "--since", "2024-05-02 09:00:00", "--until", "2024-05-02T11:30:00Z"}},
		{name: "list_no_match", args: []string{"list", "--trace-id", "0123456789abcdef0123456789abcdef"}},
		{name: "list_explicit_glob", args: []string{"list", filepath.Join(dir, "spans_2024-05-02*")}},
		{name: "list_bad_output", args: []string{"list", "-o", "yaml"}, wantErr: true},
		{name: "list_bad_since", args: []string{"list", "--since", "yesterday"}, wantErr: true},
		{name: "list_desc_unlimited", args: []string{"list", "--desc", "--limit", "0"}, wantErr: true},
		{name: "tree_dbgpt_pairs_orphan", args: []string{"tree", "--trace-id", traceA}},
		{name: "tree_dbgpt_unended", args: []string{"tree", "--trace-id", traceB}},
		{name: "tree_otlp", args: []string{"tree", "--trace-id", traceD}},
		{name: "tree_json", args: []string{"tree", "--trace-id", traceA, "-o", "json"}},
		{name: "tree_missing", args: []string{"tree", "--trace-id", "0123456789abcdef0123456789abcdef"}, wantErr: true},
		{name: "show_dbgpt_pair", args: []string{"show", traceA + ":1111111111111111"}},
		{name: "show_otlp", args: []string{"show", "d000000000000002"}},
		{name: "show_otlp_stored_as_dbgpt", args: []string{"show", "e000000000000001"}},
		{name: "show_missing", args: []string{"show", "nope"}, wantErr: true},
		{name: "stats_text", args: []string{"stats"}},
		{name: "stats_json", args: []string{"stats", "-o", "json"}},
		{name: "stats_csv", args: []string{"stats", "-o", "csv"}},
		{name: "stats_since", args: []string{"stats", "--since", "2024-05-02T00:00:00Z"}},
		{name: "tail_text", args: []string{"tail", "-n", "3"}},
		{name: "tail_json", args: []string{"tail", "-n", "2", "-o", "json"}},
		{name: "tail_active_only", args: []string{"tail", "-n", "5", active}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--path", active)
			stdout, stderr, err := run(t, "", args...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error: %v\nstderr:\n%s", err, tc.wantErr, stderr)
			}
			checkGolden(t, tc.name, transcript(dir, stdout, stderr, err))
		})
	}
}

// TestExitCodes checks which failures are usage errors (exit code 2, for
// a command line that cannot run as given) and which are not (1).
func TestExitCodes(t *testing.T) {
	dir := writeFixture(t)
	active := filepath.Join(dir, "spans.jsonl")
	cases := []struct {
		name    string
		args    []string
		want    int
		wantMsg string
	}{
		{name: "ok", args: []string{"list", "--desc", "--limit", "2"}, want: 0},
		{name: "desc without limit", args: []string{"list", "--desc", "--limit", "0"}, want: 2, wantMsg: "--desc needs a --limit above 0"},
		{name: "negative limit", args: []string{"list", "--limit", "-1"}, want: 2, wantMsg: "--limit must not be negative"},
		{name: "unknown flag", args: []string{"list", "--colour"}, want: 2, wantMsg: "unknown flag: --colour"},
		{name: "malformed flag", args: []string{"stats", "--min-duration", "soon"}, want: 2, wantMsg: "--min-duration"},
		{name: "bad output", args: []string{"tree", "--trace-id", traceA, "-o", "yaml"}, want: 2, wantMsg: `--output "yaml"`},
		{name: "bad since", args: []string{"stats", "--since", "yesterday"}, want: 2, wantMsg: "--since"},
		{name: "show without id", args: []string{"show"}, want: 2, wantMsg: "requires at least 1 arg"},
		{name: "missing input", args: []string{"list", filepath.Join(dir, "missing.jsonl")}, want: 1, wantMsg: "no such file"},
		{name: "span not found", args: []string{"show", "nope"}, want: 1, wantMsg: "span nope not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, "", append(tc.args, "--path", active)...)
			if got := ExitCode(err); got != tc.want {
				t.Fatalf("exit code %d, want %d (error %v)", got, tc.want, err)
			}
			if tc.want != 0 && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

// TestUnreadableInput checks that empty or wholly corrupt input is an error
// (a non-zero exit), with a message that says which.
func TestUnreadableInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "empty.jsonl"), nil)
	writeFile(t, filepath.Join(dir, "corrupt.jsonl"), []byte("{\"span_type\": \"base\", \"trace\nnot json\n"))
	writeFile(t, filepath.Join(dir, "notgzip.jsonl.gz"), []byte{0x1f, 0x8b, 0, 0})
	cases := []struct {
		name string
		args []string
	}{
		{name: "empty_file", args: []string{"list", filepath.Join(dir, "empty.jsonl")}},
		{name: "corrupt_file", args: []string{"stats", filepath.Join(dir, "corrupt.jsonl")}},
		{name: "broken_gzip", args: []string{"list", filepath.Join(dir, "notgzip.jsonl.gz")}},
		{name: "no_such_file", args: []string{"list", filepath.Join(dir, "missing.jsonl")}},
		{name: "no_glob_match", args: []string{"list", filepath.Join(dir, "nothing*")}},
		{name: "no_default_files", args: []string{"list", "--path", filepath.Join(dir, "sub", "spans.jsonl")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := run(t, "", tc.args...)
			if err == nil {
				t.Fatalf("want an error, got none; stdout:\n%s", stdout)
			}
			checkGolden(t, "unreadable_"+tc.name, transcript(dir, stdout, stderr, err))
		})
	}
}

// TestDefaultConfig checks that without inputs or flags the span files come
// from the config file at the pod's path, and that --config overrides it.
func TestDefaultConfig(t *testing.T) {
	dir := writeFixture(t)
	configPath := filepath.Join(t.TempDir(), "collector.yaml")
	writeFile(t, configPath, []byte("storage:\n  dir: "+dir+"\n  path: spans.jsonl\n"))
	stdout, stderr, err := run(t, configPath, "list", "--trace-id", traceC)
	if err != nil {
		t.Fatalf("list with the default config: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "tokenize") || !strings.Contains(stderr, "spans_2024-05-02.1.jsonl:2") {
		t.Errorf("list did not read the configured files:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	other := filepath.Join(t.TempDir(), "other.yaml")
	writeFile(t, other, []byte("storage:\n  dir: "+t.TempDir()+"\n  path: elsewhere.log\n"))
	_, _, err = run(t, configPath, "list", "--config", other)
	if err == nil || !strings.Contains(err.Error(), "elsewhere.log") {
		t.Errorf("--config did not override the pod config: %v", err)
	}
}

// TestWarningsAreBounded checks that a file of garbage yields a bounded
// number of warnings, and the line numbers of the ones shown.
func TestWarningsAreBounded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "garbage.jsonl")
	writeFile(t, path, []byte(strings.Repeat("garbage\n", 5000)))
	_, stderr, err := run(t, "", "list", path)
	if err == nil {
		t.Fatal("want an error for a file with no readable line")
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != maxWarnings+1 || !strings.Contains(lines[0], "garbage.jsonl:1:") ||
		!strings.Contains(lines[maxWarnings-1], fmt.Sprintf("garbage.jsonl:%d:", maxWarnings)) || !strings.Contains(lines[maxWarnings], "not showing the rest") {
		t.Errorf("stderr has %d lines:\n%s", len(lines), stderr)
	}
}
