package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// Exit codes.
const (
	exitOK           = 0
	exitFindings     = 1 // check/scan: something reached --fail-on
	exitError        = 2 // bad input, bad configuration, no cluster
	exitLostLeadship = 3 // run: leadership lost; Kubernetes restarts the pod
)

// exitError carries a specific exit code out of a command.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// streams are the process's standard streams, replaceable in tests.
type streams struct {
	in       io.Reader
	out, err io.Writer
	environ  []string
}

// Main runs jobwatch with args and returns the exit code. SIGINT or
// SIGTERM cancels the command's context; a second one exits at once.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; !ok {
			return
		}
		cancel()
		if _, ok := <-sigs; ok {
			os.Exit(130)
		}
	}()
	return MainContext(ctx, args, stdin, stdout, stderr)
}

// MainContext is Main with the caller's context (tests cancel it to stop run).
func MainContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(&streams{in: stdin, out: stdout, err: stderr, environ: os.Environ()})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.err != nil && ce.code != exitFindings {
			fmt.Fprintln(stderr, "jobwatch: "+ce.err.Error())
		}
		return ce.code
	}
	fmt.Fprintln(stderr, "jobwatch: "+err.Error())
	return exitError
}

type globalOptions struct {
	configFile string
}

func newRootCommand(s *streams) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "jobwatch",
		Short:         "Watch Kubernetes Jobs and CronJobs for abuse (MITRE ATT&CK T1053.007)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetIn(s.in)
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "configuration file (YAML); also JOBWATCH_CONFIG")
	addKeyFlags(root.PersistentFlags(), "")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &codeError{code: exitError, err: err}
	})
	root.AddCommand(newRunCommand(s, g), newScanCommand(s, g), newCheckCommand(s, g), newVersionCommand(s))
	return root
}

// addKeyFlags registers the flags of configuration keys for command cmd
// ("" registers the global ones).
func addKeyFlags(fs *pflag.FlagSet, cmd string) {
	for _, k := range keys {
		if k.flag == "" || (cmd == "" && k.commands != nil) || (cmd != "" && (k.commands == nil || !k.forCommand(cmd))) {
			continue
		}
		switch k.kind {
		case kindList:
			fs.StringSliceP(k.flag, k.short, nil, k.usage+" [env "+k.env()+"]")
		case kindBool:
			def, _ := k.def.(bool)
			fs.BoolP(k.flag, k.short, def, k.usage+" [env "+k.env()+"]")
		default:
			fs.StringP(k.flag, k.short, "", k.usage+" [env "+k.env()+"]")
			if k.noOpt != "" {
				fs.Lookup(k.flag).NoOptDefVal = k.noOpt
			}
		}
	}
}

// setup loads configuration for cmd and builds the logger. Nothing runs
// before configuration is valid.
func setup(cmd *cobra.Command, s *streams, g *globalOptions) (*Config, *slog.Logger, error) {
	file := g.configFile
	if file == "" {
		for _, kv := range s.environ {
			if len(kv) > len("JOBWATCH_CONFIG=") && kv[:len("JOBWATCH_CONFIG=")] == "JOBWATCH_CONFIG=" {
				file = kv[len("JOBWATCH_CONFIG="):]
			}
		}
	}
	cfg, err := loadConfig(file, cmd.Flags(), s.environ)
	if err != nil {
		return nil, nil, &codeError{code: exitError, err: err}
	}
	log := newLogger(s.err, cfg.LogLevel, cfg.LogFormat)
	klog.SetSlogLogger(log.With("component", "client-go"))
	cfg.logEffective(log)
	return cfg, log, nil
}

func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
