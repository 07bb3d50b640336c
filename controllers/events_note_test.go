package controllers

import (
	"fmt"
	"strings"
	"testing"
)

func TestChildrenNote(t *testing.T) {
	if got := childrenNote("Created", []string{"ServiceAccount a"}); got != "Created ServiceAccount a" {
		t.Errorf("one child: %q", got)
	}
	if got := childrenNote("Updated", []string{"ConfigMap a", "Deployment a"}); got != "Updated ConfigMap a, Deployment a" {
		t.Errorf("two children: %q", got)
	}
	// 64 shards make 130 children: the note stays under the API's limit
	// and counts what it leaves out.
	var many []string
	for i := range 130 {
		many = append(many, fmt.Sprintf("Deployment a-very-long-spansink-name-collector-%d", i))
	}
	got := childrenNote("Created", many)
	if len(got) > maxEventNote {
		t.Fatalf("note of %d bytes, over %d", len(got), maxEventNote)
	}
	named := strings.Count(got, "Deployment ")
	if !strings.HasSuffix(got, fmt.Sprintf(" and %d more", 130-named)) {
		t.Errorf("note names %d children but does not count the other %d: %q", named, 130-named, got)
	}
	// Exactly at the limit, the last child is named rather than counted.
	exact := []string{strings.Repeat("x", maxEventNote-len("Created ")-len(", y")), "y"}
	if got := childrenNote("Created", exact); len(got) != maxEventNote || strings.Contains(got, "more") {
		t.Errorf("note that fits exactly: %d bytes, %q", len(got), got[len(got)-20:])
	}
}
