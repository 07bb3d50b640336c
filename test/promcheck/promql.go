package promcheck

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Selector is one vector selector of an expression: the series name it
// selects and the label names its matchers test.
type Selector struct {
	Metric string
	Labels []string
}

// Grouping is a list of label names an expression aggregates or matches by
// (by, without, on, ignoring, group_left and group_right), with the
// selectors of the operands it applies to: each label must exist on at
// least one of them, or be made inside the operand.
type Grouping struct {
	// Clause says where the labels appear, as in "by (storage)", for errors.
	Clause    string
	Labels    []string
	Selectors []Selector
	// Made are the labels the operand makes itself: label_replace's and
	// label_join's destination, count_values' label.
	Made []string
}

// References are what an expression refers to in the series it reads.
type References struct {
	Selectors []Selector
	Groupings []Grouping
}

// promql parses as Prometheus does with its default (non-experimental)
// features, which is what a Prometheus Operator deployment runs.
var promql = parser.NewParser(parser.Options{})

// Refer parses expr and returns the selectors and groupings in it. A
// selector that does not name its metric with an equality matcher is an
// error: nothing could check what it reads.
func Refer(expr string) (References, error) {
	parsed, err := promql.ParseExpr(expr)
	if err != nil {
		return References{}, fmt.Errorf("parse %q: %w", expr, err)
	}
	var refs References
	var errs []error
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			s, err := selectorOf(n)
			if err != nil {
				errs = append(errs, err)
				return nil
			}
			refs.Selectors = append(refs.Selectors, s)
		case *parser.AggregateExpr:
			if len(n.Grouping) > 0 {
				clause := "by"
				if n.Without {
					clause = "without"
				}
				refs.Groupings = append(refs.Groupings, grouping(clause, n.Grouping, n.Expr))
			}
		case *parser.BinaryExpr:
			m := n.VectorMatching
			if m == nil {
				return nil
			}
			if len(m.MatchingLabels) > 0 {
				clause := "ignoring"
				if m.On {
					clause = "on"
				}
				refs.Groupings = append(refs.Groupings, grouping(clause, m.MatchingLabels, n.LHS), grouping(clause, m.MatchingLabels, n.RHS))
			}
			if len(m.Include) > 0 {
				// group_left copies labels of the "one" side, the
				// right; group_right those of the left.
				clause, one := "group_left", n.RHS
				if m.Card == parser.CardOneToMany {
					clause, one = "group_right", n.LHS
				}
				refs.Groupings = append(refs.Groupings, grouping(clause, m.Include, one))
			}
		}
		return nil
	})
	return refs, errors.Join(errs...)
}

func selectorOf(vs *parser.VectorSelector) (Selector, error) {
	s := Selector{Metric: vs.Name}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			if m.Type != labels.MatchEqual {
				return Selector{}, fmt.Errorf("selector %s does not name one metric (%s): it cannot be checked", vs, m)
			}
			s.Metric = m.Value
			continue
		}
		s.Labels = append(s.Labels, m.Name)
	}
	if s.Metric == "" {
		return Selector{}, fmt.Errorf("selector %s names no metric", vs)
	}
	return s, nil
}

func grouping(clause string, names []string, operand parser.Node) Grouping {
	g := Grouping{Clause: fmt.Sprintf("%s (%s)", clause, strings.Join(names, ", ")), Labels: names}
	parser.Inspect(operand, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			if s, err := selectorOf(n); err == nil {
				g.Selectors = append(g.Selectors, s)
			}
		case *parser.Call:
			if (n.Func.Name == "label_replace" || n.Func.Name == "label_join") && len(n.Args) > 1 {
				if dst, ok := n.Args[1].(*parser.StringLiteral); ok {
					g.Made = append(g.Made, dst.Val)
				}
			}
		case *parser.AggregateExpr:
			if n.Op == parser.COUNT_VALUES {
				if label, ok := n.Param.(*parser.StringLiteral); ok {
					g.Made = append(g.Made, label.Val)
				}
			}
		}
		return nil
	})
	return g
}

// Check fails when expr refers to a series the catalog lacks, matches on a
// label that series does not carry, or groups by a label none of the series
// it groups carries. Labels of TargetLabels are allowed everywhere.
func (c Catalog) Check(expr string) error {
	refs, err := Refer(expr)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range refs.Selectors {
		have, ok := c.series[s.Metric]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: the scrape has no series of that name%s", s.Metric, c.nearby(s.Metric)))
			continue
		}
		for _, l := range s.Labels {
			if !have[l] && !isTargetLabel(l) {
				errs = append(errs, fmt.Errorf("%s has no label %q (it has %s)", s.Metric, l, listLabels(have)))
			}
		}
	}
	for _, g := range refs.Groupings {
		g.Selectors = c.known(g.Selectors)
		if len(g.Selectors) == 0 {
			// A scalar operand has no labels to match; a missing
			// series is reported above.
			continue
		}
		for _, l := range g.Labels {
			if isTargetLabel(l) || c.anyHas(g.Selectors, l) || contains(g.Made, l) {
				continue
			}
			names := make([]string, len(g.Selectors))
			for i, s := range g.Selectors {
				names[i] = s.Metric
			}
			errs = append(errs, fmt.Errorf("%s: no series it applies to (%s) has label %q", g.Clause, strings.Join(names, ", "), l))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%q: %w", expr, err)
	}
	return nil
}

func (c Catalog) known(selectors []Selector) []Selector {
	var out []Selector
	for _, s := range selectors {
		if _, ok := c.series[s.Metric]; ok {
			out = append(out, s)
		}
	}
	return out
}

func (c Catalog) anyHas(selectors []Selector, label string) bool {
	for _, s := range selectors {
		if c.series[s.Metric][label] {
			return true
		}
	}
	return false
}

// nearby names scraped series that share the missing name's first two
// words, to make a rename obvious in the failure.
func (c Catalog) nearby(name string) string {
	words := strings.SplitN(name, "_", 3)
	if len(words) < 2 {
		return ""
	}
	prefix := words[0] + "_" + words[1]
	var similar []string
	for _, s := range c.SeriesNames() {
		if strings.HasPrefix(s, prefix) {
			similar = append(similar, s)
		}
	}
	if len(similar) == 0 {
		return ""
	}
	return fmt.Sprintf(" (it has %s)", strings.Join(similar, ", "))
}

func listLabels(have map[string]bool) string {
	if len(have) == 0 {
		return "none"
	}
	names := make([]string, 0, len(have))
	for l := range have {
		names = append(names, l)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// CheckSeries fails when series, one series in the PromQL notation
// (`name{label="value"}`, as promtool's input_series takes it), is of a
// name the catalog lacks or has a label its series do not carry (beyond
// TargetLabels).
func (c Catalog) CheckSeries(series string) error {
	metric, err := promql.ParseMetric(series)
	if err != nil {
		return fmt.Errorf("parse series %q: %w", series, err)
	}
	name := metric.Get(labels.MetricName)
	have, ok := c.series[name]
	if !ok {
		return fmt.Errorf("%s: the scrape has no series of that name%s", name, c.nearby(name))
	}
	var errs []error
	metric.Range(func(l labels.Label) {
		if l.Name != labels.MetricName && !have[l.Name] && !isTargetLabel(l.Name) {
			errs = append(errs, fmt.Errorf("%s has no label %q (it has %s)", name, l.Name, listLabels(have)))
		}
	})
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
