package stats

import (
	"sort"
	"time"

	"github.com/spansink/spansink/sink/reader"
)

// Group is the aggregate of the spans of one service, one operation of a
// service, or all spans.
type Group struct {
	// Service and Operation name the group; empty where not grouped by them.
	Service   string
	Operation string
	// Spans and Errors count spans.
	Spans  uint64
	Errors uint64

	traces    Distinct
	durations Quantiles
}

// Traces is the number of distinct traces the group's spans belong to
// (estimated within about 1% beyond a thousand traces).
func (g *Group) Traces() uint64 { return g.traces.Count() }

// Percentile returns a duration percentile (p in (0, 1]) over the spans with
// a known duration.
func (g *Group) Percentile(p float64) (time.Duration, bool) { return g.durations.Quantile(p) }

func (g *Group) add(s *reader.Span) {
	g.Spans++
	if s.Status == reader.StatusError {
		g.Errors++
	}
	g.traces.Add(s.TraceID)
	if d, ok := s.Duration(); ok {
		g.durations.Add(d)
	}
}

// Report aggregates spans per service and per service and operation.
type Report struct {
	// Total covers every span added.
	Total Group
	// First and Last are the earliest and latest span start seen.
	First time.Time
	Last  time.Time

	services   map[string]*Group
	operations map[[2]string]*Group
}

// NewReport returns an empty report.
func NewReport() *Report {
	return &Report{services: map[string]*Group{}, operations: map[[2]string]*Group{}}
}

// Add counts one span.
func (r *Report) Add(s *reader.Span) {
	r.Total.add(s)
	if !s.Start.IsZero() {
		if r.First.IsZero() || s.Start.Before(r.First) {
			r.First = s.Start
		}
		if s.Start.After(r.Last) {
			r.Last = s.Start
		}
	}
	service := r.services[s.Service]
	if service == nil {
		service = &Group{Service: s.Service}
		r.services[s.Service] = service
	}
	service.add(s)
	key := [2]string{s.Service, s.Operation}
	operation := r.operations[key]
	if operation == nil {
		operation = &Group{Service: s.Service, Operation: s.Operation}
		r.operations[key] = operation
	}
	operation.add(s)
}

// Services returns the per-service groups, busiest first.
func (r *Report) Services() []*Group {
	out := make([]*Group, 0, len(r.services))
	for _, g := range r.services {
		out = append(out, g)
	}
	sortGroups(out)
	return out
}

// Operations returns the per-operation groups, busiest first.
func (r *Report) Operations() []*Group {
	out := make([]*Group, 0, len(r.operations))
	for _, g := range r.operations {
		out = append(out, g)
	}
	sortGroups(out)
	return out
}

// sortGroups orders by span count, then by name, so output is stable.
func sortGroups(groups []*Group) {
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.Spans != b.Spans {
			return a.Spans > b.Spans
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Operation < b.Operation
	})
}
