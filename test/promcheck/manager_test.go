package promcheck

import (
	"testing"
)

func TestManagerCatalogHasTheControllerSeries(t *testing.T) {
	c := ManagerCatalog(t)
	for name, want := range map[string][]string{
		"controller_runtime_reconcile_total":               {"controller", "result"},
		"controller_runtime_reconcile_errors_total":        {"controller"},
		"workqueue_depth":                                  {"name", "controller"},
		"workqueue_longest_running_processor_seconds":      {"name", "controller"},
		"controller_runtime_reconcile_time_seconds_bucket": {"controller", "le"},
	} {
		have, ok := c.Labels(name)
		if !ok {
			t.Errorf("the manager's scrape has no %s", name)
			continue
		}
		for _, l := range want {
			if !have[l] {
				t.Errorf("%s has no label %q: %v", name, l, have)
			}
		}
	}
}
