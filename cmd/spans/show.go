package spans

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
)

func newShowCommand(opts *options) *cobra.Command {
	var traceID string
	cmd := &cobra.Command{
		Use:   "show SPAN-ID [FILE|DIR|GLOB]...",
		Short: "Print one span whole, pretty-printed",
		Long: `Print a span as indented JSON in the "dbgpt" layout, metadata included.
A DB-GPT span's start and end records are printed as one span, the end
record's metadata over the start's. When several traces hold a span with this
id, each is printed; --trace-id picks one.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MinimumNArgs(1)(cmd, args); err != nil {
				return &UsageError{Err: err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			spanID := args[0]
			in, err := opts.files(cmd, args[1:], nil)
			if err != nil {
				return err
			}
			var found []reader.Span
			scanner := opts.scanner(cmd.ErrOrStderr(), &reader.Filter{SpanID: spanID, TraceID: traceID}, true, in)
			summary, err := scanner.ScanStreams(cmd.Context(), in.streams, func(s *reader.Span) error {
				found = append(found, *s)
				return nil
			})
			if err != nil {
				return err
			}
			if err := checkReadable(summary, in); err != nil {
				return err
			}
			if len(found) == 0 {
				return fmt.Errorf("span %s not found in %d line(s) of %d file(s)", spanID, summary.Readable(), summary.Files)
			}
			out := cmd.OutOrStdout()
			for i := range found {
				pretty, err := render.IndentedJSON(&found[i])
				if err != nil {
					return fmt.Errorf("format span %s from %s:%d: %w", spanID, found[i].File, found[i].Line, err)
				}
				if _, err := out.Write(pretty); err != nil {
					return fmt.Errorf("write span: %w", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&traceID, "trace-id", "", "only the span in this trace")
	return cmd
}
