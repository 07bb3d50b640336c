package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// reference finds the row a result's CPU per span is divided by: the
// peer's in the same round, shape and protocol, or for DB-GPT records the
// same spansink configuration's OTLP/HTTP row with the default shape.
func reference(results []result, r result) (result, string, bool) {
	for _, other := range results {
		if other.round != r.round || other.err != nil {
			continue
		}
		switch {
		case r.shape == "dbgpt":
			if other.shape == "default" && other.protocol == "http" && other.target == r.target {
				return other, "OTLP/HTTP", true
			}
		case !r.target.peer:
			if other.target.peer && other.shape == r.shape && other.protocol == r.protocol {
				return other, "peer", true
			}
		}
	}
	return result{}, "", false
}

func protocolLabel(r result) string {
	switch {
	case r.shape == "dbgpt":
		return "DB-GPT /v1/spans JSON"
	case r.protocol == "grpc":
		return "OTLP/gRPC"
	default:
		return "OTLP/HTTP protobuf"
	}
}

// printTables writes one row per run, then the medians over the rounds, as
// Markdown tables for docs/benchmarks.md.
func printTables(w io.Writer, o options, results []result) {
	known := shapes()
	fmt.Fprintf(w, "Load: %d clients × %d spans each at %.0f spans/s per client.\n\n", o.workers, o.spansPerWorker, o.rate)
	for _, name := range o.shapes {
		fmt.Fprintf(w, "- shape `%s`: %s\n", name, known[name].about)
	}
	fmt.Fprintln(w)
	header := "| round | shape | protocol | collector | spans | spans/s | CPU-s per million spans (user + system) | peak RSS | bytes/span | spans in files = sent | CPU per span vs |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
	fmt.Fprint(w, header)
	for _, r := range sorted(o, results) {
		if r.err != nil {
			fmt.Fprintf(w, "| %d | %s | %s | %s | %d | | | | | **no: %s** | |\n", r.round, r.shape, protocolLabel(r), r.target.name, r.spans, strings.ReplaceAll(r.err.Error(), "|", "/"))
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %d | %.0f | %.2f (%.2f + %.2f) | %.1f MiB | %.0f | yes (%d) | %s |\n",
			r.round, r.shape, protocolLabel(r), r.target.name, r.spans,
			float64(r.spans)/r.elapsed.Seconds(), r.cpuPerMillion(),
			r.usage.user.Seconds()/(float64(r.spans)/1e6), r.usage.system.Seconds()/(float64(r.spans)/1e6),
			float64(r.usage.peakRSS)/(1<<20), float64(r.files.bytes)/float64(r.spans), r.files.spans, ratio(results, r))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Medians over the rounds (peak RSS: the largest):")
	fmt.Fprintln(w)
	fmt.Fprint(w, "| shape | protocol | collector | rounds | spans/s | CPU-s per million spans | peak RSS | bytes/span | CPU per span vs (median of the rounds' ratios) |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	type key struct {
		shape, protocol string
		target          target
	}
	groups := map[key][]result{}
	var keys []key
	for _, r := range sorted(o, results) {
		if r.err != nil {
			continue
		}
		k := key{r.shape, protocolLabel(r), r.target}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range keys {
		rs := groups[k]
		var rates, cpus, sizes, ratios []float64
		var peak int64
		label := ""
		for _, r := range rs {
			rates = append(rates, float64(r.spans)/r.elapsed.Seconds())
			cpus = append(cpus, r.cpuPerMillion())
			sizes = append(sizes, float64(r.files.bytes)/float64(r.spans))
			peak = max(peak, r.usage.peakRSS)
			if ref, name, ok := reference(results, r); ok {
				ratios = append(ratios, r.cpuPerMillion()/ref.cpuPerMillion())
				label = name
			}
		}
		vs := ""
		if len(ratios) > 0 {
			vs = fmt.Sprintf("%.2f × %s", median(ratios), label)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.0f | %.2f | %.1f MiB | %.0f | %s |\n",
			k.shape, k.protocol, k.target.name, len(rs), median(rates), median(cpus), float64(peak)/(1<<20), median(sizes), vs)
	}
}

func ratio(results []result, r result) string {
	ref, name, ok := reference(results, r)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.2f × %s", r.cpuPerMillion()/ref.cpuPerMillion(), name)
}

// sorted orders rows by shape (as -shapes lists them; an added reference
// row first), protocol, collector and round, so that a collector's rounds
// sit together.
func sorted(o options, results []result) []result {
	out := slices.Clone(results)
	rank := func(t target) int {
		return slices.IndexFunc(targetOrder, func(n string) bool { return allTargets[n] == t })
	}
	slices.SortStableFunc(out, func(a, b result) int {
		if c := slices.Index(o.shapes, a.shape) - slices.Index(o.shapes, b.shape); c != 0 {
			return c
		}
		if c := strings.Compare(a.protocol, b.protocol); c != 0 {
			return c
		}
		if c := rank(a.target) - rank(b.target); c != 0 {
			return c
		}
		return a.round - b.round
	})
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
