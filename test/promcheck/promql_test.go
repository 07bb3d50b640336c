package promcheck

import (
	"strings"
	"testing"
)

// A scrape in the text format with one family of each kind the checks treat
// differently.
const scrape = `# HELP spansink_spans_received_total Spans decoded.
# TYPE spansink_spans_received_total counter
spansink_spans_received_total{protocol="otlp_grpc"} 3
# HELP spansink_queue_spans Spans queued.
# TYPE spansink_queue_spans gauge
spansink_queue_spans 0
# HELP spansink_flush_duration_seconds Flush time.
# TYPE spansink_flush_duration_seconds histogram
spansink_flush_duration_seconds_bucket{storage="file",le="0.1"} 1
spansink_flush_duration_seconds_bucket{storage="file",le="+Inf"} 1
spansink_flush_duration_seconds_sum{storage="file"} 0.05
spansink_flush_duration_seconds_count{storage="file"} 1
# HELP rpc_seconds A summary.
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 1
rpc_seconds_sum 1
rpc_seconds_count 1
`

func catalog(t *testing.T) Catalog {
	t.Helper()
	c, err := Parse(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckAcceptsWhatTheScrapeHas(t *testing.T) {
	c := catalog(t)
	for _, expr := range []string{
		`sum by (protocol) (rate(spansink_spans_received_total{protocol!="dbgpt"}[5m]))`,
		`histogram_quantile(0.99, sum by (le, storage) (rate(spansink_flush_duration_seconds_bucket[5m])))`,
		`rate(spansink_flush_duration_seconds_sum[5m]) / rate(spansink_flush_duration_seconds_count[5m])`,
		`rpc_seconds{quantile="0.5"} + on() group_left rpc_seconds_count`,
		// Labels Prometheus adds at scrape time are allowed.
		`sum by (namespace, job) (spansink_queue_spans{namespace="team-a", job=~"sink-.*"})`,
		`sum without (instance, pod) (spansink_queue_spans)`,
		`sum by (namespace, pod, shard) (spansink_queue_spans{shard="0"})`,
		// Prometheus records up for every target.
		`up{namespace="team-a", job="team-a/sink-collector"} == 0`,
		`spansink_queue_spans > 5`,
		// Labels the expression makes itself.
		`sum by (proto) (label_replace(spansink_spans_received_total, "proto", "$1", "protocol", "otlp_(.*)"))`,
		`count by (spans) (count_values("spans", spansink_queue_spans))`,
		`time() - 5`,
	} {
		if err := c.Check(expr); err != nil {
			t.Errorf("Check(%s): %v", expr, err)
		}
	}
}

func TestCheckRefusesWhatTheScrapeLacks(t *testing.T) {
	c := catalog(t)
	for _, tc := range []struct {
		expr, want string
	}{
		{`rate(spansink_spans_recieved_total[5m])`, `spansink_spans_recieved_total: the scrape has no series of that name (it has spansink_spans_received_total)`},
		{`spansink_spans_received_total{proto="dbgpt"}`, `spansink_spans_received_total has no label "proto" (it has protocol)`},
		{`sum by (reason) (spansink_spans_received_total)`, `by (reason): no series it applies to (spansink_spans_received_total) has label "reason"`},
		{`sum without (storage) (spansink_queue_spans)`, `without (storage): no series it applies to (spansink_queue_spans) has label "storage"`},
		{`spansink_queue_spans / on (storage) spansink_flush_duration_seconds_count`, `on (storage): no series it applies to (spansink_queue_spans) has label "storage"`},
		{`spansink_flush_duration_seconds_count * on () group_left (protocol) spansink_queue_spans`, `group_left (protocol): no series it applies to (spansink_queue_spans) has label "protocol"`},
		// A histogram is read through its _bucket, _sum and _count series.
		{`spansink_flush_duration_seconds`, `spansink_flush_duration_seconds: the scrape has no series of that name`},
		{`spansink_flush_duration_seconds_sum{le="0.1"}`, `spansink_flush_duration_seconds_sum has no label "le"`},
		{`{__name__=~"spansink_.*"}`, `does not name one metric`},
		{`sum(rate(spansink_queue_spans[5m])`, `parse`},
		{`up{storage="file"}`, `up has no label "storage" (it has none)`},
		// A made label counts only inside the operand that makes it.
		{`sum by (proto) (spansink_spans_received_total) + on () group_left sum(label_replace(spansink_queue_spans, "proto", "x", "", ""))`, `by (proto): no series it applies to (spansink_spans_received_total) has label "proto"`},
	} {
		err := c.Check(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s) = %v, want an error with %q", tc.expr, err, tc.want)
		}
	}
}

func TestReferListsSelectorsAndGroupings(t *testing.T) {
	refs, err := Refer(`sum by (protocol) (rate(a_total{reason="x", code!="200"}[5m])) / ignoring (code) b`)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs.Selectors) != 2 || refs.Selectors[0].Metric != "a_total" || strings.Join(refs.Selectors[0].Labels, ",") != "reason,code" || refs.Selectors[1].Metric != "b" {
		t.Errorf("selectors %+v", refs.Selectors)
	}
	var clauses []string
	for _, g := range refs.Groupings {
		clauses = append(clauses, g.Clause)
	}
	if strings.Join(clauses, "; ") != "ignoring (code); ignoring (code); by (protocol)" {
		t.Errorf("groupings %q", clauses)
	}
}
