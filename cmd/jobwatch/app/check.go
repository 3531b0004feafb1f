package app

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobwatch/jobwatch/pkg/analyze"
)

type checkOptions struct {
	output string
	failOn string
}

func newCheckCommand(s *streams, g *globalOptions) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check [flags] PATH|- ...",
		Short: "Score Job and CronJob manifests from files, directories or stdin (no cluster)",
		Long: `check reads YAML or JSON manifests (multi-document files, List kinds, directories
recursively, - for stdin), scores every Job and CronJob and skips other kinds
with a note on stderr.

Exit status: 0 when nothing reaches --fail-on, 1 when something does, 2 on
unreadable or invalid input or configuration.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := setup(cmd, s, g)
			if err != nil {
				return err
			}
			return runCheck(s, cfg, o, args)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json (one object per line)")
	cmd.Flags().StringVar(&o.failOn, "fail-on", "high", "exit 1 when an object reaches this severity: low, medium, high, critical, or none to never fail")
	addKeyFlags(cmd.Flags(), "check")
	return cmd
}

func runCheck(s *streams, cfg *Config, o *checkOptions, args []string) error {
	rep, err := newReporter(s, cfg, o)
	if err != nil {
		return err
	}
	files, err := expandPaths(args)
	if err != nil {
		return &codeError{code: exitError, err: err}
	}
	bad := false
	for _, f := range files {
		docs, err := readManifests(s, f)
		for _, d := range docs {
			if d.Object == nil {
				fmt.Fprintf(s.err, "jobwatch: %s: document %d: skipping %s %s (not a Job or CronJob)\n", f, d.Index, d.Kind, d.Name)
				continue
			}
			if err := rep.report(d.Object, f, &d.Index); err != nil {
				return err
			}
		}
		if err != nil {
			fmt.Fprintf(s.err, "jobwatch: %s: %v\n", f, err)
			bad = true
		}
	}
	switch {
	case bad:
		return &codeError{code: exitError}
	case rep.failed:
		return &codeError{code: exitFindings}
	}
	return nil
}

func readManifests(s *streams, name string) ([]analyze.Document, error) {
	var r io.Reader
	if name == "-" {
		r = s.in
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, errors.Unwrap(err)
		}
		defer f.Close()
		r = f
	}
	return analyze.Decode(r)
}

// expandPaths turns arguments into files: directories are walked for
// .yaml, .yml and .json files in lexical order; "-" is stdin.
func expandPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, errors.Unwrap(err))
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != a {
				return filepath.SkipDir
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					found = append(found, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
