// Package charts holds the tests of the Helm chart in charts/spansink: that
// it installs what config/default installs, that its values render as they
// are documented, and that helm lint passes. They run the real helm (built
// by hack/helm.sh) and kustomize, whose paths `make test` gives.
package charts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	// chartPath is the chart under test, relative to this package.
	chartPath = "spansink"
	// releaseName is the release name that gives the chart's objects the
	// names config/default gives them (namePrefix spansink-).
	releaseName = "spansink"
	// releaseNamespace is config/default's namespace.
	releaseNamespace = "spansink-system"
)

// object is one decoded manifest.
type object = map[string]any

// helmBinary is the helm the tests run; they skip without one, saying how
// to get it.
func helmBinary(t *testing.T) string {
	t.Helper()
	helm := os.Getenv("SPANSINK_HELM")
	if helm == "" {
		t.Skip("SPANSINK_HELM is not set: the chart tests run the real helm; " +
			"`make test` sets it, or run with SPANSINK_HELM=$(hack/helm.sh | tail -n1)")
	}
	return helm
}

// kustomizeBinary is the kustomize that builds config/default.
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	kustomize := os.Getenv("SPANSINK_KUSTOMIZE")
	if kustomize == "" {
		t.Skip("SPANSINK_KUSTOMIZE is not set: the drift test builds config/default with the real kustomize; " +
			"`make test` sets it, or run with SPANSINK_KUSTOMIZE=$PWD/bin/kustomize after `make kustomize`")
	}
	return kustomize
}

// runTool runs a tool and returns its standard output, or an error that
// carries its standard error (where helm says what is wrong with a value).
func runTool(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// helm keeps repositories, plugins and a cache under these; a test must
	// neither read nor write the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// helmTemplate renders the chart as release releaseName in releaseNamespace
// with extra arguments (--set...) appended.
func helmTemplate(t *testing.T, extra ...string) ([]object, error) {
	t.Helper()
	return helmTemplateRelease(t, releaseName, extra...)
}

// helmTemplateRelease is helmTemplate for a release of another name.
func helmTemplateRelease(t *testing.T, release string, extra ...string) ([]object, error) {
	t.Helper()
	args := append([]string{"template", release, chartPath, "--namespace", releaseNamespace}, extra...)
	out, err := runTool(t, helmBinary(t), args...)
	if err != nil {
		return nil, err
	}
	return decodeManifests(out)
}

// mustHelmTemplate is helmTemplate for values that must render.
func mustHelmTemplate(t *testing.T, extra ...string) []object {
	t.Helper()
	objects, err := helmTemplate(t, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return objects
}

// decodeManifests splits a YAML stream into its objects, skipping documents
// that hold only comments (helm writes a "# Source:" line before each).
func decodeManifests(data []byte) ([]object, error) {
	reader := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objects []object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split manifests: %w", err)
		}
		var obj object
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("decode manifest %q: %w", doc, err)
		}
		if obj != nil {
			objects = append(objects, obj)
		}
	}
}

// objectKey names an object as kubectl would: kind, namespace and name.
func objectKey(obj object) string {
	meta, _ := obj["metadata"].(map[string]any)
	namespace, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	return fmt.Sprintf("%v %s/%s", obj["kind"], namespace, name)
}

// byKey indexes objects by objectKey and fails on a duplicate, which the
// API server would reject.
func byKey(t *testing.T, objects []object) map[string]object {
	t.Helper()
	index := map[string]object{}
	for _, obj := range objects {
		key := objectKey(obj)
		if _, dup := index[key]; dup {
			t.Errorf("%s rendered twice", key)
		}
		index[key] = obj
	}
	return index
}

// sortedKeys lists a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// deployment is the chart's one Deployment, the manager's.
func deployment(t *testing.T, objects []object) *appsv1.Deployment {
	t.Helper()
	var found []*appsv1.Deployment
	for _, obj := range objects {
		if obj["kind"] != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &d); err != nil {
			t.Fatalf("decode %s: %v", objectKey(obj), err)
		}
		found = append(found, &d)
	}
	if len(found) != 1 {
		t.Fatalf("want one Deployment, the manager's, got %d", len(found))
	}
	return found[0]
}

// chartMetadata reads the chart's version and appVersion from Chart.yaml.
func chartMetadata(t *testing.T) (version, appVersion string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartPath, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	return chart.Version, chart.AppVersion
}
