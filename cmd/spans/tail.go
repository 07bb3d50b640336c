package spans

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
	"github.com/spansink/spansink/sink/reader/s3read"
)

func newTailCommand(opts *options) *cobra.Command {
	var (
		filters filterFlags
		lines   int
		follow  bool
		output  string
		poll    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail [-f] [FILE|DIR|GLOB]...",
		Short: "Print the latest spans, and with -f new spans as they are written",
		Long: `Print the last -n spans. With -f, keep reading the active file and print
spans as they are written, following rotation: when the collector renames the
active file, the rest of it is read, then the new file. DB-GPT spans are
printed when their end record arrives.

Without -f, several shards' files are read as one set; -f follows one shard's
active file at a time.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, render.Text, render.JSON, render.CSV); err != nil {
				return err
			}
			if lines < 0 {
				return usageErrorf("-n must not be negative")
			}
			filter, err := filters.build(opts.env.now())
			if err != nil {
				return err
			}
			if !follow {
				return tailOnce(cmd, opts, args, filter, lines, output)
			}
			path, err := followPath(opts, args)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			writer := render.NewSpanWriter(cmd.OutOrStdout(), output, true)
			ring := render.NewLatest(lines)
			caughtUp := false
			follower := &reader.Follower{
				Path:         path,
				Poll:         poll,
				Filter:       filter,
				NeedMetadata: output == render.JSON,
				Warn:         func(w reader.Warning) { fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", render.Printable(w.String())) },
				CaughtUp: func() error {
					caughtUp = true
					spans := ring.Ordered()
					if lines == 0 {
						spans = nil
					}
					for i := range spans {
						if err := writer.Write(&spans[i]); err != nil {
							return err
						}
					}
					ring = nil
					return writer.Flush()
				},
			}
			return follower.Follow(ctx, func(s *reader.Span) error {
				if !caughtUp {
					if lines > 0 {
						ring.Push(s)
					}
					return nil
				}
				return writer.Write(s)
			})
		},
	}
	filters.register(cmd.Flags(), true)
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "print this many of the latest spans first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing spans as they are written, across rotation")
	cmd.Flags().StringVarP(&output, "output", "o", render.Text, "output format: text, json or csv")
	cmd.Flags().DurationVar(&poll, "poll-interval", reader.DefaultPollInterval, "how often -f looks for new spans")
	return cmd
}

// tailOnce prints the last n matching spans of the inputs, oldest first.
func tailOnce(cmd *cobra.Command, opts *options, args []string, filter *reader.Filter, lines int, output string) error {
	in, err := opts.files(cmd, args, filter)
	if err != nil {
		return err
	}
	if lines == 0 {
		return nil
	}
	ring := render.NewLatest(lines)
	scanner := opts.scanner(cmd.ErrOrStderr(), filter, output == render.JSON, in)
	summary, err := scanner.ScanStreams(cmd.Context(), in.streams, func(s *reader.Span) error { ring.Push(s); return nil })
	if err != nil {
		return err
	}
	if err := checkReadable(summary, in); err != nil {
		return err
	}
	writer := render.NewSpanWriter(cmd.OutOrStdout(), output, false)
	spans := ring.Ordered()
	for i := range spans {
		if err := writer.Write(&spans[i]); err != nil {
			return err
		}
	}
	return writer.Flush()
}

// followPath is the one file -f follows: the single argument (or the one
// file a glob matches), or the configured active file.
//
// -f follows one shard at a time. Following several shards' active files
// together would need more than polling each: the spans printed first
// would have to be the latest of all shards merged by time, and a span
// whose start and end records are in two shards would need one pairer
// across the files; a follower per file gives neither.
func followPath(opts *options, args []string) (string, error) {
	for _, arg := range args {
		if s3read.IsURL(arg) {
			return "", usageErrorf("tail -f cannot follow %s: the object store holds sealed files, which nothing is appended to; run tail without -f to print the latest spans there", arg)
		}
	}
	switch len(args) {
	case 0:
		actives, err := opts.activePaths()
		if err != nil {
			return "", err
		}
		if len(actives) > 1 {
			return "", usageErrorf("tail -f follows one shard at a time, got %d --path values: run one tail -f per shard, or tail without -f to read them all as one set", len(actives))
		}
		return actives[0], nil
	case 1:
		path, err := expandFollowed(args[0])
		if err != nil {
			return "", err
		}
		info, err := os.Stat(path)
		if err == nil && info.IsDir() {
			return "", usageErrorf("tail -f follows one span file, not the directory %s: give the active file in it", path)
		}
		return path, nil
	}
	return "", usageErrorf("tail -f follows one shard at a time, got %d inputs: run one tail -f per shard's active file, or tail without -f to read them all as one set", len(args))
}

// expandFollowed returns the file a glob given to -f matches; a plain path
// is returned as it is, since the file may not exist yet.
func expandFollowed(input string) (string, error) {
	if !strings.ContainsAny(input, "*?[") {
		return input, nil
	}
	matches, err := filepath.Glob(input)
	switch {
	case err != nil:
		return "", usageErrorf("bad pattern %q: %w", input, err)
	case len(matches) == 0:
		return "", fmt.Errorf("no files match %q", input)
	case len(matches) > 1:
		return "", usageErrorf("tail -f follows one shard at a time, %q matches %d files: give one shard's active file, or tail without -f to read them all as one set", input, len(matches))
	}
	return matches[0], nil
}
