package spans

import (
	"path/filepath"
	"strings"
	"testing"
)

// --path DIR reads the directory as the argument DIR does, instead of
// looking for DIR.log; tail -f, which follows one active file, says to
// name it.
func TestPathMayNameADirectory(t *testing.T) {
	dir := writeFixture(t)
	want, _, err := run(t, "", "list", "--limit", "0", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, stderr, err := run(t, "", "list", "--limit", "0", "--path", dir)
	if err != nil {
		t.Fatalf("list --path %s: %v\n%s", dir, err, stderr)
	}
	if got != want || strings.Count(got, "\n") < 5 {
		t.Errorf("list --path DIR printed\n%s\nwant what list DIR prints:\n%s", got, want)
	}

	_, _, err = run(t, "", "list", "--path", dir, "--path", filepath.Join(dir, "spans.jsonl"))
	if err == nil || ExitCode(err) != 2 || !strings.Contains(err.Error(), "both directories and files") {
		t.Errorf("--path with a directory and a file: %v (exit %d), want a usage error", err, ExitCode(err))
	}
	_, _, err = run(t, "", "tail", "-f", "--path", dir)
	if err == nil || ExitCode(err) != 2 || !strings.Contains(err.Error(), "is a directory: name the active span file in it") {
		t.Errorf("tail -f --path DIR: %v (exit %d), want a usage error naming the file to give", err, ExitCode(err))
	}
}
