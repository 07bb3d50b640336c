package manifests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spansink/spansink/cmd/collector"
)

// distrolessPATH is the PATH that gcr.io/distroless/static sets in its
// image config; exec'd commands without a slash are looked up there.
const distrolessPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// finalStage returns the instructions of the Dockerfile's last stage, one
// per entry, keyword upper-cased, without comments or blank lines.
func finalStage(t *testing.T) [][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stage [][]string
	var continued string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			continued += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, continued = continued+line, ""
		keyword, rest, _ := strings.Cut(line, " ")
		keyword = strings.ToUpper(keyword)
		if keyword == "FROM" {
			stage = nil
		}
		stage = append(stage, []string{keyword, strings.TrimSpace(rest)})
	}
	return stage
}

// The image the operator deploys must run the collector from the builder's
// args alone, `kubectl exec ... -- spansink spans list` must find the
// binary by name, and the collector's own binary must sit beside it, where
// `spansink collector` looks for it.
func TestImageRunsTheCollectorAndPutsSpansinkOnPath(t *testing.T) {
	var base, entrypoint string
	var copied []string
	for _, inst := range finalStage(t) {
		switch inst[0] {
		case "FROM":
			base = inst[1]
		case "COPY":
			fields := strings.Fields(inst[1])
			copied = append(copied, fields[len(fields)-1])
		case "ENTRYPOINT":
			var argv []string
			if err := json.Unmarshal([]byte(inst[1]), &argv); err != nil || len(argv) != 1 {
				t.Fatalf("ENTRYPOINT %s: want the exec form with just the binary", inst[1])
			}
			entrypoint = argv[0]
		}
	}
	if !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Fatalf("final stage is FROM %s; distrolessPATH describes gcr.io/distroless/static", base)
	}
	if own := path.Join(path.Dir(ImageBinary), collector.BinaryName); !slices.Contains(copied, ImageBinary) || !slices.Contains(copied, own) {
		t.Errorf("the final stage copies to %q, want %s and %s", copied, ImageBinary, own)
	}
	if entrypoint != ImageBinary {
		t.Errorf("ENTRYPOINT is %s, want %s", entrypoint, ImageBinary)
	}
	if path.Base(ImageBinary) != "spansink" || !slices.Contains(strings.Split(distrolessPATH, ":"), path.Dir(ImageBinary)) {
		t.Errorf("%s is not found as `spansink` through the image's PATH %s", ImageBinary, distrolessPATH)
	}

	desired, err := Build(Params{Sink: defaultedSink(), DefaultImage: testImage})
	if err != nil {
		t.Fatal(err)
	}
	c := desired.Shards[0].Deployment.Spec.Template.Spec.Containers[0]
	if len(c.Command) != 0 {
		t.Errorf("collector container sets command %q; it must run the image's entrypoint", c.Command)
	}
	want := []string{"collector", "--config", path.Join(ConfigMountPath, "collector.yaml")}
	if !slices.Equal(c.Args, want) {
		t.Errorf("collector container args = %q, want %q (spansink collector --config ...)", c.Args, want)
	}
}

// The build stage must copy every directory of the module that the two
// binaries are built from, or `docker build` fails on a missing package.
func TestImageBuildCopiesEverySourceDirectory(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	copiedDirs := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 3 && strings.EqualFold(fields[0], "COPY") && !strings.HasPrefix(fields[1], "--from") {
			for _, src := range fields[1 : len(fields)-1] {
				copiedDirs[strings.TrimSuffix(src, "/")] = true
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}",
		"github.com/spansink/spansink", "github.com/spansink/spansink/cmd/spansink-collector").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		if top == "." {
			top = "main.go"
		}
		if !copiedDirs[top] {
			t.Errorf("the build stage does not copy %s, which holds %s", top, rel)
		}
	}
}
