package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/jobwatch/jobwatch/pkg/analyze"
	"github.com/jobwatch/jobwatch/pkg/audit"
	"github.com/jobwatch/jobwatch/pkg/notify"
	"github.com/jobwatch/jobwatch/pkg/watch"
)

func newRunCommand(s *streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch Jobs and CronJobs and alert when one becomes dangerous",
		Long: `run watches batch/v1 Jobs and CronJobs and raises an alert when an object is
created at or above --min-severity, or a change makes it riskier (the alert
carries the diff). Status updates, label and annotation churn and resyncs never
alert; a CronJob's routine runs are silent. A checkpoint (--state) makes
restarts neither replay old alerts nor miss changes made while jobwatch was down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := setup(cmd, s, g)
			if err != nil {
				return err
			}
			err = runWatch(cmd.Context(), s, cfg, log)
			if errors.Is(err, errLostLeadership) {
				return &codeError{code: exitLostLeadship, err: err}
			}
			if err != nil {
				return &codeError{code: exitError, err: err}
			}
			return nil
		},
	}
	addKeyFlags(cmd.Flags(), "run")
	return cmd
}

func runWatch(ctx context.Context, s *streams, cfg *Config, log *slog.Logger) error {
	cc, err := resolveCluster(cfg)
	if err != nil {
		return err
	}
	client, err := clientFor(cc)
	if err != nil {
		return err
	}
	a, err := analyze.New(cfg.Analyze)
	if err != nil {
		return err
	}
	for _, w := range a.Warnings() {
		log.Warn(w)
	}
	format := cfg.StdoutFormat
	if format == "auto" {
		format = "json"
		if f, ok := s.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	threads := notify.NewThreads()
	// Sinks outlive the watch context so that shutdown can drain them.
	sinkCtx, stopSinks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSinks()
	specs := append([]notify.SinkSpec(nil), cfg.Sinks...)
	for i := range specs {
		switch specs[i].Type {
		case "stdout":
			specs[i].StdoutFormat, specs[i].StdoutColor = format, format == "text"
		case "slack":
			specs[i].Slack.Threads = threads
		}
	}
	routes, err := notify.BuildRoutes(specs, notify.Deps{Ctx: sinkCtx, Out: s.out, Client: client})
	if err != nil {
		return err
	}
	for _, r := range routes {
		if ev, ok := r.Notifier.(*notify.Events); ok {
			defer ev.Shutdown()
		}
	}
	stateSpec := cfg.State
	if stateSpec == "" {
		stateSpec = defaultState(cc)
	}
	store, err := watch.ParseStore(stateSpec, client)
	if err != nil {
		return err
	}
	cluster := cfg.ClusterName
	if cluster == "" {
		cluster = cc.context
		if cc.inCluster {
			cluster = "in-cluster"
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	minSev := cfg.MinSeverity
	for _, r := range routes {
		minSev = min(minSev, r.MinSeverity)
	}
	dispatcher := notify.NewDispatcher(routes, cfg.Dispatch, log, reg)
	dispatcher.Start(sinkCtx)
	elect := cfg.LeaderElect == "true" || cfg.LeaderElect == "auto" && cc.inCluster
	var attributor watch.Attributor
	var leader atomic.Pointer[watch.Controller] // set once the controller exists
	if cfg.Audit.Addr != "" {
		ao := cfg.Audit
		ao.Cluster = cluster
		if elect {
			ao.Accepting = func() bool { c := leader.Load(); return c != nil && c.Leading() }
		}
		recv, err := audit.New(ao, dispatcher, log, reg)
		if err != nil {
			return err
		}
		if _, err := recv.Serve(ctx); err != nil {
			return err
		}
		attributor = recv
	}
	memLimit := applyMemoryLimit(log, s.environ)
	onSynced := func(objects int) {
		if w := memoryWarning(memLimit, objects); w != "" {
			log.Warn(w)
		}
	}
	ctrl, err := watch.New(client, a, dispatcher, store, watch.Options{
		Namespaces: cfg.Namespaces, ExcludeNamespaces: cfg.ExcludeNamespaces, Selector: cfg.Selector,
		MinSeverity: minSev, AlertOnDelete: cfg.AlertOnDelete, ReportExisting: cfg.ReportExisting,
		Workers: cfg.Workers, Cluster: cluster, Threads: threads, DrainTimeout: cfg.DrainTimeout, Attributor: attributor,
		OnSynced: onSynced,
	}, log, reg)
	if err != nil {
		return err
	}
	leader.Store(ctrl)
	stopHealth, err := serve(ctx, log, "health", cfg.HealthAddr, healthHandler(ctrl.Ready))
	if err != nil {
		return err
	}
	defer stopHealth()
	stopMetrics, err := serve(ctx, log, "metrics", cfg.MetricsAddr, metricsHandler(reg))
	if err != nil {
		return err
	}
	defer stopMetrics()
	var names []string
	for _, r := range routes {
		names = append(names, r.Notifier.Name())
	}
	log.Info("watching", "cluster", cluster, "namespaces", cfg.Namespaces, "state", store.String(), "minSeverity", cfg.MinSeverity.String(), "sinks", names)
	if !elect {
		err = ctrl.Run(ctx)
	} else {
		err = runElected(ctx, cfg, log, client, ctrl)
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// SIGTERM before the caches synced (say the API server is
		// unreachable): nothing was judged, nothing is lost; a clean stop.
		log.Info("stopped before the caches synced")
		return nil
	}
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

var errLostLeadership = errors.New("lost leadership; exiting so that Kubernetes restarts this replica")

// runElected keeps the caches warm on every replica and judges only while
// holding the Lease. The judging stops (queues drained, checkpoint saved)
// before the Lease is released, so a successor never overlaps it.
func runElected(ctx context.Context, cfg *Config, log *slog.Logger, client kubernetes.Interface, ctrl *watch.Controller) error {
	host, _ := os.Hostname()
	id := host + "_" + randomSuffix()
	ns := cfg.LeaseNamespace
	if ns == "" {
		ns = podNamespace()
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: cfg.LeaseName},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	if err := ctrl.Start(ctx); err != nil {
		return err
	}
	leCtx, stopElection := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElection()
	leadDone := make(chan error, 1)
	var mu sync.Mutex
	var led, stopping, lost bool
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: cfg.LeaseName,
		LeaseDuration: cfg.LeaseDuration, RenewDeadline: cfg.RenewDeadline, RetryPeriod: cfg.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				mu.Lock()
				if stopping {
					mu.Unlock()
					return
				}
				led = true
				mu.Unlock()
				log.Info("leading", "lease", ns+"/"+cfg.LeaseName, "identity", id)
				// SIGTERM: Lead drains and saves, then the Lease is released.
				// Lost Lease: Lead stops at once and saves nothing.
				leadCtx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				stopA := context.AfterFunc(ctx, func() { cancel(context.Canceled) })
				defer stopA()
				stopB := context.AfterFunc(lctx, func() { cancel(watch.ErrLeadershipLost) })
				defer stopB()
				leadDone <- ctrl.Lead(leadCtx)
			},
			OnStoppedLeading: func() {
				mu.Lock()
				if led && ctx.Err() == nil {
					lost = true
				}
				mu.Unlock()
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					log.Info("standing by", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	elected := make(chan struct{})
	go func() { le.Run(leCtx); close(elected) }()
	var leadErr error
	leadFinished := false
	select {
	case <-ctx.Done():
	case <-elected: // renewal failed: Lead is being stopped through lctx
	case leadErr = <-leadDone: // Lead failed while leading (e.g. checkpoint unreadable)
		leadFinished = true
	}
	mu.Lock()
	stopping = true
	wasLed := led
	mu.Unlock()
	if wasLed && !leadFinished {
		leadErr = <-leadDone // judging has stopped (and, on SIGTERM, the checkpoint is saved)
	}
	stopElection() // releases the Lease (ReleaseOnCancel)
	<-elected
	mu.Lock()
	defer mu.Unlock()
	if lost || errors.Is(leadErr, watch.ErrLeadershipLost) {
		return errLostLeadership
	}
	return leadErr
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultState: in-cluster a ConfigMap in jobwatch's namespace; on a laptop
// a file under $XDG_STATE_HOME/jobwatch named after the context.
func defaultState(cc *clusterConfig) string {
	if cc.inCluster {
		return fmt.Sprintf("configmap://%s/jobwatch-state", podNamespace())
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	name := unsafeName.ReplaceAllString(cc.context, "_")
	if name == "" {
		name = "default"
	}
	return filepath.Join(dir, "jobwatch", name+".state")
}
