package spans

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
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
			if err := checkOutput(output, render.Text, render.JSON); err != nil {
				return err
			}
			in, err := opts.files(cmd, args, nil)
			if err != nil {
				return err
			}
			var spans []reader.Span
			scanner := opts.scanner(cmd.ErrOrStderr(), &reader.Filter{TraceID: traceID}, output == render.JSON, in)
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
			tree := render.BuildTree(spans)
			if output == render.JSON {
				return render.WriteTreeJSON(cmd.OutOrStdout(), tree)
			}
			return render.WriteTreeText(cmd.OutOrStdout(), traceID, tree)
		},
	}
	cmd.Flags().StringVar(&traceID, "trace-id", "", "the trace to show (required)")
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text or json (nested spans)")
	return cmd
}
