package render

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spansink/spansink/sink/reader/stats"
)

// percentiles reported by stats.
var percentiles = []struct {
	name string
	p    float64
}{{"P50", 0.50}, {"P90", 0.90}, {"P99", 0.99}}

func percentileText(g *stats.Group, p float64) string {
	d, ok := g.Percentile(p)
	if !ok {
		return "-"
	}
	return formatDuration(d)
}

// WriteStatsText writes the report as two aligned tables, per service and
// per operation, under a line of totals.
func WriteStatsText(w io.Writer, r *stats.Report) error {
	fmt.Fprintf(w, "%d span(s), %d trace(s), %d error(s)", r.Total.Spans, r.Total.Traces(), r.Total.Errors)
	if !r.First.IsZero() {
		fmt.Fprintf(w, ", started %s to %s", formatTime(r.First), formatTime(r.Last))
	}
	fmt.Fprintln(w)
	if r.Total.Spans == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SERVICE\tSPANS\tTRACES\tERRORS\tP50\tP90\tP99")
	for _, g := range r.Services() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", Printable(orDash(g.Service)), g.Spans, g.Traces(), g.Errors,
			percentileText(g, 0.5), percentileText(g, 0.9), percentileText(g, 0.99))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SERVICE\tOPERATION\tSPANS\tTRACES\tERRORS\tP50\tP90\tP99")
	for _, g := range r.Operations() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", Printable(orDash(g.Service)), Printable(orDash(g.Operation)), g.Spans, g.Traces(), g.Errors,
			percentileText(g, 0.5), percentileText(g, 0.9), percentileText(g, 0.99))
	}
	return tw.Flush()
}

// groupJSON is a group in --output json; durations in milliseconds, null when
// no span of the group has a known duration.
type groupJSON struct {
	Service   string   `json:"service"`
	Operation string   `json:"operation,omitempty"`
	Spans     uint64   `json:"spans"`
	Traces    uint64   `json:"traces"`
	Errors    uint64   `json:"errors"`
	P50MS     *float64 `json:"p50_ms"`
	P90MS     *float64 `json:"p90_ms"`
	P99MS     *float64 `json:"p99_ms"`
}

func toGroupJSON(g *stats.Group) groupJSON {
	out := groupJSON{Service: g.Service, Operation: g.Operation, Spans: g.Spans, Traces: g.Traces(), Errors: g.Errors}
	targets := []**float64{&out.P50MS, &out.P90MS, &out.P99MS}
	for i, p := range percentiles {
		if d, ok := g.Percentile(p.p); ok {
			ms := float64(d) / float64(time.Millisecond)
			*targets[i] = &ms
		}
	}
	return out
}

// WriteStatsJSON writes the report as one indented JSON document.
func WriteStatsJSON(w io.Writer, r *stats.Report) error {
	doc := struct {
		Total      groupJSON   `json:"total"`
		From       string      `json:"from,omitempty"`
		To         string      `json:"to,omitempty"`
		Services   []groupJSON `json:"services"`
		Operations []groupJSON `json:"operations"`
	}{Total: toGroupJSON(&r.Total), Services: []groupJSON{}, Operations: []groupJSON{}}
	if !r.First.IsZero() {
		doc.From, doc.To = formatTime(r.First), formatTime(r.Last)
	}
	for _, g := range r.Services() {
		doc.Services = append(doc.Services, toGroupJSON(g))
	}
	for _, g := range r.Operations() {
		doc.Operations = append(doc.Operations, toGroupJSON(g))
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode stats: %w", err)
	}
	if _, err := w.Write(TerminalSafeJSON(out.Bytes())); err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	return nil
}

// WriteStatsCSV writes one row per group; the group column says which table
// a row belongs to.
func WriteStatsCSV(w io.Writer, r *stats.Report) error {
	out := csv.NewWriter(w)
	out.Write([]string{"group", "service", "operation", "spans", "traces", "errors", "p50_ms", "p90_ms", "p99_ms"})
	row := func(kind string, g *stats.Group) {
		record := []string{kind, Printable(g.Service), Printable(g.Operation), strconv.FormatUint(g.Spans, 10), strconv.FormatUint(g.Traces(), 10), strconv.FormatUint(g.Errors, 10)}
		for _, p := range percentiles {
			value := ""
			if d, ok := g.Percentile(p.p); ok {
				value = strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
			}
			record = append(record, value)
		}
		out.Write(record)
	}
	row("total", &r.Total)
	for _, g := range r.Services() {
		row("service", g)
	}
	for _, g := range r.Operations() {
		row("operation", g)
	}
	out.Flush()
	if err := out.Error(); err != nil {
		return fmt.Errorf("write stats: %w", err)
	}
	return nil
}
