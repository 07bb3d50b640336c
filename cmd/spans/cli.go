// Package spans is the `spansink spans` command line: the commands that
// read span files back (list, tree, show, tail, stats) and replay them, on a
// laptop over copied files or inside the collector's pod over its volume.
// Here are the commands, their flags and their checks, and which inputs the
// flags and arguments name; reading and decoding spans is sink/reader's,
// showing them sink/reader/render's, sending them sink/replay's.
package spans

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/sink/config"
	"github.com/spansink/spansink/sink/reader"
	"github.com/spansink/spansink/sink/reader/render"
	"github.com/spansink/spansink/sink/reader/s3read"
	"github.com/spansink/spansink/sink/spanfile"
)

// PodConfigPath is where the collector's config is mounted in its pod; the
// commands read it when present, so `kubectl exec ... spansink spans list`
// finds the span files without flags.
const PodConfigPath = "/etc/spansink/" + config.FileName

// env is what the commands take from the process, replaceable in tests.
type env struct {
	now           func() time.Time
	defaultConfig string
}

// options are the flags every subcommand shares.
type options struct {
	env        env
	configPath string
	paths      []string
	workers    int
	pathSet    bool
	store      storeFlags
}

// NewCommand returns the `spans` command.
func NewCommand() *cobra.Command {
	return newCommand(env{now: time.Now, defaultConfig: PodConfigPath})
}

func newCommand(e env) *cobra.Command {
	opts := &options{env: e}
	cmd := &cobra.Command{
		Use:   "spans",
		Short: "Read span files: list, tree, show, tail, stats; replay them to an OTLP receiver",
		Long: `Read the span files the collector writes: the active file, its rotated
siblings and their gzip/zstd forms, in the "dbgpt" and "otlp-json" formats,
on disk or in the object store the collector uploads them to.

Inputs are files, directories, glob patterns or s3://BUCKET[/PREFIX] URLs
given as arguments; without any, the configured span file and its rotated
siblings are read (from --path, or from the config file: --config, else
` + PodConfigPath + ` when it exists, else the default config). An s3:// prefix
may stop at any segment of the key layout
(<prefix>/<namespace>/<sink>/<shard>/year=YYYY/month=MM/day=DD/<file>); day
partitions outside --since/--until are skipped unlisted. Credentials come
from the AWS SDK's default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, web
identity, ...).

Several shards' directories (or --path given once per shard) are read as one
set: their spans are merged by time, and a DB-GPT span whose start record is
in one shard and end record in another is joined.

Unreadable lines are reported on stderr as file:line and skipped.`,
		SilenceUsage: true,
	}
	defaults := config.Default()
	flags := cmd.PersistentFlags()
	flags.StringVar(&opts.configPath, "config", "", "collector config file naming the span file (default "+PodConfigPath+" when it exists)")
	flags.StringArrayVar(&opts.paths, "path", []string{filepath.Join(defaults.Storage.Dir, defaults.Storage.Path)}, "active span file whose rotated siblings are read too, when no inputs are given; repeat it for several shards, read as one set")
	flags.IntVar(&opts.workers, "workers", 0, "decoding goroutines (0: one per CPU)")
	opts.store.register(flags)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	cmd.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		opts.pathSet = cmd.Flags().Changed("path")
	}
	cmd.AddCommand(newListCommand(opts), newTreeCommand(opts), newShowCommand(opts), newTailCommand(opts), newStatsCommand(opts), newReplayCommand(opts))
	return cmd
}

// UsageError is a command line that cannot run as given (a bad or
// conflicting flag), as opposed to input that could not be read; ExitCode
// tells them apart so scripts can too.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the error that says what was wrong.
func (e *UsageError) Unwrap() error { return e.Err }

// usageErrorf returns a UsageError with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode is the process exit code for an error the command returned: 0
// for none, 2 for a usage error (as flag parsing errors get from most Unix
// tools), 1 for anything else, such as span files that could not be read.
func ExitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		return 2
	}
	return 1
}

// checkOutput validates an --output value against the formats a command
// offers.
func checkOutput(value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return usageErrorf("--output %q: want one of %s", value, strings.Join(allowed, ", "))
}

// activePaths are the configured active span files: one per --path (one per
// shard), else the one the config file names.
func (o *options) activePaths() ([]string, error) {
	if o.pathSet {
		for _, path := range o.paths {
			if s3read.IsURL(path) {
				return nil, usageErrorf("--path %s: --path names span files on disk; give s3:// URLs as arguments", path)
			}
			if isDir(path) {
				return nil, usageErrorf("--path %s is a directory: name the active span file in it (such as %s)", path, filepath.Join(path, config.DefaultPath))
			}
		}
		return activePathsOf(o.paths), nil
	}
	active, err := o.configuredActivePath()
	if err != nil {
		return nil, err
	}
	return []string{active}, nil
}

// pathDirs are the --path values that name directories.
func (o *options) pathDirs() []string {
	if !o.pathSet {
		return nil
	}
	var dirs []string
	for _, path := range o.paths {
		if isDir(path) {
			dirs = append(dirs, path)
		}
	}
	return dirs
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// activePathsOf turns --path values into active files, each once: the same
// file named twice is still one shard's.
func activePathsOf(paths []string) []string {
	seen := map[string]bool{}
	var actives []string
	for _, path := range paths {
		active := spanfile.ActivePath(path)
		if !seen[active] {
			seen[active] = true
			actives = append(actives, active)
		}
	}
	return actives
}

// configuredActivePath is the active span file the config file names.
func (o *options) configuredActivePath() (string, error) {
	configPath := o.configPath
	if configPath == "" && o.env.defaultConfig != "" {
		if _, err := os.Stat(o.env.defaultConfig); err == nil {
			configPath = o.env.defaultConfig
		}
	}
	cfg := config.Default()
	if configPath != "" {
		loaded, err := config.Load(configPath)
		if err != nil {
			return "", err
		}
		cfg = loaded
	}
	path := cfg.Storage.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(cfg.Storage.Dir, path)
	}
	return spanfile.ActivePath(path), nil
}

// files resolves the inputs to read into streams, one per writer (shard),
// each in the order written; the Scanner merges them by time. Arguments
// are files, directories, globs and s3:// URLs; without any, the
// configured span files. filter's --since/--until (filter may be nil)
// choose the object store's day partitions.
func (o *options) files(cmd *cobra.Command, args []string, filter *reader.Filter) (*inputSet, error) {
	if len(args) > 0 {
		return o.resolveArgs(cmd, args, filter)
	}
	if dirs := o.pathDirs(); len(dirs) > 0 {
		// --path names directories: read them as the same arguments
		// would be, every span file in them.
		if len(dirs) != len(o.paths) {
			return nil, usageErrorf("--path names both directories and files; give either, or the directories as arguments")
		}
		return o.resolveArgs(cmd, dirs, filter)
	}
	actives, err := o.activePaths()
	if err != nil {
		return nil, err
	}
	in := &inputSet{}
	for _, active := range actives {
		files, err := reader.Siblings(active)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no span files at %s: give files as arguments, or set --path or --config", active)
		}
		if err != nil {
			return nil, err
		}
		in.streams = append(in.streams, files)
	}
	return in, nil
}

// inputSet is what a command reads: streams of input names, and how to
// open the names that are objects.
type inputSet struct {
	streams [][]string
	// store opens s3:// names; nil when no input is one.
	store *s3read.Store
	// outOfRange is set when the inputs held span objects, but none of a
	// day that --since/--until can match: nothing matched, nothing failed.
	outOfRange bool
}

// open is the Scanner's OpenFunc: objects from the store, files from disk.
func (in *inputSet) open(ctx context.Context, name string) (io.ReadCloser, error) {
	if in.store != nil && s3read.IsURL(name) {
		return in.store.Open(ctx, name)
	}
	return reader.OpenFile(ctx, name)
}

// fileCount is the number of files in the streams.
func fileCount(streams [][]string) int {
	n := 0
	for _, files := range streams {
		n += len(files)
	}
	return n
}

// maxWarnings bounds the skipped-line warnings printed per command, so a
// file of garbage does not bury the output; the rest are counted.
const maxWarnings = 100

// scanner returns a Scanner of the inputs that reports skipped lines on
// stderr.
func (o *options) scanner(stderr io.Writer, filter *reader.Filter, needMetadata bool, in *inputSet) *reader.Scanner {
	printed := 0
	return &reader.Scanner{
		Filter:       filter,
		NeedMetadata: needMetadata,
		Workers:      o.workers,
		Open:         in.open,
		Warn: func(w reader.Warning) {
			printed++
			switch {
			case printed <= maxWarnings:
				fmt.Fprintf(stderr, "warning: %s\n", render.Printable(w.String()))
			case printed == maxWarnings+1:
				fmt.Fprintf(stderr, "warning: more than %d unreadable lines or files; not showing the rest\n", maxWarnings)
			}
		},
	}
}

// checkReadable turns "nothing could be read" into an error, so scripts can
// tell it from "nothing matched".
func checkReadable(summary reader.Summary, in *inputSet) error {
	if summary.Readable() > 0 || in.outOfRange {
		return nil
	}
	switch {
	case summary.Files == 0:
		return fmt.Errorf("none of the %d span file(s) could be opened", fileCount(in.streams))
	case summary.Lines == 0:
		return fmt.Errorf("no spans read: the %d span file(s) are empty", summary.Files)
	}
	return fmt.Errorf("no spans read: all %d line(s) in %d span file(s) are unreadable", summary.Lines, summary.Files)
}
