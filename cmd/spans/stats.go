package spans

import (
	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
	"github.com/spansink/spansink/sink/reader/stats"
)

func newStatsCommand(opts *options) *cobra.Command {
	var (
		filters filterFlags
		output  string
	)
	cmd := &cobra.Command{
		Use:   "stats [FILE|DIR|GLOB]...",
		Short: "Count spans, traces and errors per service and operation, with duration percentiles",
		Long: `Count spans, distinct traces and errors per service and per operation, with
p50, p90 and p99 durations, over the spans that pass the filters (typically a
time range: --since/--until).

Memory is bounded per group: percentiles are exact up to 2048 spans per
group and within 1% beyond; trace counts are exact up to 1024 traces per group
and estimated within about 1% beyond.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, render.Text, render.JSON, render.CSV); err != nil {
				return err
			}
			filter, err := filters.build(opts.env.now())
			if err != nil {
				return err
			}
			in, err := opts.files(cmd, args, filter)
			if err != nil {
				return err
			}
			report := stats.NewReport()
			scanner := opts.scanner(cmd.ErrOrStderr(), filter, false, in)
			summary, err := scanner.ScanStreams(cmd.Context(), in.streams, func(s *reader.Span) error {
				report.Add(s)
				return nil
			})
			if err != nil {
				return err
			}
			if err := checkReadable(summary, in); err != nil {
				return err
			}
			switch output {
			case render.JSON:
				return render.WriteStatsJSON(cmd.OutOrStdout(), report)
			case render.CSV:
				return render.WriteStatsCSV(cmd.OutOrStdout(), report)
			}
			return render.WriteStatsText(cmd.OutOrStdout(), report)
		},
	}
	filters.register(cmd.Flags(), true)
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or csv")
	return cmd
}
