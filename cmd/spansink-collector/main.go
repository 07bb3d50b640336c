// Command spansink-collector is `spansink collector` in a binary of its
// own, without the operator and the span reader, so that a collector
// process maps and initialises only its own code (see
// collector.BinaryName). spansink execs it for `spansink collector` when it
// sits beside spansink; it takes the same command line, "collector" first.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/cmd/collector"
)

func main() {
	root := &cobra.Command{
		Use:           "spansink",
		Short:         "The spansink collector",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(collector.NewCommand())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
