package hack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make verify-fmt must fail, naming the file, when gofmt would change one,
// and pass when every file is formatted.
func TestVerifyFmtFailsOnUnformattedCode(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cases := []struct {
		name, source string
		wantFail     bool
	}{
		{"formatted", "package p\n\nfunc F() int { return 1 }\n", false},
		{"unformatted", "package p\nfunc F( ) int {return 1}\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "p.go")
			if err := os.WriteFile(file, []byte(tc.source), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("make", "-s", "-C", "..", "verify-fmt", "FMT_PATHS="+dir).CombinedOutput()
			if tc.wantFail {
				if err == nil {
					t.Fatalf("make verify-fmt passed on an unformatted file:\n%s", out)
				}
				if !strings.Contains(string(out), file) {
					t.Errorf("make verify-fmt does not name %s:\n%s", file, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("make verify-fmt failed on a formatted file: %v\n%s", err, out)
			}
		})
	}
}

// CI runs the README's test command, and that command starts with `make
// verify`, which must include the gofmt check next to the generated-files
// check.
func TestCIRunsVerifyWithFmt(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var ciCommand string
	for _, line := range strings.Split(string(script), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "make ") {
			ciCommand = strings.TrimSpace(line)
		}
	}
	if !strings.HasPrefix(ciCommand, "make verify ") {
		t.Errorf(".ci/run does not run `make verify` first:\n%s", script)
	}
	if !strings.Contains(string(readme), "\n"+ciCommand+" ") {
		t.Errorf("the README does not give .ci/run's command %q as its test command", ciCommand)
	}
	out, err := exec.Command("make", "-C", "..", "-n", "verify").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n verify: %v\n%s", err, out)
	}
	for _, want := range []string{"gofmt -l", "git status --porcelain"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make verify does not run %q:\n%s", want, out)
		}
	}
}
