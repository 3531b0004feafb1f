package app

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Stamped by -ldflags "-X github.com/jobwatch/jobwatch/cmd/jobwatch/app.version=… -X ….commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

func dependencyVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

func newVersionCommand(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go and client-go versions",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(s.out, "jobwatch %s\ncommit: %s\ngo: %s\nclient-go: %s\n", version, commit, runtime.Version(), dependencyVersion("k8s.io/client-go"))
			return nil
		},
	}
}
