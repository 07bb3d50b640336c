package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each `kubectl apply` the instructions print must work on the checkout: a
// directory holding a kustomization.yaml needs -k, since -f would submit
// the kustomization file as an object and fail.
func TestNextStepsApplyTheSamples(t *testing.T) {
	root := filepath.Join("..", "..")
	var applies int
	for _, line := range strings.Split(nextSteps("/tmp/kubeconfig"), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[0] != "kubectl" || fields[1] != "apply" {
			continue
		}
		applies++
		flag, target := fields[2], filepath.Join(root, fields[3])
		_, err := os.Stat(filepath.Join(target, "kustomization.yaml"))
		isKustomization := err == nil
		switch {
		case flag == "-f" && isKustomization:
			t.Errorf("%q applies a kustomization directory with -f; kubectl refuses its kustomization.yaml", line)
		case flag == "-k" && !isKustomization:
			t.Errorf("%q: %s holds no kustomization.yaml", line, fields[3])
		case flag != "-f" && flag != "-k":
			t.Errorf("%q: unexpected flag %s", line, flag)
		}
	}
	if applies == 0 {
		t.Fatal("the instructions apply nothing")
	}
	if !strings.Contains(nextSteps("/tmp/kubeconfig"), "export KUBECONFIG=/tmp/kubeconfig") {
		t.Error("the instructions do not export the kubeconfig")
	}
}

// The local mode applies config/samples without kubectl: every resource
// the kustomization lists must decode, strictly, as a SpanSink.
func TestReadSampleReadsTheKustomizationsSpanSinks(t *testing.T) {
	sinks, err := readSample(filepath.Join("..", "..", "config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sinks) != 1 || sinks[0].Name != "dbgpt" || sinks[0].Spec.Storage.Path == "" {
		t.Fatalf("want the dbgpt sample with a storage path, got %+v", sinks)
	}
}

func TestReadSampleRefusesWhatIsNotASpanSink(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kustomization.yaml", "resources:\n- cm.yaml\n")
	write("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	if _, err := readSample(dir); err == nil || !strings.Contains(err.Error(), "not a SpanSink") {
		t.Fatalf("want a refusal naming the kind, got %v", err)
	}
}
