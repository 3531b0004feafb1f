package app

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRunCommand(s *streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch the cluster and notify (the live watcher arrives with the watch issue)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := setup(cmd, s, g)
			if err != nil {
				return err
			}
			client, err := newClient(cfg)
			if err != nil {
				return &codeError{code: exitError, err: err}
			}
			v, err := client.Discovery().ServerVersion()
			if err != nil {
				return &codeError{code: exitError, err: fmt.Errorf("cannot reach the API server: %w", err)}
			}
			log.Info("connected", "server", v.GitVersion)
			return &codeError{code: exitError, err: fmt.Errorf("run: the live watcher is not part of this build yet; use `jobwatch scan` for a one-off pass")}
		},
	}
	addKeyFlags(cmd.Flags(), "run")
	return cmd
}
