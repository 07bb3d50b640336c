// Command spansink is one binary for the whole project: the operator
// (`spansink manager`), the batching collector it deploys
// (`spansink collector`), and the span reader (`spansink spans`). One image
// serves all of them, so the operator can default the collector image to its own.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/spansink/spansink/cmd/collector"
	"github.com/spansink/spansink/cmd/manager"
	"github.com/spansink/spansink/cmd/spans"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "collector" {
		// The collector's own binary, where it is installed, leaves out
		// everything else this one links: a collector process takes half
		// the memory.
		if err := collector.ExecOwnBinary(os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			os.Exit(1)
		}
	}
	root := &cobra.Command{
		Use:           "spansink",
		Short:         "A Kubernetes trace sink: operator, batching collector and span reader",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	// Each subcommand's command line lives in cmd/, the code it runs in
	// the package that owns it; register it here.
	root.AddCommand(manager.NewCommand(), spans.NewCommand(), collector.NewCommand())
	if err := root.Execute(); err != nil {
		// 1 for every failure, except 2 for a `spans` command line that
		// cannot run as given.
		os.Exit(spans.ExitCode(err))
	}
}
