package spans

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
)

func newListCommand(opts *options) *cobra.Command {
	var (
		filters filterFlags
		limit   int
		desc    bool
		output  string
	)
	cmd := &cobra.Command{
		Use:   "list [FILE|DIR|GLOB]...",
		Short: "List spans that match filters",
		Long: `List spans in file order, oldest first, or newest first with --desc.
Several shards' files are merged by time into one list.

A DB-GPT span written as a start and an end record is listed once, when its
end record is read (in whichever shard it is); a start record whose end never
came is listed at the end without a duration.`,
		Example: `  spansink spans list --trace-id 4bf92f3577b34da6a3ce929d0e0e4736
  spansink spans list --service api --errors --since 15m --desc
  spansink spans list --search timeout --output json /data/spans_2024-05-01*.jsonl*
  spansink spans list --limit 0 ./shard-0 ./shard-1 ./shard-2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, render.Text, render.JSON, render.CSV); err != nil {
				return err
			}
			switch {
			case limit < 0:
				return usageErrorf("--limit must not be negative")
			case desc && limit == 0:
				// Newest first means holding the last --limit matches until
				// the input ends; without a limit that is every span, and
				// memory must stay flat however large the files are.
				return usageErrorf("--desc needs a --limit above 0: newest first keeps the last --limit matching spans in memory until the end of the input; give a limit, or list all spans oldest first without --desc")
			}
			filter, err := filters.build(opts.env.now())
			if err != nil {
				return err
			}
			in, err := opts.files(cmd, args, filter)
			if err != nil {
				return err
			}
			writer := render.NewSpanWriter(cmd.OutOrStdout(), output, false)
			scanner := opts.scanner(cmd.ErrOrStderr(), filter, output == render.JSON, in)
			matched := 0
			var emit func(*reader.Span) error
			var ring *render.Latest
			switch {
			case desc:
				ring = render.NewLatest(limit)
				emit = func(s *reader.Span) error { ring.Push(s); matched++; return nil }
			default:
				emit = func(s *reader.Span) error {
					matched++
					if err := writer.Write(s); err != nil {
						return err
					}
					if limit > 0 && matched >= limit {
						return reader.ErrStop
					}
					return nil
				}
			}
			summary, err := scanner.ScanStreams(cmd.Context(), in.streams, emit)
			if err != nil {
				return err
			}
			if err := checkReadable(summary, in); err != nil {
				return err
			}
			if ring != nil {
				if err := ring.NewestFirst(writer.Write); err != nil {
					return err
				}
			}
			if err := writer.Flush(); err != nil {
				return fmt.Errorf("write spans: %w", err)
			}
			if matched == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no matching spans in %d line(s) of %d file(s)\n", summary.Readable(), summary.Files)
			}
			return nil
		},
	}
	filters.register(cmd.Flags(), true)
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many spans (0: all, oldest first only)")
	cmd.Flags().BoolVar(&desc, "desc", false, "newest first: the last --limit matching spans, latest at the top")
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json (one dbgpt line per span) or csv")
	return cmd
}
