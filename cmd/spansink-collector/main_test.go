package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The collector's own binary is worth having only while it leaves out the
// operator and the span reader: a package of theirs linked in would bring
// its code, and its initialisation, back into every collector process.
func TestLinksNoOperatorOrReaderCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// The SpanSink API's types, which the collector's config shares, bring
	// k8s.io/api/core/v1 and networking/v1 along; the clients, the
	// operator's other kinds and everything built on them stay out.
	forbidden := []string{
		"k8s.io/client-go",
		"sigs.k8s.io/controller-runtime/pkg/client",
		"sigs.k8s.io/controller-runtime/pkg/manager",
		"sigs.k8s.io/controller-runtime/pkg/cache",
		"k8s.io/api/apps",
		"k8s.io/api/policy",
		"github.com/google/cel-go",
		"github.com/prometheus-operator/prometheus-operator",
		"github.com/spansink/spansink/controllers",
		"github.com/spansink/spansink/cmd/manager",
		"github.com/spansink/spansink/cmd/spans",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, prefix := range forbidden {
			if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
				t.Errorf("spansink-collector links %s", pkg)
			}
		}
	}
}
