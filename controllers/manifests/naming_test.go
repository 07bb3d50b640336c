package manifests

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestChildName(t *testing.T) {
	long := strings.Repeat("a", 60)
	cases := []struct {
		sink, suffix, want string
	}{
		{"traces", "collector", "traces-collector"},
		{strings.Repeat("a", 53), "collector", strings.Repeat("a", 53) + "-collector"},
		{long, "collector", strings.Repeat("a", 44) + "-" + childName(long, "collector")[45:53] + "-collector"},
		// A cut that ends on '-' must not leave "--" behind.
		{strings.Repeat("a", 43) + "-" + strings.Repeat("b", 19), "collector", strings.Repeat("a", 43) + "-" + childName(strings.Repeat("a", 43)+"-"+strings.Repeat("b", 19), "collector")[44:52] + "-collector"},
	}
	for _, tc := range cases {
		got := childName(tc.sink, tc.suffix)
		if got != tc.want {
			t.Errorf("childName(%q, %q) = %q, want %q", tc.sink, tc.suffix, got, tc.want)
		}
		if errs := validation.IsDNS1035Label(got); len(errs) != 0 {
			t.Errorf("childName(%q, %q) = %q is not a DNS label: %v", tc.sink, tc.suffix, got, errs)
		}
	}
}

// Two long names that differ only after the cut still get different children.
func TestChildNameKeepsLongNamesApart(t *testing.T) {
	a := strings.Repeat("x", 58) + "-one"
	b := strings.Repeat("x", 58) + "-two"
	if childName(a, "collector") == childName(b, "collector") {
		t.Errorf("%q and %q map to the same child name %q", a, b, childName(a, "collector"))
	}
}
