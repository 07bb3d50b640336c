package promcheck

import (
	"testing"

	"github.com/spansink/spansink/test/collectorproc"
)

// TestMain removes the spansink binary collectorproc builds for the run.
func TestMain(m *testing.M) { collectorproc.Main(m) }

// The traffic CollectorCatalog drives makes the labelled series appear that
// only an event creates; without them a query of a real series would fail
// the check.
func TestCollectorCatalogHasTheLabelledSeries(t *testing.T) {
	c := CollectorCatalog(t)
	for name, want := range map[string][]string{
		"spansink_spans_received_total":                    {"protocol"},
		"spansink_spans_rejected_total":                    {"protocol", "reason"},
		"spansink_requests_total":                          {"protocol", "code"},
		"spansink_requests_refused_total":                  {"protocol", "reason"},
		"spansink_ingest_unauthenticated_total":            {"protocol", "reason"},
		"spansink_attributes_dropped_total":                {"protocol"},
		"spansink_attribute_values_truncated_total":        {"protocol"},
		"spansink_credentials_reloads_total":               {"kind", "result"},
		"spansink_file_rotations_total":                    {"reason"},
		"spansink_storage_healthy":                         {"storage"},
		"spansink_storage_errors_total":                    {"storage", "cause"},
		"spansink_flush_duration_seconds_bucket":           {"storage", "le"},
		"spansink_fsync_duration_seconds_count":            {"storage"},
		"spansink_bytes_written_total":                     {"storage"},
		"spansink_upload_files_total":                      {"result"},
		"spansink_upload_oldest_pending_timestamp_seconds": nil,
		"spansink_queue_spans":                             nil,
		"spansink_queue_capacity_spans":                    nil,
	} {
		have, ok := c.Labels(name)
		if !ok {
			t.Errorf("the collector's scrape has no %s", name)
			continue
		}
		for _, l := range want {
			if !have[l] {
				t.Errorf("%s has no label %q: %v", name, l, have)
			}
		}
	}
}
