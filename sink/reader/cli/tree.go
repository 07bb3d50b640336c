package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
)

func newTreeCommand(opts *options) *cobra.Command {
	var (
		traceID string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "tree --trace-id ID [FILE|DIR|GLOB]...",
		Short: "Show one trace as a tree of spans with durations and offsets",
		Long: `Show one trace as an indented tree: each span with its duration and its
offset from the start of the trace, children in start order. DB-GPT start and
end records are joined into one span. Spans whose parent is not in the files
are shown as orphans below the tree instead of being dropped.

Only the trace's spans are kept in memory, however large the files.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if traceID == "" {
				return usageErrorf("--trace-id is required")
			}
			if err := checkOutput(output, outputText, outputJSON); err != nil {
				return err
			}
			in, err := opts.files(cmd, args, nil)
			if err != nil {
				return err
			}
			var spans []reader.Span
			scanner := opts.scanner(cmd.ErrOrStderr(), &reader.Filter{TraceID: traceID}, output == outputJSON, in)
			summary, err := scanner.ScanStreams(cmd.Context(), in.streams, func(s *reader.Span) error {
				spans = append(spans, *s)
				return nil
			})
			if err != nil {
				return err
			}
			if err := checkReadable(summary, in); err != nil {
				return err
			}
			if len(spans) == 0 {
				return fmt.Errorf("trace %s not found in %d line(s) of %d file(s)", traceID, summary.Readable(), summary.Files)
			}
			tree := buildTree(spans)
			if output == outputJSON {
				return writeTreeJSON(cmd.OutOrStdout(), tree)
			}
			return writeTreeText(cmd.OutOrStdout(), traceID, tree)
		},
	}
	cmd.Flags().StringVar(&traceID, "trace-id", "", "the trace to show (required)")
	cmd.Flags().StringVarP(&output, "output", "o", outputText, "output format: text or json (nested spans)")
	return cmd
}

// node is a span in the tree.
type node struct {
	span     *reader.Span
	children []*node
	// missingParent is set on an orphan: its parent is not in the files.
	missingParent string
}

// trace is the built tree.
type trace struct {
	roots   []*node
	orphans []*node
	start   time.Time
	end     time.Time
	count   int
}

// buildTree links spans to parents. Spans left unreached from a root or an
// orphan (a parent cycle) are shown as orphans too, so nothing is dropped.
func buildTree(spans []reader.Span) *trace {
	t := &trace{count: len(spans)}
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

// writeTreeText prints the tree with aligned columns.
func writeTreeText(w io.Writer, traceID string, t *trace) error {
	total := "-"
	if !t.start.IsZero() && !t.end.IsZero() {
		total = formatDuration(t.end.Sub(t.start))
	}
	if _, err := fmt.Fprintf(w, "trace %s: %d span(s), start %s, duration %s\n", printable(traceID), t.count, formatTime(t.start), total); err != nil {
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
		label := printable(orDash(n.span.Operation))
		if n.missingParent != "" {
			label += " (parent " + printable(n.missingParent) + " not found)"
		}
		fmt.Fprintf(tw, "%s%s%s\t%s\t%s\t%s\t%s\t%s\n", prefix, branch, label, printable(n.span.SpanID), printable(orDash(n.span.Service)),
			spanDuration(n.span), offset(t.start, n.span.Start), printable(string(n.span.Status)))
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

// treeJSON is a span with its children, for --output json.
type treeJSON struct {
	Span          json.RawMessage `json:"span"`
	DurationMS    *float64        `json:"duration_ms"`
	OffsetMS      *float64        `json:"offset_ms"`
	Status        string          `json:"status"`
	MissingParent string          `json:"missing_parent,omitempty"`
	Children      []treeJSON      `json:"children"`
}

func writeTreeJSON(w io.Writer, t *trace) error {
	var convert func(n *node) (treeJSON, error)
	convert = func(n *node) (treeJSON, error) {
		line, err := reader.AppendDBGPT(nil, n.span)
		if err != nil {
			return treeJSON{}, fmt.Errorf("encode span %s from %s:%d: %w", n.span.SpanID, n.span.File, n.span.Line, err)
		}
		out := treeJSON{Span: line, Status: string(n.span.Status), MissingParent: n.missingParent, Children: []treeJSON{}}
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
				return treeJSON{}, err
			}
			out.Children = append(out.Children, child)
		}
		return out, nil
	}
	doc := struct {
		Roots   []treeJSON `json:"roots"`
		Orphans []treeJSON `json:"orphans"`
	}{Roots: []treeJSON{}, Orphans: []treeJSON{}}
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
	if _, err := w.Write(terminalSafeJSON(out.Bytes())); err != nil {
		return fmt.Errorf("write tree: %w", err)
	}
	return nil
}
