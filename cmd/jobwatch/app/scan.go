package app

import (
	"context"
	"fmt"
	"path"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

func newScanCommand(s *streams, g *globalOptions) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Score every Job and CronJob in the cluster once",
		Long:  "scan lists the cluster's Jobs and CronJobs (all namespaces, or --namespace) and prints them like check. Exit status as for check.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := setup(cmd, s, g)
			if err != nil {
				return err
			}
			client, err := newClient(cfg)
			if err != nil {
				return &codeError{code: exitError, err: err}
			}
			return runScan(cmd.Context(), s, cfg, o, client)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json (one object per line)")
	cmd.Flags().StringVar(&o.failOn, "fail-on", "high", "exit 1 when an object reaches this severity (none never fails)")
	addKeyFlags(cmd.Flags(), "scan")
	return cmd
}

func runScan(ctx context.Context, s *streams, cfg *Config, o *checkOptions, client kubernetes.Interface) error {
	rep, err := newReporter(s, cfg, o)
	if err != nil {
		return err
	}
	namespaces := cfg.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	opts := metav1.ListOptions{LabelSelector: cfg.Selector.String()}
	emit := func(obj analyze.Object) error {
		for _, g := range cfg.ExcludeNamespaces {
			if ok, _ := path.Match(g, obj.Meta.Namespace); ok {
				return nil
			}
		}
		return rep.report(&obj, "", nil)
	}
	for _, ns := range namespaces {
		cjs, err := client.BatchV1().CronJobs(ns).List(ctx, opts)
		if err != nil {
			return &codeError{code: exitError, err: fmt.Errorf("list cronjobs: %w", err)}
		}
		for i := range cjs.Items {
			if err := emit(analyze.FromCronJob(&cjs.Items[i])); err != nil {
				return err
			}
		}
		jobs, err := client.BatchV1().Jobs(ns).List(ctx, opts)
		if err != nil {
			return &codeError{code: exitError, err: fmt.Errorf("list jobs: %w", err)}
		}
		for i := range jobs.Items {
			if err := emit(analyze.FromJob(&jobs.Items[i])); err != nil {
				return err
			}
		}
	}
	if rep.failed {
		return &codeError{code: exitFindings}
	}
	return nil
}
