package spans

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the follower writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// dbgptLine is a complete DB-GPT record for span id in trace t.
func dbgptLine(trace, id, op, start, end string) string {
	endValue := "null"
	if end != "" {
		endValue = `"` + end + `"`
	}
	return `{"span_type":"base","trace_id":"` + trace + `","span_id":"` + id + `","parent_span_id":null,"operation_name":"` + op +
		`","start_time":"` + start + `","end_time":` + endValue + `,"metadata":{"service.name":"tailsvc"}}` + "\n"
}

func appendTo(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls until the output holds want; the deadline only bounds a
// failing test, it asserts nothing about speed.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q; output:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTailFollowsRotation writes spans, rotates the active file the way the
// collector does (rename, then a new file at the same path), and checks that
// tail -f prints the spans of both files once each, in order, including a
// DB-GPT span whose start record is in the old file and end in the new one.
func TestTailFollowsRotation(t *testing.T) {
	dir := t.TempDir()
	active := filepath.Join(dir, "spans.jsonl")
	const trace = "ffffffffffffffffffffffffffffffff"
	appendTo(t, active, dbgptLine(trace, "s1", "before-start", "2024-05-02 10:00:00.000", "2024-05-02 10:00:00.100"))

	cmd := newCommand(env{now: func() time.Time { return fixtureNow }})
	var stdout, stderr syncBuffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"tail", "-f", "-n", "5", "--poll-interval", "10ms", "-o", "csv", "--path", active})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tail -f: %v", err)
		}
	}()

	waitFor(t, &stdout, "before-start")
	appendTo(t, active, dbgptLine(trace, "s2", "written-while-following", "2024-05-02 10:00:01.000", "2024-05-02 10:00:01.100"))
	appendTo(t, active, dbgptLine(trace, "s3", "spans-rotation", "2024-05-02 10:00:02.000", ""))
	// The last span written before the rename has no newline yet when the
	// rename happens; the follower must still read it from the old file.
	appendTo(t, active, strings.TrimSuffix(dbgptLine(trace, "s4", "last-in-old-file", "2024-05-02 10:00:03.000", "2024-05-02 10:00:03.500"), "\n"))
	if err := os.Rename(active, filepath.Join(dir, "spans_2024-05-02.jsonl")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, active, dbgptLine(trace, "s3", "spans-rotation", "2024-05-02 10:00:02.000", "2024-05-02 10:00:04.000"))
	appendTo(t, active, dbgptLine(trace, "s5", "after-rotation", "2024-05-02 10:00:05.000", "2024-05-02 10:00:05.250"))
	waitFor(t, &stdout, "after-rotation")

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	want := []string{
		"trace_id,span_id,parent_span_id,span_type,service,operation,start_time,end_time,duration_ms,status",
		trace + ",s1,,base,tailsvc,before-start,2024-05-02 10:00:00.000,2024-05-02 10:00:00.100,100,unset",
		trace + ",s2,,base,tailsvc,written-while-following,2024-05-02 10:00:01.000,2024-05-02 10:00:01.100,100,unset",
		trace + ",s4,,base,tailsvc,last-in-old-file,2024-05-02 10:00:03.000,2024-05-02 10:00:03.500,500,unset",
		trace + ",s3,,base,tailsvc,spans-rotation,2024-05-02 10:00:02.000,2024-05-02 10:00:04.000,2000,unset",
		trace + ",s5,,base,tailsvc,after-rotation,2024-05-02 10:00:05.000,2024-05-02 10:00:05.250,250,unset",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("tail -f printed:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if stderr.String() != "" {
		t.Errorf("unexpected warnings: %s", stderr.String())
	}
}
