package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spansink/spansink/sink/reader"
)

// node is a span in the tree.
type node struct {
	span     *reader.Span
	children []*node
	// missingParent is set on an orphan: its parent is not in the files.
	missingParent string
}

// Trace is a trace built into a tree by BuildTree.
type Trace struct {
	roots   []*node
	orphans []*node
	start   time.Time
	end     time.Time
	count   int
}

// BuildTree links spans to parents. Spans left unreached from a root or an
// orphan (a parent cycle) are shown as orphans too, so nothing is dropped.
func BuildTree(spans []reader.Span) *Trace {
	t := &Trace{count: len(spans)}
	nodes := make(map[string]*node, len(spans))
	all := make([]*node, len(spans))
	for i := range spans {
		n := &node{span: &spans[i]}
		all[i] = n
		if _, dup := nodes[spans[i].SpanID]; !dup {
			nodes[spans[i].SpanID] = n
		}
		if s := spans[i].Start; !s.IsZero() && (t.start.IsZero() || s.Before(t.start)) {
			t.start = s
		}
		if e := spans[i].End; e.After(t.end) {
			t.end = e
		}
	}
	for _, n := range all {
		parentID := n.span.ParentSpanID
		switch parent, ok := nodes[parentID]; {
		case parentID == "":
			t.roots = append(t.roots, n)
		case ok && parent != n:
			parent.children = append(parent.children, n)
		default:
			n.missingParent = parentID
			t.orphans = append(t.orphans, n)
		}
	}
	reached := map[*node]bool{}
	var mark func(*node)
	mark = func(n *node) {
		if reached[n] {
			return
		}
		reached[n] = true
		for _, c := range n.children {
			mark(c)
		}
	}
	for _, n := range append(append([]*node{}, t.roots...), t.orphans...) {
		mark(n)
	}
	for _, n := range all {
		if !reached[n] {
			n.missingParent = n.span.ParentSpanID
			t.orphans = append(t.orphans, n)
			// Cut the cycle at this span so printing ends.
			if parent := nodes[n.span.ParentSpanID]; parent != nil {
				kept := parent.children[:0]
				for _, c := range parent.children {
					if c != n {
						kept = append(kept, c)
					}
				}
				parent.children = kept
			}
			mark(n)
		}
	}
	sortNodes(t.roots)
	sortNodes(t.orphans)
	for _, n := range all {
		sortNodes(n.children)
	}
	return t
}

// sortNodes orders siblings by start time; unknown starts last.
func sortNodes(nodes []*node) {
	sort.SliceStable(nodes, func(i, j int) bool {
		a, b := nodes[i].span.Start, nodes[j].span.Start
		if a.IsZero() != b.IsZero() {
			return !a.IsZero()
		}
		if !a.Equal(b) {
			return a.Before(b)
		}
		return nodes[i].span.SpanID < nodes[j].span.SpanID
	})
}

// WriteTreeText prints the tree with aligned columns.
func WriteTreeText(w io.Writer, traceID string, t *Trace) error {
	total := "-"
	if !t.start.IsZero() && !t.end.IsZero() {
		total = formatDuration(t.end.Sub(t.start))
	}
	if _, err := fmt.Fprintf(w, "trace %s: %d span(s), start %s, duration %s\n", Printable(traceID), t.count, formatTime(t.start), total); err != nil {
		return err
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SPAN\tSPAN ID\tSERVICE\tDURATION\tOFFSET\tSTATUS")
	var walk func(n *node, prefix string, last bool, top bool)
	walk = func(n *node, prefix string, last bool, top bool) {
		branch, childPrefix := "", ""
		if !top {
			branch, childPrefix = "├─ ", "│  "
			if last {
				branch, childPrefix = "└─ ", "   "
			}
		}
		label := Printable(orDash(n.span.Operation))
		if n.missingParent != "" {
			label += " (parent " + Printable(n.missingParent) + " not found)"
		}
		fmt.Fprintf(tw, "%s%s%s\t%s\t%s\t%s\t%s\t%s\n", prefix, branch, label, Printable(n.span.SpanID), Printable(orDash(n.span.Service)),
			spanDuration(n.span), offset(t.start, n.span.Start), Printable(string(n.span.Status)))
		for i, c := range n.children {
			walk(c, prefix+childPrefix, i == len(n.children)-1, false)
		}
	}
	for _, n := range t.roots {
		walk(n, "", true, true)
	}
	if len(t.orphans) > 0 {
		fmt.Fprintln(tw, "orphans:\t\t\t\t\t")
		for _, n := range t.orphans {
			walk(n, "", true, true)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The "orphans:" heading is a row of empty cells; drop their padding.
	for _, line := range bytes.SplitAfter(table.Bytes(), []byte("\n")) {
		trimmed := bytes.TrimRight(line, " \n")
		if len(line) == 0 {
			continue
		}
		if _, err := fmt.Fprintf(w, "%s\n", trimmed); err != nil {
			return err
		}
	}
	return nil
}

// offset shows how long after the trace start a span began.
func offset(traceStart, start time.Time) string {
	if traceStart.IsZero() || start.IsZero() {
		return "-"
	}
	return "+" + formatDuration(start.Sub(traceStart))
}

// TreeJSON is a span with its children in the document WriteTreeJSON
// writes.
type TreeJSON struct {
	Span          json.RawMessage `json:"span"`
	DurationMS    *float64        `json:"duration_ms"`
	OffsetMS      *float64        `json:"offset_ms"`
	Status        string          `json:"status"`
	MissingParent string          `json:"missing_parent,omitempty"`
	Children      []TreeJSON      `json:"children"`
}

// WriteTreeJSON writes the tree as one indented JSON document of nested
// spans, roots and orphans apart.
func WriteTreeJSON(w io.Writer, t *Trace) error {
	var convert func(n *node) (TreeJSON, error)
	convert = func(n *node) (TreeJSON, error) {
		line, err := reader.AppendDBGPT(nil, n.span)
		if err != nil {
			return TreeJSON{}, fmt.Errorf("encode span %s from %s:%d: %w", n.span.SpanID, n.span.File, n.span.Line, err)
		}
		out := TreeJSON{Span: line, Status: string(n.span.Status), MissingParent: n.missingParent, Children: []TreeJSON{}}
		if d, ok := n.span.Duration(); ok {
			ms := float64(d) / float64(time.Millisecond)
			out.DurationMS = &ms
		}
		if !t.start.IsZero() && !n.span.Start.IsZero() {
			ms := float64(n.span.Start.Sub(t.start)) / float64(time.Millisecond)
			out.OffsetMS = &ms
		}
		for _, c := range n.children {
			child, err := convert(c)
			if err != nil {
				return TreeJSON{}, err
			}
			out.Children = append(out.Children, child)
		}
		return out, nil
	}
	doc := struct {
		Roots   []TreeJSON `json:"roots"`
		Orphans []TreeJSON `json:"orphans"`
	}{Roots: []TreeJSON{}, Orphans: []TreeJSON{}}
	for _, n := range t.roots {
		root, err := convert(n)
		if err != nil {
			return err
		}
		doc.Roots = append(doc.Roots, root)
	}
	for _, n := range t.orphans {
		orphan, err := convert(n)
		if err != nil {
			return err
		}
		doc.Orphans = append(doc.Orphans, orphan)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode tree: %w", err)
	}
	if _, err := w.Write(TerminalSafeJSON(out.Bytes())); err != nil {
		return fmt.Errorf("write tree: %w", err)
	}
	return nil
}
